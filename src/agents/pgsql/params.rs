//! Parameters and actions of the `pgsql` personality, as one table.
//!
//! This is the single source of truth for what the agent accepts and
//! advertises: `meta-data` renders it as XML, configuration parsing reads the
//! names, types and defaults from it, and the man page is generated from it.
//! Keeping them in one place means they cannot drift apart.
//!
//! Names, shortdescs, types, defaults and the parameter order are the
//! interface of `ocf:heartbeat:pgsql` and match it exactly;
//! the longdesc texts are written for this implementation. One deliberate
//! documentation fix: `node_list` does not claim a default, because
//! replication mode refuses to run without it.
//!
//! After the 33 come the six parameters of the original `ocf:upfront:pgsql`
//! agent (`upfront.rs`), accepted so that its CIBs keep working and marked
//! deprecated in their shortdesc: ra-api-1.dtd, which the meta-data is
//! validated against, has no `<deprecated>` element.

use crate::ocf::metadata::ParamType::{Boolean, Integer, String as Str};
use crate::ocf::metadata::{action, param, ActionSpec, AgentMeta, ParamSpec};

/// A deprecated parameter of the original ocf:upfront:pgsql agent that is
/// another name for a pgsql parameter.
macro_rules! alias {
    ($name:literal, $target:literal, $kind:expr) => {
        param(
            $name,
            concat!($name, " (deprecated alias of ", $target, ")"),
            $kind,
            Some(""),
            concat!(
                "Deprecated, from the original ocf:upfront:pgsql agent: the same as ",
                $target,
                ". Giving both with different values is refused."
            ),
        )
    };
}

