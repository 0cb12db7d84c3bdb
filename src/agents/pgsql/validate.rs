//! Validation of the `pgsql` personality, at two levels.
//!
//! Level 0 (what `validate-all` does by default, and what `pcs resource create`
//! runs on nodes that may not even have PostgreSQL): the parameters make sense
//! on their own. Every rule that needs nothing but the parameters and the
//! meta attributes is in `parameter_rules`, a pure function that runs at every
//! level, so a configuration that cannot work is refused when it is created
//! (docs/compatibility.md, row 6a). Level 10 (before every other action): this
//! host can run the resource - binaries, configuration file, data directory,
//! the PostgreSQL version the parameters need. The checks, their order and
//! their exit codes follow the reference, and the side effects of the
//! reference's validation (editing postgresql.conf, creating tmpdir) are left
//! to the replication code that needs them.

use std::path::PathBuf;

use super::config::{Config, RepMode};
use crate::ocf::OcfRc;
use crate::ocf::{Action, Failure, OcfEnv};
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

/// What the environment says about the clone the resource is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promotable {
    Yes,
    No,
    /// `validate-all` without the resource's meta attributes (`pcs resource
    /// create`, `crm_resource --validate --agent ...`, a run by hand): the
    /// clone cannot be seen, so it is not judged.
    Unknown,
}

impl Promotable {
    /// Every action Pacemaker runs comes with the meta attributes, so there
    /// their absence means a primitive, as for the reference. Only
    /// `validate-all` may run where they cannot be known
    /// (`OcfEnv::has_resource_meta`).
    pub fn of(env: &OcfEnv, action: Action) -> Promotable {
        if env.is_promotable() {
            Promotable::Yes
        } else if action == Action::ValidateAll && !env.has_resource_meta() {
            Promotable::Unknown
        } else {
            Promotable::No
        }
    }
}

/// Every rule about the parameters that needs no host fact (no file,
/// program, user or server), in the reference's order: what `validate-all`
/// checks at every level, and level 10 before every other action. Every
/// failure, the first one being the one to report.
pub fn parameter_rules(cfg: &Config, clone: Promotable) -> Vec<Failure> {
    let mut failures = Vec::new();
    let rep = cfg.rep_mode;
    if (rep.is_replication() || rep == RepMode::Slave) && cfg.master_ip.is_empty() {
        failures.push(Failure::configured("master_ip can't be empty."));
    }
    if rep.is_replication() {
        if clone == Promotable::No {
            failures.push(Failure::configured(
                "Replication(rep_mode=async or sync) requires Master/Slave configuration.",
            ));
        }
        if !cfg.external_standby_node_list.is_empty() && rep != RepMode::Sync {
            failures.push(Failure::configured(
                "external_standby_node_list requires rep_mode=sync.",
            ));
        }
        // With the original upfront agent's `primary`, the nodes are the
        // cluster's (that agent had no node_list).
        if cfg.node_list.is_empty() && !cfg.node_list_from_cluster() {
            failures.push(Failure::configured("node_list can't be empty."));
        }
    }
    if rep == RepMode::Slave && clone == Promotable::Yes {
        failures.push(Failure::configured(
            "Replication(rep_mode=slave) does not support Master/Slave configuration.",
        ));
    }
    if !cfg
        .replication_slot_name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        failures.push(Failure::configured(format!(
            "Invalid replication_slot_name({}). only use lower case letters, numbers, \
             and the underscore character.",
            cfg.replication_slot_name
        )));
    }
    failures
}

/// `parameter_rules` as a check: the first failure, the others logged (so
/// that one `validate-all` shows everything to fix).
pub fn check_parameters(cfg: &Config, clone: Promotable) -> Result<(), Failure> {
    let mut failures = parameter_rules(cfg, clone).into_iter();
    let Some(first) = failures.next() else {
        if clone == Promotable::Unknown && cfg.rep_mode != RepMode::None {
            tracing::info!(
                "No meta attributes were passed: whether the resource is a promotable clone \
                 is checked when Pacemaker runs it"
            );
        }
        return Ok(());
    };
    for other in failures {
        tracing::warn!("also: {}", other.reason);
    }
    Err(first)
}

