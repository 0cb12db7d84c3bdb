//! The `pgsql` personality's configuration: every `OCF_RESKEY_*` parameter,
//! parsed once into typed, immutable values.
//!
//! Defaults come from the meta-data table (`params.rs`), so what we advertise
//! is what we use. Like the reference, a parameter that is set but empty stays
//! empty (shell `${x=default}`), except numbers, where empty means "default".
//! Unlike the reference, a malformed number, boolean or `rep_mode` is refused
//! up front with `OCF_ERR_CONFIGURED` and a message naming the parameter,
//! instead of surfacing later as a shell test error or a silent `false`.

use std::path::PathBuf;

use super::params::META;
pub use super::upfront::Upfront;
use crate::ocf::env::parse_bool;
use crate::ocf::{Failure, OcfEnv};
pub use crate::pg::rewind::Rejoin;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepMode {
    None,
    Async,
    Sync,
    Slave,
}

impl RepMode {
    /// `is_replication` of the reference: async or sync.
    pub fn is_replication(self) -> bool {
        matches!(self, RepMode::Async | RepMode::Sync)
    }
}

/// The validated parameter set. Fields are the parameters of the same name.
#[derive(Clone, Debug)]
pub struct Config {
    pub pgctl: String,
    pub start_opt: String,
    pub ctl_opt: Vec<String>,
    /// SQL goes through our own client; psql runs only for the replication
    /// protocol's questions to another server (pg/replication.rs), when a
    /// former primary's lock is checked.
    pub psql: String,
    pub pgdata: PathBuf,
    pub pgdba: String,
    pub pghost: String,
    pub pgport: u16,
    pub pglibs: String,
    /// As given; empty means "pgdba" (see `monitor_user()`).
    pub monitor_user: String,
    pub monitor_password: String,
    pub monitor_sql: String,
    pub config: PathBuf,
    pub pgdb: String,
    pub logfile: PathBuf,
    pub socketdir: String,
    pub stop_escalate: u64,
    pub rep_mode: RepMode,
    /// Lower-cased, as the reference compares node names.
    pub node_list: Vec<String>,
    pub restore_command: String,
    pub archive_cleanup_command: String,
    pub recovery_end_command: String,
    pub master_ip: String,
    pub repuser: String,
    pub primary_conninfo_opt: String,
    pub restart_on_promote: bool,
    pub replication_slot_name: String,
    pub tmpdir: PathBuf,
    pub xlog_check_count: u32,
    pub crm_attr_timeout: u64,
    pub stop_escalate_in_slave: u64,
    pub check_wal_receiver: bool,
    pub external_standby_node_list: Vec<String>,
    /// Never clear synchronous_standby_names (slaves.rs `plan_sync`).
    pub strict_sync: bool,
    pub rejoin: Rejoin,
    /// Set when any parameter of the original upfront agent was given
    /// (`upfront.rs`); their values are already mapped into the fields above.
    pub upfront: Option<Upfront>,
}

/// The monitor query's default; in replication mode a changed value is also
/// run on the primary.
pub const DEFAULT_MONITOR_SQL: &str = "select now();";

/// The value of a parameter, or its advertised default when unset.
fn raw<'a>(env: &'a OcfEnv, name: &str) -> &'a str {
    match env.param(name) {
        Some(v) => v,
        None => META.param(name).and_then(|p| p.default).unwrap_or(""),
    }
}

/// Parses parameter values. Strict parsing stops at the first malformed
/// value; lenient parsing (for `stop`, which must work even with a typo in
/// the CIB) records the problem and uses the default instead.
struct Parser<'a> {
    env: &'a OcfEnv,
    lenient: bool,
    problems: Vec<Failure>,
    /// Values the original upfront agent's parameters stand for, used where
    /// the `pgsql` parameter itself is not given.
    mapped: std::collections::BTreeMap<&'static str, String>,
}

impl<'a> Parser<'a> {
    /// A parameter's value: as given, else what an upfront alias maps to,
    /// else the advertised default.
    fn raw(&self, name: &str) -> &str {
        let given = self.env.param(name);
        if given.is_none_or(|v| v.trim().is_empty()) {
            if let Some(v) = self.mapped.get(name) {
                return v;
            }
        }
        raw(self.env, name)
    }

