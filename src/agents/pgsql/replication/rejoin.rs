//! The original upfront agent's contract: a switchover is a change of the
//! location rule, normal operation, so the demoted primary must come back as
//! a standby by itself. `PGSQL.lock` keeps a former primary out because its
//! data may hold writes the new primary lacks; here that is checked instead
//! of assumed, and the lock is only lifted when it is proven false:
//!
//! 1. this data directory was shut down cleanly as a primary
//!    (`pg_controldata`: "shut down"), so its WAL ends with the shutdown
//!    checkpoint record at `C` on timeline `T`;
//! 2. the new primary (reached at `master_ip` over a replication connection,
//!    as a standby would) is the same database system and runs on a later
//!    timeline whose history leaves `T` at the switch point `S`;
//! 3. `C < S`. `S` is the end of the last record the new primary replayed on
//!    `T`, always a record boundary; the first boundary after `C` is the end
//!    of the checkpoint record, so `C < S` means the new primary replayed the
//!    whole of our WAL, and there is nothing here it lacks.
//!
//! Anything else (a crash, an escalated immediate shutdown, the same
//! timeline, no primary, a history without `T`, any error) keeps the lock.

use std::path::PathBuf;
use std::time::Duration;

use super::Repl;
use crate::ocf::Failure;
use crate::os::process::{find_executable, Cmd};
use crate::pg::settings::conninfo_value;
use crate::pg::Lsn;

/// What `pg_controldata` says about a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlData {
    pub system_id: String,
    pub state: String,
    pub checkpoint: Lsn,
    pub timeline: u32,
}

/// Parses `LC_ALL=C pg_controldata` output.
pub fn parse_controldata(text: &str) -> Option<ControlData> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    Some(ControlData {
        system_id: field("Database system identifier")?,
        state: field("Database cluster state")?,
        checkpoint: Lsn::parse_pg(&field("Latest checkpoint location")?)?,
        timeline: field("Latest checkpoint's TimeLineID")?.parse().ok()?,
    })
}

/// The switch point of timeline `tli` in a timeline history file's text
/// (`<tli>\t<switchpoint>\t<reason>` lines; `#` comments).
pub fn switch_point(history: &str, tli: u32) -> Option<Lsn> {
    history.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let t: u32 = f.next()?.parse().ok()?;
        (t == tli).then(|| Lsn::parse_pg(f.next()?)).flatten()
    })
}

/// The decision of the module comment, as a plain function: `Ok(())` when
/// this data directory may follow the new primary, else why not.
pub fn may_rejoin(
    mine: &ControlData,
    primary_system_id: &str,
    primary_timeline: u32,
    history: &str,
) -> Result<(), String> {
    if mine.state != "shut down" {
        return Err(format!(
            "this data directory was not shut down cleanly as a primary (state: {})",
            mine.state
        ));
    }
    if mine.system_id != primary_system_id {
        return Err(format!(
            "the primary is another database system ({primary_system_id}, here {})",
            mine.system_id
        ));
    }
    if primary_timeline <= mine.timeline {
        return Err(format!(
            "the primary runs on timeline {primary_timeline}, not on a later one than this \
             data directory's {}",
            mine.timeline
        ));
    }
    match switch_point(history, mine.timeline) {
        Some(s) if mine.checkpoint < s => Ok(()),
        Some(s) => Err(format!(
            "the primary left timeline {} at {s}, before this data directory's last \
             checkpoint {}",
            mine.timeline, mine.checkpoint
        )),
        None => Err(format!(
            "timeline {} is not in the primary's history",
            mine.timeline
        )),
    }
}

/// `\x`-hex (bytea output) or plain text.
fn decode_text(v: &str) -> String {
    match v.strip_prefix("\\x") {
        Some(hex) if hex.len() % 2 == 0 => {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                .collect();
            bytes
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| v.to_string())
        }
        _ => v.to_string(),
    }
}

