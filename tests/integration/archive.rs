//! `pgsql-ra archive-wal` as a real server's `archive_command`: a segment
//! enters the archive only once a standby that could be promoted flushed it,
//! a file already in the archive with other contents is never replaced, and
//! root is refused (docs/architecture.md, "The WAL archive"). On 15, 10 and
//! 18 (the oldest and newest majors: `pg_stat_replication.flush_lsn`,
//! `pg_size_bytes`, recovery.conf against standby.signal).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;
use crate::replication::{cold_pair, Node, ADDR1};

fn sql(node: &Node, q: &str) -> String {
    node.pg
        .psql(q)
        .unwrap_or_else(|e| panic!("{}: {q}: {e}", node.name))
}

/// Some WAL (a non-transactional message: no commit to wait for, even
/// with a synchronous standby missing), then a switch to the next segment;
/// returns the segment just completed.
fn complete_a_segment(node: &Node) -> String {
    sql(
        node,
        "select pg_logical_emit_message(false, 'pgsql-ra', 'archive test')",
    );
    let seg = sql(node, "select pg_walfile_name(pg_current_wal_insert_lsn())");
    sql(node, "select pg_switch_wal()");
    seg
}

/// `last_archived_wal` or `last_failed_wal` reaches `seg` within 90 s
/// (a failed archive is retried at the next segment switch, or after 60 s).
#[track_caller]
fn wait_archiver(node: &Node, column: &str, seg: &str) {
    let q = format!("select coalesce({column}, '') from pg_stat_archiver");
    let ok = wait_for(Duration::from_secs(90), || {
        node.pg.psql(&q).map(|v| v == seg).unwrap_or(false)
    });
    assert!(
        ok,
        "{}: {column} never became {seg}: {}\n{}",
        node.name,
        sql(node, "select * from pg_stat_archiver"),
        std::fs::read_to_string(node.pg.logfile()).unwrap_or_default()
    );
}

fn log_of(node: &Node) -> String {
    std::fs::read_to_string(node.pg.logfile()).unwrap_or_default()
}

/// The server log says `needle` within 90 s (a segment is also refused for
/// a moment when the archiver is faster than the standby's flush: the
/// archiver's retry then archives it).
#[track_caller]
fn wait_log(node: &Node, needle: &str) {
    let ok = wait_for(Duration::from_secs(90), || log_of(node).contains(needle));
    assert!(
        ok,
        "{}: the log never said {needle:?}:\n{}",
        node.name,
        log_of(node)
    );
}

