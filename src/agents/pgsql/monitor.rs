//! `monitor`: is PostgreSQL running and answering?
//!
//! The cheap part first: the PID file and /proc say whether the postmaster
//! lives. Only then one SQL round trip (`monitor_sql`) on one connection,
//! with no child process at all.

use super::config::DEFAULT_MONITOR_SQL;
use super::Pgsql;
use crate::cluster::attrd;
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::pidfile::postmaster_alive;
use crate::pg::{PidFile, Session, SqlError};

/// What a running server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ServerRole {
    /// `rep_mode` none or slave: only `monitor_sql` was checked.
    Standalone,
    /// Replication mode, `pg_is_in_recovery()` is false.
    Primary,
    /// Replication mode, `pg_is_in_recovery()` is true.
    Standby,
}

/// What `pg_stat_wal_receiver` shows (no row: both `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct WalReceiver {
    pub status: Option<String>,
    /// `sender_host`; PostgreSQL 10 has no such column.
    pub sender_host: Option<String>,
}

impl WalReceiver {
    /// Streaming from `host` (PostgreSQL 10, which does not show the host:
    /// streaming at all).
    pub fn streams_from(&self, host: &str, host_shown: bool) -> bool {
        self.status.as_deref() == Some("streaming")
            && (!host_shown || self.sender_host.as_deref() == Some(host))
    }
}

/// The outcome of one look at the server.
pub(super) enum Health {
    Down,
    /// The postmaster lives and answered; the session stays open for the
    /// rest of the action.
    Up {
        role: ServerRole,
        session: Session,
        /// `pg_stat_wal_receiver`, when asked for (`health_with`).
        receiver: Option<WalReceiver>,
    },
    /// The postmaster lives but SQL failed.
    Unresponsive(PidFile, SqlError),
}

impl Pgsql {
    /// `pgsql_real_monitor`: the PID file first, then one session. In
    /// replication mode the role comes from `pg_is_in_recovery()` and
    /// `monitor_sql` only runs on a primary, and only when it was changed
    /// from the default (as in the reference).
    pub(super) async fn health(&self) -> Health {
        self.health_with(false).await
    }

    /// `health`, and with `receiver` (replication mode) the WAL receiver's
    /// state read in the same round trip.
    pub(super) async fn health_with(&self, receiver: bool) -> Health {
        let Some(pf) = postmaster_alive(&self.cfg.pgdata, &self.dba) else {
            return Health::Down;
        };
        let result = async {
            let session = self.connect(Some(&pf)).await?;
            let mut wal_receiver = None;
            let role = if self.cfg.rep_mode.is_replication() {
                let sql = match (receiver, self.sender_host_shown()) {
                    (false, _) => "select pg_is_in_recovery()",
                    (true, true) => {
                        "select pg_is_in_recovery(), r.status, r.sender_host \
                         from (select 1) one left join pg_stat_wal_receiver r on true"
                    }
                    (true, false) => {
                        "select pg_is_in_recovery(), r.status, null \
                         from (select 1) one left join pg_stat_wal_receiver r on true"
                    }
                };
                let row = session
                    .simple_query(sql)
                    .await?
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                if receiver {
                    wal_receiver = Some(WalReceiver {
                        status: row.get(1).cloned().flatten(),
                        sender_host: row.get(2).cloned().flatten(),
                    });
                }
                match row.first().cloned().flatten().as_deref() {
                    Some("t") => ServerRole::Standby,
                    Some("f") => {
                        if self.cfg.monitor_sql != DEFAULT_MONITOR_SQL {
                            session.simple_query(&self.cfg.monitor_sql).await?;
                        }
                        ServerRole::Primary
                    }
                    other => {
                        return Err(SqlError::Protocol(format!(
                            "select pg_is_in_recovery() output is {}",
                            other.unwrap_or("NULL")
                        )))
                    }
                }
            } else {
                session.simple_query(&self.cfg.monitor_sql).await?;
                ServerRole::Standalone
            };
            Ok((role, session, wal_receiver))
        }
        .await;
        match result {
            Ok((role, session, receiver)) => Health::Up {
                role,
                session,
                receiver,
            },
            Err(e) => Health::Unresponsive(pf, e),
        }
    }

    /// `pg_stat_wal_receiver.sender_host` exists from PostgreSQL 11 on.
    pub(super) fn sender_host_shown(&self) -> bool {
        self.facts.version.is_some_and(|v| v.at_least(11, 0))
    }

    pub(super) async fn monitor(&self) -> ActionResult {
        let rc = match self.health().await {
            Health::Down => {
                tracing::info!("PostgreSQL is down");
                Err(self.not_running())
            }
            Health::Up { .. } => Ok(OcfRc::Success),
            Health::Unresponsive(_, e) => Err(Failure::generic(format!(
                "PostgreSQL {} isn't running: {e}",
                self.cfg.pgdb
            ))),
        };
        if self.cfg.check_wal_receiver {
            // No cluster snapshot in this mode: written every time, as the
            // reference does.
            self.publish_wal_receiver_status(&rc, None).await;
        }
        rc
    }

    /// `<rsc>-receiver-status`: "normal" when a walreceiver child of our
    /// postmaster exists, "normal (master)" on a primary, "ERROR" otherwise.
    pub(super) fn wal_receiver_value(&self, rc: &ActionResult) -> &'static str {
        match PidFile::read(&self.cfg.pgdata) {
            Some(pf) if has_wal_receiver(pf.pid) => "normal",
            _ if matches!(rc, Ok(OcfRc::RunningPromoted)) => "normal (master)",
            _ => {
                tracing::warn!("wal receiver process is not running");
                "ERROR"
            }
        }
    }

    /// Publishes `<rsc>-receiver-status` (see `wal_receiver_value`) and
    /// returns the value. `shown` is the value a cluster snapshot of this
    /// invocation holds, if any: an equal value is not written again (an
    /// `attrd_updater` process per monitor for nothing).
    pub(super) async fn publish_wal_receiver_status(
        &self,
        rc: &ActionResult,
        shown: Option<&str>,
    ) -> &'static str {
        let value = self.wal_receiver_value(rc);
        if shown == Some(value) {
            return value;
        }
        let name = crate::cluster::vocabulary::Attr::ReceiverStatus.name(self.env.resource_name());
        if let Err(e) = attrd::update(&self.tools, &name, Some(value), self.attr_deadline()).await {
            tracing::warn!("cannot publish {name}: {e}");
        }
        value
    }

    /// Cluster-attribute writes get `crm_attr_timeout`, within the operation.
    pub(super) fn attr_deadline(&self) -> crate::ocf::Deadline {
        self.deadline.within(std::time::Duration::from_secs(
            self.cfg.crm_attr_timeout.max(1),
        ))
    }
}

/// Is there a walreceiver among the children of `postmaster`? Both process
/// titles count: `wal receiver process` (PostgreSQL <= 10) and `walreceiver`.
pub(super) fn has_wal_receiver(postmaster: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| parent_of(*pid) == Some(postmaster))
        .any(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let title = String::from_utf8_lossy(&c).replace('\0', " ");
                    title.contains("walreceiver") || title.contains("wal receiver")
                })
                .unwrap_or(false)
        })
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the fields
    // after the last ')' are "state ppid ...".
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}
