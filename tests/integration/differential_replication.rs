//! Differential replication scenarios: the same Pacemaker-like transitions
//! (scenario.rs) run on a cluster of stock `ocf:heartbeat:pgsql` agents
//! (Debian resource-agents 4.12) and on a cluster of ours, each on fresh
//! PostgreSQL 15 instances, and the traces are compared step by step: exit
//! codes, every attribute in the store, the generated files and the
//! servers' states. A mixed cluster (stock agent on node1, ours on node2 and
//! node3) runs the failover scenario too and must behave like the stock one.
//!
//! Every difference is either listed below as an explicit (ours, stock)
//! pair citing its row of docs/compatibility.md, or fails the test; every
//! listed difference must also be observed, so the list stays honest.
//!
//! What PostgreSQL itself does decides some outcomes, so it is worth
//! stating: with the reference's one-name `synchronous_standby_names =
//! '"nodeX"'`, PostgreSQL reports every other standby as `async`, never as
//! `potential` (that needs a list with more names than the number of
//! synchronous standbys). The third node of a sync cluster is therefore
//! `STREAMING|ASYNC` / `HS:async` with score `-INFINITY`, with either agent,
//! and `HS:potential` cannot occur; when the synchronous standby goes, the
//! async one is made synchronous at once (the primary's post-stop
//! notification) and gets 100 at the next monitor.

use crate::scenario::*;

const STOCK3: [Kind; 3] = [Kind::Stock, Kind::Stock, Kind::Stock];
const OURS3: [Kind; 3] = [Kind::Ours, Kind::Ours, Kind::Ours];
/// Stock on node1 (the first primary), ours on the others.
const MIXED3: [Kind; 3] = [Kind::Stock, Kind::Ours, Kind::Ours];
/// Stock on node1 and node3: every attribute crosses between the agents
/// (the stock node3 checks ours' node2 baseline in pre-promote and is
/// controlled by it after the failover).
const MIXED3B: [Kind; 3] = [Kind::Stock, Kind::Ours, Kind::Stock];
const STOCK2: [Kind; 2] = [Kind::Stock, Kind::Stock];
const OURS2: [Kind; 2] = [Kind::Ours, Kind::Ours];

// ---------------------------------------------------------------------------
// The listed divergences

/// A `name = 'value'` file (recovery.conf) as settings: quotes and
/// surrounding blanks of values dropped, conninfo words normalised.
fn canon_settings(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(|v| v.replace("''", "'"))
                .unwrap_or_else(|| v.to_string());
            let words: Vec<&str> = v.split_whitespace().collect();
            format!("{}={}", k.trim(), words.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The file-level differences of a node running ours (`sync`: rep_mode
/// sync, which has a rep_mode.conf).
fn file_divergences(node: &str, sync: bool) -> Vec<Divergence> {
    let mut v = vec![
        // compat #29j (and #29d): no blank before the closing quote of
        // primary_conninfo when primary_conninfo_opt is empty; the same
        // settings once parsed.
        Divergence::same(
            &format!("file {node} recovery.conf"),
            canon_settings,
            "compat #29j: no trailing blank in primary_conninfo",
        ),
        // compat #29d: written mode 0600, owned by pgdba.
        Divergence::values(
            &format!("mode {node} recovery.conf"),
            Some("600 postgres"),
            Some("644 postgres"),
            "compat #29d: recovery settings mode 0600",
        ),
    ];
    if !sync {
        return v;
    }
    v.extend([
        // compat #29i: rep_mode.conf is written with the same care.
        Divergence::values(
            &format!("mode {node} rep_mode.conf"),
            Some("600 postgres"),
            Some("644 postgres"),
            "compat #29i: rep_mode.conf mode 0600",
        ),
        // compat #29i: validation (the first probe) adds the include of
        // rep_mode.conf to postgresql.conf; ours creates the (empty) file
        // with it, the reference only at start, leaving an include of a
        // missing file in between.
        Divergence::values(
            &format!("file {node} rep_mode.conf"),
            Some("synchronous_standby_names = ''\n"),
            None,
            "compat #29i: rep_mode.conf created with its include",
        )
        .at(&["probe"]),
        Divergence::values(
            &format!("mode {node} rep_mode.conf"),
            Some("600 postgres"),
            None,
            "compat #29i: rep_mode.conf created with its include",
        )
        .at(&["probe"]),
    ]);
    v
}

fn ours_nodes(kinds: &[Kind]) -> Vec<&'static str> {
    kinds
        .iter()
        .zip(NAMES)
        .filter(|(k, _)| **k == Kind::Ours)
        .map(|(_, n)| n)
        .collect()
}

fn files_of(kinds: &[Kind]) -> Vec<Divergence> {
    ours_nodes(kinds)
        .into_iter()
        .flat_map(|n| file_divergences(n, true))
        .collect()
}

// ---------------------------------------------------------------------------
// Scenario building blocks

/// The node with the highest positive promotion score (ties: node order):
/// the node Pacemaker promotes.
fn best_candidate(c: &Cluster) -> Option<String> {
    let mut best: Option<(i64, String)> = None;
    for n in c.names() {
        let score = match c.fc.attr(&n, "reboot", "master-pgsql").as_deref() {
            Some("-INFINITY") | None => continue,
            Some("INFINITY") => i64::MAX,
            Some(v) => v.parse().unwrap_or(0),
        };
        if score > 0 && best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, n));
        }
    }
    best.map(|(_, n)| n)
}

