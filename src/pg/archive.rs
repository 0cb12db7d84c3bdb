//! `pgsql-ra archive-wal`: an `archive_command` that keeps a shared WAL
//! archive to one history.
//!
//! With `cp` as the archive command, a primary that is cut off from the
//! cluster keeps archiving: segments it completes after a standby was
//! promoted (by `archive_timeout`, or by its shutdown) land in the archive
//! under names the new primary's history also uses, or will use (with
//! `restart_on_promote=true` the timeline does not change). A standby that
//! restores such a segment replays WAL the new primary never had and can
//! never follow it. The rule here (docs/architecture.md, "The WAL archive"):
//! a WAL segment enters the archive only once a standby that could be
//! promoted has flushed all of it. Then the segment is part of every history
//! the cluster can continue with, whoever is promoted and whatever timeline
//! it takes: in sync mode the promoted node is a synchronous standby, which
//! has it. One exception: a primary with no standby streaming and no
//! synchronous standby named acknowledges commits alone (the agent clears
//! `synchronous_standby_names` only with quorum); its archive is then the only
//! second copy of those commits, so it archives. A primary cut off without
//! quorum keeps the name (commits wait) and archives nothing a standby
//! lacks. Timeline history files, backup labels and `.partial` segments are
//! written only by the node that made them and are archived at once. A file
//! already in the archive is never replaced: the same bytes again are a
//! success (PostgreSQL retries after a crash), different bytes are refused.
//!
//! PostgreSQL runs the archive command as its own user in the data directory,
//! so `postmaster.pid` there says where the server listens: no configuration
//! but the archive directory.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConnParams, Host, Lsn, PidFile, SqlError};
use crate::ocf::Deadline;

/// What the command line gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub archive_dir: PathBuf,
    /// `%p`: the file, relative to the data directory (the current one).
    pub wal_path: PathBuf,
    /// `%f`: its name in the archive.
    pub wal_name: String,
    pub socket_dir: Option<PathBuf>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: String,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive-wal does not run as root: PostgreSQL runs archive_command as its own user")]
    Root,
    #[error("'{0}' is not a WAL file name (%f)")]
    BadName(String),
    #[error(
        "no postmaster.pid in the current directory: archive-wal runs as archive_command (in the \
         data directory), or give --socket-dir and --port"
    )]
    NoServer,
    #[error("cannot ask the local server whether {name} may be archived: {source}")]
    Ask { name: String, source: SqlError },
    #[error("{0} not archived: this server is a standby, only the primary archives")]
    Standby(String),
    #[error(
        "{name} not archived yet: no standby that could be promoted has flushed it all (it ends \
         at {end}; standbys: {standbys}); PostgreSQL retries, archiving resumes once a standby \
         streams"
    )]
    NotOnStandby {
        name: String,
        end: Lsn,
        standbys: String,
    },
    #[error(
        "{0} is already in the archive with other contents: another history wrote it; it is \
         not replaced (docs/architecture.md, The WAL archive)"
    )]
    Conflict(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path} in the archive: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("archiving {0} took longer than --timeout")]
    TimedOut(String),
}

/// What `%f` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalFile {
    /// A complete segment: timeline, then the segment's two name fields.
    Segment { timeline: u32, log: u32, seg: u32 },
    /// A timeline history file, a backup label, a `.partial` segment: made
    /// only by the node that archives it.
    Other,
}

impl WalFile {
    pub fn parse(name: &str) -> Option<WalFile> {
        let hex = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(tli) = name.strip_suffix(".history") {
            return hex(tli).then_some(WalFile::Other);
        }
        let fields = [name.get(..8)?, name.get(8..16)?, name.get(16..24)?];
        if !fields.iter().all(|f| hex(f)) {
            return None;
        }
        let rest = &name[24..];
        if rest.is_empty() {
            let field = |s: &str| u32::from_str_radix(s, 16).ok();
            return Some(WalFile::Segment {
                timeline: field(fields[0])?,
                log: field(fields[1])?,
                seg: field(fields[2])?,
            });
        }
        // `.partial`, `.<offset>.backup`
        let suffix = rest.strip_prefix('.')?;
        (!suffix.is_empty()
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.'))
        .then_some(WalFile::Other)
    }

    /// The LSN just past the segment (`None` for other files).
    pub fn end(&self, segment_size: u64) -> Option<Lsn> {
        match *self {
            WalFile::Segment { log, seg, .. } if segment_size > 0 => {
                let per_log = 0x1_0000_0000u64 / segment_size;
                Some(Lsn(
                    (u64::from(log) * per_log + u64::from(seg) + 1) * segment_size
                ))
            }
            _ => None,
        }
    }
}

/// One row of `pg_stat_replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: String,
    pub sync_state: String,
    pub flush: Option<Lsn>,
}

