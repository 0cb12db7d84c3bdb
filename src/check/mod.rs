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

use clap::{value_parser, Arg, Command};

use crate::agents::pgsql::config::Config;
use crate::agents::pgsqlms;
use crate::inspect::cib::{Cib, Primitive};
use crate::ocf::{Deadline, OcfEnv};
pub use findings::{Finding, Personality};

/// The command line of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    resource: Option<String>,
    params: Vec<(String, String)>,
    timeout: Duration,
    /// `None`: from the CIB resource's type, else pgsql.
    personality: Option<Personality>,
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
            "The parameters come from the CIB (the resource named by --resource, or the only \
             PostgreSQL one); without a CIB resource, from OCF_RESKEY_* variables. --param wins.\n\
             Example:\n  pgsql-ra check --param rep_mode=sync --param node_list=\"node1 node2\" \
             --param master_ip=192.168.0.100 --param pgdata=/var/lib/pgsql/data",
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("resource")
                .long("resource")
                .value_name("NAME")
                .help("The resource whose parameters (from the CIB) are checked; by default the only pgsql or pgsqlms resource of the CIB when no OCF_RESKEY_* variable is set"),
        )
        .arg(crate::cli::param_arg())
        .arg(
            Arg::new("agent")
                .long("agent")
                .value_name("AGENT")
                .value_parser(["pgsql", "pgsqlms"])
                .help("The personality whose parameters are checked (default: the CIB resource's type, else pgsql)"),
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
    let params = crate::cli::params_of(&m)
        .map_err(|e| command().error(clap::error::ErrorKind::InvalidValue, e))?;
    Ok(Options {
        resource: m.get_one::<String>("resource").cloned(),
        params,
        timeout: Duration::from_secs(*m.get_one::<u64>("timeout").unwrap_or(&30)),
        personality: m.get_one::<String>("agent").map(|a| match a.as_str() {
            "pgsqlms" => Personality::Pgsqlms,
            _ => Personality::Pgsql,
        }),
    })
}

/// Where the parameters came from.
enum Source {
    Cib(Box<Primitive>, Cib),
    Environment,
}

/// The resource's parameters: the CIB resource's (inspect/), when
/// `--resource` names one or no `OCF_RESKEY_*` variable is set and the CIB
/// has one PostgreSQL resource; else the process's `OCF_RESKEY_*`
/// variables. `--param` wins either way. `Err`: `--resource` was given and
/// the CIB could not say.
fn resource_env(
    resource: Option<&str>,
    params: &[(String, String)],
    deadline: Deadline,
    rt: &tokio::runtime::Runtime,
) -> Result<(OcfEnv, Source), String> {
    let process = OcfEnv::from_process(params);
    let by_hand = std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("OCF_RESKEY_"));
    if resource.is_none() && by_hand {
        return Ok((process, Source::Environment));
    }
    let pm =
        crate::cluster::Pacemaker::for_reading(&process, deadline.within(Duration::from_secs(15)));
    let found = rt
        .block_on(pm.cib())
        .map_err(|e| e.to_string())
        .and_then(|xml| Cib::parse(&xml))
        .and_then(|cib| Ok((cib.resource(resource)?.clone(), cib)));
    match found {
        Ok((p, cib)) => Ok((
            crate::inspect::resource_env(&p, params),
            Source::Cib(Box::new(p), cib),
        )),
        Err(e) if resource.is_some() => Err(e),
        Err(_) => Ok((process, Source::Environment)),
    }
}

