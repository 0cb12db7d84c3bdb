//! `pg_rewind`: bring a data directory whose WAL went past the point where
//! the current primary's history left it back onto that history, so that it
//! can start as a standby instead of waiting for a person with
//! `pg_basebackup`.
//!
//! pg_rewind needs a cleanly shut down target. A node that crashed (kill -9,
//! power cut, an immediate stop) is first taken through crash recovery in
//! single-user mode, as pg_rewind 13+ would do itself, but with the
//! configuration file the resource names (Debian keeps it outside the data
//! directory, where pg_rewind would not look). Then a dry run says whether
//! anything must be rewound and where the histories diverged; only then is
//! the data directory changed.
//!
//! What pg_rewind discards (docs/operations.md, "Rejoining a failed
//! primary"): every change this node made after the divergence point (WAL
//! the new primary never had, the transactions in it), and it replaces the
//! configuration files inside the data directory with the primary's. Before
//! the real run, a dated directory beside the agent's other files keeps the
//! configuration files of the data directory, the WAL segments from the
//! divergence on, and pg_rewind's output; the node's own configuration
//! files are put back afterwards. The data directory itself is never
//! removed.

use std::path::{Path, PathBuf};

use super::controldata::{ControlData, DbState};
use super::Lsn;
use crate::ocf::Deadline;
use crate::os::{Cmd, OsUser};

/// The `rejoin` parameter (both personalities): what a start does with a
/// data directory that may hold WAL the current primary lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejoin {
    /// Refuse, until an administrator acts (the stock agents).
    Off,
    /// Start as a standby only when the current primary proves this node's
    /// history a prefix of its own.
    Safe,
    /// As `Safe`, and otherwise rewind from the current primary first.
    Rewind,
}

impl Rejoin {
    pub fn parse(v: &str) -> Option<Rejoin> {
        match v.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Rejoin::Off),
            "safe" => Some(Rejoin::Safe),
            "rewind" => Some(Rejoin::Rewind),
            _ => None,
        }
    }
}

/// The configuration files pg_rewind would replace with the primary's.
pub const OWN_FILES: &[&str] = &[
    "postgresql.conf",
    "postgresql.auto.conf",
    "pg_hba.conf",
    "pg_ident.conf",
];

/// What is rewound, from where.
pub struct Rewind<'a> {
    /// Directory of the server programs (pg_rewind, postgres).
    pub bindir: &'a Path,
    /// psql, for the checkpoint on the source.
    pub psql: &'a Path,
    pub pgdata: &'a Path,
    /// The `config_file` the server starts with, when not the one in pgdata.
    pub config_file: Option<&'a Path>,
    pub dba: &'a OsUser,
    /// A (non-replication) connection string to the primary: pg_rewind
    /// reads files through SQL functions a superuser may call.
    pub source: &'a str,
    /// Where the dated directory of kept files goes (owned by `dba`).
    pub keep_in: &'a Path,
    /// The server's major version (pg_rewind 13+ recovers a crashed target
    /// itself unless told not to).
    pub major: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// pg_rewind found this node's WAL a prefix of the primary's history.
    NotNeeded,
    /// Rewound; the histories diverged at `diverged_at` (when pg_rewind
    /// said), the discarded WAL and old files are kept in `kept`.
    Rewound {
        diverged_at: Option<String>,
        kept: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RewindError {
    #[error(
        "pg_rewind needs wal_log_hints = on or data checksums, and this data directory has neither"
    )]
    NotRewindable,
    #[error(
        "the primary runs on this data directory's timeline (restart_on_promote=true keeps it): \
         pg_rewind cannot tell where the histories diverged"
    )]
    SameTimeline,
    #[error("crash recovery in single-user mode failed: {0}")]
    Recovery(String),
    #[error("pg_rewind failed: {0}")]
    Failed(String),
    /// The real run failed: pg_rewind may have changed part of the data
    /// directory, which must not run before it is rebuilt.
    #[error("pg_rewind failed while rewinding, and the data directory may be half rewound: {0}")]
    Interrupted(String),
    #[error("cannot keep a copy of {path} before rewinding: {source}")]
    Keep {
        path: String,
        source: std::io::Error,
    },
}

