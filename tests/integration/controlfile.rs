//! The agent's own reader of `global/pg_control` (src/pg/controlfile.rs,
//! included here as it is) against real servers of every major from 10 to
//! 18: what it reads must be what the server itself says while running
//! (`pg_control_system()`, `pg_control_checkpoint()`, `pg_control_init()`,
//! `SHOW`), what `pg_controldata` of that major prints where a build of it
//! can be had (none for 10 and 12, the reason the reader exists), and the
//! states of the ways an instance ends: a clean stop of a primary (`shut
//! down`) and of a standby (`shut down in recovery`), a kill -9 of a primary
//! (`in production`). A file with one byte changed is refused, naming its
//! version. The binaries come from `tests/pg-versions` as in `versions.rs`.
//!
//! The WAL reader of PAF's switchover check (src/pg/walrecord.rs, included
//! too) on the same majors: after a checkpoint, writes that log full-page
//! images (records longer than a page), a WAL switch and a clean stop, it
//! must read every record from that checkpoint's REDO point to the end of
//! the shutdown checkpoint, as `pg_waldump` lists them where one exists,
//! and find the shutdown checkpoint where the control file says it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::*;

#[allow(dead_code)]
#[path = "../../src/pg/controlfile.rs"]
mod native;

#[allow(dead_code)]
#[path = "../../src/pg/walrecord.rs"]
mod wal;

use native::{decode, state_text, wal_level_text, ControlFile, Decode};

/// The server binaries of `major`: Debian's for 15.
fn bindir_of(major: u32) -> PathBuf {
    if major == 15 {
        pg_bindir()
    } else {
        versioned_bindir(major)
    }
}

/// A `pg_controldata` of `major`, where one exists (module comment).
fn tool_of(major: u32) -> Option<PathBuf> {
    let paf = std::env::var_os(format!("PGRA_PG{major}_PAF_BINDIR"))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    paf.into_iter()
        .chain([bindir_of(major)])
        .map(|d| d.join("pg_controldata"))
        .find(|t| t.is_file())
}

fn read(pgdata: &Path) -> Vec<u8> {
    std::fs::read(pgdata.join("global").join("pg_control")).unwrap()
}

fn native_of(pgdata: &Path) -> ControlFile {
    decode(&read(pgdata)).unwrap_or_else(|e| panic!("{}: {e:?}", pgdata.display()))
}