fn archive_command_scenario(bindir: &Path) {
    let (n1, n2) = cold_pair(bindir);
    // The binary where the PostgreSQL user can run it, and the archive.
    let bin = n1.pg.root.path().join("pgsql-ra");
    std::fs::copy(our_binary(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let archive: PathBuf = n1.pg.root.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    chown_r(&archive, PGDBA);
    let command = format!(
        "archive_mode = on\narchive_command = '{} archive-wal --archive-dir {} --timeout 20 %p %f'\n",
        bin.display(),
        archive.display()
    );
    n1.pg.append_conf(&command);
    n2.pg.append_conf(&command);
    // Sync mode, as the agent runs it: node2 named.
    n1.pg.append_conf("synchronous_standby_names = 'node2'\n");
    n1.pg.start_directly();
    let major = n1.pg.major();

    // No standby while one is named (commits wait): the segment waits too,
    // nothing enters the archive.
    let first = complete_a_segment(&n1);
    wait_log(
        &n1,
        &format!("{first} not archived yet: no standby that could be promoted"),
    );
    wait_archiver(&n1, "last_failed_wal", &first);
    assert!(!archive.join(&first).exists());

    // The synchronous standby streams and flushes it: archived, byte for
    // byte.
    let conninfo = format!(
        "host={ADDR1} port={} user={PGDBA} application_name=node2",
        n1.pg.port
    );
    if major >= 12 {
        n2.pg
            .append_conf(&format!("primary_conninfo = '{conninfo}'\n"));
        std::fs::write(n2.pg.pgdata().join("standby.signal"), "").unwrap();
    } else {
        std::fs::write(
            n2.pg.pgdata().join("recovery.conf"),
            format!("standby_mode = 'on'\nprimary_conninfo = '{conninfo}'\n"),
        )
        .unwrap();
    }
    chown_r(&n2.pg.pgdata(), PGDBA);
    n2.pg.start_directly();
    assert!(
        wait_for(Duration::from_secs(30), || {
            n1.pg
                .psql("select count(*) from pg_stat_replication where state = 'streaming'")
                .is_ok_and(|c| c == "1")
        }),
        "node2 never streamed"
    );
    let second = complete_a_segment(&n1);
    wait_archiver(&n1, "last_archived_wal", &second);
    let archived = std::fs::read(archive.join(&first)).unwrap();
    if let Ok(original) = std::fs::read(n1.pg.pgdata().join("pg_wal").join(&first)) {
        assert!(archived == original, "{first} archived with other bytes");
    }

    // A different file under the next name: refused, left as it was.
    let next = sql(&n1, "select pg_walfile_name(pg_current_wal_insert_lsn())");
    std::fs::write(archive.join(&next), b"another history").unwrap();
    assert_eq!(complete_a_segment(&n1), next);
    wait_log(
        &n1,
        &format!("{next} is already in the archive with other contents"),
    );
    assert_eq!(
        std::fs::read(archive.join(&next)).unwrap(),
        b"another history"
    );
    // The operator removes it: the next wake archives both.
    std::fs::remove_file(archive.join(&next)).unwrap();
    let woken = complete_a_segment(&n1);
    wait_archiver(&n1, "last_archived_wal", &woken);
    assert!(archive.join(&next).exists());

    // Sync mode: an asynchronous standby is not enough ...
    n1.pg
        .append_conf("synchronous_standby_names = 'elsewhere'\n");
    sql(&n1, "select pg_reload_conf()");
    let held = complete_a_segment(&n1);
    let refused = format!("{held} not archived yet");
    wait_log(&n1, &refused);
    // Even once the asynchronous standby has flushed it all, the next try
    // refuses it again.
    assert!(wait_for(Duration::from_secs(30), || {
        n1.pg
            .psql("select flush_lsn >= pg_current_wal_lsn() from pg_stat_replication")
            .is_ok_and(|v| v == "t")
    }));
    let before = log_of(&n1).matches(&refused).count();
    complete_a_segment(&n1);
    assert!(wait_for(Duration::from_secs(90), || {
        log_of(&n1).matches(&refused).count() > before
    }));
    assert!(!archive.join(&held).exists());
    // ... the synchronous one is.
    n1.pg.append_conf("synchronous_standby_names = 'node2'\n");
    sql(&n1, "select pg_reload_conf()");
    assert!(wait_for(Duration::from_secs(30), || {
        n1.pg
            .psql("select sync_state from pg_stat_replication")
            .is_ok_and(|s| s == "sync")
    }));
    let after = complete_a_segment(&n1);
    wait_archiver(&n1, "last_archived_wal", &after);
    assert!(archive.join(&held).exists() && archive.join(&after).exists());

    // Alone with no synchronous standby named (what the agent does with
    // quorum and no standby left): commits are acknowledged by this node
    // alone, and the archive is their second copy.
    n2.pg.stop_directly();
    n1.pg.append_conf("synchronous_standby_names = ''\n");
    sql(&n1, "select pg_reload_conf()");
    assert!(wait_for(Duration::from_secs(30), || {
        n1.pg
            .psql("select count(*) from pg_stat_replication")
            .is_ok_and(|c| c == "0")
    }));
    let alone = complete_a_segment(&n1);
    wait_archiver(&n1, "last_archived_wal", &alone);
    n1.pg.stop_directly();
}

#[test]
fn archive_wal_waits_for_a_promotable_standby_and_never_replaces_pg15() {
    archive_command_scenario(&pg_bindir());
}

#[test]
fn archive_wal_waits_for_a_promotable_standby_and_never_replaces_pg10() {
    archive_command_scenario(&versioned_bindir(10));
}

#[test]
fn archive_wal_waits_for_a_promotable_standby_and_never_replaces_pg18() {
    archive_command_scenario(&versioned_bindir(18));
}

#[test]
fn archive_wal_refuses_root_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(our_binary())
            .arg("archive-wal")
            .arg("--archive-dir")
            .arg(dir.path())
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    };
    let out = run(&[
        "pg_wal/000000010000000000000001",
        "000000010000000000000001",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not run as root"),
        "{out:?}"
    );
    let out = run(&["pg_wal/x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
