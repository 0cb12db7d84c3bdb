//! A standby that cannot follow the primary is repaired (`rejoin=rewind`).
//!
//! After a failover, a standby whose WAL went past the point where the new
//! primary's timeline forked off (an asynchronous standby that had received
//! more of the old primary's WAL than the standby that was promoted) can
//! never stream again: its WAL receiver retries for ever ("requested
//! starting point ... is ahead of the WAL flush position of this server",
//! "requested timeline ... is not a child of this server's history"), the
//! primary marks it DISCONNECT, and the stock agent leaves it `HS:alone`
//! with `-INFINITY` until a person rebuilds it.
//!
//! Here a standby monitor that finds a primary in the cluster and its own
//! receiver not streaming from `master_ip` leaves a note with the time. Once
//! that lasted [`FOLLOW_GRACE`] and the primary answers a replication
//! connection at `master_ip` (so the network is not the cause), the monitor
//! fails with the reason: Pacemaker stops and starts the standby, and the
//! start, finding the note, runs pg_rewind from the primary
//! (replication/rejoin.rs). pg_rewind compares the two histories itself and
//! changes nothing when this standby's WAL is a prefix of the primary's;
//! what it replaces is kept (pg/rewind.rs). A standby holds no write a
//! client was told is durable that the primary lacks (those are on the
//! primary by definition), so nothing acknowledged is discarded.
//!
//! At most [`MAX_ATTEMPTS`] restarts are asked for per episode: a rewind
//! that fails for a reason a restart does not change must not restart the
//! standby for ever. With `rejoin` off or safe the monitor only says what it
//! sees in the log.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a standby may not stream, while a primary exists, before it
/// counts as unable to follow: a few monitors, longer than a primary's
/// restart or a short network blip.
pub const FOLLOW_GRACE: Duration = Duration::from_secs(15);

/// Restarts (each with a rewind) asked for in one episode.
pub const MAX_ATTEMPTS: u32 = 3;

/// `<tmpdir>/.<rsc>-not-following`.
pub fn note_path(tmpdir: &Path, rsc: &str) -> PathBuf {
    tmpdir.join(format!(".{rsc}-not-following"))
}

/// Since when this standby has not streamed, and how many restarts were
/// asked for since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    pub since: u64,
    pub attempts: u32,
}

/// What the monitor does about a standby that does not stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Streaming, no primary, or another rejoin mode: no note.
    Fine,
    /// Not streaming for less than the grace: (re)write the note.
    Watch(Note),
    /// Long enough: ask the primary, then fail the monitor.
    Repair { waited: u64, note: Note },
    /// The restarts asked for did not help: say so, ask no more.
    GaveUp(Note),
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The decision, from the note on disk (if any) and what the monitor saw.
/// A note from the future (the clock went back) starts over.
pub fn decide(note: Option<Note>, stuck: bool, now: u64) -> Verdict {
    if !stuck {
        return Verdict::Fine;
    }
    let note = match note {
        Some(n) if n.since <= now => n,
        _ => {
            return Verdict::Watch(Note {
                since: now,
                attempts: 0,
            })
        }
    };
    let waited = now - note.since;
    if waited < FOLLOW_GRACE.as_secs() {
        Verdict::Watch(note)
    } else if note.attempts >= MAX_ATTEMPTS {
        Verdict::GaveUp(note)
    } else {
        Verdict::Repair { waited, note }
    }
}

impl Note {
    fn render(&self) -> String {
        format!("since={}\nattempts={}\n", self.since, self.attempts)
    }

    fn parse(text: &str) -> Option<Note> {
        let (mut since, mut attempts) = (None, Some(0));
        for line in text.lines() {
            match line.split_once('=') {
                Some(("since", v)) => since = v.parse().ok(),
                Some(("attempts", v)) => attempts = v.parse().ok(),
                _ => return None,
            }
        }
        Some(Note {
            since: since?,
            attempts: attempts?,
        })
    }

    pub fn read(path: &Path) -> Option<Note> {
        Note::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// Whole or not at all (a rename), never through a planted link
    /// (os/fs.rs).
    pub fn write(&self, path: &Path) {
        if let Err(e) = crate::os::fs::replace_file(path, self.render().as_bytes(), 0o644) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }
}

pub fn forget(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::info!("this standby streams again: {} removed", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = FOLLOW_GRACE.as_secs();

    #[test]
    fn watch_then_repair_then_give_up() {
        assert_eq!(decide(None, false, 100), Verdict::Fine);
        let first = Note {
            since: 100,
            attempts: 0,
        };
        assert_eq!(decide(None, true, 100), Verdict::Watch(first));
        assert_eq!(
            decide(Some(first), true, 100 + G - 1),
            Verdict::Watch(first)
        );
        assert_eq!(
            decide(Some(first), true, 100 + G),
            Verdict::Repair {
                waited: G,
                note: first
            }
        );
        let tried = Note {
            since: 100,
            attempts: MAX_ATTEMPTS,
        };
        assert_eq!(decide(Some(tried), true, 100 + G), Verdict::GaveUp(tried));
        // Streaming again ends the episode.
        assert_eq!(decide(Some(tried), false, 100 + G), Verdict::Fine);
        // The clock went back: start over.
        assert_eq!(
            decide(Some(first), true, 50),
            Verdict::Watch(Note {
                since: 50,
                attempts: 0
            })
        );
    }

    #[test]
    fn the_note_round_trips_and_a_damaged_one_is_none() {
        let n = Note {
            since: 1_800_000_000,
            attempts: 2,
        };
        assert_eq!(Note::parse(&n.render()), Some(n));
        assert_eq!(Note::parse("since=x\n"), None);
        assert_eq!(Note::parse("other=1\n"), None);
        assert_eq!(
            Note::parse("since=5\n"),
            Some(Note {
                since: 5,
                attempts: 0
            })
        );
    }
}