    fn default_of(name: &str) -> &'static str {
        META.param(name).and_then(|p| p.default).unwrap_or("")
    }

    fn problem<T>(&mut self, f: Failure, fallback: T) -> Result<T, Failure> {
        if self.lenient {
            self.problems.push(f);
            Ok(fallback)
        } else {
            Err(f)
        }
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, Failure> {
        let given = self.raw(name).trim();
        let v = if given.is_empty() {
            Self::default_of(name)
        } else {
            given
        };
        match v.parse() {
            Ok(n) => Ok(n),
            Err(_) => {
                let f = Failure::configured(format!(
                    "Invalid {name}: '{given}' is not a non-negative whole number; set {name} \
                     to a number like {}",
                    Self::default_of(name)
                ));
                let fallback = Self::default_of(name).parse().ok();
                match fallback {
                    Some(d) => self.problem(f, d),
                    None => Err(f),
                }
            }
        }
    }

    fn boolean(&mut self, name: &str) -> Result<bool, Failure> {
        match parse_bool(self.raw(name)) {
            Some(b) => Ok(b),
            None => {
                let f = Failure::configured(format!(
                    "Invalid {name}: '{}' is not a boolean; use true or false",
                    self.raw(name)
                ));
                let fallback = parse_bool(Self::default_of(name)).unwrap_or(false);
                self.problem(f, fallback)
            }
        }
    }

    fn rep_mode(&mut self) -> Result<RepMode, Failure> {
        match self.raw("rep_mode") {
            "none" => Ok(RepMode::None),
            "async" => Ok(RepMode::Async),
            "sync" => Ok(RepMode::Sync),
            "slave" => Ok(RepMode::Slave),
            other => {
                let f = Failure::configured(format!(
                    "Invalid rep_mode : {other} (use none, async, sync or slave)"
                ));
                self.problem(f, RepMode::None)
            }
        }
    }

    fn rejoin(&mut self) -> Result<Rejoin, Failure> {
        let given = self.raw("rejoin").trim();
        let v = if given.is_empty() {
            Self::default_of("rejoin")
        } else {
            given
        };
        match Rejoin::parse(v) {
            Some(r) => Ok(r),
            None => {
                let f = Failure::configured(format!(
                    "Invalid rejoin: '{given}' (use off, safe or rewind)"
                ));
                self.problem(f, Rejoin::Safe)
            }
        }
    }

    fn pgport(&mut self) -> Result<u16, Failure> {
        let given = self.raw("pgport").trim();
        let v = if given.is_empty() { "5432" } else { given };
        match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => {
                let f = Failure::configured(format!(
                    "Invalid pgport: '{given}' is not a TCP port number (1-65535)"
                ));
                self.problem(f, 5432)
            }
        }
    }

    fn ctl_opt(&mut self) -> Result<Vec<String>, Failure> {
        match shell_words::split(self.raw("ctl_opt")) {
            Ok(v) => Ok(v),
            Err(e) => {
                let f = Failure::configured(format!(
                    "Invalid ctl_opt: {e} in '{}'; balance the quotes",
                    self.raw("ctl_opt")
                ));
                self.problem(f, Vec::new())
            }
        }
    }
}

fn node_names(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_ascii_lowercase).collect()
}

impl Config {
    pub fn from_env(env: &OcfEnv) -> Result<Config, Failure> {
        let mut p = Parser {
            env,
            lenient: false,
            problems: Vec::new(),
            mapped: Default::default(),
        };
        Self::parse(&mut p)
    }

    /// For `stop`: every malformed value replaced by its default, with the
    /// problems returned for logging. A stop must not fail (and get the node
    /// fenced) over a typo that has nothing to do with stopping.
    pub fn from_env_lenient(env: &OcfEnv) -> (Config, Vec<Failure>) {
        let mut p = Parser {
            env,
            lenient: true,
            problems: Vec::new(),
            mapped: Default::default(),
        };
        match Self::parse(&mut p) {
            Ok(c) => (c, p.problems),
            // Unreachable with lenient parsing; fall back to all defaults.
            Err(f) => {
                let empty = OcfEnv::default();
                let mut q = Parser {
                    env: &empty,
                    lenient: true,
                    problems: Vec::new(),
                    mapped: Default::default(),
                };
                let c = Self::parse(&mut q).expect("defaults parse");
                (c, vec![f])
            }
        }
    }

