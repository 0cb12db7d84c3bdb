//! A standby that cannot follow the primary is repaired (`rejoin=rewind`),
//! in both personalities.
//!
//! After a failover, a standby whose WAL went past the point where the new
//! primary's timeline forked off (an asynchronous standby that had received
//! more of the old primary's WAL than the standby that was promoted) can
//! never stream again: its WAL receiver retries for ever ("requested
//! starting point ... is ahead of the WAL flush position of this server",
//! "requested timeline ... is not a child of this server's history"). The
//! stock pgsql agent leaves it `HS:alone` with `-INFINITY`, PAF leaves it a
//! "healthy" standby serving stale reads, until a person rebuilds it.
//!
//! Here a standby monitor that finds a primary in the cluster and its own
//! WAL receiver not streaming leaves a note with the time (pgsql: in
//! `tmpdir`; pgsqlms: in the resource agents' runtime directory). Once that
//! lasted [`FOLLOW_GRACE`] and the primary answers a replication connection
//! (so the network is not the cause), the monitor fails with the reason
//! ([`watch`]): Pacemaker stops and starts the standby, and the start,
//! finding the note, runs pg_rewind from the primary first
//! ([`rewind_before_start`]). pg_rewind compares the two histories itself
//! and changes nothing when this standby's WAL is a prefix of the primary's;
//! what it replaces is kept (pg/rewind.rs). A standby holds no write a
//! client was told is durable that the primary lacks (those are on the
//! primary by definition), so nothing acknowledged is discarded.
//!
//! At most [`MAX_ATTEMPTS`] restarts are asked for per episode: a rewind
//! that fails for a reason a restart does not change must not restart the
//! standby for ever. With `rejoin` off or safe the monitor only says what it
//! sees in the log.
//!
//! The personalities differ in where the primary is (`master_ip`, or the
//! server `primary_conninfo` names), how they know one exists and how they
//! rewind; the note, the decision and the messages are this module's, once.

use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ocf::Failure;

/// How long a standby may not stream, while a primary exists, before it
/// counts as unable to follow: a few monitors, longer than a primary's
/// restart or a short network blip.
pub const FOLLOW_GRACE: Duration = Duration::from_secs(15);

/// Restarts (each with a rewind) asked for in one episode.
pub const MAX_ATTEMPTS: u32 = 3;