/// The standby with score 100 (the synchronous one).
fn sync_standby(c: &Cluster, primary: &str) -> Option<String> {
    c.names()
        .into_iter()
        .filter(|n| n != primary)
        .find(|n| c.fc.attr(n, "reboot", "master-pgsql").as_deref() == Some("100"))
}

/// Election rounds (a recurring monitor of every running node per round)
/// until a node asks to be promoted, at most `max_rounds`; then its
/// promotion. Returns the new primary, `None` if nobody won.
fn elect_and_promote(c: &mut Cluster, max_rounds: usize) -> Option<String> {
    let mut winner = None;
    for round in 1..=max_rounds {
        winner = best_candidate(c);
        if winner.is_some() {
            break;
        }
        c.monitor_all(&format!("election round {round}"), 1);
        winner = best_candidate(c);
    }
    c.decide("winner", winner.as_deref().unwrap_or("nobody"));
    let winner = winner?;
    c.promote("promote the winner", &winner);
    Some(winner)
}

/// Cold start: probes, one transition starting every node, the election,
/// the promotion, and the primary's first monitor choosing the synchronous
/// standby. Returns the primary.
fn bootstrap(c: &mut Cluster) -> Option<String> {
    let all = c.names();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    c.probe_all("probe");
    c.start("start all", &refs);
    let primary = elect_and_promote(c, 4)?;
    let others: Vec<&str> = refs.iter().copied().filter(|n| *n != primary).collect();
    c.wait_streaming(&others);
    c.monitor("first primary monitor", &primary);
    c.monitor_all("monitor all", 1);
    Some(primary)
}

fn other(c: &Cluster, node: &str) -> String {
    c.names().into_iter().find(|n| n != node).unwrap()
}

// ---------------------------------------------------------------------------
// Scenarios

/// Bootstrap with no master (election by LSN), the synchronous standby
/// (HS:sync, 100) and the async one (HS:async), loss of the synchronous
/// standby (stopped) and the other one taking over, the lost one back as
/// async.
fn scenario_sync_standby_loss(c: &mut Cluster) {
    let Some(primary) = bootstrap(c) else { return };
    c.sql("create table t(x int); insert into t values (1)");
    let sync = sync_standby(c, &primary);
    c.decide("sync standby", sync.as_deref().unwrap_or("none"));
    let Some(sync) = sync else { return };
    c.stop("stop the sync standby", &[&sync]);
    c.monitor("primary monitor: the other standby takes over", &primary);
    c.sql("insert into t values (2)");
    c.start("restart the old sync standby", &[&sync]);
    c.monitor_all("monitor all again", 1);
}

