//! Replication mode against real PostgreSQL primaries and standbys, with the
//! fake cluster kit standing in for Pacemaker: the attribute protocol, the
//! election, promotion, synchronous standby management and the lock file.
//!
//! Two nodes share one port on different loopback addresses (node1 =
//! 127.0.0.11, node2 = 127.0.0.12), as cluster nodes do; `master_ip` names
//! whichever address currently plays the primary's virtual IP.
//!
//! The main scenario ([`sync_pair_scenario`]) is shared with `versions.rs`,
//! which runs it on every PostgreSQL major from 10 to 18.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fake_cluster::FakeCluster;
use crate::harness::*;

pub(crate) const ADDR1: &str = "127.0.0.11";
pub(crate) const ADDR2: &str = "127.0.0.12";

pub(crate) struct Node {
    pub name: &'static str,
    pub pg: PgInstance,
}

/// A primary's base backup as the second node; both stopped.
fn pair() -> (Node, Node) {
    pair_with("")
}

/// Like [`pair`], with `conf` added to the primary's settings first.
pub(crate) fn pair_with(conf: &str) -> (Node, Node) {
    let port = PgInstance::fresh_port();
    let pg1 = PgInstance::primary(ADDR1, port);
    pg1.append_conf(conf);
    pg1.start_directly();
    let pg2 = PgInstance::standby_of(&pg1, ADDR1, ADDR2);
    pg1.stop_directly();
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

/// Like [`pair`] with the server binaries of `bindir` (any major): the
/// second node is a cold copy of the cleanly stopped primary, since Debian's
/// pg_basebackup 15 refuses newer servers.
pub(crate) fn cold_pair(bindir: &Path) -> (Node, Node) {
    let port = PgInstance::fresh_port();
    let pg1 = PgInstance::primary_with(bindir, ADDR1, port);
    pg1.start_directly();
    pg1.stop_cleanly();
    let pg2 = PgInstance::cold_copy_of(&pg1, ADDR2);
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

/// Where a standby's recovery settings live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Era {
    /// Before PostgreSQL 12: `<pgdata>/recovery.conf` with `standby_mode`.
    RecoveryConf,
    /// PostgreSQL 12 and later: `<tmpdir>/recovery.conf` included from
    /// postgresql.conf, and `<pgdata>/standby.signal`.
    StandbySignal,
}

/// `node` was started as a standby of `master_addr`: its recovery settings
/// are where `era` puts them, and nowhere else.
#[track_caller]
pub(crate) fn assert_standby_files(node: &Node, era: Era, master_addr: &str) {
    let pgdata_rec = node.pg.pgdata().join("recovery.conf");
    let tmp_rec = node.pg.tmpdir().join("recovery.conf");
    let signal = node.pg.pgdata().join("standby.signal");
    let conf = std::fs::read_to_string(node.pg.config()).unwrap();
    let include = format!("include '{}' # added by pgsql RA", tmp_rec.display());
    let rec = match era {
        Era::RecoveryConf => {
            assert!(!signal.exists(), "{} exists before 12", signal.display());
            assert!(!tmp_rec.exists(), "{} exists before 12", tmp_rec.display());
            assert!(!conf.contains(&include), "{conf}");
            let rec = std::fs::read_to_string(&pgdata_rec)
                .unwrap_or_else(|e| panic!("{}: {e}", pgdata_rec.display()));
            assert!(rec.contains("standby_mode = 'on'\n"), "{rec}");
            rec
        }
        Era::StandbySignal => {
            assert!(signal.exists(), "no {}", signal.display());
            assert!(!pgdata_rec.exists(), "{} exists", pgdata_rec.display());
            assert!(conf.contains(&include), "no {include:?} in\n{conf}");
            let rec = std::fs::read_to_string(&tmp_rec)
                .unwrap_or_else(|e| panic!("{}: {e}", tmp_rec.display()));
            assert!(!rec.contains("standby_mode"), "{rec}");
            rec
        }
    };
    assert!(
        rec.contains(&format!("host={master_addr} ")),
        "not a standby of {master_addr}: {rec}"
    );
    assert!(
        rec.contains(&format!("application_name={}", node.name)),
        "{rec}"
    );
    assert!(rec.contains("recovery_target_timeline = 'latest'"), "{rec}");
}

/// Our agent on `node`, as Pacemaker runs it for a promotable clone.
pub(crate) fn agent(fc: &FakeCluster, node: &Node, rep_mode: &str, master_ip: &str) -> Agent {
    let a = Agent::ours()
        .on(&node.pg)
        .param("rep_mode", rep_mode)
        .param("node_list", "node1 node2")
        .param("master_ip", master_ip)
        .param("tmpdir", node.pg.tmpdir().to_str().unwrap())
        .param("restore_command", "false")
        .meta("promotable", "true")
        .meta("notify", "true")
        .meta("clone_max", "2")
        .meta("promoted_max", "1")
        .meta("on_node", node.name)
        .meta("timeout", "30000");
    fc.apply(a, node.name)
}

/// node1 started and promoted, node2 started as its standby, and the fake
/// cluster told so.
pub(crate) fn start_primary_and_standby(fc: &FakeCluster, a1: &Agent, a2: &Agent) {
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    fc.set_role("pgsql", "node2", "Unpromoted");
}

/// node1, the primary, has one streaming standby within 20 s; then its
/// monitor (which makes that standby the synchronous one) reports it
/// promoted.
pub(crate) fn standby_streams_then_primary_monitor(n1: &Node, a1: &Agent) {
    let streaming = || {
        n1.pg
            .psql("select count(*) from pg_stat_replication where state = 'streaming'")
            .is_ok_and(|c| c == "1")
    };
    assert!(wait_for(Duration::from_secs(20), streaming), "no standby");
    assert_rc(
        &a1.clone()
            .recurring()
            .meta("role", "Promoted")
            .run("monitor"),
        8,
    );
}

pub(crate) fn in_recovery(pg: &PgInstance) -> String {
    pg.psql("select pg_is_in_recovery()").unwrap()
}

fn notify(a: &Agent, kind: &str, op: &str, promote: &str, master: &str, slave: &str) -> Outcome {
    a.clone()
        .meta("notify_type", kind)
        .meta("notify_operation", op)
        .meta("notify_promote_uname", promote)
        .meta("notify_master_uname", master)
        .meta("notify_slave_uname", slave)
        .meta("notify_demote_uname", " ")
        .run("notify")
}

/// Cold start of a two-node sync cluster, election, promotion, a
/// synchronous standby, a committed write, failover to the standby with
/// the write intact, and the old primary refused by PGSQL.lock.
#[test]
fn sync_pair_election_promotion_failover_and_lock() {
    let (n1, n2) = pair();
    assert_eq!(n1.pg.major(), 15);
    sync_pair_scenario(n1, n2, Era::StandbySignal);
}

/// The scenario of [`sync_pair_election_promotion_failover_and_lock`] on a
/// stopped pair of any major, whose recovery settings follow `era`.
pub(crate) fn sync_pair_scenario(n1: Node, n2: Node, era: Era) {
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);

    // Probes find nothing; starts give hot standbys.
    assert_rc(&a1.run("monitor"), 7);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    assert_eq!(in_recovery(&n1.pg), "t");
    assert_eq!(in_recovery(&n2.pg), "t");
    for n in ["node1", "node2"] {
        assert_eq!(
            fc.attr(n, "reboot", "pgsql-status").as_deref(),
            Some("HS:alone")
        );
        assert_eq!(
            fc.attr(n, "reboot", "master-pgsql").as_deref(),
            Some("-INFINITY")
        );
    }
    // Recovery settings: in tmpdir, included, standby.signal from 12 on;
    // in the data directory with standby_mode before.
    assert_standby_files(&n1, era, ADDR1);
    assert_standby_files(&n2, era, ADDR1);
    let conf = std::fs::read_to_string(n1.pg.config()).unwrap();
    assert!(conf.contains("rep_mode.conf' # added by pgsql RA"));
    fc.set_role("pgsql", "node1", "Unpromoted");
    fc.set_role("pgsql", "node2", "Unpromoted");

    // No primary: both publish positions; after xlog_check_count + 1
    // identical rounds the newest asks to be promoted.
    let (m1, m2) = (a1.clone().recurring(), a2.clone().recurring());
    for _ in 0..4 {
        assert_rc(&m1.run("monitor"), 0);
        assert_rc(&m2.run("monitor"), 0);
    }
    assert!(fc.attr("node1", "reboot", "pgsql-xlog-loc").is_some());
    let s1 = fc.attr("node1", "reboot", "master-pgsql");
    let s2 = fc.attr("node2", "reboot", "master-pgsql");
    assert!(
        s1.as_deref() == Some("1000") || s2.as_deref() == Some("1000"),
        "nobody won: {s1:?} {s2:?}\n{}",
        fc.dump()
    );
    let (winner, loser) = if s1.as_deref() == Some("1000") {
        (&n1, &n2)
    } else {
        (&n2, &n1)
    };
    // The primary's virtual IP follows the winner; on one machine the loser
    // is restarted with the winner's address instead.
    let addr = |n: &Node| if n.name == "node1" { ADDR1 } else { ADDR2 };
    let al = &agent(&fc, loser, "sync", addr(winner));
    let aw = &agent(&fc, winner, "sync", addr(winner));
    assert_rc(&al.run("stop"), 0);
    assert_rc(&al.run("start"), 0);
    assert_standby_files(loser, era, addr(winner));

    // Pacemaker promotes the winner.
    notify(aw, "pre", "promote", winner.name, " ", "node1 node2");
    notify(al, "pre", "promote", winner.name, " ", "node1 node2");
    assert_rc(&aw.run("promote"), 0);
    fc.set_role("pgsql", winner.name, "Promoted");
    assert_eq!(in_recovery(&winner.pg), "f");
    // The server itself dropped what made it a standby.
    match era {
        Era::RecoveryConf => assert!(!winner.pg.pgdata().join("recovery.conf").exists()),
        Era::StandbySignal => assert!(!winner.pg.pgdata().join("standby.signal").exists()),
    }
    assert!(winner.pg.tmpdir().join("PGSQL.lock").exists());
    assert_eq!(
        fc.attr(winner.name, "forever", "pgsql-data-status")
            .as_deref(),
        Some("LATEST")
    );
    assert_eq!(
        fc.attr(winner.name, "reboot", "pgsql-status").as_deref(),
        Some("PRI")
    );
    assert_eq!(
        fc.attr(loser.name, "forever", "pgsql-data-status")
            .as_deref(),
        Some("DISCONNECT")
    );
    assert_rc(
        &notify(aw, "post", "promote", winner.name, " ", "node1 node2"),
        0,
    );
    assert_rc(
        &notify(al, "post", "promote", winner.name, " ", "node1 node2"),
        0,
    );
    assert!(fc.attr(winner.name, "reboot", "pgsql-xlog-loc").is_none());

    // The standby streams from the primary; the primary's monitor makes it
    // the synchronous standby and gives it the promotion score 100.
    assert!(
        wait_for(Duration::from_secs(20), || {
            winner
                .pg
                .psql("select count(*) from pg_stat_replication where state = 'streaming'")
                .is_ok_and(|c| c == "1")
        }),
        "standby never streamed"
    );
    let mw = aw.clone().recurring().meta("role", "Promoted");
    assert_rc(&mw.run("monitor"), 8);
    assert_rc(&mw.run("monitor"), 8);
    assert_eq!(
        fc.attr(loser.name, "forever", "pgsql-data-status")
            .as_deref(),
        Some("STREAMING|SYNC"),
        "{}",
        fc.dump()
    );
    assert_eq!(
        fc.attr(loser.name, "reboot", "master-pgsql").as_deref(),
        Some("100")
    );
    assert_eq!(
        fc.attr(loser.name, "reboot", "pgsql-status").as_deref(),
        Some("HS:sync")
    );
    let rep_mode_conf = std::fs::read_to_string(winner.pg.tmpdir().join("rep_mode.conf")).unwrap();
    assert_eq!(
        rep_mode_conf,
        format!("synchronous_standby_names = '\"{}\"'\n", loser.name)
    );
    assert_rc(&al.clone().recurring().run("monitor"), 0);

    // An acknowledged synchronous write.
    winner
        .pg
        .psql("create table acked(x int); insert into acked values (7)")
        .unwrap();

    // The primary dies; Pacemaker promotes the synchronous standby.
    winner.pg.kill9();
    fc.set_online(winner.name, false);
    fc.set_role("pgsql", winner.name, "Stopped");
    let new_primary = agent(&fc, loser, "sync", addr(loser));
    assert_rc(&new_primary.run("promote"), 0);
    assert_eq!(in_recovery(&loser.pg), "f");
    assert_eq!(loser.pg.psql("select x from acked").unwrap(), "7");

    // The old primary comes back: its data may have diverged, so start is
    // refused until an admin removes the lock. Nothing is started.
    fc.set_online(winner.name, true);
    let out = aw.run("start");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("PGSQL.lock"), "{out:?}");
    assert!(!winner.pg.is_running());
}

