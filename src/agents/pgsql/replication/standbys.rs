//! The primary's control of its standbys (`control_slave_status`): data
//! status, promotion scores and `synchronous_standby_names`, applied from the
//! decisions of `slaves.rs`.

use std::time::Duration;

use super::attributes::View;
use super::slaves::{Hold, SyncPlan};
use super::{slaves, Repl};
use crate::agents::pgsql::RepMode;
use crate::ocf::Failure;
use crate::pg::Session;

impl Repl<'_> {
    /// A standby Pacemaker reports stopped cannot be streaming, yet the
    /// primary may still list a WAL sender for it: a node cut off or powered
    /// off sends no TCP reset, and PostgreSQL notices the dead connection
    /// only after `wal_sender_timeout` (60 s by default), holding every
    /// synchronous commit until then. Ending that connection lets the
    /// standby control that follows move synchronous replication at once; a
    /// standby that is in fact alive just reconnects.
    pub(super) async fn end_stale_wal_senders(&self, session: &Session, stopped: &[String]) {
        for node in stopped
            .iter()
            .filter(|n| **n != self.me && self.pg.cfg.node_list.contains(n))
        {
            let ended = session
                .query_texts(
                    "select count(pg_terminate_backend(pid))::text from pg_stat_replication \
                     where application_name = $1",
                    &[node],
                )
                .await;
            match ended {
                Ok(rows) => {
                    let n = rows
                        .first()
                        .and_then(|r| r.first().cloned().flatten())
                        .unwrap_or_default();
                    if n != "0" {
                        tracing::info!(
                            "{node} is stopped: ended its stale WAL sender connection ({n})"
                        );
                        // The signal is asynchronous: wait (bounded) until the
                        // sender is gone, so the standby control sees it gone.
                        let until = self.pg.deadline.within(Duration::from_secs(2));
                        while !until.expired() {
                            let left = session
                                .query_texts(
                                    "select count(*)::text from pg_stat_replication \
                                     where application_name = $1",
                                    &[node],
                                )
                                .await;
                            let still = left
                                .ok()
                                .and_then(|r| r.first().and_then(|r| r.first().cloned().flatten()));
                            if still.as_deref() == Some("0") {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                Err(e) => tracing::warn!("cannot end the WAL sender of stopped {node}: {e}"),
            }
        }
    }

    /// `control_slave_status`. Returns true when a standby was just made
    /// synchronous, so the caller looks again once it has switched.
    pub(super) async fn control_standbys(
        &self,
        view: &mut View,
        session: &Session,
    ) -> Result<bool, Failure> {
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
        let nodes = self.nodes(Some(view)).await?;
        let decisions = slaves::decide(
            &rows,
            &nodes,
            &self.me,
            cfg.rep_mode,
            cfg.promotion_by_rule(),
        );
        let mut made_sync = false;
        // The synchronous standby plan first: a standby it holds keeps its
        // data status and score (slaves::held).
        let current = self.pg.read_sync_names();
        let plan = if cfg.rep_mode == RepMode::Sync && !external {
            Some(self.sync_plan(view, &current, &decisions).await)
        } else {
            None
        };
        for d in &decisions {
            if plan.as_ref().is_some_and(|p| slaves::held(p, &current, d)) {
                tracing::info!(
                    "{} does not stream, and commits wait for it: its data status stays",
                    d.node
                );
                continue;
            }
            self.change_data_status(view, &d.node, &d.data_status)
                .await?;
            self.change_master_score(view, &d.node, d.score).await?;
            if let Some(status) = d.status {
                self.change_status(view, &d.node, status).await?;
            }
        }
        if let Some(plan) = plan {
            made_sync = self.apply_sync_plan(plan, &current).await?;
        }
        if external {
            let targets =
                slaves::external_sync_targets(&rows, &nodes, &cfg.external_standby_node_list);
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

    /// `set_sync_mode`/`set_async_mode` of the reference, decided as one
    /// plan (slaves.rs): a lost synchronous standby is replaced by a
    /// streaming one directly, and the list is cleared only when no standby
    /// streams, this partition has quorum and `strict_sync` is off.
    async fn sync_plan(
        &self,
        view: &View,
        current: &[String],
        decisions: &[slaves::StandbyDecision],
    ) -> SyncPlan {
        let mut plan = slaves::plan_sync(
            current,
            decisions,
            view.is_quorate(),
            self.pg.cfg.strict_sync,
        );
        if plan == SyncPlan::Clear {
            // crm_mon shows the DC's last word; the controller knows now.
            match self.pm.has_quorum().await {
                Ok(true) => {}
                Ok(false) => plan = SyncPlan::Hold(Hold::NoQuorum),
                Err(e) => {
                    tracing::warn!("cannot ask the controller for quorum: {e}");
                    plan = SyncPlan::Hold(Hold::NoQuorum);
                }
            }
        }
        plan
    }

    /// Applies the plan. Returns true when a standby was just named.
    async fn apply_sync_plan(&self, plan: SyncPlan, current: &[String]) -> Result<bool, Failure> {
        // The standbys' attributes were written since the plan was made
        // (seconds, when the attribute daemon is slow), and the membership
        // may have changed meanwhile: a relaxing is confirmed with the
        // controller right before it is done, never on an older answer.
        let plan = match plan {
            SyncPlan::Clear => match self.pm.has_quorum().await {
                Ok(true) => SyncPlan::Clear,
                Ok(false) => SyncPlan::Hold(Hold::NoQuorum),
                Err(e) => {
                    tracing::warn!("cannot ask the controller for quorum: {e}");
                    SyncPlan::Hold(Hold::NoQuorum)
                }
            },
            other => other,
        };
        match plan {
            SyncPlan::Keep => Ok(false),
            SyncPlan::Name(node) => {
                tracing::info!("Setup {node} into sync mode.");
                self.pg.write_sync_names(&[node])?;
                self.pg.reload()?;
                Ok(true)
            }
            SyncPlan::Clear => {
                tracing::info!("Setup {} into async mode.", current.join(" "));
                self.pg.write_sync_names(&[])?;
                self.pg.reload()?;
                Ok(false)
            }
            SyncPlan::Hold(why) => {
                let why = match why {
                    Hold::NoQuorum => "this partition has no quorum",
                    Hold::Strict => "strict_sync is set",
                };
                tracing::warn!(
                    "No standby streams; synchronous replication stays with {} because {why}: \
                     commits wait until a standby is back",
                    current.join(" ")
                );
                Ok(false)
            }
        }
    }

    /// `set_sync_mode` with external standbys: exactly `targets`.
    pub(super) fn set_sync_list(&self, targets: &[String]) -> Result<bool, Failure> {
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
}
