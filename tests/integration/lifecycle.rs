//! Stand-alone lifecycle: start, monitor, stop, idempotency and crashes.

use crate::harness::*;

#[test]
fn start_monitor_stop_cycle() {
    let pg = PgInstance::new();
    let agent = Agent::ours().on(&pg);
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