/// The 33 instance parameters, in the order of the reference meta-data,
/// then the six deprecated aliases of the original upfront agent.
pub static PARAMS: &[ParamSpec] = &[
    // 1
    param(
        "pgctl",
        "pgctl",
        Str,
        Some("/usr/bin/pg_ctl"),
        "Full path of the pg_ctl program used to start, stop, promote and reload the \
         server. It must exist on every node that runs the resource.",
    ),
    // 2
    param(
        "start_opt",
        "start_opt",
        Str,
        Some(""),
        "Extra command-line options for the PostgreSQL server process. They are passed \
         through pg_ctl's -o option, after the config_file setting, for example \
         \"-i -p 5432\".",
    ),
    // 3
    param(
        "ctl_opt",
        "ctl_opt",
        Str,
        Some(""),
        "Extra options for pg_ctl itself when starting the server (for example -t 60). \
         They are placed directly after the pg_ctl program name.",
    ),
    // 4
    param(
        "psql",
        "psql",
        Str,
        Some("/usr/bin/psql"),
        "Path of the psql client. Accepted for compatibility with ocf:heartbeat:pgsql; \
         pgsql-ra speaks the PostgreSQL protocol itself and runs psql only for one check \
         with the original upfront agent's primary parameter (whether a former primary may \
         rejoin, over a replication connection), so otherwise this program does not have \
         to be installed.",
    ),
    // 5
    param(
        "pgdata",
        "pgdata",
        Str,
        Some("/var/lib/pgsql/data"),
        "The PostgreSQL data directory (the one holding PG_VERSION and \
         postmaster.pid). It must be writable by the pgdba user.",
    ),
    // 6
    param(
        "pgdba",
        "pgdba",
        Str,
        Some("postgres"),
        "Operating-system account that owns the data directory. Every PostgreSQL \
         command is run as this user, and it is also the database role used to create \
         and drop replication slots.",
    ),
    // 7
    param(
        "pghost",
        "pghost",
        Str,
        Some(""),
        "Host name or IP address PostgreSQL listens on. When set, the agent connects to \
         this address and the server is started with -h, which overrides \
         listen_addresses. When empty, the agent connects through the Unix socket (see \
         socketdir).",
    ),
    // 8
    param(
        "pgport",
        "pgport",
        Integer,
        Some("5432"),
        "TCP port of the instance. Used by the agent's connections, exported as PGPORT \
         to pg_ctl (so the server uses \
         it too unless the configuration sets another port), and written as the port of \
         primary_conninfo on standbys in replication mode.",
    ),
    // 9
    param(
        "pglibs",
        "pglibs",
        Str,
        Some("/usr/lib"),
        "Directory holding the PostgreSQL shared libraries. It is appended to \
         LD_LIBRARY_PATH for the commands the agent runs; the default suits \
         distribution packages.",
    ),
    // 10
    param(
        "monitor_user",
        "monitor_user",
        Str,
        Some(""),
        "Database role used for monitor_sql and for the read-only status queries \
         (recovery state, replication state, WAL positions). When empty, pgdba is used. \
         In replication mode on PostgreSQL 10 or later this role should be a member of \
         pg_monitor, otherwise pg_stat_replication hides the standby states.",
    ),
    // 11
    param(
        "monitor_password",
        "monitor_password",
        Str,
        Some(""),
        "Password of monitor_user for the agent's connections. It may only be set \
         together with monitor_user; leave it empty to rely on a .pgpass file or on \
         pg_hba.conf trust or peer rules instead.",
    ),
    // 12
    param(
        "monitor_sql",
        "monitor_sql",
        Str,
        Some("select now();"),
        "SQL statement run by the monitor action to prove the server answers queries. \
         In async or sync replication mode standbys are checked with \
         pg_is_in_recovery() instead, and this statement is only run on the primary \
         when it differs from the default.",
    ),
    // 13
    param(
        "config",
        "Configuration file",
        Str,
        None,
        "Path of the server configuration file, passed to PostgreSQL as config_file. \
         Defaults to postgresql.conf inside pgdata. In replication mode the agent \
         appends include lines for files it keeps in tmpdir, so the file must be \
         writable.",
    ),
    // 14
    param(
        "pgdb",
        "pgdb",
        Str,
        Some("template1"),
        "Database the agent connects to for monitoring and status queries.",
    ),
    // 15
    param(
        "logfile",
        "logfile",
        Str,
        Some("/dev/null"),
        "File receiving the server's output (pg_ctl -l). It is created if missing and \
         must be writable by pgdba, otherwise start fails.",
    ),
    // 16
    param(
        "socketdir",
        "socketdir",
        Str,
        Some(""),
        "Directory of the server's Unix socket, used by the agent when pghost is empty. \
         It is created at start if missing. With PostgreSQL 9.3 or later it must be set \
         whenever postgresql.conf sets unix_socket_directories (a rule kept from \
         ocf:heartbeat:pgsql). When empty, the agent uses the socket directory the \
         running server announces in postmaster.pid.",
    ),
    // 17
    param(
        "stop_escalate",
        "stop escalation",
        Integer,
        Some("90"),
        "Seconds to wait after a fast shutdown (pg_ctl stop -m fast) before falling \
         back to an immediate shutdown. If the stop operation timeout is not longer \
         than this, the wait is shortened to that timeout minus 10 seconds.",
    ),
    // 18
    param(
        "rep_mode",
        "rep_mode",
        Str,
        Some("none"),
        "Replication mode: none, async, sync or slave. \"none\" manages a stand-alone \
         server. \"async\" and \"sync\" run the resource as a promotable clone with \
         streaming replication between the nodes in node_list; they need PostgreSQL 9.1 \
         or later, node_list, master_ip and restore_command, and replication must be \
         enabled in postgresql.conf and pg_hba.conf. In \"sync\" mode the primary makes \
         one streaming standby synchronous and switches back to asynchronous when it \
         disconnects. \"slave\" only writes the recovery settings so that the instance \
         follows a primary running elsewhere; it is an ordinary (not promotable) \
         resource and needs master_ip and restore_command.",
    ),
    // 19
    param(
        "node_list",
        "node list",
        Str,
        Some(""),
        "Space-separated names of all cluster nodes that may run this resource. \
         Required when rep_mode is async or sync (there is no default); ignored \
         otherwise. Names are lower-cased and used as each standby's application_name \
         and in replication slot names.",
    ),
    // 20
    param(
        "restore_command",
        "restore_command",
        Str,
        Some(""),
        "Shell command a standby uses to fetch archived WAL segments, written as \
         restore_command in the recovery settings. Needed in async, sync and slave \
         modes; the value is written as given.",
    ),
    // 21
    param(
        "archive_cleanup_command",
        "archive_cleanup_command",
        Str,
        Some(""),
        "Optional archive_cleanup_command for standbys, written into the recovery \
         settings when not empty. Only used in async, sync and slave modes.",
    ),
    // 22
    param(
        "recovery_end_command",
        "recovery_end_command",
        Str,
        Some(""),
        "Optional recovery_end_command for standbys, written into the recovery settings \
         when not empty. Only used in async, sync and slave modes.",
    ),
    // 23
    param(
        "master_ip",
        "master ip",
        Str,
        Some(""),
        "Address standbys connect to for streaming replication, normally a floating IP \
         that follows the primary. Used as host in primary_conninfo. Required in async, \
         sync and slave modes.",
    ),
    // 24
    param(
        "repuser",
        "repuser",
        Str,
        Some("postgres"),
        "Role standbys use to connect to the primary, written as user in \
         primary_conninfo. It needs the REPLICATION privilege and a matching \
         pg_hba.conf entry. Only used in async, sync and slave modes.",
    ),
    // 25
    param(
        "primary_conninfo_opt",
        "primary_conninfo_opt",
        Str,
        Some(""),
        "Additional libpq connection settings appended to primary_conninfo, for example \
         \"keepalives_idle=60 sslmode=require\". Do not put host, port, user or \
         application_name here; the agent sets those itself. Only used in async, sync \
         and slave modes.",
    ),
    // 26
    param(
        "restart_on_promote",
        "restart_on_promote",
        Boolean,
        Some("false"),
        "When true, promote stops the standby, removes its standby settings and starts \
         it again as a primary instead of running pg_ctl promote, which keeps the \
         timeline ID unchanged. Failover takes longer; setting on-fail=fence on the \
         promote operation is advisable. Only used in async and sync modes.",
    ),
    // 27
    param(
        "replication_slot_name",
        "replication_slot_name",
        Str,
        Some(""),
        "Prefix for physical replication slots; empty disables slots. Requires \
         PostgreSQL 9.4 or later and may contain only lower-case letters, digits and \
         underscores. Each node gets its own slot named <prefix>_<node>, with the node \
         name lower-cased and dots and hyphens turned into underscores (slot sample and \
         node Node-1.example.com give sample_node_1_example_com). Slots are created on \
         the new primary at promote and stale ones are dropped when a standby starts.\n\
         \n\
         The agent does not watch slot lag: while a standby stays disconnected the \
         primary keeps all WAL it has not consumed, which can fill the disk. Reconnect \
         the standby promptly, or drop its slot on the primary with \
         SELECT pg_drop_replication_slot('<slot name>');",
    ),
    // 28
    param(
        "tmpdir",
        "tmpdir",
        Str,
        Some("/var/lib/pgsql/tmp"),
        "Directory for the agent's state files: rep_mode.conf, the PGSQL.lock marker, \
         the xlog_note.* files and, on PostgreSQL 12 or later, recovery.conf. It is \
         created with mode 700 and owned by pgdba in async and sync modes. A PGSQL.lock \
         file here marks a former primary; start refuses to run until an administrator \
         has checked the data and removed it.",
    ),
    // 29
    param(
        "xlog_check_count",
        "xlog check count",
        Integer,
        Some("3"),
        "When no primary is running, the standbys compare their WAL positions at each \
         monitor; this many consecutive unchanged rounds are required before the \
         standby with the newest data asks to be promoted (with the 30 second monitor \
         interval, about four intervals by default). Only used in async and sync modes. \
         \"xlog\" is the pre-PostgreSQL 10 name for WAL.",
    ),
    // 30
    param(
        "crm_attr_timeout",
        "The timeout of crm_attribute forever update command.",
        Integer,
        Some("5"),
        "Seconds allowed for each crm_attribute call that writes a permanent (forever) \
         node attribute, such as the data status, before it is killed and retried. \
         Only used in async and sync modes.",
    ),
    // 31
    param(
        "stop_escalate_in_slave",
        "stop escalation_in_slave",
        Integer,
        Some("90"),
        "Like stop_escalate (seconds before a fast shutdown escalates to an immediate \
         one), but used by the stop action in async and sync modes and by the restart \
         done when restart_on_promote is true. Demote still uses stop_escalate.",
    ),
    // 32
    param(
        "check_wal_receiver",
        "check_wal_receiver",
        Boolean,
        Some("false"),
        "When true, every monitor publishes the transient node attribute \
         <resource>-receiver-status: \"normal\" when the WAL receiver process is \
         running, \"normal (master)\" on the primary, where no receiver is expected, and \
         \"ERROR\" otherwise. Useful to see whether a standby is connected to its \
         primary; it does not change the monitor result.",
    ),
    // 33
    param(
        "external_standby_node_list",
        "external standby node list",
        Str,
        Some(""),
        "Space-separated application_name values of synchronous standbys that run \
         outside the cluster. When set (only allowed with rep_mode=sync), the primary \
         makes every streaming standby, in the cluster or in this list, synchronous \
         through synchronous_standby_names = 'FIRST n (...)', and removes standbys that \
         disconnect so that commits do not block.",
    ),
    // 34: ours (docs/compatibility.md).
    param(
        "strict_sync",
        "strict synchronous replication",
        Boolean,
        Some("false"),
        "Only with rep_mode=sync. When no standby streams any more, the stock agents clear \
         synchronous_standby_names so that commits no longer wait: writes go on, acknowledged \
         by this node alone. That stays the default. With strict_sync=true the primary keeps \
         its synchronous standby named instead, and commits wait until a standby streams \
         again (as Patroni's synchronous_mode_strict): no acknowledged write ever exists on \
         one node only. Whatever this parameter says, a primary whose partition has no \
         quorum never relaxes synchronous replication.",
    ),
    // 35: ours (docs/compatibility.md).
    param(
        "rejoin",
        "how a former primary comes back",
        Str,
        Some("safe"),
        "What a start does on a node that holds PGSQL.lock (a former primary, or a node whose \
         data may hold writes the current primary lacks). off: refuse to start until an \
         administrator removes the lock (the stock agent). safe: start as a standby, and \
         remove the lock, only when the current primary (at master_ip) proves this node's \
         history a prefix of its own (same system, a later timeline that left ours after \
         our last WAL record); otherwise refuse as off does. rewind: as safe, and otherwise \
         run pg_rewind from the current primary (as pgdba, at master_ip, port pgport: \
         pg_hba.conf and a password file must allow it), keeping the files it replaces and \
         the WAL it discards under tmpdir/rewind-<date>/, then start as a standby. rewind \
         needs wal_log_hints = on or data checksums.",
    ),
    // 36-41: the original ocf:upfront:pgsql agent's parameters.
    param(
        "primary",
        "primary (deprecated: use master_ip, repuser and primary_conninfo_opt)",
        Str,
        Some(""),
        "Deprecated, from the original ocf:upfront:pgsql agent: the libpq connection string \
         standbys use to reach the primary, for example \"host=10.0.0.1 port=5435 \
         user=postgres\". It is split into master_ip (host), repuser (user) and \
         primary_conninfo_opt (any other keyword); its port must equal the instance port \
         (port or pgport) and it must not set application_name, which is the node name. \
         Setting it also selects the original agent's contract: rep_mode defaults to sync (any \
         other rep_mode is refused), node_list defaults to every node of the cluster, and a \
         synchronous standby gets the same promotion score as the primary (1000), so that a \
         location rule for the promoted role (for example \"rule role=master 100: #uname eq \
         node1\") chooses the primary among the nodes that hold every acknowledged write. A \
         value contradicting master_ip or repuser is refused.",
    ),
    param(
        "version",
        "version (deprecated: use pgctl, psql and config)",
        Str,
        Some(""),
        "Deprecated, from the original ocf:upfront:pgsql agent: the PostgreSQL major version of \
         a Debian cluster (pg_createcluster layout), for example 9.1 or 15. Together with \
         clustername (both or neither) it gives the defaults pgctl = \
         /usr/lib/postgresql/<version>/bin/pg_ctl, psql = /usr/lib/postgresql/<version>/bin/psql, \
         config = /etc/postgresql/<version>/<clustername>/postgresql.conf, pgdata = \
         /var/lib/postgresql/<version>/<clustername>, socketdir = /var/run/postgresql and \
         logfile = /var/log/postgresql/postgresql-<version>-<clustername>.log; a pgsql \
         parameter that is given wins over its default. Validation refuses a data directory \
         whose PG_VERSION differs, and a config whose data_directory is not pgdata.",
    ),
    param(
        "clustername",
        "clustername (deprecated: use config and pgdata)",
        Str,
        Some(""),
        "Deprecated, from the original ocf:upfront:pgsql agent: the Debian cluster name (the ha \
         of pg_createcluster 9.1 ha). Only together with version; see version for the paths \
         the two give.",
    ),
    alias!("port", "pgport", Integer),
    alias!("datadir", "pgdata", Str),
    alias!("restorecommand", "restore_command", Str),
];

