//! pg_ctl: start, stop (fast, then immediate), promote; and reload.
//!
//! The one place the agent changes a server's run state. Both personalities
//! describe their pg_ctl (program, data directory, user, environment) with
//! a `PgCtl` and keep only their contract around it: which options the
//! parameters add, how long the fast phase may take, what a failure is
//! called. A stop never returns before the postmaster is gone or the
//! deadline is near: a fast shutdown that does not finish in its share of
//! the time becomes an immediate one (a crash PostgreSQL recovers from;
//! fencing the node would be the same crash, of the whole machine).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::pidfile::{live_postmaster, PidFile};
use crate::ocf::Deadline;
use crate::os::{Cmd, OsUser, Output, RunError};

/// Whether pg_ctl waits for the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// `-W`: return at once; the caller watches the server itself.
    No,
    /// `-w --timeout <secs>`, the seconds left of the deadline.
    Yes,
}

/// `pg_ctl stop -m <mode>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Fast,
    Immediate,
}

impl Shutdown {
    fn word(self) -> &'static str {
        match self {
            Shutdown::Fast => "fast",
            Shutdown::Immediate => "immediate",
        }
    }
}

/// How a personality runs pg_ctl.
#[derive(Clone, Debug)]
pub struct PgCtl {
    pub program: PathBuf,
    /// The `-D` argument (the configuration directory on Debian).
    pub pgdata: PathBuf,
    /// The data directory whose `postmaster.pid` tells whether it runs.
    pub datadir: PathBuf,
    pub user: OsUser,
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
}

/// What `start` passes besides the data directory.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Options for pg_ctl itself, placed right after the program name.
    pub ctl: Vec<String>,
    pub logfile: Option<PathBuf>,
    /// `-o`: options pg_ctl hands to `postgres` through `sh -c`.
    pub server: Option<String>,
    /// Variables the server must not inherit.
    pub env_remove: Vec<&'static str>,
}

/// What an escalating stop did.
#[derive(Debug)]
pub struct Stopped {
    /// The fast shutdown's pg_ctl, when there was time for one.
    pub fast: Option<Result<Output, RunError>>,
    /// The immediate shutdown's, when the fast one did not finish.
    pub immediate: Option<Result<Output, RunError>>,
    /// The postmaster is gone.
    pub gone: bool,
}

impl Stopped {
    /// The fast shutdown ran and finished the server.
    pub fn fast_ok(&self) -> bool {
        matches!(&self.fast, Some(Ok(o)) if o.success()) && self.immediate.is_none()
    }
}

/// pg_ctl's words for a failure: its status and output, or why it could
/// not run.
pub fn describe(result: &Result<Output, RunError>) -> String {
    match result {
        Ok(o) => format!("{}: {}", o.describe_status(), o.combined()),
        Err(e) => e.to_string(),
    }
}

impl PgCtl {
    pub fn new(program: PathBuf, pgdata: &Path, datadir: &Path, user: &OsUser) -> PgCtl {
        PgCtl {
            program,
            pgdata: pgdata.to_path_buf(),
            datadir: datadir.to_path_buf(),
            user: user.clone(),
            cwd: PathBuf::from(crate::os::process::NEUTRAL_DIR),
            env: Vec::new(),
        }
    }

    /// The program, as the PostgreSQL user, with the personality's
    /// environment; no arguments yet.
    pub fn command(&self) -> Cmd {
        let mut cmd = Cmd::new(&self.program).run_as(&self.user).cwd(&self.cwd);
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        cmd
    }

    fn waiting(&self, cmd: Cmd, wait: Wait, deadline: Deadline) -> Cmd {
        match wait {
            Wait::No => cmd.arg("-W"),
            Wait::Yes => cmd
                .arg("-w")
                .arg("--timeout")
                .arg(deadline.remaining().as_secs().max(1).to_string()),
        }
    }

    /// `pg_ctl <ctl> -D <pgdata> [-l log] [-o opts] -w|-W start`.
    pub async fn start(
        &self,
        opts: &StartOptions,
        wait: Wait,
        deadline: Deadline,
    ) -> Result<Output, RunError> {
        let mut cmd = self
            .command()
            .args(opts.ctl.iter())
            .arg("-D")
            .arg(&self.pgdata);
        for k in &opts.env_remove {
            cmd = cmd.env_remove(k);
        }
        if let Some(log) = &opts.logfile {
            cmd = cmd.arg("-l").arg(log);
        }
        if let Some(server) = &opts.server {
            cmd = cmd.arg("-o").arg(server);
        }
        let cmd = self.waiting(cmd, wait, deadline).arg("start");
        tracing::debug!("{}", cmd.display());
        cmd.run(deadline).await
    }

