//! The control data of a data directory: `global/pg_control`.
//!
//! The control file is the only witness of how an instance ended: a server
//! killed while primary leaves `in production`, a killed standby leaves `in
//! archive recovery`, a clean stop leaves `shut down` (primary) or `shut down
//! in recovery` (standby). Crash detection, the election (timeline), the
//! switchover check (REDO location) and the rejoin proof (last checkpoint,
//! system identifier) all read it, in both personalities, from here.
//!
//! The file is read here, not through `pg_controldata`: that tool reads the
//! file of its own major only (another major's tool misreads the fields that
//! moved), so it had to come from the server's own build, which some
//! packagings do not ship beside the server; and a read costs no process.
//! ControlFileData starts the file in the host's byte order and alignment.
//! Its first fields never move (system identifier, `pg_control_version`,
//! state, last checkpoint); the copy of the last checkpoint record and the
//! settings after it moved with the majors, so [`LAYOUTS`] gives, for every
//! `pg_control_version` of 10 to 18, where the fields we need are and where
//! the CRC-32C is, which the server computes over every byte before it. The
//! CRC is always checked: a layout we do not know, a file written on
//! another platform, or a file read while the server rewrites it (retried a
//! few times, as PostgreSQL's own tools do) is refused, never misread.
//!
//! A `pg_control_version` that is not in [`LAYOUTS`] is a major newer than
//! this agent (or a file that is not a control file). Then, and only then,
//! `pg_controldata` is run when it exists (`LC_ALL=C`, as every child runs,
//! see `os::Cmd`, because its labels are translated): the tool of that new
//! major knows its layout, and refusing it would make the agent unusable on
//! a new major until the next release. Without the tool, it is refused,
//! naming the version. The layouts are those of 64-bit platforms; elsewhere
//! the tool is always used.
//!
//! Root reads the file, in a directory the PostgreSQL user owns: it is
//! opened without following a link and must be a regular file
//! (`os::fs::read_regular`). That user writes the file anyway, so its
//! content is trusted as much as the server's own.

use std::path::Path;

use crate::ocf::Deadline;
use crate::os::{Cmd, OsUser};
use crate::pg::controlfile::{self, ControlFile, Decode, CONTROL_FILE_SIZE, LAYOUTS};
use crate::pg::Lsn;

/// Between two reads of a control file whose CRC did not match.
const RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// Why the control data could not be read; each personality turns it into
/// its own exit reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// `Database cluster state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbState {
    /// `in production`: a primary is running, or crashed.
    InProduction,
    /// `in archive recovery`: a standby is running, or crashed.
    InArchiveRecovery,
    /// `shut down`: a primary stopped cleanly.
    ShutDown,
    /// `shut down in recovery`: a standby stopped cleanly.
    ShutDownInRecovery,
    /// Transitional (`starting up`, `shutting down`, `in crash recovery`)
    /// or unknown.
    Other(String),
}

