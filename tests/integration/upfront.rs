//! The original `ocf:upfront:pgsql` agent's parameters (`primary`,
//! `version`, `clustername`, `port`, `datadir`, `restorecommand`): a Debian
//! `pg_createcluster` instance run with them alone, the mixes that contradict
//! the `pgsql` parameters, and a two-node pair where the promotion scores let
//! the location rule choose the primary without losing an acknowledged write.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::fake_cluster::FakeCluster;
use crate::harness::*;
use crate::replication::{Node, ADDR1, ADDR2};

/// A Debian cluster made by `pg_createcluster 15 <name> -p <port>` (config
/// in /etc/postgresql/15/<name>, data in /var/lib/postgresql/15/<name>),
/// dropped again when the test ends. The name is unique per test process.
struct DebianCluster {
    name: String,
    port: u16,
}

impl DebianCluster {
    fn create(tag: &str) -> DebianCluster {
        let name = format!("pgra_{tag}_{}", std::process::id());
        let port = PgInstance::fresh_port();
        let c = DebianCluster { name, port };
        // Leftovers of an aborted earlier run with the same pid.
        c.drop_cluster();
        let out = Command::new("pg_createcluster")
            .args(["15", &c.name, "-p", &port.to_string()])
            .env("LC_ALL", "C")
            .output()
            .expect("pg_createcluster (postgresql-common)");
        assert!(
            out.status.success(),
            "pg_createcluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Nothing but the agent may start it.
        std::fs::write(c.etc().join("start.conf"), "manual\n").unwrap();
        c
    }

    fn etc(&self) -> PathBuf {
        PathBuf::from(format!("/etc/postgresql/15/{}", self.name))
    }

    fn data(&self) -> PathBuf {
        PathBuf::from(format!("/var/lib/postgresql/15/{}", self.name))
    }

    fn log(&self) -> PathBuf {
        PathBuf::from(format!(
            "/var/log/postgresql/postgresql-15-{}.log",
            self.name
        ))
    }

    fn psql(&self, sql: &str) -> Result<String, String> {
        let out = as_postgres(
            &pg_bindir().join("psql"),
            &[
                "-h",
                "/var/run/postgresql",
                "-p",
                &self.port.to_string(),
                "-d",
                "postgres",
                "-AtX",
                "-c",
                sql,
            ],
        );
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// The agent with the original agent's parameters only.
    fn agent(&self) -> Agent {
        Agent::ours()
            .param("version", "15")
            .param("clustername", &self.name)
            .param("port", &self.port.to_string())
    }

    fn drop_cluster(&self) {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", "15", &self.name])
            .env("LC_ALL", "C")
            .output();
    }
}

impl Drop for DebianCluster {
    fn drop(&mut self) {
        self.drop_cluster();
        let _ = std::fs::remove_file(self.log());
    }
}

/// `version` + `clustername` + `port` find everything of a Debian cluster:
/// pg_ctl of that version, the configuration in /etc, the data directory,
/// the socket directory Debian's configuration sets, Debian's log file.
#[test]
fn a_debian_cluster_runs_with_the_original_parameters_alone() {
    let dc = DebianCluster::create("standalone");
    let a = dc.agent();
    assert_rc(
        &a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all"),
        0,
    );
    assert_rc(&a.run("monitor"), 7);
    assert_rc(&a.run("start"), 0);
    assert_eq!(
        dc.psql("show data_directory").unwrap(),
        dc.data().display().to_string()
    );
    assert_eq!(
        dc.psql("show config_file").unwrap(),
        dc.etc().join("postgresql.conf").display().to_string()
    );
    assert_eq!(dc.psql("show port").unwrap(), dc.port.to_string());
    assert_rc(&a.clone().recurring().run("monitor"), 0);
    assert!(
        std::fs::metadata(dc.log()).is_ok_and(|m| m.len() > 0),
        "the server's output goes to Debian's log file {}",
        dc.log().display()
    );
    assert_rc(&a.run("stop"), 0);
    assert!(dc.psql("select 1").is_err());
    assert_rc(&a.run("monitor"), 7);

    // datadir, the alias of pgdata, given explicitly and matching.
    let b = a
        .clone()
        .param("datadir", dc.data().to_str().unwrap())
        .param("pgdata", dc.data().to_str().unwrap());
    assert_rc(&b.env("OCF_CHECK_LEVEL", "10").run("validate-all"), 0);
}

/// What Debian's layout adds to validation: the configuration names the
/// data directory, and the data directory has a version.
#[test]
fn a_debian_layout_that_does_not_fit_is_refused() {
    let dc = DebianCluster::create("mismatch");
    let other = PgInstance::new();

    // Another data directory than postgresql.conf's data_directory: pg_ctl
    // would watch a directory the server does not use.
    let out = dc
        .agent()
        .param("datadir", other.pgdata().to_str().unwrap())
        .run("start");
    assert_rc(&out, 6);
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.contains("data_directory") && reason.contains("datadir"),
        "{reason}"
    );
    assert!(!other.is_running() && dc.psql("select 1").is_err());

    // version names another major than PG_VERSION (pg_ctl given, so the
    // binary exists).
    let out = Agent::ours()
        .param("version", "9.6")
        .param("clustername", &dc.name)
        .param("port", &dc.port.to_string())
        .param("pgctl", pg_bindir().join("pg_ctl").to_str().unwrap())
        .param("config", dc.etc().join("postgresql.conf").to_str().unwrap())
        .param("pgdata", dc.data().to_str().unwrap())
        .run("start");
    assert_rc(&out, 5);
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.contains("version=9.6") && reason.contains("PostgreSQL 15"),
        "{reason}"
    );
    assert!(dc.psql("select 1").is_err());
}

