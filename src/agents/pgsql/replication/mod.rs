//! Replication mode (`rep_mode=async|sync`): the primary/standby contract of
//! `ocf:heartbeat:pgsql` as the cluster sees it.
//!
//! Everything that crosses to other nodes keeps the reference's wire format
//! (attribute names, lifetimes, values, the 16-hex LSN, `rep_mode.conf`,
//! include lines, `PGSQL.lock`), so nodes running the shell agent and nodes
//! running this one can form one cluster during a rolling upgrade. What
//! changes is how it is done: one `crm_mon` snapshot instead of a process per
//! read, writes only where a value changes, exact (not regex) node-name
//! matching, quoted values in the recovery files, and every loop bounded by
//! the operation deadline.

mod election;
mod files;
mod slaves;
mod sync_names;

use std::cell::RefCell;
use std::time::Duration;

use super::monitor::{Health, ServerRole};
use super::stop::StopMode;
use super::{Pgsql, RepMode};
use crate::cluster::{ClusterError, ClusterStatus, Lifetime, Pacemaker};
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::{Lsn, Session};
use slaves::{SyncAction, CAN_NOT_PROMOTE, PROMOTE_ME};

/// The replication side of one invocation.
pub(super) struct Repl<'a> {
    pg: &'a Pgsql,
    pm: Pacemaker,
    /// This node, lower-cased.
    me: String,
    rsc: String,
    /// The `crm_mon` snapshot, fetched on first use, with our own writes of
    /// this invocation applied on top.
    view: RefCell<Option<ClusterStatus>>,
}

fn cluster_failure(e: ClusterError) -> Failure {
    Failure::generic(e.to_string())
}