/// Level 0, first half: the PostgreSQL user exists.
pub fn lookup_dba(cfg: &Config, deadline: crate::ocf::Deadline) -> Result<OsUser, Failure> {
    let dba = match OsUser::lookup(&cfg.pgdba, deadline) {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(Failure::installed(format!(
                "User {} doesn't exist",
                cfg.pgdba
            )))
        }
        Err(e @ crate::os::user::LookupError::TimedOut) => {
            return Err(Failure::generic(format!(
                "User {} cannot be looked up: {e}",
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
    clone: Promotable,
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

    replication_checks(cfg, clone, &facts, probe)?;
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

/// The checks of replication and slave mode that need this host's
/// PostgreSQL version, around the parameter rules (the reference's order;
/// its file-system side effects are left out).
fn replication_checks(
    cfg: &Config,
    clone: Promotable,
    facts: &HostFacts,
    probe: bool,
) -> Result<(), Failure> {
    let rep = cfg.rep_mode;
    if (rep.is_replication() || rep == RepMode::Slave)
        && facts.version.is_some_and(|v| !v.at_least(9, 1))
    {
        return Err(Failure::installed(
            "Replication mode needs PostgreSQL 9.1 or higher.",
        ));
    }
    check_parameters(cfg, clone)?;
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&OcfEnv::from_params(pairs)).unwrap()
    }

    fn reasons(pairs: &[(&str, &str)], clone: Promotable) -> Vec<String> {
        parameter_rules(&cfg(pairs), clone)
            .into_iter()
            .inspect(|f| assert_eq!(f.rc, OcfRc::ErrConfigured, "{}", f.reason))
            .map(|f| f.reason)
            .collect()
    }

    type Pairs = Vec<(&'static str, &'static str)>;

    const SYNC: &[(&str, &str)] = &[
        ("rep_mode", "sync"),
        ("master_ip", "192.0.2.1"),
        ("node_list", "node1 node2"),
    ];

    #[test]
    fn the_quick_starts_pass() {
        // docs/quickstart-two-nodes.md and the test cluster's CIB.
        for clone in [Promotable::Yes, Promotable::Unknown] {
            assert!(reasons(SYNC, clone).is_empty());
            let mut a = SYNC.to_vec();
            a[0] = ("rep_mode", "async");
            assert!(reasons(&a, clone).is_empty());
        }
        assert!(reasons(&[], Promotable::No).is_empty());
        assert!(reasons(&[], Promotable::Unknown).is_empty());
        let slave = [("rep_mode", "slave"), ("master_ip", "192.0.2.1")];
        assert!(reasons(&slave, Promotable::No).is_empty());
        assert!(reasons(&slave, Promotable::Unknown).is_empty());
        let slot = [("replication_slot_name", "pgsql_slot_1")];
        assert!(reasons(&slot, Promotable::No).is_empty());
    }

    #[test]
    fn each_rule_fires_with_its_reason() {
        let with = |k: &'static str, v: &'static str| {
            let mut a: Vec<(&str, &str)> = SYNC.iter().filter(|(n, _)| *n != k).copied().collect();
            a.push((k, v));
            a
        };
        let cases: Vec<(Pairs, Promotable, &str)> = vec![
            (
                with("master_ip", ""),
                Promotable::Yes,
                "master_ip can't be empty.",
            ),
            (
                vec![("rep_mode", "slave")],
                Promotable::No,
                "master_ip can't be empty.",
            ),
            (
                SYNC.to_vec(),
                Promotable::No,
                "Replication(rep_mode=async or sync) requires Master/Slave configuration.",
            ),
            (
                with("rep_mode", "async")
                    .into_iter()
                    .chain([("external_standby_node_list", "ext1")])
                    .collect(),
                Promotable::Yes,
                "external_standby_node_list requires rep_mode=sync.",
            ),
            (
                with("node_list", " "),
                Promotable::Yes,
                "node_list can't be empty.",
            ),
            (
                vec![("rep_mode", "slave"), ("master_ip", "192.0.2.1")],
                Promotable::Yes,
                "Replication(rep_mode=slave) does not support Master/Slave configuration.",
            ),
            (
                vec![("replication_slot_name", "Bad-Name")],
                Promotable::No,
                "Invalid replication_slot_name(Bad-Name). only use lower case letters, \
                 numbers, and the underscore character.",
            ),
        ];
        for (pairs, clone, want) in cases {
            assert_eq!(reasons(&pairs, clone), vec![want.to_string()], "{pairs:?}");
        }
    }

    #[test]
    fn every_failure_in_the_reference_order() {
        let got = reasons(
            &[
                ("rep_mode", "async"),
                ("external_standby_node_list", "ext1"),
                ("replication_slot_name", "X"),
            ],
            Promotable::No,
        );
        let want = [
            "master_ip can't be empty.",
            "requires Master/Slave configuration",
            "external_standby_node_list requires rep_mode=sync.",
            "node_list can't be empty.",
            "Invalid replication_slot_name(X)",
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.contains(w), "{g} / {w}");
        }
        let first = check_parameters(&cfg(&[("rep_mode", "sync")]), Promotable::No);
        assert_eq!(first.unwrap_err().reason, "master_ip can't be empty.");
    }

    #[test]
    fn an_unknown_clone_is_not_judged() {
        // The upfront agent's `primary`: the nodes are the cluster's.
        let up = reasons(super::super::upfront::TUTORIAL_BLOCK, Promotable::Unknown);
        assert!(up.is_empty(), "{up:?}");
        let env = |pairs: &[(&str, &str)]| {
            OcfEnv::from_vars(
                pairs
                    .iter()
                    .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
                &[],
            )
        };
        let v = Action::ValidateAll;
        let bare = env(&[("CRM_meta_timeout", "20000")]);
        assert_eq!(Promotable::of(&bare, v), Promotable::Unknown);
        assert_eq!(Promotable::of(&bare, Action::Start), Promotable::No);
        // crm_resource --validate --resource: the primitive's XML attributes.
        let primitive = env(&[("CRM_meta_class", "ocf"), ("CRM_meta_type", "pgsql")]);
        assert_eq!(Promotable::of(&primitive, v), Promotable::No);
        let clone = env(&[("CRM_meta_class", "ocf"), ("CRM_meta_promotable", "true")]);
        assert_eq!(Promotable::of(&clone, v), Promotable::Yes);
        assert_eq!(
            Promotable::of(&env(&[("CRM_meta_promoted_max", "1")]), v),
            Promotable::Yes
        );
    }
}
