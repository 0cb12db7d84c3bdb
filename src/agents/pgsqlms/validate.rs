//! PAF's checks, run before every action.
//!
//! Exit codes follow PAF, and so does the order, but for one thing: the
//! rules on the parameters alone (`parameter_rules`, a pure function) come
//! first, and `validate-all` checks them before anything on the host, so
//! that `pcs resource create` on a node without the data directory still
//! names a wrong parameter (docs/compatibility.md, PAF-26). Other things
//! differ on purpose: node names in `primary_conninfo` and in the recovery
//! template are compared as values, not as regular expressions
//! (`pg/conninfo.rs`), and the PostgreSQL user is looked up before the
//! `postgres -C` checks, which run as that user instead of root.

use crate::pg::rewind::Rejoin;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use super::config::Config;
use crate::ocf::{Action, Deadline, Failure, OcfEnv, OcfRc};
use crate::os::{Cmd, OsUser};
use crate::pg::{conf, conninfo};
use crate::pg::{PgVersion, Session, SqlError};

/// `ocf_version_cmp`: dotted (or dashed) numbers, compared part by part,
/// missing parts counting as 0; `None` for anything else (unset, garbage).
pub fn version_cmp(a: &str, b: &str) -> Option<Ordering> {
    fn parts(v: &str) -> Option<Vec<u64>> {
        let v = v.trim();
        let ok = v.starts_with(|c: char| c.is_ascii_digit())
            && v.ends_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
        if !ok {
            return None;
        }
        v.split(['.', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().ok())
            .collect()
    }
    let (mut x, mut y) = (parts(a)?, parts(b)?);
    let n = x.len().max(y.len());
    x.resize(n, 0);
    y.resize(n, 0);
    Some(x.cmp(&y))
}

/// PAF's test of the `notify` meta attribute: true, on, yes, y or 1, in
/// any case.
pub fn notify_is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "on" | "yes" | "y" | "1"
        )
    })
}

/// Every rule about the parameters and meta attributes that needs nothing
/// from the host, in PAF's order; the first failure is the one to report.
/// `validate-all` without the resource's meta attributes (`pcs resource
/// create`, `crm_resource --validate --agent ...`, a run by hand) cannot see
/// the clone, so `notify` and `promoted-max` are not judged there
/// (`OcfEnv::has_resource_meta`); every action Pacemaker runs has them.
pub fn parameter_rules(cfg: &Config, env: &OcfEnv, action: Action) -> Vec<Failure> {
    let mut failures = Vec::new();
    let feature_set = env.param("crm_feature_set").unwrap_or("");
    if version_cmp(feature_set, "3.0.9") != Some(Ordering::Greater) {
        failures.push(Failure::installed(format!(
            "PAF v2.3.0 is compatible with Pacemaker 1.1.13 and greater (crm_feature_set \
             is \"{feature_set}\", more than 3.0.9 is needed)"
        )));
    }
    let clone_known = action != Action::ValidateAll || env.has_resource_meta();
    if clone_known && !notify_is_true(env.meta("notify")) {
        failures.push(Failure::installed(
            "You must set meta parameter notify=true for your \"master\" resource",
        ));
    }
    // promoted-max (Pacemaker 2.1) or its legacy twin master-max.
    let max = env.meta("promoted_max").or_else(|| env.meta("master_max"));
    if clone_known && max != Some("1") {
        failures.push(Failure::installed(
            "You must set meta parameter master-max=1 for your \"master\" resource \
             (promoted-max=1)",
        ));
    }
    if cfg.maxlag.is_none() {
        failures.push(Failure::installed(format!(
            "maxlag is not a number: \"{}\"",
            cfg.maxlag_text
        )));
    }
    if cfg.pgport.is_none() {
        failures.push(Failure::configured(format!(
            "pgport is not a port number: \"{}\"",
            cfg.pgport_text
        )));
    }
    if cfg.rejoin.is_none() {
        failures.push(Failure::configured(format!(
            "Invalid rejoin: '{}' (use off, safe or rewind)",
            cfg.rejoin_text
        )));
    }
    if let Err(e) = shell_words::split(&cfg.start_opts) {
        failures.push(start_opts_unsplittable(cfg, e));
    }
    failures
}

