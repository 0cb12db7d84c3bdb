//! Differential tests: the stock `ocf:heartbeat:pgsql` shell agent and ours,
//! run through the same action sequences, must give the same exit codes.
//!
//! Why: pgsql-ra is a drop-in replacement. An admin swaps the agent name in
//! the CIB and Pacemaker must see the same answers, so the reference agent
//! itself (Debian resource-agents 4.12, `/usr/lib/ocf/resource.d/heartbeat/pgsql`)
//! is the oracle here, not our reading of its source. Where we differ on
//! purpose, the difference is written down as an explicit (ours, stock) pair
//! citing `docs/compatibility.md`; any other difference fails the test.
//!
//! Each agent runs its sequence on its own fresh `PgInstance`: the stock
//! agent leaves files behind (log file, socket directory test files, a
//! removed `postmaster.pid` after a crash) and a shared data directory would
//! make the second agent's run depend on what the first one left. Two
//! `initdb`s cost a second and make both runs start from the same state.
//!
//! Besides the exit codes, each step also records whether the postmaster is
//! running afterwards (checked directly, not through an agent), and that must
//! match too: "0" from a start that left nothing running is not a match.
//! Every step also names the code the reference is specified to return
//! (spec §6), and the stock run must return it: two agents broken the same
//! way (both killed at the time limit, say) must not count as agreement.
//!
//! The stock agent is required: if resource-agents is not installed these
//! tests fail (CI installs it) rather than pass without comparing anything.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::harness::*;

/// The stock agent can loop for ever (start waiting for a server that never
/// answers, stop waiting for one that never stops); a run killed for this
/// limit shows code 124.
const LIMIT: Duration = Duration::from_secs(40);

fn stock() -> Agent {
    Agent::stock()
        .unwrap_or_else(|| {
            panic!(
                "the stock agent /usr/lib/ocf/resource.d/heartbeat/pgsql is missing: \
                 install resource-agents (Debian: apt-get install resource-agents); \
                 the differential tests cannot run without it"
            )
        })
        .limit(LIMIT)
}

/// Ours with the stock agent's PGSQL.lock rule (`rejoin=off`).
fn ours() -> Agent {
    Agent::ours().limit(LIMIT).param("rejoin", "off")
}

/// A deliberate difference: what we return and what the stock agent returns,
/// and why (a row of docs/compatibility.md).
#[derive(Clone, Copy)]
struct Divergence {
    ours: i32,
    stock: i32,
    why: &'static str,
}

/// One step of a sequence.
#[derive(Clone, Copy)]
enum Step {
    /// Run `action` with the agent as `tweak` configures it; the reference
    /// returns `expect`.
    Run {
        label: &'static str,
        action: &'static str,
        tweak: fn(Agent) -> Agent,
        expect: i32,
        divergence: Option<Divergence>,
    },
    /// `kill -9` of the postmaster: a crash, not an agent action.
    Kill9,
}

fn plain(a: Agent) -> Agent {
    a
}

fn recurring(a: Agent) -> Agent {
    a.recurring()
}

/// `action` as Pacemaker runs it for a primitive; the reference returns
/// `expect`.
fn run(label: &'static str, action: &'static str, expect: i32) -> Step {
    Step::Run {
        label,
        action,
        tweak: plain,
        expect,
        divergence: None,
    }
}

/// A recurring monitor (interval set: not a probe).
fn monitor(label: &'static str, expect: i32) -> Step {
    Step::Run {
        label,
        action: "monitor",
        tweak: recurring,
        expect,
        divergence: None,
    }
}

fn with(step: Step, f: fn(Agent) -> Agent) -> Step {
    match step {
        Step::Run {
            label,
            action,
            expect,
            divergence,
            ..
        } => Step::Run {
            label,
            action,
            tweak: f,
            expect,
            divergence,
        },
        Step::Kill9 => Step::Kill9,
    }
}

fn diverging(step: Step, d: Divergence) -> Step {
    match step {
        Step::Run {
            label,
            action,
            tweak,
            expect,
            ..
        } => Step::Run {
            label,
            action,
            tweak,
            expect,
            divergence: Some(d),
        },
        Step::Kill9 => Step::Kill9,
    }
}

/// What one step did with one agent.
#[derive(Clone)]
struct Observed {
    code: i32,
    running: bool,
    out: Outcome,
}

/// Runs the whole sequence with one agent on a fresh instance.
fn run_sequence(base: &Agent, steps: &[Step]) -> Vec<Option<Observed>> {
    let pg = PgInstance::new();
    let agent = base.clone().on(&pg);
    let mut seen = Vec::new();
    for step in steps {
        match step {
            Step::Run { action, tweak, .. } => {
                let out = tweak(agent.clone()).run(action);
                seen.push(Some(Observed {
                    code: out.code,
                    running: server_up(&pg),
                    out,
                }));
            }
            Step::Kill9 => {
                crash(&pg);
                seen.push(None);
            }
        }
    }
    // Leave nothing behind whatever happened (Drop does too; this is for
    // a server a killed stock agent may have started late).
    if pg.is_running() {
        pg.stop_directly();
    }
    seen
}

