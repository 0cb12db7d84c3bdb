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

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Repl;
use crate::agents::pgsql::config::Rejoin;
use crate::ocf::Failure;
use crate::os::process::find_executable;
use crate::pg::conninfo::quote as conninfo_value;
use crate::pg::controldata::{ControlData, DbState};
use crate::pg::replication::{Comparison, Identity, Peer};
use crate::pg::rewind::{Outcome, Rewind, RewindError};
use crate::pg::timeline::Relation;

/// The decision of the module comment, as a plain function: `Ok(())` when
/// the data directory `mine` may follow the primary `peer`, whose history
/// relates to ours as `relation` (pg/timeline.rs), else why not.
pub fn may_rejoin(mine: &ControlData, peer: &Identity, relation: &Relation) -> Result<(), String> {
    if mine.state != DbState::ShutDown {
        return Err(format!(
            "this data directory was not shut down cleanly as a primary (state: {})",
            mine.state.text()
        ));
    }
    if mine.system_id.is_none() {
        return Err("pg_controldata printed no system identifier".to_string());
    }
    match relation {
        Relation::Prefix { .. } => Ok(()),
        Relation::SameTimeline => Err(format!(
            "the primary runs on timeline {}, not on a later one than this data directory's {}",
            peer.timeline, mine.timeline
        )),
        Relation::Diverged(why) => Err(format!("the primary's history differs: {why}")),
    }
}

