//! `start`, `stop` and `monitor` in replication mode.

use super::attributes::View;
use super::slaves::{CAN_NOT_PROMOTE, PROMOTE_ME};
use super::steady::{self, SteadyNote};
use super::{election, Repl};
use crate::agents::pgsql::config::Rejoin;
use crate::agents::pgsql::monitor::{Health, ServerRole};
use crate::agents::pgsql::stop::StopMode;
use crate::agents::pgsql::RepMode;
use crate::cluster::vocabulary::{Attr, DataStatus, PgsqlStatus};
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::Session;

impl Repl<'_> {
    /// `pgsql_replication_start`.
    pub(in crate::agents::pgsql) async fn start(&self) -> ActionResult {
        self.set_own_status(PgsqlStatus::Stopped).await?;
        self.forget_baseline().await;
        self.set_own_score(CAN_NOT_PROMOTE).await?;
        let lock = self.pg.cfg.lock_file();
        // A former primary rejoins by itself once it is proven to hold
        // nothing the new primary lacks, or (rejoin=rewind) once pg_rewind
        // has brought it back onto the new primary's history (rejoin.rs).
        if lock.exists() && !self.try_rejoin().await? {
            if self.pg.cfg.rejoin != Rejoin::Rewind {
                return Err(Failure::generic(format!(
                    "My data may be inconsistent. You have to remove {} file to force start.",
                    lock.display()
                )));
            }
            self.rewind_and_unlock(&lock).await?;
        } else if self.pg.cfg.rejoin == Rejoin::Rewind {
            // A standby the monitor found unable to follow (agents/follow.rs).
            self.rewind_standby().await?;
        }
        election::clear_notes(&self.pg.cfg.tmpdir);
        self.pg.write_recovery_conf(&self.me)?;
        self.delete_own(&self.attr(Attr::XlogLoc)).await;
        if self.pg.cfg.rep_mode == RepMode::Sync {
            self.pg.write_sync_names(&[])?;
        }
        let was_running =
            crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_some();
        if self.pg.real_start().await? == OcfRc::RunningPromoted {
            // A start must leave a standby. A primary we just started would
            // accept writes beside the real one: stop it at once.
            if !was_running {
                let _ = self.pg.real_stop(StopMode::Standby).await;
            }
            return Err(Failure::generic(
                "PostgreSQL came up as a primary; a replication start must give a standby \
                 (is standby.signal or recovery.conf missing?)",
            ));
        }
        // The include of rep_mode.conf is last in postgresql.conf, but
        // postgresql.auto.conf can still override it.
        if let Health::Up { session, .. } = self.pg.health().await {
            let names = session
                .query_value("show synchronous_standby_names")
                .await
                .map_err(|e| Failure::generic(e.to_string()))?
                .unwrap_or_default();
            if !names.trim().is_empty() {
                return Err(Failure::configured(
                    "Invalid synchronous_standby_names is set in postgresql.conf.",
                ));
            }
        }
        self.delete_replication_slots(None).await?;
        self.set_own_status(PgsqlStatus::Alone).await?;
        Ok(OcfRc::Success)
    }

    /// `pgsql_replication_stop`.
    pub(in crate::agents::pgsql) async fn stop(&self) -> ActionResult {
        self.set_own_score(CAN_NOT_PROMOTE).await?;
        self.delete_own(&self.attr(Attr::XlogLoc)).await;
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_none() {
            tracing::info!("PostgreSQL is already stopped.");
            self.set_own_status(PgsqlStatus::Stopped).await?;
            return Ok(OcfRc::Success);
        }
        if let Err(f) = self.pg.real_stop(StopMode::Standby).await {
            let _ = self.set_own_status(PgsqlStatus::Unknown).await;
            return Err(f);
        }
        self.set_own_status(PgsqlStatus::Stopped).await?;
        if self.pg.cfg.rep_mode == RepMode::Sync {
            self.pg.write_sync_names(&[])?;
        }
        self.forget_baseline().await;
        Ok(OcfRc::Success)
    }

    /// `pgsql_monitor` in replication mode.
    pub(in crate::agents::pgsql) async fn monitor(&self) -> ActionResult {
        let probe = self.pg.env.interval_ms() == 0;
        let alive =
            crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_some();
        let note_path = self.steady_note_path();
        // A fresh note of the last full check (steady.rs): most likely a
        // standby with nothing to do, so no crm_mon unless it turns out not
        // to be.
        let note = if alive && !probe {
            SteadyNote::read_fresh(&note_path)
        } else {
            None
        };
        // Otherwise both roles need the crm_mon snapshot once the server
        // answers. It is taken while we connect to PostgreSQL: crm_mon costs
        // ~10 ms of wall time, mostly its own start-up, and the two overlap
        // (docs/performance.md). Only when a postmaster lives: a stopped
        // instance's monitor needs no snapshot. Should the early crm_mon
        // fail, it is asked once more below and that error reported.
        let (health, early_view) = if alive && note.is_none() {
            let (health, view) = tokio::join!(self.pg.health_with(true), self.snapshot());
            (health, view.ok())
        } else {
            (self.pg.health_with(true).await, None)
        };
        let (role, session, receiver) = match health {
            Health::Down => {
                tracing::info!("PostgreSQL is down");
                steady::forget(&note_path);
                return Err(self.pg.not_running());
            }
            Health::Unresponsive(_, e) => {
                steady::forget(&note_path);
                if e.sqlstate().map(|s| s.code()) == Some("53300") {
                    return self.busy_monitor(&e).await;
                }
                return Err(Failure::generic(format!(
                    "Can't get PostgreSQL recovery status. {e}"
                )));
            }
            Health::Up {
                role,
                session,
                receiver,
            } => (role, session, receiver.unwrap_or_default()),
        };
        let streaming = receiver.streams_from(&self.pg.cfg.master_ip, self.pg.sender_host_shown());
        if let Some(note) = &note {
            if role != ServerRole::Primary && streaming && self.note_holds(note) {
                tracing::debug!(
                    "steady standby (checked at {}): no cluster call",
                    note.checked
                );
                return Ok(OcfRc::Success);
            }
        }
        let mut view = match early_view {
            Some(v) => v,
            None => self.snapshot().await?,
        };
        let mut steady = false;
        let result = match role {
            ServerRole::Primary => {
                if probe
                    && self.pg.cfg.monitor_sql == crate::agents::pgsql::config::DEFAULT_MONITOR_SQL
                {
                    self.set_own_score(PROMOTE_ME).await?;
                }
                self.primary_monitor(&mut view, &session).await
            }
            _ => {
                if probe {
                    self.set_own_score(CAN_NOT_PROMOTE).await?;
                }
                steady = self.standby_monitor(&mut view, &session).await? && streaming;
                self.watch_following(&view, streaming).await?;
                Ok(OcfRc::Success)
            }
        };
        let mut receiver_status = None;
        if self.pg.cfg.check_wal_receiver {
            // Both roles took a crm_mon snapshot above (unless they failed
            // first). It shows the value attrd last wrote to the CIB; after a
            // node restart the transient attribute is gone from it and is
            // written again. Only this node writes it; if our previous write
            // had not reached the CIB yet, the next monitor sees the CIB
            // value and corrects it.
            let shown = view.attr(&self.me, &self.attr(Attr::ReceiverStatus));
            let value = self
                .pg
                .publish_wal_receiver_status(&result, shown.as_deref())
                .await;
            // Steady only if nothing was written: the CIB already held it.
            steady &= shown.as_deref() == Some(value);
            receiver_status = Some(value);
        }
        if steady {
            SteadyNote::new(receiver_status).write(&note_path);
        } else {
            steady::forget(&note_path);
        }
        result
    }

    /// With the WAL receiver streaming, the note of the last full check
    /// still holds if `<rsc>-receiver-status` would be written as it was
    /// then: "normal" (a streaming receiver is a walreceiver process, no need
    /// to look for it in /proc).
    fn note_holds(&self, note: &SteadyNote) -> bool {
        !self.pg.cfg.check_wal_receiver || note.receiver_status.as_deref() == Some("normal")
    }

    pub(in crate::agents::pgsql) fn steady_note_path(&self) -> std::path::PathBuf {
        steady::note_path(&self.pg.cfg.tmpdir, &self.rsc)
    }

    /// Every action but a monitor may change what a note says (steady.rs).
    pub(in crate::agents::pgsql) fn forget_steady(&self) {
        steady::forget(&self.steady_note_path());
    }

    pub(super) async fn primary_monitor(&self, view: &mut View, session: &Session) -> ActionResult {
        if self.cut_off(view).await {
            // Without fencing nobody else can stop us, and the other side of
            // the partition will promote a standby (after a wait that counts
            // on this monitor: cluster/partition.rs).
            self.pg.real_stop(StopMode::Partitioned).await?;
            self.set_own_status(PgsqlStatus::Stopped).await.ok();
            return Err(Failure::not_running(
                "This node's partition lost quorum and fencing is disabled: PostgreSQL was \
                 stopped at once (immediate shutdown) so that it cannot accept writes beside a \
                 new primary",
            ));
        }
        self.change_data_status(view, &self.me, &DataStatus::Latest)
            .await?;
        self.change_status(view, &self.me, PgsqlStatus::Primary)
            .await?;
        // A standby whose node left this partition is gone, whatever
        // pg_stat_replication says: without a TCP reset its WAL sender stays
        // "streaming" until wal_sender_timeout, holding synchronous commits.
        let gone: Vec<String> = self
            .nodes(Some(view))
            .await?
            .into_iter()
            .filter(|n| *n != self.me && !view.is_online(n))
            .collect();
        if !gone.is_empty() {
            self.end_stale_wal_senders(session, &gone).await;
        }
        if self.control_standbys(view, session).await? {
            tracing::info!("re-controlling slave status.");
            self.control_standbys(view, session).await?;
        }
        Ok(OcfRc::RunningPromoted)
    }

    /// The server refused our connection with 53300 (too many clients): its
    /// applications took every slot, superuser_reserved_connections too
    /// (they connect as a superuser). Only a running postmaster forks a
    /// backend to say so, so the server runs; the control file tells its role.
    /// Failing the monitor would stop a working primary because of its
    /// clients, and the standbys are checked again at the next monitor.
    async fn busy_monitor(&self, e: &crate::pg::SqlError) -> ActionResult {
        let cd = crate::pg::controldata::ControlData::read(
            &self.tool("pg_controldata"),
            &self.pg.cfg.pgdata,
            &self.pg.dba,
            self.pg.deadline.within(std::time::Duration::from_secs(10)),
        )
        .await;
        let rc = match cd.as_ref().map(|c| &c.state) {
            Ok(crate::pg::controldata::DbState::InProduction) => OcfRc::RunningPromoted,
            Ok(crate::pg::controldata::DbState::InArchiveRecovery) => OcfRc::Success,
            _ => {
                return Err(Failure::generic(format!(
                    "Can't get PostgreSQL recovery status. {e}"
                )))
            }
        };
        tracing::warn!(
            "PostgreSQL runs but refuses new connections ({e}): reporting it running as {} from \
             its control file, nothing else checked. Keep applications off superuser roles so \
             that superuser_reserved_connections stay free for this monitor",
            if rc == OcfRc::RunningPromoted {
                "a primary"
            } else {
                "a standby"
            }
        );
        Ok(rc)
    }

    /// A primary cut off from the cluster without fencing stops itself,
    /// whatever `no-quorum-policy` says (cluster/mod.rs `cut_off`).
    async fn cut_off(&self, view: &View) -> bool {
        self.pm.cut_off(view.cluster()).await
    }

    /// The standby's rules. Returns whether it is steady: a promoted
    /// instance exists and our data status is not DISCONNECT (then nothing
    /// was written).
    pub(super) async fn standby_monitor(
        &self,
        view: &mut View,
        session: &Session,
    ) -> Result<bool, Failure> {
        if !view.has_promoted() {
            tracing::info!("Master does not exist.");
            self.change_status(view, &self.me, PgsqlStatus::Alone)
                .await?;
            if self.have_master_right(view, session).await? {
                election::clear_notes(&self.pg.cfg.tmpdir);
            }
            return Ok(false);
        }
        let mine = view.attr(&self.me, &self.attr(Attr::DataStatus));
        if mine.as_deref().and_then(DataStatus::parse) == Some(DataStatus::Disconnect) {
            self.change_status(view, &self.me, PgsqlStatus::Alone)
                .await?;
            return Ok(false);
        }
        Ok(true)
    }
}
