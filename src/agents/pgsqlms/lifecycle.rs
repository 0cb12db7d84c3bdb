//! start, stop and demote.
//!
//! Every instance starts as a standby (standby.signal from 12, a copy of
//! `recovery_template` before); promotion is a separate step. Demote is a
//! clean stop and a start as standby: that is how PAF switches over without
//! rebuilding the old primary.
//!
//! Departures from PAF, all in the direction of letting the cluster recover
//! without risking data (docs/compatibility.md, PAF section):
//! - stop of a crashed instance (nothing runs, control file says running)
//!   succeeds instead of failing and getting the node fenced (#162, #173,
//!   #205); start keeps refusing a crashed primary, so it is never turned
//!   into a standby behind the administrator's back;
//! - a crashed standby may be started again as a standby (what PAF's
//!   pre-stop recovery does, without the stop/start detour);
//! - a fast stop that does not finish in time is followed by an immediate
//!   one (a crash, from which PostgreSQL recovers) instead of failing;
//! - a cleanly stopped former primary whose last checkpoint lies beyond the
//!   point where the current primary's timeline forked is not started as a
//!   standby (`divergence.rs`): PAF starts it and leaves replication broken;
//! - with `rejoin=rewind`, a standby the monitor found unable to follow the
//!   primary is rewound from it before it starts (`follow.rs`).

use crate::pg::rewind::Rejoin;
use std::time::Duration;

use super::state::State;
use super::Paf;
use crate::cluster::vocabulary::Score;
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::controldata::DbState;
use crate::pg::ctl::{Shutdown, Wait};
use crate::pg::PidFile;

