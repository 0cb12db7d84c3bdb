//! Is a switchover to this standby safe?
//!
//! During a switchover the old primary is demoted first: a fast shutdown,
//! which ends with a shutdown checkpoint that it streams to its connected
//! standbys. If the designated standby received that record, it has every
//! byte the old primary wrote, and the old primary can follow it as a
//! standby without a rebuild. We look for the record between our latest
//! REDO point and the last received position, as PAF does with pg_waldump:
//! on PostgreSQL 10 to 18 the agent reads the WAL itself (`pg::walrecord`:
//! no tool of the server's own major needed), on other majors it runs
//! pg_waldump (pg_xlogdump before 10). Either way every record of that
//! stretch must read (checksums, links), and one of them must be a
//! shutdown checkpoint of our timeline.

use std::path::Path;

use super::Paf;
use crate::pg::walrecord::Wal;
use crate::pg::{controlfile, waldump, Lsn};

/// Result of the check, as PAF stores it in `cancel_switchover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Safe,
    /// The shutdown checkpoint was not received: promotion fails (1).
    Unsafe,
    /// The check itself failed: promotion fails hard (2), banning this node.
    Error,
}

impl Check {
    pub fn attr_value(self) -> Option<&'static str> {
        match self {
            Check::Safe => None,
            Check::Unsafe => Some("1"),
            Check::Error => Some("2"),
        }
    }
}

/// A pg_waldump line for a shutdown checkpoint on timeline `tl`: PostgreSQL
/// 10+ prints `desc: CHECKPOINT_SHUTDOWN redo 0/5629D30; tli 5; ...;
/// shutdown`, 9.x `desc: checkpoint: redo ...`.
pub fn has_shutdown_checkpoint(waldump: &str, tl: u32) -> bool {
    waldump.lines().any(|line| {
        let line = line.trim_end();
        if !line.starts_with("rmgr: XLOG") || !line.ends_with("; shutdown") {
            return false;
        }
        let Some(pos) = line.find("desc: ") else {
            return false;
        };
        let desc = &line[pos + "desc: ".len()..];
        let Some(word) = desc.get(..10) else {
            return false;
        };
        if !word.eq_ignore_ascii_case("checkpoint") {
            return false;
        }
        let rest = &desc[10..];
        let Some(rest) = rest
            .strip_prefix(':')
            .or_else(|| rest.strip_prefix("_SHUTDOWN"))
            .and_then(|r| r.strip_prefix(" redo "))
        else {
            return false;
        };
        let lsn_end = rest
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '/'))
            .unwrap_or(rest.len());
        lsn_end > 0 && rest[lsn_end..].starts_with(&format!("; tli {tl};"))
    })
}

/// Did the WAL of `timeline` in `pg_wal` receive a shutdown checkpoint of
/// that timeline among the records that start from `redo` to `end`, every
/// one of them readable (the native check, module comment)?
pub fn received_shutdown_checkpoint(pg_wal: &Path, timeline: u32, redo: Lsn, end: Lsn) -> bool {
    let mut found = false;
    let read = Wal::open(pg_wal, timeline, crate::os::fs::read_regular).and_then(|mut wal| {
        wal.scan(redo.0, end.0, |r| {
            found |= r.is_shutdown_checkpoint_of(timeline)
        })
    });
    match read {
        Ok(count) => {
            tracing::debug!("{count} WAL records from {redo} to {end} on timeline {timeline}");
            found
        }
        Err(e) => {
            tracing::debug!("reading the WAL from {redo} to {end}: {e}");
            false
        }
    }
}

