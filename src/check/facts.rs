//! What `pgsql-ra check` looks at, gathered once: the local server's
//! settings and `pg_hba.conf` rules, files and their owners, node names and
//! their addresses. Reading only; every external call is bounded by the
//! run's deadline. The verdicts are made from this snapshot elsewhere
//! (findings.rs), so they can be tested without a host.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hba::{LocalNet, Rule};
use crate::agents::pgsql::config::Config;
use crate::cluster::{Pacemaker, Tools};
use crate::ocf::{Deadline, OcfEnv};
use crate::os::process::find_executable;
use crate::os::OsUser;
use crate::pg::{conninfo, pgpass, replication, ConnParams, Host, PidFile, Session, SqlError};

/// The settings read from the server (`pg_settings`).
pub const SETTINGS: &[&str] = &[
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "hot_standby",
    "wal_log_hints",
    "data_checksums",
    "config_file",
    "hba_file",
    "archive_mode",
    "archive_command",
    "server_version_num",
    "primary_conninfo",
    "recovery_target_timeline",
];

/// Owner and mode of a file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub uid: u32,
    pub mode: u32,
    pub is_dir: bool,
}

/// The replication user's role (`pg_roles`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    pub login: bool,
    pub replication: bool,
    pub superuser: bool,
}

/// What the running local server says.
#[derive(Clone, Debug)]
pub struct Server {
    pub settings: BTreeMap<String, String>,
    pub in_recovery: bool,
    /// The rules, or why they could not be read.
    pub hba: Result<Vec<Rule>, String>,
    /// `None`: no such role.
    pub repuser: Option<Role>,
    /// `pg_control_system()`'s system identifier.
    pub system_id: Option<String>,
}

/// Who answers for replication at `master_ip`: its system identifier and
/// major version, or why it could not tell.
pub type PrimaryAnswer = Result<(String, u32), String>;

/// A directory an archive or restore command copies to or from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveDir {
    /// `archive_command` or `restore_command`.
    pub setting: &'static str,
    pub dir: PathBuf,
    pub is_dir: bool,
    /// Writable (and searchable) by pgdba.
    pub writable: bool,
}

/// A host that must be able to connect for replication, and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `node_list` or `master_ip`.
    pub source: &'static str,
    pub addrs: Result<Vec<IpAddr>, String>,
}

/// Everything `findings` judges.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// `crm_node -n`, else the host name.
    pub local_node: String,
    /// The local server, or why it could not be asked.
    pub server: Option<Result<Server, String>>,
    /// pgdba's uid, `None` when the user does not exist.
    pub dba_uid: Option<u32>,
    /// `None`: missing.
    pub pgdata: Option<FileMeta>,
    pub tmpdir: Option<FileMeta>,
    pub archive_dirs: Vec<ArchiveDir>,
    /// Debian's start.conf beside the server's configuration file: its
    /// path and its first word.
    pub start_conf: Option<(PathBuf, String)>,
    pub peers: Vec<Peer>,
    pub local_nets: Vec<LocalNet>,
    /// Addresses of the host names in `pg_hba.conf` rules.
    pub hba_names: BTreeMap<String, Vec<IpAddr>>,
    /// The major version of pgdata (`PG_VERSION`).
    pub local_major: Option<u32>,
    /// The server at `master_ip`, asked when it answers on `pgport` and no
    /// primary runs here.
    pub primary: Option<PrimaryAnswer>,
    /// The deadline passed while gathering: later facts may be missing.
    pub timed_out: bool,
}

fn meta(path: &Path) -> Option<FileMeta> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileMeta {
        uid: m.uid(),
        mode: m.mode() & 0o7777,
        is_dir: m.is_dir(),
    })
}

