//! Validation of the `pgsql` personality, at the reference's two levels.
//!
//! Level 0 (what `validate-all` does by default, and what `pcs resource create`
//! runs on nodes that may not even have PostgreSQL): the parameters make sense
//! on their own. Level 10 (before every other action): this host can run the
//! resource - binaries, configuration file, data directory. The checks, their
//! order and their exit codes follow the reference, and the side
//! effects of the reference's level 10 (editing postgresql.conf, creating
//! tmpdir) are left to the replication code that needs them.

use std::path::PathBuf;

use super::config::{Config, RepMode};
use crate::ocf::OcfRc;
use crate::ocf::{Failure, OcfEnv};
use crate::os::process::find_executable;
use crate::os::OsUser;
use crate::pg::controldata::ControlData;
use crate::pg::{conf, PgVersion};

/// What level 10 found out about the host, used by the actions.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub version: Option<PgVersion>,
    pub pgctl: Option<PathBuf>,
    pub config_readable: bool,
    /// socketdir as configured, or (PostgreSQL < 9.3) taken from
    /// `unix_socket_directory` in the configuration file.
    pub socketdir: Option<PathBuf>,
}

/// Level 0, first half: the PostgreSQL user exists.
pub fn lookup_dba(cfg: &Config) -> Result<OsUser, Failure> {
    let dba = match OsUser::lookup(&cfg.pgdba) {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(Failure::installed(format!(
                "User {} doesn't exist",
                cfg.pgdba
            )))
        }
        Err(e) => {
            return Err(Failure::installed(format!(
                "User {} cannot be looked up: {e}",
                cfg.pgdba
            )))
        }
    };
    Ok(dba)
}

/// Level 0, second half: the monitor credentials are consistent.
pub fn check_monitor_credentials(cfg: &Config) -> Result<(), Failure> {
    if cfg.monitor_user.is_empty() && !cfg.monitor_password.is_empty() {
        return Err(Failure::configured(
            "monitor_user has to be set if monitor_password is set",
        ));
    }
    Ok(())
}

/// `rejoin=rewind` at level 10: pg_rewind can only rewind a data directory
/// that logs hint bits (`wal_log_hints`) or has data checksums. Read from
/// the control file (the settings of the last checkpoint); nothing to check
/// before initdb.
pub async fn rewindable(
    cfg: &Config,
    facts: &HostFacts,
    dba: &OsUser,
    deadline: crate::ocf::Deadline,
) -> Result<OcfRc, Failure> {
    if !cfg.pgdata.join("global").join("pg_control").exists() {
        return Ok(OcfRc::Success);
    }
    let tool = facts
        .pgctl
        .as_deref()
        .and_then(|p| p.parent())
        .map(|d| d.join("pg_controldata"))
        .unwrap_or_else(|| PathBuf::from("pg_controldata"));
    let cd = ControlData::read(&tool, &cfg.pgdata, dba, deadline)
        .await
        .map_err(|e| {
            Failure::generic(format!("rejoin=rewind: cannot read the control data: {e}"))
        })?;
    if cd.rewindable == Some(false) {
        return Err(crate::agents::not_rewindable());
    }
    Ok(OcfRc::Success)
}

/// Level 10: can this host run the resource? `probe` relaxes the checks that
/// a node without the resource would fail (configuration file, data
/// directory), as the reference does.
pub fn level10(
    cfg: &Config,
    env: &OcfEnv,
    dba: &OsUser,
    probe: bool,
) -> Result<HostFacts, Failure> {
    let mut facts = HostFacts {
        version: PgVersion::read(&cfg.pgdata),
        ..HostFacts::default()
    };

    facts.pgctl = if env.tester_fails_binaries() {
        None
    } else {
        find_executable(&cfg.pgctl, env.process.path.as_deref())
    };
    if facts.pgctl.is_none() {
        return Err(Failure::installed(format!(
            "Setup problem: couldn't find command: {}",
            cfg.pgctl
        )));
    }

    facts.config_readable = cfg.config.is_file();
    if !facts.config_readable {
        if probe {
            tracing::info!("Unable to read {} during probe.", cfg.config.display());
        } else {
            return Err(Failure::installed(format!(
                "Configuration file {} doesn't exist",
                cfg.config.display()
            )));
        }
    }

    facts.socketdir = (!cfg.socketdir.is_empty()).then(|| PathBuf::from(&cfg.socketdir));
    if facts.config_readable {
        let old = facts.version.is_some_and(|v| !v.at_least(9, 3));
        if old {
            // The reference meant to read unix_socket_directory for old servers
            // and never did.
            if facts.socketdir.is_none() {
                facts.socketdir = conf::get(&cfg.config, "unix_socket_directory")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from);
            }
        } else if facts.socketdir.is_none()
            && conf::get(&cfg.config, "unix_socket_directories").is_some_and(|v| !v.is_empty())
        {
            return Err(Failure::configured(
                "In PostgreSQL 9.3 or higher, socketdir can't be empty if you define \
                 unix_socket_directories in the postgresql.conf.",
            ));
        }
    }

    if probe {
        tracing::debug!("Don't check {} during probe", cfg.pgdata.display());
    } else if !dba.can_write(&cfg.pgdata) {
        return Err(Failure::perm(format!(
            "Directory {} is not writable by {}",
            cfg.pgdata.display(),
            cfg.pgdba
        )));
    }

    replication_checks(cfg, env, &facts, probe)?;
    upfront_checks(cfg, &facts)?;
    Ok(facts)
}

