//! The documentation keeps up with the code.
//!
//! Every exit reason the agent can print must be explained in
//! `docs/troubleshooting.md`. An exit reason is born in one of two places,
//! and that is the convention this test relies on:
//!
//! - the text given to a `Failure` constructor (`Failure::generic("...")`,
//!   `Failure::configured(format!("...", ..))`, `Failure::new(rc, ...)`...);
//! - the `#[error("...")]` message of an error type, for the errors that are
//!   wrapped into a reason (`Failure::generic(e.to_string())`, or `{e}` inside
//!   another reason).
//!
//! The test reads every such string literal under `src/` (test modules
//! excluded), turns each `{...}` placeholder into a wildcard, and requires a
//! line of troubleshooting.md that contains the literal parts in order. A
//! `Failure` constructor whose text is neither a literal, `format!` of a
//! literal, nor `<error>.to_string()` fails the test as well: its reason
//! could not be checked, so write it as a literal.
//!
//! The relative links of the README and of `docs/*.md` must also lead to
//! files that exist.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A Rust token, as much as this test needs: string literals decoded,
/// everything else as identifiers and single punctuation characters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char),
    Str(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Decodes the body of a (non-raw) Rust string literal.
fn unescape(body: &str) -> String {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('\n') => {
                // Line continuation: the newline and the next line's
                // leading whitespace are not part of the string.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                if let Ok(b) = u8::from_str_radix(&hex, 16) {
                    out.push(b as char);
                }
            }
            Some('u') => {
                let mut hex = String::new();
                for c in chars.by_ref() {
                    match c {
                        '{' => {}
                        '}' => break,
                        c => hex.push(c),
                    }
                }
                if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(c);
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits Rust source into tokens, skipping comments. Good enough for the
/// code of this crate: strings (plain, raw, byte), chars and lifetimes,
/// line and block comments.
fn tokenize(src: &str) -> Vec<Token> {
    let b: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let count_lines = |s: &[char]| s.iter().filter(|c| **c == '\n').count();
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            let start = i;
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(&b[start..i]);
        } else if c == '"' || (c == 'b' && b.get(i + 1) == Some(&'"')) {
            let start_line = line;
            let open = if c == 'b' { i + 2 } else { i + 1 };
            let mut j = open;
            while j < b.len() && b[j] != '"' {
                if b[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let body: String = b[open..j.min(b.len())].iter().collect();
            line += count_lines(&b[i..j.min(b.len())]);
            toks.push(Token {
                tok: Tok::Str(unescape(&body)),
                line: start_line,
            });
            i = j + 1;
        } else if (c == 'r' && matches!(b.get(i + 1), Some('"') | Some('#')))
            || (c == 'b'
                && b.get(i + 1) == Some(&'r')
                && matches!(b.get(i + 2), Some('"') | Some('#')))
        {
            // Raw string: r"..", r#".."#, br"..".
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                // `r#ident` (a raw identifier): treat as an identifier.
                toks.push(Token {
                    tok: Tok::Ident(String::from(c)),
                    line,
                });
                i += 1;
                continue;
            }
            let open = j + 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = b[open..].iter().collect();
            let len = rest.find(&close).unwrap_or(rest.len());
            let body: String = rest.chars().take(len).collect();
            let start_line = line;
            line += body.matches('\n').count();
            toks.push(Token {
                tok: Tok::Str(body.clone()),
                line: start_line,
            });
            i = open + body.chars().count() + close.chars().count();
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if b.get(i + 1) == Some(&'\\') {
                let mut j = i + 3;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Punct('\''),
                line,
            });
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            toks.push(Token {
                tok: Tok::Ident(b[start..i].iter().collect()),
                line,
            });
        } else {
            toks.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    toks
}

fn is_punct(t: Option<&Token>, c: char) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

fn is_ident(t: Option<&Token>, s: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Ident(i), .. }) if i == s)
}

