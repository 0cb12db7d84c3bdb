//! `pgsql-ra check` against a real PostgreSQL 15: a correct setup is clean
//! (exit 0), and each planted misconfiguration is found (exit 1) by its id,
//! alone where that makes sense. The local node's name comes from a
//! `crm_node` stand-in found through `HA_SBIN_DIR`, as the agent's tools are.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::harness::{
    as_postgres, assert_rc, chown_r, pg_bindir, Agent, Outcome, PgInstance, PGDBA,
};

/// A primary as the resource describes it: tmpdir made, pg_hba.conf letting
/// the loopback network replicate. `conf` goes into postgresql.conf before
/// the start; `start` false leaves the server stopped.
fn node(conf: &str, start: bool) -> PgInstance {
    let inst = PgInstance::new();
    if !conf.is_empty() {
        inst.append_conf(conf);
    }
    let hba = inst.pgdata().join("pg_hba.conf");
    let mut text = std::fs::read_to_string(&hba).unwrap();
    text.push_str("host replication all 127.0.0.0/8 trust\n");
    std::fs::write(&hba, text).unwrap();
    std::fs::create_dir(inst.tmpdir()).unwrap();
    std::fs::set_permissions(inst.tmpdir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_r(&inst.tmpdir(), PGDBA);
    if start {
        inst.start_directly();
    }
    inst
}

/// A directory with a `crm_node` that prints `name`.
fn crm_node(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm_node");
    std::fs::write(&path, format!("#!/bin/sh\necho {name}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The resource's parameters for `inst` in sync mode, node1 being this node.
fn agent(inst: &PgInstance, sbin: &Path) -> Agent {
    Agent::ours()
        .on(inst)
        .param("rep_mode", "sync")
        .param("node_list", "node1 127.0.0.3")
        .param("master_ip", "127.0.0.4")
        .param("tmpdir", inst.tmpdir().to_str().unwrap())
        .env("HA_SBIN_DIR", sbin.to_str().unwrap())
}

/// The ids of the `FAIL id:` lines.
fn ids(out: &Outcome) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .filter_map(|l| l.split_once(':').map(|(id, _)| id.to_string()))
        .collect()
}

/// Asserts exit 1 and exactly the findings `expected` (in any order).
#[track_caller]
fn assert_found(out: &Outcome, expected: &[&str]) {
    assert_rc(out, 1);
    let mut got = ids(out);
    got.sort();
    got.dedup();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        got, want,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for l in out.stdout.lines().filter(|l| l.starts_with("FAIL ")) {
        assert!(!l.trim_end().ends_with(':'), "{l}");
    }
    assert!(out.stdout.contains("  why: ") && out.stdout.contains("  fix: "));
}

#[test]
fn correct_setup_is_clean() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path()).run("check");
    assert_rc(&out, 0);
    // Without a CIB resource: the parameters given (first line), then OK.
    assert!(
        out.stdout
            .starts_with("Checking the parameters of OCF_RESKEY_* and --param\nOK"),
        "{}",
        out.stdout
    );
    // Names are compared without case, as the agent does.
    let sbin = crm_node("NODE1");
    assert_rc(&agent(&inst, sbin.path()).run("check"), 0);
}

#[test]
fn wal_level_minimal() {
    let inst = node("wal_level = minimal\nmax_wal_senders = 0\n", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path()).run("check");
    // minimal needs max_wal_senders = 0, itself too small for one standby.
    assert_found(&out, &["wal-level", "max-wal-senders"]);
    assert!(out.stdout.contains("wal_level = replica"), "{}", out.stdout);
}

#[test]
fn max_wal_senders_too_small() {
    let inst = node("max_wal_senders = 2\n", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("node_list", "node1 127.0.0.3 127.0.0.5 127.0.0.6")
        .run("check");
    assert_found(&out, &["max-wal-senders"]);
    // Two others fit in two senders.
    let out = agent(&inst, sbin.path())
        .param("node_list", "node1 127.0.0.3 127.0.0.5")
        .run("check");
    assert_rc(&out, 0);
}

#[test]
fn max_replication_slots_too_small() {
    let inst = node("max_replication_slots = 0\n", true);
    let sbin = crm_node("node1");
    assert_rc(&agent(&inst, sbin.path()).run("check"), 0);
    let out = agent(&inst, sbin.path())
        .param("replication_slot_name", "pgsql_slot")
        .run("check");
    assert_found(&out, &["max-replication-slots"]);
}

#[test]
fn hot_standby_off() {
    let inst = node("hot_standby = off\n", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["hot-standby"]);
}

#[test]
fn rewind_without_hints_or_checksums() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("rejoin", "rewind")
        .run("check");
    assert_found(&out, &["wal-log-hints"]);
    let inst = node("wal_log_hints = on\n", true);
    let out = agent(&inst, sbin.path())
        .param("rejoin", "rewind")
        .run("check");
    assert_rc(&out, 0);
}

#[test]
fn hba_without_replication_line_for_a_node() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("node_list", "node1 127.0.0.3 10.254.1.7")
        .run("check");
    assert_found(&out, &["hba-replication"]);
    assert!(
        out.stdout
            .contains("host replication postgres 10.254.1.7/32"),
        "{}",
        out.stdout
    );
    // A reject line before the accepting one wins, as in the server.
    let hba = inst.pgdata().join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host replication all 127.0.0.4/32 reject\n{text}"),
    )
    .unwrap();
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["hba-replication"]);
    assert!(out.stdout.contains("rejects"), "{}", out.stdout);
}