/// `parameter_rules` as a check: the first failure, the others logged.
pub fn check_parameters(cfg: &Config, env: &OcfEnv, action: Action) -> Result<(), Failure> {
    let mut failures = parameter_rules(cfg, env, action).into_iter();
    match failures.next() {
        None => Ok(()),
        Some(first) => {
            for other in failures {
                tracing::warn!("also: {}", other.reason);
            }
            Err(first)
        }
    }
}

fn start_opts_unsplittable(cfg: &Config, e: shell_words::ParseError) -> Failure {
    Failure::configured(format!(
        "start_opts \"{}\" cannot be split into arguments: {e}",
        cfg.start_opts
    ))
}

/// What the checks learnt, for the actions.
#[derive(Clone, Debug)]
pub struct Checked {
    pub user: OsUser,
    pub version: PgVersion,
}

/// Steps 5-7 of the startup sequence: the directories and `PG_VERSION`.
pub fn directories(cfg: &Config) -> Result<PgVersion, Failure> {
    if !cfg.pgdata.is_dir() {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            format!("PGDATA \"{}\" does not exist", cfg.pgdata.display()),
        ));
    }
    if !cfg.datadir.is_dir() {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            format!(
                "data_directory \"{}\" does not exist",
                cfg.datadir.display()
            ),
        ));
    }
    let file = cfg.datadir.join("PG_VERSION");
    let text = match std::fs::read(&file) {
        Ok(t) if !t.is_empty() => t,
        Ok(_) => {
            return Err(Failure::new(
                OcfRc::ErrArgs,
                format!("PG_VERSION does not exist in \"{}\"", cfg.datadir.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::new(
                OcfRc::ErrArgs,
                format!("PG_VERSION does not exist in \"{}\"", cfg.datadir.display()),
            ))
        }
        Err(e) => {
            return Err(Failure::new(
                OcfRc::ErrArgs,
                format!("Could not open file \"{}\": {e}", file.display()),
            ))
        }
    };
    let head = String::from_utf8_lossy(&text[..text.len().min(32)]).into_owned();
    PgVersion::parse(head.trim_end_matches('\n')).ok_or_else(|| {
        Failure::new(
            OcfRc::ErrArgs,
            format!(
                "PG_VERSION in \"{}\" is not a PostgreSQL version: \"{}\"",
                cfg.datadir.display(),
                head.trim()
            ),
        )
    })
}

/// What `postgres -C <guc> -D <pgdata> <start_opts>` prints, as the
/// PostgreSQL user, unless `served` (read from the running server by
/// `served_settings`) has it.
async fn show_setting(
    cfg: &Config,
    user: &OsUser,
    guc: &str,
    deadline: Deadline,
    served: Option<&BTreeMap<String, String>>,
) -> Result<String, Failure> {
    if let Some(v) = served.and_then(|m| m.get(guc)) {
        return Ok(v.clone());
    }
    let opts = shell_words::split(&cfg.start_opts).map_err(|e| start_opts_unsplittable(cfg, e))?;
    let out = Cmd::new(cfg.bin("postgres"))
        .args(["-C", guc, "-D"])
        .arg(&cfg.pgdata)
        .args(opts)
        .run_as(user)
        .cwd("/")
        .run(deadline)
        .await;
    // A missing or failing postgres reads as an empty value, as in PAF:
    // the check below then names the setting.
    Ok(match out {
        Ok(o) if o.success() => o.stdout.trim_end_matches('\n').to_string(),
        Ok(o) => {
            tracing::warn!("postgres -C {guc} failed: {}", o.combined());
            String::new()
        }
        Err(e) => {
            tracing::warn!("postgres -C {guc}: {e}");
            String::new()
        }
    })
}

/// The settings PAF checks with `postgres -C` (PostgreSQL 12+), from the
/// running server, in one round trip: `pg_file_settings` parses the
/// configuration files as they are on disk now (`postgresql.auto.conf` and
/// includes too), so no `postgres` process (about 12 ms of CPU each,
/// performance.md). The value `postgres -C` would print: an option given on
/// the server's command line (start_opts' `-c`, which `postgres -C` is given
/// too) wins, then the last line of the files, then the built-in default. A
/// setting the view marks with an error (a value that needs a restart or is
/// invalid), and every setting when a file does not parse, is left out: its
/// `postgres -C` then answers, so the answer stays PAF's.
async fn served_settings(session: &Session) -> Result<BTreeMap<String, String>, SqlError> {
    // Two plain scans in one statement: a fresh backend plans a join of the
    // two views (CTE, sort) several times slower than this.
    let rows = session
        .simple_query(
            "select 'f', name, setting, (error is not null)::text, seqno::text \
               from pg_file_settings \
             union all \
             select 's', name, source, setting, boot_val from pg_settings \
              where name in ('recovery_target_timeline', 'primary_conninfo')",
        )
        .await?;
    Ok(settings_as_postgres_c(&rows))
}

/// The decision of `served_settings`, from its rows: `f` rows are
/// `pg_file_settings` (name, setting, has error, seqno), `s` rows
/// `pg_settings` (name, source, current value, built-in default).
fn settings_as_postgres_c(rows: &[Vec<Option<String>>]) -> BTreeMap<String, String> {
    let col = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten();
    let mut last_line: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
    for r in rows.iter().filter(|r| col(r, 0).as_deref() == Some("f")) {
        let failed = col(r, 3).as_deref() == Some("true");
        let Some(name) = col(r, 1) else {
            if failed {
                // A file that does not parse: postgres -C fails, as PAF sees.
                return BTreeMap::new();
            }
            continue;
        };
        let seqno = col(r, 4).and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
        if last_line.get(&name).is_none_or(|(seen, _)| *seen <= seqno) {
            last_line.insert(name, (seqno, if failed { None } else { col(r, 2) }));
        }
    }
    let mut served = BTreeMap::new();
    for r in rows.iter().filter(|r| col(r, 0).as_deref() == Some("s")) {
        let Some(name) = col(r, 1) else { continue };
        let value = if col(r, 2).as_deref() == Some("command line") {
            col(r, 3)
        } else {
            match last_line.get(&name) {
                // A line the view marks with an error: left to postgres -C.
                Some((_, None)) => continue,
                Some((_, Some(v))) => Some(v.clone()),
                None => col(r, 4),
            }
        };
        if let Some(v) = value {
            served.insert(name, v);
        }
    }
    served
}

/// The template checks of PostgreSQL 11 and older.
fn check_template(path: &Path, node: &str) -> Result<(), Failure> {
    if !path.is_file() {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            format!(
                "Recovery template file \"{}\" does not exist",
                path.display()
            ),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            OcfRc::ErrArgs,
            format!("Could not open file \"{}\": {e}", path.display()),
        )
    })?;
    let setting =
        |name: &str, want: &str| conf::assignments(&text).any(|(k, v)| k == name && v == want);
    if !setting("standby_mode", "on") {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            "Recovery template file must contain \"standby_mode = on\"",
        ));
    }
    if !setting("recovery_target_timeline", "latest") {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            "Recovery template file must contain \"recovery_target_timeline = 'latest'\"",
        ));
    }
    let names_node = conf::assignments(&text).any(|(k, v)| {
        k == "primary_conninfo" && conninfo::application_name(&v).is_some_and(|n| n == node)
    });
    if !names_node {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            format!(
                "Recovery template file must contain in primary_conninfo parameter \
             \"application_name={node}\""
            ),
        ));
    }
    Ok(())
}