impl<'a> Repl<'a> {
    pub(super) async fn new(pg: &'a Pgsql) -> Repl<'a> {
        let pm = Pacemaker {
            instance: pg.env.resource_instance.clone(),
            feature_set: pg.env.param("crm_feature_set").map(str::to_string),
            deadline: pg.deadline,
            forever_timeout: Duration::from_secs(pg.cfg.crm_attr_timeout.max(1)),
        };
        let me = pm.local_node(pg.env.meta("on_node")).await;
        Repl {
            pg,
            pm,
            me,
            rsc: pg.env.resource_name().to_string(),
            view: RefCell::new(None),
        }
    }

    fn attr_status(&self) -> String {
        format!("{}-status", self.rsc)
    }
    fn attr_data_status(&self) -> String {
        format!("{}-data-status", self.rsc)
    }
    fn attr_xlog_loc(&self) -> String {
        format!("{}-xlog-loc", self.rsc)
    }
    fn attr_baseline(&self) -> String {
        format!("{}-master-baseline", self.rsc)
    }
    fn attr_score(&self) -> String {
        format!("master-{}", self.pg.env.resource_instance)
    }

    // ----- the cluster view ---------------------------------------------

    async fn ensure_view(&self) -> Result<(), Failure> {
        if self.view.borrow().is_some() {
            return Ok(());
        }
        let st = self.pm.status(&self.rsc).await.map_err(cluster_failure)?;
        *self.view.borrow_mut() = Some(st);
        Ok(())
    }

    fn with_view<T>(&self, f: impl FnOnce(&ClusterStatus) -> T) -> T {
        let v = self.view.borrow();
        f(v.as_ref().expect("ensure_view first"))
    }

    fn attr(&self, node: &str, name: &str) -> Option<String> {
        self.with_view(|v| v.attr(node, name).map(str::to_string))
    }

    /// Records our own write in the view, so later reads in this invocation
    /// see it (crm_mon would show it only after attrd wrote the CIB).
    fn remember(&self, node: &str, name: &str, value: Option<&str>) {
        if let Some(v) = self.view.borrow_mut().as_mut() {
            let key = v
                .attrs
                .keys()
                .find(|k| k.eq_ignore_ascii_case(node))
                .cloned()
                .unwrap_or_else(|| node.to_string());
            let m = v.attrs.entry(key).or_default();
            match value {
                Some(val) => {
                    m.insert(name.to_string(), val.to_string());
                }
                None => {
                    m.remove(name);
                }
            }
        }
    }

    // ----- attribute writers (spec §5.5) ----------------------------------

    /// `change_pgsql_status`: a node's `<rsc>-status`. Another node's STOP or
    /// UNKNOWN is that node's own statement and is never overwritten.
    async fn change_status(&self, node: &str, value: &str) -> Result<(), Failure> {
        self.ensure_view().await?;
        if !self.with_view(|v| v.is_online(node)) {
            return Ok(());
        }
        let name = self.attr_status();
        let cur = self.attr(node, &name).unwrap_or_default();
        if cur == value {
            return Ok(());
        }
        if (cur == "STOP" || cur == "UNKNOWN") && node != self.me {
            tracing::warn!(
                "Changing {name} on {node} : {cur}->{value} by {} is prohibited.",
                self.me
            );
            return Ok(());
        }
        tracing::info!("Changing {name} on {node} : {cur}->{value}.");
        self.pm
            .set(node, Lifetime::Reboot, &name, value)
            .await
            .map_err(cluster_failure)?;
        self.remember(node, &name, Some(value));
        Ok(())
    }

    /// Our own `<rsc>-status` where no snapshot is needed (start, stop): we
    /// are online, and writing an unchanged value is harmless.
    async fn set_own_status(&self, value: &str) -> Result<(), Failure> {
        if self.view.borrow().is_some() {
            return self.change_status(&self.me.clone(), value).await;
        }
        self.pm
            .set(&self.me, Lifetime::Reboot, &self.attr_status(), value)
            .await
            .map_err(cluster_failure)
    }

    /// `change_data_status`: a node's permanent `<rsc>-data-status`.
    async fn change_data_status(&self, node: &str, value: &str) -> Result<(), Failure> {
        self.ensure_view().await?;
        if !self.with_view(|v| v.knows(node)) {
            return Ok(());
        }
        let name = self.attr_data_status();
        let cur = self.attr(node, &name).unwrap_or_default();
        if cur == value {
            return Ok(());
        }
        tracing::info!("Changing {name} on {node} : {cur}->{value}.");
        self.pm
            .set(node, Lifetime::Forever, &name, value)
            .await
            .map_err(cluster_failure)?;
        self.remember(node, &name, Some(value));
        Ok(())
    }

    /// `set_master_score` for another node: only an existing score is
    /// changed (each node creates its own at start).
    async fn change_master_score(&self, node: &str, score: &str) -> Result<(), Failure> {
        self.ensure_view().await?;
        if !self.with_view(|v| v.is_online(node)) {
            return Ok(());
        }
        let names: Vec<String> = if self.pg.env.resource_instance.contains(':') {
            let max: u32 = self
                .pg
                .env
                .meta("clone_max")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            (0..max)
                .map(|i| format!("master-{}:{i}", self.rsc))
                .filter(|n| *n != self.attr_score())
                .collect()
        } else {
            vec![self.attr_score()]
        };
        for name in names {
            let Some(cur) = self.attr(node, &name).filter(|c| !c.is_empty()) else {
                continue;
            };
            if cur != score {
                tracing::info!("Changing {name} master score on {node} : {cur}->{score}.");
                self.pm
                    .set(node, Lifetime::Reboot, &name, score)
                    .await
                    .map_err(cluster_failure)?;
                self.remember(node, &name, Some(score));
            }
        }
        Ok(())
    }

    /// This node's promotion score. `only_if_changed` is for the monitor,
    /// which runs every few seconds: with a snapshot at hand an unchanged
    /// score is not written again.
    async fn set_own_score(&self, score: &str, only_if_changed: bool) -> Result<(), Failure> {
        let name = self.attr_score();
        if only_if_changed
            && self.view.borrow().is_some()
            && self.attr(&self.me, &name).as_deref() == Some(score)
        {
            return Ok(());
        }
        self.pm
            .set_own_score(score)
            .await
            .map_err(cluster_failure)?;
        self.remember(&self.me.clone(), &name, Some(score));
        Ok(())
    }

    async fn delete_own(&self, name: &str) {
        if self.view.borrow().is_some() && self.attr(&self.me, name).is_none() {
            return;
        }
        if let Err(e) = self.pm.delete(&self.me, Lifetime::Reboot, name).await {
            tracing::warn!("cannot delete {name}: {e}");
        }
        self.remember(&self.me.clone(), name, None);
    }

    // ----- positions ---------------------------------------------------------

    /// `get_my_location`: the newer of the replay and receive positions.
    async fn my_location(&self, session: &Session) -> Result<Lsn, Failure> {
        let sql = if self.pg.facts.version.is_some_and(|v| v.at_least(10, 0)) {
            "select pg_last_wal_replay_lsn(),pg_last_wal_receive_lsn()"
        } else {
            "select pg_last_xlog_replay_location(),pg_last_xlog_receive_location()"
        };
        let rows = session
            .simple_query(sql)
            .await
            .map_err(|e| Failure::generic(format!("Can't get my xlog location: {e}")))?;
        let row = rows.into_iter().next().unwrap_or_default();
        Ok(row
            .iter()
            .flatten()
            .filter_map(|s| Lsn::parse_pg(s))
            .max()
            .unwrap_or_default())
    }

    async fn show_master_baseline(&self, session: &Session) -> Result<(), Failure> {
        let loc = self.my_location(session).await?.to_attr();
        tracing::info!("My master baseline : {loc}.");
        let name = self.attr_baseline();
        self.pm
            .set(&self.me, Lifetime::Reboot, &name, &loc)
            .await
            .map_err(cluster_failure)?;
        self.remember(&self.me.clone(), &name, Some(&loc));
        Ok(())
    }

    // ----- actions -------------------------------------------------------

    /// `pgsql_replication_start`.
    pub(super) async fn start(&self) -> ActionResult {
        self.set_own_status("STOP").await?;
        self.delete_own(&self.attr_baseline()).await;
        self.set_own_score(CAN_NOT_PROMOTE, false).await?;
        let lock = self.pg.cfg.tmpdir.join("PGSQL.lock");
        if lock.exists() {
            return Err(Failure::generic(format!(
                "My data may be inconsistent. You have to remove {} file to force start.",
                lock.display()
            )));
        }
        election::clear_notes(&self.pg.cfg.tmpdir);
        self.pg.write_recovery_conf(&self.me)?;
        self.delete_own(&self.attr_xlog_loc()).await;
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
        self.delete_replication_slots().await?;
        self.set_own_status("HS:alone").await?;
        Ok(OcfRc::Success)
    }

    /// `pgsql_replication_stop`.
    pub(super) async fn stop(&self) -> ActionResult {
        self.set_own_score(CAN_NOT_PROMOTE, false).await?;
        self.delete_own(&self.attr_xlog_loc()).await;
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_none() {
            tracing::info!("PostgreSQL is already stopped.");
            self.set_own_status("STOP").await?;
            return Ok(OcfRc::Success);
        }
        if let Err(f) = self.pg.real_stop(StopMode::Standby).await {
            let _ = self.set_own_status("UNKNOWN").await;
            return Err(f);
        }
        self.set_own_status("STOP").await?;
        if self.pg.cfg.rep_mode == RepMode::Sync {
            self.pg.write_sync_names(&[])?;
        }
        self.delete_own(&self.attr_baseline()).await;
        Ok(OcfRc::Success)
    }

    /// `pgsql_monitor` in replication mode.
    pub(super) async fn monitor(&self) -> ActionResult {
        let probe = self.pg.env.interval_ms() == 0;
        let (role, session) = match self.pg.health().await {
            Health::Down => {
                tracing::info!("PostgreSQL is down");
                return Err(self.pg.not_running());
            }
            Health::Unresponsive(_, e) => {
                return Err(Failure::generic(format!(
                    "Can't get PostgreSQL recovery status. {e}"
                )))
            }
            Health::Up { role, session } => (role, session),
        };
        let result = match role {
            ServerRole::Primary => {
                if probe && self.pg.cfg.monitor_sql == super::config::DEFAULT_MONITOR_SQL {
                    self.set_own_score(PROMOTE_ME, false).await?;
                }
                self.primary_monitor(&session).await
            }
            _ => {
                if probe {
                    self.set_own_score(CAN_NOT_PROMOTE, false).await?;
                }
                self.standby_monitor(&session).await
            }
        };
        if self.pg.cfg.check_wal_receiver {
            self.pg.publish_wal_receiver_status(&result).await;
        }
        result
    }

    async fn primary_monitor(&self, session: &Session) -> ActionResult {
        self.change_data_status(&self.me.clone(), "LATEST").await?;
        self.change_status(&self.me.clone(), "PRI").await?;
        if self.control_standbys(session).await? {
            tracing::info!("re-controlling slave status.");
            self.control_standbys(session).await?;
        }
        Ok(OcfRc::RunningPromoted)
    }

    async fn standby_monitor(&self, session: &Session) -> ActionResult {
        self.ensure_view().await?;
        if !self.with_view(|v| v.has_promoted()) {
            tracing::info!("Master does not exist.");
            self.change_status(&self.me.clone(), "HS:alone").await?;
            if self.have_master_right(session).await? {
                election::clear_notes(&self.pg.cfg.tmpdir);
            }
        } else if self.attr(&self.me, &self.attr_data_status()).as_deref() == Some("DISCONNECT") {
            self.change_status(&self.me.clone(), "HS:alone").await?;
        }
        Ok(OcfRc::Success)
    }

    /// `control_slave_status`. Returns true when a standby was just made
    /// synchronous, so the caller looks again once it has switched.
    async fn control_standbys(&self, session: &Session) -> Result<bool, Failure> {
        let rows: Vec<slaves::ReplRow> = session
            .simple_query(
                "select application_name,upper(state),upper(sync_state) from pg_stat_replication",
            )
            .await
            .map_err(|e| Failure::generic(format!("Can't get PostgreSQL replication status. {e}")))?
            .into_iter()
            .map(|r| {
                let col = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                slaves::ReplRow {
                    application_name: col(0),
                    state: col(1),
                    sync_state: col(2),
                }
            })
            .collect();
        let cfg = &self.pg.cfg;
        let external = cfg.rep_mode == RepMode::Sync && !cfg.external_standby_node_list.is_empty();
        let decisions = slaves::decide(&rows, &cfg.node_list, &self.me, cfg.rep_mode, external);
        let mut made_sync = false;
        for d in &decisions {
            self.change_data_status(&d.node, &d.data_status).await?;
            self.change_master_score(&d.node, d.score).await?;
            match d.sync_action {
                SyncAction::MakeSync => made_sync |= self.set_sync_mode(&d.node)?,
                SyncAction::MakeAsync => self.set_async_mode(&d.node)?,
                SyncAction::None => {}
            }
            if let Some(status) = d.status {
                self.change_status(&d.node, status).await?;
            }
        }
        if external {
            let targets = slaves::external_sync_targets(
                &rows,
                &cfg.node_list,
                &cfg.external_standby_node_list,
            );
            made_sync |= self.set_sync_list(&targets)?;
        }
        if made_sync {
            // Wait for the reload to take effect rather than a fixed sleep.
            let until = self.pg.deadline.within(Duration::from_secs(2));
            while !until.expired() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let synced = session
                    .query_value(
                        "select count(*) from pg_stat_replication where sync_state = 'sync'",
                    )
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|c| c != "0");
                if synced {
                    break;
                }
            }
        }
        Ok(made_sync)
    }

    /// `set_sync_mode NODE` without external standbys: keep an existing
    /// synchronous standby; otherwise name this one and reload.
    fn set_sync_mode(&self, node: &str) -> Result<bool, Failure> {
        let current = self.pg.read_sync_names();
        if !current.is_empty() {
            tracing::debug!("{} is already sync mode.", current.join(" "));
            return Ok(false);
        }
        tracing::info!("Setup {node} into sync mode.");
        self.pg.write_sync_names(&[node.to_string()])?;
        self.pg.reload()?;
        Ok(true)
    }

    /// `set_sync_mode` with external standbys: exactly `targets`.
    fn set_sync_list(&self, targets: &[String]) -> Result<bool, Failure> {
        let mut current = self.pg.read_sync_names();
        let mut wanted = targets.to_vec();
        current.sort();
        wanted.sort();
        if current == wanted {
            tracing::debug!("The same settings already exist.");
            return Ok(false);
        }
        for gone in current.iter().filter(|c| !wanted.contains(c)) {
            if self
                .pg
                .cfg
                .external_standby_node_list
                .iter()
                .any(|e| e.eq_ignore_ascii_case(gone))
            {
                tracing::warn!("The synchronous connection from {gone} was disconnected.");
            }
        }
        tracing::info!(
            "Setup {} into sync mode.",
            targets
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.pg.write_sync_names(targets)?;
        self.pg.reload()?;
        Ok(!targets.is_empty())
    }

    /// `set_async_mode NODE`: if NODE is a synchronous standby, clear the
    /// list (the next monitor picks a streaming one again) and reload.
    fn set_async_mode(&self, node: &str) -> Result<(), Failure> {
        let current = self.pg.read_sync_names();
        if current.iter().any(|c| c.eq_ignore_ascii_case(node)) {
            tracing::info!("Setup {node} into async mode.");
            self.pg.write_sync_names(&[])?;
            self.pg.reload()?;
        } else {
            tracing::debug!("{node} is already in async mode.");
        }
        Ok(())
    }

    /// `have_master_right`, one election round (spec §10.2).
    async fn have_master_right(&self, session: &Session) -> Result<bool, Failure> {
        tracing::debug!("Checking if I have a master right.");
        let ds = self.attr(&self.me, &self.attr_data_status());
        if !election::eligible(ds.as_deref(), self.pg.cfg.rep_mode) {
            tracing::warn!("My data is out-of-date. status={}", ds.unwrap_or_default());
            return Ok(false);
        }
        tracing::info!("My data status={}.", ds.unwrap_or_default());
        let loc = self
            .my_location(session)
            .await
            .map_err(|e| Failure::generic(format!("Failed to show my xlog location. {e}")))?
            .to_attr();
        let name = self.attr_xlog_loc();
        if self.attr(&self.me, &name).as_deref() != Some(loc.as_str()) {
            self.pm
                .set(&self.me, Lifetime::Reboot, &name, &loc)
                .await
                .map_err(|e| Failure::generic(format!("Failed to show my xlog location. {e}")))?;
            self.remember(&self.me.clone(), &name, Some(&loc));
        }
        let mut entries = Vec::new();
        for node in &self.pg.cfg.node_list {
            match self.attr(node, &name) {
                Some(l) => {
                    tracing::info!("{node} xlog location : {l}");
                    entries.push((node.clone(), l));
                }
                None => tracing::warn!("Can't get {node} xlog location."),
            }
        }
        let mine = entries
            .iter()
            .find(|(n, _)| *n == self.me)
            .map(|(_, l)| l.clone());
        let round = election::round(
            &self.pg.cfg.tmpdir,
            self.pg.cfg.xlog_check_count,
            &election::snapshot(&entries),
            mine.as_deref(),
        )
        .map_err(|e| {
            Failure::generic(format!(
                "Can't write xlog notes in {}: {e}",
                self.pg.cfg.tmpdir.display()
            ))
        })?;
        match round {
            election::Round::Won => {
                tracing::info!("I have a master right.");
                self.set_own_score(PROMOTE_ME, true).await?;
                Ok(true)
            }
            election::Round::Lost { newest } => {
                self.change_data_status(&self.me.clone(), "DISCONNECT")
                    .await?;
                tracing::info!("I don't have correct master data. (newest: {newest})");
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// `pgsql_promote` in replication mode.
    pub(super) async fn promote(&self) -> ActionResult {
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
        self.ensure_view().await?;
        // Safety net beyond the reference: in sync mode, a standby whose data
        // is not known to be complete must not become the primary, whatever
        // asked for it (a stale score, a forced promote).
        if self.pg.cfg.rep_mode == RepMode::Sync {
            let ds = self
                .attr(&self.me, &self.attr_data_status())
                .unwrap_or_default();
            if !matches!(ds.as_str(), "" | "LATEST" | "STREAMING|SYNC") {
                return Err(Failure::generic(format!(
                    "Refusing to promote: my data status is {ds}, so acknowledged synchronous \
                     writes may be missing here. Promote a node whose data status is LATEST or \
                     STREAMING|SYNC"
                )));
            }
        }
        election::clear_notes(&self.pg.cfg.tmpdir);
        for node in self.pg.cfg.node_list.iter().filter(|n| **n != self.me) {
            self.change_data_status(node, "DISCONNECT").await?;
            self.change_master_score(node, CAN_NOT_PROMOTE).await?;
        }
        let lock = self.pg.cfg.tmpdir.join("PGSQL.lock");
        tracing::info!("Creating {}.", lock.display());
        std::fs::write(&lock, "")
            .map_err(|e| Failure::generic(format!("Can't create {}: {e}", lock.display())))?;
        self.show_master_baseline(&session).await?;
        drop(session);
        if self.pg.cfg.restart_on_promote {
            tracing::info!("Restarting PostgreSQL instead of promote.");
            self.pg.real_stop(StopMode::Standby).await?;
            self.pg.remove_standby_settings();
            match self.pg.real_start().await {
                Ok(OcfRc::RunningPromoted) => {}
                other => {
                    if other.is_err() {
                        let _ = self.set_own_status("STOP").await;
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
        self.create_replication_slots().await?;
        self.change_data_status(&self.me.clone(), "LATEST").await?;
        self.set_own_score(PROMOTE_ME, false).await?;
        self.change_status(&self.me.clone(), "PRI").await?;
        Ok(OcfRc::Success)
    }

    /// `pgsql_demote`: the primary is stopped, not turned into a standby.
    pub(super) async fn demote(&self) -> ActionResult {
        self.set_own_score(CAN_NOT_PROMOTE, false).await?;
        self.delete_own(&self.attr_baseline()).await;
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_none() {
            tracing::info!("PostgreSQL is already stopped on demote.");
        } else {
            tracing::info!("Stopping PostgreSQL on demote.");
            if let Err(f) = self.pg.real_stop(StopMode::Primary).await {
                let _ = self.set_own_status("UNKNOWN").await;
                return Err(f);
            }
        }
        self.set_own_status("STOP").await?;
        Ok(OcfRc::Success)
    }

    /// `pgsql_notify`: never fails except the pre-promote refusal, which is
    /// how a standby with newer data than the new primary keeps itself out.
    pub(super) async fn notify(&self) -> ActionResult {
        let env = &self.pg.env;
        let kind = env.meta("notify_type").unwrap_or("");
        let op = env.meta("notify_operation").unwrap_or("");
        tracing::debug!("notify: {kind} for {op}");
        let first = |var: &str| -> String {
            env.meta(var)
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let list = |a: &str, b: &str| -> Vec<String> {
            env.meta(a)
                .or_else(|| env.meta(b))
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect()
        };
        match (kind, op) {
            // The one notification that may fail: the refusal of a standby
            // whose data is newer than the node being promoted.
            ("pre", "promote") => return self.pre_promote(&first("notify_promote_uname")).await,
            ("post", "promote") => {
                self.delete_own(&self.attr_xlog_loc()).await;
                if first("notify_promote_uname") != self.me {
                    self.delete_own(&self.attr_baseline()).await;
                }
            }
            ("post", "demote") => {
                let masters = list("notify_master_uname", "notify_promoted_uname");
                if first("notify_demote_uname") != self.me && !masters.contains(&self.me) {
                    if let Health::Up { session, .. } = self.pg.health().await {
                        if let Err(f) = self.show_master_baseline(&session).await {
                            tracing::warn!("{}", f.reason);
                        }
                    }
                }
                if let Err(f) = self.change_status(&self.me.clone(), "HS:alone").await {
                    tracing::warn!("{}", f.reason);
                }
            }
            ("post", "start") | ("post", "stop") => {
                let masters = list("notify_master_uname", "notify_promoted_uname");
                if masters.first() == Some(&self.me) {
                    if let Health::Up { session, .. } = self.pg.health().await {
                        if let Err(f) = self.control_standbys(&session).await {
                            tracing::warn!("{}", f.reason);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(OcfRc::Success)
    }

    /// `pgsql_pre_promote` (spec §10.3): in sync mode with three or more
    /// nodes, a standby whose baseline is newer than the node about to be
    /// promoted bans itself, since it holds data the new primary lacks.
    async fn pre_promote(&self, promote_node: &str) -> ActionResult {
        let cfg = &self.pg.cfg;
        if cfg.rep_mode != RepMode::Sync || cfg.node_list.len() < 3 || promote_node == self.me {
            return Ok(OcfRc::Success);
        }
        // As in the reference, an unreadable baseline means no check: the
        // refusal below is the only way a notification may fail.
        let name = self.attr_baseline();
        let theirs = match self.pm.get(promote_node, Lifetime::Reboot, &name).await {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(OcfRc::Success),
            Err(e) => {
                tracing::warn!("cannot read {name} of {promote_node}: {e}");
                return Ok(OcfRc::Success);
            }
        };
        let mine = match self.pm.get(&self.me, Lifetime::Reboot, &name).await {
            Ok(v) => v.unwrap_or_default(),
            Err(e) => {
                tracing::warn!("cannot read my {name}: {e}");
                return Ok(OcfRc::Success);
            }
        };
        // Compare as positions when both parse (they are the 16-hex form,
        // where this is also the string order the reference uses).
        let newer = match (Lsn::parse_attr(&mine), Lsn::parse_attr(&theirs)) {
            (Some(m), Some(t)) => m > t,
            _ => mine > theirs,
        };
        if newer {
            self.pm.ban(&self.me).await.map_err(cluster_failure)?;
            return Err(Failure::generic(format!(
                "My data is newer than new master's one. New master's location : {theirs}"
            )));
        }
        Ok(OcfRc::Success)
    }

    // ----- replication slots (spec §11) -----------------------------------

    fn slot_names(&self) -> Vec<String> {
        let prefix = &self.pg.cfg.replication_slot_name;
        if prefix.is_empty() {
            return Vec::new();
        }
        self.pg
            .cfg
            .node_list
            .iter()
            .filter(|n| **n != self.me)
            .map(|n| files::slot_name(prefix, n))
            .collect()
    }

    async fn admin_session(&self) -> Result<Session, Failure> {
        let pf = crate::pg::PidFile::read(&self.pg.cfg.pgdata);
        let mut params = self.pg.conn_params(pf.as_ref());
        params.user = self.pg.cfg.pgdba.clone();
        params
            .connect(self.pg.deadline)
            .await
            .map_err(|e| Failure::generic(e.to_string()))
    }

    async fn delete_replication_slots(&self) -> Result<(), Failure> {
        let names = self.slot_names();
        if names.is_empty() {
            return Ok(());
        }
        let s = self.admin_session().await?;
        for name in names {
            let exists = s
                .query_value(&format!(
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name = {}",
                    files::sql_literal(&name)
                ))
                .await
                .map_err(|e| Failure::generic(e.to_string()))?;
            if exists.as_deref() == Some("1") {
                s.simple_query(&format!(
                    "SELECT pg_drop_replication_slot({});",
                    files::sql_literal(&name)
                ))
                .await
                .map_err(|e| {
                    Failure::generic(format!("PostgreSQL can't clean up replication_slot. {e}"))
                })?;
                tracing::info!("PostgreSQL delete the replication slot({name}).");
            }
        }
        Ok(())
    }

    async fn create_replication_slots(&self) -> Result<(), Failure> {
        let names = self.slot_names();
        if names.is_empty() {
            return Ok(());
        }
        self.delete_replication_slots().await?;
        let s = self.admin_session().await?;
        for name in names {
            s.simple_query(&format!(
                "SELECT pg_create_physical_replication_slot({});",
                files::sql_literal(&name)
            ))
            .await
            .map_err(|e| {
                Failure::generic(format!("PostgreSQL can't create replication_slot. {e}"))
            })?;
            tracing::info!("PostgreSQL creates the replication slot({name}).");
        }
        Ok(())
    }
}
