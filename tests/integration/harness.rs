//! The test kit: throw-away PostgreSQL instances and a runner for the real
//! agent binary (ours, or the stock shell agent for differential tests).
//!
//! Tests run as root, like pacemaker-execd runs agents; PostgreSQL runs as the
//! `postgres` user. Each `PgInstance` owns a temporary directory with its data
//! directory, socket directory and log, and stops its server when dropped.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const PGDBA: &str = "postgres";

/// Where the PostgreSQL 15 server binaries are (Debian layout unless
/// `PGRA_PG_BINDIR` says otherwise). Also the client tools (psql,
/// pg_basebackup) used against every server, whatever its major.
pub fn pg_bindir() -> PathBuf {
    std::env::var_os("PGRA_PG_BINDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// The server binaries (initdb, pg_ctl, postgres) of another PostgreSQL
/// major, from `PGRA_PG<major>_BINDIR`, which `tests/pg-versions` prints and
/// `tests/run` sets. Unset is a failure, not a skip: those versions are part
/// of what the suite proves.
#[track_caller]
pub fn versioned_bindir(major: u32) -> PathBuf {
    let var = format!("PGRA_PG{major}_BINDIR");
    let dir = match std::env::var_os(&var) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => panic!(
            "{var} is not set: the PostgreSQL {major} tests need its server binaries. \
             Run `eval \"$(tests/pg-versions)\"` (as root) to install them and set \
             PGRA_PG<major>_BINDIR for 10 to 18 but 15, then rerun cargo test; tests/run \
             does this itself (CI)."
        ),
    };
    for tool in ["initdb", "pg_ctl", "postgres"] {
        assert!(
            dir.join(tool).is_file(),
            "{var}={} has no {tool}: rerun tests/pg-versions",
            dir.display()
        );
    }
    dir
}

pub fn our_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pgsql-ra"))
}