impl Repl<'_> {
    /// With the original upfront agent's parameters, a start that finds
    /// `PGSQL.lock` checks whether this former primary may follow the new
    /// one (module comment). True: the lock is removed and the start goes
    /// on. False: the reason is logged and the lock stays.
    pub(super) async fn try_rejoin(&self) -> Result<bool, Failure> {
        if !self.pg.cfg.promotion_by_rule() {
            return Ok(false);
        }
        let mine = match self.controldata().await {
            Ok(m) if m.state == "shut down" => m,
            Ok(m) => {
                tracing::warn!(
                    "Keeping PGSQL.lock: this data directory was not shut down cleanly as a \
                     primary (state: {})",
                    m.state
                );
                return Ok(false);
            }
            Err(e) => {
                tracing::warn!("Keeping PGSQL.lock: {e}");
                return Ok(false);
            }
        };
        // A start right after the switchover may run before the new primary
        // answers at the virtual IP: ask again for a while, never past the
        // operation's deadline. Its answer, once given, is final.
        let until = self.pg.deadline.within(Duration::from_secs(30));
        let (system_id, tli, history) = loop {
            match self.ask_primary(mine.timeline).await {
                Ok(answer) => break answer,
                Err(e) if until.remaining() < Duration::from_secs(3) => {
                    tracing::warn!("Keeping PGSQL.lock: {e}");
                    return Ok(false);
                }
                Err(e) => tracing::info!("Cannot check the new primary yet: {e}; asking again"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            *self.view.borrow_mut() = None;
        };
        if let Err(why) = may_rejoin(&mine, &system_id, tli, &history) {
            tracing::warn!("Keeping PGSQL.lock: {why}");
            return Ok(false);
        }
        let lock = self.pg.cfg.tmpdir.join("PGSQL.lock");
        std::fs::remove_file(&lock)
            .map_err(|e| Failure::generic(format!("Can't remove {}: {e}", lock.display())))?;
        tracing::info!(
            "The new primary replayed all of this former primary's WAL (checkpoint {} on \
             timeline {}): removed {}, starting as its standby.",
            mine.checkpoint,
            mine.timeline,
            lock.display()
        );
        Ok(true)
    }

    /// The new primary's system identifier, timeline and the history of
    /// that timeline (empty when it is not later than `my_tli`).
    async fn ask_primary(&self, my_tli: u32) -> Result<(String, u32, String), String> {
        self.ensure_view().await.map_err(|f| f.reason)?;
        let promoted: Vec<String> = self.with_view(|v| v.promoted.clone());
        if !promoted.iter().any(|n| !n.eq_ignore_ascii_case(&self.me)) {
            return Err("no other node is the primary".to_string());
        }
        let ident = self.replication_command("IDENTIFY_SYSTEM").await?;
        let mut f = ident.split('|');
        let (system_id, tli) = match (f.next(), f.next().and_then(|t| t.trim().parse().ok())) {
            (Some(s), Some(t)) => (s.trim().to_string(), t),
            _ => return Err(format!("unexpected IDENTIFY_SYSTEM answer {ident:?}")),
        };
        let history = if tli > my_tli {
            let row = self
                .replication_command(&format!("TIMELINE_HISTORY {tli}"))
                .await?;
            decode_text(row.split_once('|').map_or("", |(_, c)| c))
        } else {
            String::new()
        };
        Ok((system_id, tli, history))
    }

    /// The directory of pg_ctl, where Debian and upstream keep the other
    /// server tools.
    fn tool(&self, name: &str) -> PathBuf {
        let pgctl = self
            .pg
            .facts
            .pgctl
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.pg.cfg.pgctl));
        pgctl
            .parent()
            .map(|d| d.join(name))
            .unwrap_or_else(|| PathBuf::from(name))
    }

    async fn controldata(&self) -> Result<ControlData, String> {
        let out = Cmd::new(self.tool("pg_controldata"))
            .run_as(&self.pg.dba)
            .arg(&self.pg.cfg.pgdata)
            .run(self.pg.deadline.within(Duration::from_secs(10)))
            .await
            .map_err(|e| format!("pg_controldata: {e}"))?;
        if !out.success() {
            return Err(format!("pg_controldata: {}", out.combined()));
        }
        parse_controldata(&out.stdout)
            .ok_or_else(|| "pg_controldata: unexpected output".to_string())
    }

    /// One replication command on a replication connection to the
    /// primary, as this node's standby would open it; the first row,
    /// fields joined by `|`. psql speaks the replication protocol's simple
    /// queries; it runs as pgdba, so its .pgpass applies.
    async fn replication_command(&self, command: &str) -> Result<String, String> {
        let c = &self.pg.cfg;
        let psql = find_executable(&c.psql)
            .or_else(|| find_executable(&self.tool("psql").display().to_string()))
            .ok_or_else(|| format!("no psql at {} or beside pg_ctl", c.psql))?;
        let mut conninfo = format!(
            "host={} port={} user={} replication=true connect_timeout=5",
            conninfo_value(&c.master_ip),
            c.pgport,
            conninfo_value(&c.repuser)
        );
        if !c.primary_conninfo_opt.is_empty() {
            conninfo.push(' ');
            conninfo.push_str(&c.primary_conninfo_opt);
        }
        let out = Cmd::new(psql)
            .run_as(&self.pg.dba)
            .args(["-X", "-A", "-t", "-F", "|", "-d"])
            .arg(conninfo)
            .args(["-c", command])
            .run(self.pg.deadline.within(Duration::from_secs(10)))
            .await
            .map_err(|e| format!("{command} at {}: {e}", c.master_ip))?;
        if !out.success() {
            return Err(format!("{command} at {}: {}", c.master_ip, out.combined()));
        }
        // The history file's content may span lines: keep everything.
        Ok(out.stdout.trim_end().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd(state: &str, ckpt: &str, tli: u32) -> ControlData {
        ControlData {
            system_id: "7300000000000000001".into(),
            state: state.into(),
            checkpoint: Lsn::parse_pg(ckpt).unwrap(),
            timeline: tli,
        }
    }

    #[test]
    fn controldata_is_parsed() {
        let text = "pg_control version number:            1300\n\
                    Database system identifier:           7300000000000000001\n\
                    Database cluster state:               shut down\n\
                    Latest checkpoint location:           0/5000028\n\
                    Latest checkpoint's REDO location:    0/5000028\n\
                    Latest checkpoint's TimeLineID:       3\n";
        assert_eq!(
            parse_controldata(text),
            Some(cd("shut down", "0/5000028", 3))
        );
        assert_eq!(parse_controldata("garbage"), None);
    }

    #[test]
    fn the_switch_point_decides() {
        let hist = "1\t0/3000000\tno recovery target specified\n\n\
                    2\t0/5000110\tno recovery target specified\n";
        let sid = "7300000000000000001";
        assert_eq!(switch_point(hist, 2), Lsn::parse_pg("0/5000110"));
        // The new primary (timeline 3) replayed past our checkpoint.
        assert!(may_rejoin(&cd("shut down", "0/5000028", 2), sid, 3, hist).is_ok());
        // It left our timeline before our checkpoint: our WAL has more.
        let e = may_rejoin(&cd("shut down", "0/5000110", 2), sid, 3, hist).unwrap_err();
        assert!(e.contains("before"), "{e}");
        // A crash, a standby's shutdown, an immediate stop: never.
        for state in [
            "in production",
            "shut down in recovery",
            "in archive recovery",
        ] {
            assert!(may_rejoin(&cd(state, "0/5000028", 2), sid, 3, hist).is_err());
        }
        // Another system, the same timeline, a timeline not in the history.
        assert!(may_rejoin(&cd("shut down", "0/5000028", 2), "1", 3, hist).is_err());
        assert!(may_rejoin(&cd("shut down", "0/5000028", 3), sid, 3, hist).is_err());
        assert!(may_rejoin(&cd("shut down", "0/2000028", 5), sid, 6, hist).is_err());
    }

    #[test]
    fn bytea_output_is_decoded() {
        assert_eq!(decode_text("\\x310a"), "1\n");
        assert_eq!(decode_text("1\t0/3000000"), "1\t0/3000000");
    }
}
