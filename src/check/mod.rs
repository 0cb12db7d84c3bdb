//! `pgsql-ra check`: the preflight an operator runs on a node before going
//! live and after any change. The tutorials' failed first failovers mostly
//! come from a setting, a `pg_hba.conf` line, a Debian `start.conf` or a node
//! name checked by hand and missed; this checks them on the node it runs on
//! and prints, for each problem, what is wrong, why it matters and the exact
//! fix (docs/troubleshooting.md, "pgsql-ra check"). Exit 0 when clean, 1 with
//! any finding, 2 for bad usage, so automation can gate on it.
//!
//! Read-only: it writes no attribute, no file and nothing in the CIB. Facts
//! are gathered once (facts.rs), judged by a pure function (findings.rs),
//! then printed.

mod facts;
mod findings;
mod hba;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{value_parser, Arg, ArgAction, Command};

use crate::agents::pgsql::config::Config;
use crate::agents::pgsqlms;
use crate::ocf::{Deadline, OcfEnv};
pub use findings::{Finding, Personality};

/// The command line of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    resource: Option<String>,
    params: Vec<(String, String)>,
    timeout: Duration,
    personality: Personality,
}

fn command() -> Command {
    Command::new("check")
        .bin_name("pgsql-ra check")
        .about(
            "Checks, on this node, what the resource's configuration needs (settings, \
             pg_hba.conf, files, node names) and prints each problem with why it matters and \
             its fix. Exit 0 when clean, 1 with any finding, 2 for bad usage. Writes nothing.",
        )
        .after_help(
            "The parameters are the resource's OCF_RESKEY_* variables and --param.\n\
             Example:\n  pgsql-ra check --param rep_mode=sync --param node_list=\"node1 node2\" \
             --param master_ip=192.168.0.100 --param pgdata=/var/lib/pgsql/data",
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("resource")
                .long("resource")
                .value_name("NAME")
                .help("The resource to check (its parameters come from the environment and --param for now)"),
        )
        .arg(
            Arg::new("param")
                .long("param")
                .short('p')
                .value_name("KEY=VALUE")
                .action(ArgAction::Append)
                .help("A resource parameter (OCF_RESKEY_KEY=VALUE; wins over the environment)"),
        )
        .arg(
            Arg::new("agent")
                .long("agent")
                .value_name("AGENT")
                .value_parser(["pgsql", "pgsqlms"])
                .default_value("pgsql")
                .help("The personality whose parameters are checked"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("SECS")
                .value_parser(value_parser!(u64).range(1..=3600))
                .default_value("30")
                .help("Bound of the whole check, in seconds"),
        )
}

fn parse_args(args: Vec<OsString>) -> Result<Options, clap::Error> {
    let m = command().try_get_matches_from(args)?;
    let mut params = Vec::new();
    for p in m.get_many::<String>("param").into_iter().flatten() {
        match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => params.push((k.to_string(), v.to_string())),
            _ => {
                return Err(command().error(
                    clap::error::ErrorKind::InvalidValue,
                    format!("--param takes KEY=VALUE, got '{p}'"),
                ))
            }
        }
    }
    Ok(Options {
        resource: m.get_one::<String>("resource").cloned(),
        params,
        timeout: Duration::from_secs(*m.get_one::<u64>("timeout").unwrap_or(&30)),
        personality: match m.get_one::<String>("agent").map(String::as_str) {
            Some("pgsqlms") => Personality::Pgsqlms,
            _ => Personality::Pgsql,
        },
    })
}

/// The resource's parameters: the process's `OCF_RESKEY_*` variables with
/// `--param` on top. The seam for reading them from the CIB (by
/// `--resource`, or when no `OCF_RESKEY_*` variable is given).
fn resource_env(_resource: Option<&str>, params: &[(String, String)]) -> OcfEnv {
    OcfEnv::from_process(params)
}

