//! A scenario runner for replication mode: a [`Cluster`] of two or three
//! nodes, each with a real PostgreSQL and either agent (ours or the stock
//! `ocf:heartbeat:pgsql`), driven through the transitions Pacemaker would
//! run, with the notification environment Pacemaker sets, and a [`Trace`]
//! of what every step did: exit codes, the attribute store, the files the
//! agents generate and the servers' states.
//!
//! # The nodes
//!
//! node1 is an initdb'd primary listening on 127.0.0.11; node2 and node3 are
//! base backups of it listening on 127.0.0.12 and .13, all on one port (as
//! cluster nodes do) and each with its own socket directory and agent
//! tmpdir. The primary is stopped cleanly before the scenario starts, so no
//! server runs and no node is a primary: the cluster starts cold, like a
//! real one after installation. Because every base backup ends later than
//! the previous one and the primary's shutdown checkpoint is the last record
//! of all, the nodes' WAL positions are ordered node1 > node3 > node2: the
//! election without a master is deterministic.
//!
//! # The virtual IP
//!
//! A real cluster moves `master_ip` with the primary. On one machine every
//! node listens on its own loopback address, so [`Vip`] plays the virtual
//! IP: a TCP relay on 127.0.0.10 and the cluster's port, forwarding to the
//! current primary's address, or refusing (accept and close) while there is
//! none. Every agent invocation gets `master_ip=127.0.0.10`, standbys never
//! have to be restarted when the primary changes (replication.rs restarts
//! them with the new primary's address instead, steps a real cluster does
//! not have), and their walreceivers reconnect on their own as they do in
//! production (`wal_retrieve_retry_interval` is 1 s on every node so that
//! is quick). Moving the address cuts the relayed connections, as an
//! address moving to another host does.
//!
//! When it moves follows the reference's documented configuration
//! (ClusterLabs' pgsql replication example: `order ... msPostgresql:promote
//! master-group:start symmetrical=false` and `order ...
//! msPostgresql:demote master-group:stop symmetrical=false`): the relay
//! points at a node once its promote returned 0, and at nobody once a
//! demote returned, or when the primary crashed. The order matters: a
//! standby cut off before the demote misses the old primary's shutdown
//! checkpoint, the new primary forks its timeline before it, and the old
//! primary can never follow it.
//!
//! # Transitions
//!
//! Pacemaker gives every action of a transition of a clone with `notify=true`
//! the notification lists computed when the transition was scheduled
//! (`notify_{start,stop,promote,demote,active,promoted,unpromoted}_uname`,
//! the legacy `master`/`slave` names, `_resource` variants, `inactive`,
//! `available`, `all`; an empty list is a single space), and the
//! notifications also get `notify_type` and `notify_operation`. Pre
//! notifications go to the instances running when the transition starts,
//! post notifications to those running after the action. The agents rely on
//! this (the stock demote removes `PGSQL.lock` only when
//! `notify_slave_uname` is " ").
//!
//! Where Pacemaker would race with PostgreSQL (a notification running before
//! a just-started standby has connected, or before the primary noticed a
//! stopped one), the runner waits for PostgreSQL to settle first, so both
//! agents see the same server state and the traces can be compared.
//!
//! # The trace
//!
//! After every step: the exit code of every invocation (`rc <node> <what>`),
//! every attribute in the fake store (`attr <node> <lifetime> <name>`), bans,
//! roles and membership as the fake shows them, the files (`recovery.conf`
//! in tmpdir with its mode, `standby.signal`, `rep_mode.conf` with its mode,
//! `PGSQL.lock`, `xlog_note.*`, other tmpdir entries, the include lines of
//! postgresql.conf), each server's own view (`pg <node>`: `down`,
//! `standby`, `primary`; its replication slots; a primary's timeline), and
//! the runner's decisions (`decision <what>`, e.g. whom it promoted).
//! Exit reasons are kept as notes for failure messages, not compared (their
//! texts differ on purpose, compatibility.md #13). Normalised:
//! each node's temporary root becomes `<nodeN>`, the port `<port>`, and LSNs
//! (16 upper-case hex digits) are replaced by their rank among the LSNs of
//! the snapshot (`LSN1` the oldest), which keeps what the agents compare
//! (equality and order) and drops what differs between two runs.

#![allow(dead_code)] // a kit: not every scenario uses every helper

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fake_cluster::FakeCluster;
use crate::harness::*;

/// The virtual IP every agent is given as `master_ip`.
pub const VIP: &str = "127.0.0.10";
pub const NAMES: [&str; 3] = ["node1", "node2", "node3"];
pub const ADDRS: [&str; 3] = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];

/// The stock agent can retry for ever (spec §5.3); a run killed at this
/// limit shows code 124.
pub const LIMIT: Duration = Duration::from_secs(50);

/// Which agent a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Stock,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Stock => "stock",
        }
    }
}

/// Pacemaker's view of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Stopped,
    Unpromoted,
    Promoted,
}

// ---------------------------------------------------------------------------
// The virtual IP

