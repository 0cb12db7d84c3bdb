//! Parameters and actions of the `pgsqlms` (PAF) personality, as one table.
//!
//! The meta-data, the configuration defaults and the man page all read this
//! table, so they cannot drift apart. Names, order, types, `unique` flags,
//! shortdescs, defaults and action timeouts are PAF's interface (PAF's master
//! branch) and match it exactly, so existing CIBs, `pcs resource describe`
//! and `crm ra info` see the agent they know. The longdesc texts are written
//! for this implementation. The `pghost` default is Debian's
//! (`/var/run/postgresql`), the build Debian users run.

use crate::ocf::metadata::ParamType::{Integer, String as Str};
use crate::ocf::metadata::{self, action, ActionSpec, AgentMeta, ParamSpec, ParamType};

/// PAF's parameters all show a default; some are unique.
const fn param(
    name: &'static str,
    shortdesc: &'static str,
    kind: ParamType,
    default: &'static str,
    unique: bool,
    longdesc: &'static str,
) -> ParamSpec {
    metadata::param(name, shortdesc, kind, Some(default), longdesc).unique(unique)
}

pub const DEFAULT_SYSTEM_USER: &str = "postgres";
pub const DEFAULT_BINDIR: &str = "/usr/bin";
pub const DEFAULT_PGDATA: &str = "/var/lib/pgsql/data";
pub const DEFAULT_PGHOST: &str = "/var/run/postgresql";
pub const DEFAULT_PGPORT: u16 = 5432;

/// The nine instance parameters, in PAF's order.
pub static PARAMS: &[ParamSpec] = &[
    param(
        "system_user",
        "PostgreSQL system User",
        Str,
        DEFAULT_SYSTEM_USER,
        false,
        "Operating-system account that owns the instance. pg_ctl, pg_isready and the \
         agent's SQL connections run as this user (peer or trust authentication on the \
         local socket is expected).",
    ),
    param(
        "bindir",
        "Path to the PostgreSQL binaries",
        Str,
        DEFAULT_BINDIR,
        false,
        "Directory of the PostgreSQL programs the agent runs: postgres, pg_ctl, psql, \
         pg_isready; pg_controldata and pg_waldump (pg_xlogdump before 10) outside \
         PostgreSQL 10 to 18, whose control file and WAL the agent reads itself.",
    ),
    param(
        "pgdata",
        "Path to the data directory",
        Str,
        DEFAULT_PGDATA,
        true,
        "Directory given to pg_ctl --pgdata and postgres -D. On Debian this is the \
         configuration directory (/etc/postgresql/<major>/<cluster>); see datadir.",
    ),
    param(
        "datadir",
        "Path to the directory set in data_directory from your postgresql.conf file",
        Str,
        "PGDATA",
        true,
        "The real data directory (data_directory in postgresql.conf), holding \
         PG_VERSION, global/pg_control, standby.signal and postmaster.pid. Defaults to \
         the value of pgdata, as PostgreSQL does; set it only when the configuration \
         lives elsewhere (Debian layout).",
    ),
    param(
        "pghost",
        "Instance IP or unix socket folder",
        Str,
        DEFAULT_PGHOST,
        false,
        "Unix socket directory (a value starting with /) or IP address the agent uses \
         to reach the local instance.",
    ),
    param(
        "pgport",
        "Instance port",
        Integer,
        "5432",
        false,
        "Port the local instance listens on. It is only used to connect; the server \
         takes its own port from its configuration.",
    ),
    param(
        "maxlag",
        "Maximum write lag before we mark a standby as inappropriate to promote",
        Integer,
        "0",
        false,
        "Largest lag, in bytes between the primary's current WAL position and a \
         standby's write position, before the primary gives that standby a negative \
         promotion score. 0 disables the check.",
    ),
    param(
        "recovery_template",
        "Path to the recovery.conf template for PostgreSQL 11 and older.",
        Str,
        "PGDATA/recovery.conf.pcmk",
        true,
        "PostgreSQL 11 and older: the file copied to <datadir>/recovery.conf before \
         every start, so the instance starts as a standby. It must set standby_mode = \
         on, recovery_target_timeline = 'latest' and a primary_conninfo with \
         application_name=<node name>. With PostgreSQL 12 and later this file must not \
         exist: the agent creates standby.signal and the recovery settings belong in \
         postgresql.conf.",
    ),
    param(
        "start_opts",
        "Additionnal arguments given to the postgres process on startup.",
        Str,
        "",
        false,
        "Extra server options, passed through pg_ctl -o at start and given to the \
         postgres -C checks, for example \"-c config_file=/etc/postgresql/15/main/\
         postgresql.conf\" when the configuration is not in pgdata.",
    ),
    param(
        "rejoin",
        "How a former primary comes back (ours: off, safe or rewind).",
        Str,
        "safe",
        false,
        "Not in PAF. What a start does with a former primary whose WAL went past the point \
         where the current primary's history left it (a diverged former primary). off and \
         safe: refuse to start it (PAF starts it and replication breaks; this agent refuses, \
         whatever this parameter says). rewind: run pg_rewind from the server \
         primary_conninfo names, as system_user to the postgres database, keeping the \
         files it replaces and the WAL it discards in rewind-<date>/ beside datadir, then \
         start as a standby; also for an instance that crashed as a primary. Needs \
         wal_log_hints = on or data checksums.",
    ),
];

