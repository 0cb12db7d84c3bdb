//! A former primary rejoins by itself when that is provably safe.
//!
//! `PGSQL.lock` keeps a former primary out because its data may hold
//! writes the new primary lacks; here that is checked instead of assumed,
//! and the lock is only lifted when it is proven false. The new primary is
//! reached at `master_ip` over a replication connection, as a standby
//! would; it must be the same database system, and this node's WAL must
//! end where the new primary had all of it:
//!
//! - **Promoted onto a later timeline** (`pg_ctl promote`): its timeline
//!   history says it left our timeline `T` at the switch point `S`, the
//!   end of the last record it replayed on `T`. A clean shutdown as a
//!   primary ends our WAL with the shutdown checkpoint at `C`: `C < S`
//!   means the new primary replayed all of it (the first record boundary
//!   after `C` is the end of that record). After a crash, `C` says nothing
//!   of what followed it: the end of our WAL `E` is read with pg_waldump
//!   (pg/waldump.rs) and `E <= S` is required.
//! - **Promoted on the same timeline** (`restart_on_promote=true`): no
//!   history tells where it took over. The new primary recorded, when it
//!   was promoted, how far it had received and replayed (`<rsc>-master-
//!   baseline`, `B`) and which node was the primary before it (`<rsc>-
//!   promoted-from`): the bytes up to `B` are ours only if that node is
//!   this one. Then `E <= B` means every record we wrote is complete there,
//!   and the new primary went on after the last of them.
//!
//! Anything else (a standby's or an escalated shutdown, no primary, a
//! history without `T`, an end of WAL pg_waldump cannot tell, any error)
//! keeps the lock; `rejoin=rewind` then runs pg_rewind (below).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Repl;
use crate::agents::follow;
use crate::agents::pgsql::config::Rejoin;
use crate::cluster::vocabulary::Attr;
use crate::cluster::Lifetime;
use crate::ocf::Failure;
use crate::os::process::find_executable;
use crate::pg::conninfo::quote as conninfo_value;
use crate::pg::controldata::{ControlData, DbState};
use crate::pg::replication::{Comparison, Identity, Peer};
use crate::pg::rewind::{Outcome, Rewind, RewindError};
use crate::pg::timeline::Relation;
use crate::pg::Lsn;

/// What the current primary recorded when it was promoted (module comment):
/// the baseline `B` and the primary it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    pub at: Lsn,
    pub promoted_from: Option<String>,
}

/// The primary a promotion replaces: of the nodes and their data status,
/// the one other node whose status is `LATEST` (the primary's own
/// statement), if exactly one is.
pub fn previous_primary(data_status: &[(String, Option<String>)], me: &str) -> Option<String> {
    let mut latest = data_status
        .iter()
        .filter(|(n, ds)| !n.eq_ignore_ascii_case(me) && ds.as_deref() == Some("LATEST"))
        .map(|(n, _)| n);
    match (latest.next(), latest.next()) {
        (Some(n), None) => Some(n.clone()),
        _ => None,
    }
}

/// Whether the end of this data directory's WAL must be read for the
/// proof (a crash, or a promotion that kept the timeline).
pub fn needs_end_of_wal(mine: &ControlData, relation: &Relation) -> bool {
    match relation {
        Relation::Prefix { .. } => mine.state != DbState::ShutDown,
        Relation::SameTimeline => true,
        Relation::Diverged(_) => false,
    }
}

