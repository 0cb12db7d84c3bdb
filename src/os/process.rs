//! Running an external program with a deadline, as a given user, with a
//! known environment.
//!
//! Every child the agent starts (pg_ctl, crm_attribute, attrd_updater...) goes
//! through `Cmd`: argv only (no shell, so no quoting bugs from parameters),
//! `LC_ALL=C`, privileges dropped between fork and exec, and a hard bound on
//! how long we wait for it. A child still running at the deadline is killed
//! and reported as timed out, so the agent can answer Pacemaker before
//! Pacemaker gives up on it.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::user::OsUser;
use crate::ocf::Deadline;

/// Where programs run as the PostgreSQL user start: a directory every user
/// can enter, so none of them fails on the directory it inherited (root's
/// home, say). Not the environment's `TMPDIR`: the agent reads no
/// environment outside `OcfEnv`.
pub const NEUTRAL_DIR: &str = "/";

/// The agent's parameters that may hold a password (`monitor_password`;
/// `primary_conninfo_opt` and the deprecated `primary` may carry
/// `password=`). Pacemaker hands them to the agent in its environment; no
/// child needs them there, and a child's environment is readable in
/// `/proc/<pid>/environ` for as long as it runs (the postmaster's, for the
/// server's life). Every child is started without them.
pub const SECRET_PARAMS: &[&str] = &[
    "OCF_RESKEY_monitor_password",
    "OCF_RESKEY_primary_conninfo_opt",
    "OCF_RESKEY_primary",
];

/// A command to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env_set: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    cwd: Option<PathBuf>,
    user: Option<OsUser>,
}

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout and stderr squeezed to one line, the way `ocf_run` logs them.
    pub fn combined(&self) -> String {
        let both = format!("{} {}", self.stdout, self.stderr);
        both.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    pub fn describe_status(&self) -> String {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} did not finish within {waited:?} and was killed")]
    TimedOut { program: String, waited: Duration },
}

impl Cmd {
    pub fn new(program: impl AsRef<Path>) -> Cmd {
        Cmd {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env_set: Vec::new(),
            env_remove: Vec::new(),
            cwd: None,
            user: None,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Cmd {
        self.env_set.push((k.into(), v.into()));
        self
    }

    pub fn env_remove(mut self, k: impl Into<OsString>) -> Cmd {
        self.env_remove.push(k.into());
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Run as `user` (with its groups, HOME, USER, LOGNAME and SHELL, as
    /// `su` would set them) when we are root.
    pub fn run_as(mut self, user: &OsUser) -> Cmd {
        self.user = Some(user.clone());
        self
    }

    /// The command line for log messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs to completion or until `deadline`, capturing output.
    pub async fn run(&self, deadline: Deadline) -> Result<Output, RunError> {
        let program = self.program.display().to_string();
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C")
            .env_remove("LANG")
            .env_remove("LANGUAGE")
            .kill_on_drop(true);
        for k in SECRET_PARAMS {
            cmd.env_remove(k);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(user) = &self.user {
            cmd.env("HOME", &user.home)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name)
                .env("SHELL", &user.shell);
            if nix::unistd::geteuid().is_root() && !user.uid.is_root() {
                let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
                // SAFETY: between fork and exec we only make the setgroups,
                // setgid and setuid system calls (no allocation, no locks);
                // groups were resolved before the fork. Groups and gid first,
                // while we are still root.
                unsafe {
                    cmd.pre_exec(move || {
                        use nix::unistd::{setgid, setgroups, setuid};
                        setgroups(&groups)
                            .and_then(|_| setgid(gid))
                            .and_then(|_| setuid(uid))
                            .map_err(io::Error::from)
                    });
                }
            }
        }
        for (k, v) in &self.env_set {
            cmd.env(k, v);
        }
        for k in &self.env_remove {
            cmd.env_remove(k);
        }

        tracing::debug!("running: {}", self.display());
        let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        // Read both pipes while waiting, so a chatty child cannot block on a
        // full pipe; stop reading shortly after it exits, because a daemon it
        // started may keep the pipe open for ever.
        let read_out = tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.take(1 << 20).read_to_end(&mut buf).await;
            }
            buf
        });
        let read_err = tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.take(1 << 20).read_to_end(&mut buf).await;
            }
            buf
        });
        let status = match tokio::time::timeout_at(deadline.tokio_instant(), child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(source)) => return Err(RunError::Spawn { program, source }),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                read_out.abort();
                read_err.abort();
                return Err(RunError::TimedOut {
                    program,
                    waited: deadline.budget(),
                });
            }
        };
        let grace = Duration::from_millis(300);
        let stdout = tokio::time::timeout(grace, read_out)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let stderr = tokio::time::timeout(grace, read_err)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// `have_binary`: an executable file at `path`, or found in `search` (the
/// `PATH` the agent was started with, `OcfEnv::process`) when `path` has no
/// slash. Returns the resolved path.
pub fn find_executable(path: &str, search: Option<&str>) -> Option<PathBuf> {
    // ocf-shellfuncs strips anything from the first " -" (options given
    // together with the binary).
    let path = path.split(" -").next().unwrap_or(path).trim();
    if path.is_empty() {
        return None;
    }
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if path.contains('/') {
        let p = PathBuf::from(path);
        return is_exec(&p).then_some(p);
    }
    std::env::split_paths(search.unwrap_or(""))
        .chain(["/sbin", "/bin", "/usr/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(path))
        .find(|p| is_exec(p))
}