/// The operation timeouts in the CIB against what the actions need: a
/// promotion without fencing first waits until a primary it cannot see has
/// surely stopped (cluster/partition.rs), then needs about 10 s of its own;
/// a promote timeout shorter than that fails every such promotion.
fn timeout_findings(p: &Primitive, cib: &Cib, wait: Duration) -> Vec<Finding> {
    let fencing = cib
        .properties
        .get("stonith-enabled")
        .and_then(|v| crate::ocf::env::parse_bool(v))
        .unwrap_or(true);
    if fencing {
        return Vec::new();
    }
    let need = wait + Duration::from_secs(10);
    let promote = p
        .ops
        .iter()
        .find(|o| o.name == "promote")
        .and_then(|o| o.timeout.as_deref())
        .and_then(crate::cluster::partition::parse_interval);
    // Pacemaker's default operation timeout.
    let have = promote.unwrap_or(Duration::from_secs(20));
    if have >= need {
        return Vec::new();
    }
    vec![Finding {
        id: "op-timeout",
        what: format!(
            "the promote timeout of {} is {} s, and a promotion without fencing needs about {} s",
            p.id,
            have.as_secs(),
            need.as_secs()
        ),
        why: "with stonith-enabled=false a promotion first waits until a primary it cannot \
              see must have stopped (Corosync's consensus, a quorum device's sync_timeout, \
              the promoted monitor's interval); a shorter timeout fails every failover"
            .to_string(),
        fix: format!(
            "pcs resource update {} op promote timeout={}s (crm: crm configure edit {}, the \
             promote op's timeout)",
            p.id,
            need.as_secs().div_ceil(10) * 10,
            p.id
        ),
    }]
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
    let (env, source) = match resource_env(opts.resource.as_deref(), &opts.params, deadline, &rt) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("check: cannot read the resource from the CIB: {e}");
            return ExitCode::from(1);
        }
    };
    let personality = opts.personality.unwrap_or(match &source {
        Source::Cib(p, _) if p.kind == "pgsqlms" => Personality::Pgsqlms,
        _ => Personality::Pgsql,
    });
    match &source {
        Source::Cib(p, _) => println!("Checking resource {} ({}) from the CIB", p.id, p.agent()),
        Source::Environment => println!("Checking the parameters of OCF_RESKEY_* and --param"),
    }
    let (cfg, problems) = match personality {
        Personality::Pgsql => {
            let (cfg, problems) = Config::from_env_lenient(&env);
            (cfg, problems.into_iter().map(|f| f.reason).collect())
        }
        Personality::Pgsqlms => from_pgsqlms(&env),
    };
    let facts = rt.block_on(facts::gather(&cfg, &env, deadline));
    let mut timeouts = Vec::new();
    if let Source::Cib(p, cib) = &source {
        let pm =
            crate::cluster::Pacemaker::for_reading(&env, deadline.within(Duration::from_secs(10)));
        let wait = rt.block_on(pm.promotion_wait(&p.id));
        timeouts = timeout_findings(p, cib, wait);
    }
    // A name lookup stuck past the deadline must not hold the exit.
    rt.shutdown_background();
    let mut found = findings::findings(&facts, &cfg, personality, &problems);
    found.extend(timeouts);
    let _ = std::io::stdout()
        .lock()
        .write_all(render(&found).as_bytes());
    ExitCode::from(if found.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promote_op(timeout: Option<&str>, fencing: &str) -> (Primitive, Cib) {
        let op = timeout
            .map(|t| format!(r#"<operations><op id="p" name="promote" interval="0s" timeout="{t}"/></operations>"#))
            .unwrap_or_default();
        let cib = Cib::parse(&format!(
            r#"<cib><configuration><crm_config><cluster_property_set id="o">
            <nvpair id="s" name="stonith-enabled" value="{fencing}"/></cluster_property_set></crm_config>
            <resources><primitive id="pgsql" class="ocf" provider="upfront" type="pgsql">{op}</primitive>
            </resources></configuration></cib>"#
        ))
        .unwrap();
        (cib.resource(None).unwrap().clone(), cib)
    }

    #[test]
    fn a_promote_timeout_too_short_for_a_promotion_without_fencing() {
        let wait = Duration::from_secs(35);
        let (p, cib) = promote_op(Some("60s"), "false");
        assert!(timeout_findings(&p, &cib, wait).is_empty());
        let (p, cib) = promote_op(Some("30s"), "false");
        let f = timeout_findings(&p, &cib, wait);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "op-timeout");
        assert!(
            f[0].what.contains("is 30 s") && f[0].what.contains("45 s"),
            "{}",
            f[0].what
        );
        assert!(f[0].fix.contains("timeout=50s"), "{}", f[0].fix);
        // No timeout in the CIB: Pacemaker's 20 s.
        let (p, cib) = promote_op(None, "false");
        assert!(timeout_findings(&p, &cib, wait)[0].what.contains("is 20 s"));
        // With fencing nothing waits.
        let (p, cib) = promote_op(Some("10s"), "true");
        assert!(timeout_findings(&p, &cib, wait).is_empty());
    }

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
        assert_eq!(o.personality, None);
        let o = parse_args(args(&["check", "--agent", "pgsqlms"])).unwrap();
        assert_eq!(o.personality, Some(Personality::Pgsqlms));
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