/// Demote stops the primary; the lock stays while a standby exists and goes
/// when none did (spec §7.4); stop sets STOP and the score -INFINITY.
#[test]
fn demote_and_stop_keep_the_attribute_protocol() {
    let (n1, n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "async", ADDR1);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a1.run("promote"), 0);
    assert_rc(&a1.run("promote"), 0); // idempotent
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    // Async mode keeps no rep_mode.conf include.
    let conf = std::fs::read_to_string(n1.pg.config()).unwrap();
    assert!(!conf.contains("rep_mode.conf"));

    let with_standby = a1.clone().meta("notify_slave_uname", "node2");
    assert_rc(&with_standby.run("demote"), 0);
    assert!(!n1.pg.is_running());
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    assert_eq!(
        fc.attr("node1", "reboot", "pgsql-status").as_deref(),
        Some("STOP")
    );
    assert_eq!(
        fc.attr("node1", "reboot", "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    assert_rc(&with_standby.run("demote"), 0); // already stopped

    std::fs::remove_file(n1.pg.tmpdir().join("PGSQL.lock")).unwrap();
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a1.run("promote"), 0);
    let alone = a1.clone().meta("notify_slave_uname", " ");
    assert_rc(&alone.run("demote"), 0);
    assert!(!n1.pg.tmpdir().join("PGSQL.lock").exists());

    assert_rc(&a1.run("start"), 0);
    assert_rc(&a1.run("stop"), 0);
    assert!(!n1.pg.is_running());
    assert_eq!(
        fc.attr("node1", "reboot", "pgsql-status").as_deref(),
        Some("STOP")
    );
    drop(n2);
}