/// The advertised actions, in the order of the reference meta-data.
pub static ACTIONS: &[ActionSpec] = &[
    action("start", "120s"),
    action("stop", "120s"),
    action("status", "60s"),
    ActionSpec {
        name: "monitor",
        timeout: "30s",
        interval: Some("30s"),
        depth: Some("0"),
        role: None,
    },
    ActionSpec {
        name: "monitor",
        timeout: "30s",
        interval: Some("29s"),
        depth: Some("0"),
        role: Some("Promoted"),
    },
    action("promote", "120s"),
    action("demote", "120s"),
    action("notify", "90s"),
    action("meta-data", "5s"),
    action("validate-all", "5s"),
    action("methods", "5s"),
];

pub static META: AgentMeta = AgentMeta {
    name: "pgsql",
    version: "1.0",
    longdesc: "Manages a PostgreSQL server instance, either stand-alone or, with rep_mode \
               set to async or sync, as a promotable clone that keeps a primary and its \
               hot standbys in streaming replication.",
    shortdesc: "Manages a PostgreSQL database instance",
    params: PARAMS,
    actions: ACTIONS,
};

pub const METHODS: &str =
    "    start\n    stop\n    status\n    monitor\n    promote\n    demote\n    \
                           notify\n    methods\n    meta-data\n    validate-all\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::metadata::ParamType;
    use std::collections::HashSet;

    #[test]
    fn has_33_stock_params_ours_then_the_six_deprecated_ones() {
        assert_eq!(PARAMS.len(), 41);
        assert_eq!(PARAMS[0].name, "pgctl");
        assert_eq!(PARAMS[32].name, "external_standby_node_list");
        assert_eq!(PARAMS[33].name, "strict_sync");
        assert_eq!(PARAMS[34].name, "rejoin");
        let tail: Vec<&str> = PARAMS[35..].iter().map(|p| p.name).collect();
        assert_eq!(tail, crate::agents::pgsql::upfront::NAMES);
        for p in &PARAMS[35..] {
            assert!(p.shortdesc.contains("deprecated"), "{}", p.name);
            assert_eq!(p.default, Some(""), "{}: unset means unset", p.name);
        }
        for p in &PARAMS[..35] {
            assert!(!p.shortdesc.contains("deprecated"), "{}", p.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let names: HashSet<&str> = PARAMS.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PARAMS.len());
    }

    #[test]
    fn all_optional_and_not_unique() {
        for p in PARAMS {
            assert!(!p.required, "{} should not be required", p.name);
            assert!(!p.unique, "{} should not be unique", p.name);
            assert!(!p.longdesc.is_empty(), "{} needs a longdesc", p.name);
        }
    }

    #[test]
    fn only_config_default_is_computed() {
        for p in PARAMS {
            assert_eq!(p.default.is_none(), p.name == "config", "{}", p.name);
        }
    }

    #[test]
    fn integer_defaults_parse() {
        for p in PARAMS[..33].iter().filter(|p| p.kind == ParamType::Integer) {
            let d = p.default.expect("integer parameters have a fixed default");
            assert!(d.parse::<u64>().is_ok(), "{}: {d:?}", p.name);
        }
    }

    #[test]
    fn boolean_defaults_are_literal() {
        for p in PARAMS.iter().filter(|p| p.kind == ParamType::Boolean) {
            let d = p.default.expect("boolean parameters have a fixed default");
            assert!(d == "true" || d == "false", "{}: {d:?}", p.name);
        }
    }

    #[test]
    fn typed_params() {
        let ints: Vec<&str> = PARAMS
            .iter()
            .filter(|p| p.kind == ParamType::Integer)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            ints,
            [
                "pgport",
                "stop_escalate",
                "xlog_check_count",
                "crm_attr_timeout",
                "stop_escalate_in_slave",
                "port"
            ]
        );
        let bools: Vec<&str> = PARAMS
            .iter()
            .filter(|p| p.kind == ParamType::Boolean)
            .map(|p| p.name)
            .collect();
        assert_eq!(
            bools,
            ["restart_on_promote", "check_wal_receiver", "strict_sync"]
        );
    }

    #[test]
    fn node_list_claims_no_default() {
        let p = META.param("node_list").unwrap();
        assert!(!p.longdesc.to_lowercase().contains("defaults to all"));
    }

    #[test]
    fn action_names_in_order() {
        let names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "start",
                "stop",
                "status",
                "monitor",
                "monitor",
                "promote",
                "demote",
                "notify",
                "meta-data",
                "validate-all",
                "methods"
            ]
        );
        assert_eq!(ACTIONS[4].role, Some("Promoted"));
        assert_eq!(ACTIONS[4].interval, Some("29s"));
    }

    #[test]
    fn advertised_timeouts() {
        assert_eq!(META.action_timeout("start").unwrap().as_secs(), 120);
        assert_eq!(META.action_timeout("notify").unwrap().as_secs(), 90);
        assert_eq!(META.action_timeout("monitor").unwrap().as_secs(), 30);
    }
}
