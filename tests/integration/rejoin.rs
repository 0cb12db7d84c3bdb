//! `rejoin`: a former primary that holds WAL the new primary never had
//! (its standby was cut off, it committed locally, then it was killed) is
//! refused with `rejoin=off` and `rejoin=safe`, and with `rejoin=rewind` is
//! rewound from the new primary, keeps what pg_rewind replaced, and starts
//! as a standby that streams, without its local commit.

use std::time::Duration;

use crate::fake_cluster::FakeCluster;
use crate::harness::*;
use crate::replication::{
    agent, in_recovery, pair_with, start_primary_and_standby, Node, ADDR1, ADDR2,
};

/// Whether `standby` replayed everything `primary` wrote.
fn caught_up(primary: &Node, standby: &Node) -> bool {
    let current = primary.pg.psql("select pg_current_wal_lsn()");
    let replayed = standby.pg.psql("select pg_last_wal_replay_lsn()");
    matches!((current, replayed), (Ok(c), Ok(r)) if c == r)
}

fn rows(node: &Node) -> String {
    node.pg
        .psql("select string_agg(x::text, ',' order by x) from t")
        .unwrap_or_default()
}

/// `out` (node1's start) succeeded saying `says`, and node1 is node2's
/// standby: no lock, in recovery, streaming, with rows 1 and 2 (not 99).
fn assert_rejoined(out: &Outcome, n1: &Node, n2: &Node, says: &str) {
    assert_eq!(
        out.code,
        0,
        "{out:?}\n{}",
        std::fs::read_to_string(n1.pg.logfile()).unwrap_or_default()
    );
    assert!(out.stderr.contains(says), "{}", out.stderr);
    assert!(!n1.pg.tmpdir().join("PGSQL.lock").exists());
    assert_eq!(in_recovery(&n1.pg), "t");
    assert!(
        wait_for(Duration::from_secs(30), || streaming(n2)),
        "node1 does not stream from node2"
    );
    assert!(
        wait_for(Duration::from_secs(10), || rows(n1) == "1,2"),
        "node1 has {:?}, node2 {:?}",
        rows(n1),
        rows(n2)
    );
}

/// node1 primary with node2 its standby (`restart_on_promote` as given),
/// one committed row; node1 is then killed, either once node2 replayed
/// everything or (`diverge`) after a local commit while node2 was down, and
/// node2 promoted, with a row of its own. Returns the fake cluster.
fn crash_and_fail_over(
    n1: &Node,
    n2: &Node,
    restart_on_promote: &str,
    diverge: bool,
) -> FakeCluster {
    let fc = FakeCluster::new(&["node1", "node2"]);
    let on = |a: crate::harness::Agent| a.param("restart_on_promote", restart_on_promote);
    let a1 = on(agent(&fc, n1, "sync", ADDR1));
    let a2 = on(agent(&fc, n2, "sync", ADDR1));
    start_primary_and_standby(&fc, &a1, &a2);
    assert!(
        wait_for(Duration::from_secs(20), || streaming(n1)),
        "no standby"
    );
    assert_rc(
        &a1.clone()
            .recurring()
            .meta("role", "Promoted")
            .run("monitor"),
        8,
    );
    n1.pg
        .psql("create table t(x int); insert into t values (1)")
        .unwrap();
    if diverge {
        n2.pg.stop_directly();
        n1.pg
            .psql("set synchronous_commit = local; insert into t values (99)")
            .unwrap();
        n1.pg.kill9();
        n2.pg.start_directly();
    } else {
        assert!(
            wait_for(Duration::from_secs(20), || caught_up(n1, n2)),
            "node2 did not replay everything"
        );
        n1.pg.kill9();
    }
    fc.set_online("node1", false);
    fc.set_role("pgsql", "node1", "Stopped");
    let new_primary = on(agent(&fc, n2, "sync", ADDR2));
    let out = new_primary.run("promote");
    assert_rc(&out, 0);
    fc.set_role("pgsql", "node2", "Promoted");
    n2.pg.psql("insert into t values (2)").unwrap();
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    fc.set_online("node1", true);
    fc
}

