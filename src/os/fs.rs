//! Files root writes into directories the PostgreSQL user controls.
//!
//! The agent runs as root and writes into `tmpdir`, the data directory, the
//! log and socket directories, all of which the PostgreSQL user owns. That
//! user can plant a symbolic link (or a hard link, where the kernel allows
//! it) under a name the agent is about to write, to make root write, chown
//! or chmod another file. Every such write goes through here: files are
//! opened with `O_NOFOLLOW` (a link makes the open fail), must be regular
//! files with a single link, and ownership and mode are changed on the open
//! descriptor, never by path. A directory given by the configuration may be
//! a link the administrator made (owned by root); a link owned by anyone
//! else is refused.

use std::fs::{File, OpenOptions};
use std::io::{Error, ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::OsUser;

fn checked(file: File, path: &Path) -> std::io::Result<File> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if meta.nlink() > 1 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} has {} hard links: not written (a planted link?)",
                path.display(),
                meta.nlink()
            ),
        ));
    }
    Ok(file)
}

/// Creates or truncates `path` (mode `mode` when created), without
/// following a link, and writes `content`. Returns the open file, for
/// [`chown_to`].
pub fn write_file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<File> {
    let mut f = create_file(path, mode)?;
    f.set_len(0)?;
    f.write_all(content)?;
    Ok(f)
}

/// Replaces `path` whole or not at all: written to `<path>.tmp` (as
/// [`write_file`]), then renamed over it, so that a process killed at its
/// timeout leaves the old file or the new one, never half of one.
pub fn replace_file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let done = write_file(&tmp, content, mode).and_then(|_| std::fs::rename(&tmp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// Creates `path` empty if it does not exist (an existing file is left as
/// it is), without following a link. Returns the open file.
pub fn create_file(path: &Path, mode: u32) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    checked(f, path)
}

/// The first `limit` bytes of the regular file `path`, or `None` when it
/// does not exist. Not through a link, and never blocking on a FIFO
/// planted under the name.
pub fn read_head(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => checked(f, path)?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut head = Vec::new();
    f.take(limit).read_to_end(&mut head)?;
    Ok(Some(head))
}

/// Copies the regular file `from` to `to`, a new file of mode 0600, and
/// returns whether `from` existed. Neither name is followed if it is a
/// link: `from` is in a directory the PostgreSQL user controls, and a
/// link there to a file only root may read would otherwise be copied
/// where that user can read it (a copy is handed over to that user).
pub fn copy_file(from: &Path, to: &Path) -> std::io::Result<bool> {
    let src = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(from)
    {
        Ok(f) => checked(f, from)?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(to)?;
    std::io::copy(&mut &src, &mut dst)?;
    Ok(true)
}

/// Whether `path` may be followed if it is a symbolic link: only a link
/// root owns (the administrator's) is; anyone else's is an error.
fn followable(path: &Path) -> std::io::Result<bool> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_symlink() {
        return Ok(false);
    }
    if meta.uid() != 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} is a symbolic link owned by uid {}, not by root: not followed",
                path.display(),
                meta.uid()
            ),
        ));
    }
    Ok(true)
}

/// A configuration file the administrator names (`postgresql.conf`), to
/// read and append to: a link in its place is followed only when root owns
/// it, and it must be a regular file with a single link.
pub fn open_config(path: &Path) -> std::io::Result<File> {
    let nofollow = if followable(path)? {
        0
    } else {
        libc::O_NOFOLLOW
    };
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(nofollow | libc::O_CLOEXEC)
        .open(path)?;
    checked(f, path)
}

/// A directory, to chown or chmod through its descriptor. A link in its
/// place is followed only when root owns it (the administrator's).
pub fn open_dir(path: &Path) -> std::io::Result<File> {
    followable(path)?;
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)?;
    Ok(d)
}

/// Reads at most `max` bytes from the start of `path`, a regular file root
/// only reads (the control file, WAL segments): opened read-only without
/// following a link, and without blocking on a FIFO planted at the name,
/// which is then refused as not a regular file.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// `fchown` to `owner` (user and group), when running as root.
pub fn chown_to(file: &File, owner: &OsUser) -> std::io::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    nix::unistd::fchown(file.as_raw_fd(), Some(owner.uid), Some(owner.gid)).map_err(Error::from)
}

/// `fchown` to a user only (the group unchanged), when running as root.
pub fn chown_user(file: &File, owner: &OsUser) -> std::io::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    nix::unistd::fchown(file.as_raw_fd(), Some(owner.uid), None).map_err(Error::from)
}

