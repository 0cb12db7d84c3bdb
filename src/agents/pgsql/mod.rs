//! The `ocf:heartbeat:pgsql` contract.
//!
//! `run` is the whole life of one invocation: parse the configuration, run the
//! validation levels the reference runs for this action, then the action.
//! Everything an action needs (configuration, the PostgreSQL user, host facts,
//! the deadline) is gathered once into `Pgsql` and never changes afterwards.

pub mod config;
mod ctl;
mod monitor;
pub mod params;
mod promote;
mod replication;
mod start;
mod stop;
mod upfront;
mod validate;

use std::time::Duration;

pub use config::{Config, RepMode};
use validate::HostFacts;

use crate::cluster::{Pacemaker, Tools};
use crate::ocf::{block_on, Action, ActionResult, Deadline, Failure, OcfEnv, OcfRc};
use crate::os::OsUser;

/// Everything one action works with, read once.
pub struct Pgsql {
    pub env: OcfEnv,
    pub cfg: Config,
    pub dba: OsUser,
    pub facts: HostFacts,
    pub deadline: Deadline,
    pub action: Action,
    pub tools: Tools,
}

/// The `ocf:heartbeat:pgsql` contract.
pub struct PgsqlAgent;

pub static PGSQL: PgsqlAgent = PgsqlAgent;

impl crate::agents::Agent for PgsqlAgent {
    fn name(&self) -> &'static str {
        "pgsql"
    }

    /// With `config`'s default computed from `pgdata`, as the reference does.
    fn metadata_xml(&self, env: &OcfEnv) -> String {
        params::META.to_xml(&|name| Config::computed_default(env, name))
    }

    fn methods(&self) -> &'static str {
        params::METHODS
    }

    /// Every OCF action but PAF's `reload`.
    fn support(&self, action: Action) -> crate::agents::Support {
        match action {
            Action::Reload => crate::agents::Support::Unknown,
            _ => crate::agents::Support::Yes,
        }
    }

    fn run(&self, action: Action, env: OcfEnv, program: &str) -> ActionResult {
        run(action, env, program)
    }

    fn local(&self, env: &OcfEnv, deadline: Deadline) -> Result<crate::agents::Local, Failure> {
        let cfg = Config::from_env(env)?;
        let dba = validate::lookup_dba(&cfg, deadline)?;
        let facts = HostFacts {
            socketdir: (!cfg.socketdir.is_empty()).then(|| cfg.socketdir.clone().into()),
            ..HostFacts::default()
        };
        let pg = Pgsql {
            env: env.clone(),
            dba,
            facts,
            deadline,
            action: Action::Monitor,
            tools: Tools::from_env(env),
            cfg,
        };
        let pidfile = crate::pg::PidFile::read(&pg.cfg.pgdata);
        Ok(crate::agents::Local {
            conn: pg.conn_params(pidfile.as_ref()),
            lock_file: Some(pg.cfg.lock_file()),
            sync: pg.cfg.rep_mode == RepMode::Sync,
            rejoin: pg.cfg.rejoin,
            pgdata: pg.cfg.pgdata,
        })
    }
}

/// Runs one action (meta-data, methods and usage are handled by the caller).
fn run(action: Action, env: OcfEnv, program: &str) -> ActionResult {
    let deadline = env.deadline(params::META.action_timeout(action.name()));
    let cfg = if action == Action::Stop {
        let (cfg, problems) = Config::from_env_lenient(&env);
        for p in problems {
            tracing::warn!("{} (stopping anyway, with the default)", p.reason);
        }
        cfg
    } else {
        Config::from_env(&env)?
    };
    let probe = action == Action::Monitor && env.interval_ms() == 0;

    // The rules on the parameters alone, at every level: validate-all below
    // level 10 checks them first (they are the same on every node, and
    // `pcs resource create` runs it where PostgreSQL may not be installed);
    // level 10 runs them in the reference's place.
    let clone = validate::Promotable::of(&env, action);
    let level10 = action != Action::ValidateAll || env.check_level >= 10;
    if !level10 {
        validate::check_monitor_credentials(&cfg)?;
        validate::check_parameters(&cfg, clone)?;
    }

    // Level 0. The reference maps its failures to "stopped" for stop (0),
    // monitor and status (7), assuming nothing can run without the user. We
    // look first: a server that does run is stopped (stop) or reported
    // with the configuration error (monitor, status), never called stopped.
    let dba = match validate::lookup_dba(&cfg, deadline) {
        Ok(dba) => dba,
        Err(f) => return user_unknown(action, f, &cfg, deadline),
    };
    if let Err(f) = validate::check_monitor_credentials(&cfg) {
        match action {
            // Stopping needs no monitor credentials.
            Action::Stop => tracing::warn!("{} (ignored for stop)", f.reason),
            Action::Monitor | Action::Status
                if crate::pg::pidfile::postmaster_alive(&cfg.pgdata, &dba).is_none() =>
            {
                return Err(Failure::not_running(format!(
                    "PostgreSQL is not running ({})",
                    f.reason
                )))
            }
            _ => return Err(f),
        }
    }

    // Level 10: for every action but validate-all, which runs it only when
    // asked for with OCF_CHECK_LEVEL=10.
    let facts = if level10 {
        match validate::level10(&cfg, &env, clone, &dba, probe) {
            Ok(f) => f,
            Err(f) => return validation_failed(action, f, &cfg, &dba, &env, deadline),
        }
    } else {
        HostFacts::default()
    };
    if action == Action::ValidateAll {
        if level10 && cfg.rejoin == config::Rejoin::Rewind {
            block_on(validate::rewindable(&cfg, &facts, &dba, deadline))?;
        }
        return Ok(OcfRc::Success);
    }

    match crate::os::user::current_user_name() {
        Some(me) if me == "root" || me == cfg.pgdba => {}
        _ => {
            return Err(Failure::generic(format!(
                "{program} must be run as root or {}",
                cfg.pgdba
            )))
        }
    }

    let agent = Pgsql {
        tools: Tools::from_env(&env),
        env,
        cfg,
        dba,
        facts,
        deadline,
        action,
    };
    block_on(agent.dispatch())
}