/// A primary killed while its standby had all of its WAL (no write in
/// flight): with `rejoin=safe` it is proven a prefix of the new primary's
/// history and starts as its standby, nothing rewound, both when the
/// promotion opened a timeline (the end of its WAL before the fork) and
/// when it kept it (`restart_on_promote=true`: before the new primary's
/// baseline, which it recorded as replacing node1).
#[test]
fn rejoin_safe_brings_back_a_crashed_primary_the_new_one_has_all_of() {
    for restart_on_promote in ["false", "true"] {
        let (n1, n2) = pair_with("");
        let fc = crash_and_fail_over(&n1, &n2, restart_on_promote, false);
        let back = agent(&fc, &n1, "sync", ADDR2).param("restart_on_promote", restart_on_promote);
        let out = back.run("start");
        assert_rejoined(&out, &n1, &n2, "Rejoining node2 as its standby");
        assert!(!out.stderr.contains("pg_rewind"), "{}", out.stderr);
    }
}

/// `restart_on_promote=true`: the new primary stays on node1's timeline,
/// so no history tells the two apart. node1 committed locally past what
/// node2 had: `safe` sees its WAL end after node2's baseline and refuses,
/// and `rewind` refuses too (pg_rewind compares nothing on one timeline);
/// the lock stays and nothing runs.
#[test]
fn a_diverged_primary_on_the_same_timeline_is_never_started() {
    let (n1, n2) = pair_with("wal_log_hints = on\n");
    let fc = crash_and_fail_over(&n1, &n2, "true", true);
    let back = agent(&fc, &n1, "sync", ADDR2).param("restart_on_promote", "true");
    for (mode, why) in [
        ("safe", "it holds writes the new primary never had"),
        (
            "rewind",
            "pg_rewind cannot tell where the histories diverged",
        ),
    ] {
        let out = back.clone().param("rejoin", mode).run("start");
        assert_rc(&out, 1);
        assert!(out.stderr.contains(why), "{mode}: {}", out.stderr);
        assert!(
            out.exit_reason().unwrap().contains("PGSQL.lock"),
            "{mode}: {out:?}"
        );
        assert!(!n1.pg.is_running(), "{mode}");
        assert!(n1.pg.tmpdir().join("PGSQL.lock").exists(), "{mode}");
    }
    assert_eq!(rows(&n2), "1,2");
}

fn streaming(primary: &Node) -> bool {
    primary
        .pg
        .psql("select count(*) from pg_stat_replication where state = 'streaming'")
        .is_ok_and(|c| c == "1")
}

/// node1 primary and node2 its streaming standby (`rep_mode` as given),
/// both rewindable (`wal_log_hints`), through the agent.
fn rewindable_pair(rep_mode: &str) -> (Node, Node, FakeCluster, Agent, Agent) {
    let (n1, n2) = pair_with("wal_log_hints = on\n");
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, rep_mode, ADDR1);
    let a2 = agent(&fc, &n2, rep_mode, ADDR1);
    start_primary_and_standby(&fc, &a1, &a2);
    assert!(
        wait_for(Duration::from_secs(20), || streaming(&n1)),
        "no standby"
    );
    (n1, n2, fc, a1, a2)
}