/// A probe finding a running primary gives it 1000 and reports 8; a probe
/// finding a standby gives -INFINITY and reports 0.
#[test]
fn probes_report_roles_and_scores() {
    let (n1, _n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a1.run("monitor"), 0);
    assert_eq!(
        fc.attr("node1", "reboot", "master-pgsql").as_deref(),
        Some("-INFINITY")
    );
    assert_rc(&a1.run("promote"), 0);
    fc.del_attr("node1", "reboot", "master-pgsql");
    assert_rc(&a1.run("monitor"), 8);
    assert_eq!(
        fc.attr("node1", "reboot", "master-pgsql").as_deref(),
        Some("1000")
    );
    assert_rc(&a1.run("stop"), 0);
}

/// A recurring monitor writes `<rsc>-receiver-status` only when its value
/// changes (the crm_mon snapshot shows the current one), so in steady state
/// its only child process is crm_mon. A node restart clears transient
/// attributes: the next monitor writes it again.
#[test]
fn monitor_writes_receiver_status_only_when_it_changes() {
    let (n1, _n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1)
        .param("check_wal_receiver", "true")
        .meta("interval", "1000");
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a1.run("promote"), 0);
    assert_rc(&a1.run("monitor"), 8);
    let status = || fc.attr("node1", "reboot", "pgsql-receiver-status");
    assert_eq!(status().as_deref(), Some("normal (master)"));
    fc.clear_calls();
    assert_rc(&a1.run("monitor"), 8);
    let tools: Vec<String> = fc.calls().into_iter().map(|c| c.tool).collect();
    assert_eq!(tools, ["crm_mon"]);
    fc.del_attr("node1", "reboot", "pgsql-receiver-status");
    fc.clear_calls();
    assert_rc(&a1.run("monitor"), 8);
    assert_eq!(fc.calls_of("attrd_updater").len(), 1);
    assert_eq!(status().as_deref(), Some("normal (master)"));
    assert_rc(&a1.run("stop"), 0);
}