/// Is `pid` a process that is not a zombie?
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| !s.contains("State:\tZ"))
        .unwrap_or(false)
}

/// Does a live postmaster own the data directory? (A zombie is dead: it
/// cannot serve anything, whatever `kill -0` says.)
fn server_up(pg: &PgInstance) -> bool {
    pg.postmaster_pid().is_some_and(alive)
}

/// The PIDs whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    // "pid (comm) state ppid ...": comm may contain spaces.
                    let after = &s[s.rfind(')')? + 1..];
                    after.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// A crash as a real node sees it by the time of the next monitor: the
/// postmaster is killed with SIGKILL, init has reaped it, and its orphaned
/// backends have noticed and exited.
///
/// `PgInstance::kill9` returns as soon as the postmaster is a zombie. In this
/// test container PID 1 reaps orphans lazily (a second or two later), and
/// while the zombie exists the stock agent's `kill -s 0` says "up", so it
/// answers 0 to status and 1 to monitor, and its start deletes the PID file
/// and loops for ever. On a node with a real init that window does not
/// exist, and what either agent does with lingering backends is a listed
/// divergence (docs/compatibility.md #3, #21), not what these sequences
/// compare. So wait until the postmaster and its children are gone.
fn crash(pg: &PgInstance) {
    let pid = pg
        .postmaster_pid()
        .filter(|&p| alive(p))
        .expect("kill -9 step, but no postmaster runs");
    let children = children_of(pid);
    pg.kill9();
    let gone = wait_for(Duration::from_secs(20), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            && children.iter().all(|&c| !alive(c))
    });
    assert!(
        gone,
        "postmaster {pid} or its children {children:?} still exist 20 s after kill -9"
    );
    assert!(
        pg.pgdata().join("postmaster.pid").exists(),
        "a crash leaves the PID file behind"
    );
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "up"
    } else {
        "down"
    }
}

/// Runs `steps` with both agents, prints the side-by-side table and asserts
/// that they agree (up to the listed divergences) and that the stock agent
/// returned what the reference is specified to return.
fn differential(name: &str, steps: &[Step]) {
    let stock_seen = run_sequence(&stock(), steps);
    let ours_seen = run_sequence(&ours(), steps);

    let mut table = format!(
        "differential `{name}`\n  {:<34} {:>10} {:>10}  {}\n",
        "step", "stock rc", "ours rc", "note"
    );
    let mut problems = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let Step::Run {
            label,
            expect,
            divergence,
            ..
        } = *step
        else {
            table.push_str(&format!("  {}. kill -9 of the postmaster\n", i + 1));
            continue;
        };
        let s = stock_seen[i].as_ref().unwrap();
        let o = ours_seen[i].as_ref().unwrap();
        let (want_ours, note) = match divergence {
            Some(d) => (d.ours, format!("divergence: {}", d.why)),
            None => (s.code, String::new()),
        };
        table.push_str(&format!(
            "  {:<34} {:>5} {:<4} {:>5} {:<4}  {}\n",
            format!("{}. {label}", i + 1),
            s.code,
            yes_no(s.running),
            o.code,
            yes_no(o.running),
            note
        ));
        if s.code != expect {
            problems.push(format!(
                "step {} `{label}`: the stock agent returned {} where the reference \
                 is specified to return {expect}\n  stock stdout: {}\n  stock stderr: {}",
                i + 1,
                s.code,
                s.out.stdout.trim(),
                s.out.stderr.trim()
            ));
        }
        if let Some(d) = divergence {
            if s.code != d.stock {
                problems.push(format!(
                    "step {} `{label}`: listed divergence expects stock {} but it returned {}",
                    i + 1,
                    d.stock,
                    s.code
                ));
            }
        }
        if o.code != want_ours {
            problems.push(format!(
                "step {} `{label}`: ours returned {}, expected {want_ours} (stock: {})\n  \
                 our stdout: {}\n  our stderr: {}",
                i + 1,
                o.code,
                s.code,
                o.out.stdout.trim(),
                o.out.stderr.trim()
            ));
        }
        if o.running != s.running {
            problems.push(format!(
                "step {} `{label}`: afterwards the server is {} with ours, {} with stock",
                i + 1,
                yes_no(o.running),
                yes_no(s.running)
            ));
        }
    }
    eprintln!("{table}");
    assert!(problems.is_empty(), "{table}\n{}", problems.join("\n\n"));
}