/// The connection the agent's monitor makes: `pghost`, else `socketdir`,
/// else `PGHOST`, else the socket directory in postmaster.pid, else the
/// usual directories (as src/agents/pgsql/ctl.rs builds it).
fn conn_params(cfg: &Config, env: &OcfEnv, dba: Option<&OsUser>) -> ConnParams {
    let host = if !cfg.pghost.is_empty() {
        Host::from_libpq(&cfg.pghost)
    } else if !cfg.socketdir.is_empty() {
        Host::Socket(PathBuf::from(&cfg.socketdir))
    } else if let Some(h) = env.process.host() {
        Host::from_libpq(h)
    } else if let Some(dir) = PidFile::read(&cfg.pgdata).and_then(|p| p.socket_dir) {
        Host::Socket(dir)
    } else {
        let dirs = ["/var/run/postgresql", "/tmp"];
        let dir = dirs
            .iter()
            .map(PathBuf::from)
            .find(|d| d.join(format!(".s.PGSQL.{}", cfg.pgport)).exists())
            .unwrap_or_else(|| PathBuf::from(dirs[0]));
        Host::Socket(dir)
    };
    let mut conn = ConnParams {
        host,
        port: cfg.pgport,
        user: cfg.monitor_user().to_string(),
        password: None,
        dbname: cfg.pgdb.clone(),
        os_user: dba.cloned(),
    };
    let home = dba.map(|u| u.home.clone()).unwrap_or_default();
    conn.password = pgpass::resolve(Some(&cfg.monitor_password), &env.process, &home, &conn);
    conn
}

/// Reads the server's side of the facts.
async fn server(cfg: &Config, session: &Session) -> Result<Server, SqlError> {
    let rows = session
        .query_texts(
            "select name, setting from pg_settings where name = any(string_to_array($1, ','))",
            &[&SETTINGS.join(",")],
        )
        .await?;
    let settings = rows
        .into_iter()
        .filter_map(|r| match r.as_slice() {
            [Some(n), Some(v)] => Some((n.clone(), v.clone())),
            _ => None,
        })
        .collect();
    let in_recovery = session
        .query_value("select pg_is_in_recovery()::text")
        .await?
        .is_some_and(|v| v == "true");
    let hba = match session
        .query_texts(
            "select line_number::text, type, array_to_string(database, ','), \
             array_to_string(user_name, ','), address, netmask, auth_method, error \
             from pg_hba_file_rules order by line_number",
            &[],
        )
        .await
    {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|r| {
                let col = |i: usize| r.get(i).cloned().flatten();
                let list = |i: usize| {
                    col(i)
                        .map(|s| s.split(',').map(str::to_string).collect())
                        .unwrap_or_default()
                };
                Rule {
                    line: col(0).and_then(|l| l.parse().ok()).unwrap_or(0),
                    kind: col(1).unwrap_or_default(),
                    databases: list(2),
                    users: list(3),
                    address: col(4),
                    netmask: col(5),
                    method: col(6).unwrap_or_default(),
                    error: col(7),
                }
            })
            .collect()),
        Err(e) => Err(e.to_string()),
    };
    let repuser = session
        .query_texts(
            "select rolcanlogin::text, rolreplication::text, rolsuper::text \
             from pg_roles where rolname = $1",
            &[&cfg.repuser],
        )
        .await?
        .into_iter()
        .next()
        .map(|r| {
            let t = |i: usize| r.get(i).cloned().flatten().is_some_and(|v| v == "true");
            Role {
                login: t(0),
                replication: t(1),
                superuser: t(2),
            }
        });
    let system_id = session
        .query_value("select system_identifier::text from pg_control_system()")
        .await?;
    Ok(Server {
        settings,
        in_recovery,
        hba,
        repuser,
        system_id,
    })
}

/// getaddrinfo, bounded by `deadline` (it runs on a blocking thread, which
/// is abandoned when late).
async fn resolve(name: &str, deadline: Deadline) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let owned = name.to_string();
    let task = tokio::task::spawn_blocking(move || {
        (owned.as_str(), 0u16).to_socket_addrs().map(|it| {
            let mut v: Vec<IpAddr> = it.map(|a| a.ip()).collect();
            v.sort();
            v.dedup();
            v
        })
    });
    match tokio::time::timeout_at(
        deadline.within(Duration::from_secs(5)).tokio_instant(),
        task,
    )
    .await
    {
        Ok(Ok(Ok(v))) if !v.is_empty() => Ok(v),
        Ok(Ok(Ok(_))) => Err("no address".to_string()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the name service did not answer in time".to_string()),
    }
}

/// This host's addresses and their netmasks (for `samehost`/`samenet`).
fn local_nets() -> Vec<LocalNet> {
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let ip = |s: &nix::sys::socket::SockaddrStorage| -> Option<IpAddr> {
        if let Some(v4) = s.as_sockaddr_in() {
            Some(IpAddr::V4(v4.ip()))
        } else {
            s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        }
    };
    list.filter_map(|i| {
        let addr = ip(i.address.as_ref()?)?;
        let mask = ip(i.netmask.as_ref()?)?;
        Some(LocalNet { addr, mask })
    })
    .collect()
}

