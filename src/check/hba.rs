//! Would `pg_hba.conf` let a given address in for physical replication as a
//! given role? Answered from the rows of `pg_hba_file_rules`, the way the
//! server reads the file: the first line whose connection type, database,
//! user and address match decides, and `reject` there is a refusal
//! (docs/troubleshooting.md, "pgsql-ra check", `hba-replication`).

use std::net::IpAddr;

/// One row of `pg_hba_file_rules`, as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub line: u32,
    /// `local`, `host`, `hostssl`, `hostnossl`, `hostgssenc`, `hostnogssenc`.
    pub kind: String,
    pub databases: Vec<String>,
    pub users: Vec<String>,
    /// An address, `all`, `samehost`, `samenet` or a host name.
    pub address: Option<String>,
    pub netmask: Option<String>,
    pub method: String,
    /// The server's complaint about the line, when it cannot be used.
    pub error: Option<String>,
}

/// An address of this host with the netmask of its interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalNet {
    pub addr: IpAddr,
    pub mask: IpAddr,
}

/// What the first matching line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let in, by this line.
    Allowed(u32),
    /// Refused by a `reject` line.
    Rejected(u32),
    /// No line matches. `groups` is set when lines for `+group` users were
    /// skipped (membership is not evaluated).
    NoLine { groups: bool },
}

