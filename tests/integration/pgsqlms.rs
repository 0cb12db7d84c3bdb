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
}

/// The settings PAF requires (hot standby, a primary_conninfo naming the
/// node), plus what makes tests quick and the stock agent's pipes free
/// (logging_collector: PAF starts PostgreSQL without -l).
fn paf_settings(pg: &PgInstance, vip: &Path, name: &str) {
    pg.append_conf(&format!(
        "wal_keep_size = '128MB'\nwal_sender_timeout = '5s'\nwal_receiver_timeout = '5s'\n\
         logging_collector = on\nhot_standby = on\nwal_level = replica\n\
         primary_conninfo = 'host={} port={} application_name={name}'\n",
        vip.display(),
        pg.port
    ));
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
        nodes.insert(
            0,
            Node {
                name: NAMES[0],
                pg: pg1,
            },
        );
        let c = Paf {
            fc,
            nodes,
            vip,
            kind,
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
        let node = &self.nodes[i];
        let program = match self.kind {
            Kind::Ours => our_binary(),
            Kind::Stock => stock_paf(),
        };
        let a = Agent::program(program, "pgsqlms")
            .env("OCF_RESOURCE_INSTANCE", RSC)
            .env("OCF_RESOURCE_TYPE", "pgsqlms")
            .env("HA_RSCTMP", self.fc.dir().to_str().unwrap())
            .param("bindir", pg_bindir().to_str().unwrap())
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
