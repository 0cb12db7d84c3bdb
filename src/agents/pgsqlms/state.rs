//! Where the local instance stands: PAF's monitor logic.
//!
//! Three witnesses are combined: what PAF asks `pg_isready` (is something
//! answering on pghost/pgport; asked here in process, by the connection the
//! next witness then uses), the control file (how the instance last ran or ended) and
//! `pg_is_in_recovery()` (primary or standby). A stopped instance whose
//! control file still says `in production` crashed as a primary (9); `in
//! archive recovery`, as a standby (1). Start, stop, promote and demote
//! read the same `State`, so they decide from one classification.
//!
//! Reading the state writes nothing. On a primary, the monitor action
//! (recurring or probe, not the checks inside other actions) then rewrites
//! the standbys' promotion scores with the session the reading left open
//! (`observe`, then `check_locations`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::scores::{self, Note, ReplRow, Why};
use super::Paf;
use crate::cluster::vocabulary::{promotion_score_name, Score};
use crate::cluster::ClusterStatus;
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::controldata::DbState;
use crate::pg::{Lsn, Session, SqlError};
use tokio_postgres::error::SqlState;

/// `pg_isready`'s answers (its exit codes 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    Accepting,
    Rejecting,
    NoResponse,
}

impl Ready {
    fn code(self) -> i32 {
        match self {
            Ready::Accepting => 0,
            Ready::Rejecting => 1,
            Ready::NoResponse => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Standby,
    Primary,
    Stopped,
    /// Not running, control file `in production`.
    CrashedPrimary,
    /// Not running, control file `in archive recovery`.
    CrashedStandby,
    /// Anything else, with PAF's code and reason.
    Failed(Failure),
}

impl State {
    pub fn rc(&self) -> OcfRc {
        match self {
            State::Standby => OcfRc::Success,
            State::Primary => OcfRc::RunningPromoted,
            State::Stopped => OcfRc::NotRunning,
            State::CrashedPrimary => OcfRc::FailedPromoted,
            State::CrashedStandby => OcfRc::ErrGeneric,
            State::Failed(f) => f.rc,
        }
    }

    pub fn describe(&self, rsc: &str) -> String {
        match self.result(rsc) {
            Ok(_) if *self == State::Primary => {
                format!("Instance \"{rsc}\" is running as a primary")
            }
            Ok(_) => format!("Instance \"{rsc}\" is running as a standby"),
            Err(f) => f.reason,
        }
    }

    /// As the monitor action's result. The failing states' reasons are
    /// written here, at their constructors, so that the exit reason and the
    /// text other actions quote through `describe` are one.
    pub fn result(&self, rsc: &str) -> ActionResult {
        match self {
            State::Standby => Ok(OcfRc::Success),
            State::Primary => Ok(OcfRc::RunningPromoted),
            State::Stopped => Err(Failure::not_running(format!(
                "Instance \"{rsc}\" is stopped"
            ))),
            State::CrashedPrimary => Err(Failure::new(
                OcfRc::FailedPromoted,
                format!(
                    "Instance \"{rsc}\" controldata indicates a running primary instance, the \
                     instance has probably crashed"
                ),
            )),
            State::CrashedStandby => Err(Failure::generic(format!(
                "Instance \"{rsc}\" controldata indicates a running standby instance, the \
                 instance has probably crashed"
            ))),
            State::Failed(f) => Err(f.clone()),
        }
    }
}

/// What the control file says, once transitional states have settled.
enum Settled {
    Primary,
    Standby,
    Stopped,
}

impl Paf {
    /// The monitor logic, for the checks inside the other actions.
    pub async fn state(&self) -> State {
        self.observe(None).await.0
    }

    /// The monitor logic. `early`: a session opened before (the monitor's,
    /// which the checks already used), taken as the first answer. A primary's
    /// or a standby's state comes back with its session.
    pub async fn observe(&self, early: Option<Session>) -> (State, Option<Session>) {
        let mut early = early;
        let (ready, session) = self.ping(&mut early).await;
        match ready {
            Ready::Accepting => self.confirm_role(session).await,
            Ready::Rejecting => {
                let settled = match self.settled_controldata().await {
                    Ok(s) => s,
                    Err(f) => return (State::Failed(f), None),
                };
                match settled {
                    Settled::Primary | Settled::Standby => match self.ping(&mut early).await {
                        (Ready::Accepting, session) => self.confirm_role(session).await,
                        (rc, _) => {
                            tracing::info!(
                                "If this instance is in warm standby, this resource agent only \
                                 supports hot standby"
                            );
                            (self.inconsistent(rc), None)
                        }
                    },
                    Settled::Stopped => match self.ping(&mut early).await {
                        (Ready::NoResponse, _) => (self.confirm_stopped().await, None),
                        (rc, _) => (self.inconsistent(rc), None),
                    },
                }
            }
            Ready::NoResponse => (self.confirm_stopped().await, None),
        }
    }

    fn inconsistent(&self, rc: Ready) -> State {
        State::Failed(Failure::generic(format!(
            "Instance \"{}\" controldata is not consistent with pg_isready (returned: {})",
            self.rsc,
            rc.code()
        )))
    }

    /// `pg_isready -h pghost -p pgport -d postgres`, in process: the rules
    /// of libpq's `PQping` applied to our own connection attempt, which, when
    /// it succeeds, is the session the role check then uses (PAF starts
    /// pg_isready and then psql: two processes and two server backends).
    async fn ping(&self, early: &mut Option<Session>) -> (Ready, Option<Session>) {
        // The monitor's session opened before the checks: it answered.
        if let Some(s) = early.take() {
            return (Ready::Accepting, Some(s));
        }
        match self.session().await {
            Ok(s) => (Ready::Accepting, Some(s)),
            // Starting up, shutting down, or not yet consistent.
            Err(SqlError::Server { state, .. }) if state == SqlState::CANNOT_CONNECT_NOW => {
                (Ready::Rejecting, None)
            }
            // Any other error the server sent (authentication, too many
            // connections...) is an answer: PQping says "accepting".
            Err(SqlError::Server { .. }) => (Ready::Accepting, None),
            Err(e) => {
                tracing::debug!("no answer from instance \"{}\": {e}", self.rsc);
                (Ready::NoResponse, None)
            }
        }
    }

    /// The control file's state, waiting (within the deadline, where PAF
    /// waits for ever) while it is transitional.
    async fn settled_controldata(&self) -> Result<Settled, Failure> {
        loop {
            let cd = self.controldata().await?;
            match cd.state {
                DbState::InProduction => return Ok(Settled::Primary),
                DbState::InArchiveRecovery => return Ok(Settled::Standby),
                DbState::ShutDown | DbState::ShutDownInRecovery => return Ok(Settled::Stopped),
                DbState::Other(ref s) => {
                    if self.deadline.remaining() <= Duration::from_secs(1) {
                        return Err(Failure::generic(format!(
                            "Instance \"{}\" stayed in the transitional state \"{s}\" until \
                             the operation timeout",
                            self.rsc
                        )));
                    }
                    tracing::debug!("waiting for transitional state \"{s}\" to finish");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// `session`: the one `ping` opened, if it could. A primary or a
    /// standby keeps it.
    async fn confirm_role(&self, session: Option<Session>) -> (State, Option<Session>) {
        let session = match session {
            Some(s) => s,
            None => match self.session().await {
                Ok(s) => s,
                Err(e) => {
                    let f = Failure::generic(format!(
                        "psql could not connect to instance \"{}\" ({e})",
                        self.rsc
                    ));
                    return (State::Failed(f), None);
                }
            },
        };
        let answer = session.query_value("SELECT pg_is_in_recovery()").await;
        let state = match answer {
            Ok(Some(v)) if v == "t" => return (State::Standby, Some(session)),
            Ok(Some(v)) if v == "f" => return (State::Primary, Some(session)),
            Ok(v) => State::Failed(Failure::configured(format!(
                "Unexpected result from query to check if \"{}\" is a primary or a secondary: \
                 \"{}\"",
                self.rsc,
                v.unwrap_or_default()
            ))),
            Err(e) if e.is_transient() => State::Failed(Failure::generic(format!(
                "psql could not connect to instance \"{}\" ({e})",
                self.rsc
            ))),
            Err(e) => State::Failed(Failure::configured(format!(
                "The query to check if instance \"{}\" is a primary or a secondary failed ({e})",
                self.rsc
            ))),
        };
        (state, None)
    }

    async fn confirm_stopped(&self) -> State {
        if crate::pg::pidfile::postmaster_alive(&self.cfg.datadir, &self.user).is_some() {
            return State::Failed(Failure::generic(format!(
                "Instance \"{}\" is not listening, but the process referenced in postmaster.pid \
                 exists",
                self.rsc
            )));
        }
        if self.cfg.datadir.join("backup_label").is_file() {
            // A base backup never started yet.
            return State::Stopped;
        }
        match self.settled_controldata().await {
            Ok(Settled::Primary) => State::CrashedPrimary,
            Ok(Settled::Standby) => State::CrashedStandby,
            Ok(Settled::Stopped) => State::Stopped,
            Err(f) => State::Failed(f),
        }
    }

    /// The primary's side of the promotion scores: read
    /// `pg_stat_replication` and the partition's scores, plan
    /// (`scores::plan`), write what changed.
    pub async fn check_locations(
        &self,
        session: &Session,
        status: Option<ClusterStatus>,
    ) -> Result<(), Failure> {
        let sql = format!(
            "SELECT application_name, {write}::text, state, \
             {diff}({current}, {write})::text FROM pg_stat_replication",
            write = self.wal_fn("write_lsn", "write_location"),
            diff = self.wal_fn("pg_wal_lsn_diff", "pg_xlog_location_diff"),
            current = self.wal_fn("pg_current_wal_lsn()", "pg_current_xlog_location()"),
        );
        let rows = session.simple_query(&sql).await.map_err(|e| {
            Failure::generic(format!("Query to get standby locations failed ({e})"))
        })?;
        let rows: Vec<ReplRow> = rows
            .into_iter()
            .map(|r| {
                let col = |i: usize| r.get(i).cloned().flatten();
                ReplRow {
                    application_name: col(0).unwrap_or_default(),
                    write_lsn: col(1).and_then(|v| Lsn::parse_pg(&v)),
                    state: col(2).unwrap_or_default(),
                    lag: col(3).and_then(|v| v.parse().ok()),
                }
            })
            .collect();
        let (partition, current) = match self.partition_scores(&rows, status).await {
            Ok(found) => found,
            Err(e) => {
                // Scores are advice for the next promotion (which checks
                // positions itself): a primary is not failed for them.
                tracing::warn!("{e}, scores not updated");
                return Ok(());
            }
        };
        let plan = scores::plan(
            &self.node,
            &rows,
            &partition,
            self.cfg.maxlag_limit(),
            &|n| current.get(n).cloned().flatten(),
        );
        for note in &plan.notes {
            match note {
                Note::NoStandby => tracing::warn!("No secondary connected to the primary"),
                Note::Unknown(n) => {
                    tracing::info!("Ignoring unknown application_name/node \"{n}\"")
                }
                Note::Myself => tracing::warn!("Streaming replication with myself!"),
            }
        }
        for u in &plan.updates {
            let from = u.from.as_deref().unwrap_or("");
            let lag = |l: &Option<f64>| l.map(|v| v.to_string()).unwrap_or_default();
            match &u.why {
                Why::Primary => {}
                Why::Rank { lag: l } => tracing::info!(
                    "Update score of \"{}\" from {from} to {} because of a change in the \
                     replication lag ({}).",
                    u.node,
                    u.to,
                    lag(l)
                ),
                Why::MaxLag { lag: l } => tracing::info!(
                    "Update score of \"{}\" from {from} to {} because replication lag ({}) is \
                     higher than given maxlag ({}).",
                    u.node,
                    u.to,
                    lag(l),
                    self.cfg.maxlag_text
                ),
                Why::CatchingUp { state } => {
                    tracing::info!(
                        "Forbidding promotion on \"{}\" in state \"{state}\"",
                        u.node
                    )
                }
                Why::NotConnected => {
                    tracing::warn!("\"{}\" is not connected to the primary", u.node)
                }
            }
            if let Err(f) = self.set_score(&u.node, Score::Value(u.to)).await {
                tracing::warn!("{}", f.reason);
            }
        }
        Ok(())
    }
}

impl Paf {
    /// The nodes of our partition and their promotion scores. One `crm_mon`
    /// answers both (PAF runs `crm_node --partition`, then `crm_master
    /// --query` once per node: a Pacemaker tool start, ~6 ms of CPU, each).
    /// `crm_mon` counts a node when it is online in our partition. A
    /// unique clone's instance name (`rsc:N`) keeps the tools of PAF, which
    /// know how its score attribute is named.
    async fn partition_scores(
        &self,
        rows: &[ReplRow],
        status: Option<ClusterStatus>,
    ) -> Result<(Vec<String>, BTreeMap<String, Option<String>>), String> {
        if !self.pcmk.instance.contains(':') {
            let st = match status {
                Some(st) => st,
                None => self
                    .pcmk
                    .status(&self.rsc)
                    .await
                    .map_err(|e| format!("Could not read the cluster status: {e}"))?,
            };
            let name = promotion_score_name(&self.pcmk.instance);
            let partition: Vec<String> = st
                .nodes
                .iter()
                .filter(|(_, online)| **online)
                .map(|(n, _)| n.clone())
                .collect();
            let current = partition
                .iter()
                .map(|n| (n.clone(), st.attr(n, &name).map(str::to_string)))
                .collect();
            return Ok((partition, current));
        }
        let partition = self
            .pcmk
            .partition()
            .await
            .map_err(|e| format!("Could not list the partition's nodes: {e}"))?;
        let mut current = BTreeMap::new();
        for n in partition
            .iter()
            .chain(rows.iter().map(|r| &r.application_name))
        {
            if current.contains_key(n) || !partition.contains(n) {
                continue;
            }
            let score = self
                .pcmk
                .promotion_score(n)
                .await
                .map_err(|e| format!("Could not read the promotion score of {n}: {e}"))?;
            current.insert(n.clone(), score);
        }
        Ok((partition, current))
    }
}
