//! A standby that cannot follow the primary, in PAF's contract
//! (agents/follow.rs has the note, the decision and the messages).
//!
//! PAF's standby monitor only asks whether PostgreSQL runs in recovery: a
//! standby whose WAL went past the new primary's history stays "healthy"
//! while its WAL receiver retries for ever. Here, when
//! `pg_stat_wal_receiver` shows no streaming, one `crm_mon` says whether
//! another node is the primary (a streaming standby still calls no cluster
//! tool). The primary is the server `primary_conninfo` names, as for the
//! divergence check and the rewind of a former primary (divergence.rs); it
//! is named in messages only as that, since the string may hold a password.
//!
//! PAF has no `tmpdir`: the note lives in the resource agents' runtime
//! directory (`HA_RSCTMP`), where PAF itself keeps its temporary files
//! (compatibility PAF-14). A reboot empties it, as it should: a node that
//! restarts starts a new episode.
//!
//! A start of a cleanly stopped standby that finds the note rewinds first;
//! when the rewind does not succeed the start fails with the reason. Unlike
//! the pgsql personality's standby, which starts as it is, a standby whose
//! rewind failed is not started: it may have diverged, and a pg_rewind
//! that stopped half-way leaves a data directory that must not run.

use std::path::PathBuf;
use std::time::Duration;

use super::Paf;
use crate::agents::follow;
use crate::ocf::Failure;
use crate::pg::controldata::ControlData;
use crate::pg::replication::Peer;
use crate::pg::rewind::Rejoin;
use crate::pg::Session;

/// How the messages name the primary.
const UPSTREAM: &str = "the primary (primary_conninfo)";

/// Where ocf-shellfuncs puts the resource agents' runtime files when
/// Pacemaker does not say (`HA_RSCTMP`).
const DEFAULT_RSCTMP: &str = "/run/resource-agents";

impl Paf {
    /// `<HA_RSCTMP>/.<rsc>-not-following`.
    fn follow_note(&self) -> PathBuf {
        let dir = self
            .env
            .var("HA_RSCTMP")
            .filter(|d| !d.trim().is_empty())
            .unwrap_or(DEFAULT_RSCTMP);
        follow::note_path(std::path::Path::new(dir), &self.rsc)
    }

    /// The monitor's half on a running standby, with the session the
    /// monitor opened.
    pub(super) async fn watch_following(&self, session: &Session) -> Result<(), Failure> {
        // pg_stat_wal_receiver exists from 9.6 on.
        if !self.version.at_least(9, 6) {
            return Ok(());
        }
        let path = self.follow_note();
        let rows = match session
            .simple_query("SELECT status FROM pg_stat_wal_receiver")
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!("pg_stat_wal_receiver: {e}");
                return Ok(());
            }
        };
        let streaming = match rows.first().map(|r| r.first().cloned().flatten()) {
            // No WAL receiver at all.
            None => false,
            Some(Some(status)) => status == "streaming",
            // A row without its status (a role without pg_read_all_stats):
            // nothing can be told.
            Some(None) => return Ok(()),
        };
        if streaming {
            if path.exists() {
                follow::forget(&path);
            }
            return Ok(());
        }
        let other_primary = match self.pcmk.status(&self.rsc).await {
            Ok(st) => st
                .promoted
                .iter()
                .any(|n| !n.eq_ignore_ascii_case(&self.node)),
            Err(e) => {
                tracing::debug!("cannot tell whether a primary runs: {e}");
                return Ok(());
            }
        };
        let rewind = self.cfg.rejoin == Some(Rejoin::Rewind);
        follow::watch(&path, other_primary, rewind, UPSTREAM, || async {
            let conninfo = self
                .primary_conninfo()
                .await
                .filter(|c| !c.is_empty())
                .ok_or_else(|| "no primary_conninfo is set".to_string())?;
            let psql = self.cfg.bin("psql");
            let peer = Peer {
                psql: &psql,
                user: &self.user,
                conninfo: &conninfo,
            };
            peer.identify_system(self.deadline.within(Duration::from_secs(10)))
                .await
                .map(|primary| primary.timeline)
        })
        .await
    }

    /// A primary follows nobody: a note of the time it was a standby goes
    /// (a later demote must not rewind it from an old episode).
    pub(super) fn primary_now(&self) {
        let path = self.follow_note();
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("this node is the primary: {} removed", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
    }

    /// The start's half (`rejoin=rewind`): when the monitor left a note,
    /// pg_rewind from the server `primary_conninfo` names before the start
    /// (divergence.rs `rewind`). True when it ran, and the control data
    /// must be read again.
    pub(super) async fn rewind_standby(&self, before: &ControlData) -> Result<bool, Failure> {
        let path = self.follow_note();
        if !path.exists() {
            return Ok(false);
        }
        let rewind = async {
            let conninfo = self
                .primary_conninfo()
                .await
                .filter(|c| !c.is_empty())
                .ok_or_else(|| "no primary_conninfo is set to rewind it from".to_string())?;
            self.try_rewind(before, &conninfo)
                .await
                .map_err(|e| e.to_string())
        };
        match follow::rewind_before_start(&path, UPSTREAM, rewind).await {
            Ok(()) => Ok(true),
            Err(failed) => Err(Failure::generic(format!(
                "Instance \"{}\" could not follow the primary and could not be rewound \
                 (attempt {} of {}): {}. It is not started as a standby that may have diverged",
                self.rsc,
                failed.attempt,
                follow::MAX_ATTEMPTS,
                failed.error
            ))),
        }
    }
}