impl DbState {
    pub fn parse(s: &str) -> DbState {
        match s {
            "in production" => DbState::InProduction,
            "in archive recovery" => DbState::InArchiveRecovery,
            "shut down" => DbState::ShutDown,
            "shut down in recovery" => DbState::ShutDownInRecovery,
            other => DbState::Other(other.to_string()),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            DbState::InProduction => "in production",
            DbState::InArchiveRecovery => "in archive recovery",
            DbState::ShutDown => "shut down",
            DbState::ShutDownInRecovery => "shut down in recovery",
            DbState::Other(s) => s,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlData {
    pub state: DbState,
    /// `Latest checkpoint's REDO location`.
    pub redo: Lsn,
    /// `Latest checkpoint's TimeLineID`.
    pub timeline: u32,
    pub wal_level: String,
    /// `Latest checkpoint location` (the checkpoint record itself).
    pub checkpoint: Option<Lsn>,
    /// `Database system identifier`.
    pub system_id: Option<String>,
    /// `wal_log_hints setting` is on or `Data page checksum version` is not
    /// 0: pg_rewind can tell which pages changed. `None` when not printed.
    pub rewindable: Option<bool>,
}

impl ControlData {
    /// Parses the output; `None` unless the four fields PAF requires (state,
    /// REDO location, timeline, wal_level) are all there.
    pub fn parse(text: &str) -> Option<ControlData> {
        let field = |label: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == label).then(|| v.trim().to_string())
            })
        };
        let state = DbState::parse(&field("Database cluster state")?);
        let redo = Lsn::parse_pg(&field("Latest checkpoint's REDO location")?)?;
        let timeline = field("Latest checkpoint's TimeLineID")?.parse().ok()?;
        // "Current wal_level setting" before 9.5.
        let wal_level =
            field("wal_level setting").or_else(|| field("Current wal_level setting"))?;
        Some(ControlData {
            state,
            redo,
            timeline,
            wal_level,
            checkpoint: field("Latest checkpoint location").and_then(|v| Lsn::parse_pg(&v)),
            system_id: field("Database system identifier"),
            rewindable: match (
                field("wal_log_hints setting"),
                field("Data page checksum version"),
            ) {
                (None, None) => None,
                (hints, sums) => {
                    Some(hints.as_deref() == Some("on") || sums.is_some_and(|v| v != "0"))
                }
            },
        })
    }

    /// The control data of `datadir`, from `global/pg_control` (module
    /// comment); `pg_controldata` (run as `user`) only for a
    /// `pg_control_version` this agent does not know.
    pub async fn read(
        pg_controldata: &Path,
        datadir: &Path,
        user: &OsUser,
        deadline: Deadline,
    ) -> Result<ControlData, Unreadable> {
        let path = datadir.join("global").join("pg_control");
        let mut attempt = 0;
        let version = loop {
            let bytes = crate::os::fs::read_regular(&path, CONTROL_FILE_SIZE)
                .map_err(|e| Unreadable(format!("cannot read {}: {e}", path.display())))?;
            match controlfile::decode(&bytes) {
                Ok(f) => return Ok(ControlData::from_file(&f)),
                Err(Decode::UnknownVersion(v)) => break v,
                // Read while the server rewrote it: read again, a few times.
                Err(Decode::Invalid(_)) if attempt < 9 && deadline.remaining() > RETRY => {
                    attempt += 1;
                    tokio::time::sleep(RETRY).await;
                }
                Err(Decode::Invalid(why)) => {
                    return Err(Unreadable(format!("{}: {why}", path.display())))
                }
            }
        };
        let known = LAYOUTS
            .iter()
            .map(|l| format!("{} ({})", l.version, l.majors))
            .collect::<Vec<_>>()
            .join(", ");
        if !pg_controldata.is_file() {
            return Err(Unreadable(format!(
                "{}: unknown pg_control version {version} (this agent reads {known}), and no \
                 {} to read it",
                path.display(),
                pg_controldata.display()
            )));
        }
        tracing::debug!(
            "{}: pg_control version {version} is not one of {known}: running {}",
            path.display(),
            pg_controldata.display()
        );
        Self::run_tool(pg_controldata, datadir, user, deadline).await
    }

    /// Runs `pg_controldata <datadir>` as the PostgreSQL user.
    async fn run_tool(
        pg_controldata: &Path,
        datadir: &Path,
        user: &OsUser,
        deadline: Deadline,
    ) -> Result<ControlData, Unreadable> {
        let cmd = Cmd::new(pg_controldata)
            .arg(datadir)
            .run_as(user)
            .cwd(crate::os::process::NEUTRAL_DIR);
        let out = cmd
            .run(deadline)
            .await
            .map_err(|e| Unreadable(e.to_string()))?;
        if !out.success() {
            return Err(Unreadable(out.combined()));
        }
        // It prints what it read even when the CRC does not match, after a
        // warning: refused like the native read.
        if out.stdout.contains("WARNING") || out.stderr.contains("WARNING") {
            return Err(Unreadable(out.combined()));
        }
        ControlData::parse(&out.stdout).ok_or_else(|| Unreadable("unexpected output".into()))
    }

    /// The fields of a decoded control file.
    fn from_file(f: &ControlFile) -> ControlData {
        let state = match f.state {
            1 => DbState::ShutDown,
            2 => DbState::ShutDownInRecovery,
            5 => DbState::InArchiveRecovery,
            6 => DbState::InProduction,
            code => DbState::Other(controlfile::state_text(code).to_string()),
        };
        ControlData {
            state,
            redo: Lsn(f.redo),
            timeline: f.timeline,
            wal_level: controlfile::wal_level_text(f.wal_level).to_string(),
            checkpoint: Some(Lsn(f.checkpoint)),
            system_id: Some(f.system_identifier.to_string()),
            rewindable: Some(f.wal_log_hints || f.data_checksum_version != 0),
        }
    }

    /// Where this data directory's WAL is known to end: the last checkpoint
    /// record (its REDO location when the record's own is not printed).
    pub fn last_checkpoint(&self) -> Lsn {
        self.checkpoint.unwrap_or(self.redo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::controlfile::{Layout, CRC32C};

    fn decode(bytes: &[u8]) -> Result<ControlData, Decode> {
        controlfile::decode(bytes).map(|f| ControlData::from_file(&f))
    }

    const PG15: &str = "pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7301234567890123456
Database cluster state:               shut down in recovery
pg_control last modified:             Mon Jan  1 00:00:00 2024
Latest checkpoint location:           0/5629D30
Latest checkpoint's REDO location:    0/5629CF8
Latest checkpoint's REDO WAL file:    000000050000000000000005
Latest checkpoint's TimeLineID:       5
Latest checkpoint's PrevTimeLineID:   5
wal_level setting:                    replica
";

    #[test]
    fn parses_pg15() {
        let c = ControlData::parse(PG15).unwrap();
        assert_eq!(c.state, DbState::ShutDownInRecovery);
        assert_eq!(c.redo, Lsn::parse_pg("0/5629CF8").unwrap());
        assert_eq!(c.checkpoint, Lsn::parse_pg("0/5629D30"));
        assert_eq!(c.timeline, 5);
        assert_eq!(c.wal_level, "replica");
        assert_eq!(c.system_id.as_deref(), Some("7301234567890123456"));
        assert_eq!(c.rewindable, None);
        let hints = format!("{PG15}wal_log_hints setting: on\nData page checksum version: 0\n");
        assert_eq!(ControlData::parse(&hints).unwrap().rewindable, Some(true));
        let sums = format!("{PG15}wal_log_hints setting: off\nData page checksum version: 1\n");
        assert_eq!(ControlData::parse(&sums).unwrap().rewindable, Some(true));
        let neither = format!("{PG15}wal_log_hints setting: off\nData page checksum version: 0\n");
        assert_eq!(
            ControlData::parse(&neither).unwrap().rewindable,
            Some(false)
        );
    }

    #[test]
    fn old_wal_level_label_and_states() {
        let text = PG15
            .replace("wal_level setting", "Current wal_level setting")
            .replace("shut down in recovery", "in crash recovery");
        let c = ControlData::parse(&text).unwrap();
        assert_eq!(c.wal_level, "replica");
        assert_eq!(c.state, DbState::Other("in crash recovery".into()));
        assert_eq!(DbState::parse("in production"), DbState::InProduction);
        assert_eq!(DbState::parse("shut down"), DbState::ShutDown);
    }

    /// A control file of `layout` as the server writes it (8192 bytes, CRC
    /// after the struct).
    fn file(layout: &Layout, state: u32, hints: bool, sums: u32) -> Vec<u8> {
        let mut b = vec![0u8; 8192];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &7301234567890123456u64.to_ne_bytes());
        put(8, &layout.version.to_ne_bytes());
        put(16, &state.to_ne_bytes());
        put(32, &0x5629D30u64.to_ne_bytes());
        put(layout.checkpoint_copy, &0x5629CF8u64.to_ne_bytes());
        put(layout.checkpoint_copy + 8, &5u32.to_ne_bytes());
        put(layout.wal_level, &1u32.to_ne_bytes());
        put(layout.wal_log_hints, &[u8::from(hints)]);
        put(layout.data_checksum_version, &sums.to_ne_bytes());
        let crc = CRC32C.checksum(&b[..layout.crc]);
        b[layout.crc..layout.crc + 4].copy_from_slice(&crc.to_ne_bytes());
        b
    }

    #[test]
    fn decodes_every_layout() {
        for layout in LAYOUTS {
            let c = decode(&file(layout, 2, false, 0)).unwrap();
            let tool = ControlData {
                rewindable: Some(false),
                ..ControlData::parse(PG15).unwrap()
            };
            assert_eq!(c, tool, "{layout:?}");
            let c = decode(&file(layout, 6, true, 0)).unwrap();
            assert_eq!((c.state, c.rewindable), (DbState::InProduction, Some(true)));
            let c = decode(&file(layout, 1, false, 1)).unwrap();
            assert_eq!((c.state, c.rewindable), (DbState::ShutDown, Some(true)));
            let c = decode(&file(layout, 5, false, 0)).unwrap();
            assert_eq!(
                (c.state, c.rewindable),
                (DbState::InArchiveRecovery, Some(false))
            );
        }
    }

    #[test]
    fn a_damaged_or_unknown_file_is_refused() {
        let layout = &LAYOUTS[0];
        let good = file(layout, 1, false, 0);
        for off in [0, 16, 40, layout.crc - 1, layout.crc] {
            let mut bad = good.clone();
            bad[off] ^= 0x01;
            match decode(&bad) {
                Err(Decode::Invalid(why)) => {
                    assert!(why.contains("CRC-32C mismatch"), "{why}");
                    assert!(
                        why.contains("pg_control version 1002, PostgreSQL 10"),
                        "{why}"
                    );
                }
                other => panic!("byte {off} flipped: {other:?}"),
            }
        }
        assert!(matches!(
            decode(&good[..layout.crc + 2]),
            Err(Decode::Invalid(_))
        ));
        assert!(matches!(decode(&good[..6]), Err(Decode::Invalid(_))));
        let mut future = good.clone();
        future[8..12].copy_from_slice(&1900u32.to_ne_bytes());
        assert_eq!(decode(&future), Err(Decode::UnknownVersion(1900)));
        // The byte-swapped 10 of another platform: unknown.
        let mut swapped = good;
        swapped[8..12].copy_from_slice(&1002u32.to_be_bytes());
        assert!(matches!(decode(&swapped), Err(Decode::UnknownVersion(_))));
    }

    #[test]
    fn layouts_are_distinct_and_inside_the_struct() {
        for (i, l) in LAYOUTS.iter().enumerate() {
            assert!(LAYOUTS[..i].iter().all(|o| o.version != l.version));
            for off in [
                l.checkpoint_copy + 12,
                l.wal_level + 4,
                l.data_checksum_version + 4,
            ] {
                assert!(off <= l.crc, "{l:?}");
            }
        }
    }

    #[test]
    fn missing_field_is_none() {
        let text = PG15.replace("Latest checkpoint's TimeLineID:       5\n", "");
        assert_eq!(ControlData::parse(&text), None);
        assert_eq!(ControlData::parse(""), None);
    }
}