/// Every contradicting mix is refused with 6 before anything is done, and
/// the reason names both parameters; stop still stops.
#[test]
fn mixes_that_contradict_the_pgsql_parameters_are_refused() {
    let pg = PgInstance::new();
    let data = pg.pgdata().display().to_string();
    let port = pg.params()["pgport"].clone();
    let base = || Agent::ours().on(&pg);
    let pgport_is = format!("pgport={port}");
    let cases: Vec<(Agent, Vec<&str>)> = vec![
        (
            base().param("datadir", "/srv/elsewhere"),
            vec!["datadir=/srv/elsewhere", "pgdata=", "remove datadir"],
        ),
        (base().param("port", "5999"), vec!["port=5999", &pgport_is]),
        (
            base()
                .param("restorecommand", "cp /a/%f %p")
                .param("restore_command", "cp /b/%f %p"),
            vec!["restorecommand=cp /a/%f %p", "restore_command=cp /b/%f %p"],
        ),
        (
            base()
                .param("primary", "host=10.0.0.1 user=postgres")
                .param("master_ip", "10.0.0.2"),
            vec!["host=10.0.0.1", "master_ip=10.0.0.2"],
        ),
        (
            base()
                .param("primary", "host=10.0.0.1 user=postgres")
                .param("repuser", "rep"),
            vec!["user=postgres", "repuser=rep"],
        ),
        (
            base().param("primary", "host=10.0.0.1 port=5435"),
            vec!["port=5435", &port],
        ),
        (
            base()
                .param("primary", "host=10.0.0.1")
                .param("rep_mode", "async"),
            vec!["rep_mode=async", "sync"],
        ),
        (
            base().param("version", "15"),
            vec!["version=15", "clustername"],
        ),
        (
            base().param("clustername", "ha"),
            vec!["clustername=ha", "version"],
        ),
        (
            base().param("primary", "host='10.0.0.1"),
            vec!["Invalid primary", "unterminated"],
        ),
    ];
    for (agent, needles) in cases {
        for action in ["validate-all", "start", "monitor"] {
            let out = agent.run(action);
            assert_rc(&out, 6);
            let reason = out.exit_reason().unwrap_or_default();
            for n in &needles {
                assert!(reason.contains(n), "{action}: {n:?} not in {reason:?}");
            }
        }
        assert!(!pg.is_running(), "nothing may be started");
    }

    // The same values on both sides are no contradiction.
    let same = base()
        .param("datadir", &data)
        .param("port", &port)
        .param("restorecommand", "x")
        .param("restore_command", "x");
    assert_rc(&same.run("validate-all"), 0);

    // A running server is stopped whatever the mix (the pgsql value wins).
    pg.start_directly();
    let out = base().param("datadir", "/srv/elsewhere").run("stop");
    assert_rc(&out, 0);
    assert!(!pg.is_running());
}

