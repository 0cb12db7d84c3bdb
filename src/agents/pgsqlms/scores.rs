//! The promotion scores a primary gives its standbys (PAF's master).
//!
//! Pacemaker promotes the node with the highest `master-<rsc>`; values above
//! 1,000,000 count as INFINITY, so positions are ranked instead of used
//! directly: the closest standby (highest `write_lsn`, ties broken by name)
//! gets 1000, the next 990, and so on. A standby still catching up
//! (`startup`, `backup`) gets -1, one lagging more than `maxlag` the negative
//! of its rank, a partition member with no replication row -1000, and the
//! primary itself 1001. PAF 2.3.0 ranked in the wrong direction (the most
//! lagging standby got 1000, issue #198); this is the corrected order.
//!
//! Everything here is a pure function of what was read, so the rules are
//! tested without a cluster; `monitor.rs` reads and writes.

use crate::pg::Lsn;

/// One row of `pg_stat_replication`, as the primary sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplRow {
    pub application_name: String,
    pub write_lsn: Option<Lsn>,
    pub state: String,
    /// `pg_current_wal_lsn() - write_lsn`, in bytes.
    pub lag: Option<f64>,
}

impl ReplRow {
    fn catching_up(&self) -> bool {
        matches!(self.state.trim(), "startup" | "backup")
    }
}

/// Why a score is written (each has its own log line in PAF).
#[derive(Clone, Debug, PartialEq)]
pub enum Why {
    /// The primary itself.
    Primary,
    /// Rank among the standbys.
    Rank { lag: Option<f64> },
    /// Lag above `maxlag`.
    MaxLag { lag: Option<f64> },
    /// `startup` or `backup` state.
    CatchingUp { state: String },
    /// In the partition, but not replicating.
    NotConnected,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub node: String,
    pub from: Option<String>,
    pub to: i64,
    pub why: Why,
}

/// Log-only findings.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    NoStandby,
    Unknown(String),
    Myself,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub updates: Vec<Update>,
    pub notes: Vec<Note>,
}

/// Each row with its priority, best first.
pub fn rank(rows: &[ReplRow], maxlag: Option<f64>) -> Vec<(ReplRow, i64)> {
    let mut ranked = Vec::with_capacity(rows.len());
    for catching_up in [false, true] {
        let mut group: Vec<&ReplRow> = rows
            .iter()
            .filter(|r| r.catching_up() == catching_up)
            .collect();
        // Highest position first; an unknown position is never ranked
        // ahead of a known one. Ties by name.
        group.sort_by(|a, b| {
            b.write_lsn
                .cmp(&a.write_lsn)
                .then_with(|| a.application_name.cmp(&b.application_name))
        });
        for (i, r) in group.into_iter().enumerate() {
            let base = 1000 - 10 * i as i64;
            let over = match (maxlag, r.lag) {
                (Some(m), Some(l)) => l > m,
                _ => false,
            };
            ranked.push((r.clone(), if over { -base } else { base }));
        }
    }
    ranked.sort_by(|(a, pa), (b, pb)| {
        pb.cmp(pa)
            .then_with(|| a.application_name.cmp(&b.application_name))
    });
    ranked
}