/// The stock agent, when resource-agents is installed.
pub fn stock_agent() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/lib/ocf/resource.d/heartbeat/pgsql");
    p.exists().then_some(p)
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port no other instance of this test run uses (sockets live in
/// per-instance directories, so only the name has to be unique).
fn next_port() -> u16 {
    let base = 20000 + (std::process::id() % 2000) as u16 * 10;
    base + NEXT_PORT.fetch_add(1, Ordering::SeqCst)
}

pub fn uid_of(user: &str) -> (u32, u32) {
    let out = Command::new("id").arg("-u").arg(user).output().unwrap();
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let out = Command::new("id").arg("-g").arg(user).output().unwrap();
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (uid, gid)
}

pub fn chown_r(path: &Path, user: &str) {
    let st = Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Runs a command as `postgres`, returning its output.
pub fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = uid_of(PGDBA);
    Command::new(program)
        .args(args)
        .uid(uid)
        .gid(gid)
        .env("LC_ALL", "C")
        .current_dir("/")
        .output()
        .unwrap()
}

/// A PostgreSQL data directory in a temporary directory.
pub struct PgInstance {
    pub root: tempfile::TempDir,
    pub port: u16,
    /// The server binaries (initdb, pg_ctl, postgres) this instance runs
    /// with: Debian's 15 ([`pg_bindir`]) unless made with a `*_with`
    /// constructor. psql is always [`pg_bindir`]'s.
    pub bindir: PathBuf,
}

/// A fresh temporary root (mode 755) with its socket directory, owned by
/// `postgres`.
fn new_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("pgra-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(root.path().join("sock")).unwrap();
    chown_r(root.path(), PGDBA);
    root
}

impl PgInstance {
    /// `initdb` a fresh PostgreSQL 15 cluster (trust authentication on the
    /// socket only).
    pub fn new() -> PgInstance {
        PgInstance::new_with(&pg_bindir())
    }

    /// Like [`PgInstance::new`], with the server binaries of `bindir`.
    pub fn new_with(bindir: &Path) -> PgInstance {
        let inst = PgInstance {
            root: new_root(),
            port: next_port(),
            bindir: bindir.to_path_buf(),
        };
        let out = as_postgres(
            &inst.bindir.join("initdb"),
            &[
                "-D",
                inst.pgdata().to_str().unwrap(),
                "-A",
                "trust",
                "--no-sync",
                "-U",
                PGDBA,
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        inst.append_conf(&format!(
            "port = {}\nunix_socket_directories = '{}'\nlisten_addresses = ''\nfsync = off\n",
            inst.port,
            inst.sockdir().display()
        ));
        inst
    }

    /// A primary for replication tests, listening on `addr:port` (a
    /// loopback address of its own, so a standby can use the same port, as
    /// nodes of a real cluster do) and accepting replication connections.
    pub fn primary(addr: &str, port: u16) -> PgInstance {
        PgInstance::primary_with(&pg_bindir(), addr, port)
    }

    /// Like [`PgInstance::primary`], with the server binaries of `bindir`.
    pub fn primary_with(bindir: &Path, addr: &str, port: u16) -> PgInstance {
        let mut inst = PgInstance::new_with(bindir);
        inst.port = port;
        // wal_keep_size replaced wal_keep_segments (16MB each) in 13.
        let wal_keep = if inst.major() >= 13 {
            "wal_keep_size = '256MB'"
        } else {
            "wal_keep_segments = 16"
        };
        inst.append_conf(&format!(
            "port = {port}\nlisten_addresses = '{addr}'\n{wal_keep}\n\
             hot_standby = on\nwal_level = replica\nmax_wal_senders = 10\n"
        ));
        let hba = inst.pgdata().join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).unwrap();
        text.push_str("host replication all 127.0.0.0/8 trust\nhost all all 127.0.0.0/8 trust\n");
        std::fs::write(&hba, text).unwrap();
        inst
    }

    /// A base backup of a running `primary` (without recovery settings: the
    /// agent writes those), listening on `addr` and the primary's port.
    /// Uses Debian's pg_basebackup 15, which refuses newer servers (18):
    /// see [`PgInstance::cold_copy_of`] for those.
    pub fn standby_of(primary: &PgInstance, primary_addr: &str, addr: &str) -> PgInstance {
        let inst = PgInstance {
            root: new_root(),
            port: primary.port,
            bindir: primary.bindir.clone(),
        };
        let out = as_postgres(
            &pg_bindir().join("pg_basebackup"),
            &[
                "-h",
                primary_addr,
                "-p",
                &primary.port.to_string(),
                "-D",
                inst.pgdata().to_str().unwrap(),
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        inst.append_conf(&format!(
            "unix_socket_directories = '{}'\nlisten_addresses = '{addr}'\n",
            inst.sockdir().display()
        ));
        inst
    }

    /// A copy of the data directory of a cleanly stopped `primary` (any
    /// major: no client tool involved), listening on `addr` and the
    /// primary's port. A valid standby seed, like a base backup: started
    /// with recovery settings it replays from the shutdown checkpoint and
    /// streams from there.
    pub fn cold_copy_of(primary: &PgInstance, addr: &str) -> PgInstance {
        assert!(
            !primary.is_running(),
            "cold_copy_of: stop the primary first"
        );
        let inst = PgInstance {
            root: new_root(),
            port: primary.port,
            bindir: primary.bindir.clone(),
        };
        let st = Command::new("cp")
            .arg("-a")
            .arg(primary.pgdata())
            .arg(inst.pgdata())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "cp -a of {} failed",
            primary.pgdata().display()
        );
        inst.append_conf(&format!(
            "unix_socket_directories = '{}'\nlisten_addresses = '{addr}'\n",
            inst.sockdir().display()
        ));
        inst
    }

    /// The major version of the data directory (`PG_VERSION`).
    pub fn major(&self) -> u32 {
        let text = std::fs::read_to_string(self.pgdata().join("PG_VERSION")).unwrap();
        text.trim()
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("bad PG_VERSION {text:?}"))
    }

    /// A directory for the agent's tmpdir (PGSQL.lock, rep_mode.conf...).
    pub fn tmpdir(&self) -> PathBuf {
        self.root.path().join("agent-tmp")
    }

    /// The port of the next instance; replication pairs share one.
    pub fn fresh_port() -> u16 {
        next_port()
    }

    pub fn pgdata(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn sockdir(&self) -> PathBuf {
        self.root.path().join("sock")
    }
    pub fn logfile(&self) -> PathBuf {
        self.root.path().join("postgresql.log")
    }
    pub fn config(&self) -> PathBuf {
        self.pgdata().join("postgresql.conf")
    }

    pub fn append_conf(&self, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.config())
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// The OCF parameters that describe this instance to the agent.
    pub fn params(&self) -> BTreeMap<String, String> {
        [
            ("pgdata", self.pgdata().display().to_string()),
            ("pgctl", self.bindir.join("pg_ctl").display().to_string()),
            ("psql", pg_bindir().join("psql").display().to_string()),
            ("pgport", self.port.to_string()),
            ("socketdir", self.sockdir().display().to_string()),
            ("logfile", self.logfile().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.pgdata().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Is the postmaster alive (independently of the agent)? A zombie
    /// waiting to be reaped is dead.
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                !s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
        })
    }

    /// Starts the server directly (not through the agent) and waits for it.
    pub fn start_directly(&self) {
        let out = as_postgres(
            &self.bindir.join("pg_ctl"),
            &[
                "-D",
                self.pgdata().to_str().unwrap(),
                "-l",
                self.logfile().to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL through psql (Debian's 15, whatever the server's major) on
    /// the instance's socket.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = as_postgres(
            &pg_bindir().join("psql"),
            &[
                "-h",
                self.sockdir().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-d",
                "postgres",
                "-AtX",
                "-c",
                sql,
            ],
        );
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// Freezes the checkpointer with SIGSTOP: no checkpoint completes until
    /// [`PgInstance::kill9`], which kills it too. For a crash that must come
    /// before the next checkpoint, whatever the server's timing.
    pub fn freeze_checkpointer(&self) {
        let pid = self
            .psql("select pid from pg_stat_activity where backend_type = 'checkpointer'")
            .unwrap();
        assert!(!pid.is_empty(), "no checkpointer");
        let status = Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// `kill -9` of the postmaster: a crash.
    pub fn kill9(&self) {
        if let Some(pid) = self.postmaster_pid() {
            // A child stopped by [`PgInstance::freeze_checkpointer`] never
            // notices its postmaster's death and would hold the shared
            // memory a restart needs: it dies too, after the postmaster (a
            // live postmaster would answer a child's death with crash
            // recovery and its checkpoint).
            let stopped = stopped_children(pid);
            kill9_and_wait(pid);
            for child in stopped {
                kill9_and_wait(child);
            }
        }
    }

    /// A clean (`fast`) shutdown, ending with a shutdown checkpoint: the
    /// data directory can then be copied (see [`PgInstance::cold_copy_of`]).
    pub fn stop_cleanly(&self) {
        let out = as_postgres(
            &self.bindir.join("pg_ctl"),
            &[
                "-D",
                self.pgdata().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop_directly(&self) {
        let _ = as_postgres(
            &self.bindir.join("pg_ctl"),
            &[
                "-D",
                self.pgdata().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

/// `kill -9`, then wait (10 s at most) until the process is gone or a zombie.
fn kill9_and_wait(pid: i32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    wait_for(Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map(|s| s.contains("State:\tZ"))
            .unwrap_or(true)
    });
}

/// The children of `parent` stopped by a signal (state `T`).
fn stopped_children(parent: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                s.contains("State:\tT") && s.contains(&format!("\nPPid:\t{parent}\n"))
            })
        })
        .collect()
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        if self.is_running() {
            self.stop_directly();
        }
    }
}

pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// What one agent invocation returned.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The last `ocf-exit-reason:` line, as Pacemaker would record it.
    pub fn exit_reason(&self) -> Option<String> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
            .map(str::to_string)
    }
}

/// Runs an agent binary the way pacemaker-execd does: a clean environment
/// with OCF variables only. Builder style, like `just`'s `Test`.
#[derive(Clone)]
pub struct Agent {
    program: PathBuf,
    /// The name the agent is invoked as (argv[0] basename).
    name: String,
    params: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    args: Vec<String>,
    limit: Duration,
    /// Capture output in files rather than pipes (see `output_in_files`).
    files: bool,
}

impl Agent {
    /// Our binary, invoked as `pgsql` (its OCF name).
    pub fn ours() -> Agent {
        Agent::program(our_binary(), "pgsql")
    }

    /// The stock resource-agents shell agent.
    pub fn stock() -> Option<Agent> {
        stock_agent().map(|p| Agent::program(p, "pgsql"))
    }

    pub fn program(program: PathBuf, name: &str) -> Agent {
        let mut env = BTreeMap::new();
        env.insert("OCF_ROOT".into(), "/usr/lib/ocf".into());
        env.insert("OCF_RA_VERSION_MAJOR".into(), "1".into());
        env.insert("OCF_RA_VERSION_MINOR".into(), "0".into());
        env.insert("OCF_RESOURCE_INSTANCE".into(), "pgsql".into());
        env.insert("OCF_RESOURCE_TYPE".into(), "pgsql".into());
        env.insert("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into());
        env.insert("OCF_RESKEY_CRM_meta_timeout".into(), "20000".into());
        Agent {
            program,
            name: name.to_string(),
            params: BTreeMap::new(),
            env,
            args: Vec::new(),
            limit: Duration::from_secs(60),
            files: false,
        }
    }

    /// Capture stdout and stderr in files, and stop at the agent's exit
    /// rather than at the end of its output. For agents that start
    /// PostgreSQL with their own stdout and stderr (PAF runs pg_ctl
    /// without -l): the server keeps them open, and a pipe would never end.
    pub fn output_in_files(mut self) -> Agent {
        self.files = true;
        self
    }

    /// All the instance's parameters.
    pub fn on(mut self, inst: &PgInstance) -> Agent {
        self.params.extend(inst.params());
        self
    }

    pub fn param(mut self, k: &str, v: &str) -> Agent {
        self.params.insert(k.to_string(), v.to_string());
        self
    }

    pub fn without_param(mut self, k: &str) -> Agent {
        self.params.remove(k);
        self
    }

    pub fn meta(mut self, k: &str, v: &str) -> Agent {
        self.env
            .insert(format!("OCF_RESKEY_CRM_meta_{k}"), v.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Agent {
        self.env.insert(k.to_string(), v.to_string());
        self
    }

    pub fn env_remove(mut self, k: &str) -> Agent {
        self.env.remove(k);
        self
    }

    /// A recurring monitor (not a probe).
    pub fn recurring(self) -> Agent {
        self.meta("interval", "10000")
    }

    /// Extra argv entries after the action.
    pub fn arg(mut self, a: &str) -> Agent {
        self.args.push(a.to_string());
        self
    }

    /// Kill the agent after this long (the stock agent can loop for ever).
    pub fn limit(mut self, d: Duration) -> Agent {
        self.limit = d;
        self
    }

    pub fn run(&self, action: &str) -> Outcome {
        // argv[0] decides the personality: run through a link with the OCF name.
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join(&self.name);
        std::os::unix::fs::symlink(&self.program, &link).unwrap();
        let mut cmd = Command::new(&link);
        cmd.arg(action)
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::null());
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        if self.files {
            cmd.stdout(std::fs::File::create(&out_path).unwrap())
                .stderr(std::fs::File::create(&err_path).unwrap());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in &self.params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        let mut child = cmd.spawn().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if start.elapsed() > self.limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (stdout, stderr) = if self.files {
            let _ = child.wait();
            (
                std::fs::read(&out_path).unwrap_or_default(),
                std::fs::read(&err_path).unwrap_or_default(),
            )
        } else {
            let out = child.wait_with_output().unwrap();
            (out.stdout, out.stderr)
        };
        Outcome {
            // 124 like timeout(1) when we had to kill it.
            code: status.and_then(|s| s.code()).unwrap_or(124),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// Asserts the exit code, showing the agent's output when it differs.
#[track_caller]
pub fn assert_rc(out: &Outcome, expected: i32) {
    assert_eq!(
        out.code, expected,
        "expected rc {expected}, got {}\nstdout:\n{}\nstderr:\n{}",
        out.code, out.stdout, out.stderr
    );
}

/// Root's files in a root-only directory in `beside` (one file system with
/// a node's: hard links to them can be planted), to plant links to where
/// the agent writes as root.
pub struct Victims {
    dir: PathBuf,
    made: Vec<(PathBuf, Vec<u8>)>,
}

impl Victims {
    pub fn new(beside: &Path) -> Victims {
        use std::os::unix::fs::PermissionsExt;
        let dir = beside.join("root-only");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Victims { dir, made: vec![] }
    }

    /// Plants at `at` a link to a new root file: a symbolic link owned by
    /// the PostgreSQL user, or a hard link.
    pub fn plant(&mut self, at: &Path, hard: bool) {
        use std::os::unix::fs::PermissionsExt;
        let victim = self.dir.join(format!("victim-{}", self.made.len()));
        let content = format!("# root's file, planted at {}\n", at.display()).into_bytes();
        std::fs::write(&victim, &content).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        if hard {
            std::fs::hard_link(&victim, at).unwrap();
        } else {
            std::os::unix::fs::symlink(&victim, at).unwrap();
            let (uid, _) = uid_of(PGDBA);
            nix::unistd::fchownat(
                None,
                at,
                Some(nix::unistd::Uid::from_raw(uid)),
                None,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap();
        }
        self.made.push((victim, content));
    }

    /// Every victim has its content, root's ownership and mode 0600.
    #[track_caller]
    pub fn untouched(&self) {
        use std::os::unix::fs::MetadataExt;
        for (victim, content) in &self.made {
            let md = std::fs::metadata(victim).unwrap();
            assert_eq!(
                &std::fs::read(victim).unwrap(),
                content,
                "{}",
                victim.display()
            );
            assert_eq!((md.uid(), md.gid()), (0, 0), "{} chowned", victim.display());
            assert_eq!(md.mode() & 0o7777, 0o600, "{} chmodded", victim.display());
        }
    }
}

/// Removes what is left of planted links (the agent replaced some names
/// with its own files, refused to write others).
pub fn unplant(names: &[PathBuf]) {
    use std::os::unix::fs::MetadataExt;
    for n in names {
        if let Ok(md) = std::fs::symlink_metadata(n) {
            if md.file_type().is_symlink() || md.nlink() > 1 {
                std::fs::remove_file(n).unwrap();
            }
        }
    }
}

/// A not-following note (src/agents/follow.rs) written `age` seconds ago,
/// with no restart asked for yet.
pub fn not_following_since(age: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("since={}\nattempts=0\n", now - age)
}
