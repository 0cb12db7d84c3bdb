//! A standby's steady state: the monitor that starts no process.
//!
//! A standby's monitor needs the cluster's view for two rules only ("no
//! promoted instance: HS:alone, then the election" and "my data status is
//! DISCONNECT: HS:alone") and, with `check_wal_receiver`, to know whether
//! `<rsc>-receiver-status` must be written. One `crm_mon` answers all of it,
//! and costs more CPU than everything else the monitor does together
//! (docs/performance.md). Yet while this standby's WAL receiver streams from
//! `master_ip`, the address that moves with the promoted role, a primary is
//! serving it, and neither rule has anything to do.
//!
//! So a full check (with `crm_mon`) that finds the standby steady (a
//! promoted instance, our data status not DISCONNECT, the receiver
//! streaming from `master_ip`, nothing written) leaves a note, and the
//! monitors of the next [`STEADY_FOR`] trust it for as long as the receiver
//! still streams and the value of `<rsc>-receiver-status` is still the one
//! the note records. Every other action on this node (start, stop, promote,
//! demote, each notification: whatever Pacemaker changes about the clone
//! comes with one) forgets the note, as does a monitor finding anything but
//! a streaming standby, so the next monitor is a full one. What a note can
//! hide is bounded by [`STEADY_FOR`]: a change of the cluster that reaches
//! neither this node's actions nor its WAL receiver (an attribute deleted by
//! hand, the primary seeing us DISCONNECT in the moment we reconnected).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a note is trusted: a full check at least this often.
pub const STEADY_FOR: Duration = Duration::from_secs(60);

/// What the last full check found steady.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteadyNote {
    /// When, in seconds since the epoch.
    pub checked: u64,
    /// `<rsc>-receiver-status` as the CIB held it, when the monitor keeps
    /// that attribute (`check_wal_receiver`).
    pub receiver_status: Option<String>,
}

/// `<tmpdir>/.<rsc>-steady-standby`: beside rep_mode.conf and PGSQL.lock,
/// hidden because nothing but this agent reads it.
pub fn note_path(tmpdir: &Path, rsc: &str) -> PathBuf {
    tmpdir.join(format!(".{rsc}-steady-standby"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl SteadyNote {
    pub fn new(receiver_status: Option<&str>) -> SteadyNote {
        SteadyNote {
            checked: now_secs(),
            receiver_status: receiver_status.map(str::to_string),
        }
    }

    fn render(&self) -> String {
        let mut s = format!("checked={}\n", self.checked);
        if let Some(v) = &self.receiver_status {
            s.push_str(&format!("receiver-status={v}\n"));
        }
        s
    }

    fn parse(text: &str) -> Option<SteadyNote> {
        let mut checked = None;
        let mut receiver_status = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("checked", v)) => checked = v.parse().ok(),
                Some(("receiver-status", v)) => receiver_status = Some(v.to_string()),
                _ => return None,
            }
        }
        Some(SteadyNote {
            checked: checked?,
            receiver_status,
        })
    }

    /// Written at most [`STEADY_FOR`] ago. A note from the future (the
    /// clock was set back) is not trusted.
    pub fn fresh_at(&self, now: u64) -> bool {
        now >= self.checked && now - self.checked < STEADY_FOR.as_secs()
    }

    /// The note at `path`, if there is one and it is fresh.
    pub fn read_fresh(path: &Path) -> Option<SteadyNote> {
        let note = SteadyNote::parse(&std::fs::read_to_string(path).ok()?)?;
        note.fresh_at(now_secs()).then_some(note)
    }

    /// Written whole or not at all (a rename), so that a monitor killed at
    /// its timeout leaves no half note.
    pub fn write(&self, path: &Path) {
        if let Err(e) = crate::os::fs::replace_file(path, self.render().as_bytes(), 0o644) {
            // Only a cost: the next monitor is a full one.
            tracing::debug!("cannot write {}: {e}", path.display());
        }
    }
}

/// Drops the note: the next monitor takes the full look.
pub fn forget(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::debug!("forgot the steady-standby note"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_round_trips_with_and_without_receiver_status() {
        for rs in [None, Some("normal")] {
            let n = SteadyNote {
                checked: 1_800_000_000,
                receiver_status: rs.map(str::to_string),
            };
            assert_eq!(SteadyNote::parse(&n.render()), Some(n));
        }
    }

    #[test]
    fn a_note_is_trusted_for_steady_for_only_and_never_from_the_future() {
        let n = SteadyNote {
            checked: 1000,
            receiver_status: None,
        };
        assert!(n.fresh_at(1000));
        assert!(n.fresh_at(1000 + STEADY_FOR.as_secs() - 1));
        assert!(!n.fresh_at(1000 + STEADY_FOR.as_secs()));
        assert!(!n.fresh_at(999));
    }

    #[test]
    fn a_damaged_note_is_no_note() {
        assert_eq!(SteadyNote::parse(""), None);
        assert_eq!(SteadyNote::parse("checked=soon\n"), None);
        assert_eq!(SteadyNote::parse("checked=5\nsomething=else\n"), None);
    }

    #[test]
    fn forget_and_write_on_disk() {
        let dir = std::env::temp_dir().join(format!("pgra-steady-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = note_path(&dir, "pgsql");
        assert_eq!(SteadyNote::read_fresh(&p), None);
        let n = SteadyNote::new(Some("normal"));
        n.write(&p);
        assert_eq!(SteadyNote::read_fresh(&p), Some(n));
        forget(&p);
        assert!(!p.exists());
        forget(&p);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
