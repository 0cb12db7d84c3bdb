//! The manual page `pgsql-ra(8)`, written by `pgsql-ra --man`.
//!
//! Parameters and actions come from `params::META` (the meta-data's table),
//! exit codes from `OcfRc`; what the meta-data has no room for is kept here
//! as tables beside them: what each action does, the node attributes of
//! replication mode and their values, the files the agent keeps, and the
//! environment it reads. The packages build the installed page from this, so
//! the page and the meta-data describe the same agent.

use super::pgsql::params::META;
use crate::man::{Roff, Span};
use crate::ocf::metadata::ActionSpec;
use crate::ocf::{OcfEnv, OcfRc};

/// What an advertised action does. Keyed by name and role, because
/// `monitor` is advertised twice (plain and `Promoted`).
pub struct ActionDoc {
    pub name: &'static str,
    pub role: Option<&'static str>,
    pub text: &'static str,
}

pub static ACTION_DOCS: &[ActionDoc] = &[
    ActionDoc {
        name: "start",
        role: None,
        text: "Starts PostgreSQL with pg_ctl and waits until it answers monitor_sql. \
               In replication mode (rep_mode async or sync) the server always starts as a \
               hot standby: the agent writes the recovery settings first, and refuses to \
               start while tmpdir/PGSQL.lock exists.",
    },
    ActionDoc {
        name: "stop",
        role: None,
        text: "Stops PostgreSQL with a fast shutdown, escalating to an immediate one after \
               stop_escalate seconds (stop_escalate_in_slave in replication mode), and \
               returns only when the postmaster is gone. A server that runs is stopped even \
               when the configuration is broken; when pg_ctl is missing the agent sends \
               the signals itself.",
    },
    ActionDoc {
        name: "status",
        role: None,
        text: "Reports whether the postmaster of pgdata runs (0) or not (7), without \
               connecting to it.",
    },
    ActionDoc {
        name: "monitor",
        role: None,
        text: "Checks that the server runs and answers monitor_sql on one connection. \
               In replication mode it also reads the role (returning 8 on the primary), \
               publishes the node attributes below and, on a standby while no primary \
               exists, takes part in electing the next primary. A monitor with interval 0 \
               is a probe.",
    },
    ActionDoc {
        name: "monitor",
        role: Some("Promoted"),
        text: "The same check on the primary, at its own interval, as Pacemaker requires \
               for a promotable clone.",
    },
    ActionDoc {
        name: "promote",
        role: None,
        text: "Replication mode only: turns the local hot standby into the primary \
               (or restarts it as one when restart_on_promote is true), after checking \
               that its data is the newest; creates tmpdir/PGSQL.lock.",
    },
    ActionDoc {
        name: "demote",
        role: None,
        text: "Replication mode only: stops the primary. Pacemaker starts it again as a \
               standby.",
    },
    ActionDoc {
        name: "notify",
        role: None,
        text: "Replication mode only: handles the notifications around promote, start \
               and stop (the clone needs notify=true), keeping synchronous_standby_names \
               and the replication slots in step with the cluster.",
    },
    ActionDoc {
        name: "meta-data",
        role: None,
        text: "Prints the OCF meta-data XML: every parameter and action of this page.",
    },
    ActionDoc {
        name: "validate-all",
        role: None,
        text: "Checks every rule on the parameters alone, at every level: malformed values, \
               and what replication needs (master_ip, node_list, a promotable clone for \
               async and sync; the clone only when Pacemaker passed the meta attributes, \
               which pcs resource create does not), then that the pgdba user exists. With \
               OCF_CHECK_LEVEL=10 it also checks this host: binaries, configuration file, \
               data directory.",
    },
    ActionDoc {
        name: "methods",
        role: None,
        text: "Prints the supported actions, one per line.",
    },
];

/// Actions the agent accepts but does not advertise in its meta-data.
pub static UNADVERTISED_ACTIONS: &[(&str, &str)] = &[
    (
        "usage",
        "Prints the usage text and exits 0 (with no action at all, the usage text is printed \
         and the exit code is 1).",
    ),
    (
        "reload",
        "Only as pgsqlms (PAF's action, in its meta-data): logs and exits 0, so Pacemaker \
         applies changes of non-unique parameters without a restart. As pgsql it is an \
         unknown action (exit 3).",
    ),
];