/// The decision of the module comment, as a plain function: the proof in
/// words when the data directory `mine` (node `me`, its WAL ending at
/// `end` when that was read) may follow the primary `peer`, whose history
/// relates to ours as `relation` (pg/timeline.rs) and which recorded
/// `baseline`; else why not.
pub fn may_rejoin(
    mine: &ControlData,
    me: &str,
    end: Option<&Result<Lsn, String>>,
    peer: &Identity,
    relation: &Relation,
    baseline: Option<&Baseline>,
) -> Result<String, String> {
    let clean = match mine.state {
        DbState::ShutDown => true,
        DbState::InProduction => false,
        ref s => {
            return Err(format!(
                "this data directory was neither shut down cleanly nor stopped by a crash as a \
                 primary (state: {})",
                s.text()
            ))
        }
    };
    if mine.system_id.is_none() {
        return Err("the control data has no system identifier".to_string());
    }
    let tli = mine.timeline;
    let end = || match end {
        Some(Ok(e)) => Ok(*e),
        Some(Err(why)) => Err(format!("where this node's WAL ends is unknown: {why}")),
        None => Err("where this node's WAL ends was not read".to_string()),
    };
    match relation {
        Relation::Prefix { fork } if clean => Ok(format!(
            "the new primary replayed all of this former primary's WAL (shutdown checkpoint {} \
             on timeline {tli}, before the point {fork} where its timeline {} forked off)",
            mine.last_checkpoint(),
            peer.timeline
        )),
        Relation::Prefix { fork } => match end()? {
            e if e <= *fork => Ok(format!(
                "the new primary replayed all of this former primary's WAL (it ends at {e} on \
                 timeline {tli}, not after the point {fork} where its timeline {} forked off)",
                peer.timeline
            )),
            e => Err(format!(
                "this node's WAL ends at {e} on timeline {tli}, after the point {fork} where the \
                 primary's timeline {} forked off",
                peer.timeline
            )),
        },
        Relation::SameTimeline => {
            let Some(b) = baseline else {
                return Err(format!(
                    "the primary runs on this node's timeline {tli} and recorded no baseline \
                     (<rsc>-master-baseline) to compare with"
                ));
            };
            if !b
                .promoted_from
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(me))
            {
                return Err(format!(
                    "the primary runs on this node's timeline {tli} and replaced {}, not this \
                     node: its baseline {} is not a point of this node's history",
                    b.promoted_from.as_deref().unwrap_or("an unrecorded node"),
                    b.at
                ));
            }
            match end()? {
                e if e <= b.at => Ok(format!(
                    "the new primary had all of this former primary's WAL when it took over on \
                     timeline {tli} (it ends at {e}, the new primary's baseline is {})",
                    b.at
                )),
                e => Err(format!(
                    "this node's WAL ends at {e} on timeline {tli}, after the new primary's \
                     baseline {}: it holds writes the new primary never had",
                    b.at
                )),
            }
        }
        Relation::Diverged(why) => Err(format!("the primary's history differs: {why}")),
    }
}

