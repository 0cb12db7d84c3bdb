//! Is one data directory's WAL a prefix of another server's history?
//!
//! After a failover the old primary may hold WAL the new primary never
//! received. The new primary's timeline history file says where it left each
//! earlier timeline (`<tli>\t<switch point>\t<reason>` per line): if this
//! data directory's last checkpoint on timeline `T` lies before the point
//! where the primary left `T`, the primary replayed all of it and this
//! directory can follow; at or after it, the two histories diverged. This is
//! the comparison pg_rewind makes. Both personalities use it: pgsql to lift
//! `PGSQL.lock` from a former primary (replication/rejoin.rs), pgsqlms to
//! refuse starting a diverged one (divergence.rs).

use super::Lsn;

/// The switch point of timeline `tli` in a timeline history file's text;
/// `#` comments and blank lines are skipped.
pub fn switch_point(history: &str, tli: u32) -> Option<Lsn> {
    history.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let t: u32 = f.next()?.parse().ok()?;
        (t == tli).then(|| Lsn::parse_pg(f.next()?)).flatten()
    })
}

/// How this data directory's WAL relates to the primary's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// Both are on the same timeline: nothing forked (whether this side is
    /// behind or ahead on it is not something the history can tell).
    SameTimeline,
    /// The primary's history left our timeline at `fork`, after our last
    /// checkpoint: our WAL is a prefix of its history.
    Prefix { fork: Lsn },
    /// Our WAL holds what the primary's history does not; why, in words.
    Diverged(String),
}

/// The comparison of the module comment. `history` is the primary's
/// history file for `primary_tli` (needed only when it is later than ours).
pub fn relation(
    local_tli: u32,
    local_last: Lsn,
    primary_tli: u32,
    history: Option<&str>,
) -> Relation {
    if primary_tli == local_tli {
        return Relation::SameTimeline;
    }
    if primary_tli < local_tli {
        return Relation::Diverged(format!(
            "its timeline {local_tli} is newer than the primary's timeline {primary_tli}"
        ));
    }
    match history.and_then(|h| switch_point(h, local_tli)) {
        None => Relation::Diverged(format!(
            "timeline {local_tli} is not in the history of the primary's timeline {primary_tli}"
        )),
        Some(fork) if local_last >= fork => Relation::Diverged(format!(
            "its last checkpoint {local_last} on timeline {local_tli} is at or after the point \
             {fork} where the primary's timeline {primary_tli} forked off"
        )),
        Some(fork) => Relation::Prefix { fork },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(s: &str) -> Lsn {
        Lsn::parse_pg(s).unwrap()
    }

    const HISTORY: &str = "1\t0/3000158\tno recovery target specified\n\n\
                           # a comment\n\
                           2\t0/5000A28\tno recovery target specified\n";

    #[test]
    fn switch_points() {
        assert_eq!(switch_point(HISTORY, 2), Some(lsn("0/5000A28")));
        assert_eq!(switch_point(HISTORY, 1), Some(lsn("0/3000158")));
        assert_eq!(switch_point(HISTORY, 3), None);
        assert_eq!(switch_point("garbage\n", 1), None);
    }

    #[test]
    fn same_timeline() {
        assert_eq!(
            relation(3, lsn("0/9000000"), 3, None),
            Relation::SameTimeline
        );
    }

    #[test]
    fn checkpoint_before_the_fork_is_a_prefix() {
        // A switchover: the old primary's shutdown checkpoint was received
        // and the new timeline starts after it.
        assert_eq!(
            relation(2, lsn("0/50009B0"), 3, Some(HISTORY)),
            Relation::Prefix {
                fork: lsn("0/5000A28")
            }
        );
        assert!(matches!(
            relation(1, lsn("0/3000100"), 3, Some(HISTORY)),
            Relation::Prefix { .. }
        ));
    }

    #[test]
    fn checkpoint_at_or_after_the_fork_diverged() {
        for last in ["0/6000000", "0/5000A28"] {
            let r = relation(2, lsn(last), 3, Some(HISTORY));
            assert!(
                matches!(&r, Relation::Diverged(w) if w.contains("forked off")),
                "{r:?}"
            );
        }
    }

    #[test]
    fn foreign_or_newer_timelines_diverged() {
        assert!(matches!(
            relation(5, lsn("0/1"), 3, Some(HISTORY)),
            Relation::Diverged(_)
        ));
        assert!(matches!(
            relation(4, lsn("0/1"), 6, Some(HISTORY)),
            Relation::Diverged(_)
        ));
        assert!(matches!(
            relation(2, lsn("0/1"), 3, None),
            Relation::Diverged(_)
        ));
    }
}
