//! Questions to another server over a replication connection: who it is
//! (`IDENTIFY_SYSTEM`) and how its timelines came to be (`TIMELINE_HISTORY`),
//! and from both, whether a data directory here can follow it.
//!
//! A replication connection is what a standby opens anyway, so it needs no
//! credentials beyond those the standby has (`pg_hba.conf`'s `replication`
//! line, the PostgreSQL user's `.pgpass`). The protocol driver the agent
//! uses for SQL does not speak the replication sub-protocol, so these go
//! through `psql`, run as the PostgreSQL user, with field and record
//! separators no value contains.

use std::path::Path;
use std::time::Duration;

use super::controldata::ControlData;
use super::timeline::{relation, Relation};
use super::{conninfo, Lsn};
use crate::ocf::Deadline;
use crate::os::{Cmd, OsUser};

const FS: char = '\u{1f}';
const RS: char = '\u{1e}';

/// How to reach the other server: psql, as whom, and the (non-replication)
/// connection string.
pub struct Peer<'a> {
    pub psql: &'a Path,
    pub user: &'a OsUser,
    pub conninfo: &'a str,
}

/// `IDENTIFY_SYSTEM`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub system_id: String,
    pub timeline: u32,
}

/// The outcome of comparing a data directory here with the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Nobody answered `IDENTIFY_SYSTEM`: nothing can be compared.
    NoAnswer(String),
    /// The peer answered who it is, not its history.
    Incomplete(String),
    Compared {
        peer: Identity,
        /// Our last checkpoint.
        ours: Lsn,
        relation: Relation,
    },
}

/// PostgreSQL 16 and later send the history file's content as `bytea`,
/// which psql prints as `\x` hex; before, as text.
fn decode_text(v: &str) -> String {
    match v.strip_prefix("\\x") {
        Some(hex) if hex.len() % 2 == 0 => {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            bytes
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| v.to_string())
        }
        _ => v.to_string(),
    }
}

/// psql's unaligned output with our separators, as rows of fields.
fn split_rows(stdout: &str) -> Vec<Vec<String>> {
    let text = stdout.strip_suffix('\n').unwrap_or(stdout);
    text.split(RS)
        .filter(|r| !r.is_empty())
        .map(|r| r.split(FS).map(str::to_string).collect())
        .collect()
}

impl Peer<'_> {
    /// One replication command; its rows.
    async fn query(&self, command: &str, deadline: Deadline) -> Result<Vec<Vec<String>>, String> {
        let out = Cmd::new(self.psql)
            .run_as(self.user)
            .cwd(crate::os::process::NEUTRAL_DIR)
            .args(["-X", "-q", "-A", "-t"])
            .arg(format!("--field-separator={FS}"))
            .arg(format!("--record-separator={RS}"))
            .arg("-d");
        let out = conninfo::arg_without_password(
            out,
            "",
            &conninfo::with_parameter(self.conninfo, "replication", "true"),
        )
        .args(["-c", command])
        .env("PGCONNECT_TIMEOUT", "5")
        .run(deadline.within(Duration::from_secs(10)))
        .await
        .map_err(|e| format!("{command}: {e}"))?;
        if !out.success() {
            return Err(format!("{command}: {}", out.combined()));
        }
        Ok(split_rows(&out.stdout))
    }

    pub async fn identify_system(&self, deadline: Deadline) -> Result<Identity, String> {
        let rows = self.query("IDENTIFY_SYSTEM", deadline).await?;
        match rows.first().map(Vec::as_slice) {
            Some([id, tli, ..]) => match tli.trim().parse() {
                Ok(timeline) => Ok(Identity {
                    system_id: id.trim().to_string(),
                    timeline,
                }),
                Err(_) => Err(format!("unexpected IDENTIFY_SYSTEM answer {rows:?}")),
            },
            _ => Err(format!("unexpected IDENTIFY_SYSTEM answer {rows:?}")),
        }
    }

    /// `SHOW name` over the replication connection (PostgreSQL 10 and
    /// later): a setting of the other server, `server_version_num` say.
    pub async fn show(&self, name: &str, deadline: Deadline) -> Result<String, String> {
        let rows = self.query(&format!("SHOW {name}"), deadline).await?;
        rows.first()
            .and_then(|r| r.first())
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("SHOW {name}: no answer"))
    }

    /// The text of the history file of `timeline`.
    pub async fn timeline_history(
        &self,
        timeline: u32,
        deadline: Deadline,
    ) -> Result<String, String> {
        let command = format!("TIMELINE_HISTORY {timeline}");
        let rows = self.query(&command, deadline).await?;
        rows.first()
            .and_then(|r| r.get(1))
            .map(|c| decode_text(c))
            .ok_or_else(|| format!("unexpected {command} answer"))
    }

    /// Compares the data directory described by `mine` with the peer: same
    /// system, and our WAL a prefix of its history (pg/timeline.rs).
    pub async fn compare(&self, mine: &ControlData, deadline: Deadline) -> Comparison {
        let peer = match self.identify_system(deadline).await {
            Ok(p) => p,
            Err(e) => return Comparison::NoAnswer(e),
        };
        let ours = mine.last_checkpoint();
        if let Some(id) = mine.system_id.as_deref().filter(|id| *id != peer.system_id) {
            let relation = Relation::Diverged(format!(
                "system identifier {} is not ours ({id}): another database system",
                peer.system_id
            ));
            return Comparison::Compared {
                peer,
                ours,
                relation,
            };
        }
        let history = if peer.timeline > mine.timeline {
            match self.timeline_history(peer.timeline, deadline).await {
                Ok(h) => Some(h),
                Err(e) => return Comparison::Incomplete(e),
            }
        } else {
            None
        };
        let relation = relation(mine.timeline, ours, peer.timeline, history.as_deref());
        Comparison::Compared {
            peer,
            ours,
            relation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytea_output_is_decoded() {
        assert_eq!(decode_text("\\x310a"), "1\n");
        assert_eq!(decode_text("1\t0/3000000"), "1\t0/3000000");
        assert_eq!(decode_text("\\xzz"), "\\xzz");
    }

    #[test]
    fn rows_and_fields() {
        let out = format!("7300{FS}3{FS}0/5000000{FS}{RS}\n");
        assert_eq!(
            split_rows(&out),
            vec![vec![
                "7300".to_string(),
                "3".into(),
                "0/5000000".into(),
                "".into()
            ]]
        );
        // A history file spans lines; the record separator keeps it whole.
        let out = format!("3.history{FS}1\t0/3000000\tx\n2\t0/5000000\ty\n{RS}\n");
        assert_eq!(split_rows(&out)[0][1], "1\t0/3000000\tx\n2\t0/5000000\ty\n");
        assert!(split_rows("").is_empty());
    }
}
