//! Fault injection: the rows of `docs/reliability.md`, and the password scan.
//!
//! Each row breaks one thing under a running agent (a frozen postmaster,
//! every connection slot taken, a full listen queue, a Pacemaker tool that
//! hangs, fails or prints garbage, a read-only or full directory, a client
//! tool gone, a user database that never answers, the wall clock moved) and
//! runs one action with a short op timeout. The row passes
//! when the action returns before that timeout, without a panic, with an
//! exit reason when it fails, and when no file outside the agent's own
//! changed. Whatever it measured (exit code, reason, time, files changed) is
//! left as a record; `tests/reliability` turns the records of one run into
//! the page, so the page says only what a run showed. A row that fails
//! leaves no record, and the script then fails for the missing row.
//!
//! The password scan runs a replication pair, and a rewind, with both
//! passwords configured, and looks for them wherever another user or a log
//! could see them: the argv and environment of every process but the agent,
//! the agent's output, the Pacemaker tools' argv, the server logs.
//!
//! Records go to `$PGRA_RELIABILITY_DIR` (tests/run sets it and empties it
//! before the run), else to `<target>/tmp/reliability`.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::fake_cluster::FakeCluster;
use crate::harness::*;
use crate::replication::{
    agent, pair_with, standby_streams_then_primary_monitor, Node, ADDR1, ADDR2,
};

/// The op timeout of every row: short enough to keep the suite quick, long
/// enough for a healthy action on a loaded machine.
const TIMEOUT_MS: u64 = 10_000;

/// Where the records go.
fn dir() -> PathBuf {
    std::env::var_os("PGRA_RELIABILITY_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability"))
}

// ---------------------------------------------------------------------------
// What changed on disk

/// Files PostgreSQL itself writes while it runs (its WAL, relations,
/// statistics, commit logs, lock and options files): they change whatever
/// the agent does, so the listing leaves them out. Everything else in the
/// data directory, and the whole tmpdir, is listed.
const PG_RUNTIME: &[&str] = &[
    "base",
    "global",
    "pg_wal",
    "pg_xlog",
    "pg_xact",
    "pg_clog",
    "pg_stat",
    "pg_stat_tmp",
    "pg_subtrans",
    "pg_multixact",
    "pg_logical",
    "pg_replslot",
    "pg_snapshots",
    "pg_notify",
    "pg_commit_ts",
    "pg_serial",
    "pg_dynshmem",
    "pg_twophase",
    "log",
    "postmaster.pid",
    "postmaster.opts",
    "current_logfiles",
];

/// Files of the data directory the agent writes by design (recovery
/// settings, the include line of postgresql.conf); all of its tmpdir is its own.
const AGENT_OWNED_IN_PGDATA: &[&str] = &[
    "recovery.conf",
    "standby.signal",
    "recovery.signal",
    "postgresql.conf",
];

/// Path -> (size, mtime in ns, mode) of every listed file.
type Listing = BTreeMap<String, (u64, i128, u32)>;

fn list_into(out: &mut Listing, label: &str, root: &Path, rel: &Path, top: bool) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if top && label == "pgdata" && PG_RUNTIME.contains(&name.as_str()) {
            continue;
        }
        let rel = rel.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(root.join(&rel)) else {
            continue;
        };
        let key = format!("{label}/{}", rel.display());
        let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
        out.insert(key, (meta.len(), mtime, meta.mode()));
        if meta.is_dir() {
            list_into(out, label, root, &rel, false);
        }
    }
}

fn listing(pg: &PgInstance) -> Listing {
    let mut out = Listing::new();
    list_into(&mut out, "pgdata", &pg.pgdata(), Path::new(""), true);
    list_into(&mut out, "tmpdir", &pg.tmpdir(), Path::new(""), true);
    out
}

/// `+` created, `-` removed, `~` changed.
fn changes(before: &Listing, after: &Listing) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in after {
        match before.get(k) {
            None => out.push(format!("+{k}")),
            Some(b) if b != v => out.push(format!("~{k}")),
            _ => {}
        }
    }
    for k in before.keys().filter(|k| !after.contains_key(*k)) {
        out.push(format!("-{k}"));
    }
    out.sort_by(|a, b| a[1..].cmp(&b[1..]));
    out
}

fn agent_owned(change: &str) -> bool {
    let path = &change[1..];
    path.starts_with("tmpdir/")
        || path
            .strip_prefix("pgdata/")
            .is_some_and(|p| AGENT_OWNED_IN_PGDATA.contains(&p))
}

// ---------------------------------------------------------------------------
// One row

/// What one row measured.
struct Measured {
    out: Outcome,
    elapsed: Duration,
}

