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

use super::conninfo::setting_line;
use super::controldata::ControlData;
use super::Paf;
use crate::ocf::Failure;
use crate::pg::Lsn;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Our WAL is a prefix of the primary's history.
    Follows,
    Diverged(String),
}

/// The switch point of `tl` in a timeline history file (`parent_tli \t
/// switchpoint \t reason` per line).
fn switch_point(history: &str, tl: u32) -> Option<Lsn> {
    history.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let parent: u32 = f.next()?.parse().ok()?;
        let lsn = Lsn::parse_pg(f.next()?)?;
        (parent == tl).then_some(lsn)
    })
}

/// The decision, from our control file and the primary's answers.
pub fn judge(local_tl: u32, local_last: Lsn, primary_tl: u32, history: Option<&str>) -> Verdict {
    if primary_tl == local_tl {
        return Verdict::Follows;
    }
    if primary_tl < local_tl {
        return Verdict::Diverged(format!(
            "its timeline {local_tl} is newer than the primary's timeline {primary_tl}"
        ));
    }
    match history.and_then(|h| switch_point(h, local_tl)) {
        None => Verdict::Diverged(format!(
            "timeline {local_tl} is not in the history of the primary's timeline {primary_tl}"
        )),
        Some(fork) if local_last >= fork => Verdict::Diverged(format!(
            "its last checkpoint {local_last} on timeline {local_tl} is at or after the point \
             {fork} where the primary's timeline {primary_tl} forked off"
        )),
        Some(_) => Verdict::Follows,
    }
}

/// `conninfo` made a physical replication connection string.
fn replication_conninfo(conninfo: &str) -> String {
    let c = conninfo.trim();
    if c.starts_with("postgresql://") || c.starts_with("postgres://") {
        let sep = if c.contains('?') { '&' } else { '?' };
        format!("{c}{sep}replication=true")
    } else {
        format!("{c} replication=true")
    }
}

const FS: char = '\u{1f}';
const RS: char = '\u{1e}';

impl Paf {
    /// The effective `primary_conninfo` (12+: `postgres -C`; before: the
    /// recovery template).
    async fn primary_conninfo(&self) -> Option<String> {
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
            text.lines()
                .filter(|l| setting_line(l).is_some_and(|(k, _)| k == "primary_conninfo"))
                .filter_map(super::conninfo::quoted_value)
                .next_back()
        }
    }

    /// Runs one replication command through psql; rows split.
    async fn replication_query(
        &self,
        conninfo: &str,
        command: &str,
    ) -> Result<Vec<Vec<String>>, String> {
        let out = self
            .pg_cmd("psql")
            .args(["-X", "-q", "-A", "-t"])
            .arg(format!("--field-separator={FS}"))
            .arg(format!("--record-separator={RS}"))
            .arg("-d")
            .arg(replication_conninfo(conninfo))
            .args(["-c", command])
            .env("PGCONNECT_TIMEOUT", "5")
            .run(self.deadline.within(Duration::from_secs(10)))
            .await
            .map_err(|e| e.to_string())?;
        if !out.success() {
            return Err(out.combined());
        }
        let text = out.stdout.strip_suffix('\n').unwrap_or(&out.stdout);
        Ok(text
            .split(RS)
            .filter(|r| !r.is_empty())
            .map(|r| r.split(FS).map(str::to_string).collect())
            .collect())
    }

    /// Refuses to start a former primary that diverged from the server its
    /// primary_conninfo names.
    pub async fn refuse_if_diverged(&self, cd: &ControlData) -> Result<(), Failure> {
        let Some(conninfo) = self.primary_conninfo().await.filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        let ident = match self.replication_query(&conninfo, "IDENTIFY_SYSTEM").await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::info!(
                    "No primary answers on primary_conninfo ({}); the timeline of instance \
                     \"{}\" cannot be compared",
                    e.trim(),
                    self.rsc
                );
                return Ok(());
            }
        };
        let Some(row) = ident.first().filter(|r| r.len() >= 2) else {
            return Ok(());
        };
        let diverged = |why: String| {
            Failure::generic(format!(
                "Instance \"{}\" was a primary and has diverged from the server primary_conninfo \
                 names: {why}. Rebuild it (pg_rewind or pg_basebackup) before it can run as a \
                 standby",
                self.rsc
            ))
        };
        if let Some(ours) = &cd.system_id {
            if &row[0] != ours {
                return Err(diverged(format!(
                    "system identifier {} is not ours ({ours})",
                    row[0]
                )));
            }
        }
        let Ok(primary_tl) = row[1].trim().parse::<u32>() else {
            return Ok(());
        };
        let history = if primary_tl > cd.timeline {
            match self
                .replication_query(&conninfo, &format!("TIMELINE_HISTORY {primary_tl}"))
                .await
            {
                Ok(rows) => rows.first().and_then(|r| r.get(1)).cloned(),
                Err(e) => {
                    tracing::warn!("TIMELINE_HISTORY {primary_tl} failed: {}", e.trim());
                    return Ok(());
                }
            }
        } else {
            None
        };
        let last = cd.checkpoint.unwrap_or(cd.redo);
        match judge(cd.timeline, last, primary_tl, history.as_deref()) {
            Verdict::Follows => Ok(()),
            Verdict::Diverged(why) => Err(diverged(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(s: &str) -> Lsn {
        Lsn::parse_pg(s).unwrap()
    }

    const HISTORY: &str = "1\t0/3000158\tno recovery target specified\n\
                           2\t0/5000A28\tno recovery target specified\n";

    #[test]
    fn same_timeline_follows() {
        assert_eq!(judge(3, lsn("0/9000000"), 3, None), Verdict::Follows);
    }

    #[test]
    fn checkpoint_before_the_fork_follows() {
        // A switchover: the old primary's shutdown checkpoint was received
        // and the new timeline starts after it.
        assert_eq!(
            judge(2, lsn("0/50009B0"), 3, Some(HISTORY)),
            Verdict::Follows
        );
        assert_eq!(
            judge(1, lsn("0/3000100"), 3, Some(HISTORY)),
            Verdict::Follows
        );
    }

    #[test]
    fn checkpoint_after_the_fork_diverged() {
        assert!(matches!(
            judge(2, lsn("0/6000000"), 3, Some(HISTORY)),
            Verdict::Diverged(_)
        ));
        assert!(matches!(
            judge(2, lsn("0/5000A28"), 3, Some(HISTORY)),
            Verdict::Diverged(_)
        ));
    }

    #[test]
    fn foreign_or_newer_timelines_diverged() {
        assert!(matches!(
            judge(5, lsn("0/1"), 3, Some(HISTORY)),
            Verdict::Diverged(_)
        ));
        assert!(matches!(
            judge(4, lsn("0/1"), 6, Some(HISTORY)),
            Verdict::Diverged(_)
        ));
    }

    #[test]
    fn replication_strings() {
        assert_eq!(
            replication_conninfo("host=/tmp application_name=srv1"),
            "host=/tmp application_name=srv1 replication=true"
        );
        assert_eq!(
            replication_conninfo("postgresql://h/db?application_name=a"),
            "postgresql://h/db?application_name=a&replication=true"
        );
        assert_eq!(
            replication_conninfo("postgres://h"),
            "postgres://h?replication=true"
        );
    }
}