    /// `pg_ctl -D <pgdata> -w|-W stop -m <mode>`.
    pub async fn stop(
        &self,
        mode: Shutdown,
        wait: Wait,
        deadline: Deadline,
    ) -> Result<Output, RunError> {
        let cmd = self.command().arg("-D").arg(&self.pgdata);
        self.waiting(cmd, wait, deadline)
            .args(["stop", "-m", mode.word()])
            .run(deadline)
            .await
    }

    /// `pg_ctl -D <pgdata> -w|-W promote`.
    pub async fn promote(&self, wait: Wait, deadline: Deadline) -> Result<Output, RunError> {
        let cmd = self.command().arg("-D").arg(&self.pgdata);
        self.waiting(cmd, wait, deadline)
            .arg("promote")
            .run(deadline)
            .await
    }

    /// A fast shutdown given `fast` of the deadline, then, if the
    /// postmaster is still there, an immediate one with what is left. When
    /// pg_ctl cannot even run for the immediate one, the postmaster gets
    /// SIGQUIT (what pg_ctl would send).
    pub async fn stop_escalating(&self, fast: Duration, deadline: Deadline) -> Stopped {
        let pidfile = PidFile::read(&self.datadir);
        let mut stopped = Stopped {
            fast: None,
            immediate: None,
            gone: false,
        };
        if !fast.is_zero() {
            let within = deadline.within(fast);
            stopped.fast = Some(self.stop(Shutdown::Fast, Wait::Yes, within).await);
            stopped.gone = wait_gone(&self.datadir, Some(&self.user), within).await;
            if stopped.gone {
                return stopped;
            }
            tracing::info!(
                "PostgreSQL failed to stop after {}s using -m fast. Trying -m immediate...",
                fast.as_secs()
            );
        }
        let immediate = self.stop(Shutdown::Immediate, Wait::Yes, deadline).await;
        if let (Err(e), Some(pf)) = (&immediate, &pidfile) {
            tracing::warn!("pg_ctl stop -m immediate: {e}; sending SIGQUIT");
            let _ = kill(Pid::from_raw(pf.pid), Signal::SIGQUIT);
        }
        stopped.immediate = Some(immediate);
        stopped.gone = wait_gone(&self.datadir, Some(&self.user), deadline).await;
        stopped
    }
}

/// Polls until the postmaster of `datadir` is gone or `deadline`; true if
/// gone.
pub async fn wait_gone(datadir: &Path, user: Option<&OsUser>, deadline: Deadline) -> bool {
    let mut pause = Duration::from_millis(20);
    loop {
        if live_postmaster(datadir, user).is_none() {
            return true;
        }
        if deadline.expired() {
            return false;
        }
        tokio::time::sleep(pause.min(deadline.remaining())).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Stops a running server with signals (SIGINT = fast shutdown, then
/// SIGQUIT = immediate after `fast`), for when pg_ctl cannot be run. `user`
/// is `None` when the configured PostgreSQL user does not exist; then
/// whatever process the PID file names is stopped. Ok(pid) when it is gone
/// (or was not running), Err(pid) when it is still there.
pub async fn stop_with_signals(
    datadir: &Path,
    user: Option<&OsUser>,
    fast: Duration,
    deadline: Deadline,
) -> Result<(), i32> {
    let Some(pf) = live_postmaster(datadir, user) else {
        return Ok(());
    };
    let pid = Pid::from_raw(pf.pid);
    let _ = kill(pid, Signal::SIGINT);
    if wait_gone(datadir, user, deadline.within(fast)).await {
        return Ok(());
    }
    let _ = kill(pid, Signal::SIGQUIT);
    if wait_gone(datadir, user, deadline).await {
        return Ok(());
    }
    Err(pf.pid)
}

/// The server of `datadir` rereads its configuration (`pg_ctl reload` is a
/// SIGHUP to the postmaster; sent directly).
pub fn reload(datadir: &Path) -> Result<(), String> {
    let pf = PidFile::read(datadir).ok_or_else(|| "no postmaster.pid".to_string())?;
    kill(Pid::from_raw(pf.pid), Signal::SIGHUP).map_err(|e| e.to_string())
}

/// The postmaster we stopped is gone; a PID file it left behind goes too,
/// once nothing of that server remains.
pub fn remove_dead_pidfile(datadir: &Path, user: Option<&OsUser>) {
    if live_postmaster(datadir, user).is_some() {
        return;
    }
    if PidFile::read(datadir).is_some_and(|pf| pf.server_fully_gone()) {
        let _ = std::fs::remove_file(PidFile::path(datadir));
    }
}
