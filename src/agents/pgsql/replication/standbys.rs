//! The primary's control of its standbys (`control_slave_status`): data
//! status, promotion scores and `synchronous_standby_names`, applied from the
//! decisions of `slaves.rs`.

use std::time::Duration;

use super::slaves::SyncAction;
use super::{slaves, Repl};
use crate::agents::pgsql::RepMode;
use crate::ocf::Failure;
use crate::pg::Session;

impl Repl<'_> {
    /// `control_slave_status`. Returns true when a standby was just made
    /// synchronous, so the caller looks again once it has switched.
    pub(super) async fn control_standbys(&self, session: &Session) -> Result<bool, Failure> {
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
        let nodes = self.nodes().await?;
        let decisions = slaves::decide(
            &rows,
            &nodes,
            &self.me,
            cfg.rep_mode,
            external,
            cfg.promotion_by_rule(),
        );
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

    /// `set_sync_mode NODE` without external standbys: keep an existing
    /// synchronous standby; otherwise name this one and reload.
    pub(super) fn set_sync_mode(&self, node: &str) -> Result<bool, Failure> {
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

    /// `set_async_mode NODE`: if NODE is a synchronous standby, clear the
    /// list (the next monitor picks a streaming one again) and reload.
    pub(super) fn set_async_mode(&self, node: &str) -> Result<(), Failure> {
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
}