/// What a dry run of pg_rewind said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub needed: bool,
    /// `servers diverged at WAL location <lsn> on timeline <n>`.
    pub diverged_at: Option<String>,
    /// `source and target cluster are on the same timeline`: pg_rewind
    /// then reports "no rewind required" without comparing anything.
    pub same_timeline: bool,
}

/// `servers diverged at WAL location 0/3000060 on timeline 1`, `no rewind
/// required`, `source and target cluster are on the same timeline`.
pub fn read_output(text: &str) -> DryRun {
    let needed = !text.contains("no rewind required");
    let at = text.lines().find_map(|l| {
        let rest = l.split("servers diverged at WAL location ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_string())
    });
    DryRun {
        needed,
        diverged_at: at,
        same_timeline: text.contains("are on the same timeline"),
    }
}

/// The WAL files of `timeline` in `names` from the segment holding `from`
/// on (`segment_size` bytes each): what a rewind throws away.
pub fn discarded_wal(names: &[String], timeline: u32, from: Lsn, segment_size: u64) -> Vec<String> {
    let first = from.0 / segment_size;
    let per_log = 0x1_0000_0000u64 / segment_size;
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|n| u32::from_str_radix(&n[..8], 16) == Ok(timeline))
        .filter(|n| {
            let log = u64::from_str_radix(&n[8..16], 16).unwrap_or(0);
            let seg = u64::from_str_radix(&n[16..], 16).unwrap_or(0);
            log * per_log + seg >= first
        })
        .cloned()
        .collect();
    out.sort();
    out
}

