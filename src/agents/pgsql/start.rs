//! `start` in stand-alone mode: prepare the files PostgreSQL needs, run
//! `pg_ctl start`, and wait until the server answers `monitor_sql`.
//!
//! Differences from the reference, all on the safe side: a postmaster that is
//! alive but not answering is waited for, never "restarted" by deleting its
//! PID file (the reference waits on a PID file only); the wait ends at the operation deadline with a
//! reason instead of being killed by Pacemaker; errors that waiting cannot fix
//! (authentication, missing database, bad monitor_sql) end the start at once.

use std::path::Path;
use std::time::Duration;

use super::monitor::{Health, ServerRole};
use super::{Pgsql, RepMode};
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::{conf, PidFile};

impl Pgsql {
    /// `start` outside async/sync mode. In slave mode the server is always
    /// started as a standby of `master_ip`.
    pub(super) async fn start(&self) -> ActionResult {
        if self.cfg.rep_mode == RepMode::Slave {
            self.write_recovery_conf(&self.local_name().await)?;
        }
        match self.real_start().await? {
            OcfRc::RunningPromoted => Ok(OcfRc::Success),
            rc => Ok(rc),
        }
    }

    /// `pgsql_real_start`: start the server and wait until it answers.
    /// Returns `RunningPromoted` when, in replication mode, it answered as a
    /// primary; the callers decide what that means.
    pub(super) async fn real_start(&self) -> ActionResult {
        match self.health().await {
            Health::Up { role, .. } => {
                let pid = std::fs::read_to_string(self.cfg.pgdata.join("postmaster.pid"))
                    .unwrap_or_default();
                tracing::info!(
                    "PostgreSQL is already running. PID={}",
                    pid.split_whitespace().collect::<Vec<_>>().join(" ")
                );
                return Ok(if role == ServerRole::Primary {
                    OcfRc::RunningPromoted
                } else {
                    OcfRc::Success
                });
            }
            Health::Unresponsive(pf, e) => {
                tracing::warn!(
                    "PostgreSQL (pid {}) is running but not answering ({e}); waiting for it \
                     instead of starting a second one",
                    pf.pid
                );
                return self.wait_until_up().await;
            }
            Health::Down => {}
        }

        self.remove_stale_pidfile().await?;
        self.set_aside_backup_label();
        self.check_log_file()?;
        self.check_socket_dir()?;
        self.check_stat_temp_directory()?;

        let out = self
            .pg_ctl_start(self.deadline)
            .await
            .map_err(|e| Failure::generic(format!("Can't start PostgreSQL. {e}")))?;
        if !out.success() {
            return Err(Failure::generic(format!(
                "Can't start PostgreSQL. pg_ctl: {} ({})",
                out.combined(),
                out.describe_status()
            )));
        }
        tracing::info!("{}", out.combined());
        tracing::info!("PostgreSQL start command sent.");
        let rc = self.wait_until_up().await?;
        tracing::info!("PostgreSQL is started.");
        Ok(rc)
    }

