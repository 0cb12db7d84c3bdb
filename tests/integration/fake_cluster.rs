//! A fake Pacemaker cluster on one machine: stand-in command-line tools
//! (`tests/fake-cluster/fakecrm`, one Python script symlinked under each
//! tool's name) sharing one JSON attribute store, so agents (ours and the
//! stock shell agent) can run in replication mode as several "nodes".
//!
//! Each agent invocation says which node it is through `FAKE_CRM_NODE`;
//! [`FakeCluster::apply`] sets that and the rest of the environment (PATH and
//! `HA_SBIN_DIR` pointing at the stand-ins, the store, the call log). Every
//! tool call is logged; [`FakeCluster::calls`] reads the log back so tests
//! can assert command sequences. See `tests/fake-cluster/README.md`.
#![allow(dead_code)] // a kit: not every test uses every helper

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::Agent;

/// The tool names the stand-in answers to (plus `uname`, of which only
/// `uname -n` is faked: the stock agent's node name on Debian 12).
pub const TOOLS: &[&str] = &[
    "crm_attribute",
    "attrd_updater",
    "crm_mon",
    "crm_node",
    "pacemakerd",
    "crm_resource",
    "crm_master",
    "fakecrm",
    "uname",
];

/// The stand-in script in the source tree.
pub fn fakecrm_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-cluster/fakecrm")
}

/// Attribute lifetimes, as `crm_attribute -l` spells them.
pub const REBOOT: &str = "reboot";
pub const FOREVER: &str = "forever";

/// One logged tool invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `FAKE_CRM_NODE` of the caller.
    pub node: String,
    /// The tool's name (`crm_attribute`, `crm_mon`, ...).
    pub tool: String,
    /// Arguments, without the program name.
    pub argv: Vec<String>,
    pub rc: i32,
}

impl Call {
    /// Whether the arguments contain `words` as a contiguous run.
    pub fn has(&self, words: &[&str]) -> bool {
        words.is_empty()
            || self
                .argv
                .windows(words.len())
                .any(|w| w.iter().zip(words).all(|(a, b)| a == b))
    }
}

pub struct FakeCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    state: PathBuf,
    log: PathBuf,
}