#[test]
fn replication_election_sync_standby_and_its_loss_match_stock() {
    let traces = run_all(
        "sync standby loss",
        &[STOCK3.to_vec(), OURS3.to_vec()],
        Options::default(),
        scenario_sync_standby_loss,
    );
    compare(&traces[0], &traces[1], &files_of(&OURS3), true);
    // The outcome both agents agree on (asserted on the stock trace, so a
    // change of the reference's behaviour in a newer Debian shows up here).
    let st = &traces[0].step("promote the winner").state;
    assert_eq!(st["decision winner"], "node1", "newest WAL wins");
    assert_eq!(st["timeline node1"], "00000002", "pg_ctl promote forks");
    let st = &traces[0].step("first primary monitor").state;
    assert_eq!(st["attr node2 reboot pgsql-status"], "HS:sync");
    assert_eq!(st["attr node2 forever pgsql-data-status"], "STREAMING|SYNC");
    assert_eq!(st["attr node3 reboot pgsql-status"], "HS:async");
    assert_eq!(
        st["attr node3 forever pgsql-data-status"],
        "STREAMING|ASYNC"
    );
    assert_eq!(st["attr node3 reboot master-pgsql"], "-INFINITY");
    let st = &traces[0]
        .step("primary monitor: the other standby takes over")
        .state;
    assert_eq!(st["attr node3 reboot pgsql-status"], "HS:sync");
    assert_eq!(st["attr node2 reboot pgsql-status"], "STOP");
}

/// Bootstrap, a write, the primary crashes (kill -9, node lost), the
/// synchronous standby is promoted in the transition after fencing (the
/// survivors get the demote/stop notifications and compare baselines in
/// pre-promote), the async standby follows the new timeline; the old
/// primary comes back: its start is refused by PGSQL.lock until the admin
/// rebuilt it and removed the lock.
fn scenario_failover(c: &mut Cluster) {
    let Some(primary) = bootstrap(c) else { return };
    c.sql("create table t(x int); insert into t values (1)");
    let Some(sync) = sync_standby(c, &primary) else {
        c.decide("sync standby", "none");
        c.record("no sync standby");
        return;
    };
    c.wait_caught_up();
    c.crash("kill -9 of the primary", &primary);
    c.failover("failover to the sync standby", &primary, &sync);
    let rest: Vec<String> = c
        .names()
        .into_iter()
        .filter(|n| *n != primary && *n != sync)
        .collect();
    let rest_refs: Vec<&str> = rest.iter().map(String::as_str).collect();
    if c.primary().as_deref() != Some(sync.as_str()) {
        return;
    }
    c.wait_streaming(&rest_refs);
    c.decide("rows on the new primary", &c.sql("select count(*) from t"));
    c.monitor("new primary monitor", &sync);
    c.monitor_all("monitor all after failover", 1);
    c.rejoin("the old primary's node rejoins", &primary);
    c.probe("probe on the rejoined node", &[&primary]);
    c.start("start the old primary: PGSQL.lock", &[&primary]);
    c.stop("stop after the failed start", &[&primary]);
    c.resync("admin rebuilds the old primary", &primary);
    c.remove_lock("admin removes PGSQL.lock", &primary);
    c.start("start the old primary as a standby", &[&primary]);
    c.monitor_all("monitor all with the old primary back", 1);
}

