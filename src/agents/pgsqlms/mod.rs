//! The `ocf:heartbeat:pgsqlms` contract: PAF (PostgreSQL Automatic
//! Failover), a promotable clone of PostgreSQL instances in streaming
//! replication that the administrator has set up (primary_conninfo,
//! recovery_target_timeline, pg_hba); the agent never edits PostgreSQL's
//! configuration.
//!
//! One invocation: read the configuration, run PAF's checks (every action
//! runs them), then the action. What is read (control file, SQL, cluster
//! attributes) is turned into decisions by plain functions (`scores.rs`,
//! `notify_env.rs`, `switchover.rs`, `divergence.rs`), and the effects are
//! bounded by the operation's deadline: PAF waits without bound in several
//! places (issues #131, #139) and lets Pacemaker kill it; we stop in time
//! and say what we were waiting for.
//!
//! Where PAF's strictness gets nodes fenced without protecting any data
//! (issues #162, #173, #205: a crashed instance makes `stop` fail), we do the
//! safe thing instead; each such choice is in docs/compatibility.md.

pub mod config;
mod divergence;
mod follow;
mod lifecycle;
mod notify;
mod notify_env;
pub mod params;
mod promote;
mod scores;
mod state;
mod switchover;
mod validate;

use std::time::Duration;

use config::Config;
use state::State;
use validate::Checked;

use crate::cluster::attrd::Private;
use crate::cluster::vocabulary::Score;
use crate::cluster::{Pacemaker, Tools};
use crate::ocf::{block_on, Action, ActionResult, Deadline, Failure, OcfEnv, OcfRc};
use crate::os::{Cmd, OsUser};
use crate::pg::controldata::ControlData;
use crate::pg::ctl::PgCtl;
use crate::pg::{pgpass, ConnParams, Host, PgVersion, Session, SqlError};

/// Everything one action works with, read once.
pub struct Paf {
    pub env: OcfEnv,
    pub cfg: Config,
    pub user: OsUser,
    pub version: PgVersion,
    /// This node, as Pacemaker names it (and as `application_name` must).
    pub node: String,
    /// `OCF_RESOURCE_INSTANCE` without a clone suffix: the attribute suffix.
    pub rsc: String,
    pub deadline: Deadline,
    pub action: Action,
    pub pcmk: Pacemaker,
    pub private: Private,
}

/// PAF's `pgsqlms` contract.
pub struct PgsqlmsAgent;

pub static PGSQLMS: PgsqlmsAgent = PgsqlmsAgent;

impl crate::agents::Agent for PgsqlmsAgent {
    fn name(&self) -> &'static str {
        "pgsqlms"
    }

    fn metadata_xml(&self, _env: &OcfEnv) -> String {
        params::META.to_xml(&|_| None)
    }

    fn methods(&self) -> &'static str {
        params::METHODS
    }

    /// PAF's actions: no `status`, no `usage`.
    fn support(&self, action: Action) -> crate::agents::Support {
        match action {
            Action::Status | Action::Usage => crate::agents::Support::NotPart,
            _ => crate::agents::Support::Yes,
        }
    }

    fn run(&self, action: Action, env: OcfEnv, _program: &str) -> ActionResult {
        run(action, env)
    }

    fn local(&self, env: &OcfEnv, deadline: Deadline) -> Result<crate::agents::Local, Failure> {
        let cfg = Config::from_env(env);
        let user = match OsUser::lookup(&cfg.system_user, deadline) {
            Ok(Some(u)) => u,
            Err(e @ crate::os::user::LookupError::TimedOut) => {
                return Err(validate::user_lookup_timed_out(&cfg, e))
            }
            _ => return Err(validate::no_system_user(&cfg)),
        };
        Ok(crate::agents::Local {
            conn: conn_params(&cfg, &user, env),
            pgdata: cfg.datadir.clone(),
            lock_file: None,
            sync: false,
            rejoin: cfg.rejoin.unwrap_or(crate::pg::rewind::Rejoin::Off),
        })
    }
}

