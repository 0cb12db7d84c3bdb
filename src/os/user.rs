//! The operating-system user PostgreSQL runs as (`pgdba`), and acting as it.
//!
//! The reference agent runs every check and command through `su pgdba -c ...`.
//! We never fork a shell: checks that must be made "as pgdba" (can it write the
//! data directory, the log file, the socket directory; peer authentication on
//! the unix socket) run in-process with the effective ids switched for the
//! duration of one call, and child processes drop privileges between fork and
//! exec.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{self, Gid, Uid, User};

use crate::ocf::Deadline;

#[derive(Clone, Debug)]
pub struct OsUser {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    /// Supplementary groups, resolved once (getgrouplist reads /etc/group and
    /// must not run between fork and exec).
    pub groups: Vec<Gid>,
    pub home: PathBuf,
    pub shell: PathBuf,
}

/// Why a user could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{0}")]
    Nss(#[from] nix::Error),
    /// getpwnam and getgrouplist cannot be interrupted: a user database
    /// that does not answer (an LDAP server away, a file that blocks) would
    /// hold the action past Pacemaker's timeout.
    #[error("the user database (NSS) did not answer within a third of the operation's time")]
    TimedOut,
}

impl OsUser {
    /// `getent passwd NAME`; `Ok(None)` when the user does not exist. The
    /// lookup runs in a thread of its own, waited for during a third of
    /// what is left of `deadline` (a working user database answers in
    /// milliseconds), so that the action can still answer without the user
    /// (a stop still stops the server with signals). A lookup that never
    /// answers is left behind, and the process ends with it.
    pub fn lookup(name: &str, deadline: Deadline) -> Result<Option<OsUser>, LookupError> {
        if name.is_empty() || name.contains('\0') {
            return Ok(None);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let owned = name.to_string();
        std::thread::spawn(move || {
            let _ = tx.send(OsUser::lookup_now(&owned));
        });
        match rx.recv_timeout(deadline.remaining() / 3) {
            Ok(found) => found.map_err(LookupError::Nss),
            Err(_) => Err(LookupError::TimedOut),
        }
    }

    fn lookup_now(name: &str) -> Result<Option<OsUser>, nix::Error> {
        let Some(u) = User::from_name(name)? else {
            return Ok(None);
        };
        let cname = CString::new(name).map_err(|_| nix::Error::EINVAL)?;
        let groups = unistd::getgrouplist(&cname, u.gid).unwrap_or_else(|_| vec![u.gid]);
        Ok(Some(OsUser {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            groups,
            home: u.dir,
            shell: u.shell,
        }))
    }

    /// Runs `f` with this user's effective uid, gid and groups, then restores
    /// ours. When we already are this user (or cannot switch because we are not
    /// root), `f` runs as we are.
    pub fn with_identity<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = IdentityGuard::switch(self);
        f()
    }

    /// Can this user write `path`? Uses the kernel's own check
    /// (`faccessat(AT_EACCESS)`) under the user's identity, so ACLs, group
    /// membership and read-only mounts all count.
    pub fn can_write(&self, path: &Path) -> bool {
        self.with_identity(|| eaccess(path, libc::W_OK))
    }

    /// Is `pid` a live process this user could signal (what `kill -0` run as
    /// the user answers)? Read from /proc without signalling anything.
    pub fn owns_process(&self, pid: i32) -> bool {
        if pid <= 0 {
            return false;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        // A zombie is dead for our purposes: it holds no lock and serves nobody.
        if status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
        {
            return false;
        }
        let Some(uids) = status.lines().find_map(|l| l.strip_prefix("Uid:")) else {
            return false;
        };
        let ids: Vec<u32> = uids
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        // kill(2): the sender's real or effective uid must equal the target's
        // real or saved uid. The sender here is pgdba (real = effective).
        ids.len() >= 3 && (ids[0] == self.uid.as_raw() || ids[2] == self.uid.as_raw())
    }
}

fn eaccess(path: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: valid C string; AT_FDCWD with an absolute or relative path.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

/// Switches effective ids and restores them when dropped.
struct IdentityGuard {
    saved: Option<(Uid, Gid, Vec<Gid>)>,
}

impl IdentityGuard {
    fn switch(user: &OsUser) -> IdentityGuard {
        let euid = unistd::geteuid();
        if euid == user.uid || !euid.is_root() {
            return IdentityGuard { saved: None };
        }
        let saved = (
            euid,
            unistd::getegid(),
            unistd::getgroups().unwrap_or_default(),
        );
        // Order matters: groups and gid while we are still root, uid last.
        let ok = unistd::setgroups(&user.groups).is_ok()
            && unistd::setegid(user.gid).is_ok()
            && unistd::seteuid(user.uid).is_ok();
        if !ok {
            tracing::warn!("could not switch to user {} for a check", user.name);
        }
        IdentityGuard { saved: Some(saved) }
    }
}

impl Drop for IdentityGuard {
    fn drop(&mut self) {
        if let Some((uid, gid, groups)) = self.saved.take() {
            let _ = unistd::seteuid(uid);
            let _ = unistd::setegid(gid);
            let _ = unistd::setgroups(&groups);
        }
    }
}

/// The name of the user we run as (`id -u -n`).
pub fn current_user_name() -> Option<String> {
    User::from_uid(unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}
