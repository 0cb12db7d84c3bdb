//! What the primary decides about each standby from `pg_stat_replication`
//! (`control_slave_status` of the reference), as a plain function.
//!
//! Input: the rows of `pg_stat_replication` and the configuration. Output:
//! for every other node in `node_list`, its data status, promotion score,
//! status attribute and what to do about `synchronous_standby_names`. The
//! caller applies the decisions; keeping them pure lets the reference's
//! table (sync state -> score, status, synchronous_standby_names) be tested
//! row by row.

use crate::agents::pgsql::RepMode;
use crate::cluster::vocabulary::{DataStatus, PgsqlStatus, Score, SyncState};

/// A standby that may lack acknowledged writes.
pub const CAN_NOT_PROMOTE: Score = Score::MinusInfinity;
/// A standby that holds every acknowledged write.
pub const CAN_PROMOTE: Score = Score::Value(100);
/// The primary, or the node the election chose.
pub const PROMOTE_ME: Score = Score::Value(1000);

/// One row of `select application_name, upper(state), upper(sync_state)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplRow {
    pub application_name: String,
    pub state: String,
    pub sync_state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyDecision {
    pub node: String,
    pub data_status: DataStatus,
    pub score: Score,
    /// New `<rsc>-status`, `None` to leave it.
    pub status: Option<PgsqlStatus>,
}

/// The data status of `node`: its first row (application_name compared
/// case-insensitively and exactly, not as a pattern), else `DISCONNECT`.
pub fn data_status_of(rows: &[ReplRow], node: &str) -> DataStatus {
    rows.iter()
        .find(|r| r.application_name.eq_ignore_ascii_case(node))
        .map(|r| DataStatus::sender(&r.state, &r.sync_state))
        .unwrap_or(DataStatus::Disconnect)
}

/// Decisions for every node of `node_list` but `me`.
///
/// `by_rule` is the original upfront agent's contract (`primary` given): the
/// CIB's location rule for the promoted role picks the primary. A standby
/// that holds every acknowledged write (the synchronous one) then gets the
/// primary's own score, so that a rule worth less than the 900 points
/// between 1000 and 100 still decides; every other standby stays at
/// -INFINITY, whatever the mode, since it may lack acknowledged writes.
pub fn decide(
    rows: &[ReplRow],
    node_list: &[String],
    me: &str,
    rep_mode: RepMode,
    by_rule: bool,
) -> Vec<StandbyDecision> {
    let two_node_async = rep_mode == RepMode::Async && node_list.len() <= 2 && !by_rule;
    let sync_score = if by_rule { PROMOTE_ME } else { CAN_PROMOTE };
    node_list
        .iter()
        .filter(|n| !n.eq_ignore_ascii_case(me))
        .map(|node| {
            let ds = data_status_of(rows, node);
            let (score, status) = if ds.is_streaming(SyncState::Sync) {
                (sync_score, Some(PgsqlStatus::SyncStandby))
            } else if ds.is_streaming(SyncState::Async) {
                let score = if two_node_async {
                    CAN_PROMOTE
                } else {
                    CAN_NOT_PROMOTE
                };
                (score, Some(PgsqlStatus::AsyncStandby))
            } else if ds.is_streaming(SyncState::Potential) {
                let status = Some(PgsqlStatus::PotentialStandby);
                (CAN_NOT_PROMOTE, status)
            } else if ds == DataStatus::Disconnect {
                (CAN_NOT_PROMOTE, None)
            } else {
                let status = Some(PgsqlStatus::Connected);
                (CAN_NOT_PROMOTE, status)
            };
            StandbyDecision {
                node: node.clone(),
                data_status: ds,
                score,
                status,
            }
        })
        .collect()
}

/// What becomes of `synchronous_standby_names` in sync mode (without
/// external standbys), decided once per look at the standbys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// Leave it: its standby streams, or there is nothing better.
    Keep,
    /// Name this streaming standby: the list was empty or named a standby
    /// that no longer streams. The replacement is direct, so commits never
    /// go unprotected while a standby streams.
    Name(String),
    /// No standby streams and durability may be relaxed: clear the list
    /// (the stock agents' behaviour), commits no longer wait.
    Clear,
    /// No standby streams and the list stays: commits wait until one is back.
    Hold(Hold),
}

/// Why the primary keeps a synchronous standby that is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// This partition has no quorum: a commit acknowledged here could exist
    /// on this node only while another partition promotes a standby.
    NoQuorum,
    /// `strict_sync=true`: never acknowledge a commit that only this node has.
    Strict,
}