/// A TCP relay on [`VIP`]:port to the current primary (see the module doc).
pub struct Vip {
    target: Arc<Mutex<Option<String>>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Vip {
    pub fn new(port: u16) -> Vip {
        let listener = TcpListener::bind((VIP, port))
            .unwrap_or_else(|e| panic!("binding the virtual IP {VIP}:{port}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let target: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (target, conns, stop) = (target.clone(), conns.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => relay(client, port, &target, &conns),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Vip {
            target,
            conns,
            stop,
            thread: Some(thread),
        }
    }

    /// Moves the address to `addr` (`None`: down). Relayed connections are
    /// cut, as when an address moves to another host.
    pub fn point_to(&self, addr: Option<&str>) {
        *self.target.lock().unwrap() = addr.map(str::to_string);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    pub fn target(&self) -> Option<String> {
        self.target.lock().unwrap().clone()
    }
}

fn relay(
    client: TcpStream,
    port: u16,
    target: &Arc<Mutex<Option<String>>>,
    conns: &Arc<Mutex<Vec<TcpStream>>>,
) {
    let _ = client.set_nonblocking(false);
    let Some(addr) = target.lock().unwrap().clone() else {
        return; // no primary: the connection is closed at once
    };
    let sock: std::net::SocketAddr = format!("{addr}:{port}").parse().unwrap();
    let Ok(server) = TcpStream::connect_timeout(&sock, Duration::from_secs(2)) else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    {
        let mut list = conns.lock().unwrap();
        list.push(client.try_clone().unwrap());
        list.push(server.try_clone().unwrap());
    }
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Write);
            let _ = from.shutdown(Shutdown::Read);
        });
    };
    pump(client.try_clone().unwrap(), server.try_clone().unwrap());
    pump(server, client);
}

impl Drop for Vip {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.point_to(None);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// The trace

/// What one step left behind: `key -> value`; see the module doc for keys.
pub type State = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub struct Step {
    pub label: String,
    pub state: State,
    /// Exit reasons and durations of the invocations, for failure messages
    /// (not compared: the texts differ on purpose, compatibility.md #13).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub name: String,
    pub steps: Vec<Step>,
}

impl Trace {
    pub fn step(&self, label: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.label == label)
            .unwrap_or_else(|| panic!("{}: no step {label:?}", self.name))
    }
}

/// One node of a [`Cluster`].
pub struct ClusterNode {
    pub name: &'static str,
    pub addr: &'static str,
    pub kind: Kind,
    pub pg: PgInstance,
}

/// How the clone is configured (every node gets the same parameters).
#[derive(Clone, Debug)]
pub struct Options {
    pub rep_mode: &'static str,
    /// Extra OCF parameters (`restart_on_promote`, `replication_slot_name`...).
    pub params: Vec<(&'static str, &'static str)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            rep_mode: "sync",
            params: Vec::new(),
        }
    }
}

/// The notification lists of one transition (Pacemaker computes them when
/// it schedules the transition, and every action of it gets the same).
#[derive(Clone, Debug, Default)]
struct Lists {
    start: Vec<String>,
    stop: Vec<String>,
    promote: Vec<String>,
    demote: Vec<String>,
    active: Vec<String>,
    promoted: Vec<String>,
    unpromoted: Vec<String>,
    inactive: Vec<String>,
    available: Vec<String>,
    all: Vec<String>,
}

pub struct Cluster {
    pub fc: FakeCluster,
    pub nodes: Vec<ClusterNode>,
    pub vip: Vip,
    pub port: u16,
    opts: Options,
    roles: BTreeMap<String, Role>,
    online: BTreeMap<String, bool>,
    pub trace: Trace,
    /// The step being recorded: its invocations so far.
    pending: Vec<(String, String)>,
    notes: Vec<String>,
    /// Extra state entries for the current step (decisions of the runner).
    extra: Vec<(String, String)>,
    /// Time spent in agent invocations, and how many.
    pub agent_secs: f64,
    pub invocations: usize,
}

impl Cluster {
    /// `kinds.len()` nodes (2 or 3), stopped, no attributes, nobody online
    /// as a resource yet.
    pub fn new(name: &str, kinds: &[Kind], opts: Options) -> Cluster {
        assert!((2..=3).contains(&kinds.len()));
        let port = PgInstance::fresh_port();
        let pg1 = PgInstance::primary(ADDRS[0], port);
        pg1.start_directly();
        let mut pgs = vec![pg1];
        for addr in &ADDRS[1..kinds.len()] {
            pgs.push(PgInstance::standby_of(&pgs[0], ADDRS[0], addr));
        }
        pgs[0].stop_cleanly();
        for pg in &pgs {
            pg.append_conf("wal_retrieve_retry_interval = '1s'\n");
        }
        let nodes: Vec<ClusterNode> = pgs
            .into_iter()
            .enumerate()
            .map(|(i, pg)| ClusterNode {
                name: NAMES[i],
                addr: ADDRS[i],
                kind: kinds[i],
                pg,
            })
            .collect();
        let names: Vec<&str> = nodes.iter().map(|n| n.name).collect();
        let fc = FakeCluster::new(&names);
        let vip = Vip::new(port);
        Cluster {
            fc,
            port,
            vip,
            opts,
            roles: names
                .iter()
                .map(|n| (n.to_string(), Role::Stopped))
                .collect(),
            online: names.iter().map(|n| (n.to_string(), true)).collect(),
            nodes,
            trace: Trace {
                name: format!(
                    "{name} [{}]",
                    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
                ),
                steps: Vec::new(),
            },
            pending: Vec::new(),
            notes: Vec::new(),
            extra: Vec::new(),
            agent_secs: 0.0,
            invocations: 0,
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.to_string()).collect()
    }

