//! What `docs/support-matrix.md` is made of: every test of `versions.rs`
//! that passes leaves one record (platform, major, personality, check, the
//! server's version, where its binaries came from, what was run), and
//! `tests/support-matrix` turns the records of a run into the page. A test
//! that fails leaves none, so the page cannot claim it.
//!
//! Records go to `$PGRA_MATRIX_DIR` (tests/run sets it and empties it before
//! the run), else to `<target>/tmp/support-matrix`.

#![allow(dead_code)]

use std::path::PathBuf;

use crate::harness::PgInstance;

/// Where the records go.
pub fn dir() -> PathBuf {
    std::env::var_os("PGRA_MATRIX_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("support-matrix"))
}

/// The machine's system as /etc/os-release names it, and its architecture
/// ("Debian GNU/Linux 12 (bookworm), x86_64").
pub fn platform() -> String {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{os}, {}", std::env::consts::ARCH)
}

/// Where the server binaries of `major` came from: `tests/pg-versions`
/// exports `PGRA_PG<major>_SOURCE`; 15 is Debian's package.
pub fn source_of(major: u32) -> String {
    if major == 15 {
        return "Debian postgresql-15".into();
    }
    std::env::var(format!("PGRA_PG{major}_SOURCE")).unwrap_or_else(|_| "unknown".into())
}

/// Where PAF's client tools came from when not from the server's build
/// (`PGRA_PG<major>_PAF_SOURCE`, 11 and 13), for `pgsqlms` records.
pub fn tools_of(major: u32, personality: &str) -> String {
    match std::env::var(format!("PGRA_PG{major}_PAF_SOURCE")) {
        Ok(tools) if personality == "pgsqlms" => tools,
        _ => String::new(),
    }
}

/// The version a running server reports ("17.11"), checked to be of `major`.
pub fn version_of(pg: &PgInstance, major: u32) -> String {
    let version = pg
        .psql("show server_version")
        .unwrap_or_else(|e| panic!("server_version: {e}"));
    // "15.18 (Debian 15.18-0+deb12u1)": the number is enough.
    let version = version.split_whitespace().next().unwrap_or("").to_string();
    assert!(
        version.starts_with(&format!("{major}.")),
        "the server says {version}, not {major}.x"
    );
    version
}

/// Records that `check` of `personality` passed on `major`, whose server
/// reported `version` ([`version_of`]).
pub fn record(major: u32, personality: &str, check: &str, version: &str, what: &str) {
    let dir = dir();
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "platform={}\nmajor={major}\npersonality={personality}\ncheck={check}\n\
         version={version}\nsource={}\ntools={}\nwhat={what}\n",
        platform(),
        source_of(major),
        tools_of(major, personality),
    );
    let name = format!("pg{major}-{personality}-{check}.rec");
    std::fs::write(dir.join(name), text).unwrap();
}
