//! Does a connection string name this node as `application_name`?
//!
//! PAF requires every standby's `primary_conninfo` to carry
//! `application_name=<Pacemaker node name>`: that is how the primary's
//! `pg_stat_replication` rows are matched to cluster nodes for the
//! promotion scores. PAF checks it with a regular expression built from the
//! node name (dots match anything, `application_name = srv1` with blanks is
//! refused although libpq accepts it). We parse the string as libpq does,
//! both forms (`key=value ...` and `postgresql://...?key=value`), and compare
//! the value exactly.

/// The `application_name` of a libpq connection string, if any (the last
/// one wins, as in libpq).
pub fn application_name(conninfo: &str) -> Option<String> {
    let s = conninfo.trim();
    if let Some(rest) = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
    {
        let query = rest.split_once('?')?.1;
        return query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == "application_name")
            .map(|(_, v)| percent_decode(v))
            .next_back();
    }
    keyword_values(s)
        .into_iter()
        .filter(|(k, _)| k == "application_name")
        .map(|(_, v)| v)
        .next_back()
}

/// `key = value` pairs of the keyword form; values may be single-quoted,
/// with `\'` and `\\` escapes. Stops at the first malformed pair.
fn keyword_values(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return out,
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `name = value` line of recovery.conf or postgresql.conf, with the
/// value's quotes removed (`''` is a quote); `None` for other lines.
pub fn setting_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    let (k, v) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        return None;
    }
    let v = v.trim();
    let v = match v.strip_prefix('\'') {
        Some(inner) => inner.split_once('\'').map_or(inner, |(a, _)| a).to_string(),
        // An unquoted value ends at a comment.
        None => v.split('#').next().unwrap_or("").trim().to_string(),
    };
    Some((k.to_string(), v))
}

/// The quoted value of `name = '...'` with doubled quotes and backslash
/// escapes resolved (for primary_conninfo, which holds quotes itself).
pub fn quoted_value(line: &str) -> Option<String> {
    let (_, v) = line.split_once('=')?;
    let v = v.trim();
    let Some(inner) = v.strip_prefix('\'') else {
        return Some(v.split('#').next().unwrap_or("").trim().to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\'' => return Some(out),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push('\\');
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_form() {
        assert_eq!(
            application_name("host=/tmp/vip port=5432 application_name=srv1").as_deref(),
            Some("srv1")
        );
        assert_eq!(
            application_name("user=postgres application_name='srv1' host=10.0.0.1").as_deref(),
            Some("srv1")
        );
        assert_eq!(
            application_name("application_name = srv1 host=x").as_deref(),
            Some("srv1")
        );
        assert_eq!(
            application_name("application_name='it\\'s me'").as_deref(),
            Some("it's me")
        );
        assert_eq!(application_name("host=x my_application_name=srv1"), None);
        assert_eq!(application_name(""), None);
        assert_eq!(
            application_name("application_name=srv10").as_deref(),
            Some("srv10")
        );
    }

    #[test]
    fn uri_form() {
        assert_eq!(
            application_name("postgresql://repl@10.0.0.1:5432/postgres?application_name=srv%2D1")
                .as_deref(),
            Some("srv-1")
        );
        assert_eq!(application_name("postgres://h/db"), None);
    }

    #[test]
    fn settings_lines() {
        assert_eq!(
            setting_line("standby_mode = 'on'"),
            Some(("standby_mode".into(), "on".into()))
        );
        assert_eq!(
            setting_line("  recovery_target_timeline=latest # x"),
            Some(("recovery_target_timeline".into(), "latest".into()))
        );
        assert_eq!(setting_line("# standby_mode = on"), None);
        assert_eq!(
            quoted_value("primary_conninfo = 'host=a application_name=''srv1'''").as_deref(),
            Some("host=a application_name='srv1'")
        );
    }
}
