//! The OCF environment of one invocation, read once.
//!
//! Pacemaker passes everything through `OCF_*` variables: instance parameters
//! as `OCF_RESKEY_<name>`, operation metadata as `OCF_RESKEY_CRM_meta_<name>`.
//! Operators debugging by hand may give the same values with `--param k=v`,
//! which win over the environment. Nothing else in the program reads the
//! environment: the few other variables the agent honours (the program
//! search path, libpq's `PGHOST`, `PGPASSWORD` and `PGPASSFILE`, the loader
//! path handed to pg_ctl) are captured here too, so a test can build an
//! `OcfEnv` from a map and see everything the agent would see.

use std::collections::BTreeMap;
use std::time::Duration;

/// `ocf_is_true` of ocf-shellfuncs, plus the false words, so a typo is an
/// error instead of a silent `false`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "ja" | "on" | "y" => Some(true),
        "no" | "false" | "0" | "nein" | "off" | "n" | "" => Some(false),
        _ => None,
    }
}

#[derive(Clone, Debug, Default)]
pub struct OcfEnv {
    /// Every `OCF_RESKEY_*` value, keyed without the prefix (so
    /// `CRM_meta_timeout`, `pgdata`...), after `--param` overrides.
    reskeys: BTreeMap<String, String>,
    /// `OCF_RESOURCE_INSTANCE`, e.g. `pgsql:0` or `pgsql`.
    pub resource_instance: String,
    /// `OCF_CHECK_LEVEL` (or `OCF_RESKEY_OCF_CHECK_LEVEL`), 0 when unset.
    pub check_level: u32,
    /// The other `OCF_*`/`HA_*` variables the agent consults (tester hooks,
    /// logging, exit-reason prefix), keyed by their full name.
    pub vars: BTreeMap<String, String>,
    /// The non-OCF variables the agent honours.
    pub process: ProcessVars,
}

/// The process environment besides `OCF_*`, `HA_*` and `PCMK_*`: only what
/// the agent uses, each with the rule libpq or the shell gives it.
#[derive(Clone, Default)]
pub struct ProcessVars {
    /// `PATH`, for programs named without a directory.
    pub path: Option<String>,
    /// libpq's default host (a socket directory when it starts with `/`).
    pub pghost: Option<String>,
    /// libpq's password; never printed (see the `Debug` impl).
    pub pgpassword: Option<String>,
    /// libpq's password file instead of `~/.pgpass`.
    pub pgpassfile: Option<String>,
    /// The loader path pg_ctl and the server inherit.
    pub ld_library_path: Option<String>,
}

impl std::fmt::Debug for ProcessVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessVars")
            .field("path", &self.path)
            .field("pghost", &self.pghost)
            .field("pgpassword", &self.pgpassword.as_ref().map(|_| "<hidden>"))
            .field("pgpassfile", &self.pgpassfile)
            .field("ld_library_path", &self.ld_library_path)
            .finish()
    }
}

impl ProcessVars {
    /// `PGPASSWORD` when set and not empty (libpq ignores an empty one).
    pub fn password(&self) -> Option<&str> {
        self.pgpassword.as_deref().filter(|p| !p.is_empty())
    }

    /// `PGHOST` when set and not empty.
    pub fn host(&self) -> Option<&str> {
        self.pghost.as_deref().filter(|h| !h.is_empty())
    }
}

impl OcfEnv {
    /// Reads the process environment and applies `--param` overrides.
    pub fn from_process(overrides: &[(String, String)]) -> OcfEnv {
        // vars_os: one variable that is not UTF-8 must not abort the agent.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::from_vars(vars, overrides)
    }

    pub fn from_vars<I>(vars: I, overrides: &[(String, String)]) -> OcfEnv
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut env = OcfEnv::default();
        for (k, v) in vars {
            if let Some(name) = k.strip_prefix("OCF_RESKEY_") {
                env.reskeys.insert(name.to_string(), v);
            } else if k.starts_with("OCF_") || k.starts_with("HA_") || k.starts_with("PCMK_") {
                env.vars.insert(k, v);
            } else {
                let p = &mut env.process;
                match k.as_str() {
                    "PATH" => p.path = Some(v),
                    "PGHOST" => p.pghost = Some(v),
                    "PGPASSWORD" => p.pgpassword = Some(v),
                    "PGPASSFILE" => p.pgpassfile = Some(v),
                    "LD_LIBRARY_PATH" => p.ld_library_path = Some(v),
                    _ => {}
                }
            }
        }
        for (k, v) in overrides {
            let k = k.strip_prefix("OCF_RESKEY_").unwrap_or(k);
            env.reskeys.insert(k.to_string(), v.clone());
        }
        env.resource_instance = env
            .vars
            .get("OCF_RESOURCE_INSTANCE")
            .cloned()
            .unwrap_or_else(|| "default".to_string());
        env.check_level = env
            .vars
            .get("OCF_CHECK_LEVEL")
            .or_else(|| env.reskeys.get("OCF_CHECK_LEVEL"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        env
    }

    /// An environment holding only these instance parameters (the tests'
    /// way of writing a resource's configuration).
    #[cfg(test)]
    pub fn from_params(pairs: &[(&str, &str)]) -> OcfEnv {
        Self::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
            &[],
        )
    }

