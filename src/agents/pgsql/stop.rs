//! `stop`: fast shutdown, escalating to immediate, never returning before
//! the postmaster is gone.
//!
//! A failed stop gets the node fenced, so this is the action that must work
//! even when the configuration is broken: `stop_without_pg_ctl` stops a
//! running server with the signals pg_ctl would send when pg_ctl itself is
//! missing.

use std::time::Duration;

use super::{Config, Pgsql};
use crate::ocf::{ActionResult, Deadline, Failure, OcfRc};
use crate::os::OsUser;
use crate::pg::ctl::{remove_dead_pidfile, stop_with_signals};
use crate::pg::pidfile::postmaster_alive;

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
/// demote, which may also remove `PGSQL.lock`; or a primary cut off from
/// the cluster without fencing, stopped at once (immediate shutdown: no
/// more commits, nothing more archived; docs/architecture.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StopMode {
    Plain,
    Standby,
    Primary,
    Partitioned,
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
            let name =
                crate::cluster::vocabulary::Attr::ReceiverStatus.name(self.env.resource_name());
            if let Err(e) =
                crate::cluster::attrd::update(&self.tools, &name, None, self.attr_deadline()).await
            {
                tracing::warn!("cannot delete {name}: {e}");
            }
        }
        let Some(pf) = postmaster_alive(&self.cfg.pgdata, &self.dba) else {
            tracing::info!("PostgreSQL is already stopped.");
            return Ok(OcfRc::Success);
        };
        let fast = match mode {
            StopMode::Standby => self.cfg.stop_escalate_in_slave,
            StopMode::Plain | StopMode::Primary => self.cfg.stop_escalate,
            StopMode::Partitioned => 0,
        };
        let fast = match fast {
            0 => Duration::ZERO,
            secs => fast_phase(secs, self.env.op_timeout(), &self.deadline),
        };
        let stopped = self.pg_ctl().stop_escalating(fast, self.deadline).await;
        for (mode, result) in [("fast", &stopped.fast), ("immediate", &stopped.immediate)] {
            match result {
                Some(Ok(out)) if !out.success() => {
                    tracing::warn!("pg_ctl stop -m {mode}: {}", out.combined())
                }
                Some(Err(e)) => tracing::warn!("pg_ctl stop -m {mode}: {e}"),
                _ => {}
            }
        }
        if !stopped.gone {
            return Err(Failure::generic(format!(
                "PostgreSQL (pid {}) is still running after fast and immediate shutdown",
                pf.pid
            )));
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
            let lock = self.cfg.lock_file();
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

/// Stops a running server with signals (SIGINT = fast shutdown, then SIGQUIT
/// = immediate), for when the configuration is too broken to run pg_ctl.
/// `dba` is `None` when the configured PostgreSQL user does not exist; then
/// whatever process the PID file names is stopped.
pub(super) async fn stop_without_pg_ctl(
    cfg: &Config,
    dba: Option<&OsUser>,
    deadline: Deadline,
) -> ActionResult {
    let fast = fast_phase(cfg.stop_escalate, None, &deadline);
    match stop_with_signals(&cfg.pgdata, dba, fast, deadline).await {
        Ok(()) => {
            remove_dead_pidfile(&cfg.pgdata, dba);
            Ok(OcfRc::Success)
        }
        Err(pid) => Err(Failure::generic(format!(
            "PostgreSQL (pid {pid}) is still running after SIGINT and SIGQUIT"
        ))),
    }
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
