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

mod attributes;
mod election;
mod files;
mod lifecycle;
mod notify;
mod promotion;
mod rejoin;
mod slaves;
mod slots;
mod standbys;
mod steady;
mod sync_names;
mod vote;

use super::Pgsql;
use crate::cluster::vocabulary::{promotion_score_name, Attr};
use crate::cluster::{ClusterError, Pacemaker};
use crate::ocf::Failure;
use attributes::View;

/// The replication side of one invocation.
pub(super) struct Repl<'a> {
    pg: &'a Pgsql,
    pm: Pacemaker,
    /// This node, lower-cased.
    me: String,
    rsc: String,
}

fn cluster_failure(e: ClusterError) -> Failure {
    Failure::generic(e.to_string())
}

impl<'a> Repl<'a> {
    pub(in crate::agents::pgsql) async fn new(pg: &'a Pgsql) -> Repl<'a> {
        let pm = pg.pacemaker();
        let me = pm
            .local_node(pg.env.meta("on_node"))
            .await
            .to_ascii_lowercase();
        Repl {
            pg,
            pm,
            me,
            rsc: pg.env.resource_name().to_string(),
        }
    }

    /// The nodes that may run the resource: `node_list`, or, with the
    /// original upfront agent's parameters and no node_list, every node
    /// Pacemaker knows (the two nodes of that agent's layout).
    /// `view`: the snapshot the caller holds, if any; without one and
    /// without node_list, a snapshot is taken.
    async fn nodes(&self, view: Option<&View>) -> Result<Vec<String>, Failure> {
        if !self.pg.cfg.node_list_from_cluster() {
            return Ok(self.pg.cfg.node_list.clone());
        }
        match view {
            Some(v) => Ok(v.all_nodes()),
            None => Ok(self.snapshot().await?.all_nodes()),
        }
    }

    /// The name of one of this resource's attributes.
    pub(super) fn attr(&self, attr: Attr) -> String {
        attr.name(&self.rsc)
    }

    /// This instance's promotion score attribute.
    pub(super) fn attr_score(&self) -> String {
        promotion_score_name(&self.pg.env.resource_instance)
    }
}