/// The failover scenario: stock everywhere, ours everywhere, and a mixed
/// cluster (stock on node1, ours on node2 and node3), where the stock
/// primary is elected from positions ours published, controls ours'
/// standbys, crashes, ours promotes from the baselines both wrote, and
/// ours' primary controls the stock node when it rejoins.
#[test]
fn replication_failover_and_mixed_cluster_match_stock() {
    let traces = run_all(
        "failover",
        &[
            STOCK3.to_vec(),
            OURS3.to_vec(),
            MIXED3.to_vec(),
            MIXED3B.to_vec(),
        ],
        Options::default(),
        scenario_failover,
    );
    let (stock, ours, mixed, mixed_b) = (&traces[0], &traces[1], &traces[2], &traces[3]);
    let refused = "start the old primary: PGSQL.lock";
    let mut listed = files_of(&OURS3);
    // compat #5e: a start refused by PGSQL.lock changes nothing on disk;
    // the reference rewrites the recovery settings, creates standby.signal
    // and resets rep_mode.conf before it looks at the lock.
    listed.extend(refused_start_divergences(
        "node1",
        "synchronous_standby_names = '\"node2\"'\n",
        &[
            refused,
            "stop after the failed start",
            "admin rebuilds the old primary",
            "admin removes PGSQL.lock",
        ],
    ));
    compare(stock, ours, &listed, true);

    // The mixed cluster behaves like the stock one: only ours' nodes show
    // ours' file differences (node1, where the refused start happens, runs
    // the stock agent).
    compare(stock, mixed, &files_of(&MIXED3), true);
    compare(stock, mixed_b, &files_of(&MIXED3B), true);

    // What the stock trace shows (and both others match): node1 had the
    // newest WAL and won, node2 became the synchronous standby and took
    // over with the write.
    let st = &stock.step("failover to the sync standby").state;
    assert_eq!(st["rc node2 promote"], "0");
    assert_eq!(st["rc node3 notify pre-promote"], "0");
    assert_eq!(st["pg node2"], "primary");
    assert_eq!(
        stock.step("new primary monitor").state["decision rows on the new primary"],
        "1"
    );
    assert_eq!(stock.step(refused).state["rc node1 start"], "1");

    // The comparisons above already say the mixed clusters did what the
    // stock one did; spelled out, this is what crossed between the agents.
    // Mixed A (stock node1, ours node2 and node3):
    // - the stock node1 read the positions ours' nodes published, and ours'
    //   nodes read the stock one's, in the election;
    let m = &mixed.step("election round 2").state;
    assert!(
        m["file node1 xlog_note.0"].contains("node2 LSN")
            && m["file node1 xlog_note.0"].contains("node3 LSN"),
        "stock node1 did not read ours' xlog-loc: {m:?}"
    );
    assert!(m["file node2 xlog_note.0"].contains("node1 LSN"), "{m:?}");
    assert_eq!(
        mixed.step("promote the winner").state["decision winner"],
        "node1"
    );
    // - the stock primary made ours' node2 its synchronous standby;
    let m = &mixed.step("first primary monitor").state;
    assert_eq!(m["attr node2 reboot pgsql-status"], "HS:sync");
    assert_eq!(m["attr node2 reboot master-pgsql"], "100");
    // - ours' primary controls the stock node when it rejoins.
    let m = &mixed.step("monitor all with the old primary back").state;
    assert_eq!(m["pg node1"], "standby");
    assert!(
        m["attr node1 forever pgsql-data-status"].starts_with("STREAMING|"),
        "{m:?}"
    );
    // Mixed B (stock node1 and node3, ours node2): the stock node3 compared
    // its baseline with the one ours' node2 wrote (pre-promote) and let it
    // be promoted, and ours' new primary made the stock node3 synchronous.
    let m = &mixed_b
        .step("failover to the sync standby: notifications")
        .state;
    assert!(
        m.contains_key("attr node2 reboot pgsql-master-baseline"),
        "{m:?}"
    );
    assert!(
        m.contains_key("attr node3 reboot pgsql-master-baseline"),
        "{m:?}"
    );
    let m = &mixed_b.step("failover to the sync standby").state;
    assert_eq!(m["rc node3 notify pre-promote"], "0");
    assert_eq!(m["pg node2"], "primary");
    let m = &mixed_b.step("new primary monitor").state;
    assert_eq!(m["attr node3 reboot pgsql-status"], "HS:sync");
    assert_eq!(m["attr node3 reboot master-pgsql"], "100");
}