/// A node attribute of replication mode and the values it takes.
pub struct AttributeDoc {
    pub name: &'static str,
    /// Pacemaker's lifetime: `reboot` (transient, in the status section) or
    /// `forever` (permanent, in the nodes section).
    pub lifetime: &'static str,
    pub text: &'static str,
    pub values: &'static [(&'static str, &'static str)],
}

/// `<rsc>` is the resource's id without a clone suffix (`pgsql` for
/// `pgsql:0`). Names, lifetimes and values are those of ocf:heartbeat:pgsql,
/// so a cluster can mix both agents during an upgrade.
pub static ATTRIBUTES: &[AttributeDoc] = &[
    AttributeDoc {
        name: "<rsc>-status",
        lifetime: "reboot",
        text: "What PostgreSQL is on the node. Each node writes its own; the primary also \
               writes its standbys' (never over their STOP or UNKNOWN).",
        values: &[
            (
                "STOP",
                "Stopped (also written at the beginning of a start).",
            ),
            (
                "HS:alone",
                "A hot standby that is not streaming from a primary (none exists, or it \
                 is disconnected).",
            ),
            (
                "HS:connected",
                "A hot standby connected to the primary but not streaming yet (starting \
                 up, catching up or taking a backup).",
            ),
            ("HS:async", "A hot standby streaming asynchronously."),
            (
                "HS:sync",
                "A hot standby streaming synchronously (rep_mode=sync): commits wait for it.",
            ),
            (
                "HS:potential",
                "A hot standby streaming asynchronously that would become synchronous if \
                 the synchronous one disconnected.",
            ),
            ("PRI", "The primary."),
            (
                "UNKNOWN",
                "A stop or demote failed: the state of the server is unknown until the \
                 node is fenced or the failure is cleaned up.",
            ),
        ],
    },
    AttributeDoc {
        name: "<rsc>-data-status",
        lifetime: "forever",
        text: "How recent the node's data is, as last known. It survives reboots, so a node \
               whose data fell behind is not promoted after a full cluster restart.",
        values: &[
            (
                "LATEST",
                "The node is, or was last, the primary: its data is the newest.",
            ),
            (
                "STREAMING|SYNC",
                "A synchronous standby: it has every committed transaction.",
            ),
            (
                "STREAMING|ASYNC",
                "An asynchronous standby: it may lag behind (eligible for promotion only \
                 with rep_mode=async).",
            ),
            (
                "STREAMING|POTENTIAL",
                "A potential synchronous standby, streaming asynchronously meanwhile.",
            ),
            (
                "DISCONNECT",
                "Not connected to the primary: its data may be old; it is not promoted.",
            ),
        ],
    },
    AttributeDoc {
        name: "<rsc>-xlog-loc",
        lifetime: "reboot",
        text: "A standby's WAL position (16 hexadecimal digits), published while no primary \
               exists; the standby with the newest position is promoted.",
        values: &[],
    },
    AttributeDoc {
        name: "<rsc>-master-baseline",
        lifetime: "reboot",
        text: "The WAL position at which the node was promoted (16 hexadecimal digits), on \
               the primary; deleted on stop and demote.",
        values: &[],
    },
    AttributeDoc {
        name: "<rsc>-promoted-from",
        lifetime: "reboot",
        text: "Not in the stock agent. On the primary, beside <rsc>-master-baseline: the node \
               that was the primary before it (the one node whose data status was LATEST). A \
               former primary whose WAL ends at or before the baseline may rejoin as a standby \
               when the promotion kept the timeline (restart_on_promote=true), but only if it \
               is that node.",
        values: &[],
    },
    AttributeDoc {
        name: "<rsc>-receiver-status",
        lifetime: "reboot",
        text: "Only with check_wal_receiver=true, written by every monitor through \
               attrd_updater.",
        values: &[
            ("normal", "The WAL receiver process runs."),
            (
                "normal (master)",
                "The primary, which needs no WAL receiver.",
            ),
            ("ERROR", "No WAL receiver runs on this standby."),
        ],
    },
    AttributeDoc {
        name: "master-<rsc>",
        lifetime: "reboot",
        text: "The promotion score Pacemaker uses to choose the primary (crm_attribute \
               --promotion).",
        values: &[
            (
                "-INFINITY",
                "Must not be promoted: stopped, disconnected, a standby whose data may be \
                 incomplete, or a standby at a probe.",
            ),
            (
                "100",
                "May be promoted if the primary fails: a synchronous standby, or an \
                 asynchronous one with rep_mode=async.",
            ),
            (
                "1000",
                "The primary, or the standby elected to become it when no primary exists. With \
                 the original upfront agent's primary parameter, also a synchronous standby, \
                 so that a location rule for the promoted role chooses between the two.",
            ),
        ],
    },
];