impl Paf {
    pub async fn start(&self) -> ActionResult {
        let state = self.state().await;
        let before = self.controldata().await?;
        match &state {
            State::Standby => {
                tracing::info!("Instance \"{}\" already started", self.rsc);
                return Ok(OcfRc::Success);
            }
            State::Stopped => {}
            State::CrashedStandby => tracing::warn!(
                "Instance \"{}\" crashed as a standby; starting it as a standby again \
                 (crash recovery, then replication)",
                self.rsc
            ),
            // Ours (rejoin=rewind): a primary that crashed comes back as a
            // standby of the current primary, rewound if it must be.
            State::CrashedPrimary if self.cfg.rejoin == Some(Rejoin::Rewind) => {
                let Some(conninfo) = self.primary_conninfo().await.filter(|c| !c.is_empty()) else {
                    return Err(Failure::generic(format!(
                        "Instance \"{}\" crashed as a primary and no primary_conninfo is set to \
                         rewind it from",
                        self.rsc
                    )));
                };
                self.rewind(&before, &conninfo).await?;
            }
            other => {
                return Err(Failure::generic(format!(
                    "Unexpected state for instance \"{}\" (returned {}): {}",
                    self.rsc,
                    other.rc().code(),
                    other.describe(&self.rsc)
                )))
            }
        }
        // Ours (rejoin=rewind): a standby the monitor found unable to follow
        // the primary, and stopped cleanly since, is rewound first
        // (follow.rs). A former primary is divergence.rs's (a crashed one
        // was rewound just now). A crashed standby starts as it is (its
        // crash recovery cannot run in single-user mode beside
        // standby.signal); its next monitor finds the note and asks for
        // the restart again.
        let mut before = before;
        if self.cfg.rejoin == Some(Rejoin::Rewind)
            && before.state == DbState::ShutDownInRecovery
            && self.rewind_standby(&before).await?
        {
            before = self.controldata().await?;
        }
        if before.state == DbState::ShutDown {
            self.refuse_if_diverged(&before).await?;
        }
        self.enable_recovery()?;
        if let Err(e) = self.pg_ctl_start().await {
            return Err(Failure::generic(format!(
                "Instance \"{}\" failed to start (rc: {e})",
                self.rsc
            )));
        }
        let state = self.wait_while(|s| *s == State::Stopped).await;
        if state != State::Standby {
            return Err(Failure::generic(format!(
                "Instance \"{}\" is not running as a standby (returned {}): {}",
                self.rsc,
                state.rc().code(),
                state.describe(&self.rsc)
            )));
        }
        tracing::info!("Instance \"{}\" started", self.rsc);
        // First start of a cluster: nobody has a promotion score yet, and
        // Pacemaker promotes nobody. The former primary (cleanly shut down)
        // proposes itself.
        if before.state == DbState::ShutDown {
            match self.any_score_around().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!("No master score around. Set mine to 1");
                    self.set_score(&self.node, Score::Value(1)).await?;
                }
                Err(e) => tracing::warn!("Could not read the partition's promotion scores: {e}"),
            }
        }
        Ok(OcfRc::Success)
    }

    /// Polls the state every second while `cond` holds, within the deadline.
    pub async fn wait_while(&self, cond: impl Fn(&State) -> bool) -> State {
        loop {
            let s = self.state().await;
            if !cond(&s) || self.deadline.remaining() <= Duration::from_secs(1) {
                return s;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Is there a score of 0 or more on a member of the partition?
    async fn any_score_around(&self) -> Result<bool, crate::cluster::ClusterError> {
        for node in self.pcmk.partition().await? {
            if let Some(v) = self.pcmk.promotion_score(&node).await? {
                if Score::parse(&v).is_some_and(|s| s.as_i64() > -1) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// standby.signal (12+) or the template copied to recovery.conf.
    fn enable_recovery(&self) -> Result<(), Failure> {
        let (file, content) = if self.version.at_least(12, 0) {
            (self.cfg.datadir.join("standby.signal"), String::new())
        } else {
            let text = std::fs::read_to_string(&self.cfg.recovery_template).map_err(|e| {
                Failure::configured(format!(
                    "Could not open file \"{}\": {e}",
                    self.cfg.recovery_template.display()
                ))
            })?;
            (self.cfg.datadir.join("recovery.conf"), text)
        };
        crate::pg::settings::write_owned(&file, &content, &self.user).map_err(|e| {
            Failure::configured(format!("Could not open file \"{}\": {e}", file.display()))
        })
    }

    /// What remains of a server whose postmaster is gone: backends still
    /// attached to its shared memory (issue #173). `None` when nothing.
    fn leftovers(&self) -> Option<String> {
        let pf = PidFile::read(&self.cfg.datadir)?;
        if crate::pg::pidfile::postmaster_alive(&self.cfg.datadir, &self.user).is_some() {
            return Some(format!("postmaster {} is alive", pf.pid));
        }
        match pf.shm_id.and_then(crate::pg::pidfile::shm_attached) {
            Some(n) if n > 0 => Some(format!(
                "{n} process(es) of the crashed server are still attached to its shared memory"
            )),
            _ => None,
        }
    }

    pub async fn stop(&self) -> ActionResult {
        let state = self.state().await;
        match &state {
            State::Stopped => {
                tracing::info!("Instance \"{}\" already stopped", self.rsc);
                return Ok(OcfRc::Success);
            }
            State::Standby | State::Primary => {}
            other => {
                if crate::pg::pidfile::postmaster_alive(&self.cfg.datadir, &self.user).is_none() {
                    // Nothing is running (PAF fails here and the node is
                    // fenced). The instance stays as it ended; start refuses
                    // a crashed primary.
                    return self.stopped_after_crash(other).await;
                }
                tracing::warn!(
                    "{}; the postmaster is alive, stopping it",
                    other.describe(&self.rsc)
                );
            }
        }
        // A fast shutdown waits for no client but may wait for a checkpoint
        // or a stuck backend. An immediate shutdown is a crash PostgreSQL
        // recovers from; fencing would be the same crash, of the whole node.
        let fast_budget = self.deadline.remaining().mul_f64(0.66);
        let stopped = self
            .pg_ctl()
            .stop_escalating(fast_budget, self.deadline)
            .await;
        let fast_ok = stopped.fast_ok();
        if let Some(fast) = stopped.fast.as_ref().filter(|_| !fast_ok) {
            tracing::warn!(
                "Fast stop of instance \"{}\" did not finish ({}); stopped it in immediate mode",
                self.rsc,
                crate::pg::ctl::describe(fast)
            );
        }
        if !stopped.gone {
            return Err(Failure::generic(format!(
                "Instance \"{}\" failed to stop",
                self.rsc
            )));
        }
        let state = self
            .wait_while(|s| matches!(s, State::Standby | State::Primary))
            .await;
        match state {
            State::Stopped => {
                tracing::info!("Instance \"{}\" stopped", self.rsc);
                Ok(OcfRc::Success)
            }
            State::CrashedPrimary | State::CrashedStandby if !fast_ok => {
                self.stopped_after_crash(&state).await
            }
            other => Err(Failure::generic(format!(
                "Instance \"{}\" failed to stop: {}",
                self.rsc,
                other.describe(&self.rsc)
            ))),
        }
    }

    /// Stop of an instance that is not running but did not stop cleanly:
    /// success once nothing of it is left.
    async fn stopped_after_crash(&self, state: &State) -> ActionResult {
        loop {
            match self.leftovers() {
                None => {
                    tracing::warn!(
                        "{}; nothing of it runs, so it is stopped (left as it is: a crashed \
                         primary will not be started as a standby)",
                        state.describe(&self.rsc)
                    );
                    return Ok(OcfRc::Success);
                }
                Some(what) if self.deadline.remaining() <= Duration::from_secs(1) => {
                    return Err(Failure::generic(format!(
                        "Instance \"{}\" is not running but {what}",
                        self.rsc
                    )))
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    pub async fn demote(&self) -> ActionResult {
        let state = self.state().await;
        // Cut off without fencing (mod.rs `stop_cut_off`): stop at once and
        // stay stopped. A fast shutdown would still write and archive WAL the
        // new primary lacks, and a standby started here waits for a primary
        // that a partition without quorum cannot reach (its start hung until
        // the demote's timeout); Pacemaker stops everything here next anyway.
        let cut_off = match state {
            State::Standby => false,
            _ => match self.pcmk.status(&self.rsc).await {
                Ok(st) => self.pcmk.cut_off(&st).await,
                Err(_) => false,
            },
        };
        match state {
            State::Primary if cut_off => {
                if !self
                    .pg_ctl()
                    .stop_escalating(Duration::ZERO, self.deadline)
                    .await
                    .gone
                {
                    return Err(Failure::generic(format!(
                        "Failed to stop \"{}\" using pg_ctl (immediate shutdown)",
                        self.rsc
                    )));
                }
            }
            State::Primary => {
                let out = self
                    .pg_ctl()
                    .stop(Shutdown::Fast, Wait::Yes, self.deadline)
                    .await;
                let rc = match &out {
                    Ok(o) if o.success() => None,
                    Ok(o) => Some(o.status.code().unwrap_or(-1)),
                    Err(_) => Some(-1),
                };
                if let Some(rc) = rc {
                    return Err(Failure::generic(format!(
                        "Failed to stop \"{}\" using pg_ctl (returned {rc})",
                        self.rsc
                    )));
                }
                let after = self.state().await;
                if after != State::Stopped {
                    return Err(Failure::generic(format!(
                        "Unexpected \"{}\" state: monitor status ({}) disagree with pg_ctl \
                         return code",
                        self.rsc,
                        after.rc().code()
                    )));
                }
            }
            State::Standby => return Ok(OcfRc::Success),
            // Demoting a cleanly stopped instance starts it as a standby
            // (PAF's deliberate choice, against a demote/stop/start loop).
            State::Stopped => {}
            State::Failed(f) if f.rc == OcfRc::ErrConfigured => return Err(f),
            other => {
                return Err(Failure::generic(format!(
                    "Cannot demote instance \"{}\": {}",
                    self.rsc,
                    other.describe(&self.rsc)
                )))
            }
        }
        if cut_off {
            tracing::info!(
                "pgsql_demote: \"{}\" stays stopped: this partition has no quorum and fencing \
                 is disabled",
                self.rsc
            );
            return Ok(OcfRc::Success);
        }
        match self.start().await {
            Ok(_) => {
                tracing::info!("pgsql_demote: \"{}\" started as a secondary", self.rsc);
                Ok(OcfRc::Success)
            }
            Err(f) => Err(Failure::generic(format!(
                "Starting \"{}\" as a standby failed (returned {}): {}",
                self.rsc,
                f.rc.code(),
                f.reason
            ))),
        }
    }
}
