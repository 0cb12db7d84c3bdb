//! `postmaster.pid`: is the server of a data directory alive, and where does
//! it listen.
//!
//! The first line is the postmaster's PID; since PostgreSQL 9.1 further lines
//! give the data directory, start time, port, first socket directory, first
//! listen address, shared memory key and (10+) a status word. Reading it costs
//! one small file read, which is why the monitor starts here.

use std::path::{Path, PathBuf};

use crate::os::OsUser;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
    pub socket_dir: Option<PathBuf>,
    pub listen_addr: Option<String>,
    /// `starting`, `stopping`, `ready`, `standby` (PostgreSQL 10+).
    pub status: Option<String>,
    /// The System V shared memory segment the server's processes attach to;
    /// while anything is attached, old backends are alive.
    pub shm_id: Option<i32>,
}

impl PidFile {
    pub fn path(pgdata: &Path) -> PathBuf {
        pgdata.join("postmaster.pid")
    }

    pub fn parse(text: &str) -> Option<PidFile> {
        let mut lines = text.lines();
        let pid: i32 = lines.next()?.trim().parse().ok()?;
        let rest: Vec<&str> = lines.map(str::trim).collect();
        let nonempty = |i: usize| rest.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string());
        Some(PidFile {
            // A negative PID marks a single-user backend: not a postmaster.
            pid,
            port: rest.get(2).and_then(|s| s.parse().ok()),
            socket_dir: nonempty(3).map(PathBuf::from),
            listen_addr: nonempty(4),
            status: nonempty(6),
            shm_id: rest
                .get(5)
                .and_then(|s| s.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok()),
        })
    }

    /// Reads `<pgdata>/postmaster.pid`; `None` when absent or unreadable.
    pub fn read(pgdata: &Path) -> Option<PidFile> {
        let text = std::fs::read_to_string(Self::path(pgdata)).ok()?;
        Self::parse(&text)
    }
}

/// `pgsql_status`: the PID file exists and its first line is a process the
/// PostgreSQL user could signal.
pub fn postmaster_alive(pgdata: &Path, dba: &OsUser) -> Option<PidFile> {
    let pf = PidFile::read(pgdata)?;
    dba.owns_process(pf.pid).then_some(pf)
}

/// Like `postmaster_alive`, for when the PostgreSQL user is unknown (a
/// mistyped `pgdba`): any live, non-zombie process counts.
pub fn live_postmaster(pgdata: &Path, dba: Option<&OsUser>) -> Option<PidFile> {
    match dba {
        Some(u) => postmaster_alive(pgdata, u),
        None => {
            let pf = PidFile::read(pgdata)?;
            let status = std::fs::read_to_string(format!("/proc/{}/status", pf.pid)).ok()?;
            let zombie = status
                .lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'));
            (pf.pid > 0 && !zombie).then_some(pf)
        }
    }
}

/// Does a process with this PID exist at all (a zombie included)? PostgreSQL's
/// own lock-file check (`kill(pid, 0)`) counts zombies as alive.
pub fn process_exists(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// How many processes are attached to the shared memory segment `shm_id`;
/// `None` when the segment is gone.
pub fn shm_attached(shm_id: i32) -> Option<u64> {
    // SAFETY: IPC_STAT fills a zeroed shmid_ds; no pointer is kept.
    unsafe {
        let mut ds: libc::shmid_ds = std::mem::zeroed();
        if libc::shmctl(shm_id, libc::IPC_STAT, &mut ds) != 0 {
            return None;
        }
        Some(ds.shm_nattch as u64)
    }
}

impl PidFile {
    /// True when nothing of the server that wrote this file is left: the
    /// postmaster is reaped and no backend is attached to its shared memory.
    /// Only then may the file be removed without risking two servers on one
    /// data directory.
    pub fn server_fully_gone(&self) -> bool {
        !process_exists(self.pid) && self.shm_id.and_then(shm_attached).unwrap_or(0) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pg15_pidfile() {
        let text = "4242\n/var/lib/pg/data\n1700000000\n5433\n/tmp/sock\n*\n  1234567     98304\nready   \n";
        let pf = PidFile::parse(text).unwrap();
        assert_eq!(pf.pid, 4242);
        assert_eq!(pf.port, Some(5433));
        assert_eq!(pf.socket_dir.as_deref(), Some(Path::new("/tmp/sock")));
        assert_eq!(pf.listen_addr.as_deref(), Some("*"));
        assert_eq!(pf.status.as_deref(), Some("ready"));
        assert_eq!(pf.shm_id, Some(98304));
    }

    #[test]
    fn first_line_only_is_enough() {
        let pf = PidFile::parse("77\n").unwrap();
        assert_eq!(pf.pid, 77);
        assert_eq!(pf.port, None);
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(PidFile::parse(""), None);
        assert_eq!(PidFile::parse("abc\n"), None);
    }
}