/// Files the agent writes or reads besides PostgreSQL's own.
pub static FILES: &[(&str, &str)] = &[
    (
        "/usr/lib/ocf/resource.d/upfront/pgsql",
        "The agent as ocf:upfront:pgsql: a symbolic link to /usr/sbin/pgsql-ra.",
    ),
    (
        "/usr/lib/ocf/resource.d/upfront/pgsqlms",
        "The agent as ocf:upfront:pgsqlms: PAF's contract (parameters system_user, bindir, \
         pgdata, datadir, pghost, pgport, maxlag, recovery_template, start_opts; see its \
         meta-data and docs/compatibility.md).",
    ),
    (
        "tmpdir/PGSQL.lock",
        "Created by promote; removed only by a demote during which no standby was \
         running (then nobody can have newer data). It stays after a crash and after \
         every switchover or stop of the primary while standbys ran. While it exists, \
         start refuses to run: the node was a primary and its data may contain \
         transactions, or a timeline, the new primary does not have. Rejoin it as a \
         standby (pg_rewind or a fresh pg_basebackup), then remove it by hand.",
    ),
    (
        "tmpdir/rep_mode.conf",
        "Included at the end of the configuration file in rep_mode=sync: the agent's \
         synchronous_standby_names.",
    ),
    (
        "tmpdir/recovery.conf",
        "The standby settings (primary_conninfo, restore_command, recovery_target_timeline) \
         on PostgreSQL 12 or later, included from the configuration file.",
    ),
    (
        "pgdata/recovery.conf",
        "The standby settings on PostgreSQL 11 and older.",
    ),
    (
        "pgdata/standby.signal",
        "Makes PostgreSQL 12 or later start as a standby; written with the recovery settings.",
    ),
    (
        "tmpdir/xlog_note.N",
        "The WAL positions a standby saw at each of the last xlog_check_count monitors \
         while no primary existed, for the election.",
    ),
];

/// The environment the agent reads.
pub static ENVIRONMENT: &[(&str, &str)] = &[
    (
        "OCF_RESKEY_<name>",
        "The value of parameter <name>. On the command line, --param <name>=<value> sets \
         it too and wins.",
    ),
    (
        "OCF_RESKEY_CRM_meta_timeout",
        "The operation's timeout in milliseconds: every wait of the action ends before it. \
         Without it, the advertised default timeout of the action applies.",
    ),
    (
        "OCF_RESKEY_CRM_meta_interval",
        "The monitor interval in milliseconds; 0 or unset makes a monitor a probe.",
    ),
    (
        "OCF_RESKEY_CRM_meta_notify_*",
        "The notification variables Pacemaker passes to notify.",
    ),
    (
        "OCF_RESOURCE_INSTANCE",
        "The resource's id (pgsql:0 in a clone): names the node attributes and tags the \
         log lines.",
    ),
    (
        "OCF_CHECK_LEVEL",
        "10 makes validate-all check this host as well as the parameters.",
    ),
    (
        "HA_LOGFACILITY",
        "Syslog facility (daemon, local0 ... local7, ...) for the log lines; none, or \
         unset, means no syslog. PCMK_logfacility is read when it is unset.",
    ),
    (
        "HA_LOGFILE",
        "A file to append the log lines to (PCMK_logfile when unset). When neither \
         syslog nor a log file is set, log lines go to standard error.",
    ),
    (
        "HA_DEBUGLOG",
        "A file to append the debug lines to (PCMK_debuglog when unset).",
    ),
    ("HA_debug", "1 enables debug lines (so does OCF_TRACE_RA)."),
    (
        "HA_LOGTAG",
        "Replaces the log tag, by default agent(instance)[pid].",
    ),
    (
        "OCF_EXIT_REASON_PREFIX",
        "The prefix of the exit-reason line on standard error, by default \
         ocf-exit-reason: (Pacemaker reads the last such line).",
    ),
    (
        "HA_SBIN_DIR",
        "Where to find Pacemaker's tools (crm_attribute, crm_mon, ...) when not in PATH.",
    ),
];