/// The text of a reason without what changes from run to run (this run's
/// temporary directories, ports, process ids).
fn stable(text: &str, pgs: &[&PgInstance]) -> String {
    let mut t = text.to_string();
    for pg in pgs {
        t = t
            .replace(&pg.tmpdir().display().to_string(), "<tmpdir>")
            .replace(&pg.pgdata().display().to_string(), "<pgdata>")
            .replace(&pg.sockdir().display().to_string(), "<socketdir>")
            .replace(&pg.root.path().display().to_string(), "<root>")
            .replace(&format!(".s.PGSQL.{}", pg.port), ".s.PGSQL.<port>")
            .replace(&format!(":{}", pg.port), ":<port>");
    }
    // "pid 1234" and "(pid 1234)"
    let mut s = String::new();
    let mut rest = t.as_str();
    while let Some(i) = rest.find("pid ") {
        s.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            s.push_str("<pid>");
            rest = &rest[digits..];
        }
    }
    s.push_str(rest);
    // Durations ("within 3.9s") and other temporary directories (the fake
    // cluster's tools).
    s.split(' ')
        .map(|w| {
            let core = w.trim_end_matches([':', ',', ';', ')']);
            let unit = core.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == 'µ');
            if !unit.is_empty()
                && unit.len() < core.len()
                && unit.chars().all(|c| c.is_ascii_digit() || c == '.')
            {
                return format!("<duration>{}", &w[core.len()..]);
            }
            // A server log line's date, time and [pid].
            let digits_and = |w: &str, seps: &[char]| {
                w.len() >= 8
                    && w.chars().any(|c| c.is_ascii_digit())
                    && w.chars().all(|c| c.is_ascii_digit() || seps.contains(&c))
            };
            if digits_and(w, &['-']) && w.matches('-').count() == 2 {
                return "<date>".to_string();
            }
            if digits_and(w, &[':', '.']) && w.matches(':').count() == 2 {
                return "<time>".to_string();
            }
            if w.starts_with('[')
                && w.ends_with(']')
                && w.len() > 2
                && w[1..w.len() - 1].bytes().all(|b| b.is_ascii_digit())
            {
                return "[<pid>]".to_string();
            }
            match w.strip_prefix("/tmp/") {
                Some(p) => format!("<tmp>{}", &p[p.find('/').unwrap_or(p.len())..]),
                None => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\n', " ")
        .replace('|', "\\|")
}

/// What changes between runs is masked; the rest is left as it is.
#[test]
fn reasons_are_made_stable() {
    assert_eq!(
        stable(
            "(pid 1234) did not finish within 3.93s: 2026-12-03 16:41:15.367 UTC [5512] FATAL: \
             /tmp/.tmpAb12/bin/crm_mon x|y",
            &[]
        ),
        "(pid <pid>) did not finish within <duration>: <date> <time> UTC [<pid>] FATAL: \
         <tmp>/bin/crm_mon x\\|y"
    );
    assert_eq!(stable("exit code 102", &[]), "exit code 102");
}

/// The rows `<id>-monitor` (a recurring monitor, any code) and `<id>-stop`
/// (which must succeed and leave no server).
fn monitor_then_stop(id: &str, fault: &str, a: &Agent, pg: &PgInstance) {
    row(
        &format!("{id}-monitor"),
        fault,
        &a.clone().recurring(),
        "monitor",
        pg,
        &[],
    );
    let out = row(&format!("{id}-stop"), fault, a, "stop", pg, &[]);
    assert_rc(&out, 0);
    assert!(!pg.is_running());
}

/// Runs `action` of `agent` as row `id` (the fault described by `fault`)
/// with the row's op timeout, checks the contract and leaves the record.
/// `pg` is the instance whose pgdata and tmpdir are listed; `others` only
/// take part in making the reason stable.
#[track_caller]
fn row(
    id: &str,
    fault: &str,
    agent: &Agent,
    action: &str,
    pg: &PgInstance,
    others: &[&PgInstance],
) -> Outcome {
    let a = agent
        .clone()
        .meta("timeout", &TIMEOUT_MS.to_string())
        .output_in_files()
        .limit(Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(30));
    let before = listing(pg);
    let start = Instant::now();
    let out = a.run(action);
    let elapsed = start.elapsed();
    let after = listing(pg);
    let changed = changes(&before, &after);
    let outside: Vec<&String> = changed.iter().filter(|c| !agent_owned(c)).collect();
    let m = Measured { out, elapsed };
    let mut pgs = vec![pg];
    pgs.extend_from_slice(others);
    let reason = m
        .out
        .exit_reason()
        .map(|r| stable(&r, &pgs))
        .unwrap_or_default();
    let show = format!(
        "row {id}: {action} rc {} in {:?}\nstdout:\n{}\nstderr:\n{}",
        m.out.code, m.elapsed, m.out.stdout, m.out.stderr
    );
    assert_ne!(m.out.code, 124, "killed past its op timeout: {show}");
    assert!(
        m.elapsed < Duration::from_millis(TIMEOUT_MS),
        "past its op timeout: {show}"
    );
    assert!(!m.out.stderr.contains("panicked"), "panic: {show}");
    if ![0, 7, 8].contains(&m.out.code) {
        assert!(!reason.is_empty(), "a failure without a reason: {show}");
    }
    assert!(
        outside.is_empty(),
        "files outside the agent's own changed: {outside:?}\n{show}"
    );
    let dir = dir();
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "id={id}\nfault={fault}\naction={action}\nrc={}\nreason={reason}\n\
         elapsed_ms={}\ntimeout_ms={TIMEOUT_MS}\nchanged={}\noutside={}\n",
        m.out.code,
        m.elapsed.as_millis(),
        changed.join(" "),
        outside
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    std::fs::write(dir.join(format!("{id}.rec")), text).unwrap();
    m.out
}

// ---------------------------------------------------------------------------
// Faults

/// A process stopped with SIGSTOP until the guard is dropped.
struct Frozen(Pid);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

fn freeze_postmaster(pg: &PgInstance) -> Frozen {
    let pid = Pid::from_raw(pg.postmaster_pid().expect("a postmaster"));
    kill(pid, Signal::SIGSTOP).unwrap();
    Frozen(pid)
}

/// Our agent on a stand-alone instance (`rep_mode=none`), started.
fn stand_alone() -> (PgInstance, Agent) {
    let pg = PgInstance::new();
    let a = Agent::ours()
        .on(&pg)
        .param("tmpdir", pg.tmpdir().to_str().unwrap())
        .meta("timeout", "30000");
    assert_rc(&a.run("start"), 0);
    (pg, a)
}

/// A pair in a fake cluster, both started as standbys of nobody yet (what
/// Pacemaker does before it promotes one).
fn started_pair() -> (Node, Node, FakeCluster, Agent, Agent) {
    let (n1, n2) = pair_with("");
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    (n1, n2, fc, a1, a2)
}

/// The pair with node1 promoted and node2 streaming from it.
fn promoted_pair() -> (Node, Node, FakeCluster, Agent, Agent) {
    let (n1, n2, fc, a1, a2) = started_pair();
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    fc.set_role("pgsql", "node2", "Unpromoted");
    let streaming = || {
        n1.pg
            .psql("select count(*) from pg_stat_replication where state = 'streaming'")
            .is_ok_and(|c| c == "1")
    };
    assert!(wait_for(Duration::from_secs(20), streaming), "no standby");
    (n1, n2, fc, a1, a2)
}

// ---------------------------------------------------------------------------
// The postmaster stopped with SIGSTOP

#[test]
fn sigstop_postmaster_monitor_and_stop() {
    let (pg, a) = stand_alone();
    let frozen = freeze_postmaster(&pg);
    let fault = "postmaster stopped with SIGSTOP (rep_mode=none)";
    row(
        "sigstop-monitor",
        fault,
        &a.clone().recurring(),
        "monitor",
        &pg,
        &[],
    );
    row("sigstop-stop", fault, &a, "stop", &pg, &[]);
    drop(frozen);
    // The signals pg_ctl sent were queued: the thawed server obeys them.
    assert!(
        wait_for(Duration::from_secs(20), || !pg.is_running()),
        "still running after SIGCONT"
    );
    assert_rc(&a.run("stop"), 0);
}

#[test]
fn sigstop_postmaster_demote() {
    let (n1, n2, _fc, a1, _a2) = promoted_pair();
    let frozen = freeze_postmaster(&n1.pg);
    row(
        "sigstop-demote",
        "postmaster of the primary stopped with SIGSTOP",
        &a1.clone().meta("notify_slave_uname", "node2"),
        "demote",
        &n1.pg,
        &[&n2.pg],
    );
    drop(frozen);
}

#[test]
fn sigstop_postmaster_promote() {
    let (n1, n2, _fc, a1, _a2) = started_pair();
    let frozen = freeze_postmaster(&n1.pg);
    row(
        "sigstop-promote",
        "postmaster of the standby to promote stopped with SIGSTOP",
        &a1,
        "promote",
        &n1.pg,
        &[&n2.pg],
    );
    drop(frozen);
}

// ---------------------------------------------------------------------------
// Connections

/// `n` sessions of the ordinary role `app`, each in a long pg_sleep, until
/// dropped.
struct Clients(Vec<std::process::Child>);

impl Drop for Clients {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn ordinary_clients(pg: &PgInstance, n: usize) -> Clients {
    pg.psql("create role app login").unwrap();
    clients_of(pg, "app", n)
}

/// `n` sessions of `role`, each in a long pg_sleep, all in.
fn clients_of(pg: &PgInstance, role: &str, n: usize) -> Clients {
    let spawn = || {
        use std::os::unix::process::CommandExt;
        let (uid, gid) = uid_of(PGDBA);
        Command::new(pg_bindir().join("psql"))
            .args(["-h", pg.sockdir().to_str().unwrap()])
            .args(["-p", &pg.port.to_string(), "-U", role, "-d", "postgres"])
            .args(["-AtXc", "select pg_sleep(600)"])
            .uid(uid)
            .gid(gid)
            .env("LC_ALL", "C")
            .current_dir("/")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut clients = Clients((0..n).map(|_| spawn()).collect());
    // The check below connects as a superuser, which takes an ordinary slot
    // while one is free: a client refused meanwhile is started again.
    let all_in = |clients: &mut Clients| {
        for c in &mut clients.0 {
            if c.try_wait().unwrap().is_some() {
                *c = spawn();
            }
        }
        pg.psql(&format!(
            "select count(*) from pg_stat_activity where usename = '{role}' \
             and query like '%pg_sleep%' and pid <> pg_backend_pid()"
        ))
        .is_ok_and(|c| c == n.to_string())
    };
    assert!(
        wait_for(Duration::from_secs(20), || all_in(&mut clients)),
        "clients not in"
    );
    clients
}

/// max_connections = 6, superuser_reserved_connections = 3: three ordinary
/// clients take every slot they may have. The agent connects as pgdba, a
/// superuser, so the reserved slots are its.
#[test]
fn every_ordinary_slot_taken() {
    let pg = PgInstance::new();
    pg.append_conf("max_connections = 6\nsuperuser_reserved_connections = 3\n");
    let a = Agent::ours()
        .on(&pg)
        .param("tmpdir", pg.tmpdir().to_str().unwrap());
    assert_rc(&a.run("start"), 0);
    let clients = ordinary_clients(&pg, 3);
    let fourth = as_postgres(
        &pg_bindir().join("psql"),
        &[
            "-h",
            pg.sockdir().to_str().unwrap(),
            "-p",
            &pg.port.to_string(),
            "-U",
            "app",
            "-d",
            "postgres",
            "-AtXc",
            "select 1",
        ],
    );
    assert!(!fourth.status.success(), "a fourth ordinary client got in");
    let out = row(
        "max-connections",
        "every ordinary backend slot taken (max_connections = 6, 3 reserved, 3 clients of \
         an ordinary role)",
        &a.clone().recurring(),
        "monitor",
        &pg,
        &[],
    );
    assert_rc(&out, 0);
    drop(clients);
    assert_rc(&a.run("stop"), 0);
}

/// Fills the listen queue of the frozen postmaster's Unix socket: connects
/// without blocking until the kernel says EAGAIN. The sockets stay open
/// until dropped.
fn fill_backlog(pg: &PgInstance) -> Vec<std::os::fd::OwnedFd> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let path = pg.sockdir().join(format!(".s.PGSQL.{}", pg.port));
    let addr = UnixAddr::new(&path).unwrap();
    let mut held = Vec::new();
    for _ in 0..100_000 {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap();
        match connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
            Ok(()) => held.push(fd),
            Err(nix::errno::Errno::EAGAIN) => return held,
            Err(e) => panic!("connect {}: {e}", path.display()),
        }
    }
    panic!("the listen queue of {} never filled", path.display());
}

/// The postmaster frozen and its listen queue full: a blocking connect to
/// the Unix socket would wait for ever. The agent's connect is bounded by
/// the op's deadline.
#[test]
fn listen_backlog_full() {
    let (pg, a) = stand_alone();
    let frozen = freeze_postmaster(&pg);
    let held = fill_backlog(&pg);
    assert!(!held.is_empty());
    let out = row(
        "backlog-full",
        "the listen queue of the Unix socket full (postmaster stopped with SIGSTOP, the queue \
         filled by the test), so that a connect blocks",
        &a.clone().recurring(),
        "monitor",
        &pg,
        &[],
    );
    assert!(
        out.exit_reason()
            .is_some_and(|r| r.contains("listen queue stayed full")),
        "{out:?}"
    );
    drop(held);
    drop(frozen);
    assert_rc(&a.run("stop"), 0);
}

// ---------------------------------------------------------------------------
// Pacemaker's tools

/// How a stand-in tool misbehaves.
const TOOL_FAULTS: &[(&str, &str, &str)] = &[
    (
        "slow",
        "hangs (sleeps past the op timeout)",
        "exec sleep 600",
    ),
    (
        "failing",
        "fails (exit 102, an error on stderr)",
        "echo 'Error: Transport endpoint is not connected' >&2\nexit 102",
    ),
    (
        "garbage",
        "prints garbage (exit 0)",
        "printf '\\001\\377<<<%%not xml or a value>>>\\n{\"x\":}\\n'\nexit 0",
    ),
];

/// Each fault of [`TOOL_FAULTS`] in `tool`, on a fresh pair: node1's
/// promote, or (`standby_monitor`) node2's first monitor as the standby of
/// a promoted node1 with `check_wal_receiver=true` (the only user of
/// attrd_updater in this personality). The tool must have been run for the row to count.
fn tool_rows(tool: &str, standby_monitor: bool) {
    for (mode, what, body) in TOOL_FAULTS {
        let id = format!("{tool}-{mode}");
        let fault = format!("{tool} {what}");
        if standby_monitor {
            let (n1, n2, fc, _a1, a2) = promoted_pair();
            fc.replace_tool(tool, body);
            let a2 = a2.param("check_wal_receiver", "true").recurring();
            row(&id, &fault, &a2, "monitor", &n2.pg, &[&n1.pg]);
            assert!(fc.tool_called(tool), "{id}: {tool} was not run");
        } else {
            let (n1, n2, fc, a1, _a2) = started_pair();
            fc.replace_tool(tool, body);
            row(&id, &fault, &a1, "promote", &n1.pg, &[&n2.pg]);
            assert!(fc.tool_called(tool), "{id}: {tool} was not run");
        }
    }
}

/// The attribute daemon restarting during a promote: crm_attribute and
/// attrd_updater fail as when it is away (until the wall clock's next
/// second but two, 2 to 3 s), then work again.
#[test]
fn attribute_daemon_restarting() {
    let (n1, n2, fc, a1, _a2) = started_pair();
    let back = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    for tool in ["crm_attribute", "attrd_updater"] {
        let real = fc.real_tool(tool);
        fc.replace_tool(
            tool,
            &format!(
                "if [ \"$(date +%s)\" -lt {back} ]; then\n\
                 echo 'Could not connect to pacemaker-attrd: Connection refused' >&2\n\
                 exit 102\nfi\nexec '{}' \"$@\"",
                real.display()
            ),
        );
    }
    row(
        "attrd-restart",
        "the attribute daemon restarting (crm_attribute and attrd_updater refused for 2 to 3 s, \
         then working)",
        &a1,
        "promote",
        &n1.pg,
        &[&n2.pg],
    );
    assert!(fc.tool_called("crm_attribute"), "crm_attribute was not run");
}

#[test]
fn crm_attribute_slow_failing_garbage() {
    tool_rows("crm_attribute", false);
}

#[test]
fn crm_mon_slow_failing_garbage() {
    tool_rows("crm_mon", false);
}

#[test]
fn attrd_updater_slow_failing_garbage() {
    tool_rows("attrd_updater", true);
}

// ---------------------------------------------------------------------------
// Secrets

/// Which of `secrets` occur in `haystack`.
fn secrets_in<'a>(haystack: &[u8], secrets: &[&'a str]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|s| haystack.windows(s.len()).any(|w| w == s.as_bytes()))
        .copied()
        .collect()
}