// The reference's codes (spec §6.11): 0 success, 3 unimplemented,
// 6 not configured, 7 not running.

/// Start, double start, recurring monitor, status, stop, double stop, and
/// probes and monitors of the stopped resource.
#[test]
fn lifecycle_matches_stock() {
    differential(
        "lifecycle",
        &[
            run("probe (never started)", "monitor", 7),
            run("status (never started)", "status", 7),
            run("start", "start", 0),
            run("start again (already running)", "start", 0),
            monitor("monitor (recurring)", 0),
            run("probe while running", "monitor", 0),
            run("status while running", "status", 0),
            run("stop", "stop", 0),
            run("stop again (already stopped)", "stop", 0),
            run("probe (stopped)", "monitor", 7),
            monitor("monitor (recurring, stopped)", 7),
            run("status (stopped)", "status", 7),
            run("start after a clean stop", "start", 0),
            monitor("monitor (recurring)", 0),
            run("stop", "stop", 0),
        ],
    );
}

/// A crash (kill -9 of the postmaster): the monitor sees it, a start
/// recovers, and the server is monitored again.
#[test]
fn crash_and_recovery_match_stock() {
    differential(
        "crash",
        &[
            run("start", "start", 0),
            monitor("monitor (recurring)", 0),
            Step::Kill9,
            monitor("monitor after kill -9", 7),
            run("status after kill -9", "status", 7),
            run("probe after kill -9", "monitor", 7),
            run("start after kill -9 (recovery)", "start", 0),
            monitor("monitor after recovery", 0),
            run("stop", "stop", 0),
            monitor("monitor (stopped)", 7),
        ],
    );
}

/// A crash followed directly by a stop (what Pacemaker does to recover a
/// failed primitive: stop, then start).
#[test]
fn stop_after_crash_matches_stock() {
    differential(
        "stop after crash",
        &[
            run("start", "start", 0),
            Step::Kill9,
            run("stop after kill -9", "stop", 0),
            run("probe", "monitor", 7),
            run("start", "start", 0),
            monitor("monitor (recurring)", 0),
            run("stop", "stop", 0),
        ],
    );
}

/// An action the agent does not know, and validate-all, with the server
/// stopped and running.
#[test]
fn unknown_action_and_validate_all_match_stock() {
    differential(
        "unknown action, validate-all",
        &[
            run("no_such_action (stopped)", "no_such_action", 3),
            run("validate-all (stopped)", "validate-all", 0),
            run("start", "start", 0),
            run("no_such_action (running)", "no_such_action", 3),
            run("validate-all (running)", "validate-all", 0),
            run("notify (rep_mode none)", "notify", 0),
            run("stop", "stop", 0),
        ],
    );
}

fn promotable(a: Agent) -> Agent {
    a.meta("promotable", "true")
}

/// promote and demote with rep_mode=none.
#[test]
fn promote_demote_without_replication_match_stock() {
    // docs/compatibility.md #10 (spec §14.1 #17): the OCF developer guide and
    // ocf-tester want 3 (unimplemented) from an agent without roles; the
    // reference's 6 (not configured) stops the resource cluster-wide. For a
    // promotable clone with rep_mode=none both say 6: a real misconfiguration.
    const NOT_PROMOTABLE: Divergence = Divergence {
        ours: 3,
        stock: 6,
        why: "compat #10: OCF guide + ocf-tester want 3 without roles",
    };
    differential(
        "promote/demote, rep_mode none",
        &[
            diverging(run("promote (stopped)", "promote", 6), NOT_PROMOTABLE),
            diverging(run("demote (stopped)", "demote", 6), NOT_PROMOTABLE),
            run("start", "start", 0),
            diverging(run("promote (running)", "promote", 6), NOT_PROMOTABLE),
            diverging(run("demote (running)", "demote", 6), NOT_PROMOTABLE),
            with(run("promote, promotable clone", "promote", 6), promotable),
            with(run("demote, promotable clone", "demote", 6), promotable),
            monitor("monitor (still running)", 0),
            run("stop", "stop", 0),
        ],
    );
}

fn sync_without_master_ip(a: Agent) -> Agent {
    promotable(
        a.param("rep_mode", "sync")
            .param("node_list", "node1 node2"),
    )
}

fn sync_without_node_list(a: Agent) -> Agent {
    promotable(a.param("rep_mode", "sync").param("master_ip", "192.0.2.1"))
}

fn slave_in_a_promotable_clone(a: Agent) -> Agent {
    promotable(a.param("rep_mode", "slave").param("master_ip", "192.0.2.1"))
}

fn bad_slot_name(a: Agent) -> Agent {
    a.param("replication_slot_name", "Bad-Name")
}

