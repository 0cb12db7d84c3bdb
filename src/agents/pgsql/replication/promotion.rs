//! `promote` and `demote` in replication mode.

use super::slaves::{CAN_NOT_PROMOTE, PROMOTE_ME};
use super::{election, Repl};
use crate::agents::pgsql::monitor::{Health, ServerRole};
use crate::agents::pgsql::stop::StopMode;
use crate::agents::pgsql::RepMode;
use crate::cluster::vocabulary::{Attr, DataStatus, PgsqlStatus};
use crate::ocf::{ActionResult, Failure, OcfRc};

impl Repl<'_> {
    /// `pgsql_promote` in replication mode.
    pub(in crate::agents::pgsql) async fn promote(&self) -> ActionResult {
        let session = match self.pg.health().await {
            Health::Up {
                role: ServerRole::Primary,
                ..
            } => {
                tracing::info!("PostgreSQL is already Master. Don't execute promote.");
                return Ok(OcfRc::Success);
            }
            Health::Up { session, .. } => session,
            Health::Down => {
                return Err(Failure::generic(
                    "Can't promote PostgreSQL: it is not running",
                ))
            }
            Health::Unresponsive(_, e) => {
                return Err(Failure::generic(format!(
                    "Can't get PostgreSQL recovery status. {e}"
                )))
            }
        };
        let mut view = self.snapshot().await?;
        let previous = match self.pg.cfg.rejoin {
            crate::agents::pgsql::config::Rejoin::Off => None,
            _ => self.previous_primary(&view).await?,
        };
        // Safety net beyond the reference: in sync mode, a standby whose data
        // is not known to be complete must not become the primary, whatever
        // asked for it (a stale score, a forced promote).
        if self.pg.cfg.rep_mode == RepMode::Sync {
            let ds = view
                .attr(&self.me, &self.attr(Attr::DataStatus))
                .unwrap_or_default();
            let complete = ds.is_empty() || DataStatus::parse(&ds).is_some_and(|d| d.is_complete());
            if !complete {
                return Err(Failure::generic(format!(
                    "Refusing to promote: my data status is {ds}, so acknowledged synchronous \
                     writes may be missing here. Promote a node whose data status is LATEST or \
                     STREAMING|SYNC"
                )));
            }
        }
        // Without fencing, a primary out of sight may still run (partition.rs).
        let peers: Vec<String> = self
            .nodes(Some(&view))
            .await?
            .into_iter()
            .filter(|n| *n != self.me)
            .collect();
        self.pm
            .wait_out_unseen_peers(view.cluster(), &self.rsc, &peers)
            .await
            .map_err(|e| Failure::generic(e.to_string()))?;
        election::clear_notes(&self.pg.cfg.tmpdir);
        for node in self
            .nodes(Some(&view))
            .await?
            .iter()
            .filter(|n| **n != self.me)
        {
            self.change_data_status(&mut view, node, &DataStatus::Disconnect)
                .await?;
            self.change_master_score(&mut view, node, CAN_NOT_PROMOTE)
                .await?;
        }
        let lock = self.pg.cfg.lock_file();
        tracing::info!("Creating {}.", lock.display());
        crate::os::fs::write_file(&lock, b"", 0o644)
            .map_err(|e| Failure::generic(format!("Can't create {}: {e}", lock.display())))?;
        self.show_master_baseline(&session).await?;
        // Only the rejoin proof reads it: with rejoin=off the attributes are
        // the stock agent's.
        if self.pg.cfg.rejoin != crate::agents::pgsql::config::Rejoin::Off {
            self.record_promoted_from(previous.as_deref()).await;
        }
        if self.pg.cfg.restart_on_promote {
            // master_ip moves here before the promotion (the quick starts'
            // order vip-rep -> promote), so another standby may already
            // stream from this one; a standby's fast shutdown then waits for
            // that sender to hand over its WAL, up to wal_sender_timeout.
            // End the senders first: they come back to the primary we become.
            match session
                .query_value("select count(pg_terminate_backend(pid))::text from pg_stat_replication")
                .await
            {
                Ok(Some(n)) if n != "0" => tracing::info!(
                    "Ended {n} WAL sender(s) of standbys streaming from this one before its restart."
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot end the WAL senders before the restart: {e}"),
            }
        }
        drop(session);
        if self.pg.cfg.restart_on_promote {
            tracing::info!("Restarting PostgreSQL instead of promote.");
            self.pg.real_stop(StopMode::Standby).await?;
            self.pg.remove_standby_settings();
            match self.pg.real_start().await {
                Ok(OcfRc::RunningPromoted) => {}
                other => {
                    if other.is_err() {
                        let _ = self.set_own_status(PgsqlStatus::Stopped).await;
                    }
                    return Err(Failure::generic(
                        "Can't start PostgreSQL as primary on promote.",
                    ));
                }
            }
        } else {
            self.pg.pg_ctl_promote().await?;
            tracing::info!("PostgreSQL promote command sent.");
            self.pg.wait_until_primary().await?;
            tracing::info!("PostgreSQL is promoted.");
        }
        self.create_replication_slots(&view).await?;
        self.change_data_status(&mut view, &self.me, &DataStatus::Latest)
            .await?;
        self.set_own_score(PROMOTE_ME).await?;
        self.change_status(&mut view, &self.me, PgsqlStatus::Primary)
            .await?;
        Ok(OcfRc::Success)
    }

    /// `pgsql_demote`: the primary is stopped, not turned into a standby.
    pub(in crate::agents::pgsql) async fn demote(&self) -> ActionResult {
        self.set_own_score(CAN_NOT_PROMOTE).await?;
        self.forget_baseline().await;
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_none() {
            tracing::info!("PostgreSQL is already stopped on demote.");
        } else {
            // Cut off from the cluster, a primary stops at once: a fast
            // shutdown would still archive WAL the new primary lacks.
            let mode = match self.pm.has_quorum().await {
                Ok(false) => StopMode::Partitioned,
                _ => StopMode::Primary,
            };
            tracing::info!("Stopping PostgreSQL on demote.");
            if let Err(f) = self.pg.real_stop(mode).await {
                let _ = self.set_own_status(PgsqlStatus::Unknown).await;
                return Err(f);
            }
        }
        self.set_own_status(PgsqlStatus::Stopped).await?;
        self.ban_if_locked().await;
        Ok(OcfRc::Success)
    }

    /// With the original upfront agent's parameters, a demoted primary that
    /// keeps its `PGSQL.lock` also bans itself from its node. Its next start
    /// would be refused (unless rejoin.rs proves the lock unneeded), and that
    /// CIB's `op start on-fail=stop` turns a failed start of one instance into
    /// a stop of the whole clone, the new primary included. Banned, the node
    /// is stopped instead of restarted; `crm_resource --clear` after the
    /// rejoin procedure lets it back.
    async fn ban_if_locked(&self) {
        let lock = self.pg.cfg.lock_file();
        if !self.pg.cfg.promotion_by_rule() || !lock.exists() {
            return;
        }
        tracing::info!(
            "{} stays: banning the resource from {} until an administrator rejoins it",
            lock.display(),
            self.me
        );
        if let Err(e) = self.pm.ban(&self.me).await {
            tracing::warn!("cannot ban the resource from {}: {e}", self.me);
        }
    }
}
