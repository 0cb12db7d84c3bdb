//! The cluster view and the attribute writers of replication mode: one
//! `crm_mon` snapshot per invocation, our own writes layered on top, and
//! each attribute written only where its value changes (the reference
//! writes every attribute on every monitor).

use super::{cluster_failure, Repl};
use crate::cluster::vocabulary::{promotion_score_name, Attr, DataStatus, PgsqlStatus, Score};
use crate::cluster::{ClusterStatus, Lifetime};
use crate::ocf::Failure;
use crate::pg::{Lsn, Session};

impl Repl<'_> {
    pub(super) async fn ensure_view(&self) -> Result<(), Failure> {
        if self.view.borrow().is_some() {
            return Ok(());
        }
        let st = self.pm.status(&self.rsc).await.map_err(cluster_failure)?;
        *self.view.borrow_mut() = Some(st);
        Ok(())
    }

    /// Drops the snapshot, so the next read takes a fresh one.
    pub(super) fn forget_view(&self) {
        *self.view.borrow_mut() = None;
    }

    pub(super) fn with_view<T>(&self, f: impl FnOnce(&ClusterStatus) -> T) -> T {
        let v = self.view.borrow();
        f(v.as_ref().expect("ensure_view first"))
    }

    pub(super) fn attr_of(&self, node: &str, name: &str) -> Option<String> {
        self.with_view(|v| v.attr(node, name).map(str::to_string))
    }

    /// Records our own write in the view, so later reads in this invocation
    /// see it (crm_mon would show it only after attrd wrote the CIB).
    pub(super) fn remember(&self, node: &str, name: &str, value: Option<&str>) {
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

    /// `change_pgsql_status`: a node's `<rsc>-status`. Another node's STOP or
    /// UNKNOWN is that node's own statement and is never overwritten.
    pub(super) async fn change_status(
        &self,
        node: &str,
        status: PgsqlStatus,
    ) -> Result<(), Failure> {
        self.ensure_view().await?;
        if !self.with_view(|v| v.is_online(node)) {
            return Ok(());
        }
        let name = self.attr(Attr::Status);
        let value = status.as_str();
        let cur = self.attr_of(node, &name).unwrap_or_default();
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
        self.remember(node, &name, Some(value));
        Ok(())
    }

    /// Our own `<rsc>-status` where no snapshot is needed (start, stop): we
    /// are online, and writing an unchanged value is harmless.
    pub(super) async fn set_own_status(&self, status: PgsqlStatus) -> Result<(), Failure> {
        if self.view.borrow().is_some() {
            return self.change_status(&self.me.clone(), status).await;
        }
        let name = self.attr(Attr::Status);
        self.pm
            .set(&self.me, Attr::Status.lifetime(), &name, status.as_str())
            .await
            .map_err(cluster_failure)
    }

    /// `change_data_status`: a node's permanent `<rsc>-data-status`.
    pub(super) async fn change_data_status(
        &self,
        node: &str,
        status: &DataStatus,
    ) -> Result<(), Failure> {
        self.ensure_view().await?;
        if !self.with_view(|v| v.knows(node)) {
            return Ok(());
        }
        let name = self.attr(Attr::DataStatus);
        let value = status.to_string();
        let cur = self.attr_of(node, &name).unwrap_or_default();
        if cur == value {
            return Ok(());
        }
        tracing::info!("Changing {name} on {node} : {cur}->{value}.");
        self.pm
            .set(node, Attr::DataStatus.lifetime(), &name, &value)
            .await
            .map_err(cluster_failure)?;
        self.remember(node, &name, Some(&value));
        Ok(())
    }

    /// `set_master_score` for another node: only an existing score is
    /// changed (each node creates its own at start).
    pub(super) async fn change_master_score(
        &self,
        node: &str,
        score: Score,
    ) -> Result<(), Failure> {
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
                .map(|i| promotion_score_name(&format!("{}:{i}", self.rsc)))
                .filter(|n| *n != self.attr_score())
                .collect()
        } else {
            vec![self.attr_score()]
        };
        let score = score.to_string();
        for name in names {
            let Some(cur) = self.attr_of(node, &name).filter(|c| !c.is_empty()) else {
                continue;
            };
            if cur != score {
                tracing::info!("Changing {name} master score on {node} : {cur}->{score}.");
                self.pm
                    .set(node, Lifetime::Reboot, &name, &score)
                    .await
                    .map_err(cluster_failure)?;
                self.remember(node, &name, Some(&score));
            }
        }
        Ok(())
    }

    /// This node's promotion score. `only_if_changed` is for the monitor,
    /// which runs every few seconds: with a snapshot at hand an unchanged
    /// score is not written again.
    pub(super) async fn set_own_score(
        &self,
        score: Score,
        only_if_changed: bool,
    ) -> Result<(), Failure> {
        let name = self.attr_score();
        let score = score.to_string();
        if only_if_changed
            && self.view.borrow().is_some()
            && self.attr_of(&self.me, &name).as_deref() == Some(score.as_str())
        {
            return Ok(());
        }
        self.pm
            .set_own_score(&score)
            .await
            .map_err(cluster_failure)?;
        self.remember(&self.me.clone(), &name, Some(&score));
        Ok(())
    }

    pub(super) async fn delete_own(&self, name: &str) {
        if self.view.borrow().is_some() && self.attr_of(&self.me, name).is_none() {
            return;
        }
        if let Err(e) = self.pm.delete(&self.me, Lifetime::Reboot, name).await {
            tracing::warn!("cannot delete {name}: {e}");
        }
        self.remember(&self.me.clone(), name, None);
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

    pub(super) async fn show_master_baseline(&self, session: &Session) -> Result<(), Failure> {
        let loc = self.my_location(session).await?.to_attr();
        tracing::info!("My master baseline : {loc}.");
        let name = self.attr(Attr::MasterBaseline);
        self.pm
            .set(&self.me, Attr::MasterBaseline.lifetime(), &name, &loc)
            .await
            .map_err(cluster_failure)?;
        self.remember(&self.me.clone(), &name, Some(&loc));
        Ok(())
    }
}
