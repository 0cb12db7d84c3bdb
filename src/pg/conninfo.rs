//! libpq connection strings: the one parser and the one quoting rule.
//!
//! Both personalities read connection strings written by people: the
//! original upfront agent's `primary` parameter (split into the pgsql
//! parameters), PAF's `primary_conninfo` (which must name this node as
//! `application_name`). libpq accepts two forms, `key = value ...` (values
//! bare or single-quoted, `\` escaping the next character) and
//! `postgresql://...?key=value`; so does this module. A regular expression
//! (PAF's way) misreads `application_name = srv1` and matches `srv10` for
//! `srv1`.

/// Keyword pairs of the `key = value` form, in order.
pub type Pairs = Vec<(String, String)>;

/// A connection URI (`postgresql://` or `postgres://`)?
pub fn is_uri(s: &str) -> bool {
    let s = s.trim_start();
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// Parses the keyword form. The pairs read before the first malformed one
/// come back with the error, so a caller that only looks for one keyword can
/// stay as lenient as libpq's own users expect, and a caller that maps every
/// keyword can refuse the string.
pub fn parse_keywords(s: &str) -> Result<Pairs, (Pairs, String)> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    let skip_blanks = |it: &mut std::iter::Peekable<std::str::Chars>| {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
    };
    loop {
        skip_blanks(&mut it);
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = it.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            it.next();
        }
        skip_blanks(&mut it);
        if it.next() != Some('=') {
            return Err((out, format!("missing \"=\" after \"{key}\"")));
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((out, format!("\"{key}\" is not a connection keyword")));
        }
        skip_blanks(&mut it);
        let mut value = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            let mut closed = false;
            while let Some(c) = it.next() {
                match c {
                    '\\' => match it.next() {
                        Some(n) => value.push(n),
                        None => break,
                    },
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err((out, format!("unterminated quoted value of \"{key}\"")));
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                it.next();
                if c == '\\' {
                    if let Some(n) = it.next() {
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

/// The `key=value` parameters of a URI's query string, percent-decoded.
fn uri_parameters(uri: &str) -> Pairs {
    let Some((_, query)) = uri.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

/// The `application_name` of a connection string in either form, if any
/// (the last one wins, as in libpq).
pub fn application_name(conninfo: &str) -> Option<String> {
    let pairs = if is_uri(conninfo) {
        uri_parameters(conninfo.trim())
    } else {
        parse_keywords(conninfo).unwrap_or_else(|(read, _)| read)
    };
    pairs
        .into_iter()
        .filter(|(k, _)| k == "application_name")
        .map(|(_, v)| v)
        .next_back()
}

/// Adds `conninfo` to `cmd`'s argv as `prefix` + the string without its
/// `password`, and the password as `PGPASSWORD` (libpq's order is the same:
/// either comes before the password file). Every user can read a process's
/// argv (ps); only its owner and root can read its environment. A URI, or a
/// string that does not parse, goes in as it is.
pub fn arg_without_password(cmd: crate::os::Cmd, prefix: &str, conninfo: &str) -> crate::os::Cmd {
    let (rest, password) = split_password(conninfo);
    let cmd = cmd.arg(format!("{prefix}{rest}"));
    match password {
        Some(p) => cmd.env("PGPASSWORD", p),
        None => cmd,
    }
}

/// The keyword form without `password`, and the (last) password.
fn split_password(conninfo: &str) -> (String, Option<String>) {
    if is_uri(conninfo) {
        return (conninfo.to_string(), None);
    }
    let Ok(pairs) = parse_keywords(conninfo) else {
        return (conninfo.to_string(), None);
    };
    let password = pairs
        .iter()
        .filter(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .next_back();
    if password.is_none() {
        return (conninfo.to_string(), None);
    }
    let rest = pairs
        .iter()
        .filter(|(k, _)| k != "password")
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(" ");
    (rest, password)
}

/// `conninfo` with `key=value` appended, in the string's own form.
pub fn with_parameter(conninfo: &str, key: &str, value: &str) -> String {
    let c = conninfo.trim();
    if is_uri(c) {
        let sep = if c.contains('?') { '&' } else { '?' };
        format!("{c}{sep}{key}={value}")
    } else if c.is_empty() {
        format!("{key}={}", quote(value))
    } else {
        format!("{c} {key}={}", quote(value))
    }
}

/// A value for the keyword form: bare when it is a simple word, else
/// single-quoted with `\'` and `\\`.
pub fn quote(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\' || c == '=')
    {
        return value.to_string();
    }
    let mut s = String::from("'");
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_argv() {
        let (rest, pw) =
            split_password("host=10.0.0.1 user=repuser password='a b\\'c' sslmode=require");
        assert_eq!(rest, "host=10.0.0.1 user=repuser sslmode=require");
        assert_eq!(pw.as_deref(), Some("a b'c"));
        let (rest, pw) = split_password("host=h user=u");
        assert_eq!((rest.as_str(), pw), ("host=h user=u", None));
        // A URI is left as it is (its password, if any, is the admin's choice).
        let uri = "postgresql://u:p@h/db";
        assert_eq!(split_password(uri), (uri.to_string(), None));
    }

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
        // What was read before a malformed pair still counts.
        assert_eq!(
            application_name("application_name=a host='x").as_deref(),
            Some("a")
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
    fn strict_parse() {
        assert_eq!(
            parse_keywords(" a=1  b = '2 3' c=\\'x ").unwrap(),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2 3".to_string()),
                ("c".to_string(), "'x".to_string()),
            ]
        );
        assert_eq!(parse_keywords("").unwrap(), vec![]);
        assert!(parse_keywords("a=1 =2").is_err());
        assert!(parse_keywords("a 1").is_err());
        assert!(parse_keywords("a='1").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        assert_eq!(quote("10.0.0.1"), "10.0.0.1");
        assert_eq!(quote("my user"), "'my user'");
        assert_eq!(quote("o'k"), r"'o\'k'");
        assert_eq!(quote(""), "''");
        for v in ["plain", "with space", "o'k", "back\\slash", "a=b", ""] {
            let s = format!("k={}", quote(v));
            assert_eq!(parse_keywords(&s).unwrap(), vec![("k".into(), v.into())]);
        }
    }

    #[test]
    fn parameters_are_appended_in_the_strings_form() {
        assert_eq!(
            with_parameter("host=/tmp application_name=srv1", "replication", "true"),
            "host=/tmp application_name=srv1 replication=true"
        );
        assert_eq!(
            with_parameter(
                "postgresql://h/db?application_name=a",
                "replication",
                "true"
            ),
            "postgresql://h/db?application_name=a&replication=true"
        );
        assert_eq!(
            with_parameter("postgres://h", "replication", "true"),
            "postgres://h?replication=true"
        );
    }
}