/// What the local server says, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerView {
    pub in_recovery: bool,
    /// `synchronous_standby_names` is set: only synchronous (or quorum)
    /// standbys are promoted.
    pub synchronous: bool,
    pub segment_size: u64,
    pub senders: Vec<Sender>,
}

/// The rule, as a pure function: may `name` enter the archive now?
pub fn decide(name: &str, file: WalFile, view: &ServerView) -> Result<(), ArchiveError> {
    if view.in_recovery {
        return Err(ArchiveError::Standby(name.to_string()));
    }
    let Some(end) = file.end(view.segment_size) else {
        return Ok(());
    };
    if !view.synchronous && view.senders.is_empty() {
        // Alone, acknowledging commits alone: the archive is their only
        // second copy (module comment).
        return Ok(());
    }
    let promotable =
        |s: &Sender| !view.synchronous || matches!(s.sync_state.as_str(), "sync" | "quorum");
    if view
        .senders
        .iter()
        .any(|s| promotable(s) && s.flush.is_some_and(|f| f >= end))
    {
        return Ok(());
    }
    let standbys = if view.senders.is_empty() {
        "none streaming".to_string()
    } else {
        view.senders
            .iter()
            .map(|s| {
                let flush = s.flush.map(|f| f.to_string()).unwrap_or_else(|| "-".into());
                format!("{} {} flushed {flush}", s.name, s.sync_state)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ArchiveError::NotOnStandby {
        name: name.to_string(),
        end,
        standbys,
    })
}

const VIEW_SQL: &str = "select pg_is_in_recovery()::text, \
     (current_setting('synchronous_standby_names') <> '')::text, \
     pg_size_bytes(current_setting('wal_segment_size'))::text";
const SENDERS_SQL: &str = "select coalesce(application_name, ''), coalesce(sync_state, ''), \
     coalesce(flush_lsn::text, '') from pg_stat_replication where state = 'streaming'";

async fn read_view(params: &ConnParams, deadline: Deadline) -> Result<ServerView, SqlError> {
    let session = params.connect(deadline).await?;
    let row = session.simple_query(VIEW_SQL).await?.into_iter().next();
    let col = |i: usize| row.as_ref().and_then(|r| r.get(i).cloned().flatten());
    let senders = session
        .simple_query(SENDERS_SQL)
        .await?
        .into_iter()
        .map(|r| {
            let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Sender {
                name: get(0),
                sync_state: get(1),
                flush: Lsn::parse_pg(&get(2)),
            }
        })
        .collect();
    Ok(ServerView {
        in_recovery: col(0).as_deref() != Some("false"),
        synchronous: col(1).as_deref() == Some("true"),
        segment_size: col(2).and_then(|s| s.parse().ok()).unwrap_or(0),
        senders,
    })
}

/// How a file reached the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    /// The same bytes were already there (a retry after a crash).
    AlreadyThere,
}

/// Copies `src` into `dir/name` without ever replacing a file: a temporary
/// file created exclusively (no link followed), flushed, then hard-linked
/// to its name (atomic, fails when the name exists, also on NFS), and the
/// directory flushed.
pub fn store(dir: &Path, name: &str, src: &Path) -> Result<Stored, ArchiveError> {
    let target = dir.join(name);
    let read_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ArchiveError::Read { path, source }
    };
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ArchiveError::Write { path, source }
    };
    let mut data = Vec::new();
    File::open(src)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(read_err(src))?;
    if let Some(same) = same_contents(&target, &data).map_err(read_err(&target))? {
        return if same {
            Ok(Stored::AlreadyThere)
        } else {
            Err(ArchiveError::Conflict(name.to_string()))
        };
    }
    let tmp = dir.join(format!(".{name}.archive-wal.{}", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, &target)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Someone else stored it between our look and our link.
            return match same_contents(&target, &data).map_err(read_err(&target))? {
                Some(true) => Ok(Stored::AlreadyThere),
                _ => Err(ArchiveError::Conflict(name.to_string())),
            };
        }
        Err(e) => return Err(write_err(&target)(e)),
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err(dir))?;
    Ok(Stored::New)
}

/// `None` when `path` does not exist; a link is never followed.
fn same_contents(path: &Path, data: &[u8]) -> std::io::Result<Option<bool>> {
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut have = Vec::new();
    f.read_to_end(&mut have)?;
    Ok(Some(have == data))
}

