//! The `pgsqlms` configuration: PAF's nine parameters, read once.
//!
//! PAF applies every default with Perl's `||`, so a parameter set to the
//! empty string or to `0` takes its default (`pgport=0` is 5432, `maxlag=`
//! is 0). We keep that rule: configurations that work with PAF work here.
//! Values that cannot be used (`maxlag` not a number, `pgport` not a port)
//! are kept as given and refused by validation, with the parameter named.

use crate::pg::rewind::Rejoin;
use std::path::PathBuf;

use super::params::{
    DEFAULT_BINDIR, DEFAULT_PGDATA, DEFAULT_PGHOST, DEFAULT_PGPORT, DEFAULT_SYSTEM_USER,
};
use crate::ocf::OcfEnv;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub system_user: String,
    pub bindir: PathBuf,
    pub pgdata: PathBuf,
    pub datadir: PathBuf,
    pub pghost: String,
    /// As given (after the default rule), for messages.
    pub pgport_text: String,
    /// `None` when `pgport_text` is not a port number.
    pub pgport: Option<u16>,
    pub start_opts: String,
    pub maxlag_text: String,
    /// `None` when `maxlag_text` is not a number (Perl's looks_like_number).
    pub maxlag: Option<f64>,
    pub recovery_template: PathBuf,
    /// Ours (docs/compatibility.md): `None` when `rejoin_text` is not
    /// off, safe or rewind (validate-all says so).
    pub rejoin: Option<Rejoin>,
    pub rejoin_text: String,
}

/// Perl's `$ENV{x} || default`: unset, empty and "0" all mean the default.
fn perl_or<'a>(env: &'a OcfEnv, name: &str) -> Option<&'a str> {
    env.param(name).filter(|v| !v.is_empty() && *v != "0")
}

/// Perl's `looks_like_number`, close enough for a configuration value:
/// decimal, exponent, sign, and Inf/NaN; surrounding blanks allowed.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.contains('_') {
        return None;
    }
    t.parse::<f64>().ok()
}

impl Config {
    pub fn from_env(env: &OcfEnv) -> Config {
        let pgdata = PathBuf::from(perl_or(env, "pgdata").unwrap_or(DEFAULT_PGDATA));
        let datadir = perl_or(env, "datadir")
            .map(PathBuf::from)
            .unwrap_or_else(|| pgdata.clone());
        let recovery_template = perl_or(env, "recovery_template")
            .map(PathBuf::from)
            .unwrap_or_else(|| pgdata.join("recovery.conf.pcmk"));
        let pgport_text = perl_or(env, "pgport")
            .map(str::to_string)
            .unwrap_or_else(|| DEFAULT_PGPORT.to_string());
        let maxlag_text = perl_or(env, "maxlag").unwrap_or("0").to_string();
        Config {
            system_user: perl_or(env, "system_user")
                .unwrap_or(DEFAULT_SYSTEM_USER)
                .to_string(),
            bindir: PathBuf::from(perl_or(env, "bindir").unwrap_or(DEFAULT_BINDIR)),
            pghost: perl_or(env, "pghost").unwrap_or(DEFAULT_PGHOST).to_string(),
            pgport: pgport_text.trim().parse::<u16>().ok().filter(|p| *p > 0),
            pgport_text,
            start_opts: perl_or(env, "start_opts").unwrap_or("").to_string(),
            maxlag: parse_number(&maxlag_text),
            maxlag_text,
            pgdata,
            datadir,
            recovery_template,
            rejoin: Rejoin::parse(
                env.param("rejoin")
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or("safe"),
            ),
            rejoin_text: env.param("rejoin").unwrap_or("").to_string(),
        }
    }

    pub fn bin(&self, program: &str) -> PathBuf {
        self.bindir.join(program)
    }

    /// The port, once validation has accepted it.
    pub fn port(&self) -> u16 {
        self.pgport.unwrap_or(DEFAULT_PGPORT)
    }

    /// Lag above which a standby's score is made negative; `None` when the
    /// check is disabled (0, negative or NaN, as PAF's `maxlag > 0`).
    pub fn maxlag_limit(&self) -> Option<f64> {
        self.maxlag.filter(|m| *m > 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_env(&OcfEnv::from_params(pairs))
    }

    #[test]
    fn defaults_and_perl_or() {
        let c = cfg(&[("pgport", "0"), ("maxlag", ""), ("pghost", "")]);
        let got = (
            c.pgport,
            c.maxlag_limit(),
            c.pghost.as_str(),
            c.system_user.as_str(),
            c.datadir.to_str(),
            c.recovery_template.to_str(),
        );
        let want = (
            Some(5432),
            None,
            "/var/run/postgresql",
            "postgres",
            Some("/var/lib/pgsql/data"),
            Some("/var/lib/pgsql/data/recovery.conf.pcmk"),
        );
        assert_eq!(got, want);
    }

    #[test]
    fn datadir_and_template_follow_pgdata() {
        let c = cfg(&[("pgdata", "/etc/postgresql/15/main")]);
        assert_eq!(c.datadir, PathBuf::from("/etc/postgresql/15/main"));
        let c = cfg(&[("pgdata", "/a"), ("datadir", "/b")]);
        assert_eq!(c.datadir, PathBuf::from("/b"));
        assert_eq!(c.recovery_template, PathBuf::from("/a/recovery.conf.pcmk"));
    }

    #[test]
    fn numbers_like_perl() {
        assert_eq!(parse_number("1e6"), Some(1e6));
        assert_eq!(parse_number(" 12 "), Some(12.0));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number("1_000"), None);
        assert_eq!(parse_number("0x10"), None);
        let c = cfg(&[("maxlag", "abc"), ("pgport", "x")]);
        assert_eq!(c.maxlag, None);
        assert_eq!(c.pgport, None);
        assert_eq!(cfg(&[("maxlag", "-5")]).maxlag_limit(), None);
        assert_eq!(cfg(&[("maxlag", "1000")]).maxlag_limit(), Some(1000.0));
    }
}
