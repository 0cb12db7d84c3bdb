//! `notify` in replication mode, and the pre-promote baseline check.

use super::{cluster_failure, Repl};
use crate::agents::pgsql::monitor::Health;
use crate::agents::pgsql::RepMode;
use crate::cluster::vocabulary::{Attr, PgsqlStatus};
use crate::cluster::Lifetime;
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::Lsn;

impl Repl<'_> {
    /// `pgsql_notify`: never fails except the pre-promote refusal, which is
    /// how a standby with newer data than the new primary keeps itself out.
    pub(in crate::agents::pgsql) async fn notify(&self) -> ActionResult {
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
                self.delete_own(&self.attr(Attr::XlogLoc)).await;
                if first("notify_promote_uname") != self.me {
                    self.forget_baseline().await;
                }
            }
            ("post", "demote") => {
                let masters = list("notify_master_uname", "notify_promoted_uname");
                // Only bystanders: the demoted node keeps the STOP its demote
                // wrote, and a node about to become primary is not alone.
                if first("notify_demote_uname") != self.me && !masters.contains(&self.me) {
                    if let Health::Up { session, .. } = self.pg.health().await {
                        if let Err(f) = self.show_master_baseline(&session).await {
                            tracing::warn!("{}", f.reason);
                        }
                    }
                    let changed = match self.snapshot().await {
                        Ok(mut view) => {
                            self.change_status(&mut view, &self.me, PgsqlStatus::Alone)
                                .await
                        }
                        Err(f) => Err(f),
                    };
                    if let Err(f) = changed {
                        tracing::warn!("{}", f.reason);
                    }
                }
            }
            ("post", "start") | ("post", "stop") => {
                let masters = list("notify_master_uname", "notify_promoted_uname");
                if masters.first() == Some(&self.me) {
                    if let Health::Up { session, .. } = self.pg.health().await {
                        if op == "stop" {
                            let stopped = list("notify_stop_uname", "notify_stop_uname");
                            self.end_stale_wal_senders(&session, &stopped).await;
                        }
                        let controlled = match self.snapshot().await {
                            Ok(mut view) => self.control_standbys(&mut view, &session).await,
                            Err(f) => Err(f),
                        };
                        if let Err(f) = controlled {
                            tracing::warn!("{}", f.reason);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(OcfRc::Success)
    }

    /// `pgsql_pre_promote`: in sync mode with three or more
    /// nodes, a standby whose baseline is newer than the node about to be
    /// promoted bans itself, since it holds data the new primary lacks.
    pub(super) async fn pre_promote(&self, promote_node: &str) -> ActionResult {
        let cfg = &self.pg.cfg;
        if cfg.rep_mode != RepMode::Sync
            || promote_node == self.me
            || self.nodes(None).await?.len() < 3
        {
            return Ok(OcfRc::Success);
        }
        // As in the reference, an unreadable baseline means no check: the
        // refusal below is the only way a notification may fail.
        let name = self.attr(Attr::MasterBaseline);
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
}
