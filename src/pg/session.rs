//! One SQL session with the local server, over the unix socket or TCP.
//!
//! The reference agent forks `su` and `psql` for every query. We speak the
//! protocol directly (tokio-postgres): one connection per invocation, errors
//! classified by SQLSTATE rather than by message text. On the unix socket we
//! connect with pgdba's effective uid so `peer` authentication sees the same
//! user psql would have been.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::ocf::Deadline;
use crate::os::OsUser;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A directory holding `.s.PGSQL.<port>`.
    Socket(PathBuf),
    /// A host name or address.
    Tcp(String),
}

impl Host {
    /// libpq's rule: a value starting with `/` is a socket directory.
    pub fn from_libpq(value: &str) -> Host {
        if value.starts_with('/') {
            Host::Socket(PathBuf::from(value))
        } else {
            Host::Tcp(value.to_string())
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConnParams {
    pub host: Host,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    /// Whose uid the socket connection carries (peer authentication).
    pub os_user: Option<OsUser>,
}

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// Could not reach the server at all (no socket, refused, ...).
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Unreachable { target: String, message: String },
    /// The server answered with an error (auth failure, starting up, bad SQL).
    #[error("PostgreSQL error {}: {message}", state.code())]
    Server { state: SqlState, message: String },
    /// The session broke without a server error.
    #[error("PostgreSQL connection failed: {0}")]
    Protocol(String),
    #[error("PostgreSQL did not answer in time")]
    TimedOut,
}

impl SqlError {
    pub fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            SqlError::Server { state, .. } => Some(state),
            _ => None,
        }
    }

    /// Errors that more waiting cannot fix: wrong password or role, missing
    /// database, invalid SQL. A server that is starting, shutting down or in
    /// recovery answers with class 57 or 08 and is worth waiting for.
    pub fn is_permanent(&self) -> bool {
        let Some(code) = self.sqlstate().map(SqlState::code) else {
            return false;
        };
        code.starts_with("28") // invalid authorization
            || code.starts_with("3D") // invalid catalog name
            || code.starts_with("42") // syntax error or access rule
    }

    /// Errors worth retrying later rather than a broken setup: no answer at
    /// all, or the server is starting, stopping (57), out of connections or
    /// resources (53), or the link broke (08).
    pub fn is_transient(&self) -> bool {
        match self.sqlstate().map(SqlState::code) {
            None => true,
            Some(code) => {
                code.starts_with("57") || code.starts_with("08") || code.starts_with("53")
            }
        }
    }

    fn from_pg(e: tokio_postgres::Error) -> SqlError {
        if let Some(db) = e.as_db_error() {
            return SqlError::Server {
                state: db.code().clone(),
                message: db.message().to_string(),
            };
        }
        SqlError::Protocol(e.to_string())
    }
}

