//! Password lookup in `.pgpass`, as libpq does it for psql.
//!
//! Since resource-agents 4.18 `monitor_password` is optional because psql,
//! run as pgdba, finds the password in pgdba's `~/.pgpass` (or `PGPASSFILE`).
//! We do not run psql, so we read the file ourselves with libpq's rules:
//! `host:port:db:user:password`, `*` matches anything, `\` escapes `:` and `\`,
//! the first matching line wins, and a socket connection matches `localhost`.

use std::path::Path;

fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().unwrap().push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The password for the connection, if a line matches.
pub fn lookup_in(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f = split_fields(line);
        if f.len() != 5 {
            continue;
        }
        let m = |pat: &str, val: &str| pat == "*" || pat == val;
        if m(&f[0], host) && m(&f[1], &port) && m(&f[2], db) && m(&f[3], user) {
            return Some(f[4].clone());
        }
    }
    None
}

/// Reads the file and looks the connection up. libpq ignores a file that
/// group or others can read; so do we.
pub fn lookup(file: &Path, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    lookup_in(&std::fs::read_to_string(file).ok()?, host, port, db, user)
}

/// libpq's order for a connection's password: the one configured for the
/// agent (`monitor_password`), else `PGPASSWORD`, else the password file
/// (`PGPASSFILE`, else `~/.pgpass` of the PostgreSQL user, whose home is
/// `home`). A socket connection matches the file's `localhost`.
pub fn resolve(
    configured: Option<&str>,
    vars: &crate::ocf::env::ProcessVars,
    home: &Path,
    conn: &super::ConnParams,
) -> Option<String> {
    if let Some(p) = configured.filter(|p| !p.is_empty()) {
        return Some(p.to_string());
    }
    if let Some(p) = vars.password() {
        return Some(p.to_string());
    }
    let file = vars
        .pgpassfile
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".pgpass"));
    let host = match &conn.host {
        super::Host::Socket(_) => "localhost",
        super::Host::Tcp(h) => h,
    };
    lookup(&file, host, conn.port, &conn.dbname, &conn.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_with_wildcards() {
        let t = "# comment\nother:*:*:*:no\n*:5432:*:mon:s3cret\n*:*:*:*:fallback\n";
        assert_eq!(
            lookup_in(t, "localhost", 5432, "template1", "mon").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            lookup_in(t, "localhost", 5433, "template1", "mon").as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn escaped_colons() {
        let t = "*:*:*:u:pa\\:ss\\\\x\n";
        assert_eq!(lookup_in(t, "h", 1, "d", "u").as_deref(), Some("pa:ss\\x"));
    }

    #[test]
    fn resolution_order_is_libpqs() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join(".pgpass");
        std::fs::write(&file, "localhost:5432:postgres:mon:from-file\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let conn = super::super::ConnParams {
            host: super::super::Host::Socket("/tmp".into()),
            port: 5432,
            user: "mon".into(),
            password: None,
            dbname: "postgres".into(),
            os_user: None,
        };
        let mut vars = crate::ocf::env::ProcessVars::default();
        let got = |configured: Option<&str>, vars: &crate::ocf::env::ProcessVars| {
            resolve(configured, vars, home.path(), &conn)
        };
        assert_eq!(got(None, &vars).as_deref(), Some("from-file"));
        vars.pgpassword = Some("from-env".into());
        assert_eq!(got(None, &vars).as_deref(), Some("from-env"));
        assert_eq!(
            got(Some("configured"), &vars).as_deref(),
            Some("configured")
        );
        // Empty values count as unset, as in libpq.
        assert_eq!(got(Some(""), &vars).as_deref(), Some("from-env"));
        vars.pgpassword = Some(String::new());
        vars.pgpassfile = Some(home.path().join("none").display().to_string());
        assert_eq!(got(None, &vars), None);
    }
}