impl Rewind<'_> {
    fn program(&self, name: &str) -> Cmd {
        Cmd::new(self.bindir.join(name))
            .run_as(self.dba)
            .cwd(crate::os::process::NEUTRAL_DIR)
    }

    /// Crash recovery of a data directory that was not shut down cleanly:
    /// `postgres --single`, which replays the WAL and ends with a shutdown
    /// checkpoint. Archiving is off for it (nothing of this node's must
    /// reach a shared archive now).
    async fn recover(&self, deadline: Deadline) -> Result<(), RewindError> {
        let mut cmd = self
            .program("postgres")
            .args(["--single", "-F", "-D"])
            .arg(self.pgdata)
            .args(["-c", "archive_mode=off"]);
        if let Some(conf) = self.config_file {
            cmd = cmd.arg("-c").arg(format!("config_file={}", conf.display()));
        }
        let out = cmd
            .arg("template1")
            .run(deadline)
            .await
            .map_err(|e| RewindError::Recovery(e.to_string()))?;
        if !out.success() {
            return Err(RewindError::Recovery(out.combined()));
        }
        Ok(())
    }

    /// A checkpoint on the source: right after a promotion its control file
    /// still names the old timeline until the first checkpoint ends, and
    /// pg_rewind reads the timeline from there (its documentation asks for
    /// this CHECKPOINT).
    async fn checkpoint_source(&self, deadline: Deadline) -> Result<(), RewindError> {
        let out = Cmd::new(self.psql)
            .run_as(self.dba)
            .cwd(crate::os::process::NEUTRAL_DIR)
            .args(["-X", "-q", "-d"]);
        let out = super::conninfo::arg_without_password(out, "", self.source)
            .args(["-c", "CHECKPOINT"])
            .env("PGCONNECT_TIMEOUT", "10")
            .run(deadline)
            .await
            .map_err(|e| RewindError::Failed(format!("CHECKPOINT on the primary: {e}")))?;
        if !out.success() {
            return Err(RewindError::Failed(format!(
                "CHECKPOINT on the primary: {}",
                out.combined()
            )));
        }
        Ok(())
    }

    async fn pg_rewind(&self, dry_run: bool, deadline: Deadline) -> Result<String, RewindError> {
        let cmd = self
            .program("pg_rewind")
            .arg(format!("--target-pgdata={}", self.pgdata.display()));
        let mut cmd = super::conninfo::arg_without_password(cmd, "--source-server=", self.source)
            .env("PGCONNECT_TIMEOUT", "10");
        if self.major >= 13 {
            cmd = cmd.arg("--no-ensure-shutdown");
        }
        if dry_run {
            cmd = cmd.arg("--dry-run");
        }
        let out = cmd
            .run(deadline)
            .await
            .map_err(|e| RewindError::Failed(e.to_string()))?;
        if !out.success() {
            return Err(RewindError::Failed(out.combined()));
        }
        Ok(out.combined())
    }

    /// The whole procedure (module comment). `mine` is the data directory's
    /// control data before anything ran.
    pub async fn run(
        &self,
        mine: &ControlData,
        deadline: Deadline,
    ) -> Result<Outcome, RewindError> {
        if mine.rewindable == Some(false) {
            return Err(RewindError::NotRewindable);
        }
        if !matches!(mine.state, DbState::ShutDown | DbState::ShutDownInRecovery) {
            self.recover(deadline).await?;
        }
        self.checkpoint_source(deadline).await?;
        let dry = self.pg_rewind(true, deadline).await?;
        let DryRun {
            needed,
            diverged_at,
            same_timeline,
        } = read_output(&dry);
        if same_timeline {
            // Not a proof: on one timeline pg_rewind compares nothing.
            return Err(RewindError::SameTimeline);
        }
        if !needed {
            return Ok(Outcome::NotNeeded);
        }
        let kept = self.keep(mine, diverged_at.as_deref(), &dry)?;
        let result = self.pg_rewind(false, deadline).await.map_err(|e| match e {
            RewindError::Failed(why) => RewindError::Interrupted(why),
            other => other,
        });
        let log = match &result {
            Ok(out) => out.clone(),
            Err(e) => e.to_string(),
        };
        // Root writes into the directory it made (not yet the PostgreSQL
        // user's: nothing can be planted there), then hands it over.
        let _ = crate::os::fs::write_file(&kept.join("pg_rewind.log"), log.as_bytes(), 0o600);
        let restored = result.and_then(|_| self.restore_own_files(&kept));
        chown_tree(&kept, self.dba);
        restored?;
        Ok(Outcome::Rewound { diverged_at, kept })
    }

    /// Copies what the rewind replaces into `<keep_in>/rewind-<UTC time>/`.
    fn keep(
        &self,
        mine: &ControlData,
        diverged_at: Option<&str>,
        dry: &str,
    ) -> Result<PathBuf, RewindError> {
        let keep_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| RewindError::Keep { path, source }
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let dir = self.keep_in.join(format!("rewind-{}", utc_stamp(stamp)));
        // New directories (mkdir fails on anything already there, a link
        // included), root's until the end of the rewind.
        std::fs::create_dir(&dir).map_err(keep_err(&dir))?;
        let copied = self.copy_into(&dir, mine, diverged_at, dry);
        if copied.is_err() {
            // Our own copy, half made (root's directory, nothing of the
            // data directory): nothing was rewound, so nothing is kept.
            let _ = std::fs::remove_dir_all(&dir);
        }
        copied.map(|_| dir)
    }

    fn copy_into(
        &self,
        dir: &Path,
        mine: &ControlData,
        diverged_at: Option<&str>,
        dry: &str,
    ) -> Result<(), RewindError> {
        let keep_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| RewindError::Keep { path, source }
        };
        std::fs::create_dir(dir.join("pg_wal")).map_err(keep_err(dir))?;
        // Never through a link planted in the data directory (os/fs.rs):
        // the copies are handed over to the PostgreSQL user.
        let copy = |from: &Path, to: &Path| -> Result<(), RewindError> {
            crate::os::fs::copy_file(from, to)
                .map(drop)
                .map_err(keep_err(from))
        };
        for f in OWN_FILES {
            copy(&self.pgdata.join(f), &dir.join(f))?;
        }
        if let Some(from) = diverged_at.and_then(Lsn::parse_pg) {
            let wal = self.pgdata.join("pg_wal");
            let names: Vec<String> = std::fs::read_dir(&wal)
                .map_err(keep_err(&wal))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            let size = segment_size(&wal, &names).unwrap_or(16 << 20);
            for n in discarded_wal(&names, mine.timeline, from, size) {
                copy(&wal.join(&n), &dir.join("pg_wal").join(&n))?;
            }
        }
        crate::os::fs::write_file(&dir.join("pg_rewind-dry-run.log"), dry.as_bytes(), 0o600)
            .map_err(keep_err(dir))?;
        Ok(())
    }

    /// Puts the node's own configuration files back over the primary's.
    fn restore_own_files(&self, kept: &Path) -> Result<(), RewindError> {
        for f in OWN_FILES {
            let saved = kept.join(f);
            if !saved.exists() {
                continue;
            }
            let text = std::fs::read(&saved).map_err(|source| RewindError::Keep {
                path: saved.display().to_string(),
                source,
            })?;
            let target = self.pgdata.join(f);
            crate::pg::settings::write_owned(&target, &text, self.dba).map_err(|source| {
                RewindError::Keep {
                    path: target.display().to_string(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

/// The size of the WAL segments in `dir`: that of a complete segment file.
fn segment_size(dir: &Path, names: &[String]) -> Option<u64> {
    names
        .iter()
        .filter(|n| n.len() == 24)
        .find_map(|n| std::fs::metadata(dir.join(n)).ok())
        .map(|m| m.len())
        .filter(|l| l.is_power_of_two())
}

fn chown_tree(dir: &Path, owner: &OsUser) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let chown = |p: &Path| {
        let _ = nix::unistd::fchownat(
            None,
            p,
            Some(owner.uid),
            Some(owner.gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    };
    chown(dir);
    for sub in [dir.to_path_buf(), dir.join("pg_wal")] {
        chown(&sub);
        if let Ok(rd) = std::fs::read_dir(&sub) {
            for e in rd.flatten() {
                chown(&e.path());
            }
        }
    }
}

/// `YYYYmmddTHHMMSSZ` of a Unix time, without a time-zone database.
pub fn utc_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output() {
        let text = "pg_rewind: servers diverged at WAL location 0/3000060 on timeline 1\n\
                    pg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1\n\
                    pg_rewind: Done!\n";
        assert_eq!(
            read_output(text),
            DryRun {
                needed: true,
                diverged_at: Some("0/3000060".to_string()),
                same_timeline: false
            }
        );
        let none = "pg_rewind: servers diverged at WAL location 0/3000060 on timeline 1\n\
                    pg_rewind: no rewind required\n";
        assert!(!read_output(none).needed);
        let same = "pg_rewind: source and target cluster are on the same timeline\n\
                    pg_rewind: no rewind required\n";
        let d = read_output(same);
        assert!(d.same_timeline && !d.needed);
    }

    #[test]
    fn discarded_segments() {
        let names: Vec<String> = [
            "000000010000000000000002",
            "000000010000000000000003",
            "000000010000000000000004",
            "000000020000000000000003",
            "00000002.history",
            "archive_status",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let seg = 16 << 20;
        assert_eq!(
            discarded_wal(&names, 1, Lsn::parse_pg("0/3000060").unwrap(), seg),
            ["000000010000000000000003", "000000010000000000000004"]
        );
        assert!(discarded_wal(&names, 1, Lsn::parse_pg("0/5000000").unwrap(), seg).is_empty());
    }

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_796_284_800), "20261203T080000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    }
}