/// `<dir>/.<rsc>-not-following`.
pub fn note_path(dir: &Path, rsc: &str) -> PathBuf {
    dir.join(format!(".{rsc}-not-following"))
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

/// The monitor's half: `stuck` when this standby's WAL receiver does not
/// stream while another node is the primary; `upstream` names the primary in
/// the messages ("the primary at 10.0.0.1"), never with a secret;
/// `rewind` is `rejoin=rewind`; `ask` asks the primary for its timeline over
/// a replication connection (only once the grace has passed). `Err`: the
/// monitor fails, once per attempt, so that the restart rewinds.
pub async fn watch<F, Fut>(
    path: &Path,
    stuck: bool,
    rewind: bool,
    upstream: &str,
    ask: F,
) -> Result<(), Failure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<u32, String>>,
{
    let now = now_secs();
    match decide(Note::read(path), stuck, now) {
        Verdict::Fine => {
            if path.exists() {
                forget(path);
            }
            Ok(())
        }
        Verdict::Watch(note) => {
            if note.since == now {
                tracing::info!(
                    "This standby does not stream from {upstream}: watching it ({})",
                    path.display()
                );
                note.write(path);
            }
            Ok(())
        }
        Verdict::GaveUp(note) => {
            tracing::warn!(
                "This standby has not streamed from {upstream} since {}, and {} restarts with \
                 pg_rewind did not help: rebuild it (pg_basebackup), see docs/operations.md",
                note.since,
                note.attempts
            );
            Ok(())
        }
        Verdict::Repair { waited, note } => {
            if !rewind {
                tracing::warn!(
                    "This standby has not streamed from {upstream} for {waited} s; if its WAL \
                     went past the primary's history it never will: rebuild it, or set \
                     rejoin=rewind to have it rewound"
                );
                return Ok(());
            }
            match ask().await {
                Err(e) => {
                    tracing::info!(
                        "This standby does not stream, and {upstream} does not answer either \
                         ({e}): nothing to repair from yet"
                    );
                    Ok(())
                }
                Ok(timeline) => {
                    Note {
                        attempts: note.attempts + 1,
                        ..note
                    }
                    .write(path);
                    Err(Failure::generic(format!(
                        "This standby has not streamed for {waited} s from {upstream}, which \
                         answers (timeline {timeline}): its WAL may have gone past the \
                         primary's history; rejoin=rewind: the restart rewinds it"
                    )))
                }
            }
        }
    }
}

/// A rewind before a start that did not succeed: its error and which
/// attempt of the episode it was (counted in the note).
pub struct NotRewound<E> {
    pub error: E,
    pub attempt: u32,
}

/// The start's half, with `rejoin=rewind`: when the monitor left a note,
/// `rewind` runs (pg_rewind from `upstream`). Done: the episode ends (the
/// note goes). Failed: the attempt is counted and the caller decides what
/// the start does. No note: nothing runs.
pub async fn rewind_before_start<E, Fut>(
    path: &Path,
    upstream: &str,
    rewind: Fut,
) -> Result<(), NotRewound<E>>
where
    E: Display,
    Fut: Future<Output = Result<(), E>>,
{
    let Some(note) = Note::read(path) else {
        return Ok(());
    };
    tracing::info!(
        "This standby could not follow {upstream} since {} (follow.rs): rewinding it before it \
         starts",
        note.since
    );
    match rewind.await {
        Ok(()) => {
            forget(path);
            Ok(())
        }
        Err(error) => {
            let attempt = note.attempts + 1;
            Note {
                attempts: attempt,
                ..note
            }
            .write(path);
            Err(NotRewound { error, attempt })
        }
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

    fn run<T>(fut: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn the_monitor_watches_then_fails_once_per_attempt_only_with_rewind() {
        let dir = tempfile::tempdir().unwrap();
        let path = note_path(dir.path(), "pgsqld");
        let asked = std::cell::Cell::new(0);
        let ask = |answer: Result<u32, String>| {
            let asked = &asked;
            move || async move {
                asked.set(asked.get() + 1);
                answer
            }
        };
        // Not stuck, no note: nothing written.
        assert!(run(watch(&path, false, true, "p", ask(Ok(1)))).is_ok());
        assert!(!path.exists());
        // Stuck: a note, nobody asked yet.
        assert!(run(watch(&path, true, true, "p", ask(Ok(1)))).is_ok());
        assert_eq!(Note::read(&path).map(|n| n.attempts), Some(0));
        assert_eq!(asked.get(), 0);
        let old = Note {
            since: now_secs() - FOLLOW_GRACE.as_secs() - 1,
            attempts: 0,
        };
        old.write(&path);
        // safe/off: a log line, the primary is not asked.
        assert!(run(watch(&path, true, false, "p", ask(Ok(1)))).is_ok());
        assert_eq!(asked.get(), 0);
        // The primary does not answer: nothing to repair from, no attempt.
        assert!(run(watch(&path, true, true, "p", ask(Err("down".into())))).is_ok());
        assert_eq!(Note::read(&path), Some(old));
        // It answers: the monitor fails, the attempt is counted.
        let f = run(watch(&path, true, true, "the primary at x", ask(Ok(3)))).unwrap_err();
        assert!(f
            .reason
            .contains("from the primary at x, which answers (timeline 3)"));
        assert_eq!(Note::read(&path).map(|n| n.attempts), Some(1));
        Note {
            attempts: MAX_ATTEMPTS,
            ..old
        }
        .write(&path);
        assert!(run(watch(&path, true, true, "p", ask(Ok(1)))).is_ok());
        assert_eq!(asked.get(), 2);
        // Streaming again: the note goes.
        assert!(run(watch(&path, false, true, "p", ask(Ok(1)))).is_ok());
        assert!(!path.exists());
    }

    #[test]
    fn the_start_rewinds_only_with_a_note_and_counts_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = note_path(dir.path(), "pgsqld");
        let ran = std::cell::Cell::new(false);
        let rewind = |result: Result<(), String>| {
            let ran = &ran;
            async move {
                ran.set(true);
                result
            }
        };
        assert!(run(rewind_before_start(&path, "p", rewind(Ok(())))).is_ok());
        assert!(!ran.get(), "rewound without a note");
        let note = Note {
            since: 100,
            attempts: 1,
        };
        note.write(&path);
        let failed = run(rewind_before_start(&path, "p", rewind(Err("no".into())))).unwrap_err();
        assert_eq!((failed.error.as_str(), failed.attempt), ("no", 2));
        assert_eq!(Note::read(&path).map(|n| n.attempts), Some(2));
        assert!(run(rewind_before_start(&path, "p", rewind(Ok(())))).is_ok());
        assert!(ran.get());
        assert!(!path.exists(), "the episode ends with a rewind");
    }
}