/// How to reach the local instance: pghost and pgport, database
/// `postgres`, as the PostgreSQL user (password as libpq would find it for
/// PAF's psql: `PGPASSWORD`, else the password file).
fn conn_params(cfg: &Config, user: &OsUser, env: &OcfEnv) -> ConnParams {
    let mut conn = ConnParams {
        password: None,
        host: Host::from_libpq(&cfg.pghost),
        port: cfg.port(),
        user: user.name.clone(),
        dbname: "postgres".into(),
        os_user: Some(user.clone()),
    };
    conn.password = pgpass::resolve(None, &env.process, &user.home, &conn);
    conn
}

/// A monitor of a live instance opens its session before the checks, so
/// that they read the settings from it (validate.rs) and the role check
/// uses it as well (state.rs): one connection per monitor. `None` when there
/// is no live postmaster or no connection; everything then happens as
/// without it.
async fn early_session(cfg: &Config, env: &OcfEnv, deadline: Deadline) -> Option<validate::Early> {
    let user = OsUser::lookup(&cfg.system_user, deadline).ok().flatten()?;
    crate::pg::pidfile::postmaster_alive(&cfg.datadir, &user)?;
    match conn_params(cfg, &user, env).connect(deadline).await {
        Ok(session) => Some(validate::Early { user, session }),
        Err(e) => {
            tracing::debug!("no early session: {e}");
            None
        }
    }
}

/// The control data, or PAF's exit 2 (the control file is unusable on this
/// host).
async fn read_controldata(
    cfg: &Config,
    user: &OsUser,
    deadline: Deadline,
) -> Result<ControlData, Failure> {
    ControlData::read(&cfg.bin("pg_controldata"), &cfg.datadir, user, deadline)
        .await
        .map_err(|e| {
            Failure::new(
                OcfRc::ErrArgs,
                format!(
                    "Could not read all datas from controldata file for \"{}\" ({e})",
                    cfg.datadir.display()
                ),
            )
        })
}

/// Runs one action (main serves meta-data and methods, and refuses what is
/// not part of PAF's contract).
fn run(action: Action, env: OcfEnv) -> ActionResult {
    // PAF changes to the temporary directory so commands run as the
    // PostgreSQL user never start in a directory it cannot read; every such
    // command here is given its directory instead (os::process::NEUTRAL_DIR).
    let deadline = env.deadline(params::META.action_timeout(action.name()));
    let cfg = Config::from_env(&env);
    block_on(async move {
        let probe = action == Action::Monitor && env.interval_ms() == 0;
        // validate-all judges the parameters before the host (validate.rs);
        // every other action in PAF's order, after the directories.
        if action == Action::ValidateAll {
            validate::check_parameters(&cfg, &env, action)?;
            if !env.has_resource_meta() {
                tracing::info!(
                    "No meta attributes were passed: notify=true and promoted-max=1 are \
                     checked when Pacemaker runs the resource"
                );
            }
        }
        let version = match validate::directories(&cfg) {
            Ok(v) => v,
            Err(f) => return absent(action, probe, f, &cfg),
        };
        let rsc = env.resource_name().to_string();
        let tools = Tools::from_env(&env);
        let pcmk = Pacemaker {
            instance: rsc.clone(),
            feature_set: env.param("crm_feature_set").map(str::to_string),
            deadline,
            forever_timeout: Duration::from_secs(10),
            tools: tools.clone(),
        };
        let node = pcmk.local_node(env.meta("on_node")).await;
        let early = if action == Action::Monitor {
            early_session(&cfg, &env, deadline).await
        } else {
            None
        };
        let checked =
            validate::validate_all(&cfg, &env, action, &node, version, deadline, early.as_ref())
                .await;
        let checked = match checked {
            Ok(c) => c,
            Err(f) => match invalid(action, probe, f, &cfg, version, deadline) {
                AfterFailedCheck::GoOn(c) => c,
                AfterFailedCheck::Answer(result) => return result,
            },
        };
        if action == Action::ValidateAll {
            return Ok(OcfRc::Success);
        }
        let paf = Paf {
            pcmk,
            private: Private {
                rsc: rsc.clone(),
                local: node.clone(),
                deadline,
                tools,
            },
            env,
            cfg,
            user: checked.user,
            version: checked.version,
            node,
            rsc,
            deadline,
            action,
        };
        paf.dispatch(early.map(|e| e.session)).await
    })
}