/// The configured PostgreSQL user does not exist.
fn user_unknown(action: Action, f: Failure, cfg: &Config, deadline: Deadline) -> ActionResult {
    let alive = crate::pg::pidfile::live_postmaster(&cfg.pgdata, None);
    match action {
        Action::Stop if alive.is_none() => {
            tracing::info!("{}; nothing to stop", f.reason);
            Ok(OcfRc::Success)
        }
        Action::Stop => {
            tracing::warn!(
                "{}; stopping the PostgreSQL that runs here anyway",
                f.reason
            );
            block_on(stop::stop_without_pg_ctl(cfg, None, deadline))
        }
        Action::Monitor | Action::Status if alive.is_none() => Err(Failure::not_running(format!(
            "{}; PostgreSQL is not running here",
            f.reason
        ))),
        _ => Err(f),
    }
}

/// A level-10 failure. The reference exits with the code for every action,
/// so a missing binary or configuration file makes `stop` fail and gets the
/// node fenced. We only let that happen when PostgreSQL might
/// still be running: a stop or probe that finds no live postmaster reports
/// "stopped", and a stop that finds one still stops it (with signals when
/// pg_ctl itself is what is missing).
fn validation_failed(
    action: Action,
    f: Failure,
    cfg: &Config,
    dba: &OsUser,
    env: &OcfEnv,
    deadline: Deadline,
) -> ActionResult {
    let probe = action == Action::Monitor && env.interval_ms() == 0;
    let alive = crate::pg::pidfile::postmaster_alive(&cfg.pgdata, dba);
    match action {
        Action::Stop if alive.is_none() => {
            tracing::warn!("{} (PostgreSQL is not running, so stop succeeds)", f.reason);
            Ok(OcfRc::Success)
        }
        Action::Stop => {
            tracing::warn!("{}; stopping the running PostgreSQL anyway", f.reason);
            block_on(stop::stop_without_pg_ctl(cfg, Some(dba), deadline))
        }
        Action::Monitor if probe && alive.is_none() => Err(Failure::not_running(format!(
            "PostgreSQL is not running ({})",
            f.reason
        ))),
        _ => Err(f),
    }
}

impl Pgsql {
    async fn dispatch(&self) -> ActionResult {
        if let Err(f) = self.prepare_replication_files() {
            // A stop must not fail over the include lines: a failed stop gets the
            // node fenced.
            if self.action != Action::Stop {
                return Err(f);
            }
            tracing::warn!("{}", f.reason);
        }
        if self.cfg.rep_mode.is_replication() && self.action != Action::Status {
            let repl = replication::Repl::new(self).await;
            if self.action != Action::Monitor {
                repl.forget_steady();
            }
            return match self.action {
                Action::Monitor => repl.monitor().await,
                Action::Start => repl.start().await,
                Action::Stop => repl.stop().await,
                Action::Promote => repl.promote().await,
                Action::Demote => repl.demote().await,
                Action::Notify => repl.notify().await,
                _ => Ok(OcfRc::Success),
            };
        }
        match self.action {
            Action::Status => self.status(),
            Action::Monitor => self.monitor().await,
            Action::Start => self.start().await,
            Action::Stop => self.stop().await,
            Action::Promote => self.promote().await,
            Action::Demote => self.demote().await,
            Action::Notify => self.notify().await,
            // Served by main (the first three), or not part of this contract
            // (reload: main answers with the usage).
            Action::MetaData | Action::Methods | Action::Usage | Action::Reload => {
                Ok(OcfRc::Success)
            }
            Action::ValidateAll => Ok(OcfRc::Success),
        }
    }

    /// Pacemaker's tools for this resource instance, each write bounded by
    /// `crm_attr_timeout`.
    fn pacemaker(&self) -> Pacemaker {
        Pacemaker {
            instance: self.env.resource_instance.clone(),
            feature_set: self.env.param("crm_feature_set").map(str::to_string),
            deadline: self.deadline,
            forever_timeout: Duration::from_secs(self.cfg.crm_attr_timeout.max(1)),
            tools: self.tools.clone(),
        }
    }

    /// This node's name, lower-cased as the reference does.
    async fn local_name(&self) -> String {
        self.pacemaker()
            .local_node(self.env.meta("on_node"))
            .await
            .to_ascii_lowercase()
    }

    /// The reason given with a 7.
    fn not_running(&self) -> Failure {
        Failure::not_running(format!(
            "PostgreSQL is not running (no live postmaster for {})",
            self.cfg.pgdata.display()
        ))
    }

    fn status(&self) -> ActionResult {
        if crate::pg::pidfile::postmaster_alive(&self.cfg.pgdata, &self.dba).is_some() {
            tracing::info!("PostgreSQL is up");
            Ok(OcfRc::Success)
        } else {
            tracing::info!("PostgreSQL is down");
            Err(self.not_running())
        }
    }
}