#[test]
fn rejoin_rewind_brings_back_a_former_primary_that_diverged() {
    let (n1, n2, fc, a1, _a2) = rewindable_pair("sync");
    let promoted = a1.clone().recurring().meta("role", "Promoted");
    assert_rc(&promoted.run("monitor"), 8);
    n1.pg
        .psql("create table t(x int); insert into t values (1)")
        .unwrap();

    // node2 stops; node1 commits locally (never acknowledged by a standby)
    // and is killed: its WAL goes past what node2 has. node2 comes back.
    n2.pg.stop_directly();
    n1.pg
        .psql("set synchronous_commit = local; insert into t values (99)")
        .unwrap();
    n1.pg.kill9();
    n2.pg.start_directly();
    fc.set_online("node1", false);
    fc.set_role("pgsql", "node1", "Stopped");
    let new_primary = agent(&fc, &n2, "sync", ADDR2);
    assert_rc(&new_primary.run("promote"), 0);
    fc.set_role("pgsql", "node2", "Promoted");
    n2.pg.psql("insert into t values (2)").unwrap();
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());

    // node1 is back. off and safe: refused, the lock stays, nothing runs.
    fc.set_online("node1", true);
    let back = agent(&fc, &n1, "sync", ADDR2);
    for mode in ["off", "safe"] {
        let out = back.clone().param("rejoin", mode).run("start");
        assert_rc(&out, 1);
        assert!(
            out.exit_reason().unwrap().contains("PGSQL.lock"),
            "{mode}: {out:?}"
        );
        assert!(!n1.pg.is_running(), "{mode}");
        assert!(n1.pg.tmpdir().join("PGSQL.lock").exists(), "{mode}");
    }

    // What the rewind keeps is copied as root and handed to the PostgreSQL
    // user: a link planted in place of postgresql.auto.conf, to a file only
    // root reads, fails the rewind before anything is rewound, and is
    // copied nowhere.
    let auto = n1.pg.pgdata().join("postgresql.auto.conf");
    let aside = n1.pg.pgdata().join("postgresql.auto.conf.aside");
    std::fs::rename(&auto, &aside).unwrap();
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("root-only");
    std::fs::write(&secret, b"root's secret").unwrap();
    std::os::unix::fs::symlink(&secret, &auto).unwrap();
    let (uid, _) = uid_of(PGDBA);
    nix::unistd::fchownat(
        None,
        &auto,
        Some(nix::unistd::Uid::from_raw(uid)),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let out = back.clone().param("rejoin", "rewind").run("start");
    assert_rc(&out, 1);
    assert!(
        out.exit_reason().unwrap().contains("postgresql.auto.conf"),
        "{out:?}"
    );
    assert!(!n1.pg.is_running());
    assert!(n1.pg.tmpdir().join("PGSQL.lock").exists());
    let copies = std::process::Command::new("grep")
        .args(["-rl", "root's secret"])
        .arg(n1.pg.tmpdir())
        .arg(n1.pg.pgdata())
        .output()
        .unwrap();
    assert!(copies.stdout.is_empty(), "copied: {copies:?}");
    std::fs::remove_file(&auto).unwrap();
    std::fs::rename(&aside, &auto).unwrap();

    // rewind: rewound, started as node2's standby, streaming, without 99.
    let out = back.clone().param("rejoin", "rewind").run("start");
    assert_rejoined(&out, &n1, &n2, "Rewound from the primary at");
    // What pg_rewind replaced is kept, the data directory's own
    // configuration is back.
    let kept: Vec<_> = std::fs::read_dir(n1.pg.tmpdir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rewind-"))
        .map(|e| e.path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("postgresql.auto.conf").exists());
    assert!(kept[0].join("pg_rewind.log").exists());
    assert!(
        std::fs::read_dir(kept[0].join("pg_wal")).unwrap().count() >= 1,
        "no discarded WAL kept"
    );
    let conf = std::fs::read_to_string(n1.pg.config()).unwrap();
    assert!(
        !conf.contains(ADDR2),
        "node2's postgresql.conf stayed: {conf}"
    );
}

#[test]
fn rejoin_is_validated() {
    let pg = PgInstance::new();
    let out = Agent::ours()
        .on(&pg)
        .param("rejoin", "sometimes")
        .run("validate-all");
    assert_rc(&out, 6);
    assert!(
        out.exit_reason().unwrap().contains("Invalid rejoin"),
        "{out:?}"
    );
}

#[test]
fn rejoin_rewind_needs_wal_log_hints_or_checksums() {
    let pg = PgInstance::new();
    let out = Agent::ours()
        .on(&pg)
        .param("rejoin", "rewind")
        .env("OCF_CHECK_LEVEL", "10")
        .run("validate-all");
    assert_rc(&out, 6);
    assert!(
        out.exit_reason().unwrap().contains("wal_log_hints"),
        "{out:?}"
    );
    pg.append_conf("wal_log_hints = on\n");
    pg.start_directly();
    pg.stop_cleanly();
    let out = Agent::ours()
        .on(&pg)
        .param("rejoin", "rewind")
        .env("OCF_CHECK_LEVEL", "10")
        .run("validate-all");
    assert_rc(&out, 0);
}

/// A standby whose WAL went past the primary's history (here: node2 was
/// promoted behind the cluster's back and wrote on its own timeline, then
/// started again as node1's standby) never streams. The monitor watches it
/// (a note), and once that lasted the grace period and node1 answers at
/// `master_ip`, fails with the reason under `rejoin=rewind`; the restart
/// Pacemaker then runs rewinds it from node1, and it streams without its
/// own writes. With `rejoin=safe` the monitor only says so.
/// `bindir`'s programs, but a pg_rewind whose dry run is the real one's and
/// whose real run fails.
fn broken_pg_rewind(bindir: &std::path::Path) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for e in std::fs::read_dir(bindir).unwrap().flatten() {
        if e.file_name() != "pg_rewind" {
            std::os::unix::fs::symlink(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    let script = dir.path().join("pg_rewind");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a; do [ \"$a\" = --dry-run ] && exec {} \"$@\"; done\n\
             echo 'pg_rewind: the test breaks the real run' >&2\nexit 1\n",
            bindir.join("pg_rewind").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn rejoin_rewind_repairs_a_standby_that_cannot_follow() {
    let (n1, n2, _fc, _a1, a2) = rewindable_pair("async");
    n1.pg
        .psql("create table t(x int); insert into t values (1)")
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || caught_up(&n1, &n2)));

    // node2 leaves node1's history: promoted by hand, a write of its own.
    n2.pg.psql("select pg_promote()").unwrap();
    assert!(wait_for(Duration::from_secs(20), || in_recovery(&n2.pg) == "f"));
    n2.pg.psql("insert into t values (99); checkpoint").unwrap();
    n1.pg.psql("insert into t values (2)").unwrap();
    n2.pg.stop_directly();
    assert_rc(&a2.run("start"), 0);
    assert_eq!(in_recovery(&n2.pg), "t");
    let m2 = a2.clone().recurring();
    let note = n2.pg.tmpdir().join(".pgsql-not-following");

    // rejoin=safe: watched, then only a warning after the grace.
    let safe = m2.clone().param("rejoin", "safe");
    assert_rc(&safe.run("monitor"), 0);
    assert!(note.exists(), "no note of a standby that does not stream");
    // The grace period (15 s) has passed.
    std::fs::write(&note, not_following_since(16)).unwrap();
    let out = safe.run("monitor");
    assert_rc(&out, 0);
    assert!(out.stderr.contains("set rejoin=rewind"), "{}", out.stderr);

    // rejoin=rewind: the monitor fails with the reason, the restart
    // rewinds.
    let rewind = m2.param("rejoin", "rewind");
    let out = rewind.run("monitor");
    assert_rc(&out, 1);
    assert!(
        out.exit_reason().unwrap().contains("has not streamed"),
        "{out:?}"
    );
    let a2 = a2.param("rejoin", "rewind");
    assert_rc(&a2.run("stop"), 0);

    // A pg_rewind whose real run fails (its dry run passes) may leave the
    // data directory half rewound: the start fails, and the lock keeps the
    // standby from ever starting until a person rebuilds it.
    let tools = broken_pg_rewind(&n2.pg.bindir);
    let pgctl = tools.path().join("pg_ctl");
    let out = a2
        .clone()
        .param("pgctl", pgctl.to_str().unwrap())
        .run("start");
    assert_rc(&out, 1);
    assert!(
        out.exit_reason()
            .unwrap()
            .contains("rewind failed part way"),
        "{out:?}"
    );
    let lock = n2.pg.tmpdir().join("PGSQL.lock");
    assert!(lock.exists());
    assert!(!n2.pg.is_running());
    // Not even another rewind: the lock says why.
    let out = a2.run("start");
    assert_rc(&out, 1);
    assert!(
        out.exit_reason().unwrap().contains("failed part way"),
        "{out:?}"
    );
    assert!(!n2.pg.is_running());
    // The test's pg_rewind changed nothing: removing the lock stands in for
    // the rebuild.
    std::fs::remove_file(&lock).unwrap();

    let out = a2.run("start");
    assert_rc(&out, 0);
    assert!(
        out.stderr.contains("Rewound from the primary at"),
        "{}",
        out.stderr
    );
    assert!(!note.exists());
    assert!(
        wait_for(Duration::from_secs(30), || streaming(&n1)),
        "node2 does not stream from node1 after the rewind"
    );
    assert!(
        wait_for(Duration::from_secs(10), || rows(&n2) == "1,2"),
        "node2 has {:?}",
        rows(&n2)
    );
    // Streaming: the next monitor finds nothing to watch.
    assert_rc(&a2.clone().recurring().run("monitor"), 0);
    assert!(!note.exists());
}
