//! Reading settings from `postgresql.conf` (and `recovery.conf`, which the
//! same parser reads) the way the server does.
//!
//! The reference agent greps the file with a perl one-liner; that misreads
//! quoted values with `#` in them and reports every occurrence. The server
//! uses the last assignment, strips comments outside quotes and un-doubles
//! `''`, and so do we. `include` directives are not followed (neither does the
//! reference).

use std::path::Path;

/// One `name = value` line, if the line is an assignment.
fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    if name_end == 0 {
        return None;
    }
    let name = line[..name_end].to_ascii_lowercase();
    let mut rest = line[name_end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    } else if name_end == line.len() {
        return None;
    }
    let value = if let Some(quoted) = rest.strip_prefix('\'') {
        let mut v = String::new();
        let mut chars = quoted.chars().peekable();
        loop {
            match chars.next() {
                None => break,
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    v.push('\'');
                }
                Some('\'') => break,
                Some('\\') => {
                    if let Some(c) = chars.next() {
                        v.push(c);
                    }
                }
                Some(c) => v.push(c),
            }
        }
        v
    } else {
        rest.split('#').next().unwrap_or("").trim().to_string()
    };
    Some((name, value))
}

/// Every assignment of the file's text, in order: names lower-cased (the
/// server's names are case-insensitive), values unquoted.
pub fn assignments(text: &str) -> impl DoubleEndedIterator<Item = (String, String)> + '_ {
    text.lines().filter_map(parse_line)
}

/// The effective value of `name` in the file's text (last assignment wins).
pub fn get_in(text: &str, name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    assignments(text)
        .rev()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// `get_in` on a file; `None` when the file cannot be read or the setting is
/// absent.
pub fn get(path: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    get_in(&text, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_assignment_wins_and_comments_go() {
        let t = "port = 5432\n#port = 1\nport=5433 # the real one\n";
        assert_eq!(get_in(t, "port").as_deref(), Some("5433"));
    }

    #[test]
    fn quoted_values_keep_hashes_and_unescape() {
        let t = "unix_socket_directories = '/tmp/a#b, /run/x' # c\nx = 'it''s'\n";
        assert_eq!(
            get_in(t, "unix_socket_directories").as_deref(),
            Some("/tmp/a#b, /run/x")
        );
        assert_eq!(get_in(t, "x").as_deref(), Some("it's"));
    }

    #[test]
    fn commented_out_is_absent() {
        assert_eq!(
            get_in("#stats_temp_directory = 'x'\n", "stats_temp_directory"),
            None
        );
    }

    #[test]
    fn empty_quoted_value_is_empty() {
        assert_eq!(
            get_in("unix_socket_directories = ''\n", "unix_socket_directories").as_deref(),
            Some("")
        );
    }

    #[test]
    fn names_are_case_insensitive_and_space_separated() {
        assert_eq!(get_in("Port 6000\n", "port").as_deref(), Some("6000"));
    }
}