/// PGDATA, the data directory or PG_VERSION is missing. PAF exits 2 for
/// every action, so a probe on a node without PostgreSQL bans the resource
/// and a stop there fails (issues #156, #161, #235). Nothing can run from a
/// data directory that is not there: a probe reports "not running" and a
/// stop succeeds, unless a postmaster is alive in it after all.
fn absent(action: Action, probe: bool, f: Failure, cfg: &Config) -> ActionResult {
    let alive = crate::pg::pidfile::live_postmaster(&cfg.datadir, None).is_some();
    match action {
        Action::Stop if !alive => {
            tracing::warn!("{} (nothing can run from it: stop succeeds)", f.reason);
            Ok(OcfRc::Success)
        }
        Action::Monitor if probe && !alive => Err(Failure::not_running(format!(
            "{} (so no instance runs here)",
            f.reason
        ))),
        _ => Err(f),
    }
}

/// A check failed. PAF returns the failure for every action, stop included
/// (issue #161: "No further recovery can be attempted"). A stop or probe
/// that finds no live postmaster reports the truth instead (stopped); a stop
/// that finds one still stops it when the PostgreSQL user and pg_ctl exist.
fn invalid(
    action: Action,
    probe: bool,
    f: Failure,
    cfg: &Config,
    version: PgVersion,
    deadline: Deadline,
) -> AfterFailedCheck {
    let alive = crate::pg::pidfile::live_postmaster(&cfg.datadir, None).is_some();
    match action {
        Action::Stop if !alive => {
            tracing::warn!("{} (PostgreSQL is not running, so stop succeeds)", f.reason);
            AfterFailedCheck::Answer(Ok(OcfRc::Success))
        }
        Action::Stop => {
            let user = OsUser::lookup(&cfg.system_user, deadline).ok().flatten();
            let pg_ctl =
                crate::os::process::find_executable(&cfg.bin("pg_ctl").to_string_lossy(), None);
            match (user, pg_ctl) {
                (Some(user), Some(_)) => {
                    tracing::warn!("{}; stopping the running instance anyway", f.reason);
                    AfterFailedCheck::GoOn(Checked { user, version })
                }
                _ => AfterFailedCheck::Answer(Err(f)),
            }
        }
        Action::Monitor if probe && !alive => AfterFailedCheck::Answer(Err(Failure::not_running(
            format!("{} (no instance runs here)", f.reason),
        ))),
        _ => AfterFailedCheck::Answer(Err(f)),
    }
}

/// What a failed check leads to.
enum AfterFailedCheck {
    /// The action runs anyway (a stop of a running instance), with these.
    GoOn(Checked),
    /// The action's answer.
    Answer(ActionResult),
}

impl Paf {
    /// `early`: the monitor's session, opened before the checks.
    async fn dispatch(&self, early: Option<Session>) -> ActionResult {
        match self.action {
            Action::Monitor => self.monitor(early).await,
            Action::Start => self.start().await,
            Action::Stop => self.stop().await,
            Action::Promote => self.promote().await,
            Action::Demote => self.demote().await,
            Action::Notify => {
                self.notify().await;
                Ok(OcfRc::Success)
            }
            Action::Reload => {
                tracing::info!("Instance \"{}\" reloaded", self.rsc);
                Ok(OcfRc::Success)
            }
            // Served or refused by main before.
            Action::ValidateAll
            | Action::Status
            | Action::Usage
            | Action::MetaData
            | Action::Methods => Ok(OcfRc::Success),
        }
    }

    /// PAF's monitor: the state; on a primary, then the standbys' scores.
    /// One `crm_mon` serves both the scores and, without fencing, the
    /// question whether this primary is cut off (it then stops itself, as
    /// the pgsql personality does: docs/architecture.md). On a standby,
    /// whether it can follow the primary (follow.rs).
    async fn monitor(&self, early: Option<Session>) -> ActionResult {
        let (state, session) = self.observe(early).await;
        match (&state, session) {
            (State::Primary, Some(session)) => {
                let status = self.pcmk.status(&self.rsc).await;
                if let Ok(st) = &status {
                    if self.pcmk.cut_off(st).await {
                        drop(session);
                        return self.stop_cut_off().await;
                    }
                }
                self.check_locations(&session, status.ok()).await?;
                self.primary_now();
            }
            (State::Standby, Some(session)) => self.watch_following(&session).await?,
            _ => {}
        }
        state.result(&self.rsc)
    }

