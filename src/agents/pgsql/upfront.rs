//! The parameters of the original `ocf:upfront:pgsql` (the two-node agent of
//! the first "upfront" tutorial), mapped onto the `pgsql` parameters.
//!
//! A CIB written for that agent must keep working unchanged, so its six
//! parameters are accepted as deprecated aliases: `port` (pgport), `datadir`
//! (pgdata), `restorecommand` (restore_command), `version` + `clustername`
//! (the Debian paths of `pg_createcluster`) and `primary` (the conninfo a
//! standby uses, split into master_ip, repuser and primary_conninfo_opt).
//!
//! The mapping is a pure function of the parameters: it says which `pgsql`
//! values the aliases stand for and refuses any mix that contradicts the
//! `pgsql` parameters, so that there is never a doubt which of two values the
//! agent uses.

use std::collections::BTreeMap;

use crate::ocf::Failure;
use crate::pg::conninfo::quote as conninfo_value;

/// The six parameters, in the order the meta-data lists them.
pub const NAMES: [&str; 6] = [
    "primary",
    "version",
    "clustername",
    "port",
    "datadir",
    "restorecommand",
];

/// What the presence of the aliases changes beyond parameter values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upfront {
    /// `primary` was given: the original agent's contract, where the CIB's
    /// location rule for the promoted role chooses the primary. Promotion
    /// scores are then equal for the primary and a synchronous standby, so
    /// that the rule decides between them (see `slaves::decide`).
    pub by_rule: bool,
    /// `node_list` was not given with `primary`: the nodes are the cluster's
    /// (the original agent had no such parameter).
    pub node_list_from_cluster: bool,
    /// `version`, checked against the data directory's PG_VERSION.
    pub version: Option<String>,
}

/// The result of the mapping: values for `pgsql` parameters that were not
/// given themselves, and the mode switches.
#[derive(Clone, Debug, Default)]
pub struct Mapped {
    pub values: BTreeMap<&'static str, String>,
    /// `None` when none of the six parameters is set.
    pub upfront: Option<Upfront>,
}

/// A parameter counts as given when it is set and not blank: Pacemaker tools
/// write empty values for parameters an admin cleared.
fn given<'a>(get: &dyn Fn(&str) -> Option<&'a str>, name: &str) -> Option<&'a str> {
    get(name).map(str::trim).filter(|v| !v.is_empty())
}

/// Collects the mapping; in lenient mode (stop) a contradiction is recorded
/// and the `pgsql` parameter's value is used.
struct Mapper<'a, 'g> {
    get: &'g dyn Fn(&str) -> Option<&'a str>,
    lenient: bool,
    problems: Vec<Failure>,
    out: Mapped,
}