    fn parse(p: &mut Parser) -> Result<Config, Failure> {
        let env = p.env;
        let (mapped, problems) = super::upfront::map(&|name| env.param(name), p.lenient)?;
        p.problems.extend(problems);
        p.mapped = mapped.values;
        let pgdata = PathBuf::from(p.raw("pgdata"));
        let config = match p.mapped.get("config") {
            Some(c) if env.param("config").is_none_or(|v| v.trim().is_empty()) => PathBuf::from(c),
            _ => match env.param("config") {
                Some(c) => PathBuf::from(c),
                None => pgdata.join("postgresql.conf"),
            },
        };
        let rep_mode = p.rep_mode()?;
        let pgport = p.pgport()?;
        let ctl_opt = p.ctl_opt()?;
        let s = |p: &Parser, name: &str| p.raw(name).to_string();
        Ok(Config {
            pgctl: s(p, "pgctl"),
            start_opt: s(p, "start_opt"),
            ctl_opt,
            psql: s(p, "psql"),
            pgdata,
            pgdba: s(p, "pgdba"),
            pghost: s(p, "pghost"),
            pgport,
            pglibs: s(p, "pglibs"),
            monitor_user: s(p, "monitor_user"),
            monitor_password: s(p, "monitor_password"),
            monitor_sql: s(p, "monitor_sql"),
            config,
            pgdb: s(p, "pgdb"),
            logfile: PathBuf::from(p.raw("logfile")),
            socketdir: s(p, "socketdir"),
            stop_escalate: p.number("stop_escalate")?,
            rep_mode,
            node_list: node_names(p.raw("node_list")),
            restore_command: s(p, "restore_command"),
            archive_cleanup_command: s(p, "archive_cleanup_command"),
            recovery_end_command: s(p, "recovery_end_command"),
            master_ip: s(p, "master_ip"),
            repuser: s(p, "repuser"),
            primary_conninfo_opt: s(p, "primary_conninfo_opt"),
            restart_on_promote: p.boolean("restart_on_promote")?,
            replication_slot_name: s(p, "replication_slot_name"),
            tmpdir: PathBuf::from(p.raw("tmpdir")),
            xlog_check_count: p.number("xlog_check_count")?,
            crm_attr_timeout: p.number("crm_attr_timeout")?,
            stop_escalate_in_slave: p.number("stop_escalate_in_slave")?,
            check_wal_receiver: p.boolean("check_wal_receiver")?,
            external_standby_node_list: node_names(p.raw("external_standby_node_list")),
            strict_sync: p.boolean("strict_sync")?,
            rejoin: p.rejoin()?,
            upfront: mapped.upfront,
        })
    }

    /// Whether the CIB uses the original upfront agent's `primary`: the
    /// location rule chooses the primary among safe nodes.
    pub fn promotion_by_rule(&self) -> bool {
        self.upfront.as_ref().is_some_and(|u| u.by_rule)
    }

    /// The lock a primary leaves in `tmpdir` while it runs: a node that
    /// finds it at start may hold writes no standby has.
    pub fn lock_file(&self) -> PathBuf {
        self.tmpdir.join("PGSQL.lock")
    }

    /// Whether the nodes come from the cluster rather than `node_list`.
    pub fn node_list_from_cluster(&self) -> bool {
        self.node_list.is_empty()
            && self
                .upfront
                .as_ref()
                .is_some_and(|u| u.node_list_from_cluster)
    }

    /// The role monitor SQL runs as: `monitor_user`, or pgdba when unset.
    pub fn monitor_user(&self) -> &str {
        if self.monitor_user.is_empty() {
            &self.pgdba
        } else {
            &self.monitor_user
        }
    }

