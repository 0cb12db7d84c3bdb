//! Notifications: the election's first half (pre-promote), its
//! cleanup (post-promote) and local crash recovery (pre-demote, pre-stop).
//!
//! Pacemaker ignores what a notification returns and the OCF contract says
//! it must succeed, so nothing here fails the action: problems are logged,
//! and the promote that follows refuses to proceed on missing information.

use super::notify_env::NotifyEnv;
use super::state::State;
use super::switchover::Check;
use super::Paf;
use crate::cluster::vocabulary::PrivateAttr;

/// PAF's private attributes, cleaned before and after each promotion.
const ELECTION_ATTRS: [PrivateAttr; 4] = [
    PrivateAttr::LsnLocation,
    PrivateAttr::RecoverPrimary,
    PrivateAttr::Nodes,
    PrivateAttr::CancelSwitchover,
];

impl Paf {
    pub async fn notify(&self) {
        let Some(n) = NotifyEnv::from_env(&self.env) else {
            return;
        };
        match (n.kind.as_str(), n.operation.as_str()) {
            ("pre", "promote") => self.pre_promote(&n).await,
            ("post", "promote") => self.cleanup_election().await,
            ("pre", "demote") => self.pre_demote(&n).await,
            ("pre", "stop") => self.pre_stop(&n).await,
            _ => {}
        }
    }

    async fn cleanup_election(&self) {
        for a in ELECTION_ATTRS {
            if let Err(e) = self.private.delete(a).await {
                tracing::warn!("{e}");
            }
        }
    }

    async fn pre_promote(&self, n: &NotifyEnv) {
        let Some(target) = n.promote_target() else {
            tracing::warn!("pre-promote notification without a node to promote");
            return;
        };
        tracing::info!("Promoting instance on node \"{target}\"");
        if n.is_primary_recovery(target) {
            // The primary is recovered in place: it is the reference, no
            // election (and no position published).
            tracing::warn!("This is a primary recovery!");
            if target == self.node {
                if let Err(e) = self.private.set(PrivateAttr::RecoverPrimary, "1").await {
                    tracing::error!("{e}");
                }
            }
            return;
        }
        self.cleanup_election().await;

        if n.is_switchover_to(&self.node) {
            let old = n.demote.first().cloned().unwrap_or_default();
            let check = self.check_switchover(&old).await;
            if let Some(v) = check.attr_value() {
                if let Err(e) = self.private.set(PrivateAttr::CancelSwitchover, v).await {
                    tracing::error!("{e}");
                }
                return;
            }
            debug_assert_eq!(check, Check::Safe);
            // Safe; the election still runs, in case the switchover was
            // asked for a node that is not the most advanced.
        }

        let Some(location) = self.local_location().await else {
            tracing::warn!("Unknown current node LSN");
            return;
        };
        tracing::info!("Current node TL#LSN: {location}");
        if let Err(e) = self.private.set(PrivateAttr::LsnLocation, &location).await {
            tracing::warn!("Could not set the current node LSN ({e})");
        }
        if target == self.node {
            let nodes = n.nodes_after().join(" ");
            if let Err(e) = self.private.set(PrivateAttr::Nodes, &nodes).await {
                tracing::error!("{e}");
            }
        }
    }

    /// `<timeline>#<position in bytes>`. The position is the furthest of
    /// received and replayed WAL: PAF uses the received position only,
    /// which right after a restart is the start of the segment the WAL
    /// receiver asked for, behind what the node has replayed from disk,
    /// and can elect a stale node (issues #225, #228).
    async fn local_location(&self) -> Option<String> {
        let session = match self.session().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("{e}");
                return None;
            }
        };
        // A restartpoint, so the control file shows the latest timeline.
        if let Err(e) = session.simple_query("CHECKPOINT").await {
            tracing::debug!("CHECKPOINT: {e}");
        }
        let cd = match self.controldata().await {
            Ok(cd) => cd,
            Err(f) => {
                tracing::warn!("{}", f.reason);
                return None;
            }
        };
        let position = if self.version.at_least(10, 0) {
            "GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
        } else if self.version.at_least(9, 4) {
            "GREATEST(pg_last_xlog_receive_location(), pg_last_xlog_replay_location())"
        } else {
            "pg_last_xlog_receive_location()"
        };
        let sql = format!(
            "SELECT {}({position}, '0/0')::text",
            self.wal_fn("pg_wal_lsn_diff", "pg_xlog_location_diff")
        );
        match session.query_value(&sql).await {
            Ok(Some(v)) => Some(format!("{}#{}", cd.timeline, v.trim())),
            Ok(None) => None,
            Err(e) => {
                tracing::error!("Could not query last received LSN ({e})");
                None
            }
        }
    }

    /// The primary crashed and Pacemaker recovers it in place (demote,
    /// stop, start, promote): start it as a primary first, so PostgreSQL
    /// replays its own WAL; demote then finds a clean primary to stop.
    async fn pre_demote(&self, n: &NotifyEnv) {
        if !n.demote.contains(&self.node) {
            return;
        }
        if !n.is_primary_recovery(&self.node) || self.state().await != State::CrashedPrimary {
            return;
        }
        tracing::info!("Trying to start failing primary \"{}\"...", self.rsc);
        match self.pg_ctl_start().await {
            Ok(()) => tracing::info!("Recovery of {} succeed", self.rsc),
            Err(e) => tracing::error!("Could not recover failing primary {} ({e})", self.rsc),
        }
        self.log_state_after_recovery().await;
    }

    /// A standby crashed and Pacemaker recovers it (stop, start): start it
    /// again in recovery so the stop finds a clean standby to stop.
    async fn pre_stop(&self, n: &NotifyEnv) {
        if !n.stop.contains(&self.node) || !n.is_standby_recovery(&self.node) {
            return;
        }
        if self.state().await != State::CrashedStandby {
            return;
        }
        tracing::info!("Trying to start failing standby \"{}\"...", self.rsc);
        if let Err(e) = self.pg_ctl_start().await {
            tracing::error!("Could not recover failing standby {} ({e})", self.rsc);
        }
        self.log_state_after_recovery().await;
    }

    async fn log_state_after_recovery(&self) {
        match self.controldata().await {
            Ok(cd) => tracing::info!("State is \"{}\" after recovery attempt", cd.state.text()),
            Err(f) => tracing::error!("{}", f.reason),
        }
    }
}