/// Connects a non-blocking Unix socket, as `user` when given (so `peer`
/// authentication sees that user: the credentials are taken at connect).
/// A server whose listen queue is full makes a blocking `connect` wait
/// without bound; here the attempt is repeated until `deadline` instead.
async fn connect_unix(
    path: &Path,
    user: Option<&OsUser>,
    deadline: Deadline,
) -> std::io::Result<std::os::unix::net::UnixStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let addr = UnixAddr::new(path).map_err(std::io::Error::from)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)?;
    let mut pause = Duration::from_millis(5);
    loop {
        let attempt = || connect(fd.as_raw_fd(), &addr);
        let result = match user {
            Some(u) => u.with_identity(attempt),
            None => attempt(),
        };
        match result {
            Ok(()) => return Ok(std::os::unix::net::UnixStream::from(fd)),
            // The listen queue is full: the server is alive but swamped.
            Err(nix::errno::Errno::EAGAIN) if !deadline.expired() => {
                tokio::time::sleep(pause.min(deadline.remaining())).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(nix::errno::Errno::EAGAIN) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the server's listen queue stayed full until the operation's deadline",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub struct Session {
    client: tokio_postgres::Client,
    deadline: Deadline,
}

impl ConnParams {
    fn config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.user(&self.user)
            .dbname(&self.dbname)
            .port(self.port)
            .application_name("pgsql-ra");
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }

    /// Opens the session, bounded by `deadline`.
    pub async fn connect(&self, deadline: Deadline) -> Result<Session, SqlError> {
        let fut = async {
            let config = self.config();
            match &self.host {
                Host::Socket(dir) => {
                    let path = dir.join(format!(".s.PGSQL.{}", self.port));
                    let std_stream = connect_unix(&path, self.os_user.as_ref(), deadline)
                        .await
                        .map_err(|e| SqlError::Unreachable {
                            target: path.display().to_string(),
                            message: e.to_string(),
                        })?;
                    let stream = tokio::net::UnixStream::from_std(std_stream)
                        .map_err(|e| SqlError::Protocol(e.to_string()))?;
                    let (client, conn) = config
                        .connect_raw(stream, NoTls)
                        .await
                        .map_err(SqlError::from_pg)?;
                    tokio::spawn(conn);
                    Ok(client)
                }
                Host::Tcp(host) => {
                    let mut config = config;
                    config.host(host);
                    let (client, conn) = config.connect(NoTls).await.map_err(|e| {
                        if e.as_db_error().is_some() {
                            SqlError::from_pg(e)
                        } else {
                            SqlError::Unreachable {
                                target: format!("{host}:{}", self.port),
                                message: e.to_string(),
                            }
                        }
                    })?;
                    tokio::spawn(conn);
                    Ok(client)
                }
            }
        };
        let client = tokio::time::timeout_at(deadline.tokio_instant(), fut)
            .await
            .map_err(|_| SqlError::TimedOut)??;
        Ok(Session { client, deadline })
    }
}

impl Session {
    /// Runs `sql` with the simple-query protocol (so a multi-statement
    /// `monitor_sql` works as it did through `psql -c`) and returns the rows
    /// of the last statement as text.
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        let msgs =
            tokio::time::timeout_at(self.deadline.tokio_instant(), self.client.simple_query(sql))
                .await
                .map_err(|_| SqlError::TimedOut)?
                .map_err(SqlError::from_pg)?;
        let mut rows = Vec::new();
        for m in msgs {
            match m {
                SimpleQueryMessage::Row(r) => {
                    rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                SimpleQueryMessage::CommandComplete(_) => {}
                _ => {}
            }
        }
        Ok(rows)
    }

    /// Runs one statement whose values are passed as text parameters (the
    /// extended protocol: nothing from outside is spliced into the SQL), and
    /// returns the rows; every column must be `text`.
    pub async fn query_texts(
        &self,
        sql: &str,
        params: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let rows = tokio::time::timeout_at(
            self.deadline.tokio_instant(),
            self.client.query(sql, &params),
        )
        .await
        .map_err(|_| SqlError::TimedOut)?
        .map_err(SqlError::from_pg)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Option<String>>(i).map_err(SqlError::from_pg))
                    .collect()
            })
            .collect()
    }

    /// The first column of the first row (`None` for no row or NULL).
    pub async fn query_value(&self, sql: &str) -> Result<Option<String>, SqlError> {
        Ok(self
            .simple_query(sql)
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_errors_by_sqlstate() {
        let e = |c: &str| SqlError::Server {
            state: SqlState::from_code(c),
            message: String::new(),
        };
        assert!(e("28P01").is_permanent());
        assert!(e("3D000").is_permanent());
        assert!(e("42601").is_permanent());
        assert!(!e("57P03").is_permanent());
        assert!(!SqlError::TimedOut.is_permanent());
        assert!(SqlError::TimedOut.is_transient());
        assert!(e("57P03").is_transient());
        assert!(e("53300").is_transient());
        assert!(e("08006").is_transient());
        assert!(!e("28P01").is_transient());
        assert!(!e("XX000").is_transient());
        assert_eq!(e("57P03").sqlstate(), Some(&SqlState::CANNOT_CONNECT_NOW));
    }

    /// A server that never accepts: once its listen queue is full, a
    /// connect must end at the deadline with a reason, not block.
    #[test]
    fn a_full_listen_queue_ends_at_the_deadline() {
        use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".s.PGSQL.5432");
        let server = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        bind(
            server.as_raw_fd(),
            &nix::sys::socket::UnixAddr::new(&path).unwrap(),
        )
        .unwrap();
        listen(&server, Backlog::new(0).unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut queued = Vec::new();
        let refused = loop {
            let deadline = Deadline::from_timeout(Duration::from_secs(1));
            match rt.block_on(connect_unix(&path, None, deadline)) {
                Ok(stream) if queued.len() < 8 => queued.push(stream),
                Ok(_) => panic!("the listen queue never filled"),
                Err(e) => break e,
            }
        };
        assert_eq!(refused.kind(), std::io::ErrorKind::TimedOut, "{refused}");
        assert!(!queued.is_empty(), "the first connection fits in the queue");
    }

    #[test]
    fn libpq_host_rule() {
        assert_eq!(Host::from_libpq("/tmp"), Host::Socket("/tmp".into()));
        assert_eq!(Host::from_libpq("10.0.0.1"), Host::Tcp("10.0.0.1".into()));
    }
}
