//! `pg_waldump`: reading a stopped data directory's own WAL.
//!
//! Two questions need it. PAF's switchover check looks for the old
//! primary's shutdown checkpoint among the records a standby received
//! (agents/pgsqlms/switchover.rs): on PostgreSQL 10 to 18 it reads them
//! itself (`pg::walrecord`), and runs [`dump`] only on other majors. And a
//! former primary that crashed, or
//! one whose successor was promoted on the same timeline
//! (`restart_on_promote=true`), may rejoin only when its WAL ends at or
//! before the point the new primary took over (agents/pgsql/replication/
//! rejoin.rs): its last checkpoint says nothing about the records written
//! after it, so the end of its WAL is read here.
//!
//! pg_waldump reads from a start position until the WAL stops making sense
//! and then reports why, naming the position of the record it could not
//! read. When the reason is one of the ways a WAL stream ends (zeros after
//! the last record, a torn record whose checksum fails, a stale record of a
//! recycled segment whose back-link does not match), that position is where
//! the next record would have started: the end of the last complete one, as
//! PostgreSQL itself counts it (MAXALIGNed). Any other stop (a missing or
//! recycled next segment, an unreadable file) gives no exact end, and no
//! end is claimed.

use std::path::Path;

use super::Lsn;
use crate::ocf::Deadline;
use crate::os::{Cmd, OsUser};

/// pg_waldump (`pg_xlogdump` before 10) over `datadir`'s WAL (it looks in
/// `pg_wal`, `pg_xlog` or the directory itself) on `timeline` from `start`;
/// the caller adds `--end`, a filter, the user, and runs it.
pub fn dump(tool: &Path, datadir: &Path, timeline: u32, start: Lsn) -> Cmd {
    Cmd::new(tool)
        .arg("--path")
        .arg(datadir)
        .args(["--timeline", &timeline.to_string()])
        .args(["--start", &start.to_string()])
        .cwd(crate::os::process::NEUTRAL_DIR)
}

/// Reasons with which pg_waldump stops at the end of a WAL stream; the
/// last position after " at " in the message is where the next record
/// would start.
const END_MARKERS: &[&str] = &[
    "invalid record length at ",
    "incorrect resource manager data checksum in record at ",
    "record with incorrect prev-link ",
    "invalid resource manager ID ",
];

/// The end of the WAL from pg_waldump's error output (module comment), or
/// why it cannot be told.
pub fn end_from_output(stderr: &str) -> Result<Lsn, String> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("error in WAL record at "))
        .ok_or_else(|| {
            format!(
                "pg_waldump did not report where the WAL ends: {}",
                stderr.trim()
            )
        })?;
    let (_, reason) = line
        .split_once("error in WAL record at ")
        .and_then(|(a, r)| Some((a, r.split_once(": ")?.1)))
        .ok_or_else(|| format!("unexpected pg_waldump message: {}", line.trim()))?;
    if !END_MARKERS.iter().any(|m| reason.contains(m)) {
        return Err(format!(
            "the WAL does not end cleanly after its last record: {}",
            reason.trim()
        ));
    }
    reason
        .split(" at ")
        .skip(1)
        .filter_map(|rest| {
            let lsn = rest.split(|c: char| c == ':' || c.is_whitespace()).next()?;
            Lsn::parse_pg(lsn)
        })
        .last()
        .ok_or_else(|| format!("unexpected pg_waldump message: {}", line.trim()))
}

/// The newest timeline among WAL file names (`<tli 8 hex>...` segments,
/// `<tli>.history`, `.partial` files).
pub fn newest_timeline<S: AsRef<str>>(names: &[S]) -> Option<u32> {
    names
        .iter()
        .filter_map(|n| {
            let n = n.as_ref();
            let hex = n.get(..8)?;
            let rest = &n[8..];
            let wal = rest.len() >= 16 && rest[..16].chars().all(|c| c.is_ascii_hexdigit());
            (wal || rest == ".history")
                .then(|| u32::from_str_radix(hex, 16).ok())
                .flatten()
        })
        .max()
}