/// A replication configuration that works once in a promotable clone, as
/// `pcs resource create` validates it: no meta attribute but the timeout.
fn async_without_meta_attributes(a: Agent) -> Agent {
    a.param("rep_mode", "async")
        .param("master_ip", "192.0.2.1")
        .param("node_list", "node1 node2")
}

/// validate-all with a configuration that cannot work: the stock agent
/// runs its whole validation for validate-all, ours the rules on the
/// parameters (compat #6a), and both refuse with 6. They differ where the
/// meta attributes were not passed: the stock agent then calls the resource
/// a primitive, ours does not judge the clone.
#[test]
fn validate_all_parameter_rules_match_stock() {
    const CLONE_UNKNOWN: Divergence = Divergence {
        ours: 0,
        stock: 6,
        why: "compat #6a: no meta attributes, the clone is not judged by validate-all",
    };
    differential(
        "validate-all, parameter rules",
        &[
            with(
                run("sync without master_ip", "validate-all", 6),
                sync_without_master_ip,
            ),
            with(
                run("sync without node_list", "validate-all", 6),
                sync_without_node_list,
            ),
            with(
                run("slave in a promotable clone", "validate-all", 6),
                slave_in_a_promotable_clone,
            ),
            with(run("bad slot name", "validate-all", 6), bad_slot_name),
            diverging(
                with(
                    run("async, no meta attributes", "validate-all", 6),
                    async_without_meta_attributes,
                ),
                CLONE_UNKNOWN,
            ),
            // No start afterwards: the stock agent's validation has added
            // an include of a file start creates to postgresql.conf (#29i).
        ],
    );
}

/// The values of every `<tag name="...` occurrence, in a simple string scan.
fn names(xml: &str, tag: &str) -> BTreeSet<String> {
    let needle = format!("<{tag} name=\"");
    xml.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &xml[i + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// meta-data: both succeed and advertise the same parameters and actions,
/// except the parameter Debian 4.12 does not have yet.
#[test]
fn metadata_matches_stock() {
    let pg = PgInstance::new();
    let s = stock().on(&pg).run("meta-data");
    let o = ours().on(&pg).run("meta-data");
    eprintln!(
        "differential `meta-data`\n  {:<34} {:>10} {:>10}\n  {:<34} {:>10} {:>10}\n",
        "step", "stock rc", "ours rc", "meta-data", s.code, o.code
    );
    assert_rc(&s, 0);
    assert_rc(&o, 0);

    let stock_params = names(&s.stdout, "parameter");
    let ours_params = names(&o.stdout, "parameter");
    assert!(
        stock_params.len() > 20,
        "the scan found too few parameters in the stock meta-data: {stock_params:?}"
    );
    // HEAD (after v4.18.0) added external_standby_node_list; Debian's 4.12
    // predates it (spec §15). Ours follows HEAD, and also takes the original
    // upfront agent's six parameters (deprecated aliases, listed last).
    let newer_than_debian: BTreeSet<String> = [
        "external_standby_node_list",
        "primary",
        "version",
        "clustername",
        "port",
        "datadir",
        "restorecommand",
        "strict_sync",
        "rejoin",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let only_ours: BTreeSet<_> = ours_params.difference(&stock_params).cloned().collect();
    let only_stock: BTreeSet<_> = stock_params.difference(&ours_params).cloned().collect();
    eprintln!(
        "  parameters: stock {}, ours {}; only ours: {only_ours:?}; only stock: {only_stock:?}",
        stock_params.len(),
        ours_params.len()
    );
    assert_eq!(only_ours, newer_than_debian, "parameters only we advertise");
    assert!(
        only_stock.is_empty(),
        "parameters only the stock agent advertises: {only_stock:?}"
    );

    let stock_actions = names(&s.stdout, "action");
    let ours_actions = names(&o.stdout, "action");
    eprintln!("  actions: stock {stock_actions:?}\n           ours  {ours_actions:?}");
    assert!(
        stock_actions.contains("start") && stock_actions.contains("meta-data"),
        "the scan found no actions in the stock meta-data: {stock_actions:?}"
    );
    assert_eq!(ours_actions, stock_actions, "advertised actions");
}

/// methods: the same list, byte for byte.
#[test]
fn methods_match_stock() {
    let pg = PgInstance::new();
    let s = stock().on(&pg).run("methods");
    let o = ours().on(&pg).run("methods");
    eprintln!(
        "differential `methods`\n  {:<34} {:>10} {:>10}\n  {:<34} {:>10} {:>10}\n",
        "step", "stock rc", "ours rc", "methods", s.code, o.code
    );
    assert_rc(&s, 0);
    assert_rc(&o, 0);
    assert_eq!(o.stdout, s.stdout, "methods output differs");
}
