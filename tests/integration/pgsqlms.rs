//! The `pgsqlms` (PAF) personality against real PostgreSQL 15, with the
//! fake-cluster kit standing in for Pacemaker: PAF's black-box matrix
//! (spec §8.4: V validation, M monitor, S start, T stop, P promote, D demote,
//! N notify, L scores), and differential runs against the stock Perl agent
//! (Debian `resource-agents-paf` 2.3.0) on identical instances.
//!
//! Each node is a PostgreSQL instance with its own socket directory, all on
//! one port. The standbys' `primary_conninfo` names `host=<vip>`, where the
//! "VIP" is a symbolic link to the current primary's socket directory:
//! moving the link is moving the address, as an IPaddr2 resource ordered
//! after promote would.
//!
//! Differences between the two agents are asserted as explicit pairs citing
//! docs/compatibility.md (PAF section); anything else must be equal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fake_cluster::FakeCluster;
use crate::harness::*;

pub const RSC: &str = "pgsqld";
const NAMES: [&str; 3] = ["srv1", "srv2", "srv3"];
const LIMIT: Duration = Duration::from_secs(60);

/// The stock PAF agent (Debian resource-agents-paf, 2.3.0).
fn stock_paf() -> PathBuf {
    let p = PathBuf::from("/usr/lib/ocf/resource.d/heartbeat/pgsqlms");
    assert!(
        p.exists(),
        "{} is missing: apt-get install resource-agents-paf (tests/run does)",
        p.display()
    );
    p
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Stock,
}

pub struct Node {
    pub name: &'static str,
    pub pg: PgInstance,
}

pub struct Paf {
    pub fc: FakeCluster,
    pub nodes: Vec<Node>,
    pub vip: PathBuf,
    pub kind: Kind,
    /// The agents' `bindir`: Debian's PostgreSQL 15 unless made with
    /// [`Paf::new_on`].
    pub bindir: PathBuf,
}

/// The settings PAF requires (hot standby, a primary_conninfo naming the
/// node), plus what makes tests quick and the stock agent's pipes free
/// (logging_collector: PAF starts PostgreSQL without -l).
fn paf_settings(pg: &PgInstance, vip: &Path, name: &str) {
    // wal_keep_size replaced wal_keep_segments (16MB each) in 13.
    let wal_keep = if pg.major() >= 13 {
        "wal_keep_size = '128MB'"
    } else {
        "wal_keep_segments = 8"
    };
    let conninfo = format!(
        "primary_conninfo = 'host={} port={} application_name={name}'\n",
        vip.display(),
        pg.port
    );
    pg.append_conf(&format!(
        "{wal_keep}\nwal_sender_timeout = '5s'\nwal_receiver_timeout = '5s'\n\
         logging_collector = on\nhot_standby = on\nwal_level = replica\nwal_log_hints = on\n"
    ));
    if pg.major() >= 12 {
        pg.append_conf(&conninfo);
    } else {
        // Before 12: the recovery settings live in PAF's template, copied
        // to recovery.conf at each start as a standby.
        let template = pg.pgdata().join("recovery.conf.pcmk");
        std::fs::write(
            &template,
            format!("standby_mode = 'on'\n{conninfo}recovery_target_timeline = 'latest'\n"),
        )
        .unwrap();
        chown_r(&template, PGDBA);
    }
}

/// The notification lists of the first promotion of srv1 (nothing was
/// primary before).
pub const FIRST_PROMOTION: [(&str, &str); 7] = [
    ("active", "srv1"),
    ("slave", "srv1"),
    ("master", " "),
    ("promote", "srv1"),
    ("demote", " "),
    ("start", " "),
    ("stop", " "),
];

/// A notification's node lists, in the order active, master, slave,
/// demote, promote, start, stop (`" "`: Pacemaker's empty list).
pub fn notify_lists(
    active: &'static str,
    master: &'static str,
    slave: &'static str,
    demote: &'static str,
    promote: &'static str,
    start: &'static str,
    stop: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("active", active),
        ("master", master),
        ("slave", slave),
        ("demote", demote),
        ("promote", promote),
        ("start", start),
        ("stop", stop),
    ]
}

impl Paf {
    /// `n` nodes: srv1 a cleanly stopped primary, the others fresh base
    /// backups of it (never started: `backup_label`). VIP on srv1.
    pub fn new(n: usize, kind: Kind) -> Paf {
        let fc = FakeCluster::new(&NAMES[..n]);
        fc.set_meta(RSC, "notify", "true");
        let vip = fc.dir().join("vip");
        let pg1 = PgInstance::new();
        paf_settings(&pg1, &vip, NAMES[0]);
        pg1.start_directly();
        let mut nodes = Vec::new();
        for name in &NAMES[1..n] {
            let sock = pg1.sockdir().display().to_string();
            let pg = PgInstance::standby_of(&pg1, &sock, "");
            paf_settings(&pg, &vip, name);
            nodes.push(Node { name, pg });
        }
        pg1.stop_cleanly();
        Paf::assemble(fc, pg1, nodes, vip, kind, pg_bindir())
    }

    /// Like [`Paf::new`] with the PostgreSQL build of `bindir` (any major,
    /// with psql and pg_isready; pg_controldata and pg_waldump are needed by
    /// PAF, and by the agent only outside 10 to 18) for the servers and the
    /// agents. The other nodes are cold
    /// copies of the cleanly stopped srv1 (Debian's pg_basebackup 15 refuses
    /// newer servers).
    pub fn new_on(n: usize, kind: Kind, bindir: &Path) -> Paf {
        let fc = FakeCluster::new(&NAMES[..n]);
        fc.set_meta(RSC, "notify", "true");
        let vip = fc.dir().join("vip");
        let pg1 = PgInstance::new_with(bindir);
        paf_settings(&pg1, &vip, NAMES[0]);
        pg1.start_directly();
        pg1.stop_cleanly();
        let mut nodes = Vec::new();
        for name in &NAMES[1..n] {
            let pg = PgInstance::cold_copy_of(&pg1, "");
            // The copy's settings still name srv1; the last one wins (the
            // template before 12 is rewritten).
            paf_settings(&pg, &vip, name);
            nodes.push(Node { name, pg });
        }
        Paf::assemble(fc, pg1, nodes, vip, kind, bindir.to_path_buf())
    }

    /// srv1 first, the VIP on it.
    fn assemble(
        fc: FakeCluster,
        pg1: PgInstance,
        mut others: Vec<Node>,
        vip: PathBuf,
        kind: Kind,
        bindir: PathBuf,
    ) -> Paf {
        others.insert(
            0,
            Node {
                name: NAMES[0],
                pg: pg1,
            },
        );
        let c = Paf {
            fc,
            nodes: others,
            vip,
            kind,
            bindir,
        };
        c.point_vip(Some(0));
        c
    }

    pub fn pg(&self, i: usize) -> &PgInstance {
        &self.nodes[i].pg
    }

    /// Moves the "VIP" to node `i` (`None`: nowhere).
    pub fn point_vip(&self, i: Option<usize>) {
        let _ = std::fs::remove_file(&self.vip);
        let target = match i {
            Some(i) => self.nodes[i].pg.sockdir(),
            None => self.fc.dir().join("no-such-dir"),
        };
        std::os::unix::fs::symlink(target, &self.vip).unwrap();
    }

    /// The agent on node `i`, as Pacemaker runs it for a promotable clone
    /// with notify=true.
    pub fn agent(&self, i: usize) -> Agent {
        self.agent_as(i, self.kind)
    }

    /// Like [`Paf::agent`], with either agent.
    pub fn agent_as(&self, i: usize, kind: Kind) -> Agent {
        let node = &self.nodes[i];
        let program = match kind {
            Kind::Ours => our_binary(),
            Kind::Stock => stock_paf(),
        };
        let a = Agent::program(program, "pgsqlms")
            .env("OCF_RESOURCE_INSTANCE", RSC)
            .env("OCF_RESOURCE_TYPE", "pgsqlms")
            .env("HA_RSCTMP", self.fc.dir().to_str().unwrap())
            .param("bindir", self.bindir.to_str().unwrap())
            .param("pgdata", node.pg.pgdata().to_str().unwrap())
            .param("pghost", node.pg.sockdir().to_str().unwrap())
            .param("pgport", &node.pg.port.to_string())
            .param("crm_feature_set", "3.16.2")
            .meta("notify", "true")
            .meta("master_max", "1")
            .meta("promoted_max", "1")
            .meta("clone_max", &self.nodes.len().to_string())
            .meta("on_node", node.name)
            .meta("timeout", "30000")
            .limit(LIMIT)
            .output_in_files();
        self.fc.apply(a, node.name)
    }

    /// A notification on node `i`. `lists`: (name, nodes) with the legacy
    /// names (`master`, `slave`, `active`, `start`, `stop`, `promote`,
    /// `demote`); both vocabularies are exported, as Pacemaker 2.1 does.
    pub fn notify(&self, i: usize, kind: &str, op: &str, lists: &[(&str, &str)]) -> Outcome {
        let mut a = self
            .agent(i)
            .meta("notify_type", kind)
            .meta("notify_operation", op);
        for (name, unames) in lists {
            let rscs: Vec<String> = unames
                .split_whitespace()
                .enumerate()
                .map(|(k, _)| format!("{RSC}:{k}"))
                .collect();
            let mut names = vec![name.to_string()];
            match *name {
                "master" => names.push("promoted".into()),
                "slave" => names.push("unpromoted".into()),
                _ => {}
            }
            for n in names {
                a = a
                    .meta(&format!("notify_{n}_uname"), unames)
                    .meta(&format!("notify_{n}_resource"), &rscs.join(" "));
            }
        }
        a.run("notify")
    }