/// A monitor's session with the running instance, opened before the checks
/// (mod.rs), and the PostgreSQL user it was opened as.
pub struct Early {
    pub user: OsUser,
    pub session: Session,
}

/// PAF's `pgsql_validate_all`, in its order. `early`: a session of the
/// running instance, which then reads the settings (`served_settings`).
pub async fn validate_all(
    cfg: &Config,
    env: &OcfEnv,
    action: Action,
    node: &str,
    version: PgVersion,
    deadline: Deadline,
    early: Option<&Early>,
) -> Result<Checked, Failure> {
    check_parameters(cfg, env, action)?;

    let found = match early {
        Some(e) => Ok(Some(e.user.clone())),
        None => OsUser::lookup(&cfg.system_user, deadline),
    };
    let user = match found {
        Ok(Some(u)) => u,
        Err(e @ crate::os::user::LookupError::TimedOut) => {
            return Err(user_lookup_timed_out(cfg, e))
        }
        _ => return Err(no_system_user(cfg)),
    };

    if version.at_least(12, 0) {
        if cfg.recovery_template.exists() {
            return Err(Failure::new(
                OcfRc::ErrArgs,
                format!(
                    "Recovery template file \"{}\" is forbidden for PostgreSQL 12 and above",
                    cfg.recovery_template.display()
                ),
            ));
        }
        let served = match early {
            Some(e) => served_settings(&e.session)
                .await
                .map_err(|e| tracing::debug!("settings from pg_file_settings: {e}"))
                .ok(),
            None => None,
        };
        let served = served.as_ref();
        let tl = show_setting(cfg, &user, "recovery_target_timeline", deadline, served).await?;
        if tl != "latest" {
            return Err(Failure::new(
                OcfRc::ErrArgs,
                format!(
                    "Parameter \"recovery_target_timeline\" MUST be set to 'latest'. It is \
                 currently set to '{tl}'"
                ),
            ));
        }
        let ci = show_setting(cfg, &user, "primary_conninfo", deadline, served).await?;
        if conninfo::application_name(&ci).as_deref() != Some(node) {
            return Err(Failure::new(
                OcfRc::ErrArgs,
                format!(
                    "Parameter \"primary_conninfo\" MUST contain 'application_name={node}'. It \
                 is currently set to '{ci}'"
                ),
            ));
        }
    } else {
        check_template(&cfg.recovery_template, node)?;
    }

    if !version.at_least(9, 3) {
        return Err(Failure::installed("Require 9.3 and more"));
    }

    let exec = |p: &str| crate::os::process::find_executable(&cfg.bin(p).to_string_lossy(), None);
    let waldump_ok = exec("pg_waldump").is_some() || exec("pg_xlogdump").is_some();
    let tools = ["pg_ctl", "psql", "pg_controldata", "pg_isready"];
    // The agent reads the control file and the WAL of these majors itself:
    // pg_controldata and pg_waldump are needed for the others only (PAF
    // needs them always: compatibility P-8, P-15).
    let native = crate::pg::controlfile::NATIVE_MAJORS.contains(&version.major);
    let needed: &[&str] = if native {
        &["pg_ctl", "psql", "pg_isready"]
    } else {
        &tools
    };
    if !needed.iter().all(|t| exec(t).is_some()) || !(native || waldump_ok) {
        let paths: Vec<String> = tools
            .iter()
            .chain(&["pg_waldump", "pg_xlogdump"])
            .map(|t| cfg.bin(t).display().to_string())
            .collect();
        return Err(Failure::new(
            OcfRc::ErrArgs,
            format!(
                "Missing one or more binary. Check following path: {}, {}, {}, {}, {} or {}",
                paths[0], paths[1], paths[2], paths[3], paths[4], paths[5]
            ),
        ));
    }

    let cd = super::read_controldata(cfg, &user, deadline).await?;
    if !["hot_standby", "logical", "replica"]
        .iter()
        .any(|w| cd.wal_level.contains(w))
    {
        return Err(Failure::new(
            OcfRc::ErrArgs,
            format!(
                "wal_level must be one of \"hot_standby\", \"logical\" or \"replica\" (it is \
             \"{}\")",
                cd.wal_level
            ),
        ));
    }
    if cfg.rejoin == Some(Rejoin::Rewind) && cd.rewindable == Some(false) {
        return Err(crate::agents::not_rewindable());
    }
    Ok(Checked { user, version })
}

