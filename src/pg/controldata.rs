//! What `pg_controldata` says about the data directory.
//!
//! The control file is the only witness of how an instance ended: a server
//! killed while primary leaves `in production`, a killed standby leaves `in
//! archive recovery`, a clean stop leaves `shut down` (primary) or `shut down
//! in recovery` (standby). Crash detection, the election (timeline), the
//! switchover check (REDO location) and the rejoin proof (last checkpoint,
//! system identifier) all read it, in both personalities, from here.
//! `pg_controldata` runs with `LC_ALL=C` (every child does, see `os::Cmd`)
//! because its labels are translated.

use std::path::Path;

use crate::ocf::Deadline;
use crate::os::{Cmd, OsUser};
use crate::pg::Lsn;

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

    /// Runs `pg_controldata <datadir>` as the PostgreSQL user.
    pub async fn read(
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
        ControlData::parse(&out.stdout).ok_or_else(|| Unreadable("unexpected output".into()))
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

    #[test]
    fn missing_field_is_none() {
        let text = PG15.replace("Latest checkpoint's TimeLineID:       5\n", "");
        assert_eq!(ControlData::parse(&text), None);
        assert_eq!(ControlData::parse(""), None);
    }
}
