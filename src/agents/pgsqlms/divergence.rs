//! Has a cleanly stopped former primary diverged from the current primary?
//!
//! After a failover the old primary may hold WAL the new primary never
//! received. PAF starts it as a standby anyway: it runs, its WAL receiver
//! cannot follow the new timeline ("new timeline N forked off current
//! database system timeline M before current recovery point"), and it
//! serves stale reads until someone notices (issue #123). Before starting a
//! former primary we ask the server `primary_conninfo` points to (through a
//! replication connection, which the standby needs anyway) for its
//! timeline and history, as pg_rewind does: if our last checkpoint lies at
//! or beyond the point where our timeline ended in that history, the data
//! directory has diverged and must be rebuilt (pg_rewind or pg_basebackup)
//! before it can follow.
//!
//! When no server answers (the first start of a cluster: nothing runs yet),
//! nothing can be compared and the start goes on as PAF's would.

use std::time::Duration;

use super::Paf;
use crate::ocf::Failure;
use crate::pg::conninfo;
use crate::pg::controldata::ControlData;
use crate::pg::replication::{Comparison, Peer};
use crate::pg::rewind::{Outcome, Rejoin, Rewind, RewindError};
use crate::pg::timeline::Relation;

/// What the comparison means for PAF's start: `Ok` to go on, `Err(why)`
/// when the data directory diverged. Nobody answering, or the same
/// timeline, is not a reason to refuse (PAF's own behaviour).
pub fn verdict(comparison: &Comparison) -> Result<(), String> {
    match comparison {
        Comparison::Compared {
            relation: Relation::Diverged(why),
            ..
        } => Err(why.clone()),
        _ => Ok(()),
    }
}

impl Paf {
    /// The effective `primary_conninfo` (12+: `postgres -C`; before: the
    /// recovery template).
    pub async fn primary_conninfo(&self) -> Option<String> {
        if self.version.at_least(12, 0) {
            let opts = shell_words::split(&self.cfg.start_opts).ok()?;
            let out = self
                .pg_cmd("postgres")
                .args(["-C", "primary_conninfo", "-D"])
                .arg(&self.cfg.pgdata)
                .args(opts)
                .run(self.deadline.within(Duration::from_secs(10)))
                .await
                .ok()?;
            out.success()
                .then(|| out.stdout.trim_end_matches('\n').to_string())
        } else {
            let text = std::fs::read_to_string(&self.cfg.recovery_template).ok()?;
            crate::pg::conf::get_in(&text, "primary_conninfo")
        }
    }

    /// Refuses to start a former primary that diverged from the server its
    /// primary_conninfo names.
    pub async fn refuse_if_diverged(&self, cd: &ControlData) -> Result<(), Failure> {
        let Some(conninfo) = self.primary_conninfo().await.filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        let psql = self.cfg.bin("psql");
        let peer = Peer {
            psql: &psql,
            user: &self.user,
            conninfo: &conninfo,
        };
        let comparison = peer.compare(cd, self.deadline).await;
        match &comparison {
            Comparison::NoAnswer(e) => tracing::info!(
                "No primary answers on primary_conninfo ({}); the timeline of instance \
                 \"{}\" cannot be compared",
                e.trim(),
                self.rsc
            ),
            Comparison::Incomplete(e) => tracing::warn!("{}", e.trim()),
            Comparison::Compared { .. } => {}
        }
        match verdict(&comparison) {
            Ok(()) => Ok(()),
            Err(why) if self.cfg.rejoin == Some(Rejoin::Rewind) => {
                tracing::info!(
                    "Instance \"{}\" was a primary and has diverged ({why}); rejoin=rewind: \
                     running pg_rewind",
                    self.rsc
                );
                self.rewind(cd, &conninfo).await
            }
            Err(why) => Err(Failure::generic(format!(
                "Instance \"{}\" was a primary and has diverged from the server primary_conninfo \
                 names: {why}. Rebuild it (pg_rewind or pg_basebackup) before it can run as a \
                 standby",
                self.rsc
            ))),
        }
    }

    /// `rejoin=rewind`: pg_rewind from the server `conninfo` names (as
    /// `system_user`, to the `postgres` database), pg/rewind.rs. A crashed
    /// primary goes through crash recovery first.
    pub async fn rewind(&self, cd: &ControlData, conninfo: &str) -> Result<(), Failure> {
        self.try_rewind(cd, conninfo).await.map_err(|e| {
            Failure::generic(format!(
                "Instance \"{}\" could not be rewound: {e}",
                self.rsc
            ))
        })
    }

    /// [`Paf::rewind`], its outcome logged, its error as pg/rewind.rs says.
    pub async fn try_rewind(&self, cd: &ControlData, conninfo: &str) -> Result<(), RewindError> {
        let source = conninfo::with_parameter(
            &conninfo::with_parameter(conninfo, "user", &self.cfg.system_user),
            "dbname",
            "postgres",
        );
        let psql = self.cfg.bin("psql");
        let own_conf = self.cfg.pgdata.join("postgresql.conf");
        let keep_in = self
            .cfg
            .datadir
            .parent()
            .unwrap_or(std::path::Path::new("/"))
            .to_path_buf();
        let rewind = Rewind {
            bindir: &self.cfg.bindir,
            psql: &psql,
            pgdata: &self.cfg.datadir,
            config_file: (self.cfg.pgdata != self.cfg.datadir).then_some(own_conf.as_path()),
            dba: &self.user,
            source: &source,
            keep_in: &keep_in,
            major: self.version.major,
        };
        match rewind.run(cd, self.deadline).await {
            Ok(Outcome::NotNeeded) => {
                tracing::info!(
                    "pg_rewind: no rewind required for instance \"{}\"",
                    self.rsc
                );
                Ok(())
            }
            Ok(Outcome::Rewound { diverged_at, kept }) => {
                tracing::warn!(
                    "Instance \"{}\" rewound: the histories diverged at {} on timeline {}; \
                     the WAL it had after that and its configuration files are kept in {}",
                    self.rsc,
                    diverged_at.as_deref().unwrap_or("(not printed)"),
                    cd.timeline,
                    kept.display()
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::replication::Identity;
    use crate::pg::Lsn;

    fn compared(relation: Relation) -> Comparison {
        Comparison::Compared {
            peer: Identity {
                system_id: "1".into(),
                timeline: 3,
            },
            ours: Lsn::default(),
            relation,
        }
    }

    #[test]
    fn only_a_proven_divergence_refuses() {
        assert!(verdict(&Comparison::NoAnswer("refused".into())).is_ok());
        assert!(verdict(&Comparison::Incomplete("no history".into())).is_ok());
        assert!(verdict(&compared(Relation::SameTimeline)).is_ok());
        assert!(verdict(&compared(Relation::Prefix {
            fork: Lsn::default()
        }))
        .is_ok());
        assert_eq!(
            verdict(&compared(Relation::Diverged("why".into()))),
            Err("why".to_string())
        );
    }
}
