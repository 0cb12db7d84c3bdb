//! Stand-alone lifecycle: start, monitor, stop, idempotency and crashes.

use crate::harness::*;

#[test]
fn start_monitor_stop_cycle() {
    start_monitor_stop_cycle_on(&PgInstance::new());
}

/// Stand-alone (rep_mode=none) start, monitor, stop and their idempotency on
/// a stopped instance of any major (shared with `versions.rs`).
pub(crate) fn start_monitor_stop_cycle_on(pg: &PgInstance) {
    let agent = Agent::ours().on(pg);
    assert_rc(&agent.clone().run("monitor"), 7);
    assert_rc(&agent.run("start"), 0);
    assert!(pg.is_running());
    assert_eq!(pg.psql("select 1").unwrap(), "1");
    assert_rc(&agent.clone().recurring().run("monitor"), 0);
    assert_rc(&agent.run("status"), 0);
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.run("stop"), 0);
    assert!(!pg.is_running());
    assert_rc(&agent.run("stop"), 0);
    assert_rc(&agent.clone().recurring().run("monitor"), 7);
    assert_rc(&agent.run("status"), 7);
}

#[test]
fn crash_then_monitor_reports_not_running_and_start_recovers() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg);
    assert_rc(&agent.run("start"), 0);
    pg.psql("create table t(x int); insert into t values (42)")
        .unwrap();
    pg.kill9();
    // The PID file is still there, its process is not.
    assert!(pg.pgdata().join("postmaster.pid").exists());
    assert_rc(&agent.clone().recurring().run("monitor"), 7);
    assert_rc(&agent.run("start"), 0);
    assert_eq!(pg.psql("select x from t").unwrap(), "42");
    assert_rc(&agent.run("stop"), 0);
}

#[test]
fn stop_after_crash_succeeds_and_start_works_again() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg);
    assert_rc(&agent.run("start"), 0);
    pg.kill9();
    assert_rc(&agent.run("stop"), 0);
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.run("stop"), 0);
    assert!(!pg.is_running());
}

/// Regression (reference defect §14.1 #5): a quote in monitor_sql was escaped
/// again on every retry, so start never saw the server come up.
#[test]
fn monitor_sql_with_quotes_works_on_start_and_monitor() {
    let pg = PgInstance::new();
    let agent = Agent::ours()
        .on(&pg)
        .param("monitor_sql", "select 'it''s alive';");
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.clone().recurring().run("monitor"), 0);
    assert_rc(&agent.run("stop"), 0);
}

#[test]
fn failing_monitor_sql_is_an_error_with_the_sqlstate() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg);
    assert_rc(&agent.run("start"), 0);
    let out = agent
        .clone()
        .recurring()
        .param("monitor_sql", "select * from no_such_table;")
        .run("monitor");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("42P01"), "{out:?}");
    assert_rc(&agent.run("stop"), 0);
}

/// A server that will never accept the monitor query (wrong database) must
/// fail the start at once with a reason, not hang until Pacemaker's timeout.
#[test]
fn start_with_missing_database_fails_fast_with_reason() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg).param("pgdb", "no_such_db");
    let out = agent.run("start");
    assert_rc(&out, 1);
    let reason = out.exit_reason().unwrap();
    assert!(
        reason.contains("3D000") && reason.contains("pgdb"),
        "{reason}"
    );
    assert_rc(&Agent::ours().on(&pg).run("stop"), 0);
}

/// A server that cannot start (bad option) ends the start with its log line
/// inside the operation timeout.
#[test]
fn start_that_cannot_succeed_reports_the_server_log() {
    let pg = PgInstance::new();
    let out = Agent::ours()
        .on(&pg)
        .param("start_opt", "-c shared_buffers=nonsense")
        .meta("timeout", "30000")
        .limit(std::time::Duration::from_secs(30))
        .run("start");
    assert_rc(&out, 1);
    let reason = out.exit_reason().unwrap();
    assert!(reason.contains("shared_buffers"), "{reason}");
    assert!(!pg.is_running());
}

