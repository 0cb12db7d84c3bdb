//! Choosing a node to promote when no primary exists (`have_master_right`).
//!
//! Every standby publishes its WAL position in `<rsc>-xlog-loc` and keeps the
//! positions it saw at each monitor in `<tmpdir>/xlog_note.N`. Only after
//! `xlog_check_count` consecutive monitors saw the same positions does the
//! standby with the newest one ask to be promoted. The note files and their
//! rules are the reference's, so a mixed cluster elects the same node.

use std::path::{Path, PathBuf};

use crate::agents::pgsql::RepMode;
use crate::cluster::vocabulary::{DataStatus, SyncState};

/// Is a standby with this data status allowed to stand? An empty status
/// means the cluster never had a primary.
pub fn eligible(data_status: Option<&str>, rep_mode: RepMode) -> bool {
    match data_status.filter(|s| !s.is_empty()).map(DataStatus::parse) {
        None => true,
        Some(Some(d)) if d.is_complete() => true,
        Some(Some(d)) => d.is_streaming(SyncState::Async) && rep_mode == RepMode::Async,
        Some(None) => false,
    }
}

/// The snapshot text: `<node> <loc>` per readable node, in node_list order.
pub fn snapshot(entries: &[(String, String)]) -> String {
    entries.iter().map(|(n, l)| format!("{n} {l}\n")).collect()
}

/// What this round concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// The positions moved (or this is the first round): start counting again.
    Restarted,
    /// Same positions, not enough rounds yet.
    Counting(u32),
    /// Enough identical rounds and our position is the newest.
    Won,
    /// Enough identical rounds and another node is ahead.
    Lost { newest: String },
}

fn note(dir: &Path, i: u32) -> PathBuf {
    dir.join(format!("xlog_note.{i}"))
}

/// Writes note `i` (tmpdir is the PostgreSQL user's: no link followed).
fn write_note(dir: &Path, i: u32, text: &str) -> std::io::Result<()> {
    crate::os::fs::write_file(&note(dir, i), text.as_bytes(), 0o644).map(drop)
}

