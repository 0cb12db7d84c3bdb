//! WAL positions (LSNs) and their wire formats.
//!
//! PostgreSQL prints `16/B374D848`; the pgsql agents publish positions in the
//! `<rsc>-xlog-loc` attribute as 16 upper-case hex digits (`00000016B374D848`)
//! so that other nodes, including ones still running the shell agent, can
//! compare them as strings. Both forms round-trip through `Lsn`.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// PostgreSQL's `X/Y` text form.
    pub fn parse_pg(s: &str) -> Option<Lsn> {
        let (hi, lo) = s.trim().split_once('/')?;
        if hi.is_empty() || lo.is_empty() || hi.len() > 8 || lo.len() > 8 {
            return None;
        }
        let hi = u32::from_str_radix(hi, 16).ok()?;
        let lo = u32::from_str_radix(lo, 16).ok()?;
        Some(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }

    /// The 16-hex-digit attribute form (either case accepted).
    pub fn parse_attr(s: &str) -> Option<Lsn> {
        let s = s.trim();
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(Lsn)
    }

    /// `00000016B374D848`: what the reference writes to `<rsc>-xlog-loc`.
    pub fn to_attr(self) -> String {
        format!("{:016X}", self.0)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_example() {
        let l = Lsn::parse_pg("16/B374D848").unwrap();
        assert_eq!(l.to_attr(), "00000016B374D848");
        assert_eq!(Lsn::parse_attr("00000016B374D848"), Some(l));
        assert_eq!(l.to_string(), "16/B374D848");
    }

    #[test]
    fn zero_and_order() {
        assert_eq!(Lsn::default().to_attr(), "0000000000000000");
        let a = Lsn::parse_pg("0/3000060").unwrap();
        let b = Lsn::parse_pg("1/0").unwrap();
        assert!(a < b);
        // String order of the attribute form is numeric order.
        assert!(a.to_attr() < b.to_attr());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Lsn::parse_pg(""), None);
        assert_eq!(Lsn::parse_pg("0/"), None);
        assert_eq!(Lsn::parse_pg("G/1"), None);
        assert_eq!(Lsn::parse_attr("123"), None);
        assert_eq!(Lsn::parse_attr("000000000000000G"), None);
    }
}
