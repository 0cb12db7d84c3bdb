//! pg_ctl and SQL connections as the `pgsql` parameters describe them.
//!
//! One place builds the pg_ctl command lines (`ctl_opt`, `start_opt`,
//! `pghost`, `config`, `logfile`) and the connection parameters (`pghost`,
//! `socketdir`, `pgport`, `monitor_user`...), so start, stop, monitor and
//! promote cannot disagree about them.

use std::ffi::OsString;
use std::path::PathBuf;

use super::Pgsql;
use crate::ocf::Deadline;
use crate::os::{Cmd, Output, RunError};
use crate::pg::{pgpass, ConnParams, Host, PidFile, Session, SqlError};

/// Where Debian's and most distributions' libpq look by default.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// Quotes a value for the shell that pg_ctl runs `postgres` through: pg_ctl
/// pastes `-o` verbatim into `sh -c "exec postgres ..."`.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Pgsql {
    pub(super) fn pg_ctl_cmd(&self) -> Cmd {
        let program: PathBuf = self
            .facts
            .pgctl
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.cfg.pgctl));
        let ld = match std::env::var_os("LD_LIBRARY_PATH") {
            Some(old) if !old.is_empty() && !self.cfg.pglibs.is_empty() => {
                let mut v = old;
                v.push(":");
                v.push(&self.cfg.pglibs);
                Some(v)
            }
            Some(old) if self.cfg.pglibs.is_empty() => Some(old),
            _ if !self.cfg.pglibs.is_empty() => Some(OsString::from(&self.cfg.pglibs)),
            _ => None,
        };
        let mut cmd = Cmd::new(program)
            .run_as(&self.dba)
            .cwd(&self.cfg.pgdata)
            .env("PGPORT", self.cfg.pgport.to_string());
        if let Some(ld) = ld {
            cmd = cmd.env("LD_LIBRARY_PATH", ld);
        }
        cmd
    }

    /// `pg_ctl <ctl_opt> -D <pgdata> -l <logfile> -o '...' -W start`.
    pub(super) async fn pg_ctl_start(&self, deadline: Deadline) -> Result<Output, RunError> {
        let mut server_opts = format!(
            "-c config_file={}",
            sh_quote(&self.cfg.config.to_string_lossy())
        );
        if !self.cfg.pghost.is_empty() {
            server_opts.push_str(" -h ");
            server_opts.push_str(&sh_quote(&self.cfg.pghost));
        }
        if !self.cfg.start_opt.is_empty() {
            // start_opt is shell syntax by contract ("-i -p 5432").
            server_opts.push(' ');
            server_opts.push_str(&self.cfg.start_opt);
        }
        let cmd = self
            .pg_ctl_cmd()
            .env_remove("PGUSER")
            .env_remove("PGPASSWORD")
            .args(self.cfg.ctl_opt.iter())
            .arg("-D")
            .arg(&self.cfg.pgdata)
            .arg("-l")
            .arg(&self.cfg.logfile)
            .arg("-o")
            .arg(server_opts)
            .arg("-W")
            .arg("start");
        tracing::debug!("{}", cmd.display());
        cmd.run(deadline).await
    }

    /// `pg_ctl -W -D <pgdata> stop -m <mode>`.
    pub(super) async fn pg_ctl_stop(
        &self,
        mode: &str,
        deadline: Deadline,
    ) -> Result<Output, RunError> {
        self.pg_ctl_cmd()
            .args(["-W", "-D"])
            .arg(&self.cfg.pgdata)
            .args(["stop", "-m", mode])
            .run(deadline)
            .await
    }

    /// The connection the monitor uses: `pghost`, else `socketdir`, else
    /// `PGHOST`, else the socket directory the running server announced in
    /// its PID file, else libpq's usual directories.
    pub(super) fn conn_params(&self, pidfile: Option<&PidFile>) -> ConnParams {
        let host = if !self.cfg.pghost.is_empty() {
            Host::from_libpq(&self.cfg.pghost)
        } else if let Some(dir) = &self.facts.socketdir {
            Host::Socket(dir.clone())
        } else if let Some(h) = std::env::var("PGHOST").ok().filter(|h| !h.is_empty()) {
            Host::from_libpq(&h)
        } else if let Some(dir) = pidfile.and_then(|p| p.socket_dir.clone()) {
            Host::Socket(dir)
        } else {
            let dir = DEFAULT_SOCKET_DIRS
                .iter()
                .map(PathBuf::from)
                .find(|d| d.join(format!(".s.PGSQL.{}", self.cfg.pgport)).exists())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_DIRS[0]));
            Host::Socket(dir)
        };
        let user = self.cfg.monitor_user().to_string();
        let password = self.password_for(&host, &user);
        ConnParams {
            host,
            port: self.cfg.pgport,
            user,
            password,
            dbname: self.cfg.pgdb.clone(),
            os_user: Some(self.dba.clone()),
        }
    }

    /// `monitor_password`, else `PGPASSWORD`, else pgdba's `.pgpass` (or
    /// `PGPASSFILE`): what psql run as pgdba would have used.
    fn password_for(&self, host: &Host, user: &str) -> Option<String> {
        if !self.cfg.monitor_password.is_empty() {
            return Some(self.cfg.monitor_password.clone());
        }
        if let Some(p) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            return Some(p);
        }
        let file = std::env::var_os("PGPASSFILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dba.home.join(".pgpass"));
        let host_key = match host {
            Host::Socket(_) => "localhost".to_string(),
            Host::Tcp(h) => h.clone(),
        };
        pgpass::lookup(&file, &host_key, self.cfg.pgport, &self.cfg.pgdb, user)
    }

    /// Opens a session with the monitor credentials.
    pub(super) async fn connect(&self, pidfile: Option<&PidFile>) -> Result<Session, SqlError> {
        self.conn_params(pidfile).connect(self.deadline).await
    }
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quoting_for_pg_ctl_shell() {
        assert_eq!(sh_quote("/etc/pg/main.conf"), "/etc/pg/main.conf");
        assert_eq!(sh_quote("/srv/my conf"), "'/srv/my conf'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