/// Removes every `xlog_note.*` in `dir`.
pub fn clear_notes(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("xlog_note.") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// One round: records `current` and compares it with the previous round.
/// `mine` is our own published position.
pub fn round(
    dir: &Path,
    check_count: u32,
    current: &str,
    mine: Option<&str>,
) -> std::io::Result<Round> {
    let mut old = 0;
    for k in 1..=check_count {
        if note(dir, k).exists() {
            old = k;
        } else {
            break;
        }
    }
    let new = old + 1;
    write_note(dir, new, current)?;
    let previous = std::fs::read_to_string(note(dir, old)).unwrap_or_default();
    if previous != current {
        clear_notes(dir);
        write_note(dir, 0, current)?;
        return Ok(Round::Restarted);
    }
    if new < check_count {
        return Ok(Round::Counting(new));
    }
    let newest = current
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .max()
        .unwrap_or("")
        .to_string();
    if mine.is_some_and(|m| m == newest) {
        Ok(Round::Won)
    } else {
        clear_notes(dir);
        write_note(dir, 0, current)?;
        Ok(Round::Lost { newest })
    }
}

/// Properties (proptest; see src/props.rs for the long run).
#[cfg(test)]
mod props {
    use super::*;
    use crate::cluster::vocabulary::DataStatus;
    use crate::pg::Lsn;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the positions, the node that wins has the newest one.
        #[test]
        fn the_election_never_picks_a_node_behind_another(
            locs in proptest::collection::vec(any::<u64>(), 1..5), me in 0usize..5, count in 1u32..4
        ) {
            let me = me % locs.len();
            let entries: Vec<(String, String)> = locs.iter().enumerate()
                .map(|(i, l)| (format!("node{i}"), Lsn(*l).to_attr())).collect();
            let snap = snapshot(&entries);
            let dir = tempfile::tempdir().unwrap();
            let mine = Lsn(locs[me]).to_attr();
            let mut last = Round::Restarted;
            for _ in 0..=count + 1 {
                last = round(dir.path(), count, &snap, Some(&mine)).unwrap();
                if matches!(last, Round::Won | Round::Lost { .. }) {
                    break;
                }
            }
            if last == Round::Won {
                prop_assert!(locs.iter().all(|l| *l <= locs[me]));
            }
            if locs.iter().all(|l| *l <= locs[me]) {
                prop_assert_eq!(last, Round::Won);
            }
        }

        /// In sync mode only a standby whose data is known complete (or a
        /// cluster that never had a primary) may stand.
        #[test]
        fn sync_mode_never_promotes_a_standby_not_known_complete(
            s in prop_oneof![Just("LATEST".to_string()), Just("STREAMING|SYNC".to_string()),
                             Just("STREAMING|ASYNC".to_string()), Just("STREAMING|POTENTIAL".to_string()),
                             Just("DISCONNECT".to_string()), Just(String::new()), any::<String>()]
        ) {
            if eligible(Some(&s), RepMode::Sync) {
                prop_assert!(s.is_empty() || DataStatus::parse(&s).is_some_and(|d| d.is_complete()),
                             "{s} stood in sync mode");
            }
        }

    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(pairs: &[(&str, &str)]) -> String {
        snapshot(
            &pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn default_count_decides_at_the_fourth_identical_round() {
        let dir = tempfile::tempdir().unwrap();
        let s = snap(&[("node1", "0000000003000060"), ("node2", "0000000003000000")]);
        let mine = Some("0000000003000060");
        assert_eq!(round(dir.path(), 3, &s, mine).unwrap(), Round::Restarted);
        assert_eq!(round(dir.path(), 3, &s, mine).unwrap(), Round::Counting(1));
        assert_eq!(round(dir.path(), 3, &s, mine).unwrap(), Round::Counting(2));
        assert_eq!(round(dir.path(), 3, &s, mine).unwrap(), Round::Won);
    }

    #[test]
    fn a_moving_position_restarts_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let a = snap(&[("node1", "0000000003000060")]);
        let b = snap(&[("node1", "0000000003000070")]);
        round(dir.path(), 3, &a, None).unwrap();
        round(dir.path(), 3, &a, None).unwrap();
        assert_eq!(round(dir.path(), 3, &b, None).unwrap(), Round::Restarted);
        assert_eq!(round(dir.path(), 3, &b, None).unwrap(), Round::Counting(1));
    }

    #[test]
    fn the_node_behind_loses() {
        let dir = tempfile::tempdir().unwrap();
        let s = snap(&[("node1", "0000000003000060"), ("node2", "0000000004000000")]);
        let mine = Some("0000000003000060");
        round(dir.path(), 1, &s, mine).unwrap();
        assert_eq!(
            round(dir.path(), 1, &s, mine).unwrap(),
            Round::Lost {
                newest: "0000000004000000".into()
            }
        );
    }

    #[test]
    fn count_zero_decides_at_the_second_round() {
        let dir = tempfile::tempdir().unwrap();
        let s = snap(&[("node1", "0000000003000060")]);
        assert_eq!(
            round(dir.path(), 0, &s, Some("0000000003000060")).unwrap(),
            Round::Restarted
        );
        assert_eq!(
            round(dir.path(), 0, &s, Some("0000000003000060")).unwrap(),
            Round::Won
        );
    }

    #[test]
    fn eligibility() {
        assert!(eligible(None, RepMode::Sync));
        assert!(eligible(Some("LATEST"), RepMode::Sync));
        assert!(eligible(Some("STREAMING|SYNC"), RepMode::Sync));
        assert!(!eligible(Some("STREAMING|ASYNC"), RepMode::Sync));
        assert!(eligible(Some("STREAMING|ASYNC"), RepMode::Async));
        assert!(!eligible(Some("DISCONNECT"), RepMode::Async));
    }
}