/// Where the WAL of the stopped data directory `datadir` ends on
/// `timeline`, reading from `start` (its last checkpoint's REDO point).
/// Only XLOG records are printed (PostgreSQL 13+: none), so that a long
/// stretch of WAL costs reading, not output.
pub async fn end_of_wal(
    tool: &Path,
    datadir: &Path,
    user: &OsUser,
    timeline: u32,
    start: Lsn,
    major: u32,
    deadline: Deadline,
) -> Result<Lsn, String> {
    // A primary killed soon after its own promotion has WAL on a newer
    // timeline than its last checkpoint's: reading `timeline` alone would
    // stop at the switch and miss everything after it.
    let names: Vec<String> = std::fs::read_dir(datadir.join("pg_wal"))
        .map_err(|e| format!("cannot list {}: {e}", datadir.join("pg_wal").display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    if let Some(newer) = newest_timeline(&names).filter(|t| *t > timeline) {
        return Err(format!(
            "its WAL goes on to timeline {newer}, after its last checkpoint's timeline {timeline}"
        ));
    }
    let cmd = dump(tool, datadir, timeline, start).run_as(user);
    let cmd = if major >= 13 {
        cmd.arg("--quiet")
    } else {
        cmd.args(["--rmgr", "XLOG"])
    };
    let out = cmd
        .run(deadline)
        .await
        .map_err(|e| format!("{}: {e}", tool.display()))?;
    end_from_output(&out.stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(s: &str) -> Lsn {
        Lsn::parse_pg(s).unwrap()
    }

    #[test]
    fn ends_of_wal_as_the_majors_print_them() {
        // PostgreSQL 15 after kill -9 (zeros after the last record).
        let pg15 = "pg_waldump: error: error in WAL record at 0/1B35700: invalid record \
                    length at 0/1B35898: wanted 24, got 0\n";
        assert_eq!(end_from_output(pg15), Ok(lsn("0/1B35898")));
        // 16+: "expected at least".
        let pg16 = "pg_waldump: error: error in WAL record at 0/3000028: invalid record \
                    length at 0/30000A0: expected at least 24, got 0";
        assert_eq!(end_from_output(pg16), Ok(lsn("0/30000A0")));
        // 10-11: FATAL.
        let pg10 = "pg_waldump: FATAL:  error in WAL record at 0/1656DA8: invalid record \
                    length at 0/1656DE0: wanted 24, got 0";
        assert_eq!(end_from_output(pg10), Ok(lsn("0/1656DE0")));
        // A torn record, a recycled segment's stale record.
        let torn = "pg_waldump: error: error in WAL record at 0/5000060: incorrect resource \
                    manager data checksum in record at 0/50000D8";
        assert_eq!(end_from_output(torn), Ok(lsn("0/50000D8")));
        let stale = "pg_waldump: error: error in WAL record at 0/5000060: record with \
                     incorrect prev-link 0/2000100 at 0/50000D8";
        assert_eq!(end_from_output(stale), Ok(lsn("0/50000D8")));
    }

    #[test]
    fn the_newest_timeline_of_pg_wal() {
        let names = [
            "000000020000000000000003",
            "00000003.history",
            "archive_status",
            "000000020000000000000004.partial",
        ];
        assert_eq!(newest_timeline(&names), Some(3));
        assert_eq!(newest_timeline(&["000000010000000000000001"]), Some(1));
        assert_eq!(newest_timeline(&["archive_status", "xlogtemp.12"]), None);
        assert_eq!(newest_timeline::<&str>(&[]), None);
    }

    #[test]
    fn no_end_is_claimed_otherwise() {
        for text in [
            "",
            "pg_waldump: error: could not find file \"000000010000000000000009\"",
            "pg_waldump: error: error in WAL record at 0/4FFFFD8: invalid magic number 0000 \
             in WAL segment 000000010000000000000005, LSN 0/5000000, offset 0",
            "pg_waldump: error: error in WAL record at 0/4FFFFD8: unexpected pageaddr \
             0/1000000 in log segment 000000010000000000000005, offset 0",
            "pg_waldump: error: error in WAL record at nonsense",
            "pg_waldump: error: error in WAL record at 0/5000060: invalid record length at x",
        ] {
            assert!(end_from_output(text).is_err(), "{text}");
        }
    }
}
