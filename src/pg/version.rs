//! The PostgreSQL major version of a data directory (`PG_VERSION`).
//!
//! Several behaviours switch on it: where recovery settings live (12+),
//! which WAL functions exist (10+), whether replication slots exist (9.4+).

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgVersion {
    pub major: u32,
    pub minor: u32,
}

impl PgVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        PgVersion { major, minor }
    }

    /// `9.6` or `16`; anything else is `None`.
    pub fn parse(s: &str) -> Option<PgVersion> {
        let s = s.trim();
        let mut parts = s.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = match parts.next() {
            Some(m) => m.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(PgVersion { major, minor })
    }

    pub fn read(pgdata: &Path) -> Option<PgVersion> {
        Self::parse(&std::fs::read_to_string(pgdata.join("PG_VERSION")).ok()?)
    }

    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self.cmp(&PgVersion::new(major, minor)) != Ordering::Less
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major < 10 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}", self.major)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_schemes() {
        assert_eq!(PgVersion::parse("9.6\n"), Some(PgVersion::new(9, 6)));
        assert_eq!(PgVersion::parse("16"), Some(PgVersion::new(16, 0)));
        assert_eq!(PgVersion::parse(""), None);
        assert_eq!(PgVersion::parse("x"), None);
    }

    #[test]
    fn ordering() {
        let v = PgVersion::parse("9.4").unwrap();
        assert!(v.at_least(9, 3));
        assert!(v.at_least(9, 4));
        assert!(!v.at_least(10, 0));
        assert!(PgVersion::parse("12").unwrap().at_least(9, 4));
    }
}