impl Repl<'_> {
    /// A start that finds `PGSQL.lock` checks whether this former primary
    /// may follow the new one (module comment). True: the lock is removed
    /// and the start goes on. False: the reason is logged and the lock
    /// stays.
    pub(super) async fn try_rejoin(&self) -> Result<bool, Failure> {
        if self.pg.cfg.rejoin == Rejoin::Off && !self.pg.cfg.promotion_by_rule() {
            return Ok(false);
        }
        let keep = |why: &dyn std::fmt::Display| {
            tracing::warn!("Keeping PGSQL.lock: {why}");
            Ok(false)
        };
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_some() {
            return keep(&"PostgreSQL is running here");
        }
        if half_rewound(&self.pg.cfg.lock_file()) {
            return keep(&HALF_REWOUND);
        }
        let mine = match ControlData::read(
            &self.tool("pg_controldata"),
            &self.pg.cfg.pgdata,
            &self.pg.dba,
            self.pg.deadline.within(Duration::from_secs(10)),
        )
        .await
        {
            Ok(m) => m,
            Err(e) => return keep(&format!("control file: {e}")),
        };
        if !matches!(mine.state, DbState::ShutDown | DbState::InProduction) {
            return keep(&format!(
                "this data directory was not a primary when it stopped (state: {})",
                mine.state.text()
            ));
        }
        let Some(psql) = self.psql() else {
            return keep(&format!("no psql at {} or beside pg_ctl", self.pg.cfg.psql));
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
        // operation's deadline, but only while the cluster shows another
        // primary. Its answer, once given, is final.
        let until = self.pg.deadline.within(Duration::from_secs(30));
        let (primary, identity, relation) = loop {
            let failed = match self.another_primary().await {
                Ok(node) => match peer.compare(&mine, self.pg.deadline).await {
                    Comparison::Compared { peer, relation, .. } => break (node, peer, relation),
                    Comparison::NoAnswer(e) | Comparison::Incomplete(e) => e,
                },
                // No other primary: nothing to follow, and waiting would
                // only delay the failover this failed start leads to.
                Err(e) => return keep(&e),
            };
            if until.remaining() < Duration::from_secs(3) {
                return keep(&format!("{failed} (at {})", c.master_ip));
            }
            tracing::info!(
                "Cannot check the new primary yet: {failed} (at {}); asking again",
                c.master_ip
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        let end = if needs_end_of_wal(&mine, &relation) {
            Some(
                crate::pg::waldump::end_of_wal(
                    &self.tool("pg_waldump"),
                    &c.pgdata,
                    &self.pg.dba,
                    mine.timeline,
                    mine.redo,
                    self.pg.facts.version.map_or(0, |v| v.major),
                    self.pg.deadline,
                )
                .await,
            )
        } else {
            None
        };
        let baseline = if relation == Relation::SameTimeline {
            self.baseline_of(&primary).await
        } else {
            None
        };
        let proof = match may_rejoin(
            &mine,
            &self.me,
            end.as_ref(),
            &identity,
            &relation,
            baseline.as_ref(),
        ) {
            Ok(proof) => proof,
            Err(why) => return keep(&why),
        };
        let lock = self.pg.cfg.lock_file();
        std::fs::remove_file(&lock)
            .map_err(|e| Failure::generic(format!("Can't remove {}: {e}", lock.display())))?;
        tracing::info!(
            "Rejoining {primary} as its standby: {proof}. Removed {}.",
            lock.display()
        );
        Ok(true)
    }

    /// The baseline and the replaced primary `node` recorded at its
    /// promotion, when both can be read.
    async fn baseline_of(&self, node: &str) -> Option<Baseline> {
        let get = |attr: Attr| async move {
            match self.pm.get(node, Lifetime::Reboot, &self.attr(attr)).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("cannot read {} of {node}: {e}", self.attr(attr));
                    None
                }
            }
        };
        let at = Lsn::parse_attr(&get(Attr::MasterBaseline).await?)?;
        Some(Baseline {
            at,
            promoted_from: get(Attr::PromotedFrom).await,
        })
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
        if half_rewound(lock) {
            return Err(Failure::generic(format!(
                "{} says an earlier pg_rewind failed part way: rebuild the data directory \
                 (pg_basebackup), then remove it",
                lock.display()
            )));
        }
        let refuse = |why: String| {
            Failure::generic(format!(
                "Cannot rejoin this node as a standby: {why}; {} stays, repair the data \
                 directory (pg_rewind, pg_basebackup) and remove it",
                lock.display()
            ))
        };
        match self.rewind_from_primary().await {
            Ok(()) => {}
            Err(e @ RewindError::NotRewindable) => {
                return Err(Failure::configured(format!(
                    "rejoin=rewind: {e}; set wal_log_hints = on (and restart) or use rejoin=safe"
                )))
            }
            Err(e @ RewindError::Interrupted(_)) => {
                mark_half_rewound(lock);
                return Err(refuse(e.to_string()));
            }
            Err(e) => return Err(refuse(e.to_string())),
        }
        std::fs::remove_file(lock)
            .map_err(|e| Failure::generic(format!("Can't remove {}: {e}", lock.display())))?;
        tracing::info!("Removed {}, starting as a standby.", lock.display());
        Ok(())
    }

    /// A start after the monitor found this standby unable to follow
    /// (agents/follow.rs): pg_rewind from the primary first. Whatever stops
    /// the rewind, the standby starts as it is (as the stock agent starts
    /// it) and the note counts the attempt; a rewind that ran ends the
    /// episode.
    pub(super) async fn rewind_standby(&self) -> Result<(), Failure> {
        let path = follow::note_path(&self.pg.cfg.tmpdir, &self.rsc);
        let upstream = format!("the primary at {}", self.pg.cfg.master_ip);
        match follow::rewind_before_start(&path, &upstream, self.rewind_from_primary()).await {
            Ok(()) => Ok(()),
            Err(failed) if matches!(failed.error, RewindError::Interrupted(_)) => {
                // A half-rewound data directory must never run: the lock
                // keeps every later start from it until a person rebuilds it.
                let lock = self.pg.cfg.lock_file();
                mark_half_rewound(&lock);
                Err(Failure::generic(format!(
                    "This standby's rewind failed part way: {}; {} keeps it stopped, rebuild \
                     the data directory (pg_basebackup) and remove it",
                    failed.error,
                    lock.display()
                )))
            }
            Err(failed) => {
                // Nothing was changed: the standby runs as it did.
                tracing::warn!(
                    "Cannot rewind this standby from the primary: {}; starting it as it is \
                     (attempt {} of {})",
                    failed.error,
                    failed.attempt,
                    follow::MAX_ATTEMPTS
                );
                Ok(())
            }
        }
    }

    /// The monitor's half of agents/follow.rs: a standby that does not
    /// stream from `master_ip` while another node is the primary.
    pub(super) async fn watch_following(
        &self,
        view: &super::attributes::View,
        streaming: bool,
    ) -> Result<(), Failure> {
        let path = follow::note_path(&self.pg.cfg.tmpdir, &self.rsc);
        let other_primary = view
            .promoted()
            .iter()
            .any(|n| !n.eq_ignore_ascii_case(&self.me));
        let stuck = !streaming && other_primary;
        let upstream = format!("the primary at {}", self.pg.cfg.master_ip);
        let rewind = self.pg.cfg.rejoin == Rejoin::Rewind;
        follow::watch(&path, stuck, rewind, &upstream, || async {
            let Some(psql) = self.psql() else {
                return Err(format!("no psql at {} or beside pg_ctl", self.pg.cfg.psql));
            };
            let conninfo = self.primary_conninfo(&self.pg.cfg.repuser, None);
            let peer = Peer {
                psql: &psql,
                user: &self.pg.dba,
                conninfo: &conninfo,
            };
            peer.identify_system(self.pg.deadline.within(Duration::from_secs(10)))
                .await
                .map(|primary| primary.timeline)
        })
        .await
    }

    /// pg_rewind from the primary at `master_ip` (pg/rewind.rs), its
    /// outcome logged.
    async fn rewind_from_primary(&self) -> Result<(), RewindError> {
        self.another_primary().await.map_err(RewindError::Failed)?;
        let mine = ControlData::read(
            &self.tool("pg_controldata"),
            &self.pg.cfg.pgdata,
            &self.pg.dba,
            self.pg.deadline.within(Duration::from_secs(10)),
        )
        .await
        .map_err(|e| RewindError::Failed(format!("control file: {e}")))?;
        if crate::pg::pidfile::postmaster_alive(&self.pg.cfg.pgdata, &self.pg.dba).is_some() {
            return Err(RewindError::Failed("PostgreSQL is running here".into()));
        }
        // A killed postmaster's backends and PID file: gone before the
        // single-user crash recovery may run.
        self.pg
            .remove_stale_pidfile()
            .await
            .map_err(|f| RewindError::Failed(f.reason))?;
        let c = &self.pg.cfg;
        let source = self.primary_conninfo(&c.pgdba, Some("postgres"));
        let bindir = self.tool("pg_rewind");
        let bindir = bindir.parent().unwrap_or(Path::new("/"));
        let own_conf = c.pgdata.join("postgresql.conf");
        let Some(psql) = self.psql() else {
            return Err(RewindError::Failed(format!(
                "no psql at {} or beside pg_ctl",
                c.psql
            )));
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
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The node other than this one that is the primary, in a fresh
    /// snapshot.
    async fn another_primary(&self) -> Result<String, String> {
        let view = self.snapshot().await.map_err(|f| f.reason)?;
        view.promoted()
            .iter()
            .find(|n| !n.eq_ignore_ascii_case(&self.me))
            .cloned()
            .ok_or_else(|| "no other node is the primary".to_string())
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

/// What `PGSQL.lock` holds after a real pg_rewind run failed: the data
/// directory may be half rewound, and no start, not even another rewind,
/// may use it until a person rebuilds it and removes the lock. The stock
/// agent only tests that the lock exists, so it refuses such a node too.
const HALF_REWOUND: &str = "pg_rewind failed part way";

fn mark_half_rewound(lock: &Path) {
    let text = format!(
        "{HALF_REWOUND}: rebuild this data directory (pg_basebackup), then remove this file\n"
    );
    if let Err(e) = crate::os::fs::write_file(lock, text.as_bytes(), 0o644) {
        tracing::error!("Can't write {}: {e}", lock.display());
    }
}

/// Does the lock say an earlier rewind failed part way? (A lock that
/// cannot be read is not taken for one: it stays a lock all the same.)
fn half_rewound(lock: &Path) -> bool {
    crate::os::fs::read_head(lock, 256)
        .ok()
        .flatten()
        .is_some_and(|head| head.starts_with(HALF_REWOUND.as_bytes()))
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

    fn decide(mine: &ControlData, peer_tli: u32, hist: &str) -> Result<String, String> {
        let peer = Identity {
            system_id: "7300000000000000001".into(),
            timeline: peer_tli,
        };
        let r = relation(mine.timeline, mine.last_checkpoint(), peer_tli, Some(hist));
        may_rejoin(mine, "node1", None, &peer, &r, None)
    }

    fn lsn(s: &str) -> Lsn {
        Lsn::parse_pg(s).unwrap()
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
        // A standby's shutdown, an archive recovery: never.
        for state in [DbState::ShutDownInRecovery, DbState::InArchiveRecovery] {
            assert!(decide(&cd(state, "0/5000028", 2), 3, hist).is_err());
        }
        // A crash: not without the end of its WAL.
        let e = decide(&cd(DbState::InProduction, "0/5000028", 2), 3, hist).unwrap_err();
        assert!(e.contains("not read"), "{e}");
        // The same timeline without a baseline, a timeline not in the history.
        let e = decide(&cd(DbState::ShutDown, "0/5000028", 3), 3, hist).unwrap_err();
        assert!(e.contains("no baseline"), "{e}");
        assert!(decide(&cd(DbState::ShutDown, "0/2000028", 5), 6, hist).is_err());
        // Another system: compare() reports it as diverged.
        let other = Relation::Diverged("system identifier 1 is not ours".into());
        let peer = Identity {
            system_id: "1".into(),
            timeline: 3,
        };
        let mine = cd(DbState::ShutDown, "0/5000028", 2);
        assert!(may_rejoin(&mine, "node1", None, &peer, &other, None).is_err());
        // No system identifier printed: no proof.
        let mut anon = cd(DbState::ShutDown, "0/5000028", 2);
        anon.system_id = None;
        assert!(decide(&anon, 3, hist).is_err());
    }

    #[test]
    fn a_crashed_primary_needs_its_end_of_wal_before_the_fork() {
        let mine = cd(DbState::InProduction, "0/5000028", 2);
        let peer = Identity {
            system_id: "7300000000000000001".into(),
            timeline: 3,
        };
        let fork = Relation::Prefix {
            fork: lsn("0/5000110"),
        };
        assert!(needs_end_of_wal(&mine, &fork));
        assert!(!needs_end_of_wal(
            &cd(DbState::ShutDown, "0/5000028", 2),
            &fork
        ));
        let with_end =
            |e: Result<Lsn, String>| may_rejoin(&mine, "node1", Some(&e), &peer, &fork, None);
        assert!(with_end(Ok(lsn("0/5000110"))).is_ok());
        assert!(with_end(Ok(lsn("0/50000A0"))).is_ok());
        let e = with_end(Ok(lsn("0/5000118"))).unwrap_err();
        assert!(e.contains("after the point 0/5000110"), "{e}");
        let e = with_end(Err("torn".into())).unwrap_err();
        assert!(e.contains("unknown: torn"), "{e}");
    }

    #[test]
    fn the_same_timeline_needs_the_baseline_of_a_promotion_that_replaced_us() {
        let peer = Identity {
            system_id: "7300000000000000001".into(),
            timeline: 2,
        };
        let same = Relation::SameTimeline;
        let base = |from: Option<&str>| Baseline {
            at: lsn("0/6000000"),
            promoted_from: from.map(str::to_string),
        };
        for state in [DbState::ShutDown, DbState::InProduction] {
            let mine = cd(state, "0/5000028", 2);
            assert!(needs_end_of_wal(&mine, &same));
            let decide = |end: &str, b: Option<Baseline>| {
                may_rejoin(
                    &mine,
                    "node1",
                    Some(&Ok(lsn(end))),
                    &peer,
                    &same,
                    b.as_ref(),
                )
            };
            assert!(decide("0/6000000", Some(base(Some("NODE1")))).is_ok());
            assert!(decide("0/5000100", Some(base(Some("node1")))).is_ok());
            let e = decide("0/6000008", Some(base(Some("node1")))).unwrap_err();
            assert!(e.contains("never had"), "{e}");
            // A chain (node1 -> node2 -> node3): node3's baseline is a point
            // of node2's history, not ours.
            let e = decide("0/5000100", Some(base(Some("node2")))).unwrap_err();
            assert!(e.contains("replaced node2"), "{e}");
            assert!(decide("0/5000100", Some(base(None))).is_err());
            assert!(decide("0/5000100", None).is_err());
        }
    }

    #[test]
    fn the_previous_primary_is_the_one_latest_node() {
        let ds = |latest: &[&str]| -> Vec<(String, Option<String>)> {
            ["node1", "node2", "node3"]
                .iter()
                .map(|n| {
                    let s = if latest.contains(n) {
                        "LATEST"
                    } else {
                        "STREAMING|SYNC"
                    };
                    (n.to_string(), Some(s.to_string()))
                })
                .collect()
        };
        assert_eq!(
            previous_primary(&ds(&["node1"]), "node2"),
            Some("node1".into())
        );
        assert_eq!(previous_primary(&ds(&["node2"]), "node2"), None);
        assert_eq!(previous_primary(&ds(&["node1", "node3"]), "node2"), None);
        assert_eq!(previous_primary(&[("node1".into(), None)], "node2"), None);
    }
}