/// The directory an `archive_command` or `restore_command` copies to or
/// from, when the command says it plainly: `pgsql-ra archive-wal
/// --archive-dir DIR`, or a `cp` whose argument holds `%f`. Parsed as shell
/// words, never run. `None` when the command does something else.
pub fn command_dir(command: &str) -> Option<PathBuf> {
    let words = shell_words::split(command).ok()?;
    for part in words.split(|w| matches!(w.as_str(), "&&" | "||" | ";" | "|")) {
        let Some(program) = part.first() else {
            continue;
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        if base == "pgsql-ra" && part.get(1).is_some_and(|a| a == "archive-wal") {
            let mut it = part.iter().skip(2);
            while let Some(a) = it.next() {
                if a == "--archive-dir" {
                    return it.next().map(PathBuf::from);
                }
                if let Some(v) = a.strip_prefix("--archive-dir=") {
                    return Some(PathBuf::from(v));
                }
            }
        }
        if base == "cp" {
            let target = part[1..]
                .iter()
                .find(|a| !a.starts_with('-') && a.contains("%f"))?;
            let parent = Path::new(target).parent()?;
            if parent.as_os_str().is_empty() || parent.to_string_lossy().contains('%') {
                return None;
            }
            return Some(parent.to_path_buf());
        }
    }
    None
}

/// The first word of start.conf that is not a comment.
fn start_conf_word(text: &str) -> String {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Gathers the facts, within `deadline`.
pub async fn gather(cfg: &Config, env: &OcfEnv, deadline: Deadline) -> Facts {
    let dba = OsUser::lookup(&cfg.pgdba, deadline).ok().flatten();
    let mut facts = Facts {
        dba_uid: dba.as_ref().map(|u| u.uid.as_raw()),
        pgdata: meta(&cfg.pgdata),
        tmpdir: meta(&cfg.tmpdir),
        local_nets: local_nets(),
        ..Facts::default()
    };

    let pacemaker = Pacemaker {
        instance: env.resource_name().to_string(),
        feature_set: None,
        deadline: deadline.within(Duration::from_secs(10)),
        forever_timeout: Duration::from_secs(10),
        tools: Tools::from_env(env),
    };
    facts.local_node = pacemaker.local_node(None).await;

    let conn = conn_params(cfg, env, dba.as_ref());
    let server = match conn.connect(deadline.within(Duration::from_secs(10))).await {
        Ok(session) => server(cfg, &session).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };

    // Archive and restore directories, checked as pgdba.
    let mut commands: Vec<(&'static str, String)> = Vec::new();
    if !cfg.restore_command.is_empty() {
        commands.push(("restore_command", cfg.restore_command.clone()));
    }
    if let Ok(s) = &server {
        let archiving = s.settings.get("archive_mode").is_some_and(|m| m != "off");
        if let Some(c) = s.settings.get("archive_command") {
            if archiving && !c.is_empty() {
                commands.push(("archive_command", c.clone()));
            }
        }
    }
    for (setting, command) in commands {
        let Some(dir) = command_dir(&command) else {
            continue;
        };
        let is_dir = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir());
        let writable = is_dir
            && dba
                .as_ref()
                .is_some_and(|u| u.can_write(&dir) && u.with_identity(|| dir.read_dir().is_ok()));
        if !facts.archive_dirs.iter().any(|d| d.dir == dir) {
            facts.archive_dirs.push(ArchiveDir {
                setting,
                dir,
                is_dir,
                writable,
            });
        }
    }

    // start.conf beside the configuration file the server reads.
    let config_file = server
        .as_ref()
        .ok()
        .and_then(|s| s.settings.get("config_file").map(PathBuf::from))
        .unwrap_or_else(|| cfg.config.clone());
    if let Some(dir) = config_file.parent() {
        let path = dir.join("start.conf");
        if let Ok(text) = std::fs::read_to_string(&path) {
            facts.start_conf = Some((path, start_conf_word(&text)));
        }
    }

    // The hosts that connect for replication: the other nodes, master_ip.
    if cfg.rep_mode.is_replication() {
        let me = facts.local_node.to_ascii_lowercase();
        for name in cfg.node_list.iter().filter(|n| **n != me) {
            facts.peers.push(Peer {
                name: name.clone(),
                source: "node_list",
                addrs: resolve(name, deadline).await,
            });
        }
        if !cfg.master_ip.is_empty() {
            facts.peers.push(Peer {
                name: cfg.master_ip.clone(),
                source: "master_ip",
                addrs: resolve(&cfg.master_ip, deadline).await,
            });
        }
    }
    if let Ok(s) = &server {
        if let Ok(rules) = &s.hba {
            for r in rules {
                let Some(a) = r.address.as_deref() else {
                    continue;
                };
                let keyword = matches!(a, "all" | "samehost" | "samenet");
                if keyword || a.parse::<IpAddr>().is_ok() || a.starts_with('.') {
                    continue;
                }
                if !facts.hba_names.contains_key(a) {
                    let addrs = resolve(a, deadline).await.unwrap_or_default();
                    facts.hba_names.insert(a.to_string(), addrs);
                }
            }
        }
    }
    facts.local_major = std::fs::read_to_string(cfg.pgdata.join("PG_VERSION"))
        .ok()
        .and_then(|v| v.trim().split('.').next()?.parse().ok());
    let primary_here = matches!(&server, Ok(s) if !s.in_recovery);
    if cfg.rep_mode.is_replication() && !cfg.master_ip.is_empty() && !primary_here {
        if let Some(dba) = &dba {
            facts.primary = ask_primary(cfg, env, dba, deadline).await;
        }
    }
    facts.server = Some(server);
    facts.timed_out = deadline.expired();
    facts
}

/// The server at `master_ip`, over a replication connection as `repuser`
/// (what a standby here opens), when something answers on `pgport`.
async fn ask_primary(
    cfg: &Config,
    env: &OcfEnv,
    dba: &OsUser,
    deadline: Deadline,
) -> Option<PrimaryAnswer> {
    let addr = (cfg.master_ip.as_str(), cfg.pgport);
    let connect = tokio::net::TcpStream::connect(addr);
    let limit = deadline.within(Duration::from_secs(3)).tokio_instant();
    match tokio::time::timeout_at(limit, connect).await {
        Ok(Ok(_)) => {}
        _ => return None,
    }
    let Some(psql) = find_executable(&cfg.psql, env.process.path.as_deref()) else {
        return Some(Err(format!("no psql at {}", cfg.psql)));
    };
    let mut conninfo = format!(
        "host={} port={} user={}",
        conninfo::quote(&cfg.master_ip),
        cfg.pgport,
        conninfo::quote(&cfg.repuser)
    );
    if !cfg.primary_conninfo_opt.is_empty() {
        conninfo.push(' ');
        conninfo.push_str(&cfg.primary_conninfo_opt);
    }
    let peer = replication::Peer {
        psql: &psql,
        user: dba,
        conninfo: &conninfo,
    };
    let answer = async {
        let identity = peer.identify_system(deadline).await?;
        let version = peer.show("server_version_num", deadline).await?;
        let major = version
            .parse::<u32>()
            .map_err(|_| format!("server_version_num '{version}'"))?
            / 10000;
        Ok((identity.system_id, major))
    };
    Some(answer.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_directories_from_commands() {
        let p = |s: &str| command_dir(s).map(|d| d.display().to_string());
        assert_eq!(p("cp %p /srv/archive/%f").as_deref(), Some("/srv/archive"));
        assert_eq!(p("cp /srv/archive/%f %p").as_deref(), Some("/srv/archive"));
        assert_eq!(
            p("test ! -f /mnt/a/%f && cp -i %p /mnt/a/%f").as_deref(),
            Some("/mnt/a")
        );
        assert_eq!(
            p("'/usr/sbin/pgsql-ra' archive-wal --archive-dir '/var/lib/pgsql/my archive' %p %f")
                .as_deref(),
            Some("/var/lib/pgsql/my archive")
        );
        assert_eq!(
            p("pgsql-ra archive-wal --archive-dir=/a %p %f").as_deref(),
            Some("/a")
        );
        assert_eq!(p("rsync %p backup:/archive/%f"), None);
        assert_eq!(p("cp %p %f"), None);
        assert_eq!(p("cp 'unbalanced"), None);
    }

    #[test]
    fn start_conf_first_word() {
        assert_eq!(
            start_conf_word("# auto, manual or disabled\n\nauto\n"),
            "auto"
        );
        assert_eq!(start_conf_word("disabled # set by hand\n"), "disabled");
        assert_eq!(start_conf_word("# nothing\n"), "");
    }
}