/// The pgsqlms parameters in the pgsql personality's terms, which the
/// facts and findings are written in: `datadir` is the data directory,
/// `system_user` pgdba, `pghost` the socket directory or host, the
/// binaries from `bindir`; a standby streams, so replication settings
/// count (`rep_mode=async`, without `node_list` and `master_ip`, which PAF
/// has not). Values pgsqlms would refuse are findings.
fn from_pgsqlms(env: &OcfEnv) -> (Config, Vec<String>) {
    let paf = pgsqlms::config::Config::from_env(env);
    let mut problems = Vec::new();
    if paf.pgport.is_none() {
        problems.push(format!("pgport '{}' is not a port number", paf.pgport_text));
    }
    if paf.rejoin.is_none() {
        problems.push(format!(
            "rejoin '{}' is not off, safe or rewind",
            paf.rejoin_text
        ));
    }
    let path = |p: &std::path::Path| p.display().to_string();
    let pairs: Vec<(String, String)> = [
        ("pgdata", path(&paf.datadir)),
        ("config", path(&paf.pgdata.join("postgresql.conf"))),
        ("pgdba", paf.system_user.clone()),
        ("pgport", paf.port().to_string()),
        ("pghost", paf.pghost.clone()),
        ("pgctl", path(&paf.bin("pg_ctl"))),
        ("psql", path(&paf.bin("psql"))),
        ("rep_mode", "async".to_string()),
        // An invalid value is a problem above already: the default here.
        (
            "rejoin",
            if paf.rejoin.is_some() {
                paf.rejoin_text.clone()
            } else {
                String::new()
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut mapped = OcfEnv::from_vars(Vec::new(), &pairs);
    mapped.process = env.process.clone();
    let (cfg, more) = Config::from_env_lenient(&mapped);
    problems.extend(more.into_iter().map(|f| f.reason));
    (cfg, problems)
}

/// The findings, as lines: `FAIL id: what`, then `why:` and `fix:`.
fn render(found: &[Finding]) -> String {
    let mut s = String::new();
    for f in found {
        s.push_str(&format!(
            "FAIL {}: {}\n  why: {}\n  fix: {}\n",
            f.id, f.what, f.why, f.fix
        ));
    }
    if found.is_empty() {
        s.push_str("OK: no finding\n");
    } else {
        s.push_str(&format!("{} finding(s)\n", found.len()));
    }
    s
}

/// `pgsql-ra check ARGS...` (`args` is the whole argv).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let opts = match parse_args(args.into_iter().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let env = resource_env(opts.resource.as_deref(), &opts.params);
    let (cfg, problems) = match opts.personality {
        Personality::Pgsql => {
            let (cfg, problems) = Config::from_env_lenient(&env);
            (cfg, problems.into_iter().map(|f| f.reason).collect())
        }
        Personality::Pgsqlms => from_pgsqlms(&env),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("check: {e}");
            return ExitCode::from(2);
        }
    };
    let deadline = Deadline::from_timeout(opts.timeout);
    let facts = rt.block_on(facts::gather(&cfg, &env, deadline));
    // A name lookup stuck past the deadline must not hold the exit.
    rt.shutdown_background();
    let found = findings::findings(&facts, &cfg, opts.personality, &problems);
    let _ = std::io::stdout()
        .lock()
        .write_all(render(&found).as_bytes());
    ExitCode::from(if found.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_line() {
        let o = parse_args(args(&[
            "check",
            "--param",
            "rep_mode=sync",
            "-p",
            "x=a=b",
            "--timeout",
            "5",
            "--resource",
            "pg",
        ]))
        .unwrap();
        assert_eq!(o.resource.as_deref(), Some("pg"));
        assert_eq!(
            o.params,
            vec![
                ("rep_mode".into(), "sync".into()),
                ("x".into(), "a=b".into())
            ]
        );
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert!(parse_args(args(&["check", "--param", "novalue"])).is_err());
        assert!(parse_args(args(&["check", "--agent", "other"])).is_err());
        assert_eq!(o.personality, Personality::Pgsql);
        let o = parse_args(args(&["check", "--agent", "pgsqlms"])).unwrap();
        assert_eq!(o.personality, Personality::Pgsqlms);
        assert!(parse_args(args(&["check", "--timeout", "0"])).is_err());
    }

    #[test]
    fn rendering() {
        assert_eq!(render(&[]), "OK: no finding\n");
        let f = Finding {
            id: "wal-level",
            what: "w".into(),
            why: "y".into(),
            fix: "f".into(),
        };
        assert_eq!(
            render(&[f]),
            "FAIL wal-level: w\n  why: y\n  fix: f\n1 finding(s)\n"
        );
    }
}