/// In sync mode a standby that is known to lag must not be promoted, even
/// if asked directly (a stale score or a forced promote).
#[test]
fn promote_refuses_an_out_of_date_sync_standby() {
    let (n1, _n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    assert_rc(&a1.run("start"), 0);
    fc.set_attr("node1", "forever", "pgsql-data-status", "DISCONNECT");
    let out = a1.run("promote");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("DISCONNECT"), "{out:?}");
    assert_eq!(in_recovery(&n1.pg), "t");
    assert!(!n1.pg.tmpdir().join("PGSQL.lock").exists());
    assert_rc(&a1.run("stop"), 0);
}

/// The agent runs as root and writes into tmpdir, which the PostgreSQL
/// user owns: a link planted there never makes it write or chown another
/// file (src/os/fs.rs). PGSQL.lock as a symbolic link to a root file: the
/// promote fails before promoting, the file is untouched. tmpdir itself as
/// a link owned by the PostgreSQL user: the start refuses to chown it.
#[test]
fn planted_links_in_tmpdir_never_redirect_root() {
    use std::os::unix::fs::MetadataExt;
    let (n1, _n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    assert_rc(&a1.run("start"), 0);
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("root-file");
    std::fs::write(&victim, b"root's").unwrap();
    let lock = n1.pg.tmpdir().join("PGSQL.lock");
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let out = a1.run("promote");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("PGSQL.lock"), "{out:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"root's");
    assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0);
    assert_eq!(in_recovery(&n1.pg), "t");
    std::fs::remove_file(&lock).unwrap();
    assert_rc(&a1.run("stop"), 0);

    // tmpdir replaced by a link the PostgreSQL user made, to a root directory.
    let tmpdir = n1.pg.tmpdir();
    std::fs::remove_dir_all(&tmpdir).unwrap();
    let target = victim_dir.path().join("root-dir");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, &tmpdir).unwrap();
    let (uid, _) = uid_of(PGDBA);
    nix::unistd::fchownat(
        None,
        &tmpdir,
        Some(nix::unistd::Uid::from_raw(uid)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let out = a1.run("start");
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(
        std::fs::metadata(&target).unwrap().uid(),
        0,
        "root's directory chowned"
    );
    assert!(!n1.pg.is_running());
}

/// Every file the pgsql personality writes as root in tmpdir and the data
/// directory (recovery.conf, rep_mode.conf, PGSQL.lock, the election's
/// xlog_note.N, the steady-standby and not-following notes,
/// standby.signal; the rewind's copies are in rejoin.rs and postgresql.conf
/// in src/os/fs.rs): a symbolic link owned by the PostgreSQL user (node1)
/// or a hard link (node2) planted at its name before the actions that
/// write it never makes root write, chown or chmod the file it points to.
#[test]
fn planted_links_at_every_file_root_writes_leave_their_targets_alone() {
    let (n1, n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    let mut victims = Victims::new(n1.pg.root.path());
    let names = |n: &Node| -> Vec<PathBuf> {
        let t = n.pg.tmpdir();
        let mut v: Vec<PathBuf> = [
            "recovery.conf",
            "rep_mode.conf",
            ".pgsql-steady-standby",
            ".pgsql-not-following",
        ]
        .iter()
        .map(|f| t.join(f))
        .collect();
        v.extend((0..4).map(|i| t.join(format!("xlog_note.{i}"))));
        v.push(n.pg.pgdata().join("standby.signal"));
        v
    };
    for (n, hard) in [(&n1, false), (&n2, true)] {
        std::fs::create_dir_all(n.pg.tmpdir()).unwrap();
        chown_r(&n.pg.tmpdir(), PGDBA);
        for name in names(n) {
            victims.plant(&name, hard);
        }
    }
    // Starts as standbys and election rounds, whatever they conclude
    // (a planted note stops the election on that node).
    let _ = a1.run("start");
    let _ = a2.run("start");
    for _ in 0..4 {
        let _ = a1.clone().recurring().run("monitor");
        let _ = a2.clone().recurring().run("monitor");
    }
    victims.untouched();

    // Clean starts, then the promotion's lock and the primary's
    // rep_mode.conf.
    let _ = a1.run("stop");
    let _ = a2.run("stop");
    unplant(&names(&n1));
    unplant(&names(&n2));
    let lock = n1.pg.tmpdir().join("PGSQL.lock");
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    victims.plant(&lock, true);
    let out = a1.run("promote");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("PGSQL.lock"), "{out:?}");
    victims.untouched();
    std::fs::remove_file(&lock).unwrap();
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    fc.set_role("pgsql", "node2", "Unpromoted");
    let rep = n1.pg.tmpdir().join("rep_mode.conf");
    std::fs::remove_file(&rep).unwrap();
    victims.plant(&rep, false);
    let promoted = a1.clone().recurring().meta("role", "Promoted");
    assert!(
        wait_for(Duration::from_secs(20), || {
            promoted.run("monitor");
            rep_mode_conf(&n1).contains("node2")
        }),
        "node2 never named in rep_mode.conf"
    );
    victims.untouched();
    assert!(!std::fs::symlink_metadata(&rep)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_rc(&a2.run("stop"), 0);
    assert_rc(&a1.run("demote"), 0);
    assert_rc(&a1.run("stop"), 0);
}

/// restart_on_promote stops the standby and starts it without recovery
/// settings, so it comes up as a primary on the same timeline.
#[test]
fn restart_on_promote_keeps_the_timeline() {
    let (n1, _n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1).param("restart_on_promote", "true");
    assert_rc(&a1.run("start"), 0);
    let tli = || {
        n1.pg
            .psql("select timeline_id from pg_control_checkpoint()")
            .unwrap()
    };
    let before = tli();
    assert_rc(&a1.run("promote"), 0);
    assert_eq!(in_recovery(&n1.pg), "f");
    assert_eq!(tli(), before);
    assert!(!n1.pg.pgdata().join("standby.signal").exists());
    assert_rc(&a1.run("stop"), 0);
}

/// rep_mode=slave starts a standby of master_ip with its recovery settings
/// in tmpdir, which the reference forgot to create (spec §14.1 #9).
#[test]
fn slave_mode_creates_tmpdir_and_follows_master_ip() {
    let (n1, n2) = pair();
    n1.pg.start_directly();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a2 = fc.apply(
        Agent::ours()
            .on(&n2.pg)
            .param("rep_mode", "slave")
            .param("master_ip", ADDR1)
            .param("tmpdir", n2.pg.tmpdir().to_str().unwrap())
            .meta("on_node", "node2"),
        "node2",
    );
    assert!(!n2.pg.tmpdir().exists());
    assert_rc(&a2.run("start"), 0);
    assert_eq!(in_recovery(&n2.pg), "t");
    assert!(wait_for(Duration::from_secs(20), || {
        n1.pg
            .psql("select count(*) from pg_stat_replication where application_name = 'node2'")
            .is_ok_and(|c| c == "1")
    }));
    assert_rc(&a2.clone().recurring().run("monitor"), 0);
    assert_rc(&a2.run("stop"), 0);
}

/// Regression (found by the cluster scenario `sync-net`): a synchronous
/// standby cut off from the network sends no TCP reset, so the primary kept
/// its WAL sender, and with it every commit waiting, until
/// `wal_sender_timeout` (60 s), long after Pacemaker had fenced the node and
/// told the primary (post-stop notification). The primary now ends the WAL
/// sender of a node reported stopped and moves synchronous replication off
/// it at once. Here the standby's WAL receiver is frozen (SIGSTOP): its
/// connection stays open and silent, as across a cut cable.
#[test]
fn cut_off_sync_standby_does_not_hold_commits_until_wal_sender_timeout() {
    let (n1, n2) = pair();
    // A third member keeps the partition quorate once node2 is gone.
    let fc = FakeCluster::new(&["node1", "node2", "node3"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    start_primary_and_standby(&fc, &a1, &a2);
    let streaming = || {
        n1.pg
            .psql("select count(*) from pg_stat_replication where state = 'streaming'")
            .is_ok_and(|c| c == "1")
    };
    assert!(wait_for(Duration::from_secs(20), streaming), "no standby");
    let m1 = a1.clone().recurring().meta("role", "Promoted");
    assert_rc(&m1.run("monitor"), 8);
    assert_eq!(
        fc.attr("node2", "reboot", "pgsql-status").as_deref(),
        Some("HS:sync"),
        "{}",
        fc.dump()
    );

    let receiver: i32 = n2
        .pg
        .psql("select pid from pg_stat_wal_receiver")
        .unwrap()
        .parse()
        .unwrap();
    let receiver = nix::unistd::Pid::from_raw(receiver);
    nix::sys::signal::kill(receiver, nix::sys::signal::Signal::SIGSTOP).unwrap();
    // Still listed: nothing tells the primary the standby is gone.
    std::thread::sleep(Duration::from_millis(300));
    assert!(streaming(), "the WAL sender went away by itself");

    // Pacemaker fenced node2 and reports its instance stopped.
    fc.set_online("node2", false);
    fc.set_role("pgsql", "node2", "Stopped");
    let out = a1
        .clone()
        .meta("notify_type", "post")
        .meta("notify_operation", "stop")
        .meta("notify_stop_uname", "node2")
        .meta("notify_master_uname", "node1")
        .meta("notify_slave_uname", "node2")
        .run("notify");
    assert_rc(&out, 0);
    let gone = wait_for(Duration::from_secs(5), || {
        n1.pg
            .psql("select count(*) from pg_stat_replication where application_name = 'node2'")
            .is_ok_and(|c| c == "0")
    });
    let rep_mode_conf = std::fs::read_to_string(n1.pg.tmpdir().join("rep_mode.conf"));
    let sync_names = n1.pg.psql("show synchronous_standby_names");
    nix::sys::signal::kill(receiver, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(gone, "the stale WAL sender of node2 is still there");
    assert_eq!(rep_mode_conf.unwrap(), "synchronous_standby_names = ''\n");
    assert!(
        wait_for(Duration::from_secs(5), || n1
            .pg
            .psql("show synchronous_standby_names")
            .is_ok_and(|v| v.is_empty())),
        "{sync_names:?}"
    );
    assert_eq!(
        fc.attr("node2", "forever", "pgsql-data-status").as_deref(),
        Some("DISCONNECT")
    );
    // (node2's reboot-lifetime attributes left with the node.)
    // Commits no longer wait for anybody.
    n1.pg
        .psql("create table after_cut(x int); insert into after_cut values (1)")
        .unwrap();
}

/// Freezes node2's WAL receiver (its connection stays open and silent, as
/// across a cut cable) and returns a guard that thaws it.
struct Frozen(nix::unistd::Pid);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

fn freeze_receiver(standby: &Node) -> Frozen {
    let pid: i32 = standby
        .pg
        .psql("select pid from pg_stat_wal_receiver")
        .unwrap()
        .parse()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    Frozen(pid)
}

/// A primary and its sync standby in a three-node fake cluster, streaming,
/// the primary's monitor run once (node2 HS:sync).
fn streaming_pair_of_three() -> (Node, Node, FakeCluster, Agent, Agent) {
    let (n1, n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2", "node3"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    start_primary_and_standby(&fc, &a1, &a2);
    // The primary's monitor makes node2 its synchronous standby.
    standby_streams_then_primary_monitor(&n1, &a1);
    assert_eq!(
        fc.attr("node2", "reboot", "pgsql-status").as_deref(),
        Some("HS:sync")
    );
    (n1, n2, fc, a1, a2)
}

/// The primary's recurring monitor.
fn promoted_monitor(a: &Agent) -> Outcome {
    a.clone()
        .recurring()
        .meta("role", "Promoted")
        .run("monitor")
}

/// How many WAL senders the primary lists for node2.
fn senders_of_node2(primary: &Node) -> String {
    primary
        .pg
        .psql("select count(*) from pg_stat_replication where application_name = 'node2'")
        .unwrap()
}

fn rep_mode_conf(primary: &Node) -> String {
    std::fs::read_to_string(primary.pg.tmpdir().join("rep_mode.conf")).unwrap()
}

/// Without fencing there is no post-stop notification (issue: `sync-net
/// --no-fencing` blocked writes for 61 s): the primary's own monitor sees
/// the standby's node out of the membership and ends its WAL sender.
#[test]
fn primary_monitor_ends_the_wal_sender_of_a_standby_whose_node_left() {
    let (n1, n2, fc, a1, _a2) = streaming_pair_of_three();
    let _frozen = freeze_receiver(&n2);
    fc.set_online("node2", false);
    fc.set_role("pgsql", "node2", "Stopped");
    assert_rc(&promoted_monitor(&a1), 8);
    assert_eq!(senders_of_node2(&n1), "0");
    // Quorate (node1 and node3), no standby left, strict_sync off: the stock
    // relaxing.
    assert_eq!(rep_mode_conf(&n1), "synchronous_standby_names = ''\n");
}

/// A primary whose partition has no quorum never stops waiting for its
/// synchronous standby (issue: the lone primary of `sync+async-power`
/// acknowledged writes no other node had). Fencing is on here: the primary
/// keeps running, its commits wait.
#[test]
fn without_quorum_the_primary_keeps_its_synchronous_standby() {
    let (n1, n2, fc, a1, _a2) = streaming_pair_of_three();
    let status = |fc: &FakeCluster| fc.attr("node2", "forever", "pgsql-data-status");
    assert_eq!(status(&fc).as_deref(), Some("STREAMING|SYNC"));
    let _frozen = freeze_receiver(&n2);
    fc.set_online("node2", false);
    fc.set_online("node3", false);
    fc.set_role("pgsql", "node2", "Stopped");
    assert_rc(&promoted_monitor(&a1), 8);
    assert_eq!(
        senders_of_node2(&n1),
        "0",
        "the WAL sender is ended all the same"
    );
    // Commits wait for node2: it has every acknowledged one, and stays the
    // node that may be promoted (a cut-off primary must not make it
    // DISCONNECT: once the partition heals nobody could be promoted).
    assert_eq!(status(&fc).as_deref(), Some("STREAMING|SYNC"));
    assert_eq!(
        rep_mode_conf(&n1),
        "synchronous_standby_names = '\"node2\"'\n"
    );
    assert_eq!(
        n1.pg.psql("show synchronous_standby_names").unwrap(),
        "\"node2\""
    );
    // Quorum back (node3 returns), still no standby: relaxed as the stock
    // agent does; with strict_sync=true it would not be.
    fc.set_online("node3", true);
    let strict = a1.clone().param("strict_sync", "true");
    assert_rc(
        &strict.recurring().meta("role", "Promoted").run("monitor"),
        8,
    );
    assert_eq!(
        rep_mode_conf(&n1),
        "synchronous_standby_names = '\"node2\"'\n",
        "strict_sync keeps the list"
    );
    assert_eq!(status(&fc).as_deref(), Some("STREAMING|SYNC"));
    assert_rc(&promoted_monitor(&a1), 8);
    assert_eq!(rep_mode_conf(&n1), "synchronous_standby_names = ''\n");
    // Relaxed: commits go on without node2, which is no longer complete.
    assert_eq!(status(&fc).as_deref(), Some("DISCONNECT"));
}

/// Without fencing, a primary in a partition without quorum stops itself
/// at once (immediate shutdown) and keeps PGSQL.lock; a promotion on the
/// other side that cannot see it first waits, or refuses when the wait does
/// not fit in its timeout.
#[test]
fn without_fencing_a_cut_off_primary_stops_and_the_other_side_waits() {
    let (n1, n2, fc, a1, a2) = streaming_pair_of_three();
    fc.run(
        "node1",
        "crm_attribute",
        &[
            "--type",
            "crm_config",
            "--name",
            "stonith-enabled",
            "--update",
            "false",
        ],
    );
    // Seen from node1: node2 and node3 are gone, no quorum.
    let _frozen = freeze_receiver(&n2);
    fc.set_online("node2", false);
    fc.set_online("node3", false);
    let out = a1
        .clone()
        .recurring()
        .meta("role", "Promoted")
        .run("monitor");
    assert_rc(&out, 7);
    assert!(
        out.exit_reason()
            .unwrap_or_default()
            .contains("lost quorum"),
        "{out:?}"
    );
    assert!(
        !n1.pg.is_running(),
        "PostgreSQL still runs on the cut-off primary"
    );
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    drop(_frozen);

    // Seen from node2: node1 is gone. The wait (consensus + the promoted
    // monitor's interval + 2 s; here the defaults, 34.6 s) does not fit in
    // a 20 s promote.
    fc.set_online("node1", false);
    fc.set_online("node2", true);
    fc.set_online("node3", true);
    fc.set_role("pgsql", "node1", "Stopped");
    let out = a2.clone().meta("timeout", "20000").run("promote");
    assert_rc(&out, 1);
    let reason = out.exit_reason().unwrap_or_default();
    assert!(
        reason.contains("Fencing is disabled and node1 left this partition"),
        "{reason}"
    );
    assert_eq!(n2.pg.psql("select pg_is_in_recovery()").unwrap(), "t");
}

/// A standby's monitor costs most when it starts `crm_mon` (performance.md).
/// Once a full check found it steady and its WAL receiver still streams from
/// master_ip, it calls no cluster tool; anything that may change the
/// picture (another action on the node, the receiver not streaming, the note
/// older than a minute, a probe) brings the full check back.
#[test]
fn steady_standby_monitor_calls_no_cluster_tool_until_something_changes() {
    let (n1, n2) = pair();
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1).param("check_wal_receiver", "true");
    let a2 = agent(&fc, &n2, "sync", ADDR1).param("check_wal_receiver", "true");
    start_primary_and_standby(&fc, &a1, &a2);
    let streaming = || {
        n2.pg
            .psql("select status from pg_stat_wal_receiver")
            .is_ok_and(|s| s == "streaming")
    };
    assert!(wait_for(Duration::from_secs(20), streaming), "no standby");
    let m1 = a1.clone().recurring().meta("role", "Promoted");
    assert_rc(&m1.run("monitor"), 8);
    let m2 = a2.clone().recurring();
    let note = n2.pg.tmpdir().join(".pgsql-steady-standby");
    let full = |why: &str| {
        fc.clear_calls();
        assert_rc(&m2.run("monitor"), 0);
        assert_eq!(fc.calls_of("crm_mon").len(), 1, "{why}: {:?}", fc.calls());
    };
    let fast = |why: &str| {
        fc.clear_calls();
        assert_rc(&m2.run("monitor"), 0);
        assert_eq!(fc.calls(), [], "{why}");
    };

    // The first look writes receiver-status: not steady yet. The second
    // writes nothing and leaves the note.
    full("first monitor");
    assert!(!note.exists());
    assert_eq!(
        fc.attr("node2", "reboot", "pgsql-receiver-status")
            .as_deref(),
        Some("normal")
    );
    full("second monitor");
    assert!(note.exists(), "a steady full check leaves the note");
    fast("steady");
    fast("still steady");

    // Any other action on the node forgets the note.
    let out = a2
        .clone()
        .meta("notify_type", "pre")
        .meta("notify_operation", "start")
        .meta("notify_start_uname", "node2")
        .meta("notify_master_uname", "node1")
        .run("notify");
    assert_rc(&out, 0);
    assert!(!note.exists(), "notify kept the note");
    full("after a notification");
    fast("steady again");

    // A probe always takes the full look.
    fc.clear_calls();
    assert_rc(&a2.run("monitor"), 0);
    assert_eq!(fc.calls_of("crm_mon").len(), 1, "probe: {:?}", fc.calls());
    fast("after the probe");

    // A note is trusted for a minute only, and never one that does not
    // parse.
    let stale = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 61;
    std::fs::write(&note, format!("checked={stale}\nreceiver-status=normal\n")).unwrap();
    full("stale note");
    std::fs::write(&note, "checked=soon\n").unwrap();
    full("damaged note");
    fast("renewed");

    // The primary goes away: the receiver stops streaming, the full check
    // finds no promoted instance and does what the reference does.
    assert_rc(&a1.run("stop"), 0);
    fc.set_role("pgsql", "node1", "Stopped");
    assert!(
        wait_for(Duration::from_secs(10), || !streaming()),
        "the receiver still streams from a stopped primary"
    );
    full("primary stopped");
    assert!(!note.exists(), "no note without a primary");
    assert_eq!(
        fc.attr("node2", "reboot", "pgsql-status").as_deref(),
        Some("HS:alone")
    );
    assert_eq!(
        fc.attr("node2", "reboot", "pgsql-receiver-status")
            .as_deref(),
        Some("ERROR")
    );
    full("still no primary");
    assert_rc(&a2.run("stop"), 0);
}