impl<'a> Mapper<'a, '_> {
    fn fail(&mut self, f: Failure) -> Result<(), Failure> {
        if self.lenient {
            self.problems.push(f);
            Ok(())
        } else {
            Err(f)
        }
    }

    fn given(&self, name: &str) -> Option<&'a str> {
        given(self.get, name)
    }

    /// `alias` stands for `param`: it fills it in, or must agree with it.
    fn alias(&mut self, alias: &str, param: &'static str) -> Result<(), Failure> {
        let Some(a) = self.given(alias) else {
            return Ok(());
        };
        match self.given(param) {
            Some(p) if p != a => self.fail(Failure::configured(format!(
                "{alias}={a} and {param}={p} contradict ({alias} is the original upfront \
                 agent's name for {param}); remove {alias}, or give both the same value"
            ))),
            Some(_) => Ok(()),
            None => {
                self.out.values.insert(param, a.to_string());
                Ok(())
            }
        }
    }

    /// A value derived from `version`/`clustername`, used unless the `pgsql`
    /// parameter itself is given (then it simply wins: the derived paths are
    /// Debian's defaults, not settings of their own).
    fn derived(&mut self, param: &'static str, value: String) {
        if self.given(param).is_none() && !self.out.values.contains_key(param) {
            self.out.values.insert(param, value);
        }
    }

    fn run(&mut self) -> Result<(), Failure> {
        if NAMES.iter().all(|n| self.given(n).is_none()) {
            return Ok(());
        }
        let mut up = Upfront::default();

        // port: also what `primary`'s port must equal, so it goes first.
        if let Some(p) = self.given("port") {
            if !p.parse::<u16>().is_ok_and(|n| n > 0) {
                self.fail(Failure::configured(format!(
                    "Invalid port: '{p}' is not a TCP port number (1-65535)"
                )))?;
            } else {
                let pgport = self.given("pgport");
                // Compare as numbers: "05435" and "5435" are the same port.
                let same = pgport.is_none_or(|q| q.parse::<u16>().ok() == p.parse::<u16>().ok());
                if same {
                    if pgport.is_none() {
                        self.out.values.insert("pgport", p.to_string());
                    }
                } else {
                    self.alias("port", "pgport")?;
                }
            }
        }
        self.alias("datadir", "pgdata")?;
        self.alias("restorecommand", "restore_command")?;

        match (self.given("version"), self.given("clustername")) {
            (Some(v), Some(c)) => {
                let version_ok = !v.is_empty()
                    && v.split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                let cluster_ok = c != "." && c != ".." && !c.contains('/');
                if !version_ok {
                    self.fail(Failure::configured(format!(
                        "Invalid version: '{v}' is not a PostgreSQL version like 9.1 or 15"
                    )))?;
                } else if !cluster_ok {
                    self.fail(Failure::configured(format!(
                        "Invalid clustername: '{c}' is not a Debian cluster name (no '/', not \
                         . or ..)"
                    )))?;
                } else {
                    let bin = format!("/usr/lib/postgresql/{v}/bin");
                    self.derived("pgctl", format!("{bin}/pg_ctl"));
                    self.derived("psql", format!("{bin}/psql"));
                    self.derived("config", format!("/etc/postgresql/{v}/{c}/postgresql.conf"));
                    self.derived("pgdata", format!("/var/lib/postgresql/{v}/{c}"));
                    // Debian's postgresql.conf sets unix_socket_directories,
                    // which makes socketdir mandatory (9.3+).
                    self.derived("socketdir", "/var/run/postgresql".to_string());
                    // Where pg_ctlcluster sends the server's output.
                    self.derived(
                        "logfile",
                        format!("/var/log/postgresql/postgresql-{v}-{c}.log"),
                    );
                    up.version = Some(v.to_string());
                }
            }
            (Some(v), None) => self.fail(Failure::configured(format!(
                "version={v} needs clustername (Debian's /etc/postgresql/{v}/<clustername>); set \
                 both, or neither and use pgctl, config and pgdata"
            )))?,
            (None, Some(c)) => self.fail(Failure::configured(format!(
                "clustername={c} needs version (Debian's /etc/postgresql/<version>/{c}); set both, \
                 or neither and use pgctl, config and pgdata"
            )))?,
            (None, None) => {}
        }

        if let Some(primary) = self.given("primary") {
            self.primary(primary, &mut up)?;
        }
        self.out.upfront = Some(up);
        Ok(())
    }

    /// `primary`: the conninfo a standby used to reach the primary.
    fn primary(&mut self, primary: &str, up: &mut Upfront) -> Result<(), Failure> {
        let pairs = match parse_conninfo(primary) {
            Ok(p) => p,
            Err(e) => {
                return self.fail(Failure::configured(format!(
                    "Invalid primary: {e}; write it as key=value pairs like host=10.0.0.1 \
                     port=5432 user=postgres"
                )))
            }
        };
        let mut host = None;
        let mut user = None;
        let mut port = None;
        let mut opts = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "host" => host = Some(v),
                "user" => user = Some(v),
                "port" => port = Some(v),
                "application_name" => {
                    return self.fail(Failure::configured(format!(
                        "primary sets application_name={v}, which pgsql-ra sets to each node's \
                         name itself; remove it from primary"
                    )))
                }
                _ => opts.push(format!("{k}={}", conninfo_value(&v))),
            }
        }
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return self.fail(Failure::configured(
                "primary has no host: pgsql-ra needs the address standbys connect to \
                 (host=..., normally the virtual IP of the primary)",
            ));
        };
        for (key, value, param) in [("host", Some(host), "master_ip"), ("user", user, "repuser")] {
            let Some(value) = value else { continue };
            match self.given(param) {
                Some(p) if p != value => {
                    self.fail(Failure::configured(format!(
                        "primary has {key}={value} but {param}={p} is set; they name the same \
                         setting, so remove {param} or make them equal"
                    )))?;
                }
                Some(_) => {}
                None => {
                    self.out.values.insert(param, value);
                }
            }
        }
        if let Some(p) = port {
            // pgsql-ra writes the instance's own port into every standby's
            // primary_conninfo, so the two must be one.
            let instance: Option<u16> = match self.out.values.get("pgport") {
                Some(v) => v.parse().ok(),
                None => self.given("pgport").map_or(Some(5432), |v| v.parse().ok()),
            };
            if p.trim().parse::<u16>().ok() != instance {
                let shown = instance.map_or_else(|| "invalid".to_string(), |n| n.to_string());
                self.fail(Failure::configured(format!(
                    "primary has port={p} but the instance port (port, pgport) is {shown}: \
                     pgsql-ra gives standbys the instance's own port; make them equal"
                )))?;
            }
        }
        if !opts.is_empty() {
            let joined = opts.join(" ");
            match self.given("primary_conninfo_opt") {
                Some(existing) => self.fail(Failure::configured(format!(
                    "primary and primary_conninfo_opt both add connection options ({joined} and \
                     {existing}); put them in one of the two"
                )))?,
                None => {
                    self.out.values.insert("primary_conninfo_opt", joined);
                }
            }
        }
        match self.given("rep_mode") {
            None => {
                self.out.values.insert("rep_mode", "sync".to_string());
            }
            Some("sync") => {}
            Some(other) => self.fail(Failure::configured(format!(
                "primary (original upfront agent) runs rep_mode=sync, so that the location rule \
                 can move the primary without losing an acknowledged write; remove \
                 rep_mode={other} or use the pgsql parameters instead of primary"
            )))?,
        }
        up.by_rule = true;
        up.node_list_from_cluster = self.given("node_list").is_none();
        Ok(())
    }
}