/// What a start refused by PGSQL.lock leaves on `node` with the stock agent
/// and not with ours, until the next start (compat #5e): standby.signal
/// (written by the reference's make_recovery_conf before the lock check)
/// and rep_mode.conf reset to '' (ours keeps `kept`, the primary's last
/// setting).
fn refused_start_divergences(node: &str, kept: &'static str, steps: &[&str]) -> Vec<Divergence> {
    vec![
        Divergence::values(
            &format!("file {node} standby.signal"),
            None,
            Some("present"),
            "compat #5e: a start refused by PGSQL.lock changes nothing",
        )
        .at(steps),
        Divergence::values(
            &format!("file {node} rep_mode.conf"),
            Some(kept),
            Some("synchronous_standby_names = ''\n"),
            "compat #5e: a start refused by PGSQL.lock changes nothing",
        )
        .at(steps),
    ]
}

/// Switchover (demote + promote in one transition; the old primary keeps
/// PGSQL.lock because a standby was running), the old primary's recovery
/// refused by the lock until the admin removes it, whole-clone stop (the
/// lock stays on the primary) and restart (its start refused, the other node
/// elected), and the lock removed by a demote when no standby ran.
fn scenario_switchover_and_clone_restart(c: &mut Cluster) {
    let Some(a) = bootstrap(c) else { return };
    let b = other(c, &a);
    c.sql("create table t(x int); insert into t values (1)");
    c.switchover("switchover", &a, &b);
    c.monitor("new primary monitor", &b);
    c.monitor("old primary monitor: stopped by the demote", &a);
    c.stop("recovery: stop", &[&a]);
    c.start("recovery: start refused by PGSQL.lock", &[&a]);
    c.stop("stop after the failed start", &[&a]);
    c.remove_lock("admin removes PGSQL.lock", &a);
    c.start("start the old primary as a standby", &[&a]);
    c.monitor("primary monitor: the old primary is the sync standby", &b);

    c.stop_clone("stop the whole clone");
    c.start("start the whole clone: primary refused", &[&a, &b]);
    c.stop("stop after the failed start (2)", &[&b]);
    if elect_and_promote(c, 3).as_deref() != Some(a.as_str()) {
        return;
    }
    c.remove_lock("admin removes PGSQL.lock (2)", &b);
    c.start("start the other node as a standby", &[&b]);
    c.monitor("primary monitor after restart", &a);

    c.stop("stop the standby", &[&b]);
    c.stop_clone("stop the clone without standbys: lock removed");
    c.start("start the whole clone again", &[&a, &b]);
    c.monitor_all("monitor all after the clean restart", 2);
}

#[test]
fn replication_switchover_and_whole_clone_restart_match_stock() {
    let traces = run_all(
        "switchover and clone restart",
        &[STOCK2.to_vec(), OURS2.to_vec()],
        Options::default(),
        scenario_switchover_and_clone_restart,
    );
    let mut listed = files_of(&OURS2);
    listed.extend(refused_start_divergences(
        "node1",
        "synchronous_standby_names = '\"node2\"'\n",
        &[
            "recovery: start refused by PGSQL.lock",
            "stop after the failed start",
            "admin removes PGSQL.lock",
        ],
    ));
    listed.extend(refused_start_divergences(
        "node2",
        "synchronous_standby_names = '\"node1\"'\n",
        &[
            "start the whole clone: primary refused",
            "stop after the failed start (2)",
            "election round 1",
            "election round 2",
            "election round 3",
            "promote the winner",
            "admin removes PGSQL.lock (2)",
        ],
    ));
    compare(&traces[0], &traces[1], &listed, true);
    let st = |label: &str| &traces[0].step(label).state;
    assert_eq!(st("switchover")["file node1 PGSQL.lock"], "present");
    assert_eq!(
        st("recovery: start refused by PGSQL.lock")["rc node1 start"],
        "1"
    );
    let s = st("start the whole clone: primary refused");
    assert_eq!(s["rc node1 start"], "0");
    assert_eq!(s["rc node2 start"], "1");
    let s = st("stop the clone without standbys: lock removed");
    assert!(!s.contains_key("file node1 PGSQL.lock"), "{s:?}");
}