fn lsn(text: &str) -> u64 {
    let (hi, lo) = text.trim().split_once('/').unwrap();
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

/// One row of a set-returning SQL function, by column name.
fn row(pg: &PgInstance, function: &str) -> BTreeMap<String, String> {
    let json = pg
        .psql(&format!("select row_to_json(f) from {function}() f"))
        .unwrap();
    parse_json_object(&json)
}

/// A flat JSON object of scalars as text (what `row_to_json` prints).
fn parse_json_object(json: &str) -> BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// What `pg_controldata` prints, by label.
fn controldata(tool: &Path, pgdata: &Path) -> BTreeMap<String, String> {
    let out = as_postgres(tool, &[pgdata.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The native read equals the tool's on every field the agent uses.
fn same_as_tool(major: u32, pgdata: &Path) {
    let Some(tool) = tool_of(major) else {
        return;
    };
    let f = native_of(pgdata);
    let t = controldata(&tool, pgdata);
    let lsn_of = |label: &str| lsn(&t[label]);
    assert_eq!(t["pg_control version number"], f.version.to_string());
    assert_eq!(
        t["Database system identifier"],
        f.system_identifier.to_string()
    );
    assert_eq!(t["Database cluster state"], state_text(f.state));
    assert_eq!(lsn_of("Latest checkpoint location"), f.checkpoint);
    assert_eq!(lsn_of("Latest checkpoint's REDO location"), f.redo);
    assert_eq!(t["Latest checkpoint's TimeLineID"], f.timeline.to_string());
    assert_eq!(t["wal_level setting"], wal_level_text(f.wal_level));
    assert_eq!(
        t["wal_log_hints setting"],
        if f.wal_log_hints { "on" } else { "off" }
    );
    assert_eq!(
        t["Data page checksum version"],
        f.data_checksum_version.to_string()
    );
}

/// The `pg_control_version` each major writes.
fn expected_version(major: u32) -> u32 {
    match major {
        10 => 1002,
        11 => 1100,
        12 => 1201,
        13..=16 => 1300,
        17 => 1700,
        18 => 1800,
        _ => panic!("no pg_control_version known for {major}"),
    }
}

fn control_file_of(major: u32) {
    let pg = PgInstance::new_with(&bindir_of(major));
    assert_eq!(pg.major(), major);
    // Settings that differ from initdb's on every other major, so that each
    // field is seen with two values (18 turns data checksums on itself).
    let odd = major % 2 == 1;
    if odd {
        pg.append_conf("wal_level = logical\nwal_log_hints = on\n");
    }
    let initdb = native_of(&pg.pgdata());
    assert_eq!(state_text(initdb.state), "shut down");
    assert_eq!(initdb.version, expected_version(major));
    same_as_tool(major, &pg.pgdata());

    // Running: the file, after a checkpoint, against the server's view.
    pg.start_directly();
    let system = row(&pg, "pg_control_system");
    pg.psql("checkpoint").unwrap();
    let ckpt = row(&pg, "pg_control_checkpoint");
    let init = row(&pg, "pg_control_init");
    let running = native_of(&pg.pgdata());
    assert_eq!(state_text(running.state), "in production");
    assert_eq!(
        system["pg_control_version"],
        running.version.to_string(),
        "{system:?}"
    );
    assert_eq!(
        system["system_identifier"],
        running.system_identifier.to_string()
    );
    assert_eq!(lsn(&ckpt["checkpoint_lsn"]), running.checkpoint, "{ckpt:?}");
    assert_eq!(lsn(&ckpt["redo_lsn"]), running.redo, "{ckpt:?}");
    assert_eq!(ckpt["timeline_id"], running.timeline.to_string());
    assert_eq!(
        init["data_page_checksum_version"],
        running.data_checksum_version.to_string(),
        "{init:?}"
    );
    assert_eq!(
        pg.psql("show wal_level").unwrap(),
        wal_level_text(running.wal_level)
    );
    assert_eq!(
        pg.psql("show wal_log_hints").unwrap(),
        if running.wal_log_hints { "on" } else { "off" }
    );
    assert_eq!(running.wal_log_hints, odd);
    assert_eq!(
        wal_level_text(running.wal_level),
        if odd { "logical" } else { "replica" }
    );
    same_as_tool(major, &pg.pgdata());

    // A clean stop: the shutdown checkpoint, its own REDO point.
    pg.stop_cleanly();
    let stopped = native_of(&pg.pgdata());
    assert_eq!(state_text(stopped.state), "shut down");
    assert!(stopped.checkpoint > running.checkpoint);
    assert_eq!(stopped.redo, stopped.checkpoint);
    assert_eq!(stopped.timeline, 1);
    assert_eq!(stopped.system_identifier, running.system_identifier);
    same_as_tool(major, &pg.pgdata());

    // A cold copy started as a standby (no primary to stream from: it
    // stays in recovery), then stopped cleanly.
    // The primary's port, which it does not use while stopped.
    let standby = PgInstance::cold_copy_of(&pg, "");
    if major >= 12 {
        std::fs::write(standby.pgdata().join("standby.signal"), "").unwrap();
    } else {
        std::fs::write(
            standby.pgdata().join("recovery.conf"),
            "standby_mode = 'on'\n",
        )
        .unwrap();
    }
    chown_r(&standby.pgdata(), PGDBA);
    standby.start_directly();
    assert!(wait_for(std::time::Duration::from_secs(20), || standby
        .psql("select pg_is_in_recovery()")
        .is_ok_and(|r| r == "t")));
    // The restartpoint that makes the control file say so.
    assert_eq!(
        state_text(native_of(&standby.pgdata()).state),
        "in archive recovery"
    );
    standby.stop_cleanly();
    let s = native_of(&standby.pgdata());
    assert_eq!(state_text(s.state), "shut down in recovery");
    assert_eq!(s.system_identifier, stopped.system_identifier);
    same_as_tool(major, &standby.pgdata());

    // A primary killed: `in production` stays.
    pg.start_directly();
    pg.psql("create table t(x int); insert into t values (1)")
        .unwrap();
    pg.kill9();
    let killed = native_of(&pg.pgdata());
    assert_eq!(state_text(killed.state), "in production");
    same_as_tool(major, &pg.pgdata());

    // One byte changed anywhere in the struct: refused, naming the version.
    let bytes = read(&pg.pgdata());
    for off in [0usize, 16, 33, 60, 170, 250] {
        let mut bad = bytes.clone();
        bad[off] ^= 0x10;
        match decode(&bad) {
            Err(Decode::Invalid(why)) => assert!(
                why.contains("CRC-32C mismatch")
                    && why.contains(&format!("pg_control version {}", expected_version(major))),
                "{why}"
            ),
            other => panic!("byte {off} changed: {other:?}"),
        }
    }
    assert!(matches!(decode(&bytes[..200]), Err(Decode::Invalid(_))));
}

fn read_at_most(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut b = std::fs::read(path)?;
    b.truncate(max as usize);
    Ok(b)
}

/// The positions of the records `pg_waldump` lists from `start` to `end`.
fn waldump_lsns(tool: &Path, pgdata: &Path, start: u64, end: u64) -> Vec<u64> {
    let out = as_postgres(
        tool,
        &[
            "--path",
            pgdata.join("pg_wal").to_str().unwrap(),
            "--timeline",
            "1",
            "--start",
            &wal::fmt_lsn(start),
            "--end",
            &wal::fmt_lsn(end),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("lsn: ")?.1;
            Some(lsn(rest.split(',').next()?))
        })
        .collect()
}

fn wal_of(major: u32) {
    let pg = PgInstance::new_with(&bindir_of(major));
    // The segments from the first checkpoint on stay after the last one.
    pg.append_conf(if major >= 13 {
        "wal_keep_size = '256MB'\n"
    } else {
        "wal_keep_segments = 16\n"
    });
    pg.start_directly();
    pg.psql("create table t(x int, pad text); insert into t select g, repeat('x', 500) from generate_series(1, 2000) g")
        .unwrap();
    pg.psql("checkpoint").unwrap();
    let ckpt = row(&pg, "pg_control_checkpoint");
    let (redo, online) = (lsn(&ckpt["redo_lsn"]), lsn(&ckpt["checkpoint_lsn"]));
    // Full-page images (one per page changed after the checkpoint).
    pg.psql("update t set x = x + 1 where x % 10 = 0").unwrap();
    pg.psql("select pg_switch_wal()").unwrap();
    pg.psql("insert into t values (0, repeat('y', 5000))")
        .unwrap();
    pg.stop_cleanly();
    let control = native_of(&pg.pgdata());
    let mut w = wal::Wal::open(&pg.pgdata().join("pg_wal"), 1, read_at_most).unwrap();

    let shutdown = w.record_at(control.checkpoint).unwrap();
    assert!(shutdown.is_shutdown_checkpoint_of(1));
    assert_eq!(shutdown.checkpoint(), Some((true, control.checkpoint, 1)));

    let recs = w.records(redo, shutdown.end).unwrap();
    assert_eq!(recs.last(), Some(&shutdown));
    assert!(
        recs.iter().any(|r| r.end - r.lsn > 8192),
        "no record longer than a page"
    );
    assert!(
        recs.iter()
            .any(|r| r.rmid == wal::RM_XLOG && r.info & 0xF0 == wal::XLOG_SWITCH),
        "no WAL switch"
    );
    assert_eq!(
        recs.iter()
            .filter(|r| r.is_shutdown_checkpoint_of(1))
            .count(),
        1
    );
    // The online checkpoint: not a shutdown one.
    let online = w.record_at(online).unwrap();
    assert_eq!(online.checkpoint(), Some((false, redo, 1)));
    // Past the end of the WAL: refused.
    assert!(w.record_at(shutdown.next()).is_err());

    if let Some(tool) = tool_of(major).map(|t| t.with_file_name("pg_waldump")) {
        if tool.is_file() {
            let theirs = waldump_lsns(&tool, &pg.pgdata(), redo, shutdown.end);
            let ours: Vec<u64> = recs.iter().map(|r| r.lsn).collect();
            assert_eq!(ours, theirs);
        }
    }
}

macro_rules! control_file_tests {
    ($($major:literal => $name:ident, $wal:ident;)*) => {$(
        #[test]
        fn $name() {
            control_file_of($major);
        }
        #[test]
        fn $wal() {
            wal_of($major);
        }
    )*};
}

control_file_tests! {
    10 => pg10_control_file, pg10_wal_records;
    11 => pg11_control_file, pg11_wal_records;
    12 => pg12_control_file, pg12_wal_records;
    13 => pg13_control_file, pg13_wal_records;
    14 => pg14_control_file, pg14_wal_records;
    15 => pg15_control_file, pg15_wal_records;
    16 => pg16_control_file, pg16_wal_records;
    17 => pg17_control_file, pg17_wal_records;
    18 => pg18_control_file, pg18_wal_records;
}
