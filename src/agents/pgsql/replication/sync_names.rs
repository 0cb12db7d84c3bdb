//! `rep_mode.conf`: the one line that sets `synchronous_standby_names`.
//!
//! In sync mode the primary names its synchronous standby in
//! `<tmpdir>/rep_mode.conf`, included at the end of postgresql.conf, and
//! reloads. The file's syntax is shared with the reference agent (a rolling
//! upgrade may hand the primary role from one agent to the other), so it is
//! written exactly as the reference writes it.

/// The standby names in a `synchronous_standby_names` value: `"a"`,
/// `FIRST 2 ("a", "b")`, `a, b`, or empty.
pub fn parse_names(value: &str) -> Vec<String> {
    let v = value.trim();
    let inner = match (v.find('('), v.rfind(')')) {
        (Some(open), Some(close)) if open < close => &v[open + 1..close],
        _ => v,
    };
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|n| n.trim_matches('"'))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `synchronous_standby_names` value for `names`, in the reference's
/// spelling: nothing, one quoted name, or `FIRST n (...)`.
pub fn render_value(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("\"{one}\""),
        many => format!(
            "FIRST {} ({})",
            many.len(),
            many.iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The whole file.
pub fn render_file(names: &[String]) -> String {
    format!(
        "synchronous_standby_names = {}\n",
        crate::pg::settings::quote(&render_value(names))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_spellings() {
        assert_eq!(render_file(&[]), "synchronous_standby_names = ''\n");
        assert_eq!(
            render_file(&["node2".into()]),
            "synchronous_standby_names = '\"node2\"'\n"
        );
        assert_eq!(
            render_file(&["a".into(), "b".into()]),
            "synchronous_standby_names = 'FIRST 2 (\"a\", \"b\")'\n"
        );
    }

    #[test]
    fn parse_round_trip() {
        for names in [
            vec![],
            vec!["n1".to_string()],
            vec!["a".into(), "b".into(), "c".into()],
        ] {
            assert_eq!(parse_names(&render_value(&names)), names);
        }
        assert_eq!(parse_names("a, b"), vec!["a", "b"]);
        assert_eq!(parse_names("ANY 1 (x, \"y\")"), vec!["x", "y"]);
    }
}
