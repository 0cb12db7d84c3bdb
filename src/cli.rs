//! The command line: `<agent> ACTION` as Pacemaker calls it, plus what an
//! operator debugging by hand needs (`--param key=value`, `--help`).
//!
//! Pacemaker passes exactly one argument; the OCF standard says extra ones
//! are ignored, so everything after the action is accepted and dropped.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

#[derive(Debug, Default)]
pub struct Invocation {
    pub program: String,
    pub action: Option<String>,
    pub params: Vec<(String, String)>,
    /// `--man` (hidden) without an action: print the manual page
    /// pgsql-ra(8) as roff. The packages build the installed page with it.
    /// Given with an action it is ignored, as any extra argument is.
    pub man: bool,
    /// A `--param` among the extra arguments (after a word following the
    /// action): ignored like every extra argument (OCF), but an operator who
    /// typed it meant it, so the caller says so instead of running with a
    /// different configuration silently.
    pub late_params: bool,
}

fn command(program: &str) -> Command {
    Command::new("pgsql-ra")
        .bin_name(program.to_string())
        .about(
            "OCF resource agent for PostgreSQL (drop-in for ocf:heartbeat:pgsql).\n\
             Pacemaker runs it as `<agent> ACTION` with OCF_RESKEY_* variables.",
        )
        .after_help(
            "Actions: start stop status monitor promote demote notify meta-data methods \
             validate-all usage\n\n\
             Preflight of a node (read-only; exit 0 when clean, 1 with findings):\n  \
             pgsql-ra check --param KEY=VALUE ... (pgsql-ra check --help)\n\n\
             Example, checking a resource by hand:\n  \
             OCF_RESKEY_pgdata=/var/lib/postgresql/15/main pgsql-ra monitor\n  \
             pgsql-ra --param pgdata=/var/lib/postgresql/15/main --param CRM_meta_timeout=20000 monitor",
        )
        .disable_version_flag(true)
        .arg(param_arg())
        .arg(
            Arg::new("man")
                .long("man")
                .action(ArgAction::SetTrue)
                .hide(true),
        )
        .arg(Arg::new("action").value_name("ACTION").help("The OCF action to run"))
        .arg(
            Arg::new("extra")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .hide(true),
        )
}

/// `--param KEY=VALUE` (`-p`), repeatable: the agent's and `check`'s.
pub fn param_arg() -> Arg {
    Arg::new("param")
        .long("param")
        .short('p')
        .value_name("KEY=VALUE")
        .action(ArgAction::Append)
        .help("Set OCF_RESKEY_KEY=VALUE (wins over the environment)")
}

/// The values of [`param_arg`] as pairs; `Err` names the first one without
/// `=` (or with an empty key).
pub fn params_of(m: &clap::ArgMatches) -> Result<Vec<(String, String)>, String> {
    m.get_many::<String>("param")
        .into_iter()
        .flatten()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("--param takes KEY=VALUE, got '{p}'")),
        })
        .collect()
}

/// Parses argv. `Err` carries clap's own message (help, or a usage error)
/// for the caller to print with clap's exit code.
pub fn parse(args: Vec<OsString>) -> Result<Invocation, clap::Error> {
    let program = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pgsql-ra".to_string());
    let m = command(&program).try_get_matches_from(args)?;
    let params = params_of(&m)
        .map_err(|e| command(&program).error(clap::error::ErrorKind::InvalidValue, e))?;
    let action = m.get_one::<String>("action").cloned();
    let late_params = m
        .get_many::<String>("extra")
        .into_iter()
        .flatten()
        .any(|a| a == "--param" || a == "-p" || a.starts_with("--param=") || a.starts_with("-p"));
    Ok(Invocation {
        program,
        man: m.get_flag("man") && action.is_none(),
        action,
        params,
        late_params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Invocation {
        parse(args.iter().map(OsString::from).collect()).unwrap()
    }

    #[test]
    fn extra_arguments_are_ignored() {
        let i = p(&["pgsql", "monitor", "extra", "-x"]);
        assert_eq!(i.action.as_deref(), Some("monitor"));
    }

    #[test]
    fn params_after_the_action_are_noticed() {
        // Right after the action clap still reads it as an option.
        let i = p(&["pgsql", "monitor", "--param", "a=b"]);
        assert!(!i.late_params);
        assert_eq!(i.params, vec![("a".into(), "b".into())]);
        // After an extra argument everything is extra.
        for late in [
            &["pgsql", "monitor", "x", "--param", "a=b"][..],
            &["pgsql", "monitor", "x", "-p", "a=b"],
            &["pgsql", "monitor", "x", "--param=a=b"],
        ] {
            let i = p(late);
            assert!(i.late_params, "{late:?}");
            assert!(i.params.is_empty());
            assert_eq!(i.action.as_deref(), Some("monitor"));
        }
        assert!(!p(&["pgsql", "monitor", "extra"]).late_params);
    }

    #[test]
    fn params_by_flag() {
        let i = p(&["pgsql", "--param", "pgport=5433", "-p", "x=a=b", "start"]);
        assert_eq!(
            i.params,
            vec![("pgport".into(), "5433".into()), ("x".into(), "a=b".into())]
        );
    }

    #[test]
    fn man_flag() {
        assert!(p(&["pgsql-ra", "--man"]).man);
        let i = p(&["pgsql-ra", "monitor"]);
        assert!(!i.man);
        // With an action, --man is ignored like any extra argument.
        for args in [
            ["pgsql-ra", "monitor", "--man"],
            ["pgsql-ra", "--man", "monitor"],
        ] {
            let i = p(&args);
            assert!(!i.man);
            assert_eq!(i.action.as_deref(), Some("monitor"));
        }
    }
}
