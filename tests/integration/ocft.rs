//! resource-agents' own tests, run against our binary.
//!
//! The eleven cases of `tools/ocft/pgsql` (spec §16.1), one test each and
//! named after the ocft case. As in ocft, every case runs with
//! `OCF_RESKEY_CRM_meta_timeout=15000` and starts with a `stop`
//! (`CASE-BLOCK prepare`), and `monitor` is run without an interval (ocft
//! sets none). Then the generic `ocf-tester`, which must pass outright: it
//! is the check a packager or an administrator runs first.

use std::process::{Command, Stdio};

use crate::harness::*;

/// `CASE-BLOCK prepare`: the instance's parameters, the ocft timeout, and a
/// `stop` to begin from a known state.
fn prepare(pg: &PgInstance) -> Agent {
    let agent = Agent::ours().on(pg).meta("timeout", "15000");
    assert_rc(&agent.run("stop"), 0);
    assert!(!pg.is_running());
    agent
}

/// "check base env"
#[test]
fn check_base_env() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("start"), 0);
    assert!(pg.is_running());
}

/// "check base env: invalid 'OCF_RESKEY_pgctl'"
#[test]
fn check_base_env_invalid_pgctl() {
    let pg = PgInstance::new();
    let out = prepare(&pg).param("pgctl", "no_such").run("start");
    assert_rc(&out, 5);
    let reason = out.exit_reason().unwrap_or_default();
    assert!(
        reason.contains("couldn't find command: no_such"),
        "{reason}"
    );
    assert!(!pg.is_running());
}

/// "normal start"
#[test]
fn normal_start() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("start"), 0);
    assert!(pg.is_running());
    assert_eq!(pg.psql("select 1").unwrap(), "1");
}

/// "normal stop"
#[test]
fn normal_stop() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.run("stop"), 0);
    assert!(!pg.is_running());
}

/// "double start"
#[test]
fn double_start() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("start"), 0);
    let pid = pg.postmaster_pid();
    assert_rc(&agent.run("start"), 0);
    assert!(pg.is_running());
    assert_eq!(
        pg.postmaster_pid(),
        pid,
        "the second start restarted the server"
    );
}

/// "double stop": `prepare` stopped it already.
#[test]
fn double_stop() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("stop"), 0);
    assert!(!pg.is_running());
}

/// "running monitor"
#[test]
fn running_monitor() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.run("monitor"), 0);
}

/// "not running monitor"
#[test]
fn not_running_monitor() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    assert_rc(&agent.run("monitor"), 7);
}

/// "unimplemented command"
#[test]
fn unimplemented_command() {
    let pg = PgInstance::new();
    let agent = prepare(&pg);
    let out = agent.run("no_cmd");
    assert_rc(&out, 3);
    assert!(!pg.is_running());
}

/// "non-existent user"
#[test]
fn non_existent_user() {
    let pg = PgInstance::new();
    let out = prepare(&pg).param("pgdba", "no_user").run("start");
    assert_rc(&out, 5);
    let reason = out.exit_reason().unwrap_or_default();
    assert!(reason.contains("User no_user doesn't exist"), "{reason}");
    assert!(!pg.is_running());
}

/// "invalid user": `nobody` exists but cannot write the data directory.
#[test]
fn invalid_user() {
    let pg = PgInstance::new();
    let out = prepare(&pg).param("pgdba", "nobody").run("start");
    assert_rc(&out, 4);
    let reason = out.exit_reason().unwrap_or_default();
    assert!(reason.contains("not writable by nobody"), "{reason}");
    assert!(!pg.is_running());
}

const OCF_TESTER: &str = "/usr/sbin/ocf-tester";

/// The generic OCF compliance run, straight at our binary (any name but
/// `pgsqlms` is the `pgsql` personality). Every check must pass: meta-data
/// against ra-api-1.dtd, probes with binaries "missing", start/stop
/// idempotency, and promote/demote answering 3 for a primitive.
#[test]
fn ocf_tester_passes_all_tests() {
    assert!(
        std::path::Path::new(OCF_TESTER).exists(),
        "{OCF_TESTER} is not installed: install Debian's resource-agents package \
         (apt-get install resource-agents) to run this test"
    );
    let pg = PgInstance::new();
    let agent = our_binary();
    assert!(agent.is_absolute(), "{}", agent.display());
    let mut cmd = Command::new(OCF_TESTER);
    cmd.env_clear()
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .args(["-n", "pgsql"]);
    for (k, v) in pg.params() {
        cmd.arg("-o").arg(format!("{k}={v}"));
    }
    let out = cmd.arg(&agent).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("passed all tests"),
        "ocf-tester failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(!pg.is_running(), "ocf-tester ends with a stop");
}