/// The user database did not answer for `system_user` in time: not a
/// configuration error (the user may well exist), so not PAF's refusal.
pub fn user_lookup_timed_out(cfg: &Config, e: crate::os::user::LookupError) -> Failure {
    Failure::generic(format!(
        "System user \"{}\" cannot be looked up: {e}",
        cfg.system_user
    ))
}

/// PAF's refusal when `system_user` is not a user of this host.
pub fn no_system_user(cfg: &Config) -> Failure {
    Failure::new(
        OcfRc::ErrArgs,
        format!("System user \"{}\" does not exist", cfg.system_user),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Option<&str>]) -> Vec<Option<String>> {
        cells.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn settings_as_postgres_c_prints_them() {
        let s = |name: &str, source: &str, cur: &str, boot: &str| {
            row(&[Some("s"), Some(name), Some(source), Some(cur), Some(boot)])
        };
        let f = |name: Option<&str>, v: &str, err: bool, seq: &str| {
            row(&[
                Some("f"),
                name,
                Some(v),
                Some(if err { "true" } else { "false" }),
                Some(seq),
            ])
        };
        let tl = "recovery_target_timeline";
        let ci = "primary_conninfo";
        // Not in the files: the built-in default, whatever runs now.
        let got = settings_as_postgres_c(&[
            s(tl, "default", "latest", "latest"),
            s(ci, "default", "", ""),
        ]);
        assert_eq!(got.get(tl).map(String::as_str), Some("latest"));
        assert_eq!(got.get(ci).map(String::as_str), Some(""));
        // The last line wins, as on disk now (not yet reloaded).
        let got = settings_as_postgres_c(&[
            f(Some(ci), "host=a application_name=n1", false, "3"),
            f(Some(ci), "host=b application_name=n2", false, "9"),
            s(ci, "configuration file", "host=a application_name=n1", ""),
        ]);
        assert_eq!(
            got.get(ci).map(String::as_str),
            Some("host=b application_name=n2")
        );
        // The server's command line (start_opts' -c) wins over the files.
        let got = settings_as_postgres_c(&[
            f(Some(tl), "current", false, "1"),
            s(tl, "command line", "latest", "latest"),
        ]);
        assert_eq!(got.get(tl).map(String::as_str), Some("latest"));
        // A line with an error (pending restart, invalid) is left to
        // postgres -C; a file that does not parse, everything.
        let got = settings_as_postgres_c(&[
            f(Some(tl), "current", true, "1"),
            s(tl, "configuration file", "latest", "latest"),
            s(ci, "default", "", ""),
        ]);
        assert!(!got.contains_key(tl));
        assert!(got.contains_key(ci));
        let got = settings_as_postgres_c(&[f(None, "", true, "1"), s(ci, "default", "", "")]);
        assert!(got.is_empty());
    }

    /// What Pacemaker passes to every action of the quick start's clone
    /// (docs/quickstart-paf.md).
    const CLUSTER: &[(&str, &str)] = &[
        ("crm_feature_set", "3.16.2"),
        ("CRM_meta_timeout", "20000"),
        ("CRM_meta_notify", "true"),
        ("CRM_meta_promoted_max", "1"),
        ("CRM_meta_master_max", "1"),
        ("CRM_meta_on_node", "srv1"),
    ];

    fn rules(pairs: &[(&str, &str)], action: Action) -> Vec<String> {
        let env = OcfEnv::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
            &[],
        );
        parameter_rules(&Config::from_env(&env), &env, action)
            .into_iter()
            .map(|f| format!("{} {}", f.rc as i32, f.reason))
            .collect()
    }

    type Pairs = Vec<(&'static str, &'static str)>;

    fn without(keys: &[&str]) -> Pairs {
        let mut v: Vec<_> = CLUSTER.to_vec();
        v.retain(|(k, _)| !keys.contains(k));
        v
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Pairs {
        let mut v = CLUSTER.to_vec();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn valid_parameters_pass() {
        let start = with(&[("pgdata", "/var/lib/postgresql/15/main"), ("maxlag", "1e6")]);
        assert!(rules(&start, Action::Start).is_empty());
        assert!(rules(&start, Action::ValidateAll).is_empty());
        // pcs resource create: crm_resource --validate --agent passes the
        // parameters, CRM_meta_timeout and crm_feature_set, nothing more.
        let pcs = [("crm_feature_set", "3.16.2"), ("CRM_meta_timeout", "20000")];
        assert!(rules(&pcs, Action::ValidateAll).is_empty());
    }

    #[test]
    fn each_rule_fires() {
        let v = Action::ValidateAll;
        let cases: Vec<(Pairs, Action, &str)> = vec![
            (
                without(&["crm_feature_set"]),
                v,
                "5 PAF v2.3.0 is compatible",
            ),
            (
                without(&["CRM_meta_notify"]),
                v,
                "5 You must set meta parameter notify=true",
            ),
            (
                without(&["CRM_meta_promoted_max", "CRM_meta_master_max"]),
                v,
                "5 You must set meta parameter master-max=1",
            ),
            (
                with(&[("CRM_meta_promoted_max", "2")]),
                Action::Monitor,
                "5 You must set meta parameter master-max=1",
            ),
            (
                with(&[("maxlag", "abc")]),
                v,
                "5 maxlag is not a number: \"abc\"",
            ),
            (
                with(&[("pgport", "x")]),
                v,
                "6 pgport is not a port number: \"x\"",
            ),
            (with(&[("rejoin", "never")]), v, "6 Invalid rejoin: 'never'"),
            (
                with(&[("start_opts", "-c 'x")]),
                v,
                "6 start_opts \"-c 'x\" cannot be split",
            ),
        ];
        for (pairs, action, want) in cases {
            let got = rules(&pairs, action);
            assert_eq!(got.len(), 1, "{pairs:?}: {got:?}");
            assert!(got[0].starts_with(want), "{pairs:?}: {got:?}");
        }
    }

    #[test]
    fn the_clone_is_judged_only_when_its_meta_attributes_are_known() {
        let bare = [("crm_feature_set", "3.16.2"), ("CRM_meta_timeout", "20000")];
        // Pacemaker's own actions always carry them: absent means wrong.
        let got = rules(&bare, Action::Start);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("notify=true") && got[1].contains("master-max=1"));
        // crm_resource --validate --resource: the primitive's XML
        // attributes, so the clone is known (here: not one).
        let primitive = [
            ("crm_feature_set", "3.16.2"),
            ("CRM_meta_class", "ocf"),
            ("CRM_meta_type", "pgsqlms"),
        ];
        assert_eq!(rules(&primitive, Action::ValidateAll).len(), 2);
        // All failures, in PAF's order.
        let got = rules(&[("maxlag", "x"), ("pgport", "y")], Action::ValidateAll);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("PAF v2.3.0") && got[1].contains("maxlag"));
        assert!(got[2].contains("pgport"));
    }

    #[test]
    fn notify_words() {
        for t in ["true", "TRUE", "on", "Yes", "y", "1"] {
            assert!(notify_is_true(Some(t)), "{t}");
        }
        for f in [None, Some("false"), Some("ja"), Some(""), Some("0")] {
            assert!(!notify_is_true(f), "{f:?}");
        }
    }

    #[test]
    fn version_comparison() {
        assert_eq!(version_cmp("3.0.10", "3.0.9"), Some(Ordering::Greater));
        assert_eq!(version_cmp("3.0.9", "3.0.9"), Some(Ordering::Equal));
        assert_eq!(version_cmp("3.16.2", "3.0.9"), Some(Ordering::Greater));
        assert_eq!(version_cmp("3.1", "3.0.9"), Some(Ordering::Greater));
        assert_eq!(version_cmp("", "3.0.9"), None);
        assert_eq!(version_cmp("abc", "3.0.9"), None);
        assert_eq!(version_cmp("3.0.", "3.0.9"), None);
    }

    #[test]
    fn template_checks() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("recovery.conf.pcmk");
        let reason = |text: &str| {
            std::fs::write(&t, text).unwrap();
            check_template(&t, "srv1").err().map(|f| f.reason)
        };
        let good = "standby_mode = on\nrecovery_target_timeline = 'latest'\n\
                    primary_conninfo = 'host=vip application_name=srv1'\n";
        assert_eq!(reason(good), None);
        assert!(reason("recovery_target_timeline = latest\n")
            .unwrap()
            .contains("standby_mode"));
        assert!(reason("standby_mode = 'on'\n")
            .unwrap()
            .contains("recovery_target_timeline"));
        assert!(reason(&good.replace("srv1", "srv10"))
            .unwrap()
            .contains("application_name=srv1"));
        std::fs::remove_file(&t).unwrap();
        assert!(check_template(&t, "srv1")
            .unwrap_err()
            .reason
            .contains("does not exist"));
    }
}