/// What the original upfront agent's Debian layout adds: `version` must be
/// the data directory's, and the configuration must not name another data
/// directory (Debian's postgresql.conf sets data_directory; pg_ctl -D would
/// then watch a directory the server does not use).
fn upfront_checks(cfg: &Config, facts: &HostFacts) -> Result<(), Failure> {
    let Some(up) = &cfg.upfront else {
        return Ok(());
    };
    if let (Some(want), Some(have)) = (&up.version, facts.version) {
        if !version_matches(want, have) {
            return Err(Failure::installed(format!(
                "version={want} but {} holds a PostgreSQL {have} data directory; fix version \
                 or datadir",
                cfg.pgdata.display()
            )));
        }
    }
    if facts.config_readable {
        if let Some(dd) = conf::get(&cfg.config, "data_directory").filter(|d| !d.is_empty()) {
            // Only where both exist: a node without its data directory
            // (a probe) fails elsewhere, with a local error.
            let differ = match (
                std::fs::canonicalize(&dd),
                std::fs::canonicalize(&cfg.pgdata),
            ) {
                (Ok(a), Ok(b)) => a != b,
                _ => false,
            };
            if differ {
                return Err(Failure::configured(format!(
                    "{} sets data_directory = '{dd}' but the data directory is {}; set datadir \
                     (or pgdata) to the data_directory of {}",
                    cfg.config.display(),
                    cfg.pgdata.display(),
                    cfg.config.display()
                )));
            }
        }
    }
    Ok(())
}

/// `version` as the original agent took it ("9.1", "15") against
/// PG_VERSION: before 10 the major is two numbers, from 10 on one.
fn version_matches(want: &str, have: PgVersion) -> bool {
    let have = have.to_string();
    want == have || (have.split('.').count() == 1 && want.split('.').next() == Some(&have))
}

/// The parameter checks of replication and slave mode (the reference's
/// validation steps for rep_mode and master_ip),
/// without their file-system side effects.
fn replication_checks(
    cfg: &Config,
    env: &OcfEnv,
    facts: &HostFacts,
    probe: bool,
) -> Result<(), Failure> {
    let rep = cfg.rep_mode;
    if rep.is_replication() || rep == RepMode::Slave {
        if facts.version.is_some_and(|v| !v.at_least(9, 1)) {
            return Err(Failure::installed(
                "Replication mode needs PostgreSQL 9.1 or higher.",
            ));
        }
        if cfg.master_ip.is_empty() {
            return Err(Failure::configured("master_ip can't be empty."));
        }
    }
    if rep.is_replication() {
        if !env.is_promotable() {
            return Err(Failure::configured(
                "Replication(rep_mode=async or sync) requires Master/Slave configuration.",
            ));
        }
        if !cfg.external_standby_node_list.is_empty() && rep != RepMode::Sync {
            return Err(Failure::configured(
                "external_standby_node_list requires rep_mode=sync.",
            ));
        }
        // With the original upfront agent's `primary`, the nodes are the
        // cluster's (that agent had no node_list).
        if cfg.node_list.is_empty() && !cfg.node_list_from_cluster() {
            return Err(Failure::configured("node_list can't be empty."));
        }
    }
    if rep == RepMode::Slave && env.is_promotable() {
        return Err(Failure::configured(
            "Replication(rep_mode=slave) does not support Master/Slave configuration.",
        ));
    }
    if !cfg.replication_slot_name.is_empty() {
        match facts.version {
            Some(v) if !v.at_least(9, 4) => {
                return Err(Failure::configured(
                    "Replication slot needs PostgreSQL 9.4 or higher.",
                ))
            }
            Some(_) => {}
            // No PG_VERSION: this node has no data directory. That is a
            // local problem (5), never a cluster-wide fatal one (the
            // reference's 6); a probe simply goes on.
            None if probe => {}
            None => {
                return Err(Failure::installed(format!(
                    "Cannot read {}: the PostgreSQL version is needed to use \
                     replication_slot_name",
                    cfg.pgdata.join("PG_VERSION").display()
                )))
            }
        }
        if !cfg
            .replication_slot_name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Failure::configured(format!(
                "Invalid replication_slot_name({}). only use lower case letters, numbers, \
                 and the underscore character.",
                cfg.replication_slot_name
            )));
        }
    }
    Ok(())
}