    /// `master-pgsqld` of a node (permanent attribute).
    pub fn score(&self, node: &str) -> Option<String> {
        self.fc.attr(node, "forever", &format!("master-{RSC}"))
    }

    pub fn set_score(&self, node: &str, v: &str) {
        self.fc
            .set_attr(node, "forever", &format!("master-{RSC}"), v);
    }

    /// A private attribute (`lsn_location`, `nodes`, ...) of a node.
    pub fn private(&self, node: &str, base: &str) -> Option<String> {
        self.fc.attr(node, "reboot", &format!("{base}-{RSC}"))
    }

    /// Sets a private attribute the way a node does (attrd_updater -p).
    pub fn set_private(&self, node: &str, base: &str, v: &str) {
        let out = self.fc.run(
            node,
            "attrd_updater",
            &[
                "--private",
                "--lifetime",
                "reboot",
                "--name",
                &format!("{base}-{RSC}"),
                "--node",
                node,
                "--update",
                v,
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }

    /// Waits until the primary `i` sees `n` streaming standbys.
    #[track_caller]
    pub fn wait_streaming(&self, i: usize, n: usize) {
        let ok = wait_for(Duration::from_secs(30), || {
            self.pg(i)
                .psql("select count(*) from pg_stat_replication where state = 'streaming'")
                .is_ok_and(|v| v == n.to_string())
        });
        assert!(
            ok,
            "{} never saw {n} streaming standbys: {:?}",
            self.nodes[i].name,
            self.pg(i)
                .psql("select application_name, state from pg_stat_replication")
        );
    }
}

/// `pg_controldata`'s cluster state of an instance.
pub fn db_state(pg: &PgInstance) -> String {
    let out = std::process::Command::new(pg_bindir().join("pg_controldata"))
        .arg(pg.pgdata())
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Database cluster state:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[track_caller]
fn assert_reason(out: &Outcome, needle: &str) {
    let reason = out.exit_reason().unwrap_or_default();
    assert!(
        reason.contains(needle),
        "exit reason {reason:?} does not contain {needle:?}\nstderr:\n{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// Single node: the ocft cases of PAF's t/pgsqlms, completed (spec §8.1).

/// One step of a sequence: label, exit code, postmaster running after it.
type Trace = Vec<(String, i32, bool)>;

/// The t/pgsqlms sequence plus probes, double actions and the bootstrap
/// score, on one node of a two-node cluster.
fn single_node_sequence(kind: Kind) -> (Trace, Paf) {
    let c = Paf::new(2, kind);
    let mut t: Trace = Vec::new();
    let mut step = |label: &str, out: Outcome, pg: &PgInstance| {
        t.push((label.to_string(), out.code, pg.is_running()));
        out
    };
    let a = || c.agent(0);
    let pg = c.pg(0);
    // M1, V: a cleanly stopped primary; validate-all does not need it up.
    step("validate-all", a().run("validate-all"), pg);
    step("probe stopped primary", a().run("monitor"), pg);
    // S1, S5: started as a standby; nobody has a score, so the former
    // primary proposes itself with 1.
    step("start", a().run("start"), pg);
    assert!(pg.pgdata().join("standby.signal").exists());
    step("start again", a().run("start"), pg);
    step("monitor standby", a().recurring().run("monitor"), pg);
    // P1: promote without the pre-promote notification.
    let out = step("promote without election", a().run("promote"), pg);
    assert_reason(&out, "Can not get current node LSN location");
    // P2: with our own position only (no other node listed).
    c.set_private("srv1", "lsn_location", "1#1");
    step("promote", a().run("promote"), pg);
    step("promote again", a().run("promote"), pg);
    // M3: the primary's monitor sets its own score and the not-connected
    // standby's.
    step("monitor primary", a().recurring().run("monitor"), pg);
    // D1: demote = stop + start as a standby.
    step("demote", a().run("demote"), pg);
    step("monitor demoted", a().recurring().run("monitor"), pg);
    step("demote again", a().run("demote"), pg);
    // T1, T2.
    step("stop", a().run("stop"), pg);
    step("stop again", a().run("stop"), pg);
    step("probe stopped standby", a().run("monitor"), pg);
    // D2: demote of a stopped instance starts it as a standby.
    step("demote stopped", a().run("demote"), pg);
    step("stop 2", a().run("stop"), pg);
    // M1: a fresh base backup on the other node.
    step("probe base backup", c.agent(1).run("monitor"), c.pg(1));
    step("reload", a().run("reload"), pg);
    (t, c)
}

#[track_caller]
fn codes(t: &Trace) -> Vec<(&str, i32)> {
    t.iter().map(|(l, c, _)| (l.as_str(), *c)).collect()
}

#[test]
fn pgsqlms_single_node_lifecycle() {
    let (t, c) = single_node_sequence(Kind::Ours);
    assert_eq!(
        codes(&t),
        [
            ("validate-all", 0),
            ("probe stopped primary", 7),
            ("start", 0),
            ("start again", 0),
            ("monitor standby", 0),
            ("promote without election", 1),
            ("promote", 0),
            ("promote again", 0),
            ("monitor primary", 8),
            ("demote", 0),
            ("monitor demoted", 0),
            ("demote again", 0),
            ("stop", 0),
            ("stop again", 0),
            ("probe stopped standby", 7),
            ("demote stopped", 0),
            ("stop 2", 0),
            ("probe base backup", 7),
            ("reload", 0),
        ],
        "{t:?}"
    );
    // Running after start/promote/demote, stopped after stops.
    let running: Vec<bool> = t.iter().map(|s| s.2).collect();
    assert_eq!(
        running,
        [
            false, false, true, true, true, true, true, true, true, true, true, true, false, false,
            false, true, false, false, false
        ]
    );
    assert_eq!(db_state(c.pg(0)), "shut down in recovery");
    // The stop leaves standby.signal for the next start (as PAF).
    assert!(c.pg(0).pgdata().join("standby.signal").exists());
    // Scores: 1 at the bootstrap start, then 1001 from the primary monitor,
    // which also gave the unconnected srv2 -1000.
    assert_eq!(c.score("srv1").as_deref(), Some("1001"));
    assert_eq!(c.score("srv2").as_deref(), Some("-1000"));
    // Every score write used --promotion with long options (Pacemaker
    // 2.1.5 mis-parses `-v -INFINITY` after -p).
    let writes: Vec<_> =
        c.fc.calls_of("crm_attribute")
            .into_iter()
            .filter(|call| call.argv.iter().any(|a| a.starts_with("--update=")))
            .collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert!(
            w.has(&["--promotion=pgsqld", "--lifetime=forever"]),
            "{w:?}"
        );
    }
    assert!(c.fc.calls_of("crm_master").is_empty());
}

/// The same sequence through the stock PAF 2.3.0 and ours: same codes, same
/// running state after each step, same scores.
#[test]
fn pgsqlms_single_node_matches_stock_paf() {
    let (ours, oc) = single_node_sequence(Kind::Ours);
    let (stock, sc) = single_node_sequence(Kind::Stock);
    assert_eq!(ours, stock);
    for n in ["srv1", "srv2"] {
        assert_eq!(oc.score(n), sc.score(n), "score of {n}");
    }
}

// ---------------------------------------------------------------------------
// Validation (spec §4.2, §8.4 V1-V12), both agents on the same instance.

/// One bad-input case: what each agent must answer. Where they differ, the
/// row of docs/compatibility.md (PAF section) that says why.
struct Case {
    name: &'static str,
    action: &'static str,
    tweak: fn(Agent) -> Agent,
    ours: i32,
    stock: i32,
    reason: &'static str,
    compat: Option<&'static str>,
}

fn case(
    name: &'static str,
    action: &'static str,
    tweak: fn(Agent) -> Agent,
    ours: i32,
    stock: i32,
    reason: &'static str,
    compat: Option<&'static str>,
) -> Case {
    assert_eq!(
        ours != stock,
        compat.is_some(),
        "{name}: a difference needs its row"
    );
    Case {
        name,
        action,
        tweak,
        ours,
        stock,
        reason,
        compat,
    }
}

fn run_cases(c: &Paf, cases: &[Case]) {
    let mut failures = Vec::new();
    for k in cases {
        let ours = (k.tweak)(c.agent_as(0, Kind::Ours)).run(k.action);
        let stock = (k.tweak)(c.agent_as(0, Kind::Stock)).run(k.action);
        let reason_ok =
            k.reason.is_empty() || ours.exit_reason().is_some_and(|r| r.contains(k.reason));
        if ours.code != k.ours || stock.code != k.stock || !reason_ok {
            failures.push(format!(
                "{} ({}): ours {} (want {}, reason {:?}), stock {} (want {}, reason {:?}) {}",
                k.name,
                k.action,
                ours.code,
                k.ours,
                ours.exit_reason(),
                stock.code,
                k.stock,
                stock.exit_reason(),
                k.compat.unwrap_or("")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn pgsqlms_bad_input_matrix_against_stock_paf() {
    let c = Paf::new(1, Kind::Ours);
    let pgdata = c.pg(0).pgdata();
    let cases = vec![
        case("valid", "validate-all", |a| a, 0, 0, "", None),
        // V2
        case(
            "feature set unset",
            "validate-all",
            |a| a.without_param("crm_feature_set"),
            5,
            5,
            "Pacemaker 1.1.13",
            None,
        ),
        case(
            "feature set 3.0.9",
            "validate-all",
            |a| a.param("crm_feature_set", "3.0.9"),
            5,
            5,
            "Pacemaker 1.1.13",
            None,
        ),
        case(
            "feature set 3.0.10",
            "validate-all",
            |a| a.param("crm_feature_set", "3.0.10"),
            0,
            0,
            "",
            None,
        ),
        // V3 (the stock 2.3.0 asks crm_resource, ours reads the meta
        // attribute Pacemaker passes: both say false here).
        case(
            "notify unset",
            "validate-all",
            |a| a.env_remove("OCF_RESKEY_CRM_meta_notify"),
            5,
            0,
            "notify=true",
            Some("compat PAF-11: notify read from CRM_meta_notify (PAF master)"),
        ),
        case(
            "master-max 2",
            "validate-all",
            |a| a.meta("master_max", "2").meta("promoted_max", "2"),
            5,
            5,
            "master-max=1",
            None,
        ),
        case(
            "no master-max at all",
            "validate-all",
            |a| {
                a.env_remove("OCF_RESKEY_CRM_meta_master_max")
                    .env_remove("OCF_RESKEY_CRM_meta_promoted_max")
            },
            5,
            5,
            "master-max=1",
            None,
        ),
        case(
            "promoted-max only",
            "validate-all",
            |a| a.env_remove("OCF_RESKEY_CRM_meta_master_max"),
            0,
            5,
            "",
            Some("compat PAF-11: promoted_max accepted"),
        ),
        // V4
        case(
            "maxlag abc",
            "validate-all",
            |a| a.param("maxlag", "abc"),
            5,
            5,
            "maxlag is not a number",
            None,
        ),
        case(
            "maxlag 1e6",
            "validate-all",
            |a| a.param("maxlag", "1e6"),
            0,
            0,
            "",
            None,
        ),
        // V5
        case(
            "unknown system user",
            "validate-all",
            |a| a.param("system_user", "no_such_user_pgra"),
            2,
            2,
            "System user \"no_such_user_pgra\" does not exist",
            None,
        ),
        // V6
        case(
            "pgdata missing",
            "validate-all",
            |a| a.param("pgdata", "/nonexistent/pgra"),
            2,
            2,
            "PGDATA \"/nonexistent/pgra\" does not exist",
            None,
        ),
        case(
            "pgdata missing, probe",
            "monitor",
            |a| a.param("pgdata", "/nonexistent/pgra"),
            7,
            2,
            "PGDATA",
            Some("compat PAF-1: nothing can run from a missing data directory"),
        ),
        case(
            "pgdata missing, stop",
            "stop",
            |a| a.param("pgdata", "/nonexistent/pgra"),
            0,
            2,
            "",
            Some("compat PAF-1"),
        ),
        case(
            "datadir missing",
            "validate-all",
            |a| a.param("datadir", "/nonexistent/pgra"),
            2,
            2,
            "data_directory \"/nonexistent/pgra\" does not exist",
            None,
        ),
        // V8, V9 through start_opts, which PAF gives to postgres -C.
        case(
            "primary_conninfo without our name",
            "validate-all",
            |a| {
                a.param(
                    "start_opts",
                    "-c 'primary_conninfo=host=x application_name=srv10'",
                )
            },
            2,
            2,
            "MUST contain 'application_name=srv1'",
            None,
        ),
        case(
            "primary_conninfo with a quoted name",
            "validate-all",
            |a| {
                a.param(
                    "start_opts",
                    "-c \"primary_conninfo=host=x application_name='srv1'\"",
                )
            },
            0,
            2,
            "",
            Some("compat PAF-10: quoted names accepted (PAF master, PR #182)"),
        ),
        case(
            "primary_conninfo with blanks around =",
            "validate-all",
            |a| {
                a.param(
                    "start_opts",
                    "-c 'primary_conninfo=host=x application_name = srv1'",
                )
            },
            0,
            2,
            "",
            Some("compat PAF-10: conninfo parsed as libpq does"),
        ),
        case(
            "recovery_target_timeline current",
            "validate-all",
            |a| a.param("start_opts", "-c recovery_target_timeline=current"),
            2,
            2,
            "MUST be set to 'latest'",
            None,
        ),
        // V7, explicit template path (the default path is below).
        case(
            "template present",
            "validate-all",
            |a| a.param("recovery_template", "/etc/hostname"),
            2,
            2,
            "forbidden for PostgreSQL 12 and above",
            None,
        ),
        // Binaries: PAF's first check needing them is postgres -C.
        case(
            "bindir without PostgreSQL",
            "validate-all",
            |a| a.param("bindir", "/nonexistent/bin"),
            2,
            2,
            "recovery_target_timeline",
            None,
        ),
        case(
            "bindir without PostgreSQL, probe",
            "monitor",
            |a| a.param("bindir", "/nonexistent/bin"),
            7,
            2,
            "",
            Some("compat PAF-2: a probe finding nothing running says so"),
        ),
        case(
            "pgport not a number",
            "validate-all",
            |a| a.param("pgport", "abc"),
            6,
            0,
            "pgport is not a port number",
            Some("compat PAF-12: pgport validated"),
        ),
        // validate-all where Pacemaker passes no meta attributes but the
        // timeout (pcs resource create, crm_resource --validate --agent):
        // the clone is not judged.
        case(
            "no meta attributes (pcs resource create)",
            "validate-all",
            |a| {
                [
                    "notify",
                    "master_max",
                    "promoted_max",
                    "clone_max",
                    "on_node",
                ]
                .iter()
                .fold(a, |a, m| a.env_remove(&format!("OCF_RESKEY_CRM_meta_{m}")))
            },
            0,
            5,
            "",
            Some("compat PAF-26: the clone is not judged without meta attributes"),
        ),
        // The parameters before the host.
        case(
            "maxlag abc, pgdata missing",
            "validate-all",
            |a| {
                a.param("maxlag", "abc")
                    .param("pgdata", "/nonexistent/pgra")
            },
            5,
            2,
            "maxlag is not a number",
            Some("compat PAF-26: parameters judged before the data directory"),
        ),
        case(
            "start_opts unbalanced",
            "validate-all",
            |a| a.param("start_opts", "-c 'x"),
            6,
            2,
            "start_opts \"-c 'x\" cannot be split",
            Some("compat PAF-26: start_opts judged as a parameter (PAF: postgres -C fails)"),
        ),
        // V12
        case("status", "status", |a| a, 3, 3, "", None),
        case("unknown action", "frobnicate", |a| a, 3, 3, "", None),
    ];
    run_cases(&c, &cases);

    // V7 with the default template path, V6 without PG_VERSION.
    let template = pgdata.join("recovery.conf.pcmk");
    std::fs::write(&template, "standby_mode = on\n").unwrap();
    run_cases(
        &c,
        &[case(
            "default template present",
            "validate-all",
            |a| a,
            2,
            2,
            "recovery.conf.pcmk\" is forbidden",
            None,
        )],
    );
    std::fs::remove_file(&template).unwrap();
    let version = pgdata.join("PG_VERSION");
    std::fs::rename(&version, pgdata.join("PG_VERSION.away")).unwrap();
    run_cases(
        &c,
        &[
            case(
                "PG_VERSION missing",
                "validate-all",
                |a| a,
                2,
                2,
                "PG_VERSION does not exist",
                None,
            ),
            case(
                "PG_VERSION missing, stop",
                "stop",
                |a| a,
                0,
                2,
                "",
                Some("compat PAF-1"),
            ),
        ],
    );
    std::fs::rename(pgdata.join("PG_VERSION.away"), &version).unwrap();

    // V1: meta-data and methods need nothing (a manual run: no OCF
    // version, no instance).
    for kind in [Kind::Ours, Kind::Stock] {
        let a = c
            .agent_as(0, kind)
            .env_remove("OCF_RESOURCE_INSTANCE")
            .env_remove("OCF_RA_VERSION_MAJOR");
        assert_rc(&a.run("meta-data"), 0);
        let m = a.run("methods");
        assert_rc(&m, 0);
        assert!(m.stdout.contains("reload") && m.stdout.contains("notify"));
    }
}

/// V11: a data directory last run with wal_level=minimal cannot replicate.
#[test]
fn pgsqlms_refuses_wal_level_minimal() {
    let c = Paf::new(1, Kind::Ours);
    c.pg(0)
        .append_conf("wal_level = minimal\nmax_wal_senders = 0\narchive_mode = off\n");
    c.pg(0).start_directly();
    c.pg(0).stop_cleanly();
    for kind in [Kind::Ours, Kind::Stock] {
        let out = c.agent_as(0, kind).run("validate-all");
        assert_rc(&out, 2);
        assert_reason(&out, "wal_level must be one of");
    }
}

// ---------------------------------------------------------------------------
// Three nodes: bootstrap, scores, election, failover, crashes.

/// SIGSTOP/SIGCONT of a standby's WAL receiver (it stops writing WAL but
/// stays connected: its `write_lsn` falls behind).
fn walreceiver(pg: &PgInstance, signal: &str) {
    let pid = pg
        .psql("select pid from pg_stat_wal_receiver")
        .expect("no wal receiver");
    assert!(!pid.is_empty(), "no wal receiver");
    let st = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(st.success());
}

/// `kill -9` of the postmaster, then waits until init has reaped it (a
/// zombie still holds the lock file for PostgreSQL), so both agents see the
/// same thing.
fn crash(pg: &PgInstance) {
    let pid = pg.postmaster_pid().unwrap();
    pg.kill9();
    assert!(wait_for(Duration::from_secs(10), || !Path::new(&format!(
        "/proc/{pid}"
    ))
    .exists()));
}

/// Writes some WAL on a primary.
fn write_wal(pg: &PgInstance) {
    pg.psql("create table if not exists t (x int); insert into t select generate_series(1, 20000)")
        .unwrap();
}

/// Waits until every standby of primary `i` has written all its WAL.
#[track_caller]
fn wait_caught_up(c: &Paf, i: usize) {
    let ok = wait_for(Duration::from_secs(30), || {
        c.pg(i)
            .psql(
                "select count(*) = 0 from pg_stat_replication \
                 where write_lsn is distinct from pg_current_wal_lsn()",
            )
            .is_ok_and(|v| v == "t")
    });
    assert!(ok, "standbys of {} never caught up", c.nodes[i].name);
}

/// The scenario, returning (label, code) steps and the scores at a few
/// points, so the stock agent's run can be compared with ours.
fn cluster_scenario(kind: Kind) -> Vec<(String, String)> {
    let c = Paf::new(3, kind);
    let mut t: Vec<(String, String)> = Vec::new();
    // Steps also go to stderr: a panic in the middle shows how far it got.
    let mut rec = |label: &str, v: String| {
        eprintln!("{kind:?}: {label}: {v}");
        t.push((label.to_string(), v))
    };
    let scores = |c: &Paf| {
        NAMES
            .iter()
            .map(|n| c.score(n).unwrap_or_else(|| "-".into()))
            .collect::<Vec<_>>()
            .join(" ")
    };

    // Scenario 1, first cluster start: M1 everywhere. No VIP before the
    // first promotion. srv1 starts and is promoted first; the base backups
    // join after (a start of all three then an election is
    // pgsqlms_first_start_election_uses_replayed_wal).
    c.point_vip(None);
    for i in 0..3 {
        rec("probe", c.agent(i).run("monitor").code.to_string());
    }
    rec("start", c.agent(0).run("start").code.to_string());
    // S5: nobody has a score: the former primary proposes itself.
    rec("bootstrap scores", scores(&c));
    let first = FIRST_PROMOTION;
    // N1
    rec(
        "pre-promote",
        c.notify(0, "pre", "promote", &first).code.to_string(),
    );
    let loc = c.private("srv1", "lsn_location").unwrap_or_default();
    let ok = loc
        .split_once('#')
        .is_some_and(|(tl, lsn)| tl == "1" && lsn.parse::<u64>().is_ok());
    rec("lsn_location format", ok.to_string());
    rec("nodes", c.private("srv1", "nodes").unwrap_or_default());
    rec("promote", c.agent(0).run("promote").code.to_string());
    rec(
        "post-promote",
        c.notify(0, "post", "promote", &first).code.to_string(),
    );
    // N5
    rec(
        "cleaned",
        format!(
            "{:?} {:?}",
            c.private("srv1", "lsn_location"),
            c.private("srv1", "nodes")
        ),
    );
    c.point_vip(Some(0));
    for i in 1..3 {
        rec("start", c.agent(i).run("start").code.to_string());
    }
    c.wait_streaming(0, 2);
    wait_caught_up(&c, 0);
    // L1, M3: closest first, ties by name.
    rec(
        "monitor primary",
        c.agent(0).recurring().run("monitor").code.to_string(),
    );
    rec("scores", scores(&c));
    rec(
        "monitor standby",
        c.agent(1).recurring().run("monitor").code.to_string(),
    );

    // L4: a stopped standby gets -1000, once.
    rec("stop srv3", c.agent(2).run("stop").code.to_string());
    rec(
        "monitor primary",
        c.agent(0).recurring().run("monitor").code.to_string(),
    );
    rec("scores", scores(&c));
    c.fc.clear_calls();
    rec(
        "monitor primary",
        c.agent(0).recurring().run("monitor").code.to_string(),
    );
    let rewrites =
        c.fc.calls()
            .iter()
            .filter(|call| {
                call.argv.iter().any(|a| a.contains("update"))
                    && call.argv.iter().any(|a| a.contains("srv3"))
            })
            .count();
    rec("srv3 rewritten", rewrites.to_string());

    // L2: srv2 stops writing WAL while the primary writes: beyond maxlag.
    walreceiver(c.pg(1), "-STOP");
    write_wal(c.pg(0));
    rec(
        "monitor maxlag",
        c.agent(0)
            .recurring()
            .param("maxlag", "1000")
            .run("monitor")
            .code
            .to_string(),
    );
    rec("scores", scores(&c));
    walreceiver(c.pg(1), "-CONT");
    wait_caught_up(&c, 0);
    rec(
        "monitor primary",
        c.agent(0).recurring().run("monitor").code.to_string(),
    );
    rec("scores", scores(&c));

    // Scenario 4, failover with election abort: srv3 is ahead of srv2,
    // whose score is higher.
    rec("start srv3", c.agent(2).run("start").code.to_string());
    c.wait_streaming(0, 2);
    wait_caught_up(&c, 0);
    walreceiver(c.pg(1), "-STOP");
    write_wal(c.pg(0));
    let target = c.pg(0).psql("select pg_current_wal_lsn()").unwrap();
    // L1 with different positions (within wal_sender_timeout, while srv2
    // is still connected): srv3, ahead, ranks first.
    let ok = wait_for(Duration::from_secs(4), || {
        c.pg(0)
            .psql(&format!(
                "select write_lsn >= '{target}'::pg_lsn from pg_stat_replication \
                 where application_name = 'srv3'"
            ))
            .is_ok_and(|v| v == "t")
    });
    assert!(ok, "srv3 did not write the primary's last WAL");
    rec(
        "monitor primary",
        c.agent(0).recurring().run("monitor").code.to_string(),
    );
    rec("scores", scores(&c));
    let ok = wait_for(Duration::from_secs(20), || {
        c.pg(2)
            .psql(&format!(
                "select pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
            ))
            .is_ok_and(|v| v == "t")
    });
    assert!(ok, "srv3 did not replay the primary's last WAL");
    crash(c.pg(0));
    walreceiver(c.pg(1), "-CONT");
    // M4
    rec(
        "monitor killed primary",
        c.agent(0).run("monitor").code.to_string(),
    );
    c.point_vip(None);
    c.fc.set_online("srv1", false);
    let lists = |promote: &'static str| {
        vec![
            ("active", "srv2 srv3"),
            ("slave", "srv2 srv3"),
            ("master", " "),
            ("promote", promote),
            ("demote", " "),
            ("start", " "),
            ("stop", " "),
        ]
    };
    for i in 1..3 {
        rec(
            "pre-promote",
            c.notify(i, "pre", "promote", &lists("srv2"))
                .code
                .to_string(),
        );
    }
    // P3: srv2 hands over to srv3.
    let out = c.agent(1).run("promote");
    rec("promote srv2", out.code.to_string());
    rec(
        "promote srv2 reason",
        out.exit_reason()
            .unwrap_or_default()
            .contains("srv3 is the best candidate to promote")
            .to_string(),
    );
    rec("scores", scores(&c));
    for i in 1..3 {
        rec(
            "pre-promote",
            c.notify(i, "pre", "promote", &lists("srv3"))
                .code
                .to_string(),
        );
    }
    rec("promote srv3", c.agent(2).run("promote").code.to_string());
    for i in 1..3 {
        rec(
            "post-promote",
            c.notify(i, "post", "promote", &lists("srv3"))
                .code
                .to_string(),
        );
    }
    c.point_vip(Some(2));
    c.wait_streaming(2, 1);
    rec(
        "monitor new primary",
        c.agent(2).recurring().run("monitor").code.to_string(),
    );
    // The fenced node keeps its stale 1001 (issues #56, #127).
    rec("scores", scores(&c));

    // Scenario 8: the crashed old primary rejoins. S4 start refuses it.
    c.fc.set_online("srv1", true);
    rec(
        "probe crashed primary",
        c.agent(0).run("monitor").code.to_string(),
    );
    rec(
        "stop crashed primary",
        c.agent(0).run("stop").code.to_string(),
    );
    let out = c.agent(0).run("start");
    rec("start crashed primary", out.code.to_string());
    rec("crashed primary left as is", db_state(c.pg(0)));
    rec("crashed primary running", c.pg(0).is_running().to_string());

    // Scenario 7 (M5, N7): a standby killed, recovered by pre-stop.
    crash(c.pg(1));
    rec(
        "monitor killed standby",
        c.agent(1).recurring().run("monitor").code.to_string(),
    );
    let recover = [
        ("active", "srv2 srv3"),
        ("master", "srv3"),
        ("slave", "srv2"),
        ("start", "srv2"),
        ("stop", "srv2"),
        ("promote", " "),
        ("demote", " "),
    ];
    let out = c.notify(1, "pre", "stop", &recover);
    rec("pre-stop", out.code.to_string());
    let running = c.pg(1).is_running();
    if !running {
        eprintln!("pre-stop did not restart srv2:\n{}", out.stderr);
    }
    rec("restarted by pre-stop", running.to_string());
    rec("stop", c.agent(1).run("stop").code.to_string());
    rec("start", c.agent(1).run("start").code.to_string());
    rec(
        "monitor standby",
        c.agent(1).recurring().run("monitor").code.to_string(),
    );
    t
}

#[track_caller]
fn trace_value<'a>(t: &'a [(String, String)], label: &str, nth: usize) -> &'a str {
    t.iter()
        .filter(|(l, _)| l == label)
        .nth(nth)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no step {label:?} #{nth} in {t:#?}"))
}

#[test]
fn pgsqlms_cluster_scores_election_failover_and_crashes() {
    let t = cluster_scenario(Kind::Ours);
    let v = |label: &str, nth: usize| trace_value(&t, label, nth).to_string();
    for i in 0..3 {
        assert_eq!(v("probe", i), "7", "{t:#?}");
        assert_eq!(v("start", i), "0", "{t:#?}");
    }
    assert_eq!(v("bootstrap scores", 0), "1 - -");
    assert_eq!(v("nodes", 0), "srv1");
    assert_eq!(v("lsn_location format", 0), "true");
    assert_eq!(v("promote", 0), "0", "{t:#?}");
    assert_eq!(v("cleaned", 0), "None None");
    assert_eq!(v("monitor primary", 0), "8");
    assert_eq!(v("scores", 0), "1001 1000 990");
    assert_eq!(v("monitor standby", 0), "0");
    assert_eq!(v("stop srv3", 0), "0");
    assert_eq!(v("scores", 1), "1001 1000 -1000");
    assert_eq!(v("srv3 rewritten", 0), "0");
    assert_eq!(v("monitor maxlag", 0), "8");
    assert_eq!(v("scores", 2), "1001 -1000 -1000");
    assert_eq!(v("scores", 3), "1001 1000 -1000");
    assert_eq!(v("scores", 4), "1001 990 1000");
    assert_eq!(v("monitor killed primary", 0), "9");
    assert_eq!(v("promote srv2", 0), "1");
    assert_eq!(v("promote srv2 reason", 0), "true", "{t:#?}");
    // P3: srv2 held 990 but the score it got at the last monitor is not
    // what the election goes by.
    assert_eq!(v("scores", 5), "1001 1 1000");
    assert_eq!(v("promote srv3", 0), "0", "{t:#?}");
    assert_eq!(v("monitor new primary", 0), "8");
    assert_eq!(v("scores", 6), "1001 1000 1001");
    assert_eq!(v("probe crashed primary", 0), "9");
    // compat PAF-3: nothing runs, so the stop succeeds (PAF: 1, fencing).
    assert_eq!(v("stop crashed primary", 0), "0");
    assert_eq!(v("start crashed primary", 0), "1");
    assert_eq!(v("crashed primary left as is", 0), "in production");
    assert_eq!(v("crashed primary running", 0), "false");
    assert_eq!(v("monitor killed standby", 0), "1");
    assert_eq!(v("restarted by pre-stop", 0), "true");
    assert_eq!(v("stop", 0), "0");
    assert_eq!(v("start", 3), "0");
    assert_eq!(v("monitor standby", 1), "0");
}

/// The same scenario with the stock PAF 2.3.0: every step equal but the
/// listed differences.
#[test]
fn pgsqlms_cluster_scenario_matches_stock_paf() {
    let ours = cluster_scenario(Kind::Ours);
    let stock = cluster_scenario(Kind::Stock);
    assert_eq!(ours.len(), stock.len());
    let mut diffs = Vec::new();
    for ((label, o), (_, s)) in ours.iter().zip(&stock) {
        if o != s {
            diffs.push((label.clone(), o.clone(), s.clone()));
        }
    }
    let expected: Vec<(String, String, String)> = [
        // compat PAF-9: 2.3.0 ranks standbys backwards (#198): the
        // lagging srv2 gets 1000.
        ("scores", "1001 990 1000", "1001 1000 990"),
        // compat PAF-3: stop of a crashed primary.
        ("stop crashed primary", "0", "1"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(diffs, expected, "ours: {ours:#?}\nstock: {stock:#?}");
}

/// Scenario 1 with every node started before the first election: the
/// former primary's WAL receiver has received nothing since its start, and
/// its received position is the start of the segment it asked for, behind
/// what it holds. PAF compares received positions and elects a base backup
/// over the former primary, which holds more WAL (issues #225, #228): the
/// old primary would then have to be rebuilt. We compare the furthest of
/// received and replayed positions and keep srv1.
#[test]
fn pgsqlms_first_start_election_uses_replayed_wal() {
    let lists = [
        ("active", "srv1 srv2"),
        ("slave", "srv1 srv2"),
        ("master", " "),
        ("promote", "srv1"),
        ("demote", " "),
        ("start", " "),
        ("stop", " "),
    ];
    let mut results = Vec::new();
    for kind in [Kind::Ours, Kind::Stock] {
        // The address the standbys follow is on srv1 before the election,
        // so srv2 streams (from srv1, a standby) while srv1's own receiver
        // has received nothing from elsewhere.
        let c = Paf::new(2, kind);
        for i in 0..2 {
            assert_rc(&c.agent(i).run("start"), 0);
        }
        c.wait_streaming(0, 2);
        for i in 0..2 {
            assert_rc(&c.notify(i, "pre", "promote", &lists), 0);
        }
        let out = c.agent(0).run("promote");
        results.push((
            kind,
            out.code,
            out.exit_reason().unwrap_or_default(),
            c.score("srv1"),
            c.score("srv2"),
            c.pg(0).is_running()
                && c.pg(0).psql("select pg_is_in_recovery()").ok() == Some("f".into()),
        ));
    }
    let (_, code, _, s1, s2, primary) = &results[0];
    assert_eq!(
        (*code, s1.as_deref(), s2.as_deref(), *primary),
        (0, Some("1"), None, true),
        "{results:?}"
    );
    // compat PAF-7: the stock agent hands the promotion to the base backup.
    let (_, code, reason, s1, s2, primary) = &results[1];
    assert_eq!(*code, 1, "{results:?}");
    assert!(reason.contains("srv2 is the best candidate"), "{results:?}");
    assert_eq!(
        (s1.as_deref(), s2.as_deref(), *primary),
        (Some("1"), Some("1000"), false)
    );
}

// ---------------------------------------------------------------------------
// Two nodes: switchover (checked and cancelled), local crash recovery of the
// primary, demote and stop of crashed or unreachable instances.

/// Makes a standby's WAL receiver reconnect (to wherever the VIP now is):
/// moving the link does not break a connection, as moving an address does
/// not always either.
pub(crate) fn reconnect(pg: &PgInstance) {
    if let Ok(pid) = pg.psql("select pid from pg_stat_wal_receiver") {
        if !pid.is_empty() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
        }
    }
}

pub(crate) fn in_recovery(pg: &PgInstance) -> String {
    pg.psql("select pg_is_in_recovery()")
        .unwrap_or_else(|e| format!("error: {}", e.trim()))
}

fn switchover_scenario(kind: Kind) -> Vec<(String, String)> {
    let c = Paf::new(2, kind);
    let mut t: Vec<(String, String)> = Vec::new();
    let mut rec = |label: &str, v: String| {
        eprintln!("{kind:?}: {label}: {v}");
        t.push((label.to_string(), v))
    };
    let scores = |c: &Paf| format!("{:?} {:?}", c.score("srv1"), c.score("srv2"));
    let lists = notify_lists;
    let both = |c: &Paf, kind: &str, op: &str, l: &[(&str, &str)]| {
        (0..2)
            .map(|i| c.notify(i, kind, op, l).code.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };

    // Bootstrap: srv1 primary, srv2 streaming from it.
    c.point_vip(None);
    rec("start srv1", c.agent(0).run("start").code.to_string());
    let first = lists("srv1", " ", "srv1", " ", "srv1", " ", " ");
    rec(
        "pre-promote",
        c.notify(0, "pre", "promote", &first).code.to_string(),
    );
    rec("promote srv1", c.agent(0).run("promote").code.to_string());
    rec(
        "post-promote",
        c.notify(0, "post", "promote", &first).code.to_string(),
    );
    c.point_vip(Some(0));
    rec("start srv2", c.agent(1).run("start").code.to_string());
    c.wait_streaming(0, 1);
    rec(
        "monitor srv1",
        c.agent(0).recurring().run("monitor").code.to_string(),
    );
    rec("scores", scores(&c));

    // Scenario 5, switchover srv1 -> srv2 (N3, D1).
    let sw = lists("srv1 srv2", "srv1", "srv2", "srv1", "srv2", " ", " ");
    rec("pre-demote", both(&c, "pre", "demote", &sw));
    rec("demote srv1", c.agent(0).run("demote").code.to_string());
    rec("srv1 in recovery", in_recovery(c.pg(0)));
    rec("post-demote", both(&c, "post", "demote", &sw));
    rec("pre-promote", both(&c, "pre", "promote", &sw));
    rec(
        "cancel_switchover",
        format!("{:?}", c.private("srv2", "cancel_switchover")),
    );
    rec(
        "positions published",
        format!(
            "{} {}",
            c.private("srv1", "lsn_location").is_some(),
            c.private("srv2", "lsn_location").is_some()
        ),
    );
    rec("promote srv2", c.agent(1).run("promote").code.to_string());
    rec("post-promote", both(&c, "post", "promote", &sw));
    c.point_vip(Some(1));
    reconnect(c.pg(0));
    c.wait_streaming(1, 1);
    rec(
        "monitor srv2",
        c.agent(1).recurring().run("monitor").code.to_string(),
    );
    rec("scores", scores(&c));

    // M6: srv1 runs but does not answer where pghost/pgport say.
    let wrong = (c.pg(0).port + 1000).to_string();
    let out = c.agent(0).param("pgport", &wrong).run("monitor");
    rec("monitor wrong port", out.code.to_string());
    rec(
        "monitor wrong port reason",
        out.exit_reason()
            .unwrap_or_default()
            .contains("the process referenced in postmaster.pid exists")
            .to_string(),
    );
    rec(
        "stop wrong port",
        c.agent(0)
            .param("pgport", &wrong)
            .run("stop")
            .code
            .to_string(),
    );
    rec("srv1 running", c.pg(0).is_running().to_string());
    rec("start srv1", c.agent(0).run("start").code.to_string());
    reconnect(c.pg(0));
    c.wait_streaming(1, 1);

    // N4, P5: a switchover back to srv1, which is not connected while srv2
    // is demoted: it never gets srv2's shutdown checkpoint.
    c.point_vip(None);
    reconnect(c.pg(0));
    assert!(wait_for(Duration::from_secs(20), || c
        .pg(1)
        .psql("select count(*) from pg_stat_replication")
        .is_ok_and(|v| v == "0")));
    let back = lists("srv1 srv2", "srv2", "srv1", "srv2", "srv1", " ", " ");
    rec("demote srv2", c.agent(1).run("demote").code.to_string());
    rec("pre-promote", both(&c, "pre", "promote", &back));
    rec(
        "cancel_switchover",
        format!("{:?}", c.private("srv1", "cancel_switchover")),
    );
    let out = c.agent(0).run("promote");
    rec("promote srv1", out.code.to_string());
    rec(
        "promote srv1 cancelled",
        out.exit_reason()
            .unwrap_or_default()
            .contains("Switchover has been canceled from pre-promote action")
            .to_string(),
    );
    rec(
        "cancel_switchover after",
        format!("{:?}", c.private("srv1", "cancel_switchover")),
    );
    rec("srv1 in recovery", in_recovery(c.pg(0)));
    rec("post-promote", both(&c, "post", "promote", &back));

    // Pacemaker's next transition promotes srv2 again (it has the most
    // WAL: its own shutdown checkpoint); srv1 follows it.
    let again = lists("srv1 srv2", " ", "srv1 srv2", " ", "srv2", " ", " ");
    rec("pre-promote", both(&c, "pre", "promote", &again));
    let out = c.agent(1).run("promote");
    rec("promote srv2", out.code.to_string());
    if out.code != 0 {
        // PAF compared received positions only and handed the promotion
        // to srv1, which lacks srv2's shutdown checkpoint (issue #225):
        // the runs part here.
        return t;
    }
    rec("post-promote", both(&c, "post", "promote", &again));
    c.point_vip(Some(1));
    reconnect(c.pg(0));
    c.wait_streaming(1, 1);

    // Scenario 6 (N6, N2, P6): the primary is killed and recovered in
    // place: pre-demote restarts it as a primary, demote stops it cleanly
    // and starts it as a standby, the promotion skips the election.
    crash(c.pg(1));
    rec(
        "monitor killed primary",
        c.agent(1).recurring().run("monitor").code.to_string(),
    );
    let recover = lists("srv1 srv2", "srv2", "srv1", "srv2", "srv2", "srv2", "srv2");
    rec("pre-demote", both(&c, "pre", "demote", &recover));
    rec("srv2 in recovery", in_recovery(c.pg(1)));
    rec("demote srv2", c.agent(1).run("demote").code.to_string());
    rec("post-demote", both(&c, "post", "demote", &recover));
    rec("pre-stop", both(&c, "pre", "stop", &recover));
    rec("stop srv2", c.agent(1).run("stop").code.to_string());
    rec("start srv2", c.agent(1).run("start").code.to_string());
    rec("pre-promote", both(&c, "pre", "promote", &recover));
    rec(
        "recover_primary",
        format!(
            "{:?} {:?} {:?}",
            c.private("srv1", "recover_primary"),
            c.private("srv2", "recover_primary"),
            c.private("srv2", "lsn_location")
        ),
    );
    // A "better" node must not matter in a primary recovery.
    c.set_private("srv1", "lsn_location", "99#1");
    rec("promote srv2", c.agent(1).run("promote").code.to_string());
    rec("post-promote", both(&c, "post", "promote", &recover));
    rec(
        "cleaned",
        format!("{:?}", c.private("srv2", "recover_primary")),
    );
    rec(
        "monitor srv2",
        c.agent(1).recurring().run("monitor").code.to_string(),
    );
    reconnect(c.pg(0));
    c.wait_streaming(1, 1);

    // D3, T3: a crashed primary without the pre-demote recovery.
    crash(c.pg(1));
    rec(
        "demote crashed primary",
        c.agent(1).run("demote").code.to_string(),
    );
    rec(
        "stop crashed primary",
        c.agent(1).run("stop").code.to_string(),
    );
    rec("srv2 left as is", db_state(c.pg(1)));
    t
}

#[test]
fn pgsqlms_switchover_and_local_recovery() {
    let t = switchover_scenario(Kind::Ours);
    let v = |label: &str, nth: usize| trace_value(&t, label, nth).to_string();
    let expect = [
        ("start srv1", 0, "0"),
        ("promote srv1", 0, "0"),
        ("start srv2", 0, "0"),
        ("monitor srv1", 0, "8"),
        ("scores", 0, "Some(\"1001\") Some(\"1000\")"),
        ("demote srv1", 0, "0"),
        ("srv1 in recovery", 0, "t"),
        ("cancel_switchover", 0, "None"),
        ("positions published", 0, "true true"),
        ("promote srv2", 0, "0"),
        ("monitor srv2", 0, "8"),
        ("scores", 1, "Some(\"1000\") Some(\"1001\")"),
        ("demote srv2", 0, "0"),
        ("cancel_switchover", 1, "Some(\"1\")"),
        ("promote srv1", 1, "1"),
        ("promote srv1 cancelled", 0, "true"),
        ("cancel_switchover after", 0, "None"),
        ("srv1 in recovery", 1, "t"),
        ("promote srv2", 1, "0"),
        ("monitor killed primary", 0, "9"),
        ("srv2 in recovery", 0, "f"),
        ("demote srv2", 1, "0"),
        ("stop srv2", 0, "0"),
        ("start srv2", 1, "0"),
        ("recover_primary", 0, "None Some(\"1\") None"),
        ("promote srv2", 2, "0"),
        ("cleaned", 0, "None"),
        ("monitor srv2", 1, "8"),
        ("monitor wrong port", 0, "1"),
        ("monitor wrong port reason", 0, "true"),
        // compat PAF-5: a postmaster that does not answer is stopped.
        ("stop wrong port", 0, "0"),
        ("srv1 running", 0, "false"),
        ("demote crashed primary", 0, "1"),
        // compat PAF-3
        ("stop crashed primary", 0, "0"),
        ("start srv1", 1, "0"),
        ("srv2 left as is", 0, "in production"),
    ];
    for (label, nth, want) in expect {
        assert_eq!(v(label, nth), want, "{label} #{nth}\n{t:#?}");
    }
    for (label, _) in &t {
        if label.starts_with("pre-") || label.starts_with("post-") {
            assert!(
                t.iter()
                    .filter(|(l, _)| l == label)
                    .all(|(_, v)| v.split(' ').all(|c| c == "0")),
                "notifications always succeed: {t:#?}"
            );
        }
    }
}

#[test]
fn pgsqlms_switchover_matches_stock_paf() {
    let ours = switchover_scenario(Kind::Ours);
    let stock = switchover_scenario(Kind::Stock);
    // The stock run ends at the election it gets wrong (below).
    assert_eq!(stock.last().map(|s| s.0.as_str()), Some("promote srv2"));
    let diffs: Vec<(String, String, String)> = ours
        .iter()
        .zip(&stock)
        .filter(|(o, s)| o.1 != s.1)
        .map(|(o, s)| (o.0.clone(), o.1.clone(), s.1.clone()))
        .collect();
    let expected: Vec<(String, String, String)> = [
        // compat PAF-5: ours stops the postmaster that does not answer.
        ("stop wrong port", "0", "1"),
        ("srv1 running", "false", "true"),
        // compat PAF-7: after the cancelled switchover, srv2 holds its
        // own shutdown checkpoint, srv1 does not. Its WAL receiver having
        // nothing to connect to, srv2's received position is the start of
        // its segment, behind srv1's: PAF elects srv1, we keep srv2.
        ("promote srv2", "0", "1"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(diffs, expected, "ours: {ours:#?}\nstock: {stock:#?}");
}

// ---------------------------------------------------------------------------
// Former primaries: bootstrap score, divergence.

/// S6: a former primary starting while some node already has a score of 0
/// or more does not propose itself.
#[test]
fn pgsqlms_start_keeps_existing_scores() {
    for kind in [Kind::Ours, Kind::Stock] {
        let c = Paf::new(1, kind);
        c.set_score("srv1", "5");
        assert_rc(&c.agent(0).run("start"), 0);
        assert_eq!(c.score("srv1").as_deref(), Some("5"), "{kind:?}");
        assert_rc(&c.agent(0).run("stop"), 0);
    }
}

/// srv1 primary, srv2 its streaming standby; srv2 is promoted behind the
/// agents' back. `diverge`: srv1 keeps writing before its clean stop, so its
/// last checkpoint lies after the fork. The VIP then points to srv2.
fn former_primary(kind: Kind, diverge: bool) -> Paf {
    let c = Paf::new(2, kind);
    c.pg(0).start_directly();
    assert_rc(&c.agent(1).run("start"), 0);
    c.wait_streaming(0, 1);
    write_wal(c.pg(0));
    wait_caught_up(&c, 0);
    if diverge {
        c.pg(1).psql("select pg_promote()").unwrap();
        write_wal(c.pg(0));
        c.pg(0).stop_cleanly();
    } else {
        c.pg(0).stop_cleanly();
        c.pg(1).psql("select pg_promote()").unwrap();
    }
    assert!(wait_for(Duration::from_secs(20), || in_recovery(c.pg(1)) == "f"));
    c.point_vip(Some(1));
    assert_eq!(db_state(c.pg(0)), "shut down");
    c
}

#[test]
fn pgsqlms_refuses_to_start_a_diverged_former_primary() {
    let c = former_primary(Kind::Ours, true);
    let before = std::fs::read(c.pg(0).pgdata().join("global/pg_control")).unwrap();
    let out = c.agent(0).run("start");
    assert_rc(&out, 1);
    assert_reason(&out, "has diverged");
    assert_reason(&out, "pg_rewind or pg_basebackup");
    assert!(!c.pg(0).is_running());
    // Nothing written: no standby.signal, control file untouched.
    assert!(!c.pg(0).pgdata().join("standby.signal").exists());
    assert_eq!(
        std::fs::read(c.pg(0).pgdata().join("global/pg_control")).unwrap(),
        before
    );
    // compat PAF-6: the stock agent starts it; it runs as a standby that
    // cannot follow the new timeline.
    let s = former_primary(Kind::Stock, true);
    assert_rc(&s.agent(0).run("start"), 0);
    assert!(s.pg(0).is_running());
    assert_rc(&s.agent(0).run("stop"), 0);
}

/// The `rewind-<date>` directories rejoin=rewind left beside srv1's data.
fn kept_rewinds(c: &Paf) -> Vec<PathBuf> {
    std::fs::read_dir(c.pg(0).root.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rewind-"))
        .map(|e| e.path())
        .collect()
}

#[test]
fn pgsqlms_rejoin_rewind_brings_back_a_diverged_former_primary() {
    let c = former_primary(Kind::Ours, true);
    let out = c.agent(0).param("rejoin", "rewind").run("start");
    assert_rc(&out, 0);
    assert!(out.stderr.contains("rewound"), "{}", out.stderr);
    assert_eq!(in_recovery(c.pg(0)), "t");
    c.wait_streaming(1, 1);
    let kept = kept_rewinds(&c);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("pg_rewind.log").exists());
}

#[test]
fn pgsqlms_rejoin_rewind_brings_back_a_crashed_primary() {
    let c = Paf::new(2, Kind::Ours);
    c.pg(0).start_directly();
    assert_rc(&c.agent(1).run("start"), 0);
    c.wait_streaming(0, 1);
    write_wal(c.pg(0));
    wait_caught_up(&c, 0);
    // srv2 is promoted while srv1 still writes, then srv1 crashes.
    c.pg(1).psql("select pg_promote()").unwrap();
    assert!(wait_for(Duration::from_secs(20), || in_recovery(c.pg(1)) == "f"));
    write_wal(c.pg(0));
    crash(c.pg(0));
    c.point_vip(Some(1));
    assert_eq!(db_state(c.pg(0)), "in production");
    // PAF's contract: a crashed primary is not started (safe, the default).
    assert_rc(&c.agent(0).run("start"), 1);
    assert!(!c.pg(0).is_running());
    let out = c.agent(0).param("rejoin", "rewind").run("start");
    assert_rc(&out, 0);
    assert!(out.stderr.contains("rewound"), "{}", out.stderr);
    assert_eq!(in_recovery(c.pg(0)), "t");
    c.wait_streaming(1, 1);
    assert_eq!(kept_rewinds(&c).len(), 1);
}

#[test]
fn pgsqlms_starts_a_former_primary_that_can_follow() {
    // Its shutdown checkpoint reached srv2 before the promotion: it is a
    // prefix of the new primary's history.
    let c = former_primary(Kind::Ours, false);
    let out = c.agent(0).run("start");
    assert_rc(&out, 0);
    c.wait_streaming(1, 1);
    assert_rc(&c.agent(0).recurring().run("monitor"), 0);
    assert_rc(&c.agent(1).recurring().run("monitor"), 8);
    assert_eq!(c.score("srv1").as_deref(), Some("1000"));
}

/// The rows of table `t` of an instance, in order.
fn rows(pg: &PgInstance) -> String {
    pg.psql("select string_agg(x::text, ',' order by x) from t")
        .unwrap_or_default()
}

/// A standby whose WAL went past the primary's history (here: srv2 was
/// promoted behind the cluster's back and wrote on its own timeline, then
/// put back into recovery by hand) never streams, and PAF's monitor calls
/// it healthy. Ours watches it (a note in `HA_RSCTMP`) while crm_mon shows
/// srv1 promoted; once that lasted the grace period and srv1 answers on
/// `primary_conninfo`, `rejoin=safe` only says so, `rejoin=rewind` fails
/// the monitor, and the restart Pacemaker then runs rewinds srv2 from srv1:
/// it streams, without its own write.
#[test]
fn pgsqlms_rejoin_rewind_repairs_a_standby_that_cannot_follow() {
    let c = Paf::new(2, Kind::Ours);
    c.pg(0).start_directly();
    assert_rc(&c.agent(1).run("start"), 0);
    c.wait_streaming(0, 1);
    c.fc.set_role(RSC, "srv1", "Promoted");
    c.fc.set_role(RSC, "srv2", "Unpromoted");
    c.pg(0)
        .psql("create table t(x int); insert into t values (1)")
        .unwrap();
    wait_caught_up(&c, 0);
    let m2 = c.agent(1).recurring();
    let note = c.fc.dir().join(format!(".{RSC}-not-following"));
    // Streaming: nothing to watch.
    assert_rc(&m2.clone().param("rejoin", "rewind").run("monitor"), 0);
    assert!(!note.exists());

    // srv2 leaves srv1's history: promoted by hand, a write of its own,
    // then a standby again (standby.signal), started by hand.
    let pg2 = c.pg(1);
    pg2.psql("select pg_promote()").unwrap();
    assert!(wait_for(Duration::from_secs(20), || in_recovery(pg2) == "f"));
    pg2.psql("insert into t values (99); checkpoint").unwrap();
    c.pg(0).psql("insert into t values (2)").unwrap();
    pg2.stop_cleanly();
    let signal = pg2.pgdata().join("standby.signal");
    std::fs::write(&signal, "").unwrap();
    chown_r(&signal, PGDBA);
    pg2.start_directly();
    assert_eq!(in_recovery(pg2), "t");

    // rejoin=safe: watched, then only a warning after the grace.
    let safe = m2.clone().param("rejoin", "safe");
    let out = safe.run("monitor");
    assert_rc(&out, 0);
    assert!(
        note.exists(),
        "no note of a standby that does not stream: {}",
        out.stderr
    );
    // The grace period (15 s) has passed.
    std::fs::write(&note, not_following_since(16)).unwrap();
    let out = safe.run("monitor");
    assert_rc(&out, 0);
    assert!(out.stderr.contains("set rejoin=rewind"), "{}", out.stderr);

    // rejoin=rewind: the monitor fails with the reason, the restart
    // rewinds.
    let out = m2.clone().param("rejoin", "rewind").run("monitor");
    assert_rc(&out, 1);
    assert_reason(&out, "has not streamed");
    let a2 = c.agent(1).param("rejoin", "rewind");
    assert_rc(&a2.run("stop"), 0);
    let out = a2.run("start");
    assert_rc(&out, 0);
    assert!(out.stderr.contains("\"pgsqld\" rewound"), "{}", out.stderr);
    assert!(!note.exists());
    assert_eq!(in_recovery(pg2), "t");
    c.wait_streaming(0, 1);
    assert!(
        wait_for(Duration::from_secs(10), || rows(pg2) == "1,2"),
        "srv2 has {:?}",
        rows(pg2)
    );
    // Streaming: the next monitor finds nothing to watch.
    assert_rc(&m2.param("rejoin", "rewind").run("monitor"), 0);
    assert!(!note.exists());
    for i in (0..2).rev() {
        let _ = c.agent(i).run("stop");
    }
}

/// Both notification vocabularies: Pacemaker 2.1 exports the new names
/// (`promoted`/`unpromoted`) and the legacy ones (`master`/`slave`); a later
/// Pacemaker may export only the new ones, an older one only the legacy
/// ones. The primary-recovery rule reads the promoted list.
#[test]
fn pgsqlms_reads_both_notify_vocabularies() {
    let c = Paf::new(1, Kind::Ours);
    assert_rc(&c.agent(0).run("start"), 0);
    for promoted in ["promoted", "master"] {
        let out = c
            .agent(0)
            .meta("notify_type", "pre")
            .meta("notify_operation", "promote")
            .meta(&format!("notify_{promoted}_uname"), "srv1")
            .meta(&format!("notify_{promoted}_resource"), "pgsqld:0")
            .meta("notify_promote_uname", "srv1")
            .meta("notify_promote_resource", "pgsqld:0")
            .meta("notify_active_uname", "srv1")
            .meta("notify_active_resource", "pgsqld:0")
            .run("notify");
        assert_rc(&out, 0);
        assert_eq!(
            c.private("srv1", "recover_primary").as_deref(),
            Some("1"),
            "{promoted}: {}",
            out.stderr
        );
        assert_eq!(c.private("srv1", "lsn_location"), None, "{promoted}");
        let out = c
            .agent(0)
            .meta("notify_type", "post")
            .meta("notify_operation", "promote")
            .run("notify");
        assert_rc(&out, 0);
        assert_eq!(c.private("srv1", "recover_primary"), None);
    }
    // Without the promoted list, srv1 is not being recovered: an election.
    let out = c
        .agent(0)
        .meta("notify_type", "pre")
        .meta("notify_operation", "promote")
        .meta("notify_promote_uname", "srv1")
        .meta("notify_active_uname", "srv1")
        .run("notify");
    assert_rc(&out, 0);
    assert_eq!(c.private("srv1", "recover_primary"), None);
    assert!(c.private("srv1", "lsn_location").is_some());
    assert_eq!(c.private("srv1", "nodes").as_deref(), Some("srv1"));
    assert_rc(&c.agent(0).run("stop"), 0);
}

/// P4: a node listed in `nodes` never publishes its position. PAF waits
/// until Pacemaker kills the promote (#131); we stop before the timeout,
/// say which node we waited for, and do not promote.
#[test]
fn pgsqlms_promote_waits_for_missing_positions_within_the_timeout() {
    let c = Paf::new(2, Kind::Ours);
    assert_rc(&c.agent(0).run("start"), 0);
    c.set_private("srv1", "lsn_location", "1#1");
    c.set_private("srv1", "nodes", "srv1 srv2");
    let started = std::time::Instant::now();
    let out = c.agent(0).meta("timeout", "6000").run("promote");
    let took = started.elapsed();
    assert_rc(&out, 1);
    assert_reason(&out, "srv2 did not publish its position");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(took > Duration::from_secs(3), "gave up early: {took:?}");
    assert_eq!(in_recovery(c.pg(0)), "t");
    // Once srv2 has published (behind us), the promotion goes through.
    c.set_private("srv2", "lsn_location", "1#0");
    assert_rc(&c.agent(0).run("promote"), 0);
    assert_eq!(in_recovery(c.pg(0)), "f");
    assert_rc(&c.agent(0).run("stop"), 0);
}

/// The primary's monitor reads the partition and every promotion score in
/// one `crm_mon` (PAF: `crm_node --partition`, then one `crm_master --query`
/// per node) and writes only a score that changed; a standby's monitor calls
/// no cluster tool at all (and `pg_isready` is asked in process).
#[test]
fn pgsqlms_monitor_reads_partition_and_scores_in_one_crm_mon() {
    let c = Paf::new(3, Kind::Ours);
    c.point_vip(None);
    assert_rc(&c.agent(0).run("start"), 0);
    let first = FIRST_PROMOTION;
    assert_rc(&c.notify(0, "pre", "promote", &first), 0);
    assert_rc(&c.agent(0).run("promote"), 0);
    assert_rc(&c.notify(0, "post", "promote", &first), 0);
    c.point_vip(Some(0));
    for i in 1..3 {
        assert_rc(&c.agent(i).run("start"), 0);
    }
    c.wait_streaming(0, 2);
    wait_caught_up(&c, 0);
    let primary = || c.agent(0).recurring().meta("role", "Promoted");
    assert_rc(&primary().run("monitor"), 8);
    let scores = || [c.score("srv2"), c.score("srv3")];
    assert_eq!(
        scores(),
        [Some("1000".into()), Some("990".into())],
        "{}",
        c.fc.dump()
    );

    let tools = || -> Vec<String> { c.fc.calls().into_iter().map(|call| call.tool).collect() };
    c.fc.clear_calls();
    assert_rc(&primary().run("monitor"), 8);
    assert_eq!(tools(), ["crm_mon"], "steady primary");

    // A score changed behind its back is set right, and only that one.
    c.set_score("srv3", "7");
    c.fc.clear_calls();
    assert_rc(&primary().run("monitor"), 8);
    let writes: Vec<_> =
        c.fc.calls()
            .into_iter()
            .filter(|call| call.tool != "crm_mon")
            .collect();
    // (The write is read back: set_score waits until the CIB shows it.)
    assert!(
        writes.iter().any(|w| w.has(&["--update=990"])),
        "{writes:?}"
    );
    assert!(writes.iter().all(|w| w.has(&["--node=srv3"])), "{writes:?}");
    assert_eq!(scores(), [Some("1000".into()), Some("990".into())]);

    c.fc.clear_calls();
    assert_rc(&c.agent(1).recurring().run("monitor"), 0);
    assert_eq!(tools(), Vec::<String>::new(), "standby");
    for i in (0..3).rev() {
        let _ = c.agent(i).run("stop");
    }
}

/// A monitor of a running instance reads the settings PAF checks with
/// `postgres -C` from the server (`pg_file_settings`, which parses the files
/// as they are on disk now): a change not yet reloaded is caught as PAF
/// catches it, with the same code and reason.
#[test]
fn pgsqlms_monitor_checks_settings_as_on_disk_like_postgres_c() {
    let mut reasons = Vec::new();
    for kind in [Kind::Ours, Kind::Stock] {
        let c = Paf::new(1, kind);
        let pg = c.pg(0);
        assert_rc(&c.agent(0).run("start"), 0);
        assert_rc(&c.agent(0).recurring().run("monitor"), 0);
        let mut got = Vec::new();
        for (set, reset) in [
            (
                "alter system set primary_conninfo = 'host=nowhere application_name=srv10'",
                "alter system reset primary_conninfo",
            ),
            (
                "alter system set recovery_target_timeline = 'current'",
                "alter system reset recovery_target_timeline",
            ),
        ] {
            pg.psql(set).unwrap();
            let out = c.agent(0).recurring().run("monitor");
            // (PAF 2.3.0 loses the closing quote of the first reason: the
            // codes are compared, the reasons only for the parameter.)
            let reason = out.exit_reason().unwrap_or_default();
            let about = reason.split(" MUST").next().unwrap_or_default().to_string();
            got.push((out.code, about));
            pg.psql(reset).unwrap();
            assert_rc(&c.agent(0).recurring().run("monitor"), 0);
        }
        assert_rc(&c.agent(0).run("stop"), 0);
        reasons.push(got);
    }
    assert_eq!(reasons[0], reasons[1], "ours, then stock PAF");
    assert_eq!(
        reasons[0],
        [
            (2, "Parameter \"primary_conninfo\"".to_string()),
            (2, "Parameter \"recovery_target_timeline\"".to_string())
        ]
    );
}

/// PAF's personality writes the recovery settings (standby.signal here) as
/// root into the data directory, which the PostgreSQL user owns: a link
/// planted at the name, symbolic (owned by that user) or hard, never makes
/// root write, chown or chmod the file it points to; the name becomes the
/// agent's own file. (The not-following note is under HA_RSCTMP, root's;
/// a rewind's copies are tested in tests/integration/rejoin.rs.)
#[test]
fn pgsqlms_planted_links_at_standby_signal_leave_their_targets_alone() {
    use std::os::unix::fs::MetadataExt;
    let c = Paf::new(2, Kind::Ours);
    let pg = c.pg(0);
    let mut victims = Victims::new(pg.root.path());
    let signal = pg.pgdata().join("standby.signal");
    for hard in [false, true] {
        let _ = std::fs::remove_file(&signal);
        victims.plant(&signal, hard);
        assert_rc(&c.agent(0).run("start"), 0);
        victims.untouched();
        let md = std::fs::symlink_metadata(&signal).unwrap();
        assert!(md.is_file() && md.nlink() == 1, "{md:?}");
        assert_rc(&c.agent(0).run("stop"), 0);
    }
}