/// A postmaster that is alive but frozen: monitor must not hang past its
/// timeout, and start must never remove the live server's PID file
/// (reference defect §14.1 #4).
#[test]
fn frozen_server_monitor_times_out_and_start_keeps_pid_file() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg).meta("timeout", "3000");
    assert_rc(&agent.run("start"), 0);
    let pid = pg.postmaster_pid().unwrap();
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    let t = std::time::Instant::now();
    let out = agent.clone().recurring().run("monitor");
    assert_rc(&out, 1);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    let out = agent.run("start");
    assert_rc(&out, 1);
    assert!(pg.pgdata().join("postmaster.pid").exists());
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status();
    assert_rc(&Agent::ours().on(&pg).run("stop"), 0);
}

/// stop_escalate=0 goes straight to an immediate shutdown.
#[test]
fn stop_escalate_zero_stops_immediately() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg).param("stop_escalate", "0");
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.run("stop"), 0);
    assert!(!pg.is_running());
    let log = std::fs::read_to_string(pg.logfile()).unwrap();
    assert!(log.contains("immediate shutdown request"), "{log}");
}

/// A running server is stopped even when the configuration has become
/// unusable (reference defect §14.1 #2: stop failed and the node was fenced).
#[test]
fn stop_with_missing_pg_ctl_still_stops_the_server() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg);
    assert_rc(&agent.run("start"), 0);
    let out = agent.clone().param("pgctl", "/no/such/pg_ctl").run("stop");
    assert_rc(&out, 0);
    assert!(!pg.is_running());
}

/// A probe on a node without the binaries must say "not running".
#[test]
fn probe_with_missing_binaries_is_not_running() {
    let pg = PgInstance::new();
    let out = Agent::ours()
        .on(&pg)
        .env("OCF_TESTER_FAIL_HAVE_BINARY", "1")
        .run("monitor");
    assert_rc(&out, 7);
    let out = Agent::ours()
        .on(&pg)
        .param("pgctl", "/no/such/pg_ctl")
        .param("config", "/no/such/postgresql.conf")
        .run("monitor");
    assert_rc(&out, 7);
}

/// The monitor user and password reach the server (md5 over TCP here).
#[test]
fn monitor_user_with_password_over_tcp() {
    let pg = PgInstance::new();
    pg.append_conf("listen_addresses = '127.0.0.1'\n");
    let hba = pg.pgdata().join("pg_hba.conf");
    let mut text = std::fs::read_to_string(&hba).unwrap();
    text = format!("host all monitor 127.0.0.1/32 scram-sha-256\n{text}");
    std::fs::write(&hba, text).unwrap();
    let agent = Agent::ours().on(&pg);
    assert_rc(&agent.run("start"), 0);
    pg.psql("create role monitor login password 's3cr''et'")
        .unwrap();
    let mon = agent
        .clone()
        .recurring()
        .param("pghost", "127.0.0.1")
        .param("monitor_user", "monitor");
    assert_rc(
        &mon.clone()
            .param("monitor_password", "s3cr'et")
            .run("monitor"),
        0,
    );
    let out = mon.param("monitor_password", "wrong").run("monitor");
    assert_rc(&out, 1);
    assert!(out.exit_reason().unwrap().contains("28P01"), "{out:?}");
    assert_rc(&agent.run("stop"), 0);
}

/// Log lines go to HA_LOGFILE in ocf_log's format when it is set.
#[test]
fn logs_to_ha_logfile() {
    let pg = PgInstance::new();
    let log = pg.root.path().join("agent.log");
    let agent = Agent::ours()
        .on(&pg)
        .env("HA_LOGFILE", log.to_str().unwrap());
    assert_rc(&agent.run("start"), 0);
    assert_rc(&agent.run("stop"), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("pgsql(pgsql)["), "{text}");
    assert!(text.contains("INFO: PostgreSQL is started."), "{text}");
}