pub static SEE_ALSO: &[(&str, &str)] = &[
    ("crm_resource", "8"),
    ("crm_attribute", "8"),
    ("crm_mon", "8"),
    ("crm", "8"),
    ("pcs", "8"),
    ("pg_ctl", "1"),
    ("postgres", "1"),
];

/// The page, as roff.
pub fn man_page() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut r = Roff::new(
        "PGSQL-RA",
        "8",
        "",
        &format!("pgsql-ra {version}"),
        "System Administration",
    );

    r.section("NAME")
        .text("pgsql-ra - Pacemaker OCF resource agent for PostgreSQL (ocf:upfront:pgsql)");

    r.section("SYNOPSIS")
        .paragraph_spans(&[
            Span::Bold("/usr/lib/ocf/resource.d/upfront/pgsql"),
            Span::Roman(" "),
            Span::Italic("action"),
        ])
        .line_break()
        .spans(&[
            Span::Bold("pgsql-ra"),
            Span::Roman(" ["),
            Span::Bold("--param"),
            Span::Roman(" "),
            Span::Italic("name"),
            Span::Roman("="),
            Span::Italic("value"),
            Span::Roman("]... "),
            Span::Italic("action"),
        ])
        .line_break()
        .spans(&[Span::Bold("pgsql-ra --help")]);

    r.section("DESCRIPTION")
        .paragraph(META.longdesc)
        .paragraph(
            "pgsql-ra is a drop-in replacement for the shell agent ocf:heartbeat:pgsql: it \
             takes the same parameters, writes the same node attributes and files, and \
             returns the same exit codes, so a resource moves to it by changing \
             ocf:heartbeat:pgsql to ocf:upfront:pgsql in the CIB. It talks to PostgreSQL \
             over its protocol and needs neither psql nor the PostgreSQL client libraries.",
        )
        .paragraph(
            "Pacemaker runs the agent with the action as its only argument and the \
             parameters in OCF_RESKEY_* variables. One binary serves every personality: the name it is called by \
             selects it (pgsql, or pgsql-ra itself, for ocf:heartbeat:pgsql; pgsqlms for \
             PAF's agent ocf:heartbeat:pgsqlms, whose parameters its meta-data lists). On failure the last \
             line on standard error starting with ocf-exit-reason: says what to fix.",
        );

    r.section("OPTIONS")
        .tagged(
            &[
                Span::Bold("--param"),
                Span::Roman(", "),
                Span::Bold("-p"),
                Span::Roman(" "),
                Span::Italic("name"),
                Span::Roman("="),
                Span::Italic("value"),
            ],
            "Sets parameter name, as OCF_RESKEY_name would; wins over the environment. \
             May be repeated. For running an action by hand.",
        )
        .tagged(
            &[Span::Bold("--help"), Span::Roman(", "), Span::Bold("-h")],
            "Prints the options and exits 0.",
        )
        .tagged(
            &[Span::Bold("--man")],
            "Without an action: prints this manual page as roff and exits 0.",
        )
        .paragraph("Any argument after the action is ignored, as the OCF standard asks.");

    r.section("ACTIONS").paragraph(
        "The default timeouts are those advertised in the meta-data; Pacemaker passes \
         the configured one, and every wait of the agent ends before it.",
    );
    for a in META.actions {
        let doc = action_doc(a.name, a.role).map_or("", |d| d.text);
        let attrs = action_attributes(a);
        r.tagged(&[Span::Bold(a.name), Span::Roman(&attrs)], doc);
    }
    for (name, text) in UNADVERTISED_ACTIONS {
        r.tagged(&[Span::Bold(name)], text);
    }

    r.section("PARAMETERS").paragraph(
        "Every parameter is optional and none is unique. Pacemaker passes them as \
         OCF_RESKEY_name; by hand, --param name=value does the same.",
    );
    let placeholder = OcfEnv::from_vars(
        std::iter::empty(),
        &[("pgdata".to_string(), "PGDATA".to_string())],
    );
    for p in META.params {
        let default = match p.default {
            Some("") => "empty".to_string(),
            Some(d) => d.to_string(),
            None => super::pgsql::Config::computed_default(&placeholder, p.name)
                .unwrap_or_default()
                .replace("PGDATA", "pgdata"),
        };
        let head = format!(" ({}, default: ", p.kind.name());
        let mut tag = vec![Span::Bold(p.name), Span::Roman(&head)];
        if default == "empty" {
            tag.push(Span::Roman("empty"));
        } else {
            tag.push(Span::Italic(&default));
        }
        tag.push(Span::Roman(")"));
        r.tagged(&tag, p.longdesc);
    }

    r.section("PGSQLMS PARAMETERS").paragraph(
        "Invoked as pgsqlms (ocf:upfront:pgsqlms), the agent speaks PAF's contract \
         instead: a promotable clone with notify=true and promoted-max=1, the actions of \
         its meta-data (start, stop, reload, promote, demote, monitor, notify, methods, \
         meta-data, validate-all), PAF's node attributes (the permanent promotion score \
         master-<rsc>; the private attributes lsn_location-<rsc>, nodes-<rsc>, \
         recover_primary-<rsc> and cancel_switchover-<rsc>) and these parameters. As with \
         PAF, an empty value or 0 means the default. PostgreSQL's own configuration \
         (primary_conninfo with application_name=<node name>, recovery_target_timeline \
         'latest', pg_hba) is the administrator's; the agent never edits it.",
    );
    for p in super::pgsqlms::params::PARAMS {
        let default = p.default.unwrap_or_default();
        let head = format!(" ({}, default: ", p.kind.name());
        let mut tag = vec![Span::Bold(p.name), Span::Roman(&head)];
        if default.is_empty() {
            tag.push(Span::Roman("empty"));
        } else {
            tag.push(Span::Italic(default));
        }
        tag.push(Span::Roman(")"));
        r.tagged(&tag, p.longdesc);
    }

    r.section("NODE ATTRIBUTES").paragraph(
        "In replication mode (rep_mode async or sync) the agent keeps these node \
         attributes, where <rsc> is the resource's id without a clone suffix. They are \
         those of ocf:heartbeat:pgsql, so crm_mon -A shows the same picture, and nodes \
         running either agent can form one cluster.",
    );
    for a in ATTRIBUTES {
        let lifetime = format!(" (lifetime {})", a.lifetime);
        r.tagged(&[Span::Bold(a.name), Span::Roman(&lifetime)], a.text);
        if !a.values.is_empty() {
            r.indent();
            for (value, text) in a.values {
                r.tagged(&[Span::Bold(value)], text);
            }
            r.outdent();
        }
    }

    r.section("ARCHIVE COMMAND")
        .paragraph_spans(&[
            Span::Bold("pgsql-ra archive-wal --archive-dir"),
            Span::Roman(" "),
            Span::Italic("dir"),
            Span::Roman(" [--timeout "),
            Span::Italic("seconds"),
            Span::Roman("] %p %f"),
        ])
        .paragraph(
            "An archive_command for a WAL archive shared by the nodes. A WAL segment is \
             archived only once a standby that could be promoted has flushed all of it (a \
             synchronous or quorum standby when synchronous_standby_names is set, any \
             streaming standby otherwise), so a primary cut off from its standbys cannot put \
             WAL into the archive that the next primary lacks. A primary with no standby \
             streaming and synchronous_standby_names empty (it acknowledges commits alone) \
             archives at once: the archive is then the second copy. History, backup-label and \
             .partial files are archived at once. A file already in the archive is never \
             replaced: the same contents again succeed, other contents are refused. It runs \
             as the PostgreSQL user, in the data directory, and finds the server through \
             postmaster.pid (--socket-dir, --port, --user, --dbname override). Silent on \
             success; a refusal is one line in the server log and exit status 1, and \
             PostgreSQL retries.",
        )
        .example(
            "archive_command = '/usr/sbin/pgsql-ra archive-wal --archive-dir /var/lib/pgsql/archive %p %f'",
        );

    r.section("SHOWING THE CLUSTER")
        .paragraph_spans(&[
            Span::Bold("pgsql-ra show"),
            Span::Roman(" [--resource "),
            Span::Italic("name"),
            Span::Roman("] [--json] [--timeout "),
            Span::Italic("seconds"),
            Span::Roman("]"),
        ])
        .paragraph(
            "Run as root on any node of the cluster: for every node of the resource, its \
             role, promotion score and the agent's attributes, fail-counts, the location \
             constraints that keep the resource off it, the lock file (this node only), this \
             node's PostgreSQL (timeline, current, received and replayed positions) and, from \
             the primary's pg_stat_replication (asked locally on the primary, through master_ip \
             elsewhere), each standby's sync state and lag; and for every node whether \
             Pacemaker may promote it now, why, and the command that changes it when a person \
             must act. The resource and its parameters come from the CIB (--resource when it \
             holds several PostgreSQL resources); no OCF variable is needed. Read-only: it \
             changes no attribute, file or CIB entry. --json prints the same as JSON, with the \
             field names of /usr/share/doc/pgsql-ra/show.schema.json. Exit status 0 with the \
             report, 1 when the cluster or the resource cannot be read, 2 for bad arguments.",
        );

    r.section("PREFLIGHT CHECK")
        .paragraph_spans(&[
            Span::Bold("pgsql-ra check"),
            Span::Roman(" [--param "),
            Span::Italic("name"),
            Span::Roman("="),
            Span::Italic("value"),
            Span::Roman("]... [--resource "),
            Span::Italic("name"),
            Span::Roman("] [--agent pgsql|pgsqlms] [--timeout "),
            Span::Italic("seconds"),
            Span::Roman("]"),
        ])
        .paragraph(
            "Checks, on the node it runs on, what the resource's parameters need (from the \
             CIB: the resource --resource names, else the only pgsql or pgsqlms one; before \
             the resource exists, or with OCF_RESKEY_* variables set, from those and --param): \
             the promote timeout a promotion without fencing needs, wal_level, max_wal_senders, max_replication_slots, \
             hot_standby, wal_log_hints or checksums for rejoin=rewind, the replication user, \
             a pg_hba.conf replication line for every node of node_list and master_ip, the \
             archive directory, Debian's start.conf, the local node name in node_list, \
             master_ip not up without a primary here, the primary at master_ip being the same \
             database cluster and major version, and the owners and modes of pgdata and \
             tmpdir. Each finding is printed as FAIL id: what, with why it matters and the \
             fix. Exit status 0 when clean, 1 with any finding, 2 for bad usage. It writes \
             nothing. With --agent pgsqlms the parameters are PAF's, and primary_conninfo's \
             application_name and recovery_target_timeline are checked instead of node_list, \
             master_ip, tmpdir and repuser. Run it on every node before creating the \
             resource; the findings are listed in troubleshooting.md.",
        );

    r.section("EXIT CODES");
    for rc in OcfRc::ALL {
        let code = rc.code().to_string();
        let name = format!(" {}", rc.name());
        r.tagged(&[Span::Bold(&code), Span::Roman(&name)], rc.meaning());
    }

    r.section("FILES")
        .paragraph("tmpdir and pgdata stand for the values of those parameters.");
    for (path, text) in FILES {
        r.tagged(&[Span::Italic(path)], text);
    }
    r.tagged(
        &[Span::Italic("/usr/share/doc/pgsql-ra/")],
        "README.md, the compatibility notes (how pgsql-ra differs from \
         ocf:heartbeat:pgsql, and why) and the other documentation.",
    );

    r.section("ENVIRONMENT");
    for (name, text) in ENVIRONMENT {
        r.tagged(&[Span::Bold(name)], text);
    }

    r.section("EXAMPLES")
        .paragraph("A stand-alone resource, with crmsh:")
        .example(
            "crm configure primitive pgsql ocf:upfront:pgsql \\\n    \
             params pgctl=/usr/lib/postgresql/15/bin/pg_ctl \\\n           \
             pgdata=/var/lib/postgresql/15/main \\\n           \
             config=/etc/postgresql/15/main/postgresql.conf \\\n           \
             socketdir=/var/run/postgresql \\\n    \
             op monitor interval=30s timeout=30s",
        )
        .paragraph("Checking it by hand, as root:")
        .example(
            "pgsql-ra --param pgdata=/var/lib/postgresql/15/main \\\n    \
             --param CRM_meta_timeout=20000 monitor; echo $?",
        );

    r.section("SEE ALSO");
    let refs: Vec<String> = SEE_ALSO
        .iter()
        .map(|(page, section)| format!("{page}({section})"))
        .collect();
    let mut spans = Vec::new();
    for (i, s) in refs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::Roman(", "));
        }
        spans.push(Span::Bold(s));
    }
    r.paragraph_spans(&spans);

    r.finish()
}