/// Maps the aliases. `get` returns a parameter as given (`None`: unset).
/// Strict: the first contradiction is the error. Lenient (for stop): every
/// problem is returned and the `pgsql` parameters win.
pub fn map<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    lenient: bool,
) -> Result<(Mapped, Vec<Failure>), Failure> {
    let mut m = Mapper {
        get,
        lenient,
        problems: Vec::new(),
        out: Mapped::default(),
    };
    m.run()?;
    Ok((m.out, m.problems))
}

/// The `primary` parameter as keyword pairs (pg/conninfo.rs). URIs are
/// refused: the original agent's examples never used them, and their parts
/// do not map onto separate parameters without guessing.
fn parse_conninfo(s: &str) -> Result<crate::pg::conninfo::Pairs, String> {
    if crate::pg::conninfo::is_uri(s) {
        return Err("a connection URI is not supported".to_string());
    }
    crate::pg::conninfo::parse_keywords(s).map_err(|(_, e)| e)
}

/// The original agent's parameters as its tutorial gives them.
#[cfg(test)]
pub const TUTORIAL_BLOCK: &[(&str, &str)] = &[
    ("primary", "host=10.0.0.1 port=5435 user=postgres"),
    ("version", "9.1"),
    ("clustername", "ha"),
    ("port", "5435"),
    ("datadir", "/var/lib/postgresql/9.1/ha"),
    (
        "restorecommand",
        "cp /var/lib/postgresql/archive/9.1/ha/%f %p",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(&str, &str)]) -> Result<Mapped, Failure> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |n: &str| m.get(n).map(String::as_str);
        map(&get, false).map(|(m, _)| m)
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        let e = run(pairs).unwrap_err();
        assert_eq!(e.rc, crate::ocf::OcfRc::ErrConfigured, "{}", e.reason);
        e.reason
    }

    #[test]
    fn the_tutorial_block_maps_onto_pgsql_parameters() {
        let m = run(TUTORIAL_BLOCK).unwrap();
        let v = |k: &str| m.values.get(k).cloned().unwrap_or_default();
        assert_eq!(v("pgctl"), "/usr/lib/postgresql/9.1/bin/pg_ctl");
        assert_eq!(v("psql"), "/usr/lib/postgresql/9.1/bin/psql");
        assert_eq!(v("config"), "/etc/postgresql/9.1/ha/postgresql.conf");
        assert_eq!(v("pgdata"), "/var/lib/postgresql/9.1/ha");
        assert_eq!(v("pgport"), "5435");
        assert_eq!(v("socketdir"), "/var/run/postgresql");
        assert_eq!(v("logfile"), "/var/log/postgresql/postgresql-9.1-ha.log");
        assert_eq!(
            v("restore_command"),
            "cp /var/lib/postgresql/archive/9.1/ha/%f %p"
        );
        assert_eq!(v("master_ip"), "10.0.0.1");
        assert_eq!(v("repuser"), "postgres");
        assert_eq!(v("rep_mode"), "sync");
        assert!(!m.values.contains_key("primary_conninfo_opt"));
        let up = m.upfront.unwrap();
        assert!(up.by_rule && up.node_list_from_cluster);
        assert_eq!(up.version.as_deref(), Some("9.1"));
    }

    #[test]
    fn nothing_given_nothing_mapped() {
        let m = run(&[("pgdata", "/x"), ("port", "  ")]).unwrap();
        assert!(m.values.is_empty() && m.upfront.is_none());
    }

    #[test]
    fn pgsql_parameters_win_over_derived_paths() {
        let m = run(&[
            ("version", "15"),
            ("clustername", "ha"),
            ("config", "/srv/pg/postgresql.conf"),
            ("pgdata", "/srv/pg"),
        ])
        .unwrap();
        assert!(!m.values.contains_key("config"));
        assert!(!m.values.contains_key("pgdata"));
        assert_eq!(m.values["pgctl"], "/usr/lib/postgresql/15/bin/pg_ctl");
        assert!(!m.upfront.unwrap().by_rule);
    }

    #[test]
    fn extra_keywords_go_to_primary_conninfo_opt_requoted() {
        let m = run(&[(
            "primary",
            "host = 10.0.0.1 sslmode=require password='a b\\'c' keepalives_idle=60",
        )])
        .unwrap();
        assert_eq!(
            m.values["primary_conninfo_opt"],
            r"sslmode=require password='a b\'c' keepalives_idle=60"
        );
        assert_eq!(m.values["master_ip"], "10.0.0.1");
        assert!(!m.values.contains_key("repuser"));
    }

    #[test]
    fn equal_values_are_no_contradiction() {
        let m = run(&[
            ("port", "5435"),
            ("pgport", "05435"),
            ("datadir", "/d"),
            ("pgdata", "/d"),
            ("primary", "host=vip port=5435 user=rep"),
            ("master_ip", "vip"),
            ("repuser", "rep"),
            ("rep_mode", "sync"),
            ("node_list", "a b"),
        ])
        .unwrap();
        assert!(!m.upfront.unwrap().node_list_from_cluster);
    }

    #[test]
    fn contradictions_name_both_parameters() {
        for (pairs, needles) in [
            (
                vec![("datadir", "/a"), ("pgdata", "/b")],
                vec!["datadir=/a", "pgdata=/b", "remove datadir"],
            ),
            (
                vec![("port", "5435"), ("pgport", "5432")],
                vec!["port=5435", "pgport=5432"],
            ),
            (
                vec![
                    ("restorecommand", "cp a %p"),
                    ("restore_command", "cp b %p"),
                ],
                vec!["restorecommand=cp a %p", "restore_command=cp b %p"],
            ),
            (
                vec![("primary", "host=a"), ("master_ip", "b")],
                vec!["host=a", "master_ip=b"],
            ),
            (
                vec![("primary", "host=a user=x"), ("repuser", "y")],
                vec!["user=x", "repuser=y"],
            ),
            (
                vec![("primary", "host=a port=5436"), ("port", "5435")],
                vec!["port=5436", "5435"],
            ),
            (
                vec![("primary", "host=a port=5436")],
                vec!["port=5436", "5432"],
            ),
            (vec![("version", "9.1")], vec!["version=9.1", "clustername"]),
            (
                vec![("clustername", "ha")],
                vec!["clustername=ha", "version"],
            ),
            (
                vec![("version", "9.1;x"), ("clustername", "ha")],
                vec!["version"],
            ),
            (
                vec![("version", "15"), ("clustername", "../x")],
                vec!["clustername"],
            ),
            (vec![("port", "54x")], vec!["port", "54x"]),
            (
                vec![("primary", "host=a"), ("rep_mode", "async")],
                vec!["rep_mode=async", "primary"],
            ),
            (vec![("primary", "user=x")], vec!["no host"]),
            (vec![("primary", "host='a")], vec!["unterminated"]),
            (vec![("primary", "hosta")], vec!["missing"]),
            (vec![("primary", "postgresql://a:5432/x")], vec!["URI"]),
            (
                vec![("primary", "host=a application_name=x")],
                vec!["application_name=x"],
            ),
            (
                vec![
                    ("primary", "host=a sslmode=require"),
                    ("primary_conninfo_opt", "x=1"),
                ],
                vec!["sslmode=require", "x=1"],
            ),
        ] {
            let reason = err(&pairs);
            for n in needles {
                assert!(reason.contains(n), "{pairs:?}: {reason}");
            }
        }
    }

    #[test]
    fn lenient_mapping_keeps_the_pgsql_values() {
        let m: BTreeMap<String, String> = [("datadir", "/a"), ("pgdata", "/b"), ("port", "5435")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |n: &str| m.get(n).map(String::as_str);
        let (mapped, problems) = map(&get, true).unwrap();
        assert_eq!(problems.len(), 1);
        assert!(!mapped.values.contains_key("pgdata"));
        assert_eq!(mapped.values["pgport"], "5435");
    }

    #[test]
    fn primary_is_keywords_only() {
        assert!(parse_conninfo("postgresql://h/db").is_err());
        assert_eq!(
            parse_conninfo("host=a port=5").unwrap(),
            vec![("host".into(), "a".into()), ("port".into(), "5".into())]
        );
        assert!(parse_conninfo("a=1 =2").is_err());
    }
}