    pub fn node(&self, name: &str) -> &ClusterNode {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn role(&self, name: &str) -> Role {
        self.roles[name]
    }

    pub fn primary(&self) -> Option<String> {
        self.roles
            .iter()
            .find(|(_, r)| **r == Role::Promoted)
            .map(|(n, _)| n.clone())
    }

    /// Nodes running an instance (Pacemaker's view), online.
    fn active(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| self.roles[n] != Role::Stopped && self.online[n])
            .collect()
    }

    fn with_role(&self, role: Role) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| self.roles[n] == role)
            .collect()
    }

    /// The lists as Pacemaker computes them now, for a transition doing
    /// `start`, `stop`, `promote`, `demote`.
    fn lists(&self, start: &[&str], stop: &[&str], promote: &[&str], demote: &[&str]) -> Lists {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let running: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| self.roles[n] != Role::Stopped)
            .collect();
        Lists {
            start: v(start),
            stop: v(stop),
            promote: v(promote),
            demote: v(demote),
            active: running.clone(),
            promoted: self.with_role(Role::Promoted),
            unpromoted: self.with_role(Role::Unpromoted),
            inactive: self
                .names()
                .into_iter()
                .filter(|n| !running.contains(n))
                .collect(),
            available: self
                .names()
                .into_iter()
                .filter(|n| self.online[n])
                .collect(),
            all: self.names(),
        }
    }

    /// The clone instance name Pacemaker uses for `node`'s instance.
    fn instance(&self, node: &str) -> String {
        let i = self.nodes.iter().position(|n| n.name == node).unwrap();
        format!("pgsql:{i}")
    }

    fn render(&self, nodes: &[String]) -> (String, String) {
        if nodes.is_empty() {
            return (" ".into(), " ".into());
        }
        (
            nodes.join(" "),
            nodes
                .iter()
                .map(|n| self.instance(n))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    fn with_lists(&self, mut a: Agent, l: &Lists) -> Agent {
        for (key, nodes) in [
            ("start", &l.start),
            ("stop", &l.stop),
            ("promote", &l.promote),
            ("demote", &l.demote),
            ("active", &l.active),
            ("promoted", &l.promoted),
            ("master", &l.promoted),
            ("unpromoted", &l.unpromoted),
            ("slave", &l.unpromoted),
        ] {
            let (unames, rscs) = self.render(nodes);
            a = a
                .meta(&format!("notify_{key}_uname"), &unames)
                .meta(&format!("notify_{key}_resource"), &rscs);
        }
        let (_, inactive) = self.render(&l.inactive);
        let (available, _) = self.render(&l.available);
        let (all, _) = self.render(&l.all);
        a.meta("notify_inactive_resource", &inactive)
            .meta("notify_available_uname", &available)
            .meta("notify_all_uname", &all)
    }

    /// The agent of `node` as Pacemaker runs it for this clone.
    pub fn agent(&self, node: &str) -> Agent {
        let n = self.node(node);
        let mut a = match n.kind {
            // Pacemaker always passes crm_feature_set; ours handles 2.1.5's
            // `-p -v -INFINITY` misparse. rejoin=off: the stock agent's
            // PGSQL.lock rule, which the comparison is about.
            Kind::Ours => Agent::ours()
                .param("crm_feature_set", "3.16.2")
                .param("rejoin", "off"),
            // Without it the 4.12 library uses `crm_master -l reboot`, which
            // works; with it, `crm_attribute -p -v -INFINITY` fails on
            // Pacemaker 2.1.5 and the start retries for ever (the fake
            // reproduces this, see tests/fake-cluster/README.md). We compare
            // against a working reference.
            Kind::Stock => Agent::stock().unwrap_or_else(|| {
                panic!(
                    "the stock agent /usr/lib/ocf/resource.d/heartbeat/pgsql is missing: \
                     install resource-agents; the replication differential tests need it"
                )
            }),
        }
        .limit(LIMIT)
        .on(&n.pg)
        .param("rep_mode", self.opts.rep_mode)
        .param("node_list", &self.names().join(" "))
        .param("master_ip", VIP)
        .param("tmpdir", n.pg.tmpdir().to_str().unwrap())
        .param("xlog_check_count", "1")
        .meta("promotable", "true")
        .meta("notify", "true")
        .meta("clone_max", &self.nodes.len().to_string())
        .meta("clone_node_max", "1")
        .meta("promoted_max", "1")
        .meta("promoted_node_max", "1")
        .meta("globally_unique", "false")
        // Ours takes its node name from here, the stock agent from
        // `uname -n` (the fake's shim prints FAKE_CRM_NODE).
        .meta("on_node", node)
        .meta("timeout", "30000");
        for (k, v) in &self.opts.params {
            a = a.param(k, v);
        }
        self.fc.apply(a, node)
    }

    // -- recording --------------------------------------------------------

    fn call(&mut self, node: &str, what: &str, a: Agent, action: &str) -> i32 {
        let t = Instant::now();
        let out = a.run(action);
        let secs = t.elapsed().as_secs_f64();
        self.agent_secs += secs;
        self.invocations += 1;
        let mut key = format!("rc {node} {what}");
        let same = self
            .pending
            .iter()
            .filter(|(k, _)| k.starts_with(&key))
            .count();
        if same > 0 {
            key = format!("{key} #{}", same + 1);
        }
        self.pending.push((key.clone(), out.code.to_string()));
        if let Some(reason) = out.exit_reason() {
            self.notes
                .push(format!("{key} = {} ({secs:.1}s): {reason}", out.code));
        }
        if out.code == 124 {
            self.notes.push(format!(
                "{key}: killed at the {LIMIT:?} limit; stderr tail:\n{}",
                tail(&out.stderr, 15)
            ));
        }
        if out.code != 0 && (action == "start" || action == "promote") {
            let log = std::fs::read_to_string(self.node(node).pg.logfile()).unwrap_or_default();
            self.notes
                .push(format!("{key}: postgresql.log tail:\n{}", tail(&log, 8)));
        }
        out.code
    }

    /// Records a decision of the runner (compared like any state entry).
    pub fn decide(&mut self, key: &str, value: &str) {
        self.extra
            .push((format!("decision {key}"), value.to_string()));
    }

    /// Closes the current step: snapshot and record it.
    pub fn record(&mut self, label: &str) {
        let mut state = self.snapshot();
        for (k, v) in self.pending.drain(..) {
            state.insert(k, v);
        }
        for (k, v) in self.extra.drain(..) {
            state.insert(k, v);
        }
        self.trace.steps.push(Step {
            label: label.to_string(),
            state,
            notes: std::mem::take(&mut self.notes),
        });
    }

    fn notify(&mut self, targets: &[String], kind: &str, op: &str, l: &Lists) {
        for t in targets {
            let a = self
                .with_lists(self.agent(t), l)
                .meta("notify_type", kind)
                .meta("notify_operation", op);
            self.call(t, &format!("notify {kind}-{op}"), a, "notify");
        }
    }

    fn act(&mut self, node: &str, action: &str, l: &Lists) -> i32 {
        let a = self.with_lists(self.agent(node), l);
        self.call(node, action, a, action)
    }

    // -- transitions -------------------------------------------------------

    /// Probes (monitor with interval 0) on every online node.
    pub fn probe_all(&mut self, label: &str) {
        let online: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| self.online[n])
            .collect();
        let refs: Vec<&str> = online.iter().map(String::as_str).collect();
        self.probe(label, &refs);
    }

    /// Probes of `nodes` (what Pacemaker runs on a node that joins).
    pub fn probe(&mut self, label: &str, nodes: &[&str]) {
        for n in nodes {
            let a = self.agent(n);
            self.call(n, "probe", a, "monitor");
        }
        self.record(label);
    }

    /// One transition starting `nodes`: pre-start notifications to the
    /// instances already running, the starts, post-start notifications to
    /// every instance running afterwards. A started standby is given time to
    /// connect to a running primary before the post-start notifications (a
    /// real node usually has by then; here it makes the primary's view
    /// deterministic).
    pub fn start(&mut self, label: &str, nodes: &[&str]) {
        let l = self.lists(nodes, &[], &[], &[]);
        let before = self.active();
        self.notify(&before, "pre", "start", &l);
        let mut ok = Vec::new();
        for n in nodes {
            if self.act(n, "start", &l) == 0 {
                self.roles.insert(n.to_string(), Role::Unpromoted);
                self.fc.set_role("pgsql", n, "Unpromoted");
                ok.push(n.to_string());
            }
        }
        if self.primary_running().is_some() {
            self.settle_streaming(&ok);
        }
        let after = self.active();
        self.notify(&after, "post", "start", &l);
        self.record(label);
    }

    /// One transition stopping `nodes` (none of them promoted: demote
    /// first): pre-stop notifications to every running instance, the stops,
    /// post-stop notifications to the instances still running.
    pub fn stop(&mut self, label: &str, nodes: &[&str]) {
        for n in nodes {
            assert_ne!(self.roles[*n], Role::Promoted, "demote {n} first");
        }
        let l = self.lists(&[], nodes, &[], &[]);
        let before = self.active();
        self.notify(&before, "pre", "stop", &l);
        for n in nodes {
            self.act(n, "stop", &l);
            self.roles.insert(n.to_string(), Role::Stopped);
            self.fc.set_role("pgsql", n, "Stopped");
        }
        self.settle_gone(nodes);
        let after = self.active();
        self.notify(&after, "post", "stop", &l);
        self.record(label);
    }

    /// One transition promoting `node`; the virtual IP follows on success.
    pub fn promote(&mut self, label: &str, node: &str) {
        let l = self.lists(&[], &[], &[node], &[]);
        self.promote_with(node, &l);
        self.record(label);
    }

    fn promote_with(&mut self, node: &str, l: &Lists) -> i32 {
        let active = self.active();
        self.notify(&active, "pre", "promote", l);
        let rc = self.act(node, "promote", l);
        if rc == 0 {
            self.roles.insert(node.to_string(), Role::Promoted);
            self.fc.set_role("pgsql", node, "Promoted");
            self.vip.point_to(Some(self.node(node).addr));
        }
        let active = self.active();
        self.notify(&active, "post", "promote", l);
        rc
    }

    fn demote_with(&mut self, node: &str, l: &Lists) -> i32 {
        let active = self.active();
        self.notify(&active, "pre", "demote", l);
        let rc = self.act(node, "demote", l);
        // After the demote, as in the reference's documented configuration
        // (`order ... msPostgresql:demote vip-group:stop symmetrical=false`):
        // the standbys receive the primary's shutdown checkpoint through it.
        self.vip.point_to(None);
        if rc == 0 {
            self.roles.insert(node.to_string(), Role::Unpromoted);
            self.fc.set_role("pgsql", node, "Unpromoted");
        }
        let active = self.active();
        self.notify(&active, "post", "demote", l);
        rc
    }

    /// One transition demoting `node` (the virtual IP goes after it).
    pub fn demote(&mut self, label: &str, node: &str) {
        let l = self.lists(&[], &[], &[], &[node]);
        self.demote_with(node, &l);
        self.record(label);
    }

    /// A switchover as one transition: demote `from`, promote `to`.
    pub fn switchover(&mut self, label: &str, from: &str, to: &str) {
        let l = self.lists(&[], &[], &[to], &[from]);
        self.demote_with(from, &l);
        self.promote_with(to, &l);
        self.record(label);
    }

    /// Stopping the whole clone as one transition: demote the primary, then
    /// stop every instance. The lists name the standbys that were running,
    /// so the stock demote keeps `PGSQL.lock` (spec §7.4).
    pub fn stop_clone(&mut self, label: &str) {
        let all = self.active();
        let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let primary = self.primary();
        let demote: Vec<&str> = primary.iter().map(String::as_str).collect();
        let l = self.lists(&[], &all_refs, &[], &demote);
        if let Some(p) = &primary {
            self.demote_with(p, &l);
        }
        let before = self.active();
        self.notify(&before, "pre", "stop", &l);
        for n in &all {
            self.act(n, "stop", &l);
            self.roles.insert(n.clone(), Role::Stopped);
            self.fc.set_role("pgsql", n, "Stopped");
        }
        self.record(label);
    }

    /// Recurring monitors (with the role's meta) of every running instance,
    /// in node order, `rounds` times.
    pub fn monitor_all(&mut self, label: &str, rounds: usize) {
        for _ in 0..rounds {
            for n in self.active() {
                self.monitor_one(&n);
            }
        }
        self.record(label);
    }

    /// A recurring monitor of one node.
    pub fn monitor(&mut self, label: &str, node: &str) {
        self.monitor_one(node);
        self.record(label);
    }

    fn monitor_one(&mut self, node: &str) -> i32 {
        let (role, interval) = match self.roles[node] {
            Role::Promoted => ("Promoted", "9000"),
            _ => ("Unpromoted", "10000"),
        };
        let a = self
            .agent(node)
            .meta("interval", interval)
            .meta("role", role);
        self.call(node, "monitor", a, "monitor")
    }

    /// The primary's postmaster is killed (-9) and its node leaves the
    /// cluster (transient attributes and roles dropped by the fake); the
    /// virtual IP goes down with it. Pacemaker's view of the instance stays
    /// "promoted" until [`Cluster::failover`].
    pub fn crash(&mut self, label: &str, node: &str) {
        let pg = &self.node(node).pg;
        crash_postmaster(pg);
        if self.vip.target().as_deref() == Some(self.node(node).addr) {
            self.vip.point_to(None);
        }
        self.fc.set_online(node, false);
        self.online.insert(node.to_string(), false);
        self.record(label);
    }

    /// The transition after `dead` was fenced: its demote and stop are
    /// pseudo-actions, the survivors get their notifications, and `new` is
    /// promoted, all with the lists of the transition's start (`dead` still
    /// promoted). Recorded as two steps: `<label>: notifications` (the
    /// demote and stop notifications, after which the survivors' baselines
    /// for the pre-promote check are in the store) and `label`.
    pub fn failover(&mut self, label: &str, dead: &str, new: &str) {
        let l = self.lists(&[], &[dead], &[new], &[dead]);
        let survivors = self.active();
        self.notify(&survivors, "pre", "demote", &l);
        self.notify(&survivors, "post", "demote", &l);
        self.notify(&survivors, "pre", "stop", &l);
        self.roles.insert(dead.to_string(), Role::Stopped);
        self.notify(&survivors, "post", "stop", &l);
        self.record(&format!("{label}: notifications"));
        self.promote_with(new, &l);
        self.record(label);
    }

    /// The node comes back (after fencing): online again, nothing running.
    pub fn rejoin(&mut self, label: &str, node: &str) {
        self.fc.set_online(node, true);
        self.online.insert(node.to_string(), true);
        self.roles.insert(node.to_string(), Role::Stopped);
        self.record(label);
    }

    /// The administrator removes `PGSQL.lock` (the documented procedure
    /// after checking the data).
    pub fn remove_lock(&mut self, label: &str, node: &str) {
        let lock = self.node(node).pg.tmpdir().join("PGSQL.lock");
        std::fs::remove_file(&lock).unwrap_or_else(|e| panic!("removing {}: {e}", lock.display()));
        self.record(label);
    }

    /// The administrator rebuilds `node`'s data directory from a base
    /// backup of the running primary (what one does after a crash: the old
    /// primary may hold WAL the new one never received). The node's own
    /// postgresql.conf is kept.
    pub fn resync(&mut self, label: &str, node: &str) {
        let primary = self
            .primary_running()
            .expect("resync needs a running primary");
        let n = self.node(node);
        assert!(!n.pg.is_running(), "stop {node} before resync");
        let src = self.node(&primary);
        let conf = std::fs::read(n.pg.config()).unwrap();
        let pgdata = n.pg.pgdata();
        std::fs::remove_dir_all(&pgdata).unwrap();
        let out = as_postgres(
            &pg_bindir().join("pg_basebackup"),
            &[
                "-h",
                src.pg.sockdir().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-D",
                pgdata.to_str().unwrap(),
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "pg_basebackup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(n.pg.config(), conf).unwrap();
        chown_r(&pgdata, PGDBA);
        self.record(label);
    }

    /// SQL on the running primary (a write to replicate).
    pub fn sql(&self, sql: &str) -> String {
        let p = self.primary_running().expect("no running primary");
        self.node(&p)
            .pg
            .psql(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    // -- waiting for PostgreSQL -------------------------------------------

    /// The node Pacemaker has promoted, if its server answers as a primary.
    fn primary_running(&self) -> Option<String> {
        let p = self.primary()?;
        (self.online[&p] && server_state(&self.node(&p).pg) == "primary").then_some(p)
    }

    fn replication_rows(&self) -> Vec<(String, String)> {
        let Some(p) = self.primary_running() else {
            return Vec::new();
        };
        self.node(&p)
            .pg
            .psql("select application_name, state from pg_stat_replication")
            .map(|out| {
                out.lines()
                    .filter_map(|l| l.split_once('|'))
                    .map(|(a, s)| (a.to_string(), s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the primary streams to every node of `nodes` (panics
    /// after 30 s with the primary's view).
    #[track_caller]
    pub fn wait_streaming(&self, nodes: &[&str]) {
        let ok = wait_for(Duration::from_secs(30), || {
            let rows = self.replication_rows();
            nodes
                .iter()
                .all(|n| rows.iter().any(|(a, s)| a == n && s == "streaming"))
        });
        assert!(
            ok,
            "{}: {nodes:?} not streaming from {:?} after 30 s: {:?}",
            self.trace.name,
            self.primary(),
            self.replication_rows()
        );
    }

    /// Like [`Cluster::wait_streaming`] without failing (a start the runner
    /// settles): the trace shows what happened.
    fn settle_streaming(&self, nodes: &[String]) {
        let standbys: Vec<&String> = nodes
            .iter()
            .filter(|n| server_state(&self.node(n).pg) == "standby")
            .collect();
        wait_for(Duration::from_secs(20), || {
            let rows = self.replication_rows();
            standbys
                .iter()
                .all(|n| rows.iter().any(|(a, s)| a == *n && s == "streaming"))
        });
    }

    /// Until the primary no longer lists `nodes`.
    fn settle_gone(&self, nodes: &[&str]) {
        wait_for(Duration::from_secs(10), || {
            let rows = self.replication_rows();
            !nodes.iter().any(|n| rows.iter().any(|(a, _)| a == n))
        });
    }

    /// Until every standby has replayed everything the running primary
    /// wrote (so a crash loses nothing any standby has).
    pub fn wait_caught_up(&self) {
        let p = self.primary_running().expect("no running primary");
        let ok = wait_for(Duration::from_secs(20), || {
            self.node(&p)
                .pg
                .psql(
                    "select count(*) from pg_stat_replication \
                     where replay_lsn is distinct from pg_current_wal_lsn()",
                )
                .is_ok_and(|c| c == "0")
        });
        assert!(ok, "standbys never caught up with {p}");
    }

    // -- the snapshot ------------------------------------------------------

    fn snapshot(&self) -> State {
        let mut st = State::new();
        let mut raw: Vec<(String, String)> = Vec::new();
        // The store, through Python (the fake is Python; its JSON parser in
        // fake_cluster.rs is private).
        let script = r#"
import json, sys
d = json.load(open(sys.argv[1]))
for n, v in sorted(d["nodes"].items()):
    print("online %s\t%s" % (n, str(v.get("online")).lower()))
    for lt in ("reboot", "forever"):
        for k, val in sorted(v.get(lt, {}).items()):
            print("attr %s %s %s\t%s" % (n, lt, k, val))
for b in d.get("bans", []):
    print("ban %s %s\t%s" % (b.get("rsc"), b.get("node"), "promoted" if b.get("promoted") else "all"))
for r, v in sorted(d.get("resources", {}).items()):
    for n, role in sorted(v.get("roles", {}).items()):
        print("role %s %s\t%s" % (r, n, role))
"#;
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(self.fc.state_path())
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.split_once('\t') {
                raw.push((k.to_string(), v.to_string()));
            }
        }
        for n in &self.nodes {
            let tmp = n.pg.tmpdir();
            let name = n.name;
            let file = |p: &Path| std::fs::read_to_string(p).ok();
            let mode = |p: &Path| {
                std::fs::metadata(p).ok().map(|m| {
                    let owner = if m.uid() == uid_of(PGDBA).0 {
                        PGDBA
                    } else if m.uid() == 0 {
                        "root"
                    } else {
                        "other"
                    };
                    format!("{:o} {owner}", m.permissions().mode() & 0o7777)
                })
            };
            for f in ["recovery.conf", "rep_mode.conf"] {
                if let Some(text) = file(&tmp.join(f)) {
                    raw.push((format!("file {name} {f}"), text));
                }
                if let Some(m) = mode(&tmp.join(f)) {
                    raw.push((format!("mode {name} {f}"), m));
                }
            }
            if n.pg.pgdata().join("recovery.conf").exists() {
                raw.push((
                    format!("file {name} pgdata/recovery.conf"),
                    "present".into(),
                ));
            }
            if n.pg.pgdata().join("standby.signal").exists() {
                raw.push((format!("file {name} standby.signal"), "present".into()));
            }
            if let Ok(entries) = std::fs::read_dir(&tmp) {
                let mut names: Vec<String> = entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for f in names {
                    // Our steady-standby note is private to our agent
                    // (compatibility.md #29k): nothing reads it but our monitor.
                    if f == "recovery.conf" || f == "rep_mode.conf" || f == ".pgsql-steady-standby"
                    {
                        continue;
                    }
                    if f.starts_with("xlog_note.") {
                        raw.push((
                            format!("file {name} {f}"),
                            file(&tmp.join(&f)).unwrap_or_default(),
                        ));
                    } else {
                        raw.push((format!("file {name} {f}"), "present".into()));
                    }
                }
            }
            let conf = file(&n.pg.config()).unwrap_or_default();
            let includes: Vec<&str> = conf
                .lines()
                .filter(|l| l.contains("added by pgsql RA"))
                .collect();
            raw.push((format!("conf {name} includes"), includes.join("\n")));
            // The server's own view: role, replication slots, and (on a
            // primary) the timeline it writes.
            let view = n.pg.is_running().then(|| {
                n.pg.psql(
                    "select pg_is_in_recovery(), \
                     coalesce((select string_agg(slot_name, ' ' order by slot_name) \
                               from pg_replication_slots), ''), \
                     case when pg_is_in_recovery() then '' \
                          else substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) end",
                )
            });
            let (state, slots, tli) = match view {
                None => ("down", String::new(), String::new()),
                Some(Err(_)) => ("unresponsive", String::new(), String::new()),
                Some(Ok(out)) => {
                    let f: Vec<&str> = out.split('|').collect();
                    let state = if f.first() == Some(&"t") {
                        "standby"
                    } else {
                        "primary"
                    };
                    let get = |i: usize| f.get(i).copied().unwrap_or("").to_string();
                    (state, get(1), get(2))
                }
            };
            raw.push((format!("pg {name}"), state.to_string()));
            if !slots.is_empty() {
                raw.push((format!("slots {name}"), slots));
            }
            if !tli.is_empty() {
                raw.push((format!("timeline {name}"), tli));
            }
        }
        // Normalise paths and the port, then rank the LSNs.
        let norm = |s: &str| {
            let mut s = s.to_string();
            for n in &self.nodes {
                s = s.replace(n.pg.root.path().to_str().unwrap(), &format!("<{}>", n.name));
            }
            s.replace(&format!("port={}", self.port), "port=<port>")
        };
        let raw: Vec<(String, String)> = raw.iter().map(|(k, v)| (norm(k), norm(v))).collect();
        let mut lsns = BTreeSet::new();
        for (_, v) in &raw {
            for w in v.split(|c: char| !c.is_ascii_alphanumeric()) {
                if is_lsn(w) {
                    lsns.insert(w.to_string());
                }
            }
        }
        let rank: BTreeMap<String, String> = lsns
            .into_iter()
            .enumerate()
            .map(|(i, l)| (l, format!("LSN{}", i + 1)))
            .collect();
        for (k, v) in raw {
            let mut v = v;
            for (l, r) in &rank {
                v = v.replace(l.as_str(), r);
            }
            st.insert(k, v);
        }
        st
    }
}

fn is_lsn(w: &str) -> bool {
    w.len() == 16
        && w.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `down`, `standby` or `primary`, asked of the server itself.
pub fn server_state(pg: &PgInstance) -> &'static str {
    if !pg.is_running() {
        return "down";
    }
    match pg.psql("select pg_is_in_recovery()").as_deref() {
        Ok("t") => "standby",
        Ok("f") => "primary",
        _ => "unresponsive",
    }
}

/// Is `pid` a process that is not a zombie?
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| !s.contains("State:\tZ"))
        .unwrap_or(false)
}

fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|s| {
                    let after = &s[s.rfind(')')? + 1..];
                    after.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// kill -9 of the postmaster, then wait until it and its children are gone
/// (in this container PID 1 reaps orphans lazily; a real node's init does
/// at once; see differential.rs).
pub fn crash_postmaster(pg: &PgInstance) {
    let pid = pg
        .postmaster_pid()
        .filter(|&p| alive(p))
        .expect("crash: no postmaster runs");
    let children = children_of(pid);
    pg.kill9();
    let gone = wait_for(Duration::from_secs(20), || {
        !Path::new(&format!("/proc/{pid}")).exists() && children.iter().all(|&c| !alive(c))
    });
    assert!(
        gone,
        "postmaster {pid} or its children still exist after kill -9"
    );
}

// ---------------------------------------------------------------------------
// Comparing traces

/// What may differ between a run with ours and a run with the stock agent
/// at one state entry, and why (a row of docs/compatibility.md).
#[derive(Clone, Debug)]
pub struct Divergence {
    /// Step labels; empty: any step.
    pub steps: Vec<String>,
    /// State key; `*` matches any run of characters.
    pub key: String,
    pub check: Check,
    pub why: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Exactly these values (`None`: the entry is absent).
    Values {
        ours: Option<&'static str>,
        stock: Option<&'static str>,
    },
    /// Both present, different, and equal after this canonicalisation.
    Same(fn(&str) -> String),
}

impl Divergence {
    /// At `key`, ours shows `ours` where the stock agent shows `stock`
    /// (`None`: absent).
    pub fn values(
        key: &str,
        ours: Option<&'static str>,
        stock: Option<&'static str>,
        why: &'static str,
    ) -> Divergence {
        Divergence {
            steps: Vec::new(),
            key: key.to_string(),
            check: Check::Values { ours, stock },
            why,
        }
    }

    /// At `key`, the values differ but are equal after `canon`.
    pub fn same(key: &str, canon: fn(&str) -> String, why: &'static str) -> Divergence {
        Divergence {
            steps: Vec::new(),
            key: key.to_string(),
            check: Check::Same(canon),
            why,
        }
    }

    /// Only at the steps labelled `labels`.
    pub fn at(mut self, labels: &[&str]) -> Divergence {
        self.steps = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    fn matches_key(&self, step: &str, key: &str) -> bool {
        (self.steps.is_empty() || self.steps.iter().any(|s| s == step)) && glob(&self.key, key)
    }

    fn accepts(&self, ours: Option<&str>, stock: Option<&str>) -> bool {
        match self.check {
            Check::Values { ours: o, stock: s } => o == ours && s == stock,
            Check::Same(f) => match (ours, stock) {
                (Some(o), Some(s)) => o != s && f(o) == f(s),
                _ => false,
            },
        }
    }
}

/// `pattern` with `*` for any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head) && (head.len()..=text.len()).any(|i| glob(rest, &text[i..]))
        }
    }
}

/// Compares `ours` (a run with our agent on some or all nodes) with
/// `stock` (the same scenario with the stock agent everywhere), step by
/// step. Every difference must be one of `divergences`, and (when
/// `all_used`) every divergence must occur at least once. Prints both
/// traces side by side; panics with the list of problems.
pub fn compare(stock: &Trace, ours: &Trace, divergences: &[Divergence], all_used: bool) {
    let mut table = format!("=== {}  vs  {}\n", stock.name, ours.name);
    let mut problems = Vec::new();
    let mut used = vec![false; divergences.len()];
    // PGRA_SCENARIO_TRACE=1 shows every entry, not only exit codes and
    // differences.
    let verbose = std::env::var_os("PGRA_SCENARIO_TRACE").is_some();
    let steps = stock.steps.len().max(ours.steps.len());
    for i in 0..steps {
        let (Some(s), Some(o)) = (stock.steps.get(i), ours.steps.get(i)) else {
            problems.push(format!(
                "step {}: one run has {} steps, the other {}",
                i + 1,
                stock.steps.len(),
                ours.steps.len()
            ));
            break;
        };
        if s.label != o.label {
            problems.push(format!(
                "step {}: labels differ: {:?} / {:?}",
                i + 1,
                s.label,
                o.label
            ));
            break;
        }
        table.push_str(&format!("--- {}. {}\n", i + 1, s.label));
        let keys: BTreeSet<&String> = s.state.keys().chain(o.state.keys()).collect();
        for k in keys {
            let (sv, ov) = (s.state.get(k), o.state.get(k));
            let show = |v: Option<&String>| {
                v.map(|v| v.replace('\n', "⏎"))
                    .unwrap_or_else(|| "(none)".into())
            };
            if sv == ov {
                if verbose || k.starts_with("rc ") || k.starts_with("decision ") {
                    table.push_str(&format!("    {k} = {}\n", show(sv)));
                }
                continue;
            }
            let hit = divergences.iter().position(|d| {
                d.matches_key(&s.label, k)
                    && d.accepts(ov.map(String::as_str), sv.map(String::as_str))
            });
            match hit {
                Some(d) => {
                    used[d] = true;
                    table.push_str(&format!(
                        "  ~ {k}: stock {} | ours {}   [{}]\n",
                        show(sv),
                        show(ov),
                        divergences[d].why
                    ));
                }
                None => {
                    table.push_str(&format!(
                        "  ! {k}: stock {} | ours {}\n",
                        show(sv),
                        show(ov)
                    ));
                    problems.push(format!(
                        "step {} `{}`: {k}: stock {} | ours {}",
                        i + 1,
                        s.label,
                        show(sv),
                        show(ov)
                    ));
                }
            }
        }
        let notes = |st: &Step| {
            st.notes
                .iter()
                .map(|n| format!("      {n}\n"))
                .collect::<String>()
        };
        let (sn, on) = (notes(s), notes(o));
        if !sn.is_empty() {
            table.push_str(&format!("    stock notes:\n{sn}"));
        }
        if !on.is_empty() {
            table.push_str(&format!("    ours notes:\n{on}"));
        }
    }
    if all_used {
        for (d, u) in divergences.iter().zip(&used) {
            if !u {
                problems.push(format!(
                    "listed divergence never observed: steps {:?} key {} ({})",
                    d.steps, d.key, d.why
                ));
            }
        }
    }
    eprintln!("{table}");
    assert!(
        problems.is_empty(),
        "{}: {} problem(s)\n{}",
        ours.name,
        problems.len(),
        problems.join("\n")
    );
}

/// Runs `scenario` once per kind assignment, each on a fresh cluster, in
/// parallel threads; returns the traces in the same order.
pub fn run_all(
    name: &str,
    variants: &[Vec<Kind>],
    opts: Options,
    scenario: fn(&mut Cluster),
) -> Vec<Trace> {
    std::thread::scope(|s| {
        let handles: Vec<_> = variants
            .iter()
            .map(|kinds| {
                let opts = opts.clone();
                s.spawn(move || {
                    let t = Instant::now();
                    let mut c = Cluster::new(name, kinds, opts);
                    scenario(&mut c);
                    eprintln!(
                        "{}: {} steps, {} agent invocations ({:.0}s), {:.0}s in all",
                        c.trace.name,
                        c.trace.steps.len(),
                        c.invocations,
                        c.agent_secs,
                        t.elapsed().as_secs_f64()
                    );
                    c.trace.clone()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