fn action_doc(name: &str, role: Option<&str>) -> Option<&'static ActionDoc> {
    ACTION_DOCS
        .iter()
        .find(|d| d.name == name && d.role == role)
}

/// ` (timeout 30s, interval 29s, depth 0, role Promoted)`.
fn action_attributes(a: &ActionSpec) -> String {
    let mut parts = vec![format!("timeout {}", a.timeout)];
    if let Some(i) = a.interval {
        parts.push(format!("interval {i}"));
    }
    if let Some(d) = a.depth {
        parts.push(format!("depth {d}"));
    }
    if let Some(r) = a.role {
        parts.push(format!("role {r}"));
    }
    format!(" ({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::Action;

    #[test]
    fn every_advertised_action_is_documented() {
        for a in META.actions {
            assert!(
                action_doc(a.name, a.role).is_some(),
                "no ActionDoc for {} {:?}",
                a.name,
                a.role
            );
        }
        for d in ACTION_DOCS {
            assert!(
                META.actions
                    .iter()
                    .any(|a| a.name == d.name && a.role == d.role),
                "ActionDoc for an action not advertised: {}",
                d.name
            );
        }
    }

    #[test]
    fn pgsqlms_parameters_are_on_the_page() {
        let page = man_page();
        assert!(page.contains("PGSQLMS PARAMETERS"));
        for p in crate::agents::pgsqlms::params::PARAMS {
            assert!(
                page.contains(&format!("\\fB{}\\fR", p.name)),
                "{} is not on the page",
                p.name
            );
        }
    }

    #[test]
    fn every_accepted_action_is_on_the_page() {
        for a in Action::ALL {
            let listed = META.actions.iter().any(|s| s.name == a.name())
                || UNADVERTISED_ACTIONS.iter().any(|(n, _)| *n == a.name());
            assert!(listed, "{} is not on the page", a.name());
        }
    }

    /// The page as a reader sees it, roughly: escapes and fonts removed.
    fn plain(page: &str) -> String {
        page.replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fI", "")
            .replace("\\fR", "")
            .replace("\\(aq", "'")
            .replace("\\&", "")
    }

    #[test]
    fn page_has_every_parameter_action_attribute_and_code() {
        let page = plain(&man_page());
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "ACTIONS",
            "PARAMETERS",
            "NODE ATTRIBUTES",
            "ARCHIVE COMMAND",
            "EXIT CODES",
            "FILES",
            "ENVIRONMENT",
            "SEE ALSO",
        ] {
            assert!(page.contains(&format!(".SH \"{section}\"")), "{section}");
        }
        for p in META.params {
            assert!(page.contains(&format!("\n{} (", p.name)), "{}", p.name);
        }
        for a in META.actions {
            assert!(page.contains(&format!("\n{} (timeout {}", a.name, a.timeout)));
        }
        for a in ATTRIBUTES {
            assert!(page.contains(a.name), "{}", a.name);
            for (v, _) in a.values {
                assert!(page.contains(&format!("\n{v}\n")), "{v}");
            }
        }
        for rc in OcfRc::ALL {
            assert!(page.contains(&format!("\n{} {}\n", rc.code(), rc.name())));
        }
        for v in [
            "OCF_CHECK_LEVEL",
            "HA_LOGFACILITY",
            "OCF_EXIT_REASON_PREFIX",
        ] {
            assert!(page.contains(v), "{v}");
        }
        // config's default is computed from pgdata.
        assert!(page.contains("config (string, default: pgdata/postgresql.conf)"));
    }

    #[test]
    fn required_attribute_values() {
        let values = |name: &str| -> Vec<&str> {
            ATTRIBUTES
                .iter()
                .find(|a| a.name == name)
                .unwrap()
                .values
                .iter()
                .map(|(v, _)| *v)
                .collect()
        };
        assert_eq!(
            values("<rsc>-status"),
            [
                "STOP",
                "HS:alone",
                "HS:connected",
                "HS:async",
                "HS:sync",
                "HS:potential",
                "PRI",
                "UNKNOWN"
            ]
        );
        assert_eq!(
            values("<rsc>-data-status"),
            [
                "LATEST",
                "STREAMING|SYNC",
                "STREAMING|ASYNC",
                "STREAMING|POTENTIAL",
                "DISCONNECT"
            ]
        );
        assert_eq!(values("master-<rsc>"), ["-INFINITY", "100", "1000"]);
    }
}