    /// The immediate stop of a primary cut off from the cluster.
    async fn stop_cut_off(&self) -> ActionResult {
        let stopped = self
            .pg_ctl()
            .stop_escalating(Duration::ZERO, self.deadline)
            .await;
        if !stopped.gone {
            return Err(Failure::generic(format!(
                "Failed to stop \"{}\" using pg_ctl (immediate shutdown)",
                self.rsc
            )));
        }
        Err(Failure::not_running(
            "This node's partition lost quorum and fencing is disabled: PostgreSQL was \
             stopped at once (immediate shutdown) so that it cannot accept writes beside a \
             new primary",
        ))
    }

    /// A PostgreSQL program of `bindir`, run as the PostgreSQL user from a
    /// directory it can read.
    fn pg_cmd(&self, program: &str) -> Cmd {
        Cmd::new(self.cfg.bin(program))
            .run_as(&self.user)
            .cwd(crate::os::process::NEUTRAL_DIR)
    }

    /// pg_ctl as PAF runs it: from `bindir`, on `pgdata`.
    fn pg_ctl(&self) -> PgCtl {
        PgCtl::new(
            self.cfg.bin("pg_ctl"),
            &self.cfg.pgdata,
            &self.cfg.datadir,
            &self.user,
        )
    }

    /// `pg_ctl start` (with `start_opts`), waiting for it to finish.
    async fn pg_ctl_start(&self) -> Result<(), String> {
        self.wait_for_old_server().await;
        let opts = crate::pg::ctl::StartOptions {
            // pg_ctl runs postgres through sh: start_opts is shell syntax by
            // contract, as with PAF.
            server: Some(self.cfg.start_opts.clone()).filter(|o| !o.is_empty()),
            ..Default::default()
        };
        match self
            .pg_ctl()
            .start(&opts, crate::pg::ctl::Wait::Yes, self.deadline)
            .await
        {
            Ok(out) if out.success() => Ok(()),
            other => Err(crate::pg::ctl::describe(&other)),
        }
    }

    /// After a crash, the dead postmaster stays a zombie until init reaps
    /// it, and its backends may still be exiting; PostgreSQL refuses to
    /// start while either is there ("lock file already exists"). Give them
    /// a few seconds, as a restart right after a crash (pre-stop, pre-demote,
    /// start) would otherwise fail for nothing.
    async fn wait_for_old_server(&self) {
        let Some(pf) = crate::pg::PidFile::read(&self.cfg.datadir) else {
            return;
        };
        if crate::pg::pidfile::postmaster_alive(&self.cfg.datadir, &self.user).is_some() {
            return;
        }
        let until = self.deadline.within(Duration::from_secs(10));
        while !pf.server_fully_gone() && !until.expired() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn conn_params(&self) -> ConnParams {
        conn_params(&self.cfg, &self.user, &self.env)
    }

    /// A session with the local instance, as the PostgreSQL user.
    async fn session(&self) -> Result<Session, SqlError> {
        self.conn_params().connect(self.deadline).await
    }

    /// The SQL names of PostgreSQL 10+, or of 9.x.
    fn wal_fn(&self, modern: &'static str, legacy: &'static str) -> &'static str {
        if self.version.at_least(10, 0) {
            modern
        } else {
            legacy
        }
    }

    async fn controldata(&self) -> Result<ControlData, Failure> {
        read_controldata(&self.cfg, &self.user, self.deadline).await
    }

    /// This node's promotion score, written and read back.
    async fn set_score(&self, node: &str, score: Score) -> Result<(), Failure> {
        self.pcmk
            .set_promotion_score(node, &score.to_string())
            .await
            .map_err(|e| {
                Failure::generic(format!("could not set the promotion score of {node}: {e}"))
            })
    }
}