#[test]
fn unresolvable_node_name() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("node_list", "node1 no-such-node.invalid")
        .run("check");
    assert_found(&out, &["node-unresolvable"]);
}

#[test]
fn archive_directory_missing_or_not_writable() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    let missing = inst.root.path().join("no-archive");
    let out = agent(&inst, sbin.path())
        .param(
            "restore_command",
            &format!("cp {}/%f %p", missing.display()),
        )
        .run("check");
    assert_found(&out, &["archive-dir"]);
    // Owned by root, mode 755: postgres cannot write there.
    let roots = inst.root.path().join("root-archive");
    std::fs::create_dir(&roots).unwrap();
    std::fs::set_permissions(&roots, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = agent(&inst, sbin.path())
        .param(
            "restore_command",
            &format!("cp '{}/%f' %p", roots.display()),
        )
        .run("check");
    assert_found(&out, &["archive-dir"]);
    assert!(out.stdout.contains("not writable"), "{}", out.stdout);
    // The archive command of the server, through archive-wal.
    chown_r(&roots, PGDBA);
    assert_rc(
        &agent(&inst, sbin.path())
            .param("restore_command", &format!("cp {}/%f %p", roots.display()))
            .run("check"),
        0,
    );
    let inst = node(
        &format!(
            "archive_mode = on\narchive_command = '/usr/sbin/pgsql-ra archive-wal \
             --archive-dir {} %p %f'\n",
            missing.display()
        ),
        true,
    );
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["archive-dir"]);
    assert!(out.stdout.contains("archive_command"), "{}", out.stdout);
}

#[test]
fn debian_start_conf_not_disabled() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    // Beside the configuration file the server reads (SHOW config_file).
    let start_conf = inst.pgdata().join("start.conf");
    std::fs::write(&start_conf, "# Automatic startup configuration\nauto\n").unwrap();
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["start-conf"]);
    std::fs::write(&start_conf, "disabled\n").unwrap();
    assert_rc(&agent(&inst, sbin.path()).run("check"), 0);
}

#[test]
fn local_node_not_in_node_list() {
    let inst = node("", true);
    let sbin = crm_node("node9");
    let out = agent(&inst, sbin.path()).run("check");
    // node1 is now another node: its name must resolve too.
    let got = ids(&out);
    assert_rc(&out, 1);
    assert!(got.contains(&"node-name".to_string()), "{}", out.stdout);
    assert!(
        out.stdout.contains("node_list=\"node1 127.0.0.3 node9\""),
        "{}",
        out.stdout
    );
}

#[test]
fn pgdata_and_tmpdir_owner_and_modes() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    std::fs::set_permissions(inst.pgdata(), std::fs::Permissions::from_mode(0o770)).unwrap();
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["pgdata-mode"]);
    std::fs::set_permissions(inst.pgdata(), std::fs::Permissions::from_mode(0o700)).unwrap();

    std::fs::set_permissions(inst.tmpdir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["tmpdir-mode"]);
    std::fs::set_permissions(inst.tmpdir(), std::fs::Permissions::from_mode(0o700)).unwrap();

    std::os::unix::fs::chown(inst.tmpdir(), Some(0), Some(0)).unwrap();
    let out = agent(&inst, sbin.path()).run("check");
    assert_found(&out, &["tmpdir-owner"]);

    let out = agent(&inst, sbin.path())
        .param("tmpdir", inst.root.path().join("no-tmp").to_str().unwrap())
        .run("check");
    assert_found(&out, &["tmpdir-missing"]);
}

#[test]
fn pgdata_owned_by_another_user() {
    let inst = node("", false);
    let sbin = crm_node("node1");
    std::os::unix::fs::chown(inst.pgdata(), Some(0), None).unwrap();
    let out = agent(&inst, sbin.path()).run("check");
    // Stopped: the server's side is unchecked, and says so.
    assert_found(&out, &["pgdata-owner", "server"]);
    chown_r(&inst.pgdata(), PGDBA);
}

#[test]
fn replication_user_missing() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("repuser", "no_such_role")
        .run("check");
    assert_found(&out, &["repuser"]);
    inst.psql("create role repl nologin").unwrap();
    let out = agent(&inst, sbin.path())
        .param("repuser", "repl")
        .run("check");
    assert_found(&out, &["repuser"]);
    inst.psql("alter role repl login replication").unwrap();
    assert_rc(
        &agent(&inst, sbin.path())
            .param("repuser", "repl")
            .run("check"),
        0,
    );
}