    /// Polls until `monitor_sql` succeeds, the server dies, or the deadline.
    pub(super) async fn wait_until_up(&self) -> ActionResult {
        let mut pause = Duration::from_millis(50);
        let mut last = String::from("PostgreSQL did not create its PID file");
        let mut down_since: Option<std::time::Instant> = None;
        loop {
            match self.health().await {
                Health::Up {
                    role: ServerRole::Primary,
                    ..
                } => return Ok(OcfRc::RunningPromoted),
                Health::Up { .. } => return Ok(OcfRc::Success),
                Health::Unresponsive(_, e) if e.is_permanent() => {
                    return Err(Failure::generic(format!(
                        "PostgreSQL started but the monitor query fails: {e}. Check \
                         monitor_user, monitor_password, pgdb and monitor_sql"
                    )));
                }
                Health::Unresponsive(_, e) => {
                    down_since = None;
                    last = e.to_string();
                }
                Health::Down => {
                    // pg_ctl -W returns before the PID file exists; a server
                    // that stays absent for long has died during start-up.
                    let since = *down_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > Duration::from_secs(10) {
                        return Err(Failure::generic(format!(
                            "PostgreSQL exited during start-up.{}",
                            self.log_tail_hint()
                        )));
                    }
                }
            }
            if self.deadline.remaining() <= pause {
                return Err(Failure::generic(format!(
                    "PostgreSQL did not become ready before the start timeout: {last}.{}",
                    self.log_tail_hint()
                )));
            }
            tracing::debug!("PostgreSQL still hasn't started yet. Waiting...");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// The last line of the server log, when the log is a readable file.
    fn log_tail_hint(&self) -> String {
        let Ok(text) = std::fs::read_to_string(&self.cfg.logfile) else {
            return String::new();
        };
        match text.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(l) => format!(
                " Last line of {}: {}",
                self.cfg.logfile.display(),
                l.chars().take(300).collect::<String>()
            ),
            None => String::new(),
        }
    }

    /// The postmaster is dead (checked by the caller). Its PID file goes, as
    /// in the reference, but only once its backends have exited too: they
    /// outlive a killed postmaster for a moment, and a new server started
    /// beside them would corrupt the data directory.
    pub(in crate::agents::pgsql) async fn remove_stale_pidfile(&self) -> Result<(), Failure> {
        let p = self.cfg.pgdata.join("postmaster.pid");
        let Some(pf) = PidFile::read(&self.cfg.pgdata) else {
            if p.exists() {
                tracing::info!("Removing unreadable {}", p.display());
                let _ = std::fs::remove_file(&p);
            }
            return Ok(());
        };
        while !pf.server_fully_gone() {
            if self.deadline.remaining() < Duration::from_secs(2) {
                return Err(Failure::generic(format!(
                    "The previous PostgreSQL (pid {}) died but its processes are still alive or attached to its shared memory; refusing to start a second server on {}",
                    pf.pid,
                    self.cfg.pgdata.display()
                )));
            }
            tracing::debug!(
                "waiting for the processes of the dead postmaster {} to exit",
                pf.pid
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::info!("Removing stale {}", p.display());
        let _ = std::fs::remove_file(p);
        Ok(())
    }

    /// The reference deletes `backup_label` before a stand-alone start, for
    /// an exclusive backup that was never stopped. That file is also what
    /// makes a restored base backup recover correctly, so we never delete it:
    /// before PostgreSQL 15 (the only versions with exclusive backups) it is
    /// renamed to `backup_label.old`, the name PostgreSQL itself uses; from 15
    /// on it is left alone.
    fn set_aside_backup_label(&self) {
        let label = self.cfg.pgdata.join("backup_label");
        // A standby made by pg_basebackup needs its backup_label: only the
        // stand-alone mode ever touches it.
        if self.cfg.rep_mode != RepMode::None || !label.exists() {
            return;
        }
        if self.facts.version.is_some_and(|v| v.at_least(15, 0)) {
            tracing::info!(
                "{} exists; PostgreSQL 15+ has no exclusive backups, so it is kept",
                label.display()
            );
            return;
        }
        let old = self.cfg.pgdata.join("backup_label.old");
        tracing::info!(
            "Renaming {} to {}. The previous backup might have failed.",
            label.display(),
            old.display()
        );
        let _ = std::fs::rename(&label, &old);
    }

    /// `check_log_file`: create the log file for pgdba if needed; pgdba must
    /// be able to write it.
    fn check_log_file(&self) -> Result<(), Failure> {
        let log = &self.cfg.logfile;
        if std::fs::symlink_metadata(log).is_err() {
            // Created for pgdba, through the descriptor: the log directory
            // is often pgdba's own (os/fs.rs).
            if let Ok(f) = crate::os::fs::create_file(log, 0o644) {
                let _ = crate::os::fs::chown_to(&f, &self.dba);
            }
        }
        if !self.dba.can_write(log) {
            return Err(Failure::perm(format!(
                "PostgreSQL can't write to the log file: {}",
                log.display()
            )));
        }
        Ok(())
    }

    /// `check_socket_dir`: create socketdir (2775, owned by pgdba) or check
    /// pgdba can create files in it.
    fn check_socket_dir(&self) -> Result<(), Failure> {
        if self.cfg.socketdir.is_empty() {
            return Ok(());
        }
        let dir = Path::new(&self.cfg.socketdir);
        if !dir.is_dir() {
            std::fs::create_dir(dir).map_err(|e| {
                Failure::perm(format!("Can't create directory {}: {e}", dir.display()))
            })?;
            let d = crate::os::fs::open_dir(dir).map_err(|e| {
                Failure::perm(format!("Can't change ownership for {}: {e}", dir.display()))
            })?;
            crate::os::fs::chown_to(&d, &self.dba).map_err(|e| {
                Failure::perm(format!("Can't change ownership for {}: {e}", dir.display()))
            })?;
            crate::os::fs::set_mode(&d, 0o2775).map_err(|e| {
                Failure::perm(format!(
                    "Can't change permissions for {}: {e}",
                    dir.display()
                ))
            })?;
        } else if !self.dba.can_write(dir) {
            return Err(Failure::perm(format!(
                "{} can't create files in {}",
                self.cfg.pgdba,
                dir.display()
            )));
        }
        Ok(())
    }

    /// `check_stat_temp_directory` (PostgreSQL < 15 has the setting).
    fn check_stat_temp_directory(&self) -> Result<(), Failure> {
        if !self.facts.config_readable {
            return Ok(());
        }
        let Some(dir) =
            conf::get(&self.cfg.config, "stats_temp_directory").filter(|d| !d.is_empty())
        else {
            return Ok(());
        };
        let path = if Path::new(&dir).is_absolute() {
            Path::new(&dir).to_path_buf()
        } else {
            self.cfg.pgdata.join(&dir)
        };
        if path.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&path)
            .and_then(|_| crate::os::fs::open_dir(&path))
            .and_then(|d| {
                crate::os::fs::chown_user(&d, &self.dba)?;
                crate::os::fs::set_mode(&d, 0o700)
            })
            .map_err(|e| {
                Failure::perm(format!(
                    "Can't create directory {} (stats_temp_directory): {e}",
                    path.display()
                ))
            })
    }
}