/// The six appear in meta-data after the 33, marked deprecated.
#[test]
fn meta_data_lists_the_six_as_deprecated() {
    let out = Agent::ours().run("meta-data");
    assert_rc(&out, 0);
    let names: Vec<&str> = out
        .stdout
        .match_indices("<parameter name=\"")
        .map(|(i, m)| {
            let rest = &out.stdout[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(names.len(), 41);
    assert_eq!(names[32], "external_standby_node_list");
    assert_eq!(names[33], "strict_sync");
    assert_eq!(names[34], "rejoin");
    assert_eq!(
        &names[35..],
        [
            "primary",
            "version",
            "clustername",
            "port",
            "datadir",
            "restorecommand"
        ]
    );
    for n in &names[35..] {
        let at = out
            .stdout
            .find(&format!("<parameter name=\"{n}\""))
            .unwrap();
        let block = &out.stdout[at..at + out.stdout[at..].find("</parameter>").unwrap()];
        assert!(block.contains("deprecated"), "{block}");
    }
}

/// A base backup as the second node; both stopped.
fn pair() -> (Node, Node) {
    let port = PgInstance::fresh_port();
    let pg1 = PgInstance::primary(ADDR1, port);
    pg1.start_directly();
    let pg2 = PgInstance::standby_of(&pg1, ADDR1, ADDR2);
    pg1.stop_cleanly();
    (
        Node {
            name: "node1",
            pg: pg1,
        },
        Node {
            name: "node2",
            pg: pg2,
        },
    )
}

/// The tutorial's resource on one node of the pair: `primary` naming the
/// virtual IP, `port`, `datadir`, `restorecommand`; no rep_mode, no
/// node_list. (Paths that the Debian layout would give are set with the
/// pgsql parameters, as the instances live in temporary directories.)
fn agent(fc: &FakeCluster, node: &Node, vip: &str) -> Agent {
    let p = node.pg.params();
    let a = Agent::ours()
        .param(
            "primary",
            &format!("host={vip} port={} user=postgres", p["pgport"]),
        )
        .param("port", &p["pgport"])
        .param("datadir", &p["pgdata"])
        .param("restorecommand", "false")
        .param("pgctl", &p["pgctl"])
        .param("socketdir", &p["socketdir"])
        .param("logfile", &p["logfile"])
        .param("tmpdir", node.pg.tmpdir().to_str().unwrap())
        .meta("promotable", "true")
        .meta("notify", "true")
        .meta("clone_max", "2")
        .meta("promoted_max", "1")
        .meta("on_node", node.name)
        .meta("timeout", "30000");
    fc.apply(a, node.name)
}

fn score(fc: &FakeCluster, node: &str) -> Option<String> {
    fc.attr(node, "reboot", "master-pgsql")
}

fn data_status(fc: &FakeCluster, node: &str) -> Option<String> {
    fc.attr(node, "forever", "pgsql-data-status")
}

/// Waits until `primary` streams to one standby, then runs its monitor
/// twice (the first makes the standby synchronous, the second sees it so).
fn settle(fc: &FakeCluster, primary: &Node, a: &Agent, standby: &str) {
    assert!(
        wait_for(Duration::from_secs(20), || {
            primary
                .pg
                .psql("select count(*) from pg_stat_replication where state = 'streaming'")
                .is_ok_and(|c| c == "1")
        }),
        "the standby never streamed"
    );
    let m = a.clone().recurring().meta("role", "Promoted");
    assert_rc(&m.run("monitor"), 8);
    assert_rc(&m.run("monitor"), 8);
    assert_eq!(
        data_status(fc, standby).as_deref(),
        Some("STREAMING|SYNC"),
        "{}",
        fc.dump()
    );
}

/// Two nodes configured like the tutorial: both start as standbys, the
/// election picks one, and once the other is its synchronous standby both
/// have the score 1000, so the location rule decides. Moving the rule to
/// the standby (demote, then promote) keeps every acknowledged write; a
/// standby that is not synchronous gets -INFINITY and is refused.
#[test]
fn two_nodes_switch_over_by_location_rule_without_losing_a_write() {
    let (n1, n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, ADDR1);
    let a2 = agent(&fc, &n2, ADDR1);

    assert_rc(&a1.run("monitor"), 7);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    // rep_mode=sync, though the CIB never says so: rep_mode.conf is included.
    let conf = std::fs::read_to_string(n1.pg.config()).unwrap();
    assert!(
        conf.contains("rep_mode.conf' # added by pgsql RA"),
        "{conf}"
    );
    fc.set_role("pgsql", "node1", "Unpromoted");
    fc.set_role("pgsql", "node2", "Unpromoted");

    // The election over the cluster's nodes (no node_list). node2 catches
    // up from node1 (a standby may serve WAL), so both hold the newest data
    // and both may ask for promotion: the rule then decides.
    let (m1, m2) = (a1.clone().recurring(), a2.clone().recurring());
    for _ in 0..5 {
        assert_rc(&m1.run("monitor"), 0);
        assert_rc(&m2.run("monitor"), 0);
    }
    assert!(fc.attr("node2", "reboot", "pgsql-xlog-loc").is_some());
    assert_eq!(
        score(&fc, "node1").as_deref(),
        Some("1000"),
        "{}",
        fc.dump()
    );

    // Pacemaker promotes node1 (also the rule's node).
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    assert_eq!(data_status(&fc, "node2").as_deref(), Some("DISCONNECT"));
    // node2 was already pointed at the VIP on node1 (ADDR1): it streams.
    settle(&fc, &n1, &a1, "node2");
    // Equal scores: the location rule, not the agent, picks the primary.
    assert_eq!(score(&fc, "node1").as_deref(), Some("1000"));
    assert_eq!(
        score(&fc, "node2").as_deref(),
        Some("1000"),
        "{}",
        fc.dump()
    );
    assert_eq!(
        fc.attr("node2", "reboot", "pgsql-status").as_deref(),
        Some("HS:sync")
    );

    // Acknowledged synchronous writes.
    n1.pg
        .psql("create table acked(x int); insert into acked select generate_series(1, 100)")
        .unwrap();

    // The rule now prefers node2 (1000 + 100 > 1000): Pacemaker demotes
    // node1, then promotes node2.
    let demote = a1.clone().meta("notify_slave_uname", "node2");
    assert_rc(&demote.run("demote"), 0);
    assert!(!n1.pg.is_running());
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    fc.set_role("pgsql", "node1", "Stopped");
    // No checkpoint on node2 from here to its crash below.
    n2.pg.freeze_checkpointer();
    assert_rc(&a2.run("promote"), 0);
    fc.set_role("pgsql", "node2", "Promoted");
    assert_eq!(n2.pg.psql("select pg_is_in_recovery()").unwrap(), "f");
    assert_eq!(
        n2.pg.psql("select count(*) from acked").unwrap(),
        "100",
        "an acknowledged write was lost"
    );
    assert_eq!(data_status(&fc, "node2").as_deref(), Some("LATEST"));
    // node1 keeps its lock and bans itself, so Pacemaker stops it instead of
    // restarting it (a refused start would stop the whole clone under the
    // tutorial's `op start on-fail=stop`).
    let bans = fc.dump();
    assert!(
        bans.contains("\"node\": \"node1\""),
        "no ban of node1: {bans}"
    );

    // Alone, the new primary leaves synchronous mode and node1 has
    // -INFINITY: a node that may lack writes is never a candidate.
    let a2 = agent(&fc, &n2, ADDR2);
    let m = a2.clone().recurring().meta("role", "Promoted");
    assert_rc(&m.run("monitor"), 8);
    assert_eq!(data_status(&fc, "node1").as_deref(), Some("DISCONNECT"));
    let names = std::fs::read_to_string(n2.pg.tmpdir().join("rep_mode.conf")).unwrap();
    assert_eq!(names, "synchronous_standby_names = ''\n");
    assert_eq!(score(&fc, "node1").as_deref(), Some("-INFINITY"));

    // The admin lifts the ban. node1 was demoted cleanly while node2
    // streamed from it, so node2 replayed its shutdown checkpoint before
    // its timeline switch: the start proves that, drops the lock and
    // follows node2 (now at the VIP) as its standby.
    let a1 = agent(&fc, &n1, ADDR2);
    assert_rc(&a1.run("start"), 0);
    assert!(!n1.pg.tmpdir().join("PGSQL.lock").exists());
    assert_eq!(n1.pg.psql("select pg_is_in_recovery()").unwrap(), "t");
    fc.set_role("pgsql", "node1", "Unpromoted");
    settle(&fc, &n2, &a2, "node1");
    assert_eq!(score(&fc, "node1").as_deref(), Some("1000"));
    n2.pg.psql("insert into acked values (101)").unwrap();
    assert!(wait_for(Duration::from_secs(10), || {
        n1.pg
            .psql("select count(*) from acked")
            .is_ok_and(|c| c == "101")
    }));

    // A primary killed right after its own promotion is not let back in
    // by itself: node2 dies before its first checkpoint on its new
    // timeline (its checkpointer was frozen before the promotion, or the
    // checkpoint the promotion asks for could come first), node1 (its
    // synchronous standby) is promoted, and node2's WAL goes on past the
    // timeline its control file names, so where it ends is not proven
    // (replication/rejoin.rs).
    n2.pg.kill9();
    fc.set_online("node2", false);
    fc.set_role("pgsql", "node2", "Stopped");
    let a1 = agent(&fc, &n1, ADDR1);
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    assert_eq!(n1.pg.psql("select count(*) from acked").unwrap(), "101");
    fc.set_online("node2", true);
    let out = agent(&fc, &n2, ADDR1).run("start");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("PGSQL.lock"));
    assert!(!n2.pg.is_running());
    assert!(out.stderr.contains("goes on to timeline"), "{}", out.stderr);
}