/// restart_on_promote and replication slots: the promotion restarts the
/// standby as a primary (same timeline) and creates a slot per other node,
/// standbys use theirs (primary_slot_name), a switchover moves the slots to
/// the new primary and the old one drops its own when it starts as a
/// standby.
fn scenario_restart_on_promote_and_slots(c: &mut Cluster) {
    let Some(a) = bootstrap(c) else { return };
    let b = other(c, &a);
    c.sql("create table t(x int); insert into t values (1)");
    c.switchover("switchover", &a, &b);
    c.monitor("new primary monitor", &b);
    c.remove_lock("admin removes PGSQL.lock", &a);
    c.stop("recovery: stop", &[&a]);
    c.start("start the old primary as a standby", &[&a]);
    c.monitor("primary monitor: the old primary is the sync standby", &b);
    c.monitor_all("monitor all", 1);
}

#[test]
fn replication_restart_on_promote_and_slots_match_stock() {
    let opts = Options {
        rep_mode: "sync",
        params: vec![
            ("restart_on_promote", "true"),
            ("replication_slot_name", "ha_slot"),
        ],
    };
    let traces = run_all(
        "restart_on_promote and slots",
        &[STOCK2.to_vec(), OURS2.to_vec()],
        opts,
        scenario_restart_on_promote_and_slots,
    );
    let listed = files_of(&OURS2);
    compare(&traces[0], &traces[1], &listed, true);
    let st = |label: &str| &traces[0].step(label).state;
    assert_eq!(st("promote the winner")["slots node1"], "ha_slot_node2");
    // A restart, not a promotion: no new timeline.
    assert_eq!(st("promote the winner")["timeline node1"], "00000001");
    assert_eq!(st("switchover")["slots node2"], "ha_slot_node1");
    assert_eq!(st("switchover")["timeline node2"], "00000001");
    let s = st("start the old primary as a standby");
    assert!(!s.contains_key("slots node1"), "{s:?}");
    assert!(
        st("new primary monitor")["file node1 recovery.conf"]
            .contains("primary_slot_name = 'ha_slot_node1'"),
        "the standby uses its slot"
    );
}

/// Async mode, two nodes: no rep_mode.conf, the streaming standby gets 100
/// (the two-node exception, spec §8.2), and after the primary crashes it is
/// promoted directly (no baseline check with two nodes).
fn scenario_async_pair(c: &mut Cluster) {
    let Some(a) = bootstrap(c) else { return };
    let b = other(c, &a);
    c.sql("create table t(x int); insert into t values (1)");
    c.wait_caught_up();
    c.crash("kill -9 of the primary", &a);
    let next = best_candidate(c);
    c.decide("candidate", next.as_deref().unwrap_or("none"));
    if next.as_deref() != Some(b.as_str()) {
        c.record("nobody to promote");
        return;
    }
    c.failover("failover to the async standby", &a, &b);
    c.monitor("new primary monitor", &b);
}

#[test]
fn replication_async_pair_matches_stock() {
    let opts = Options {
        rep_mode: "async",
        params: Vec::new(),
    };
    let traces = run_all(
        "async pair",
        &[STOCK2.to_vec(), OURS2.to_vec()],
        opts,
        scenario_async_pair,
    );
    let listed: Vec<Divergence> = ours_nodes(&OURS2)
        .into_iter()
        .flat_map(|n| file_divergences(n, false))
        .collect();
    compare(&traces[0], &traces[1], &listed, true);
    let st = |label: &str| &traces[0].step(label).state;
    let s = st("first primary monitor");
    assert_eq!(s["attr node2 reboot master-pgsql"], "100");
    assert_eq!(s["attr node2 reboot pgsql-status"], "HS:async");
    assert!(!s.contains_key("file node1 rep_mode.conf"), "{s:?}");
    let s = st("failover to the async standby");
    assert_eq!(s["pg node2"], "primary");
    assert_eq!(s["timeline node2"], "00000003");
}