    /// An instance parameter as given, `None` when unset. An empty value is
    /// returned as empty: the reference agents treat `""` like "unset" for
    /// most parameters, and callers decide.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.reskeys.get(name).map(String::as_str)
    }

    pub fn meta(&self, name: &str) -> Option<&str> {
        self.reskeys
            .get(&format!("CRM_meta_{name}"))
            .map(String::as_str)
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The primitive's id: the instance name up to the first `:`.
    pub fn resource_name(&self) -> &str {
        self.resource_instance
            .split(':')
            .next()
            .unwrap_or(&self.resource_instance)
    }

    /// `OCF_RESKEY_CRM_meta_timeout` (milliseconds), if Pacemaker gave one.
    pub fn op_timeout(&self) -> Option<Duration> {
        self.meta("timeout")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    }

    /// Recurring-operation interval in milliseconds; 0 when unset, which makes
    /// a monitor a probe (as ocf-shellfuncs defines it).
    pub fn interval_ms(&self) -> u64 {
        self.meta("interval")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// `ocf_is_ms`: the resource is a promotable clone.
    pub fn is_promotable(&self) -> bool {
        if self.meta("promotable").and_then(parse_bool) == Some(true) {
            return true;
        }
        ["promoted_max", "master_max"].iter().any(|k| {
            self.meta(k)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .is_some_and(|n| n > 0)
        })
    }

    /// Whether the resource's meta attributes were passed: any
    /// `CRM_meta_*` but `timeout`. Pacemaker passes them for every action
    /// it runs, and `crm_resource --validate --resource <id>` passes the
    /// resource's (its XML attributes `class`, `type`..., and a clone's meta
    /// attributes); `crm_resource --validate --class ... --agent ...` (what
    /// `pcs resource create` runs) passes only `CRM_meta_timeout`, and a run
    /// by hand usually nothing. Without them, nothing is known about the
    /// clone (docs/compatibility.md, row 6a).
    pub fn has_resource_meta(&self) -> bool {
        self.reskeys
            .keys()
            .filter_map(|k| k.strip_prefix("CRM_meta_"))
            .any(|k| k != "timeout")
    }

    /// The operation's deadline: Pacemaker's timeout, else `advertised` (the
    /// meta-data's timeout for the action, when run by hand), else 60 s.
    pub fn deadline(&self, advertised: Option<Duration>) -> super::Deadline {
        let timeout = self
            .op_timeout()
            .or(advertised)
            .unwrap_or(Duration::from_secs(60));
        super::Deadline::from_timeout(timeout)
    }

    /// ocf-tester sets this to check that probes survive missing binaries.
    pub fn tester_fails_binaries(&self) -> bool {
        self.var("OCF_TESTER_FAIL_HAVE_BINARY") == Some("1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_vars(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &[],
        )
    }

    #[test]
    fn resource_name_is_cut_at_colon() {
        let e = env(&[("OCF_RESOURCE_INSTANCE", "pgsql:1")]);
        assert_eq!(e.resource_name(), "pgsql");
    }

    #[test]
    fn overrides_win_over_environment() {
        let e = OcfEnv::from_vars(
            [("OCF_RESKEY_pgport".to_string(), "5432".to_string())],
            &[("pgport".to_string(), "5433".to_string())],
        );
        assert_eq!(e.param("pgport"), Some("5433"));
    }

    #[test]
    fn promotable_from_either_meta() {
        assert!(env(&[("OCF_RESKEY_CRM_meta_promotable", "true")]).is_promotable());
        assert!(env(&[("OCF_RESKEY_CRM_meta_master_max", "1")]).is_promotable());
        assert!(env(&[("OCF_RESKEY_CRM_meta_promoted_max", "1")]).is_promotable());
        assert!(!env(&[("OCF_RESKEY_CRM_meta_master_max", "0")]).is_promotable());
        assert!(!env(&[]).is_promotable());
    }

    #[test]
    fn resource_meta_is_any_meta_but_the_timeout() {
        assert!(!env(&[]).has_resource_meta());
        assert!(!env(&[("OCF_RESKEY_CRM_meta_timeout", "20000")]).has_resource_meta());
        assert!(!env(&[("OCF_RESKEY_pgdata", "/srv/pg")]).has_resource_meta());
        assert!(env(&[("OCF_RESKEY_CRM_meta_class", "ocf")]).has_resource_meta());
        assert!(env(&[("OCF_RESKEY_CRM_meta_on_node", "node1")]).has_resource_meta());
        let by_param = OcfEnv::from_vars([], &[("CRM_meta_notify".into(), "true".into())]);
        assert!(by_param.has_resource_meta());
    }

    #[test]
    fn process_variables_are_captured_and_the_password_hidden() {
        let e = env(&[
            ("PATH", "/usr/bin"),
            ("PGPASSWORD", "s3cret"),
            ("PGHOST", ""),
            ("HOME", "/root"),
        ]);
        assert_eq!(e.process.path.as_deref(), Some("/usr/bin"));
        assert_eq!(e.process.password(), Some("s3cret"));
        assert_eq!(e.process.host(), None);
        assert!(!format!("{e:?}").contains("s3cret"));
    }

    #[test]
    fn interval_zero_by_default() {
        assert_eq!(env(&[]).interval_ms(), 0);
        assert_eq!(
            env(&[("OCF_RESKEY_CRM_meta_interval", "10000")]).interval_ms(),
            10000
        );
    }

    #[test]
    fn booleans() {
        for t in ["yes", "true", "1", "YES", "TRUE", "True", "ja", "on", "ON"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["no", "false", "0", "off", ""] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("treu"), None);
    }
}