/// Index just past the bracket that closes the one opened at `open`.
fn matching_close(toks: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(') | Tok::Punct('[') | Tok::Punct('{') => depth += 1,
            Tok::Punct(')') | Tok::Punct(']') | Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Drops `#[cfg(test)] mod ... { ... }` blocks.
fn without_test_modules(toks: Vec<Token>) -> Vec<Token> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let cfg_test = is_punct(toks.get(i), '#')
            && is_punct(toks.get(i + 1), '[')
            && is_ident(toks.get(i + 2), "cfg")
            && is_punct(toks.get(i + 3), '(')
            && is_ident(toks.get(i + 4), "test")
            && is_punct(toks.get(i + 5), ')')
            && is_punct(toks.get(i + 6), ']');
        if cfg_test {
            let mut j = i + 7;
            if is_ident(toks.get(j), "pub") {
                j += 1;
            }
            if is_ident(toks.get(j), "mod") {
                // mod name { ... }
                let mut k = j + 1;
                while k < toks.len() && !is_punct(toks.get(k), '{') && !is_punct(toks.get(k), ';') {
                    k += 1;
                }
                i = if is_punct(toks.get(k), '{') {
                    matching_close(&toks, k)
                } else {
                    k + 1
                };
                continue;
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// Where an exit-reason text comes from.
#[derive(Debug, Clone)]
struct Reason {
    /// The format string, as written (placeholders included).
    template: String,
    at: String,
}

const CONSTRUCTORS: &[&str] = &[
    "new",
    "generic",
    "configured",
    "installed",
    "perm",
    "unimplemented",
    "not_running",
];

/// The exit-reason templates of one file, and the constructor calls whose
/// text could not be read.
fn reasons_in(file: &str, src: &str) -> (Vec<Reason>, Vec<String>) {
    let toks = without_test_modules(tokenize(src));
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    let at = |t: &Token| format!("{file}:{}", t.line);
    let mut i = 0;
    while i < toks.len() {
        // Failure::<ctor>( ... )
        let ctor = match toks.get(i + 3) {
            Some(Token {
                tok: Tok::Ident(name),
                ..
            }) if CONSTRUCTORS.contains(&name.as_str()) => Some(name.clone()),
            _ => None,
        };
        if is_ident(toks.get(i), "Failure")
            && is_punct(toks.get(i + 1), ':')
            && is_punct(toks.get(i + 2), ':')
            && ctor.is_some()
            && is_punct(toks.get(i + 4), '(')
        {
            let open = i + 4;
            let end = matching_close(&toks, open) - 1; // the closing ')'
            let mut a = open + 1;
            if ctor.as_deref() == Some("new") {
                // Skip the code argument.
                let mut depth = 0i32;
                while a < end {
                    match toks[a].tok {
                        Tok::Punct('(') | Tok::Punct('[') | Tok::Punct('{') => depth += 1,
                        Tok::Punct(')') | Tok::Punct(']') | Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => break,
                        _ => {}
                    }
                    a += 1;
                }
                a += 1;
            }
            let arg = &toks[a.min(end)..end];
            let literal = match arg {
                [Token {
                    tok: Tok::Str(s), ..
                }, ..] => Some(s.clone()),
                [Token {
                    tok: Tok::Ident(f), ..
                }, Token {
                    tok: Tok::Punct('!'),
                    ..
                }, Token {
                    tok: Tok::Punct('('),
                    ..
                }, Token {
                    tok: Tok::Str(s), ..
                }, ..]
                    if f == "format" =>
                {
                    Some(s.clone())
                }
                _ => None,
            };
            let passthrough = arg.len() >= 5
                && is_ident(arg.get(arg.len() - 3), "to_string")
                && is_punct(arg.get(arg.len() - 4), '.')
                && arg[..arg.len() - 4]
                    .iter()
                    .all(|t| matches!(t.tok, Tok::Ident(_) | Tok::Punct('.')));
            match literal {
                Some(template) => found.push(Reason {
                    template,
                    at: at(&toks[i]),
                }),
                None if passthrough => {}
                None => unreadable.push(at(&toks[i])),
            }
            i = open + 1;
            continue;
        }
        // #[error("...")]
        if is_punct(toks.get(i), '#')
            && is_punct(toks.get(i + 1), '[')
            && is_ident(toks.get(i + 2), "error")
            && is_punct(toks.get(i + 3), '(')
        {
            if let Some(Token {
                tok: Tok::Str(s), ..
            }) = toks.get(i + 4)
            {
                found.push(Reason {
                    template: s.clone(),
                    at: at(&toks[i]),
                });
            }
            i += 4;
            continue;
        }
        i += 1;
    }
    (found, unreadable)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every exit-reason template under src/, and the unreadable constructors.
fn all_reasons() -> (Vec<Reason>, Vec<String>) {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut reasons = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root()).unwrap().display().to_string();
        let src = std::fs::read_to_string(&f).unwrap();
        let (r, u) = reasons_in(&rel, &src);
        reasons.extend(r);
        unreadable.extend(u);
    }
    (reasons, unreadable)
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The literal parts of a format string, in order (`{{`/`}}` are literal
/// braces; any other `{...}` is a placeholder). Whitespace is squeezed and
/// parts without a letter are dropped: they say nothing.
fn literal_parts(template: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                cur.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                cur.push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                parts.push(std::mem::take(&mut cur));
            }
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| {
            // Keep a single blank at either end: "{} can't create files in {}"
            // must not match "can't create files in" inside another word.
            let lead = p.starts_with(char::is_whitespace);
            let trail = p.ends_with(char::is_whitespace);
            let mut s = squeeze(&p);
            if lead && !s.is_empty() {
                s.insert(0, ' ');
            }
            if trail && !s.is_empty() {
                s.push(' ');
            }
            s
        })
        .filter(|p| p.chars().any(char::is_alphabetic))
        .collect()
}

/// A documentation line as the matcher sees it: Markdown table escapes
/// undone, whitespace squeezed.
fn doc_lines(doc: &str) -> Vec<String> {
    doc.lines()
        .map(|l| squeeze(&l.replace("\\|", "|")))
        .collect()
}

/// Does one line contain every part, in order?
fn line_matches(line: &str, parts: &[String]) -> bool {
    let mut rest = line;
    for p in parts {
        match rest.find(p.as_str()) {
            Some(k) => rest = &rest[k + p.len()..],
            None => return false,
        }
    }
    true
}

/// The templates no line of `doc` explains.
fn missing_from(doc: &str, reasons: &[Reason]) -> Vec<String> {
    let lines = doc_lines(doc);
    reasons
        .iter()
        .filter(|r| {
            let parts = literal_parts(&r.template);
            !parts.is_empty() && !lines.iter().any(|l| line_matches(l, &parts))
        })
        .map(|r| format!("{}: {:?}", r.at, r.template))
        .collect()
}

fn troubleshooting() -> String {
    std::fs::read_to_string(root().join("docs/troubleshooting.md"))
        .expect("docs/troubleshooting.md")
}

#[test]
fn docs_troubleshooting_explains_every_exit_reason() {
    let (reasons, unreadable) = all_reasons();
    assert!(
        unreadable.is_empty(),
        "Failure constructors whose reason is not a literal, format!(\"...\") or \
         <error>.to_string(), so it cannot be checked against docs/troubleshooting.md:\n{}",
        unreadable.join("\n")
    );
    // The extractor itself must keep working: the agent has dozens of reasons.
    assert!(
        reasons.len() >= 40,
        "only {} exit reasons found under src/: the extractor no longer recognises \
         the Failure constructors",
        reasons.len()
    );
    let missing = missing_from(&troubleshooting(), &reasons);
    assert!(
        missing.is_empty(),
        "exit reasons not explained in docs/troubleshooting.md (write the text on one \
         line, with <placeholders> where the code has {{}}):\n{}",
        missing.join("\n")
    );
}

/// The check above is real: take away the line that explains a reason and
/// it is reported.
#[test]
fn docs_check_reports_a_missing_reason() {
    let (reasons, _) = all_reasons();
    let doc = troubleshooting();
    let victim = reasons
        .iter()
        .find(|r| r.template.starts_with("My data may be inconsistent"))
        .expect("the PGSQL.lock reason");
    let parts = literal_parts(&victim.template);
    let cut: String = doc
        .lines()
        .filter(|l| !line_matches(&squeeze(&l.replace("\\|", "|")), &parts))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(cut, doc, "the reason was not documented to begin with");
    let missing = missing_from(&cut, &reasons);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].contains("PGSQL.lock") || missing[0].contains("My data may be"));
}

#[test]
fn docs_extractor_reads_the_conventions() {
    let src = r##"
        fn a() -> Failure { Failure::generic("plain {{braces}}") }
        fn b(x: u32) -> Failure {
            Failure::configured(format!(
                "Invalid {name}: '{x}' is not \
                 a number",
            ))
        }
        fn c(e: E) -> Failure { Failure::new(OcfRc::ErrPerm, "code first") }
        fn d(e: E) -> Failure { Failure::generic(e.to_string()) }
        fn e(s: String) -> Failure { Failure::generic(s) }
        #[derive(thiserror::Error)]
        enum E { #[error("cannot run {program}: {source}")] Spawn, #[error(transparent)] T }
        #[cfg(test)]
        mod tests { fn t() { Failure::generic("only in a test"); } }
    "##;
    let (r, u) = reasons_in("x.rs", src);
    let t: Vec<&str> = r.iter().map(|r| r.template.as_str()).collect();
    assert_eq!(
        t,
        [
            "plain {{braces}}",
            "Invalid {name}: '{x}' is not a number",
            "code first",
            "cannot run {program}: {source}",
        ]
    );
    assert_eq!(u, ["x.rs:11"], "Failure::generic(s) is unreadable");
    assert_eq!(
        literal_parts("{} can't create files in {}"),
        [" can't create files in "]
    );
    assert_eq!(literal_parts("plain {{braces}}"), ["plain {braces}"]);
    assert!(line_matches(
        "`<pgdba> can't create files in <socketdir>`",
        &literal_parts("{} can't create files in {}")
    ));
    assert!(!line_matches(
        "pgdba can't create files",
        &literal_parts("{} can't create files in {}")
    ));
}

/// GitHub's anchor for a heading: lower case, punctuation dropped except
/// `-` and `_`, blanks made `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown page (headings outside fenced code blocks; a
/// repeated heading also gets `-1`, `-2`...).
fn anchors(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let s = slug(line.trim_start_matches('#'));
        let n = out.iter().filter(|a| **a == s).count();
        out.push(s.clone());
        if n > 0 {
            out.push(format!("{s}-{n}"));
        }
    }
    out
}

/// Relative links in the README and docs/*.md lead to files that exist, and
/// their `#anchors` to headings of those files.
#[test]
fn docs_relative_links_resolve() {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut broken = Vec::new();
    let mut links = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let mut rest = text.as_str();
        while let Some(k) = rest.find("](") {
            rest = &rest[k + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            links += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let shown = format!("{}: {target}", page.strip_prefix(root()).unwrap().display());
            if !path.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(a) = anchor {
                let ok = path.extension().is_some_and(|e| e == "md")
                    && anchors(&std::fs::read_to_string(&path).unwrap())
                        .iter()
                        .any(|h| h == a);
                if !ok {
                    broken.push(format!("{shown} (no such heading)"));
                }
            }
        }
    }
    assert!(
        links > 20,
        "only {links} links found: the link scanner is broken"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert_eq!(slug("Reading `crm_mon -Afr`"), "reading-crm_mon--afr");
    assert_eq!(
        slug("From `ocf:heartbeat:pgsqlms` (PAF)"),
        "from-ocfheartbeatpgsqlms-paf"
    );
}
