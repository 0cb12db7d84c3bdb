//! `stop`: fast shutdown, escalating to immediate, never returning before
//! the postmaster is gone.
//!
//! A failed stop gets the node fenced, so this is the action that must work
//! even when the configuration is broken: `stop_without_pg_ctl` stops a
//! running server with the signals pg_ctl would send when pg_ctl itself is
//! missing.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{Config, Pgsql};
use crate::ocf::{ActionResult, Deadline, Failure, OcfRc};
use crate::os::OsUser;
use crate::pg::pidfile::{live_postmaster, postmaster_alive};
use crate::pg::PidFile;

/// Polls until the postmaster of `pgdata` is gone or `deadline`; true if gone.
async fn wait_gone(pgdata: &Path, dba: Option<&OsUser>, deadline: Deadline) -> bool {
    let mut pause = Duration::from_millis(20);
    loop {
        if live_postmaster(pgdata, dba).is_none() {
            return true;
        }
        if deadline.expired() {
            return false;
        }
        tokio::time::sleep(pause.min(deadline.remaining())).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// How long to give `-m fast` before `-m immediate`: `escalate` seconds, cut
/// to fit the operation timeout as the reference does (timeout - 10 s), and in
/// any case leaving 10 s (or a third of a short budget) for the immediate
/// shutdown.
fn fast_phase(escalate: u64, op_timeout: Option<Duration>, deadline: &Deadline) -> Duration {
    let mut secs = escalate;
    if let Some(t) = op_timeout {
        let t = t.as_secs();
        if secs >= t {
            secs = t.saturating_sub(10);
            tracing::info!(
                "stop_escalate(or stop_escalate_in_slave) time is adjusted to {secs} based on \
                 the configured timeout."
            );
        }
    }
    let left = deadline.remaining();
    let reserve = (left / 3).min(Duration::from_secs(10));
    Duration::from_secs(secs).min(left - reserve)
}

/// Which of the reference's stop flavours: the plain one (`stop_escalate`),
/// the standby one (`stop_escalate_in_slave`), or the primary's, used by
/// demote, which may also remove `PGSQL.lock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StopMode {
    Plain,
    Standby,
    Primary,
}

impl Pgsql {
    /// `stop` outside replication mode.
    pub(super) async fn stop(&self) -> ActionResult {
        self.real_stop(StopMode::Plain).await
    }

    /// `pgsql_real_stop`: fast shutdown, immediate after the escalation
    /// time, and wait until the postmaster is gone.
    pub(super) async fn real_stop(&self, mode: StopMode) -> ActionResult {
        if self.cfg.check_wal_receiver {
            let name = format!("{}-receiver-status", self.env.resource_name());
            if let Err(e) = crate::cluster::attrd::update(&name, None, self.attr_deadline()).await {
                tracing::warn!("cannot delete {name}: {e}");
            }
        }
        let Some(pf) = postmaster_alive(&self.cfg.pgdata, &self.dba) else {
            tracing::info!("PostgreSQL is already stopped.");
            return Ok(OcfRc::Success);
        };
        let escalate = match mode {
            StopMode::Standby => self.cfg.stop_escalate_in_slave,
            StopMode::Plain | StopMode::Primary => self.cfg.stop_escalate,
        };
        let fast = fast_phase(escalate, self.env.op_timeout(), &self.deadline);
        let mut gone = false;
        if !fast.is_zero() {
            match self.pg_ctl_stop("fast", self.deadline.within(fast)).await {
                Ok(out) if !out.success() => {
                    tracing::warn!("pg_ctl stop -m fast: {}", out.combined())
                }
                Err(e) => tracing::warn!("pg_ctl stop -m fast: {e}"),
                Ok(_) => {}
            }
            gone = wait_gone(
                &self.cfg.pgdata,
                Some(&self.dba),
                self.deadline.within(fast),
            )
            .await;
            if !gone {
                tracing::info!(
                    "PostgreSQL failed to stop after {}s using -m fast. Trying -m immediate...",
                    fast.as_secs()
                );
            }
        }
        if !gone {
            match self.pg_ctl_stop("immediate", self.deadline).await {
                Ok(out) if !out.success() => {
                    tracing::warn!("pg_ctl stop -m immediate: {}", out.combined())
                }
                Err(e) => {
                    // pg_ctl could not even run: send SIGQUIT ourselves.
                    tracing::warn!("pg_ctl stop -m immediate: {e}; sending SIGQUIT");
                    let _ = kill(Pid::from_raw(pf.pid), Signal::SIGQUIT);
                }
                Ok(_) => {}
            }
            if !wait_gone(&self.cfg.pgdata, Some(&self.dba), self.deadline).await {
                return Err(Failure::generic(format!(
                    "PostgreSQL (pid {}) is still running after fast and immediate shutdown",
                    pf.pid
                )));
            }
        }
        if mode == StopMode::Primary {
            self.release_lock_if_no_standby();
        }
        self.stopped()
    }

    /// A demoted primary may drop `PGSQL.lock` only when no instance was a
    /// standby when Pacemaker planned the transition (the notify list of
    /// unpromoted instances is empty, which Pacemaker renders as " "): then
    /// no other node can have newer data.
    fn release_lock_if_no_standby(&self) {
        let slaves = self
            .env
            .meta("notify_unpromoted_uname")
            .or_else(|| self.env.meta("notify_slave_uname"));
        if slaves.is_some_and(|s| s.trim().is_empty()) {
            let lock = self.cfg.tmpdir.join("PGSQL.lock");
            if lock.exists() {
                tracing::info!("Removing {}.", lock.display());
                let _ = std::fs::remove_file(lock);
            }
        }
    }

    fn stopped(&self) -> ActionResult {
        remove_dead_pidfile(&self.cfg.pgdata, Some(&self.dba));
        tracing::info!("PostgreSQL is down");
        Ok(OcfRc::Success)
    }
}

/// The postmaster we stopped is gone; a PID file it left behind goes too, once
/// nothing of that server remains.
fn remove_dead_pidfile(pgdata: &Path, dba: Option<&OsUser>) {
    if live_postmaster(pgdata, dba).is_some() {
        return;
    }
    if PidFile::read(pgdata).is_some_and(|pf| pf.server_fully_gone()) {
        let _ = std::fs::remove_file(pgdata.join("postmaster.pid"));
    }
}

/// Stops a running server with signals (SIGINT = fast shutdown, then SIGQUIT
/// = immediate), for when the configuration is too broken to run pg_ctl.
/// `dba` is `None` when the configured PostgreSQL user does not exist; then
/// whatever process the PID file names is stopped.
pub(super) async fn stop_without_pg_ctl(
    cfg: &Config,
    dba: Option<&OsUser>,
    deadline: Deadline,
) -> ActionResult {
    let Some(pf) = live_postmaster(&cfg.pgdata, dba) else {
        return Ok(OcfRc::Success);
    };
    let pid = Pid::from_raw(pf.pid);
    let fast = fast_phase(cfg.stop_escalate, None, &deadline);
    let _ = kill(pid, Signal::SIGINT);
    if wait_gone(&cfg.pgdata, dba, deadline.within(fast)).await {
        remove_dead_pidfile(&cfg.pgdata, dba);
        return Ok(OcfRc::Success);
    }
    let _ = kill(pid, Signal::SIGQUIT);
    if wait_gone(&cfg.pgdata, dba, deadline).await {
        remove_dead_pidfile(&cfg.pgdata, dba);
        return Ok(OcfRc::Success);
    }
    Err(Failure::generic(format!(
        "PostgreSQL (pid {}) is still running after SIGINT and SIGQUIT",
        pf.pid
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_fits_the_timeout() {
        let d = Deadline::from_timeout(Duration::from_secs(120));
        // 90 < 120: kept (the budget is 115 s, 10 s stay for immediate).
        assert_eq!(
            fast_phase(90, Some(Duration::from_secs(120)), &d).as_secs(),
            90
        );
        // 90 >= 60: timeout - 10 as the reference, then capped so that 10 s
        // of our 55 s budget remain.
        let d = Deadline::from_timeout(Duration::from_secs(60));
        assert!(fast_phase(90, Some(Duration::from_secs(60)), &d).as_secs() >= 44);
        assert!(fast_phase(90, Some(Duration::from_secs(60)), &d).as_secs() <= 45);
        let d = Deadline::from_timeout(Duration::from_secs(600));
        assert_eq!(
            fast_phase(5, Some(Duration::from_secs(600)), &d).as_secs(),
            5
        );
    }
}