impl Paf {
    /// The check with pg_waldump (pg_xlogdump before 10), for the majors
    /// whose WAL the agent does not read itself.
    async fn waldump_check(&self, timeline: u32, redo: Lsn, last: &str) -> bool {
        let tool = if self.version.at_least(10, 0) {
            "pg_waldump"
        } else {
            "pg_xlogdump"
        };
        let out = waldump::dump(&self.cfg.bin(tool), &self.cfg.datadir, timeline, redo)
            .run_as(&self.user)
            .args(["--end", last])
            .run(self.deadline)
            .await;
        match &out {
            Ok(o) => {
                tracing::debug!("{tool}: {} {}", o.describe_status(), o.combined());
                o.success() && has_shutdown_checkpoint(&o.stdout, timeline)
            }
            Err(e) => {
                tracing::debug!("{tool}: {e}");
                false
            }
        }
    }

    pub async fn check_switchover(&self, old: &str) -> Check {
        tracing::info!(
            "Switchover in progress from \"{old}\" to \"{}\". Need to check the last record in WAL",
            self.node
        );
        let session = match self.session().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("Could not fetch last received LSN! ({e})");
                return Check::Error;
            }
        };
        // A restartpoint, so the control file shows the latest timeline and
        // the old primary's last checkpoint as our REDO point.
        if let Err(e) = session.simple_query("CHECKPOINT").await {
            tracing::debug!("CHECKPOINT: {e}");
        }
        let cd = match self.controldata().await {
            Ok(cd) => cd,
            Err(f) => {
                tracing::error!("{}", f.reason);
                return Check::Error;
            }
        };
        let sql = format!(
            "SELECT {}::text",
            self.wal_fn(
                "pg_last_wal_receive_lsn()",
                "pg_last_xlog_receive_location()"
            )
        );
        let last = match session.query_value(&sql).await {
            Ok(Some(v)) => v,
            other => {
                tracing::error!("Could not fetch last received LSN! ({other:?})");
                return Check::Error;
            }
        };
        let safe = if controlfile::NATIVE_MAJORS.contains(&self.version.major) {
            match Lsn::parse_pg(&last) {
                Some(end) => {
                    let wal = self.cfg.datadir.join("pg_wal");
                    received_shutdown_checkpoint(&wal, cd.timeline, cd.redo, end)
                }
                None => {
                    tracing::debug!("last received LSN {last:?} is not an LSN");
                    false
                }
            }
        } else {
            self.waldump_check(cd.timeline, cd.redo, &last).await
        };
        if safe {
            tracing::info!("Standby received the shutdown checkpoint");
            Check::Safe
        } else {
            tracing::error!("Did not receive the shutdown checkpoint from the old primary!");
            Check::Unsafe
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/05629CF8, prev 0/05629CC0, desc: RUNNING_XACTS nextXid 736 latestCompletedXid 735 oldestRunningXid 736\n\
rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/05629D30, prev 0/05629CF8, desc: CHECKPOINT_SHUTDOWN redo 0/5629D30; tli 5; prev tli 5; fpw true; xid 0:736; oid 16384; multi 1; offset 0; oldest xid 726 in DB 1; oldest multi 1 in DB 1; oldest/newest commit timestamp xid: 0/0; oldest running xid 0; shutdown\n";

    #[test]
    fn finds_pg15_shutdown_checkpoint() {
        assert!(has_shutdown_checkpoint(PG15, 5));
        assert!(!has_shutdown_checkpoint(PG15, 4), "another timeline");
        assert!(!has_shutdown_checkpoint(PG15, 55));
    }

    #[test]
    fn online_checkpoint_does_not_count() {
        let online = PG15
            .replace("CHECKPOINT_SHUTDOWN", "CHECKPOINT_ONLINE")
            .replace("; shutdown", "; online");
        assert!(!has_shutdown_checkpoint(&online, 5));
    }

    #[test]
    fn old_format_and_padded_lsns() {
        let old = "rmgr: XLOG        len (rec/tot):     72/   104, tx:          0, lsn: 0/03000028, prev 0/02000060, desc: checkpoint: redo 0/3000028; tli 1; prev tli 1; fpw true; xid 0/717; shutdown\n";
        assert!(has_shutdown_checkpoint(old, 1));
        let padded = PG15.replace("redo 0/5629D30", "redo 0/05629D30");
        assert!(has_shutdown_checkpoint(&padded, 5));
    }
}