#[test]
fn bad_usage_is_2() {
    let out = Agent::ours().arg("--no-such-option").run("check");
    assert_rc(&out, 2);
    let out = Agent::ours().arg("--help").run("check");
    assert_rc(&out, 0);
    assert!(out.stdout.contains("--param"), "{}", out.stdout);
}

/// Every file under `dir`: contents, mode and owner.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32, u32)> {
    let mut all = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let bytes = if m.is_dir() {
                todo.push(p.clone());
                Vec::new()
            } else if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            all.insert(p, (bytes, m.mode(), m.uid()));
        }
    }
    all
}

#[test]
fn check_writes_nothing() {
    let inst = node("", true);
    let sbin = crm_node("node1");
    std::fs::write(
        inst.tmpdir().join("rep_mode.conf"),
        "synchronous_standby_names = ''\n",
    )
    .unwrap();
    chown_r(&inst.tmpdir(), PGDBA);
    // Settle what the server itself writes before the snapshot: the first
    // session in a database writes its relation cache file
    // (pg_internal.init), and check connects to pgdb, template1.
    let warm = as_postgres(
        &pg_bindir().join("psql"),
        &[
            "-h",
            inst.sockdir().to_str().unwrap(),
            "-p",
            &inst.port.to_string(),
            "-d",
            "template1",
            "-AtXc",
            "select 1",
        ],
    );
    assert!(warm.status.success());
    inst.psql("checkpoint").unwrap();
    let before = (snapshot(&inst.pgdata()), snapshot(&inst.tmpdir()));
    // Clean, and with findings (settings read, files, names).
    assert_rc(&agent(&inst, sbin.path()).run("check"), 0);
    let out = agent(&inst, sbin.path())
        .param("node_list", "node1 10.254.1.7 no-such-node.invalid")
        .param("rejoin", "rewind")
        .param("restore_command", "cp /nonexistent/%f %p")
        .run("check");
    assert_rc(&out, 1);
    let after = (snapshot(&inst.pgdata()), snapshot(&inst.tmpdir()));
    for (b, a) in [(&before.0, &after.0), (&before.1, &after.1)] {
        let changed: Vec<_> = b
            .keys()
            .chain(a.keys())
            .filter(|k| b.get(*k) != a.get(*k))
            .collect();
        assert!(changed.is_empty(), "changed by check: {changed:?}");
    }
}

#[test]
fn primary_at_master_ip_of_another_cluster() {
    // A primary at master_ip (127.0.0.5), and this node a standby of its
    // own, separately initialised cluster, on the same port.
    let port = PgInstance::fresh_port();
    let primary = PgInstance::primary("127.0.0.5", port);
    primary.start_directly();
    let mut inst = node(&format!("port = {port}\n"), false);
    inst.port = port;
    std::fs::write(inst.pgdata().join("standby.signal"), "").unwrap();
    chown_r(&inst.pgdata(), PGDBA);
    inst.start_directly();
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("master_ip", "127.0.0.5")
        .run("check");
    assert_found(&out, &["primary-mismatch"]);
    assert!(out.stdout.contains("system identifier"), "{}", out.stdout);
    // Refused for replication: said so.
    let hba = primary.pgdata().join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host replication all 127.0.0.0/8 reject\n{text}"),
    )
    .unwrap();
    primary.psql("select pg_reload_conf()").unwrap();
    let out = agent(&inst, sbin.path())
        .param("master_ip", "127.0.0.5")
        .run("check");
    assert_found(&out, &["primary-replication"]);
}

#[test]
fn pgsqlms_application_name() {
    let inst = node(
        "primary_conninfo = 'host=127.0.0.5 user=postgres application_name=node1'\n",
        true,
    );
    let paf = |name: &str| {
        let sbin = crm_node(name);
        Agent::ours()
            .param("pgdata", inst.pgdata().to_str().unwrap())
            .param("bindir", pg_bindir().to_str().unwrap())
            .param("pghost", inst.sockdir().to_str().unwrap())
            .param("pgport", &inst.port.to_string())
            .env("HA_SBIN_DIR", sbin.path().to_str().unwrap())
            .arg("--agent")
            .arg("pgsqlms")
            .run("check")
    };
    assert_rc(&paf("node1"), 0);
    // Names are compared as spelt, as pgsqlms compares them.
    let out = paf("Node1");
    assert_found(&out, &["application-name"]);
    assert!(
        out.stdout.contains("application_name=Node1"),
        "{}",
        out.stdout
    );
}

#[test]
fn master_ip_up_here_without_a_primary() {
    // A standby (of nothing) here, and master_ip one of this host's
    // addresses.
    let inst = node("", false);
    std::fs::write(inst.pgdata().join("standby.signal"), "").unwrap();
    chown_r(&inst.pgdata(), PGDBA);
    inst.start_directly();
    let sbin = crm_node("node1");
    let out = agent(&inst, sbin.path())
        .param("master_ip", "127.0.0.1")
        .run("check");
    assert_found(&out, &["master-ip-local"]);
    // The same address with the primary here is where it belongs.
    let inst = node("", true);
    let out = agent(&inst, sbin.path())
        .param("master_ip", "127.0.0.1")
        .run("check");
    assert_rc(&out, 0);
}