/// The score changes a primary's monitor makes. `current(node)` is the
/// node's score as read; nothing is written where it already holds.
pub fn plan(
    me: &str,
    rows: &[ReplRow],
    partition: &[String],
    maxlag: Option<f64>,
    current: &dyn Fn(&str) -> Option<String>,
) -> Plan {
    let mut p = Plan::default();
    let set = |p: &mut Plan, node: &str, to: i64, why: Why| {
        let from = current(node);
        if from.as_deref() != Some(to.to_string().as_str()) {
            p.updates.push(Update {
                node: node.to_string(),
                from,
                to,
                why,
            });
        }
    };
    set(&mut p, me, 1001, Why::Primary);
    if rows.is_empty() {
        p.notes.push(Note::NoStandby);
    }
    let mut seen: Vec<&str> = Vec::new();
    let ranked = rank(rows, maxlag);
    for (row, priority) in &ranked {
        let name = row.application_name.as_str();
        // Node names are matched exactly (PAF matched them as regular
        // expressions inside the partition list: srv1 matched srv10).
        if !partition.iter().any(|n| n == name) {
            p.notes.push(Note::Unknown(name.to_string()));
            continue;
        }
        if name == me {
            p.notes.push(Note::Myself);
            continue;
        }
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        if row.catching_up() {
            set(
                &mut p,
                name,
                -1,
                Why::CatchingUp {
                    state: row.state.trim().to_string(),
                },
            );
        } else if *priority < -1 {
            set(&mut p, name, *priority, Why::MaxLag { lag: row.lag });
        } else {
            set(&mut p, name, *priority, Why::Rank { lag: row.lag });
        }
    }
    for node in partition {
        if node == me || seen.contains(&node.as_str()) {
            continue;
        }
        set(&mut p, node, -1000, Why::NotConnected);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, lsn: &str, state: &str, lag: f64) -> ReplRow {
        ReplRow {
            application_name: name.into(),
            write_lsn: Lsn::parse_pg(lsn),
            state: state.into(),
            lag: Some(lag),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn closest_standby_first_ties_by_name() {
        let rows = [
            row("srv3", "0/3000000", "streaming", 0.0),
            row("srv4", "0/1000000", "streaming", 0.0),
            row("srv2", "0/3000000", "streaming", 0.0),
        ];
        let r: Vec<(String, i64)> = rank(&rows, None)
            .into_iter()
            .map(|(r, p)| (r.application_name, p))
            .collect();
        assert_eq!(
            r,
            [
                ("srv2".into(), 1000),
                ("srv3".into(), 990),
                ("srv4".into(), 980)
            ]
        );
    }

    #[test]
    fn maxlag_negates_and_catching_up_is_minus_one() {
        let rows = [
            row("srv2", "0/3000000", "streaming", 10.0),
            row("srv3", "0/1000000", "streaming", 3_211_520.0),
            row("srv4", "0/0", "startup", 0.0),
        ];
        let partition = names(&["srv1", "srv2", "srv3", "srv4", "srv5"]);
        let p = plan("srv1", &rows, &partition, Some(1000.0), &|_| None);
        let got: Vec<(String, i64)> = p.updates.iter().map(|u| (u.node.clone(), u.to)).collect();
        assert_eq!(
            got,
            [
                ("srv1".into(), 1001),
                ("srv2".into(), 1000),
                // Ranked 1000 in its own group, then forced to -1.
                ("srv4".into(), -1),
                ("srv3".into(), -990),
                ("srv5".into(), -1000)
            ]
        );
        assert!(matches!(p.updates[3].why, Why::MaxLag { .. }));
        assert!(matches!(p.updates[4].why, Why::NotConnected));
    }

    #[test]
    fn unchanged_scores_are_not_rewritten() {
        let rows = [row("srv2", "0/3000000", "streaming", 0.0)];
        let partition = names(&["srv1", "srv2", "srv3"]);
        let current = |n: &str| match n {
            "srv1" => Some("1001".to_string()),
            "srv2" => Some("1000".to_string()),
            "srv3" => Some("-1000".to_string()),
            _ => None,
        };
        let p = plan("srv1", &rows, &partition, None, &current);
        assert!(p.updates.is_empty(), "{p:?}");
    }

    #[test]
    fn unknown_names_and_myself_are_ignored_exactly() {
        let rows = [
            row("srv10", "0/3000000", "streaming", 0.0),
            row("srv1", "0/3000000", "streaming", 0.0),
        ];
        let partition = names(&["srv1", "srv2"]);
        let p = plan("srv1", &rows, &partition, None, &|_| None);
        assert!(p.notes.contains(&Note::Unknown("srv10".into())));
        assert!(p.notes.contains(&Note::Myself));
        let got: Vec<(String, i64)> = p.updates.iter().map(|u| (u.node.clone(), u.to)).collect();
        assert_eq!(got, [("srv1".into(), 1001), ("srv2".into(), -1000)]);
    }

    #[test]
    fn no_standby_note() {
        let p = plan("srv1", &[], &names(&["srv1"]), None, &|_| None);
        assert_eq!(p.notes, [Note::NoStandby]);
    }
}