pub static ACTIONS: &[ActionSpec] = &[
    action("start", "60"),
    action("stop", "60"),
    action("reload", "20"),
    action("promote", "30"),
    action("demote", "120"),
    ActionSpec {
        name: "monitor",
        timeout: "10",
        interval: Some("15"),
        depth: Some("0"),
        role: Some("Master"),
    },
    ActionSpec {
        name: "monitor",
        timeout: "10",
        interval: Some("16"),
        depth: Some("0"),
        role: Some("Slave"),
    },
    action("notify", "60"),
    action("meta-data", "5"),
    action("validate-all", "5"),
    action("methods", "5"),
];

pub static META: AgentMeta = AgentMeta {
    name: "pgsqlms",
    version: "2.3.0",
    longdesc: "Resource script for PostgreSQL in replication. It manages PostgreSQL servers \
               using streaming replication as an HA resource.",
    shortdesc: "Manages PostgreSQL servers in replication",
    params: PARAMS,
    actions: ACTIONS,
};

/// `methods`, as PAF prints it.
pub const METHODS: &str =
    "\n        start\n        stop\n        reload\n        promote\n        \
                           demote\n        monitor\n        notify\n        methods\n        \
                           meta-data\n        validate-all\n    ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paf_parameter_order_and_flags() {
        let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "system_user",
                "bindir",
                "pgdata",
                "datadir",
                "pghost",
                "pgport",
                "maxlag",
                "recovery_template",
                "start_opts",
                // ours, after PAF's nine
                "rejoin"
            ]
        );
        let unique: Vec<&str> = PARAMS.iter().filter(|p| p.unique).map(|p| p.name).collect();
        assert_eq!(unique, ["pgdata", "datadir", "recovery_template"]);
        assert!(PARAMS.iter().all(|p| !p.required && !p.longdesc.is_empty()));
    }

    #[test]
    fn advertised_timeouts() {
        assert_eq!(META.action_timeout("demote").unwrap().as_secs(), 120);
        assert_eq!(META.action_timeout("promote").unwrap().as_secs(), 30);
        assert_eq!(META.action_timeout("monitor").unwrap().as_secs(), 10);
        let roles: Vec<Option<&str>> = ACTIONS
            .iter()
            .filter(|a| a.name == "monitor")
            .map(|a| a.role)
            .collect();
        assert_eq!(roles, [Some("Master"), Some("Slave")]);
    }

    #[test]
    fn methods_list() {
        let words: Vec<&str> = METHODS.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "start",
                "stop",
                "reload",
                "promote",
                "demote",
                "monitor",
                "notify",
                "methods",
                "meta-data",
                "validate-all"
            ]
        );
    }
}