/// The whole command: decide, then store. `Ok(Some)` carries a line worth
/// logging (the file was already there).
pub async fn run(opts: &Options) -> Result<Option<String>, ArchiveError> {
    if nix::unistd::geteuid().is_root() {
        return Err(ArchiveError::Root);
    }
    let name = &opts.wal_name;
    let file = WalFile::parse(name).ok_or_else(|| ArchiveError::BadName(name.clone()))?;
    let deadline = Deadline::from_timeout(opts.timeout);
    if matches!(file, WalFile::Segment { .. }) {
        let pid = PidFile::read(Path::new("."));
        let socket_dir = opts
            .socket_dir
            .clone()
            .or_else(|| pid.as_ref().and_then(|p| p.socket_dir.clone()));
        let port = opts.port.or_else(|| pid.as_ref().and_then(|p| p.port));
        let (Some(dir), Some(port)) = (socket_dir, port) else {
            return Err(ArchiveError::NoServer);
        };
        let params = ConnParams {
            host: Host::Socket(dir),
            port,
            user: opts
                .user
                .clone()
                .or_else(crate::os::user::current_user_name)
                .unwrap_or_else(|| "postgres".into()),
            password: None,
            dbname: opts.dbname.clone(),
            os_user: None,
        };
        let view = read_view(&params, deadline)
            .await
            .map_err(|source| ArchiveError::Ask {
                name: name.clone(),
                source,
            })?;
        decide(name, file, &view)?;
    }
    let dir = opts.archive_dir.clone();
    let (src, n) = (opts.wal_path.clone(), name.clone());
    let copy = tokio::task::spawn_blocking(move || store(&dir, &n, &src));
    match tokio::time::timeout(deadline.remaining(), copy).await {
        Ok(Ok(Ok(Stored::New))) => Ok(None),
        Ok(Ok(Ok(Stored::AlreadyThere))) => Ok(Some(format!(
            "{name} was already in the archive with the same contents"
        ))),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) | Err(_) => Err(ArchiveError::TimedOut(name.clone())),
    }
}

