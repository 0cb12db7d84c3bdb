//! The cluster view and the attribute writers of replication mode: one
//! `crm_mon` snapshot (`View`), taken where an action needs it and passed on
//! explicitly, our own writes recorded in it, and each attribute written only
//! where its value changes (the reference writes every attribute on every
//! monitor).

use super::{cluster_failure, Repl};
use crate::cluster::vocabulary::{promotion_score_name, Attr, DataStatus, PgsqlStatus, Score};
use crate::cluster::{ClusterStatus, Lifetime};
use crate::ocf::Failure;
use crate::pg::{Lsn, Session};

/// The cluster as this invocation knows it: a `crm_mon` snapshot, with the
/// writes of this invocation recorded on top (crm_mon shows them only once
/// attrd has written the CIB).
pub(super) struct View {
    status: ClusterStatus,
}

impl View {
    pub(super) fn new(status: ClusterStatus) -> View {
        View { status }
    }

    pub(super) fn attr(&self, node: &str, name: &str) -> Option<String> {
        self.status.attr(node, name).map(str::to_string)
    }

    pub(super) fn is_online(&self, node: &str) -> bool {
        self.status.is_online(node)
    }

    /// The snapshot as crm_mon gave it (without our writes).
    pub(super) fn cluster(&self) -> &ClusterStatus {
        &self.status
    }

    pub(super) fn is_quorate(&self) -> bool {
        self.status.is_quorate()
    }

    pub(super) fn knows(&self, node: &str) -> bool {
        self.status.knows(node)
    }

    pub(super) fn has_promoted(&self) -> bool {
        self.status.has_promoted()
    }

    pub(super) fn promoted(&self) -> &[String] {
        &self.status.promoted
    }

    /// Every node Pacemaker knows, lower-cased.
    pub(super) fn all_nodes(&self) -> Vec<String> {
        self.status
            .nodes
            .keys()
            .map(|n| n.to_ascii_lowercase())
            .collect()
    }