/// The first rule of `rules` that a physical replication connection from
/// `client` as `user` matches. `resolve` turns a host name of a rule into
/// addresses.
pub fn verdict(
    rules: &[Rule],
    client: IpAddr,
    user: &str,
    local: &[LocalNet],
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> Verdict {
    let mut groups = false;
    for r in rules {
        if r.error.is_some() || !r.kind.starts_with("host") {
            continue;
        }
        // A physical replication connection matches only the `replication`
        // keyword: `all` does not cover it.
        if !r.databases.iter().any(|d| d == "replication") {
            continue;
        }
        let user_matches = r.users.iter().any(|u| u == "all" || u == user);
        if !user_matches {
            groups |= r.users.iter().any(|u| u.starts_with('+'));
            continue;
        }
        if !address_matches(r, client, local, resolve) {
            continue;
        }
        return if r.method == "reject" {
            Verdict::Rejected(r.line)
        } else {
            Verdict::Allowed(r.line)
        };
    }
    Verdict::NoLine { groups }
}

fn address_matches(
    r: &Rule,
    client: IpAddr,
    local: &[LocalNet],
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> bool {
    let Some(addr) = r.address.as_deref() else {
        return false;
    };
    match addr {
        "all" => true,
        "samehost" => local.iter().any(|n| n.addr == client),
        "samenet" => local.iter().any(|n| in_net(client, n.addr, n.mask)),
        _ => match addr.parse::<IpAddr>() {
            Ok(net) => {
                let mask = r
                    .netmask
                    .as_deref()
                    .and_then(|m| m.parse::<IpAddr>().ok())
                    .unwrap_or(match net {
                        IpAddr::V4(_) => IpAddr::from([255u8; 4]),
                        IpAddr::V6(_) => IpAddr::from([255u8; 16]),
                    });
                in_net(client, net, mask)
            }
            // A host name (or a .domain suffix, which needs a reverse
            // lookup: not matched here).
            Err(_) => !addr.starts_with('.') && resolve(addr).contains(&client),
        },
    }
}

/// Is `ip` in the network `net`/`mask` (same address family)?
pub fn in_net(ip: IpAddr, net: IpAddr, mask: IpAddr) -> bool {
    let bytes = |a: IpAddr| match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    let (ip, net, mask) = (bytes(ip), bytes(net), bytes(mask));
    ip.len() == net.len()
        && net.len() == mask.len()
        && ip
            .iter()
            .zip(&net)
            .zip(&mask)
            .all(|((i, n), m)| i & m == n & m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(line: u32, db: &str, user: &str, addr: &str, mask: &str, method: &str) -> Rule {
        Rule {
            line,
            kind: "host".into(),
            databases: db.split(',').map(str::to_string).collect(),
            users: user.split(',').map(str::to_string).collect(),
            address: Some(addr.to_string()),
            netmask: (!mask.is_empty()).then(|| mask.to_string()),
            method: method.into(),
            error: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn none(_: &str) -> Vec<IpAddr> {
        Vec::new()
    }

    #[test]
    fn network_and_mask() {
        let rules = [rule(
            90,
            "replication",
            "repl",
            "10.0.0.0",
            "255.255.255.0",
            "scram-sha-256",
        )];
        assert_eq!(
            verdict(&rules, ip("10.0.0.7"), "repl", &[], &none),
            Verdict::Allowed(90)
        );
        assert_eq!(
            verdict(&rules, ip("10.0.1.7"), "repl", &[], &none),
            Verdict::NoLine { groups: false }
        );
        assert_eq!(
            verdict(&rules, ip("10.0.0.7"), "other", &[], &none),
            Verdict::NoLine { groups: false }
        );
    }

    #[test]
    fn all_databases_do_not_cover_replication() {
        let rules = [rule(1, "all", "all", "all", "", "trust")];
        assert_eq!(
            verdict(&rules, ip("10.0.0.7"), "repl", &[], &none),
            Verdict::NoLine { groups: false }
        );
    }

    #[test]
    fn first_match_decides_and_reject_refuses() {
        let rules = [
            rule(
                1,
                "replication",
                "all",
                "10.0.0.7",
                "255.255.255.255",
                "reject",
            ),
            rule(2, "replication", "all", "0.0.0.0", "0.0.0.0", "trust"),
        ];
        assert_eq!(
            verdict(&rules, ip("10.0.0.7"), "repl", &[], &none),
            Verdict::Rejected(1)
        );
        assert_eq!(
            verdict(&rules, ip("10.0.0.8"), "repl", &[], &none),
            Verdict::Allowed(2)
        );
    }

    #[test]
    fn groups_are_noted_local_lines_and_errors_skipped() {
        let mut local = rule(1, "replication", "all", "", "", "trust");
        local.kind = "local".into();
        local.address = None;
        let mut broken = rule(2, "replication", "all", "all", "", "trust");
        broken.error = Some("invalid".into());
        let group = rule(3, "replication", "+replicators", "all", "", "trust");
        let rules = [local, broken, group];
        assert_eq!(
            verdict(&rules, ip("10.0.0.7"), "repl", &[], &none),
            Verdict::NoLine { groups: true }
        );
    }

    #[test]
    fn samehost_samenet_and_names() {
        let net = LocalNet {
            addr: ip("192.168.1.10"),
            mask: ip("255.255.255.0"),
        };
        let same_host = [rule(1, "replication", "all", "samehost", "", "trust")];
        assert_eq!(
            verdict(&same_host, ip("192.168.1.10"), "r", &[net], &none),
            Verdict::Allowed(1)
        );
        assert!(matches!(
            verdict(&same_host, ip("192.168.1.11"), "r", &[net], &none),
            Verdict::NoLine { .. }
        ));
        let same_net = [rule(1, "replication", "all", "samenet", "", "trust")];
        assert_eq!(
            verdict(&same_net, ip("192.168.1.11"), "r", &[net], &none),
            Verdict::Allowed(1)
        );
        assert!(matches!(
            verdict(&same_net, ip("192.168.2.11"), "r", &[net], &none),
            Verdict::NoLine { .. }
        ));
        let named = [rule(1, "replication", "all", "node2", "", "trust")];
        let resolve = |n: &str| {
            if n == "node2" {
                vec![ip("10.0.0.2")]
            } else {
                vec![]
            }
        };
        assert_eq!(
            verdict(&named, ip("10.0.0.2"), "r", &[], &resolve),
            Verdict::Allowed(1)
        );
    }

    #[test]
    fn ipv6_and_family_mismatch() {
        let rules = [rule(
            1,
            "replication",
            "all",
            "fd00::",
            "ffff:ffff::",
            "trust",
        )];
        assert_eq!(
            verdict(&rules, ip("fd00::5"), "r", &[], &none),
            Verdict::Allowed(1)
        );
        assert!(!in_net(ip("10.0.0.1"), ip("fd00::"), ip("ffff::")));
    }
}