/// The scanner finds what is planted, in an argv (NUL-separated) as in an
/// environment, and nothing else.
#[test]
fn secret_scanner_finds_a_planted_secret() {
    let secrets = ["rep-Planted7", "mon-Planted7"];
    let argv = b"pg_rewind\0--source-server=host=h user=repuser password=rep-Planted7\0";
    assert_eq!(secrets_in(argv, &secrets), vec!["rep-Planted7"]);
    let environ = b"PATH=/bin\0PGPASSWORD=mon-Planted7\0";
    assert_eq!(secrets_in(environ, &secrets), vec!["mon-Planted7"]);
    assert!(secrets_in(b"password=rep-Planted", &secrets).is_empty());
}

/// Samples the argv and environment of every process but the agent itself
/// (which Pacemaker hands the parameters, passwords included) and this
/// test, until dropped; collects where a secret showed.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<String>, usize)>>,
}

impl Sampler {
    /// `allowed`: (program, variable) pairs: a program whose argv[0] ends
    /// with `program` may hold a secret in its environment as `variable`
    /// (psql and pg_rewind get the replication password in `PGPASSWORD`).
    fn start(secrets: Vec<String>, allowed: &[(&str, &str)]) -> Sampler {
        let allowed: Vec<(String, String)> = allowed
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let ours = our_binary().canonicalize().unwrap();
        let me = std::process::id().to_string();
        let thread = std::thread::spawn(move || {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let mut found = std::collections::BTreeSet::new();
            let mut seen = std::collections::BTreeSet::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                for e in std::fs::read_dir("/proc").unwrap().flatten() {
                    let pid = e.file_name().to_string_lossy().into_owned();
                    if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                        continue;
                    }
                    let exe = std::fs::read_link(e.path().join("exe")).ok();
                    if exe.as_deref() == Some(ours.as_path()) {
                        continue;
                    }
                    for what in ["cmdline", "environ"] {
                        let Ok(data) = std::fs::read(e.path().join(what)) else {
                            continue;
                        };
                        let argv0 = std::fs::read(e.path().join("cmdline"))
                            .map(|c| {
                                String::from_utf8_lossy(c.split(|b| *b == 0).next().unwrap())
                                    .into_owned()
                            })
                            .unwrap_or_default();
                        let data = if what == "environ" {
                            // Drop the variables this program may have.
                            data.split(|b| *b == 0)
                                .filter(|var| {
                                    !allowed.iter().any(|(p, v)| {
                                        argv0.ends_with(p.as_str()) && var.starts_with(v.as_bytes())
                                    })
                                })
                                .collect::<Vec<_>>()
                                .join(&0u8)
                        } else {
                            data
                        };
                        for s in secrets_in(&data, &secrets) {
                            found.insert(format!("{s} in the {what} of {argv0}"));
                        }
                    }
                    seen.insert(pid);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (found.into_iter().collect(), seen.len())
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    /// What was found, and how many processes were looked at.
    fn finish(mut self) -> (Vec<String>, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Two passwords of this run, and a pair whose pg_hba.conf requires them:
/// `repuser` (replication) and `monuser` (the monitor, in pg_monitor), both
/// created before the base backup so that node2 starts with them. `conf`
/// goes to the primary's settings first.
fn secret_pair(conf: &str) -> (Node, Node, String, String) {
    let tag = format!(
        "{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let rep_pw = format!("RepPw-{tag}");
    let mon_pw = format!("MonPw-{tag}");
    let port = PgInstance::fresh_port();
    let pg1 = PgInstance::primary(ADDR1, port);
    pg1.append_conf(conf);
    pg1.start_directly();
    pg1.psql(&format!(
        "create role repuser replication login password '{rep_pw}'; \
         create role monuser login password '{mon_pw}' in role pg_monitor"
    ))
    .unwrap();
    let pg2 = PgInstance::standby_of(&pg1, ADDR1, ADDR2);
    pg1.stop_directly();
    let n1 = Node {
        name: "node1",
        pg: pg1,
    };
    let n2 = Node {
        name: "node2",
        pg: pg2,
    };
    // Passwords for these two roles, whatever the trust lines below say.
    for n in [&n1, &n2] {
        let hba = n.pg.pgdata().join("pg_hba.conf");
        let text = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(
            &hba,
            format!(
                "local all monuser scram-sha-256\nhost all monuser 127.0.0.0/8 scram-sha-256\n\
                 host replication repuser 127.0.0.0/8 scram-sha-256\n{text}"
            ),
        )
        .unwrap();
    }
    (n1, n2, rep_pw, mon_pw)
}

/// Our agent on `n`, given both passwords, logging at debug level.
fn with_secrets(fc: &FakeCluster, n: &Node, master_ip: &str, rep_pw: &str, mon_pw: &str) -> Agent {
    agent(fc, n, "sync", master_ip)
        .param("repuser", "repuser")
        .param("primary_conninfo_opt", &format!("password={rep_pw}"))
        .param("monitor_user", "monuser")
        .param("monitor_password", mon_pw)
        .param("check_wal_receiver", "true")
        .env("HA_debug", "1")
}

/// Where the secrets showed after the run, besides what the sampler found:
/// the agent's output and exit reasons, the Pacemaker tools' argv, the
/// server logs.
fn leaks_after(
    found: Vec<String>,
    outcomes: &[Outcome],
    fc: &FakeCluster,
    nodes: &[&Node],
    secrets: &[&str],
) -> Vec<String> {
    let mut leaks = found;
    for (i, o) in outcomes.iter().enumerate() {
        for s in secrets_in(format!("{}{}", o.stdout, o.stderr).as_bytes(), secrets) {
            leaks.push(format!("{s} in the output of step {i}"));
        }
    }
    let calls = std::fs::read(fc.log_path()).unwrap_or_default();
    for s in secrets_in(&calls, secrets) {
        leaks.push(format!("{s} in the argv of a Pacemaker tool"));
    }
    for n in nodes {
        let log = std::fs::read(n.pg.logfile()).unwrap_or_default();
        for s in secrets_in(&log, secrets) {
            leaks.push(format!("{s} in the server log of {}", n.name));
        }
    }
    leaks
}

/// A replication run (start, promote, streaming with the replication
/// password, monitors as the password-authenticated monitor_user, demote,
/// stop) with both passwords required by pg_hba.conf: neither shows in the
/// argv or environment of any process but the agent, in the agent's output
/// (logs at debug level, exit reasons), in the fake cluster's call log
/// (the Pacemaker tools' argv) or in the server logs.
#[test]
fn passwords_stay_out_of_argv_environment_and_logs() {
    let (n1, n2, rep_pw, mon_pw) = secret_pair("");
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = with_secrets(&fc, &n1, ADDR1, &rep_pw, &mon_pw);
    let a2 = with_secrets(&fc, &n2, ADDR1, &rep_pw, &mon_pw);
    let sampler = Sampler::start(vec![rep_pw.clone(), mon_pw.clone()], &[]);
    let mut outcomes = vec![a1.run("start"), a2.run("start"), a1.run("promote")];
    fc.set_role("pgsql", "node1", "Promoted");
    fc.set_role("pgsql", "node2", "Unpromoted");
    let streaming = || {
        n1.pg
            .psql(
                "select count(*) from pg_stat_replication \
                 where state = 'streaming' and usename = 'repuser'",
            )
            .is_ok_and(|c| c == "1")
    };
    assert!(
        wait_for(Duration::from_secs(20), streaming),
        "node2 never streamed as repuser"
    );
    for _ in 0..2 {
        outcomes.push(
            a1.clone()
                .recurring()
                .meta("role", "Promoted")
                .run("monitor"),
        );
        outcomes.push(a2.clone().recurring().run("monitor"));
    }
    outcomes.push(a1.clone().meta("notify_slave_uname", "node2").run("demote"));
    outcomes.push(a2.run("stop"));
    outcomes.push(a1.run("stop"));
    let (found, looked_at) = sampler.finish();
    for (i, o) in outcomes.iter().enumerate().take(4) {
        assert!([0, 8].contains(&o.code), "step {i}: {o:?}");
    }
    // The monitors really authenticated as monuser: the primary's was 8.
    assert_rc(&outcomes[3], 8);
    assert!(looked_at > 10, "the sampler saw {looked_at} processes");
    let leaks = leaks_after(found, &outcomes, &fc, &[&n1, &n2], &[&rep_pw, &mon_pw]);
    assert!(leaks.is_empty(), "passwords leaked:\n{}", leaks.join("\n"));
    let dir = dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("passwords.rec"),
        format!(
            "id=passwords\nactions={}\nprocesses={looked_at}\n",
            outcomes.len()
        ),
    )
    .unwrap();
}

/// The rejoin of a diverged former primary with `rejoin=rewind`: the
/// agent runs psql (the new primary's identity, a checkpoint) and
/// pg_rewind against the new primary with `primary_conninfo_opt`, password
/// included. The password goes to them in `PGPASSWORD`, which they need,
/// never in their argv; no other process has it.
#[test]
fn passwords_stay_out_of_the_argv_of_a_rewind() {
    let (n1, n2, rep_pw, mon_pw) = secret_pair("wal_log_hints = on\n");
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = with_secrets(&fc, &n1, ADDR1, &rep_pw, &mon_pw);
    let a2 = with_secrets(&fc, &n2, ADDR1, &rep_pw, &mon_pw);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    fc.set_role("pgsql", "node2", "Unpromoted");
    // The primary's monitor makes node2 its synchronous standby.
    standby_streams_then_primary_monitor(&n1, &a1);
    // node1 diverges (a local commit node2 never gets) and crashes; node2
    // is promoted.
    n2.pg.stop_directly();
    n1.pg
        .psql("create table t(x int); set synchronous_commit = local; insert into t values (1)")
        .unwrap();
    n1.pg.kill9();
    n2.pg.start_directly();
    fc.set_online("node1", false);
    fc.set_role("pgsql", "node1", "Stopped");
    let new_primary = with_secrets(&fc, &n2, ADDR2, &rep_pw, &mon_pw);
    assert_rc(&new_primary.run("promote"), 0);
    fc.set_role("pgsql", "node2", "Promoted");
    fc.set_online("node1", true);
    // The rewind, watched.
    let sampler = Sampler::start(
        vec![rep_pw.clone(), mon_pw.clone()],
        &[("pg_rewind", "PGPASSWORD="), ("psql", "PGPASSWORD=")],
    );
    let back = with_secrets(&fc, &n1, ADDR2, &rep_pw, &mon_pw).param("rejoin", "rewind");
    let out = back.run("start");
    let (found, _) = sampler.finish();
    assert_rc(&out, 0);
    assert!(
        out.stderr.contains("Rewound from the primary at"),
        "{out:?}"
    );
    let leaks = leaks_after(found, &[out], &fc, &[&n1, &n2], &[&rep_pw, &mon_pw]);
    assert!(leaks.is_empty(), "passwords leaked:\n{}", leaks.join("\n"));
    let dir = dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("passwords-rewind.rec"), "id=passwords-rewind\n").unwrap();
}

// ---------------------------------------------------------------------------
// Directories and client tools

/// A mount, undone when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[track_caller]
fn mount(args: &[&str], target: &Path) -> Mount {
    std::fs::create_dir_all(target).unwrap();
    let st = Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .unwrap();
    assert!(st.success(), "mount {args:?} {}", target.display());
    Mount(target.to_path_buf())
}

/// A small tmpfs of `size` at `target`, owned by the PostgreSQL user (mode
/// 0700, as a data directory), holding a copy of the directory `from`.
fn small_tmpfs_with(from: &Path, size: &str, target: &Path) -> Mount {
    let (uid, gid) = uid_of(PGDBA);
    let m = mount(
        &[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700,uid={uid},gid={gid}"),
            "tmpfs",
        ],
        target,
    );
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(target)
        .status()
        .unwrap();
    assert!(st.success());
    m
}

/// node1 started; node2 (stopped) with `fault` on its tmpdir starts as a
/// standby.
fn standby_start_with_broken_tmpdir(id: &str, fault: &str, brk: impl FnOnce(&Path) -> Mount) {
    let (n1, n2) = pair_with("");
    let fc = FakeCluster::new(&["node1", "node2"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1);
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    assert_rc(&a1.run("start"), 0);
    let m = brk(&n2.pg.tmpdir());
    let out = row(id, fault, &a2, "start", &n2.pg, &[&n1.pg]);
    assert_ne!(out.code, 0, "{out:?}");
    drop(m);
    let _ = a2.run("stop");
}

#[test]
fn tmpdir_read_only() {
    standby_start_with_broken_tmpdir(
        "tmpdir-read-only",
        "the agent's tmpdir read-only (a read-only bind mount)",
        |dir| {
            let m = mount(&["--bind", dir.to_str().unwrap()], dir);
            let st = Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(dir)
                .status()
                .unwrap();
            assert!(st.success());
            m
        },
    );
}

#[test]
fn tmpdir_full() {
    standby_start_with_broken_tmpdir(
        "tmpdir-full",
        "the agent's tmpdir full (a tmpfs of 64 kB, filled)",
        |dir| {
            let m = mount(&["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs"], dir);
            fill(&dir.join("filler"));
            m
        },
    );
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        if let Err(e) = f.write_all(&block).and_then(|_| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            return;
        }
    }
}

/// A directory of links to the real server binaries the test can take
/// away one by one (`pgctl` points into it).
fn private_bindir(pg: &PgInstance, tools: &[&str]) -> PathBuf {
    let dir = pg.root.path().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    for t in tools {
        std::os::unix::fs::symlink(pg.bindir.join(t), dir.join(t)).unwrap();
    }
    dir
}

#[test]
fn pg_ctl_missing_mid_run() {
    let pg = PgInstance::new();
    let bin = private_bindir(&pg, &["pg_ctl", "pg_controldata"]);
    let a = Agent::ours()
        .on(&pg)
        .param("pgctl", bin.join("pg_ctl").to_str().unwrap())
        .param("tmpdir", pg.tmpdir().to_str().unwrap());
    assert_rc(&a.run("start"), 0);
    std::fs::remove_file(bin.join("pg_ctl")).unwrap();
    let fault = "pg_ctl removed after start";
    monitor_then_stop("pg_ctl-missing", fault, &a, &pg);
}

#[test]
fn pg_ctl_not_executable_mid_run() {
    let pg = PgInstance::new();
    let bin = private_bindir(&pg, &["pg_ctl", "pg_controldata"]);
    let a = Agent::ours()
        .on(&pg)
        .param("pgctl", bin.join("pg_ctl").to_str().unwrap())
        .param("tmpdir", pg.tmpdir().to_str().unwrap());
    assert_rc(&a.run("start"), 0);
    let pg_ctl = bin.join("pg_ctl");
    std::fs::remove_file(&pg_ctl).unwrap();
    std::fs::copy(pg.bindir.join("pg_ctl"), &pg_ctl).unwrap();
    std::fs::set_permissions(&pg_ctl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = row(
        "pg_ctl-not-executable-stop",
        "pg_ctl made not executable (mode 644) after start",
        &a,
        "stop",
        &pg,
        &[],
    );
    assert_rc(&out, 0);
    assert!(!pg.is_running());
}

/// Every slot of the primary taken by superuser sessions: the monitor
/// cannot connect and asks pg_controldata for the server's role, which is
/// gone.
#[test]
fn pg_controldata_missing_when_the_primary_is_full() {
    let (n1, n2) = pair_with("max_connections = 6\n");
    let fc = FakeCluster::new(&["node1", "node2"]);
    let bin = private_bindir(&n1.pg, &["pg_ctl", "pg_controldata"]);
    let a1 = agent(&fc, &n1, "sync", ADDR1).param("pgctl", bin.join("pg_ctl").to_str().unwrap());
    let a2 = agent(&fc, &n2, "sync", ADDR1);
    assert_rc(&a1.run("start"), 0);
    assert_rc(&a2.run("start"), 0);
    assert_rc(&a1.run("promote"), 0);
    fc.set_role("pgsql", "node1", "Promoted");
    fc.set_role("pgsql", "node2", "Unpromoted");
    let m1 = a1.clone().recurring().meta("role", "Promoted");
    assert_rc(&m1.run("monitor"), 8);
    let _most = clients_of(&n1.pg, PGDBA, 5);
    // The last one may be refused while the check holds the last slot: it
    // is started again until it holds it.
    let mut last = clients_without_check(&n1.pg, 1);
    assert!(
        wait_for(Duration::from_secs(20), || {
            if last.0[0].try_wait().unwrap().is_some() {
                last = clients_without_check(&n1.pg, 1);
                std::thread::sleep(Duration::from_millis(500));
            }
            n1.pg
                .psql("select 1")
                .is_err_and(|e| e.contains("too many clients"))
        }),
        "slots left"
    );
    std::fs::remove_file(bin.join("pg_controldata")).unwrap();
    row(
        "pg_controldata-missing",
        "pg_controldata removed, and every slot of the primary taken by superuser sessions \
         (the monitor then reads the role from pg_controldata)",
        &m1,
        "monitor",
        &n1.pg,
        &[&n2.pg],
    );
}

/// `n` superuser sessions in pg_sleep, not waited for (no slot is left to
/// check them with).
fn clients_without_check(pg: &PgInstance, n: usize) -> Clients {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = uid_of(PGDBA);
    Clients(
        (0..n)
            .map(|_| {
                Command::new(pg_bindir().join("psql"))
                    .args(["-h", pg.sockdir().to_str().unwrap()])
                    .args(["-p", &pg.port.to_string(), "-d", "postgres"])
                    .args(["-AtXc", "select pg_sleep(600)"])
                    .uid(uid)
                    .gid(gid)
                    .env("LC_ALL", "C")
                    .current_dir("/")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// The user database

/// The PostgreSQL user's lookup hangs: in a mount namespace of its own the
/// agent finds a FIFO without a writer at /etc/passwd, whose open blocks
/// (as a user database away on the network does). The server runs.
#[test]
fn nss_lookup_hangs() {
    let (pg, a) = stand_alone();
    let dir = pg.root.path().join("nss");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("passwd");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // argv[0] decides the personality: the namespace execs a link named pgsql.
    let link = dir.join("pgsql");
    std::os::unix::fs::symlink(our_binary(), &link).unwrap();
    let wrapper = dir.join("in-namespace");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec unshare -m --propagation private sh -c \
             'mount --bind \"$0\" /etc/passwd && exec \"$@\"' '{}' '{}' \"$@\"\n",
            fifo.display(),
            link.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut hung = Agent::program(wrapper, "pgsql").on(&pg).recurring();
    hung = hung.param("tmpdir", pg.tmpdir().to_str().unwrap());
    let out = row(
        "nss-hang",
        "the lookup of the PostgreSQL user hangs (/etc/passwd a FIFO without a writer, in \
         the agent's own mount namespace)",
        &hung,
        "monitor",
        &pg,
        &[],
    );
    assert!(
        out.exit_reason()
            .is_some_and(|r| r.contains("did not answer")),
        "{out:?}"
    );
    // A stop still stops the server, with signals.
    let out = row(
        "nss-hang-stop",
        "the lookup of the PostgreSQL user hangs (as above)",
        &hung.clone().meta("interval", "0"),
        "stop",
        &pg,
        &[],
    );
    assert_rc(&out, 0);
    assert!(!pg.is_running());
    assert_rc(&a.run("stop"), 0);
}

// ---------------------------------------------------------------------------
// Disk full

/// pg_wal on a tmpfs of its own (40 MB), filled while the server runs; a
/// write then needs a new WAL segment and cannot have it (PostgreSQL
/// PANICs). The monitor, then the stop.
#[test]
fn pg_wal_full() {
    let pg = PgInstance::new();
    let wal = pg.pgdata().join("pg_wal");
    let walfs = pg.root.path().join("walfs");
    let m = small_tmpfs_with(&wal, "40m", &walfs);
    std::fs::remove_dir_all(&wal).unwrap();
    std::os::unix::fs::symlink(&walfs, &wal).unwrap();
    let a = Agent::ours()
        .on(&pg)
        .param("tmpdir", pg.tmpdir().to_str().unwrap());
    assert_rc(&a.run("start"), 0);
    pg.psql("create table t(x int)").unwrap();
    fill(&walfs.join("filler"));
    let write = pg.psql("insert into t select generate_series(1, 2000000)");
    assert!(write.is_err(), "the write went through: {write:?}");
    // The crash restart settles: the server back up (recovery needed no new
    // segment) or gone.
    assert!(
        wait_for(Duration::from_secs(30), || !pg.is_running()
            || pg.psql("select 1").is_ok()),
        "the server neither came back nor ended"
    );
    let fault = "pg_wal full (a tmpfs of 40 MB, filled; a write then PANICs the server)";
    row(
        "disk-full-pg_wal",
        fault,
        &a.clone().recurring(),
        "monitor",
        &pg,
        &[],
    );
    let out = row("disk-full-pg_wal-stop", fault, &a, "stop", &pg, &[]);
    assert_rc(&out, 0);
    assert!(!pg.is_running());
    drop(m);
}

// ---------------------------------------------------------------------------
// The wall clock

/// The agent's only wall-clock times are the notes it leaves between
/// monitors (its deadlines are on the monotonic clock). A jump of the
/// clock between two monitors is, for the agent, its steady-standby note
/// dated a day ahead (the clock went back) or a day behind (it jumped
/// forward): the standby's monitor must check in full and carry on.
#[test]
fn clock_jumps_between_monitors() {
    let (n1, n2, _fc, a1, a2) = promoted_pair();
    // The primary's monitor makes node2 its synchronous standby; node2's
    // monitors then see a steady standby and leave their note.
    assert_rc(
        &a1.clone()
            .recurring()
            .meta("role", "Promoted")
            .run("monitor"),
        8,
    );
    let m2 = a2.clone().recurring();
    assert_rc(&m2.run("monitor"), 0);
    assert_rc(&m2.run("monitor"), 0);
    let note = n2.pg.tmpdir().join(".pgsql-steady-standby");
    let text = std::fs::read_to_string(&note)
        .unwrap_or_else(|e| panic!("no steady note {}: {e}", note.display()));
    let checked: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("checked="))
        .unwrap()
        .parse()
        .unwrap();
    for (id, shift, what) in [
        ("clock-back", 86_400, "went back a day"),
        ("clock-forward", -86_400, "jumped forward a day"),
    ] {
        let moved = text.replace(
            &format!("checked={checked}"),
            &format!("checked={}", checked + shift),
        );
        std::fs::write(&note, moved).unwrap();
        let out = row(
            id,
            &format!(
                "the wall clock {what} since the last monitor (the standby's steady note dated \
                 accordingly)"
            ),
            &m2,
            "monitor",
            &n2.pg,
            &[&n1.pg],
        );
        assert_rc(&out, 0);
    }
}

/// The wall clock jumping while an action runs. Moving the machine's clock
/// would move it for every process here, so the agent alone runs under
/// libfaketime (Debian's, by LD_PRELOAD), which reads the wall clock's
/// offset from a file the test rewrites during the action: a day ahead at
/// 2 s, a day behind at 5 s. The monotonic clock stays real
/// (`DONT_FAKE_MONOTONIC`), as a step of the wall clock leaves it. The
/// actions are a monitor and a stop of a frozen postmaster, which wait
/// until their deadlines: both end before their op timeout, and their last
/// log line is dated a day behind (the jumps reached the agent).
#[test]
fn clock_jumps_during_an_action() {
    const LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    assert!(
        Path::new(LIB).exists(),
        "{LIB}: the package libfaketime is not installed (tests/run installs it)"
    );
    let (pg, a) = stand_alone();
    let offset = pg.root.path().join("faketime-offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let a = a
        .env("LD_PRELOAD", LIB)
        .env("FAKETIME_TIMESTAMP_FILE", offset.to_str().unwrap())
        .env("FAKETIME_NO_CACHE", "1")
        .env("DONT_FAKE_MONOTONIC", "1");
    let yesterday = Command::new("date")
        .args(["-d", "yesterday", "+%b %d"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let yesterday = String::from_utf8(yesterday.stdout).unwrap();
    let frozen = freeze_postmaster(&pg);
    let fault = "the wall clock a day ahead, then a day behind, while the action runs \
                 (libfaketime; the postmaster stopped with SIGSTOP, so that the action waits)";
    for (id, agent, action) in [
        ("clock-jump-monitor", a.clone().recurring(), "monitor"),
        ("clock-jump-stop", a.clone(), "stop"),
    ] {
        std::fs::write(&offset, "+0\n").unwrap();
        let jumps = {
            let offset = offset.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(2));
                std::fs::write(&offset, "+1d\n").unwrap();
                std::thread::sleep(Duration::from_secs(3));
                std::fs::write(&offset, "-1d\n").unwrap();
            })
        };
        let out = row(id, fault, &agent, action, &pg, &[]);
        jumps.join().unwrap();
        let last = out.stderr.lines().last().unwrap_or_default().to_string();
        assert!(
            last.starts_with(yesterday.trim()),
            "{id}: the jumps did not reach the agent (its last line: {last:?}, yesterday: \
             {yesterday:?})\n{}",
            out.stderr
        );
    }
    drop(frozen);
    assert!(
        wait_for(Duration::from_secs(20), || !pg.is_running()),
        "the thawed server did not obey the queued stop"
    );
}

/// The data directory on a tmpfs of its own (64 MB), filled while the
/// server runs: the monitor and the stop; then a start on the full disk.
#[test]
fn pgdata_full() {
    let pg = PgInstance::new();
    let data = pg.pgdata();
    let orig = pg.root.path().join("data.orig");
    std::fs::rename(&data, &orig).unwrap();
    let m = small_tmpfs_with(&orig, "64m", &data);
    let a = Agent::ours()
        .on(&pg)
        .param("tmpdir", pg.tmpdir().to_str().unwrap());
    assert_rc(&a.run("start"), 0);
    fill(&data.join("filler"));
    let fault = "the data directory full (a tmpfs of 64 MB, filled)";
    monitor_then_stop("disk-full-pgdata", fault, &a, &pg);
    // Whatever the stop freed (statistics, the PID file) is taken again.
    fill(&data.join("filler2"));
    row("disk-full-pgdata-start", fault, &a, "start", &pg, &[]);
    let _ = a.run("stop");
    drop(m);
}
