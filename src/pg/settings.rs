//! Writing PostgreSQL settings files safely: value quoting, owner-only files,
//! and the agent's `include` lines in `postgresql.conf`.
//!
//! The reference pastes parameter values between single quotes as they are,
//! so a `'` in `restore_command` breaks the file and PostgreSQL refuses to
//! start. Here every value goes through `quote`, which produces what
//! PostgreSQL's configuration parser reads back as the original text.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::os::OsUser;

/// A postgresql.conf string literal: `'...'` with `'` doubled and `\`
/// doubled (the parser treats backslash as an escape inside quotes).
pub fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        match c {
            '\'' => s.push_str("''"),
            '\\' => s.push_str("\\\\"),
            '\n' | '\r' => s.push(' '),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// Writes `content` to `path` atomically (temporary file + rename), mode
/// 0600, owned by `owner`. The temporary file is created new, without
/// following a link: a link planted under its name in a directory `owner`
/// controls cannot redirect root's write (the rename then replaces the
/// name itself, never what a link there points to).
pub fn write_owned(path: &Path, content: impl AsRef<[u8]>, owner: &OsUser) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.pgsql-ra.{}", std::process::id()));
    let result = (|| {
        let create = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(0o600)
                .open(&tmp)
        };
        let mut f = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Left by an earlier run of the same PID, or planted.
                std::fs::remove_file(&tmp)?;
                create()?
            }
            other => other?,
        };
        f.write_all(content.as_ref())?;
        f.sync_all()?;
        // On the descriptor: the name could be replaced meanwhile.
        crate::os::fs::set_mode(&f, 0o600)?;
        crate::os::fs::chown_to(&f, owner)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates an empty file owned by `owner` if it does not exist (the
/// reference's `runasowner touch`).
pub fn touch_owned(path: &Path, owner: &OsUser) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let f = crate::os::fs::create_file(path, 0o600)?;
    crate::os::fs::chown_to(&f, owner)
}

/// The include line the reference appends for a file it manages. Exactly
/// this text, so both agents recognise each other's lines in a rolling
/// upgrade.
pub fn include_line(file: &Path) -> String {
    format!("include '{}' # added by pgsql RA", file.display())
}

/// Does the configuration text contain the include line for `file`
/// (leading white space allowed, as the reference's grep does)?
pub fn has_include(config_text: &str, file: &Path) -> bool {
    let line = include_line(file);
    config_text.lines().any(|l| l.trim_start() == line)
}

/// Appends the include line for `file` to `config` if it is not there.
/// Returns whether the file was changed.
pub fn ensure_include(config: &Path, file: &Path) -> std::io::Result<bool> {
    // One descriptor for the read and the append (os/fs.rs: never through
    // a link the PostgreSQL user planted).
    let mut f = crate::os::fs::open_config(config)?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    if has_include(&text, file) {
        return Ok(false);
    }
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    writeln!(f, "{sep}{}", include_line(file))?;
    Ok(true)
}

/// Removes every line of `config` containing the include line for `file`.
/// Returns whether the file was changed. Ownership and mode are kept.
pub fn remove_include(config: &Path, file: &Path) -> std::io::Result<bool> {
    let mut current = crate::os::fs::open_config(config)?;
    let mut text = String::new();
    current.read_to_string(&mut text)?;
    let line = include_line(file);
    if !text.contains(&line) {
        return Ok(false);
    }
    let kept: String = text
        .lines()
        .filter(|l| !l.contains(&line))
        .map(|l| format!("{l}\n"))
        .collect();
    // Owner and mode of the file read, not of whatever the name points to now.
    let meta = current.metadata()?;
    let tmp = config.with_extension("conf.pgsql-ra.tmp");
    let f = crate::os::fs::write_file(&tmp, kept.as_bytes(), 0o600)?;
    f.set_permissions(meta.permissions())?;
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let _ = nix::unistd::fchown(
            f.as_raw_fd(),
            Some(nix::unistd::Uid::from_raw(meta.uid())),
            Some(nix::unistd::Gid::from_raw(meta.gid())),
        );
    }
    drop(f);
    std::fs::rename(&tmp, config)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_the_conf_parser() {
        for v in ["cp /arch/%f %p", "it's", r"a\b", "", "x''y"] {
            let line = format!("k = {}\n", quote(v));
            assert_eq!(
                crate::pg::conf::get_in(&line, "k").as_deref(),
                Some(v),
                "{line}"
            );
        }
    }

    #[test]
    fn include_lines() {
        let f = Path::new("/var/lib/pgsql/tmp/rep_mode.conf");
        let line = include_line(f);
        assert_eq!(
            line,
            "include '/var/lib/pgsql/tmp/rep_mode.conf' # added by pgsql RA"
        );
        assert!(has_include(&format!("a=1\n  {line}\n"), f));
        assert!(!has_include("a=1\n", f));
    }

    #[test]
    fn ensure_and_remove_include() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("postgresql.conf");
        std::fs::write(&conf, "port = 5432").unwrap();
        let f = Path::new("/t/recovery.conf");
        assert!(ensure_include(&conf, f).unwrap());
        assert!(!ensure_include(&conf, f).unwrap());
        let text = std::fs::read_to_string(&conf).unwrap();
        assert_eq!(text, format!("port = 5432\n{}\n", include_line(f)));
        assert!(remove_include(&conf, f).unwrap());
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port = 5432\n");
    }
}