impl FakeCluster {
    /// A cluster of `nodes` (ids 1, 2, ... in this order), all online, no
    /// attributes, no resources, DC = the first node.
    pub fn new(nodes: &[&str]) -> FakeCluster {
        let dir = tempfile::tempdir().expect("temp dir for the fake cluster");
        // Agents may drop privileges for some commands: keep it traversable.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = fakecrm_script();
        assert!(script.is_file(), "missing {}", script.display());
        for tool in TOOLS {
            std::os::unix::fs::symlink(&script, bin.join(tool)).unwrap();
        }
        let fc = FakeCluster {
            state: dir.path().join("state.json"),
            log: dir.path().join("calls.jsonl"),
            bin,
            dir,
        };
        let mut args = vec!["init"];
        args.extend_from_slice(nodes);
        fc.ctl_ok(&args);
        fc
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    pub fn state_path(&self) -> &Path {
        &self.state
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The environment that makes a process one of the cluster's nodes.
    pub fn env_for(&self, node: &str) -> Vec<(String, String)> {
        let bin = self.bin.display().to_string();
        vec![
            (
                "PATH".into(),
                format!("{bin}:/usr/sbin:/usr/bin:/sbin:/bin"),
            ),
            ("HA_SBIN_DIR".into(), bin),
            ("FAKE_CRM_STATE".into(), self.state.display().to_string()),
            ("FAKE_CRM_LOG".into(), self.log.display().to_string()),
            ("FAKE_CRM_NODE".into(), node.into()),
        ]
    }

    /// `agent`, running on `node` of this cluster.
    pub fn apply(&self, agent: Agent, node: &str) -> Agent {
        self.env_for(node)
            .iter()
            .fold(agent, |a, (k, v)| a.env(k, v))
    }

    /// A stand-in tool (or any program) run as `node`, with a clean
    /// environment plus `OCF_RESOURCE_INSTANCE=pgsql`.
    pub fn command(&self, node: &str, program: &str) -> Command {
        let mut cmd = Command::new(if program.contains('/') {
            PathBuf::from(program)
        } else {
            self.bin.join(program)
        });
        cmd.env_clear()
            .env("OCF_RESOURCE_INSTANCE", "pgsql")
            .stdin(Stdio::null());
        for (k, v) in self.env_for(node) {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a stand-in tool as `node`.
    pub fn run(&self, node: &str, tool: &str, args: &[&str]) -> Output {
        self.command(node, tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {tool}: {e}"))
    }

    /// Runs a `fakecrm` control command (not logged as a call).
    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.bin.join("fakecrm"));
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("FAKE_CRM_STATE", &self.state)
            .stdin(Stdio::null());
        cmd.output().expect("running fakecrm")
    }

    #[track_caller]
    fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "fakecrm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Node joins (`true`) or leaves (`false`; drops its transient
    /// attributes and resource roles, as a real node leaving does).
    pub fn set_online(&self, node: &str, online: bool) {
        self.ctl_ok(&["set-online", node, if online { "true" } else { "false" }]);
    }

    /// `role`: Promoted, Unpromoted, Started or Stopped. A new resource
    /// becomes clone `<rsc>-clone`; see [`FakeCluster::set_role_in`].
    pub fn set_role(&self, rsc: &str, node: &str, role: &str) {
        self.ctl_ok(&["set-role", rsc, node, role]);
    }

    /// Like [`FakeCluster::set_role`], naming the clone (`-`: a primitive).
    pub fn set_role_in(&self, rsc: &str, node: &str, role: &str, clone: &str) {
        self.ctl_ok(&["set-role", rsc, node, role, clone]);
    }

    /// The DC (`None`: no DC).
    pub fn set_dc(&self, node: Option<&str>) {
        self.ctl_ok(&["set-dc", node.unwrap_or("-")]);
    }

    /// A meta attribute of `rsc`, as `crm_resource --meta --get-parameter`
    /// reads it.
    pub fn set_meta(&self, rsc: &str, name: &str, value: &str) {
        self.ctl_ok(&["set-meta", rsc, name, value]);
    }

    /// An attribute as stored (`lifetime`: [`REBOOT`] or [`FOREVER`]);
    /// private attributes included.
    pub fn attr(&self, node: &str, lifetime: &str, name: &str) -> Option<String> {
        let out = self.ctl(&["get", node, lifetime, name]);
        match out.status.code() {
            Some(0) => Some(
                String::from_utf8_lossy(&out.stdout)
                    .strip_suffix('\n')
                    .unwrap_or_default()
                    .to_string(),
            ),
            Some(105) => None,
            _ => panic!(
                "fakecrm get {node} {lifetime} {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    pub fn set_attr(&self, node: &str, lifetime: &str, name: &str, value: &str) {
        self.ctl_ok(&["set", node, lifetime, name, value]);
    }

    pub fn del_attr(&self, node: &str, lifetime: &str, name: &str) {
        self.ctl_ok(&["del", node, lifetime, name]);
    }

    /// Replaces stand-in `tool` with a shell script (fault injection: a tool
    /// that hangs, fails or prints garbage); each run of it first creates
    /// [`FakeCluster::tool_called`]'s file. [`FakeCluster::restore_tool`]
    /// undoes it.
    pub fn replace_tool(&self, tool: &str, body: &str) {
        let path = self.bin.join(tool);
        std::fs::remove_file(&path).unwrap();
        let mark = self.dir.path().join(format!("{tool}.called"));
        let _ = std::fs::remove_file(&mark);
        std::fs::write(
            &path,
            format!("#!/bin/sh\n: > '{}'\n{body}\n", mark.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The stand-in `tool` under its own name outside [`FakeCluster::bin_dir`],
    /// for a replacement that fails for a while and then hands over to it.
    pub fn real_tool(&self, tool: &str) -> PathBuf {
        let dir = self.dir.path().join("real");
        let path = dir.join(tool);
        if !path.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(fakecrm_script(), &path).unwrap();
        }
        path
    }

    /// Whether a tool replaced by [`FakeCluster::replace_tool`] was run since.
    pub fn tool_called(&self, tool: &str) -> bool {
        self.dir.path().join(format!("{tool}.called")).exists()
    }

    /// The stand-in `tool` again.
    pub fn restore_tool(&self, tool: &str) {
        let path = self.bin.join(tool);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(fakecrm_script(), path).unwrap();
    }

    /// The store, pretty-printed JSON (for failure messages).
    pub fn dump(&self) -> String {
        self.ctl_ok(&["dump"])
    }

    /// Every logged tool call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        let text = match std::fs::read_to_string(&self.log) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("reading {}: {e}", self.log.display()),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse_call(l).unwrap_or_else(|e| panic!("bad call log line {l:?}: {e}")))
            .collect()
    }

    /// The logged calls of one tool.
    pub fn calls_of(&self, tool: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.tool == tool)
            .collect()
    }

    /// Forgets the calls logged so far.
    pub fn clear_calls(&self) {
        match std::fs::remove_file(&self.log) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("removing {}: {e}", self.log.display()),
        }
    }
}

/// Parses one log line, `{"node": s, "tool": s, "argv": [s...], "rc": n}`.
pub fn parse_call(line: &str) -> Result<Call, String> {
    let mut p = Json::new(line);
    let value = p.value()?;
    p.end()?;
    let Value::Object(fields) = value else {
        return Err("not an object".into());
    };
    let field = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no field {k:?}"))
    };
    let string = |k: &str| match field(k)? {
        Value::String(s) => Ok(s.clone()),
        _ => Err(format!("{k:?} is not a string")),
    };
    let argv = match field("argv")? {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err("argv holds a non-string".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("\"argv\" is not an array".into()),
    };
    let rc = match field("rc")? {
        Value::Number(n) => n.parse::<i32>().map_err(|e| format!("rc {n:?}: {e}"))?,
        _ => return Err("\"rc\" is not a number".into()),
    };
    Ok(Call {
        node: string("node")?,
        tool: string("tool")?,
        argv,
        rc,
    })
}

/// Just enough JSON for the call log (serde_json is not a dependency).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    /// The number's text.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

struct Json<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Json<'a> {
    fn new(s: &'a str) -> Json<'a> {
        Json {
            s: s.as_bytes(),
            i: 0,
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.i == self.s.len() {
            Ok(())
        } else {
            Err(format!("trailing data at byte {}", self.i))
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", b as char, self.i))
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at byte {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.s.get(self.i) {
            None => Err("unexpected end".into()),
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Object(fields));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    fields.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(fields));
                        }
                        _ => return Err(format!("expected , or }} at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(format!("expected , or ] at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Ok(Value::Number(text.to_string()))
            }
            Some(c) => Err(format!("unexpected {:?} at byte {}", *c as char, self.i)),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or("short \\u escape")?;
        let v = u32::from_str_radix(digits, 16).map_err(|e| format!("\\u{digits}: {e}"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        let mut bytes = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("unterminated escape".into());
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err("lone high surrogate".into());
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err("bad low surrogate".into());
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or("bad \\u escape")?
                        }
                        other => return Err(format!("bad escape \\{}", other as char)),
                    };
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => bytes.push(b),
            }
        }
        String::from_utf8(bytes).map_err(|e| e.to_string())
    }
}