    /// The computed default of a parameter whose table default is `None`.
    pub fn computed_default(env: &OcfEnv, name: &str) -> Option<String> {
        match name {
            "config" => Some(
                PathBuf::from(raw(env, "pgdata"))
                    .join("postgresql.conf")
                    .display()
                    .to_string(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::OcfRc;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Failure> {
        Config::from_env(&OcfEnv::from_params(pairs))
    }

    #[test]
    fn defaults_match_the_reference() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.pgctl, "/usr/bin/pg_ctl");
        assert_eq!(c.psql, "/usr/bin/psql");
        assert_eq!(c.pgdata, PathBuf::from("/var/lib/pgsql/data"));
        assert_eq!(
            c.config,
            PathBuf::from("/var/lib/pgsql/data/postgresql.conf")
        );
        assert_eq!(c.pgdba, "postgres");
        assert_eq!(c.pgport, 5432);
        assert_eq!(c.pglibs, "/usr/lib");
        assert_eq!(c.monitor_sql, "select now();");
        assert_eq!(c.pgdb, "template1");
        assert_eq!(c.logfile, PathBuf::from("/dev/null"));
        assert_eq!(c.stop_escalate, 90);
        assert_eq!(c.rep_mode, RepMode::None);
        assert_eq!(c.repuser, "postgres");
        assert!(!c.restart_on_promote);
        assert_eq!(c.tmpdir, PathBuf::from("/var/lib/pgsql/tmp"));
        assert_eq!(c.xlog_check_count, 3);
        assert_eq!(c.crm_attr_timeout, 5);
        assert_eq!(c.stop_escalate_in_slave, 90);
        assert!(!c.check_wal_receiver);
        assert_eq!(c.monitor_user(), "postgres");
    }

    #[test]
    fn config_follows_pgdata() {
        let c = cfg(&[("pgdata", "/srv/pg")]).unwrap();
        assert_eq!(c.config, PathBuf::from("/srv/pg/postgresql.conf"));
    }

    #[test]
    fn malformed_values_are_configuration_errors() {
        for (k, v, needle) in [
            ("pgport", "54x", "pgport"),
            ("pgport", "70000", "pgport"),
            ("stop_escalate", "-1", "stop_escalate"),
            ("xlog_check_count", "three", "xlog_check_count"),
            ("restart_on_promote", "treu", "restart_on_promote"),
            ("check_wal_receiver", "maybe", "check_wal_receiver"),
            ("rep_mode", "synchronous", "rep_mode"),
            ("ctl_opt", "-o 'unbalanced", "ctl_opt"),
        ] {
            let err = cfg(&[(k, v)]).unwrap_err();
            assert_eq!(err.rc, OcfRc::ErrConfigured, "{k}={v}");
            assert!(err.reason.contains(needle), "{k}={v}: {}", err.reason);
        }
    }

    #[test]
    fn empty_number_means_default() {
        assert_eq!(cfg(&[("pgport", "")]).unwrap().pgport, 5432);
    }

    #[test]
    fn the_original_upfront_parameters_fill_the_typed_config() {
        let c = cfg(super::super::upfront::TUTORIAL_BLOCK).unwrap();
        assert_eq!(c.pgctl, "/usr/lib/postgresql/9.1/bin/pg_ctl");
        assert_eq!(
            c.config,
            PathBuf::from("/etc/postgresql/9.1/ha/postgresql.conf")
        );
        assert_eq!(c.pgdata, PathBuf::from("/var/lib/postgresql/9.1/ha"));
        assert_eq!(c.pgport, 5435);
        assert_eq!(c.rep_mode, RepMode::Sync);
        assert_eq!(c.master_ip, "10.0.0.1");
        assert_eq!(c.repuser, "postgres");
        assert_eq!(c.socketdir, "/var/run/postgresql");
        assert!(c.node_list.is_empty() && c.node_list_from_cluster());
        assert!(c.promotion_by_rule());
        // The pgsql parameters alone: nothing of this.
        let plain = cfg(&[("rep_mode", "sync"), ("node_list", "a b")]).unwrap();
        assert!(plain.upfront.is_none() && !plain.promotion_by_rule());
        assert!(!plain.node_list_from_cluster());
    }

    #[test]
    fn stop_tolerates_contradicting_aliases() {
        let env = OcfEnv::from_vars(
            [("datadir", "/a"), ("pgdata", "/b"), ("version", "15")]
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
            &[],
        );
        assert!(Config::from_env(&env).is_err());
        let (c, problems) = Config::from_env_lenient(&env);
        assert_eq!(c.pgdata, PathBuf::from("/b"));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn node_lists_are_lower_cased() {
        let c = cfg(&[("node_list", " Node1  NODE2\tnode3 ")]).unwrap();
        assert_eq!(c.node_list, vec!["node1", "node2", "node3"]);
    }
}