/// Parses `archive-wal [options] %p %f` (argv without the program and the
/// word `archive-wal`).
pub fn parse_args(args: Vec<OsString>) -> Result<Options, clap::Error> {
    use clap::{value_parser, Arg, Command};
    let m = Command::new("archive-wal")
        .bin_name("pgsql-ra archive-wal")
        .about(
            "An archive_command that archives a WAL segment only once a standby that could be \
             promoted has all of it, and never replaces a file in the archive.\n\
             postgresql.conf: archive_command = '/usr/sbin/pgsql-ra archive-wal \
             --archive-dir /var/lib/pgsql/archive %p %f'",
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("archive-dir")
                .long("archive-dir")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The archive directory (shared by all nodes)"),
        )
        .arg(
            Arg::new("socket-dir")
                .long("socket-dir")
                .value_parser(value_parser!(PathBuf))
                .help("The server's socket directory (default: from postmaster.pid)"),
        )
        .arg(
            Arg::new("port")
                .long("port")
                .value_parser(value_parser!(u16))
                .help("The server's port (default: from postmaster.pid)"),
        )
        .arg(
            Arg::new("user")
                .long("user")
                .help("Database user (default: the operating-system user)"),
        )
        .arg(
            Arg::new("dbname")
                .long("dbname")
                .default_value("postgres")
                .help("Database to connect to"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_parser(value_parser!(u64).range(1..))
                .default_value("60")
                .help("Seconds the whole command may take"),
        )
        .arg(
            Arg::new("path")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("%p"),
        )
        .arg(Arg::new("name").required(true).help("%f"))
        .try_get_matches_from(std::iter::once(OsString::from("archive-wal")).chain(args))?;
    Ok(Options {
        archive_dir: m
            .get_one::<PathBuf>("archive-dir")
            .cloned()
            .unwrap_or_default(),
        wal_path: m.get_one::<PathBuf>("path").cloned().unwrap_or_default(),
        wal_name: m.get_one::<String>("name").cloned().unwrap_or_default(),
        socket_dir: m.get_one::<PathBuf>("socket-dir").cloned(),
        port: m.get_one::<u16>("port").copied(),
        user: m.get_one::<String>("user").cloned(),
        dbname: m
            .get_one::<String>("dbname")
            .cloned()
            .unwrap_or_else(|| "postgres".into()),
        timeout: Duration::from_secs(m.get_one::<u64>("timeout").copied().unwrap_or(60)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = 16 << 20;

    fn view(synchronous: bool, senders: &[(&str, &str, &str)]) -> ServerView {
        ServerView {
            in_recovery: false,
            synchronous,
            segment_size: SEG,
            senders: senders
                .iter()
                .map(|(n, s, f)| Sender {
                    name: n.to_string(),
                    sync_state: s.to_string(),
                    flush: Lsn::parse_pg(f),
                })
                .collect(),
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            WalFile::parse("000000020000000100000003"),
            Some(WalFile::Segment {
                timeline: 2,
                log: 1,
                seg: 3
            })
        );
        for other in [
            "00000002.history",
            "000000010000000000000002.00000028.backup",
            "000000010000000000000005.partial",
        ] {
            assert_eq!(WalFile::parse(other), Some(WalFile::Other), "{other}");
        }
        for bad in [
            "",
            "00000001000000000000000",
            "0000000100000000000000GG",
            "../00000001000000000000000",
            "000000010000000000000005/x",
            "0000000X.history",
            "000000010000000000000005.",
        ] {
            assert_eq!(WalFile::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn segment_end() {
        let f = WalFile::parse("000000010000000000000003").unwrap();
        assert_eq!(f.end(SEG), Some(Lsn(4 * SEG)));
        let f = WalFile::parse("000000010000000100000000").unwrap();
        assert_eq!(f.end(SEG), Some(Lsn::parse_pg("1/1000000").unwrap()));
        // 1 GB segments: four per log file.
        let f = WalFile::parse("000000010000000200000003").unwrap();
        assert_eq!(f.end(1 << 30), Some(Lsn::parse_pg("3/0").unwrap()));
        assert_eq!(WalFile::Other.end(SEG), None);
    }

    #[test]
    fn a_segment_waits_for_a_promotable_standby() {
        let seg3 = WalFile::parse("000000010000000000000003").unwrap();
        let name = "000000010000000000000003";
        // Flushed to the segment's end by the synchronous standby: archived.
        assert!(decide(name, seg3, &view(true, &[("node2", "sync", "0/4000000")])).is_ok());
        assert!(decide(name, seg3, &view(true, &[("node2", "quorum", "0/4000010")])).is_ok());
        // Only an asynchronous standby has it while sync mode is on: wait.
        let e = decide(
            name,
            seg3,
            &view(
                true,
                &[
                    ("node3", "async", "0/5000000"),
                    ("node2", "sync", "0/3FFFFFF"),
                ],
            ),
        )
        .unwrap_err();
        assert!(matches!(e, ArchiveError::NotOnStandby { .. }), "{e}");
        assert!(
            e.to_string().contains("node2 sync flushed 0/3FFFFFF"),
            "{e}"
        );
        // Async mode: any streaming standby may be promoted, and one that is
        // behind holds the segment back.
        assert!(decide(name, seg3, &view(false, &[("node3", "async", "0/4000000")])).is_ok());
        assert!(decide(name, seg3, &view(false, &[("node3", "async", "0/3000000")])).is_err());
        // Sync mode and nobody streaming (commits wait): wait too.
        let e = decide(name, seg3, &view(true, &[])).unwrap_err();
        assert!(e.to_string().contains("none streaming"), "{e}");
        // No synchronous standby named and nobody streaming: this primary
        // acknowledges alone, the archive is the second copy.
        assert!(decide(name, seg3, &view(false, &[])).is_ok());
        // A history file or .partial never waits, a standby never archives.
        assert!(decide("00000002.history", WalFile::Other, &view(true, &[])).is_ok());
        let mut standby = view(false, &[("node3", "async", "1/0")]);
        standby.in_recovery = true;
        assert!(matches!(
            decide(name, seg3, &standby),
            Err(ArchiveError::Standby(_))
        ));
    }

    #[test]
    fn store_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("seg");
        std::fs::write(&src, b"one history").unwrap();
        let arch = dir.path().join("archive");
        std::fs::create_dir(&arch).unwrap();
        assert_eq!(store(&arch, "A", &src).unwrap(), Stored::New);
        assert_eq!(std::fs::read(arch.join("A")).unwrap(), b"one history");
        assert_eq!(store(&arch, "A", &src).unwrap(), Stored::AlreadyThere);
        std::fs::write(&src, b"another history").unwrap();
        assert!(matches!(
            store(&arch, "A", &src),
            Err(ArchiveError::Conflict(_))
        ));
        assert_eq!(std::fs::read(arch.join("A")).unwrap(), b"one history");
        // A planted link under the name is neither followed nor replaced.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, arch.join("B")).unwrap();
        assert!(store(&arch, "B", &src).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&arch)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn arguments() {
        let o = parse_args(
            ["--archive-dir", "/a", "pg_wal/X", "X"]
                .iter()
                .map(OsString::from)
                .collect(),
        )
        .unwrap();
        assert_eq!(o.archive_dir, PathBuf::from("/a"));
        assert_eq!(o.wal_path, PathBuf::from("pg_wal/X"));
        assert_eq!(o.wal_name, "X");
        assert_eq!(o.timeout, Duration::from_secs(60));
        assert!(parse_args(vec![OsString::from("pg_wal/X")]).is_err());
    }
}