    /// Records our own write.
    pub(super) fn record(&mut self, node: &str, name: &str, value: Option<&str>) {
        let key = self
            .status
            .attrs
            .keys()
            .find(|k| k.eq_ignore_ascii_case(node))
            .cloned()
            .unwrap_or_else(|| node.to_string());
        let m = self.status.attrs.entry(key).or_default();
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

impl Repl<'_> {
    /// A fresh snapshot of the cluster.
    pub(super) async fn snapshot(&self) -> Result<View, Failure> {
        let st = self.pm.status(&self.rsc).await.map_err(cluster_failure)?;
        Ok(View::new(st))
    }

    /// `change_pgsql_status`: a node's `<rsc>-status`. Another node's STOP or
    /// UNKNOWN is that node's own statement and is never overwritten.
    pub(super) async fn change_status(
        &self,
        view: &mut View,
        node: &str,
        status: PgsqlStatus,
    ) -> Result<(), Failure> {
        if !view.is_online(node) {
            return Ok(());
        }
        let name = self.attr(Attr::Status);
        let value = status.as_str();
        let cur = view.attr(node, &name).unwrap_or_default();
        if cur == value {
            return Ok(());
        }
        let own_statement = PgsqlStatus::parse(&cur).is_some_and(PgsqlStatus::is_own_statement);
        if own_statement && node != self.me {
            tracing::warn!(
                "Changing {name} on {node} : {cur}->{value} by {} is prohibited.",
                self.me
            );
            return Ok(());
        }
        tracing::info!("Changing {name} on {node} : {cur}->{value}.");
        self.pm
            .set(node, Attr::Status.lifetime(), &name, value)
            .await
            .map_err(cluster_failure)?;
        view.record(node, &name, Some(value));
        Ok(())
    }

    /// Our own `<rsc>-status` where no snapshot is needed (start, stop): we
    /// are online, and writing an unchanged value is harmless.
    pub(super) async fn set_own_status(&self, status: PgsqlStatus) -> Result<(), Failure> {
        let name = self.attr(Attr::Status);
        self.pm
            .set(&self.me, Attr::Status.lifetime(), &name, status.as_str())
            .await
            .map_err(cluster_failure)
    }

    /// `change_data_status`: a node's permanent `<rsc>-data-status`.
    pub(super) async fn change_data_status(
        &self,
        view: &mut View,
        node: &str,
        status: &DataStatus,
    ) -> Result<(), Failure> {
        if !view.knows(node) {
            return Ok(());
        }
        let name = self.attr(Attr::DataStatus);
        let value = status.to_string();
        let cur = view.attr(node, &name).unwrap_or_default();
        if cur == value {
            return Ok(());
        }
        tracing::info!("Changing {name} on {node} : {cur}->{value}.");
        self.pm
            .set(node, Attr::DataStatus.lifetime(), &name, &value)
            .await
            .map_err(cluster_failure)?;
        view.record(node, &name, Some(&value));
        Ok(())
    }

    /// `set_master_score` for another node: only an existing score is
    /// changed (each node creates its own at start).
    pub(super) async fn change_master_score(
        &self,
        view: &mut View,
        node: &str,
        score: Score,
    ) -> Result<(), Failure> {
        if !view.is_online(node) {
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
                .map(|i| promotion_score_name(&format!("{}:{i}", self.rsc)))
                .filter(|n| *n != self.attr_score())
                .collect()
        } else {
            vec![self.attr_score()]
        };
        let score = score.to_string();
        for name in names {
            let Some(cur) = view.attr(node, &name).filter(|c| !c.is_empty()) else {
                continue;
            };
            if cur != score {
                tracing::info!("Changing {name} master score on {node} : {cur}->{score}.");
                self.pm
                    .set(node, Lifetime::Reboot, &name, &score)
                    .await
                    .map_err(cluster_failure)?;
                view.record(node, &name, Some(&score));
            }
        }
        Ok(())
    }

    /// This node's promotion score.
    pub(super) async fn set_own_score(&self, score: Score) -> Result<(), Failure> {
        self.pm
            .set_own_score(&score.to_string())
            .await
            .map_err(cluster_failure)
    }

    /// This node's promotion score, unless the snapshot shows it already
    /// (the monitor runs every few seconds).
    pub(super) async fn set_own_score_if_changed(
        &self,
        view: &mut View,
        score: Score,
    ) -> Result<(), Failure> {
        let name = self.attr_score();
        let score = score.to_string();
        if view.attr(&self.me, &name).as_deref() == Some(score.as_str()) {
            return Ok(());
        }
        self.pm
            .set_own_score(&score)
            .await
            .map_err(cluster_failure)?;
        view.record(&self.me, &name, Some(&score));
        Ok(())
    }

    /// Deletes one of this node's transient attributes.
    pub(super) async fn delete_own(&self, name: &str) {
        if let Err(e) = self.pm.delete(&self.me, Lifetime::Reboot, name).await {
            tracing::warn!("cannot delete {name}: {e}");
        }
    }

    /// `get_my_location`: the newer of the replay and receive positions.
    pub(super) async fn my_location(&self, session: &Session) -> Result<Lsn, Failure> {
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

    /// The baseline and whose history it is a point of go together
    /// (replication/rejoin.rs): both are deleted when this node stops
    /// being the primary, or starts, stops or is demoted.
    pub(super) async fn forget_baseline(&self) {
        self.delete_own(&self.attr(Attr::MasterBaseline)).await;
        if self.pg.cfg.rejoin != crate::agents::pgsql::config::Rejoin::Off {
            self.delete_own(&self.attr(Attr::PromotedFrom)).await;
        }
    }

    /// The primary a promotion replaces (replication/rejoin.rs): the data
    /// status of every node, from the snapshot, or from the CIB for a node
    /// out of it (crm_mon shows no attributes of an offline node).
    pub(super) async fn previous_primary(&self, view: &View) -> Result<Option<String>, Failure> {
        let name = self.attr(Attr::DataStatus);
        let mut statuses = Vec::new();
        for node in self.nodes(Some(view)).await? {
            let ds = match view.attr(&node, &name) {
                Some(v) => Some(v),
                None if node != self.me => self
                    .pm
                    .get(&node, Attr::DataStatus.lifetime(), &name)
                    .await
                    .unwrap_or_default(),
                None => None,
            };
            statuses.push((node, ds));
        }
        Ok(super::rejoin::previous_primary(&statuses, &self.me))
    }

    /// At promotion: the primary this node replaces (`previous_primary`),
    /// recorded beside the baseline, or none.
    pub(super) async fn record_promoted_from(&self, previous: Option<&str>) {
        let name = self.attr(Attr::PromotedFrom);
        let done = match previous {
            Some(node) => {
                self.pm
                    .set(&self.me, Attr::PromotedFrom.lifetime(), &name, node)
                    .await
            }
            None => {
                self.pm
                    .delete(&self.me, Attr::PromotedFrom.lifetime(), &name)
                    .await
            }
        };
        if let Err(e) = done {
            tracing::warn!("cannot record {name}: {e}");
        }
    }

    pub(super) async fn show_master_baseline(&self, session: &Session) -> Result<(), Failure> {
        let loc = self.my_location(session).await?.to_attr();
        tracing::info!("My master baseline : {loc}.");
        let name = self.attr(Attr::MasterBaseline);
        self.pm
            .set(&self.me, Attr::MasterBaseline.lifetime(), &name, &loc)
            .await
            .map_err(cluster_failure)
    }
}
