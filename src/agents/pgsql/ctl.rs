//! pg_ctl and SQL connections as the `pgsql` parameters describe them.
//!
//! One place turns the parameters into a `PgCtl` (`pgctl`, `ctl_opt`,
//! `start_opt`, `pghost`, `config`, `logfile`, `pglibs`; pg/ctl.rs runs it)
//! and into connection parameters (`pghost`, `socketdir`, `pgport`,
//! `monitor_user`...), so start, stop, monitor and promote cannot disagree
//! about them.

use std::path::PathBuf;

use super::Pgsql;
use crate::ocf::Deadline;
use crate::os::{Output, RunError};
use crate::pg::ctl::{PgCtl, StartOptions, Wait};
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
    /// pg_ctl as the reference runs it: `pgctl`, from the data directory,
    /// with `PGPORT` and `pglibs` added to the loader path.
    pub(super) fn pg_ctl(&self) -> PgCtl {
        let program: PathBuf = self
            .facts
            .pgctl
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.cfg.pgctl));
        let inherited = self
            .env
            .process
            .ld_library_path
            .clone()
            .filter(|l| !l.is_empty());
        let ld = match (inherited, self.cfg.pglibs.is_empty()) {
            (Some(old), false) => Some(format!("{old}:{}", self.cfg.pglibs)),
            (Some(old), true) => Some(old),
            (None, false) => Some(self.cfg.pglibs.clone()),
            (None, true) => None,
        };
        let mut ctl = PgCtl::new(program, &self.cfg.pgdata, &self.cfg.pgdata, &self.dba);
        ctl.cwd = self.cfg.pgdata.clone();
        ctl.env
            .push(("PGPORT".into(), self.cfg.pgport.to_string().into()));
        if let Some(ld) = ld {
            ctl.env.push(("LD_LIBRARY_PATH".into(), ld.into()));
        }
        ctl
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
        let opts = StartOptions {
            ctl: self.cfg.ctl_opt.clone(),
            logfile: Some(self.cfg.logfile.clone()),
            server: Some(server_opts),
            env_remove: vec!["PGUSER", "PGPASSWORD"],
        };
        self.pg_ctl().start(&opts, Wait::No, deadline).await
    }

    /// The connection the monitor uses: `pghost`, else `socketdir`, else
    /// `PGHOST`, else the socket directory the running server announced in
    /// its PID file, else libpq's usual directories.
    pub(super) fn conn_params(&self, pidfile: Option<&PidFile>) -> ConnParams {
        let host = if !self.cfg.pghost.is_empty() {
            Host::from_libpq(&self.cfg.pghost)
        } else if let Some(dir) = &self.facts.socketdir {
            Host::Socket(dir.clone())
        } else if let Some(h) = self.env.process.host() {
            Host::from_libpq(h)
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
        let mut conn = ConnParams {
            host,
            port: self.cfg.pgport,
            user: self.cfg.monitor_user().to_string(),
            password: None,
            dbname: self.cfg.pgdb.clone(),
            os_user: Some(self.dba.clone()),
        };
        // monitor_password, else what psql run as pgdba would have used.
        conn.password = pgpass::resolve(
            Some(&self.cfg.monitor_password),
            &self.env.process,
            &self.dba.home,
            &conn,
        );
        conn
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