/// The plan for `current` (the names in rep_mode.conf) given the decisions
/// of [`decide`], the partition's quorum and `strict_sync`.
pub fn plan_sync(
    current: &[String],
    decisions: &[StandbyDecision],
    quorate: bool,
    strict: bool,
) -> SyncPlan {
    let streams = |d: &&StandbyDecision| {
        [SyncState::Sync, SyncState::Async, SyncState::Potential]
            .into_iter()
            .any(|s| d.data_status.is_streaming(s))
    };
    let named_streams = current.iter().any(|c| {
        decisions
            .iter()
            .filter(streams)
            .any(|d| d.node.eq_ignore_ascii_case(c))
    });
    if named_streams {
        return SyncPlan::Keep;
    }
    if let Some(d) = decisions.iter().find(streams) {
        return SyncPlan::Name(d.node.clone());
    }
    if current.is_empty() {
        SyncPlan::Keep
    } else if !quorate {
        SyncPlan::Hold(Hold::NoQuorum)
    } else if strict {
        SyncPlan::Hold(Hold::Strict)
    } else {
        SyncPlan::Clear
    }
}

/// Whether `d` is a standby the plan holds as synchronous although it does
/// not stream (no quorum, or `strict_sync`): commits wait for it, so it
/// still has every acknowledged commit, and its data status and score must
/// stay what they were (the stock agent's DISCONNECT would make the one
/// node that is complete unpromotable, and no node would be promoted once
/// the partition heals).
pub fn held(plan: &SyncPlan, current: &[String], d: &StandbyDecision) -> bool {
    matches!(plan, SyncPlan::Hold(_)) && current.iter().any(|c| c.eq_ignore_ascii_case(&d.node))
}

/// With external standbys (sync mode): every streaming standby that is in
/// the cluster or in the external list becomes synchronous, in row order.
pub fn external_sync_targets(
    rows: &[ReplRow],
    node_list: &[String],
    external: &[String],
) -> Vec<String> {
    rows.iter()
        .filter(|r| r.state == "STREAMING")
        .filter(|r| {
            let n = r.application_name.to_ascii_lowercase();
            node_list.contains(&n) || external.contains(&n)
        })
        .map(|r| r.application_name.clone())
        .collect()
}

#[cfg(test)]
mod held_tests {
    use super::*;

    fn gone(node: &str) -> StandbyDecision {
        StandbyDecision {
            node: node.into(),
            data_status: DataStatus::Disconnect,
            score: Score::MinusInfinity,
            status: None,
        }
    }

