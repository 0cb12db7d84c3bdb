//! The notification environment of a promotable clone, and PAF's reading
//! of the transition from it.
//!
//! Pacemaker 2.1 exports every list twice: `notify_promoted_*` /
//! `notify_unpromoted_*` and the legacy `notify_master_*` / `notify_slave_*`
//! (deprecated since 2.0, still there). PAF reads only the legacy names,
//! which a future Pacemaker will drop; we read the new names and fall back
//! to the old ones, so either vocabulary works.

use crate::ocf::OcfEnv;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyEnv {
    /// `pre` or `post`.
    pub kind: String,
    /// `start`, `stop`, `promote` or `demote`.
    pub operation: String,
    pub active: Vec<String>,
    pub start: Vec<String>,
    pub stop: Vec<String>,
    /// Nodes where the resource is promoted before the transition.
    pub promoted: Vec<String>,
    pub unpromoted: Vec<String>,
    pub promote: Vec<String>,
    pub demote: Vec<String>,
}

fn list(env: &OcfEnv, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .find_map(|n| env.meta(&format!("notify_{n}_uname")))
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

impl NotifyEnv {
    /// `None` when the resource is neither a clone nor promotable (PAF then
    /// ignores the notification).
    pub fn from_env(env: &OcfEnv) -> Option<NotifyEnv> {
        let positive = |k: &str| {
            env.meta(k)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .is_some_and(|n| n > 0)
        };
        let promotable = positive("promoted_max") || positive("master_max");
        if !promotable && !positive("clone_max") {
            return None;
        }
        let mut n = NotifyEnv {
            kind: env.meta("notify_type").unwrap_or("").to_string(),
            operation: env.meta("notify_operation").unwrap_or("").to_string(),
            active: list(env, &["active"]),
            start: list(env, &["start"]),
            stop: list(env, &["stop"]),
            ..NotifyEnv::default()
        };
        if promotable {
            n.promoted = list(env, &["promoted", "master"]);
            n.unpromoted = list(env, &["unpromoted", "slave"]);
            n.promote = list(env, &["promote"]);
            n.demote = list(env, &["demote"]);
            // Before Pacemaker 1.1.16 (feature set 3.0.11) the active list
            // was wrong; PAF rebuilds it the same way.
            let old = env.param("crm_feature_set").is_some_and(|v| {
                super::validate::version_cmp(v, "3.0.11") == Some(std::cmp::Ordering::Less)
            });
            if old {
                n.active = n.promoted.iter().chain(&n.unpromoted).cloned().collect();
            }
        }
        Some(n)
    }

    fn has(list: &[String], node: &str) -> bool {
        list.iter().any(|n| n == node)
    }

    /// Pacemaker recovers the primary in place on `node` (demote, stop,
    /// start, promote on the same node).
    pub fn is_primary_recovery(&self, node: &str) -> bool {
        Self::has(&self.promoted, node) && Self::has(&self.promote, node)
    }

    /// Pacemaker recovers a standby in place on `node` (stop, start).
    pub fn is_standby_recovery(&self, node: &str) -> bool {
        Self::has(&self.unpromoted, node) && Self::has(&self.start, node)
    }

    /// A switchover: the one primary is demoted (not stopped) and `node`, a
    /// standby, is promoted.
    pub fn is_switchover_to(&self, node: &str) -> bool {
        if self.promoted.len() != 1 || self.demote.len() != 1 || self.promote.len() != 1 {
            return false;
        }
        let old = &self.promoted[0];
        Self::has(&self.demote, old)
            && Self::has(&self.unpromoted, node)
            && Self::has(&self.promote, node)
            && !Self::has(&self.stop, old)
    }

    /// The node Pacemaker promotes in this transition.
    pub fn promote_target(&self) -> Option<&str> {
        self.promote.first().map(String::as_str)
    }

    /// The nodes that will run the resource once the transition is done:
    /// active and started, minus stopped (PAF's `nodes` attribute), sorted.
    pub fn nodes_after(&self) -> Vec<String> {
        let mut count: std::collections::BTreeMap<&str, i32> = Default::default();
        for n in self.active.iter().chain(&self.start) {
            *count.entry(n).or_default() += 1;
        }
        for n in &self.stop {
            *count.entry(n).or_default() -= 1;
        }
        count
            .into_iter()
            .filter(|(_, c)| *c > 0)
            .map(|(n, _)| n.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_CRM_meta_{k}"), v.to_string())),
            &[],
        )
    }

    #[test]
    fn not_a_clone_is_none() {
        assert_eq!(NotifyEnv::from_env(&env(&[("notify_type", "pre")])), None);
    }

    #[test]
    fn both_vocabularies() {
        let legacy = NotifyEnv::from_env(&env(&[
            ("master_max", "1"),
            ("notify_master_uname", "srv1 "),
            ("notify_slave_uname", "srv2 srv3"),
        ]))
        .unwrap();
        let modern = NotifyEnv::from_env(&env(&[
            ("promoted_max", "1"),
            ("notify_promoted_uname", "srv1"),
            ("notify_unpromoted_uname", " srv2 srv3 "),
            ("notify_master_uname", "stale"),
        ]))
        .unwrap();
        assert_eq!(legacy.promoted, ["srv1"]);
        assert_eq!(legacy.unpromoted, ["srv2", "srv3"]);
        assert_eq!(modern.promoted, legacy.promoted);
        assert_eq!(modern.unpromoted, legacy.unpromoted);
    }

    #[test]
    fn transition_predicates() {
        let n = NotifyEnv {
            promoted: vec!["srv1".into()],
            unpromoted: vec!["srv2".into(), "srv3".into()],
            demote: vec!["srv1".into()],
            promote: vec!["srv2".into()],
            ..Default::default()
        };
        assert!(n.is_switchover_to("srv2"));
        assert!(!n.is_switchover_to("srv3"));
        assert!(!n.is_primary_recovery("srv1"));
        let mut stopped = n.clone();
        stopped.stop = vec!["srv1".into()];
        assert!(
            !stopped.is_switchover_to("srv2"),
            "a stopped primary is a failover"
        );
        let recover = NotifyEnv {
            promoted: vec!["srv1".into()],
            promote: vec!["srv1".into()],
            ..Default::default()
        };
        assert!(recover.is_primary_recovery("srv1"));
        let standby = NotifyEnv {
            unpromoted: vec!["srv2".into()],
            start: vec!["srv2".into()],
            ..Default::default()
        };
        assert!(standby.is_standby_recovery("srv2"));
        assert!(!standby.is_standby_recovery("srv1"));
    }

    #[test]
    fn nodes_after_the_transition() {
        let n = NotifyEnv {
            active: vec!["srv1".into(), "srv2".into(), "srv3".into()],
            start: vec!["srv4".into()],
            stop: vec!["srv1".into()],
            ..Default::default()
        };
        assert_eq!(n.nodes_after(), ["srv2", "srv3", "srv4"]);
    }
}