/// `fchmod`.
pub fn set_mode(file: &File, mode: u32) -> std::io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notes (`.<rsc>-steady-standby`, `.<rsc>-not-following`): a link
    /// planted at the name is replaced, never written through; one planted
    /// at the temporary name fails the write; a hard link keeps its data.
    #[test]
    fn replace_file_never_writes_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let note = dir.path().join(".pgsql-not-following");
        std::os::unix::fs::symlink(&victim, &note).unwrap();
        replace_file(&note, b"since=1\n", 0o644).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!std::fs::symlink_metadata(&note)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&note).unwrap(), b"since=1\n");

        std::fs::remove_file(&note).unwrap();
        std::os::unix::fs::symlink(&victim, note.with_extension("tmp")).unwrap();
        assert!(replace_file(&note, b"x", 0o644).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!note.exists());
        // The failed write removed the planted link (the link, not its target).
        assert!(std::fs::symlink_metadata(note.with_extension("tmp")).is_err());

        std::fs::hard_link(&victim, &note).unwrap();
        replace_file(&note, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&note).unwrap(), b"new");
    }

    #[test]
    fn a_planted_symbolic_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let name = dir.path().join("PGSQL.lock");
        std::os::unix::fs::symlink(&victim, &name).unwrap();
        assert!(write_file(&name, b"", 0o644).is_err());
        assert!(create_file(&name, 0o600).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn a_planted_hard_link_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let name = dir.path().join("xlog_note.1");
        std::fs::hard_link(&victim, &name).unwrap();
        assert!(write_file(&name, b"x", 0o644).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn writes_create_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        write_file(&f, b"long content", 0o600).unwrap();
        write_file(&f, b"short", 0o600).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"short");
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        create_file(&f, 0o600).unwrap();
        assert_eq!(
            std::fs::read(&f).unwrap(),
            b"short",
            "create leaves content"
        );
    }

    /// What a rewind keeps is copied from the data directory: a link (or a
    /// hard link) planted there to a file only root reads is not copied.
    #[test]
    fn a_copy_never_reads_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"root only").unwrap();
        let planted = dir.path().join("postgresql.auto.conf");
        std::os::unix::fs::symlink(&secret, &planted).unwrap();
        let to = dir.path().join("kept");
        assert!(copy_file(&planted, &to).is_err());
        assert!(!to.exists());
        std::fs::remove_file(&planted).unwrap();
        std::fs::hard_link(&secret, &planted).unwrap();
        assert!(copy_file(&planted, &to).is_err());
        assert!(!to.exists());
        std::fs::remove_file(&planted).unwrap();
        assert!(
            !copy_file(&planted, &to).unwrap(),
            "missing: nothing copied"
        );
        std::fs::write(&planted, b"port = 5432\n").unwrap();
        assert!(copy_file(&planted, &to).unwrap());
        assert_eq!(std::fs::read(&to).unwrap(), b"port = 5432\n");
        assert_eq!(std::fs::metadata(&to).unwrap().mode() & 0o777, 0o600);
        // the destination is new: a link planted there fails the copy
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let to2 = dir.path().join("kept2");
        std::os::unix::fs::symlink(&victim, &to2).unwrap();
        assert!(copy_file(&planted, &to2).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    /// postgresql.conf: a link the PostgreSQL user planted is not followed
    /// (root would append to the file it points to); root's is.
    #[test]
    fn config_links_only_from_root() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let conf = dir.path().join("postgresql.conf");
        std::os::unix::fs::symlink(&victim, &conf).unwrap();
        if nix::unistd::geteuid().is_root() {
            assert!(open_config(&conf).is_ok(), "root's link is followed");
            nix::unistd::fchownat(
                None,
                &conf,
                Some(nix::unistd::Uid::from_raw(65534)),
                None,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap();
            let e = open_config(&conf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
        std::fs::remove_file(&conf).unwrap();
        std::fs::hard_link(&victim, &conf).unwrap();
        assert!(open_config(&conf).is_err(), "a hard link is refused");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn reads_regular_files_only_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pg_control");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_regular(&f, 4).unwrap(), b"0123");
        assert_eq!(read_regular(&f, 100).unwrap(), b"0123456789");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(read_regular(&link, 4).is_err());
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            read_regular(&fifo, 4).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(read_regular(dir.path(), 4).is_err());
    }

    #[test]
    fn directory_links_only_from_root() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::create_dir(&target).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        if nix::unistd::geteuid().is_root() {
            // root's link: the administrator's, followed
            assert!(open_dir(&link).is_ok());
            // another user's: refused
            nix::unistd::fchownat(
                None,
                &link,
                Some(nix::unistd::Uid::from_raw(65534)),
                None,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .unwrap();
            let e = open_dir(&link).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
        assert!(open_dir(&target).is_ok());
    }
}