    /// The partition of a primary cut off from both standbys, without
    /// quorum: the synchronous standby is held (its status kept), the other
    /// is not; with quorum the list is cleared and nobody is held.
    #[test]
    fn only_the_named_standby_of_a_held_plan_keeps_its_status() {
        let current = vec!["node3".to_string()];
        let decisions = vec![gone("node2"), gone("node3")];
        let plan = plan_sync(&current, &decisions, false, false);
        assert_eq!(plan, SyncPlan::Hold(Hold::NoQuorum));
        assert!(held(&plan, &current, &decisions[1]));
        assert!(!held(&plan, &current, &decisions[0]));
        let strict = plan_sync(&current, &decisions, true, true);
        assert!(held(&strict, &current, &decisions[1]));
        let cleared = plan_sync(&current, &decisions, true, false);
        assert_eq!(cleared, SyncPlan::Clear);
        assert!(!held(&cleared, &current, &decisions[1]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(current: &[&str], rows: &[ReplRow], quorate: bool, strict: bool) -> SyncPlan {
        let nodes: Vec<String> = ["node1", "node2", "node3"].map(String::from).to_vec();
        let d = decide(rows, &nodes, "node1", RepMode::Sync, false);
        let current: Vec<String> = current.iter().map(|s| s.to_string()).collect();
        plan_sync(&current, &d, quorate, strict)
    }

    #[test]
    fn sync_plan_keeps_a_streaming_standby_and_replaces_a_lost_one_directly() {
        let n2 = row("node2", "STREAMING", "SYNC");
        let n3 = row("node3", "STREAMING", "ASYNC");
        assert_eq!(
            plan(&["node2"], &[n2.clone(), n3.clone()], true, false),
            SyncPlan::Keep
        );
        assert_eq!(
            plan(&[], std::slice::from_ref(&n3), true, false),
            SyncPlan::Name("node3".into())
        );
        // node2 left: node3 at once, with or without quorum, strict or not.
        for (q, s) in [(true, false), (false, false), (true, true)] {
            assert_eq!(
                plan(&["node2"], std::slice::from_ref(&n3), q, s),
                SyncPlan::Name("node3".into())
            );
        }
        // A standby still catching up does not count as streaming.
        let catching = row("node3", "CATCHUP", "ASYNC");
        assert_eq!(plan(&["node2"], &[catching], true, false), SyncPlan::Clear);
    }

    #[test]
    fn sync_plan_never_relaxes_without_quorum_or_when_strict() {
        assert_eq!(plan(&["node2"], &[], true, false), SyncPlan::Clear);
        assert_eq!(
            plan(&["node2"], &[], false, false),
            SyncPlan::Hold(Hold::NoQuorum)
        );
        assert_eq!(
            plan(&["node2"], &[], false, true),
            SyncPlan::Hold(Hold::NoQuorum)
        );
        assert_eq!(
            plan(&["node2"], &[], true, true),
            SyncPlan::Hold(Hold::Strict)
        );
        assert_eq!(plan(&[], &[], false, true), SyncPlan::Keep);
    }

    fn row(n: &str, s: &str, y: &str) -> ReplRow {
        ReplRow {
            application_name: n.into(),
            state: s.into(),
            sync_state: y.into(),
        }
    }

    fn nodes(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// `decide` as the primary node1, without external standbys.
    fn decide_on_node1(
        rows: &[ReplRow],
        node_list: &[&str],
        rep_mode: RepMode,
        by_rule: bool,
    ) -> Vec<StandbyDecision> {
        decide(rows, &nodes(node_list), "node1", rep_mode, by_rule)
    }

    fn data(s: &str) -> DataStatus {
        DataStatus::parse(s).unwrap()
    }

    #[test]
    fn spec_table_sync_mode() {
        let rows = vec![
            row("node2", "STREAMING", "SYNC"),
            row("node3", "STREAMING", "ASYNC"),
            row("node4", "STREAMING", "POTENTIAL"),
            row("node5", "CATCHUP", "ASYNC"),
        ];
        let all = ["node1", "node2", "node3", "node4", "node5", "node6"];
        let d = decide_on_node1(&rows, &all, RepMode::Sync, false);
        let by = |n: &str| d.iter().find(|x| x.node == n).unwrap().clone();
        assert_eq!(by("node2").score, CAN_PROMOTE);
        assert_eq!(by("node2").status, Some(PgsqlStatus::SyncStandby));
        assert_eq!(by("node3").score, CAN_NOT_PROMOTE);
        assert_eq!(by("node3").status, Some(PgsqlStatus::AsyncStandby));
        assert_eq!(by("node4").status, Some(PgsqlStatus::PotentialStandby));
        assert_eq!(by("node5").data_status, data("CATCHUP|ASYNC"));
        assert_eq!(by("node5").status, Some(PgsqlStatus::Connected));
        assert_eq!(by("node6").data_status, DataStatus::Disconnect);
        assert_eq!(by("node6").status, None);
        assert_eq!(d.len(), 5, "me is skipped");
    }

    #[test]
    fn two_node_async_standby_may_be_promoted() {
        let rows = vec![row("node2", "STREAMING", "ASYNC")];
        let d = decide_on_node1(&rows, &["node1", "node2"], RepMode::Async, false);
        assert_eq!(d[0].score, CAN_PROMOTE);
        let d = decide_on_node1(&rows, &["node1", "node2", "node3"], RepMode::Async, false);
        assert_eq!(d[0].score, CAN_NOT_PROMOTE);
    }

    #[test]
    fn by_rule_a_sync_standby_ties_with_the_primary() {
        let rows = vec![
            row("node2", "STREAMING", "SYNC"),
            row("node3", "STREAMING", "ASYNC"),
        ];
        let all = ["node1", "node2", "node3", "node4"];
        let d = decide_on_node1(&rows, &all, RepMode::Sync, true);
        let by = |n: &str| d.iter().find(|x| x.node == n).unwrap().clone();
        assert_eq!(by("node2").score, PROMOTE_ME);
        assert_eq!(by("node3").score, CAN_NOT_PROMOTE);
        assert_eq!(by("node4").score, CAN_NOT_PROMOTE);
        // Never an asynchronous standby, even in the two-node async case
        // where the reference gives it 100.
        let rows = vec![row("node2", "STREAMING", "ASYNC")];
        let d = decide_on_node1(&rows, &["node1", "node2"], RepMode::Async, true);
        assert_eq!(d[0].score, CAN_NOT_PROMOTE);
    }

    #[test]
    fn names_are_matched_exactly_not_as_patterns() {
        // node1 must not match node10's row (the reference's grep does).
        let rows = vec![row("node10", "STREAMING", "SYNC")];
        assert_eq!(data_status_of(&rows, "node1"), DataStatus::Disconnect);
        assert_eq!(data_status_of(&rows, "NODE10"), data("STREAMING|SYNC"));
    }

    #[test]
    fn monitor_user_without_pg_monitor_sees_nulls() {
        let rows = vec![row("node2", "", "")];
        let d = decide_on_node1(&rows, &["node1", "node2"], RepMode::Sync, false);
        assert_eq!(d[0].data_status.to_string(), "|");
        assert_eq!(d[0].status, Some(PgsqlStatus::Connected));
        assert_eq!(d[0].score, CAN_NOT_PROMOTE);
    }

    #[test]
    fn external_targets_in_row_order() {
        let rows = vec![
            row("ext1", "STREAMING", "ASYNC"),
            row("node2", "STREAMING", "SYNC"),
            row("node3", "CATCHUP", "ASYNC"),
            row("stranger", "STREAMING", "ASYNC"),
        ];
        let t = external_sync_targets(
            &rows,
            &nodes(&["node1", "node2", "node3"]),
            &nodes(&["ext1"]),
        );
        assert_eq!(t, vec!["ext1", "node2"]);
    }
}