impl Repl<'_> {
    /// With the original upfront agent's parameters, a start that finds
    /// `PGSQL.lock` checks whether this former primary may follow the new
    /// one (module comment). True: the lock is removed and the start goes
    /// on. False: the reason is logged and the lock stays.
    pub(super) async fn try_rejoin(&self) -> Result<bool, Failure> {
        if self.pg.cfg.rejoin == Rejoin::Off && !self.pg.cfg.promotion_by_rule() {
            return Ok(false);
        }
        let mine = match ControlData::read(
            &self.tool("pg_controldata"),
            &self.pg.cfg.pgdata,
            &self.pg.dba,
            self.pg.deadline.within(Duration::from_secs(10)),
        )
        .await
        {
            Ok(m) if m.state == DbState::ShutDown => m,
            Ok(m) => {
                tracing::warn!(
                    "Keeping PGSQL.lock: this data directory was not shut down cleanly as a \
                     primary (state: {})",
                    m.state.text()
                );
                return Ok(false);
            }
            Err(e) => {
                tracing::warn!("Keeping PGSQL.lock: pg_controldata: {e}");
                return Ok(false);
            }
        };
        let Some(psql) = self.psql() else {
            tracing::warn!(
                "Keeping PGSQL.lock: no psql at {} or beside pg_ctl",
                self.pg.cfg.psql
            );
            return Ok(false);
        };
        let c = &self.pg.cfg;
        let conninfo = self.primary_conninfo(&c.repuser, None);
        let peer = Peer {
            psql: &psql,
            user: &self.pg.dba,
            conninfo: &conninfo,
        };
        // A start right after the switchover may run before the new primary
        // answers at the virtual IP: ask again for a while, never past the
        // operation's deadline. Its answer, once given, is final.
        let until = self.pg.deadline.within(Duration::from_secs(30));
        let (identity, relation) = loop {
            let answer = match self.another_primary().await {
                Ok(()) => peer.compare(&mine, self.pg.deadline).await,
                Err(e) => Comparison::NoAnswer(e),
            };
            match answer {
                Comparison::Compared { peer, relation, .. } => break (peer, relation),
                Comparison::NoAnswer(e) | Comparison::Incomplete(e)
                    if until.remaining() < Duration::from_secs(3) =>
                {
                    tracing::warn!("Keeping PGSQL.lock: {e} (at {})", c.master_ip);
                    return Ok(false);
                }
                Comparison::NoAnswer(e) | Comparison::Incomplete(e) => tracing::info!(
                    "Cannot check the new primary yet: {e} (at {}); asking again",
                    c.master_ip
                ),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        if let Err(why) = may_rejoin(&mine, &identity, &relation) {
            tracing::warn!("Keeping PGSQL.lock: {why}");
            return Ok(false);
        }
        let lock = self.pg.cfg.tmpdir.join("PGSQL.lock");
        std::fs::remove_file(&lock)
            .map_err(|e| Failure::generic(format!("Can't remove {}: {e}", lock.display())))?;
        tracing::info!(
            "The new primary replayed all of this former primary's WAL (checkpoint {} on \
             timeline {}): removed {}, starting as its standby.",
            mine.last_checkpoint(),
            mine.timeline,
            lock.display()
        );
        Ok(true)
    }

    /// psql as configured, or beside pg_ctl.
    fn psql(&self) -> Option<PathBuf> {
        find_executable(&self.pg.cfg.psql, self.pg.env.process.path.as_deref())
            .or_else(|| find_executable(&self.tool("psql").display().to_string(), None))
    }

    /// A connection string to the primary at `master_ip` as `user`.
    fn primary_conninfo(&self, user: &str, dbname: Option<&str>) -> String {
        let c = &self.pg.cfg;
        let mut conninfo = format!(
            "host={} port={} user={}",
            conninfo_value(&c.master_ip),
            c.pgport,
            conninfo_value(user)
        );
        if let Some(db) = dbname {
            conninfo.push_str(&format!(" dbname={}", conninfo_value(db)));
        }
        if !c.primary_conninfo_opt.is_empty() {
            conninfo.push(' ');
            conninfo.push_str(&c.primary_conninfo_opt);
        }
        conninfo
    }

    /// `rejoin=rewind`, when the proof failed: pg_rewind from the primary
    /// at `master_ip` (pg/rewind.rs), then the lock goes and the start goes
    /// on as a standby. Anything that stops the rewind keeps the lock and
    /// fails the start with the reason.
    pub(super) async fn rewind_and_unlock(&self, lock: &Path) -> Result<(), Failure> {
        let refuse = |why: String| {
            Failure::generic(format!(
                "Cannot rejoin this node as a standby: {why}; {} stays, repair the data \
                 directory (pg_rewind, pg_basebackup) and remove it",
                lock.display()
            ))
        };
        self.another_primary().await.map_err(refuse)?;
        let mine = ControlData::read(
            &self.tool("pg_controldata"),
            &self.pg.cfg.pgdata,
            &self.pg.dba,
            self.pg.deadline.within(Duration::from_secs(10)),
        )
        .await
        .map_err(|e| refuse(format!("pg_controldata: {e}")))?;
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_some() {
            return Err(refuse("PostgreSQL is running here".into()));
        }
        // A killed postmaster's backends and PID file: gone before the
        // single-user crash recovery may run.
        self.pg.remove_stale_pidfile().await?;
        let c = &self.pg.cfg;
        let source = self.primary_conninfo(&c.pgdba, Some("postgres"));
        let bindir = self.tool("pg_rewind");
        let bindir = bindir.parent().unwrap_or(Path::new("/"));
        let own_conf = c.pgdata.join("postgresql.conf");
        let Some(psql) = self.psql() else {
            return Err(refuse(format!("no psql at {} or beside pg_ctl", c.psql)));
        };
        let rewind = Rewind {
            bindir,
            psql: &psql,
            pgdata: &c.pgdata,
            config_file: (c.config != own_conf).then_some(c.config.as_path()),
            dba: &self.pg.dba,
            source: &source,
            keep_in: &c.tmpdir,
            major: self.pg.facts.version.map_or(0, |v| v.major),
        };
        tracing::info!(
            "rejoin=rewind: this node's history is not proven a prefix of the primary's at {}; \
             running pg_rewind",
            c.master_ip
        );
        match rewind.run(&mine, self.pg.deadline).await {
            Ok(Outcome::NotNeeded) => tracing::info!(
                "pg_rewind: no rewind required, this node's WAL is a prefix of the primary's \
                 history (timeline {}, checkpoint {})",
                mine.timeline,
                mine.last_checkpoint()
            ),
            Ok(Outcome::Rewound { diverged_at, kept }) => tracing::warn!(
                "Rewound from the primary at {}: the histories diverged at {} on timeline {}; \
                 the WAL this node had after that and its configuration files are kept in {}",
                c.master_ip,
                diverged_at.as_deref().unwrap_or("(not printed)"),
                mine.timeline,
                kept.display()
            ),
            Err(e @ RewindError::NotRewindable) => {
                return Err(Failure::configured(format!(
                    "rejoin=rewind: {e}; set wal_log_hints = on (and restart) or use rejoin=safe"
                )))
            }
            Err(e) => return Err(refuse(e.to_string())),
        }
        std::fs::remove_file(lock)
            .map_err(|e| Failure::generic(format!("Can't remove {}: {e}", lock.display())))?;
        tracing::info!("Removed {}, starting as a standby.", lock.display());
        Ok(())
    }

    /// Another node than this one is the primary, in a fresh snapshot.
    async fn another_primary(&self) -> Result<(), String> {
        let view = self.snapshot().await.map_err(|f| f.reason)?;
        if !view
            .promoted()
            .iter()
            .any(|n| !n.eq_ignore_ascii_case(&self.me))
        {
            return Err("no other node is the primary".to_string());
        }
        Ok(())
    }

    /// The directory of pg_ctl, where Debian and upstream keep the other
    /// server tools.
    pub(super) fn tool(&self, name: &str) -> PathBuf {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::timeline::relation;
    use crate::pg::Lsn;

    fn cd(state: DbState, ckpt: &str, tli: u32) -> ControlData {
        let lsn = Lsn::parse_pg(ckpt).unwrap();
        ControlData {
            state,
            redo: lsn,
            timeline: tli,
            wal_level: "replica".into(),
            checkpoint: Some(lsn),
            system_id: Some("7300000000000000001".into()),
            rewindable: Some(true),
        }
    }

    fn decide(mine: &ControlData, peer_tli: u32, hist: &str) -> Result<(), String> {
        let peer = Identity {
            system_id: "7300000000000000001".into(),
            timeline: peer_tli,
        };
        let r = relation(mine.timeline, mine.last_checkpoint(), peer_tli, Some(hist));
        may_rejoin(mine, &peer, &r)
    }

    #[test]
    fn the_switch_point_decides() {
        let hist = "1\t0/3000000\tno recovery target specified\n\n\
                    2\t0/5000110\tno recovery target specified\n";
        // The new primary (timeline 3) replayed past our checkpoint.
        assert!(decide(&cd(DbState::ShutDown, "0/5000028", 2), 3, hist).is_ok());
        // It left our timeline before our checkpoint: our WAL has more.
        let e = decide(&cd(DbState::ShutDown, "0/5000110", 2), 3, hist).unwrap_err();
        assert!(e.contains("forked off"), "{e}");
        // A crash, a standby's shutdown, an immediate stop: never.
        for state in [
            DbState::InProduction,
            DbState::ShutDownInRecovery,
            DbState::InArchiveRecovery,
        ] {
            assert!(decide(&cd(state, "0/5000028", 2), 3, hist).is_err());
        }
        // The same timeline, a timeline not in the history.
        assert!(decide(&cd(DbState::ShutDown, "0/5000028", 3), 3, hist).is_err());
        assert!(decide(&cd(DbState::ShutDown, "0/2000028", 5), 6, hist).is_err());
        // Another system: compare() reports it as diverged.
        let other = Relation::Diverged("system identifier 1 is not ours".into());
        let peer = Identity {
            system_id: "1".into(),
            timeline: 3,
        };
        assert!(may_rejoin(&cd(DbState::ShutDown, "0/5000028", 2), &peer, &other).is_err());
        // No system identifier printed: no proof.
        let mut anon = cd(DbState::ShutDown, "0/5000028", 2);
        anon.system_id = None;
        assert!(decide(&anon, 3, hist).is_err());
    }
}
