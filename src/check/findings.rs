//! The verdicts of `pgsql-ra check`: from a snapshot of facts and the
//! resource's parameters to findings, each saying what is wrong, why it
//! matters and the exact fix. Pure, so every rule is tested here without a
//! host; the ids and their texts are listed in docs/troubleshooting.md,
//! "pgsql-ra check".

use std::net::IpAddr;

use super::facts::{Facts, FileMeta, Server};
use super::hba::{self, Verdict};
use crate::agents::pgsql::config::{Config, Rejoin};

/// Whose contract the parameters follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Personality {
    /// ocf:heartbeat:pgsql's: `node_list`, `master_ip`, `tmpdir`, `repuser`.
    Pgsql,
    /// PAF's pgsqlms: the standby's own `primary_conninfo` names the node.
    Pgsqlms,
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable short id (`wal-level`, `hba-replication`...).
    pub id: &'static str,
    pub what: String,
    pub why: String,
    pub fix: String,
}

fn finding(id: &'static str, what: String, why: &str, fix: String) -> Finding {
    Finding {
        id,
        what,
        why: why.to_string(),
        fix,
    }
}

/// The nodes other than this one (`node_list` is lower-cased, as the agent
/// compares names).
fn others<'a>(cfg: &'a Config, facts: &Facts) -> Vec<&'a String> {
    let me = facts.local_node.to_ascii_lowercase();
    cfg.node_list.iter().filter(|n| **n != me).collect()
}

/// Everything wrong with `facts` for the configuration `cfg`. `problems`
/// are the parameter values the configuration could not parse.
pub fn findings(
    facts: &Facts,
    cfg: &Config,
    personality: Personality,
    problems: &[String],
) -> Vec<Finding> {
    let pgsql = personality == Personality::Pgsql;
    let mut out = Vec::new();
    for p in problems {
        out.push(finding(
            "parameter",
            format!("a parameter is invalid: {p}"),
            "the agent refuses to start, promote or monitor with an invalid value",
            "correct the value in the resource: pcs resource update <resource> NAME=VALUE \
             (or crm configure edit)"
                .to_string(),
        ));
    }
    if facts.timed_out {
        out.push(finding(
            "timeout",
            "the check ran out of time: what it could not ask in time is reported as failing"
                .to_string(),
            "a name service, the local server or the server at master_ip answered too slowly \
             (the other findings say which)",
            "run it again with a longer --timeout (seconds)".to_string(),
        ));
    }
    let replication = cfg.rep_mode.is_replication();
    if replication && pgsql {
        node_name(facts, cfg, &mut out);
        for peer in &facts.peers {
            if let Err(e) = &peer.addrs {
                out.push(finding(
                    "node-unresolvable",
                    format!("{} '{}' does not resolve: {e}", peer.source, peer.name),
                    "its address cannot be checked against pg_hba.conf, and the cluster \
                     depends on the name service on every node",
                    format!(
                        "add the node to /etc/hosts on every node: <address> {}",
                        peer.name
                    ),
                ));
            }
        }
        master_ip(facts, cfg, &mut out);
        primary(facts, cfg, &mut out);
    }
    if facts.dba_uid.is_none() {
        out.push(finding(
            "pgdba",
            format!(
                "the operating-system user pgdba={} does not exist",
                cfg.pgdba
            ),
            "PostgreSQL and every command of the agent run as this user",
            "set pgdba to the user that owns the data directory (postgres on most systems)"
                .to_string(),
        ));
    }
    files(facts, cfg, replication && pgsql, &mut out);
    match &facts.server {
        _ if !replication => {}
        None => {}
        Some(Err(e)) => out.push(finding(
            "server",
            format!("cannot ask the local PostgreSQL: {e}"),
            "its settings and pg_hba.conf rules could not be checked",
            format!(
                "start PostgreSQL on this node by hand for the check (pg_ctl -D {} start, as \
                 {}), or give the connection parameters of the resource (pgport, socketdir, \
                 pghost, monitor_user) with --param; stop it again before Pacemaker takes over",
                cfg.pgdata.display(),
                cfg.pgdba
            ),
        )),
        Some(Ok(server)) => {
            settings(server, cfg, facts, &mut out);
            if pgsql {
                repuser(server, cfg, &mut out);
                hba_rules(server, cfg, facts, &mut out);
            } else {
                standby_settings(server, facts, &mut out);
            }
        }
    }
    for d in &facts.archive_dirs {
        if !d.is_dir || !d.writable {
            let state = if d.is_dir {
                "is not writable by"
            } else {
                "does not exist or is not a directory for"
            };
            out.push(finding(
                "archive-dir",
                format!(
                    "the directory of {} ({}) {state} {}",
                    d.setting,
                    d.dir.display(),
                    cfg.pgdba
                ),
                "PostgreSQL runs the archive and restore commands as its own user: archiving \
                 fails and WAL piles up in pg_wal on the primary, and a standby that falls \
                 behind cannot catch up from the archive",
                format!(
                    "install -d -o {} -m 700 {} (on shared storage, mounted on every node)",
                    cfg.pgdba,
                    d.dir.display()
                ),
            ));
        }
    }
    if let Some((path, word)) = &facts.start_conf {
        if word != "disabled" {
            let shown = if word.is_empty() { "empty" } else { word };
            out.push(finding(
                "start-conf",
                format!("{} says {shown}, not disabled", path.display()),
                "with auto, systemd starts PostgreSQL at boot behind Pacemaker's back; with \
                 manual, pg_ctlcluster and the postgresql service still start it by hand: \
                 two servers may then run as primary",
                format!("echo disabled > {}", path.display()),
            ));
        }
    }
    out
}

fn node_name(facts: &Facts, cfg: &Config, out: &mut Vec<Finding>) {
    if cfg.node_list_from_cluster() {
        return;
    }
    let me = facts.local_node.to_ascii_lowercase();
    if !cfg.node_list.contains(&me) {
        out.push(finding(
            "node-name",
            format!(
                "this node's name '{}' is not in node_list ({})",
                facts.local_node,
                cfg.node_list.join(" ")
            ),
            "the agent knows the nodes by their Pacemaker names (crm_node -n): this node \
             would never be named a synchronous standby, nor get its replication slot",
            format!(
                "pcs resource update <resource> node_list=\"{}\" (the names crm_node -n prints \
                 on each node)",
                cfg.node_list
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::once(me.as_str()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ));
    }
}

/// `master_ip` up on this host while no primary runs here: an address
/// configured outside Pacemaker.
fn master_ip(facts: &Facts, cfg: &Config, out: &mut Vec<Finding>) {
    let Ok(ip) = cfg.master_ip.parse::<IpAddr>() else {
        return;
    };
    let primary_here = matches!(&facts.server, Some(Ok(s)) if !s.in_recovery);
    if !primary_here && facts.local_nets.iter().any(|n| n.addr == ip) {
        out.push(finding(
            "master-ip-local",
            format!("master_ip {ip} is an address of this host, and no primary runs here"),
            "standbys follow whoever holds master_ip: an address configured outside \
             Pacemaker (network configuration, a leftover) sends them to a server that is not \
             the primary, or to none",
            format!(
                "ip addr del {ip}/<prefix> dev <interface>, and remove it from the network \
                 configuration; Pacemaker's IPaddr2 resource, colocated with the promoted \
                 role, is its only owner"
            ),
        ));
    }
}

/// The primary at `master_ip`: reachable for replication, the same
/// database cluster and major version as this node's.
fn primary(facts: &Facts, cfg: &Config, out: &mut Vec<Finding>) {
    let Some(answer) = &facts.primary else {
        return;
    };
    match answer {
        Err(e) => out.push(finding(
            "primary-replication",
            format!(
                "a server answers at master_ip {}:{}, but a replication connection as {} \
                 fails: {e}",
                cfg.master_ip, cfg.pgport, cfg.repuser
            ),
            "this node cannot stream from the primary as a standby: it falls behind and \
             cannot be promoted safely",
            format!(
                "on the primary, a pg_hba.conf line for this node: host replication {} \
                 <this node's address>/32 scram-sha-256; on this node, {}'s .pgpass: \
                 {}:{}:replication:{}:<password>",
                cfg.repuser, cfg.pgdba, cfg.master_ip, cfg.pgport, cfg.repuser
            ),
        )),
        Ok((system_id, major)) => {
            let mine = match &facts.server {
                Some(Ok(s)) => s.system_id.as_deref(),
                _ => None,
            };
            let why = "a standby streams only from a primary of the same database cluster \
                       (system identifier) and major version: this node cannot follow it";
            let fix = format!(
                "rebuild this node's data directory from the primary: stop PostgreSQL, move \
                 {} aside, then pg_basebackup -h {} -p {} -U {} -D {} -X stream (as {})",
                cfg.pgdata.display(),
                cfg.master_ip,
                cfg.pgport,
                cfg.repuser,
                cfg.pgdata.display(),
                cfg.pgdba
            );
            if let Some(mine) = mine.filter(|m| m != system_id) {
                out.push(finding(
                    "primary-mismatch",
                    format!(
                        "the primary at master_ip {} has system identifier {system_id}, \
                         this node {mine}",
                        cfg.master_ip
                    ),
                    why,
                    fix,
                ));
            } else if let Some(local) = facts.local_major.filter(|m| m != major) {
                out.push(finding(
                    "primary-mismatch",
                    format!(
                        "the primary at master_ip {} runs PostgreSQL {major}, this node's data \
                         directory is {local}",
                        cfg.master_ip
                    ),
                    why,
                    fix,
                ));
            }
        }
    }
}

fn files(facts: &Facts, cfg: &Config, replication: bool, out: &mut Vec<Finding>) {
    let dba = facts.dba_uid;
    let owner_fix = |path: &std::path::Path, mode: &str| {
        format!(
            "chown {} {} && chmod {mode} {}",
            cfg.pgdba,
            path.display(),
            path.display()
        )
    };
    match facts.pgdata {
        None => out.push(finding(
            "pgdata-missing",
            format!("pgdata {} does not exist", cfg.pgdata.display()),
            "there is no database cluster to start",
            format!(
                "set pgdata to the data directory, or create it: initdb -D {} (as {}), or \
                 pg_basebackup from the primary on a standby",
                cfg.pgdata.display(),
                cfg.pgdba
            ),
        )),
        Some(FileMeta { uid, mode, is_dir }) => {
            if dba.is_some_and(|d| d != uid) {
                out.push(finding(
                    "pgdata-owner",
                    format!(
                        "pgdata {} is owned by uid {uid}, not by {}",
                        cfg.pgdata.display(),
                        cfg.pgdba
                    ),
                    "PostgreSQL refuses to start on a data directory its user does not own",
                    format!("chown -R {} {}", cfg.pgdba, cfg.pgdata.display()),
                ));
            }
            if is_dir && mode & 0o027 != 0 {
                out.push(finding(
                    "pgdata-mode",
                    format!(
                        "pgdata {} has mode {mode:04o}: group-writable or open to others",
                        cfg.pgdata.display()
                    ),
                    "PostgreSQL refuses to start unless the data directory is 0700 or 0750",
                    format!("chmod 0700 {}", cfg.pgdata.display()),
                ));
            }
        }
    }
    if !replication {
        return;
    }
    match facts.tmpdir {
        None => out.push(finding(
            "tmpdir-missing",
            format!("tmpdir {} does not exist", cfg.tmpdir.display()),
            "the agent keeps PGSQL.lock, rep_mode.conf and the recovery settings there; \
             PGSQL.lock must survive a reboot, so tmpdir must be on local persistent \
             storage, a path chosen on purpose rather than a default that does not exist",
            format!(
                "install -d -o {} -m 700 {} (or set tmpdir to an existing directory)",
                cfg.pgdba,
                cfg.tmpdir.display()
            ),
        )),
        Some(FileMeta { uid, mode, .. }) => {
            if dba.is_some_and(|d| d != uid) {
                out.push(finding(
                    "tmpdir-owner",
                    format!(
                        "tmpdir {} is owned by uid {uid}, not by {}",
                        cfg.tmpdir.display(),
                        cfg.pgdba
                    ),
                    "PostgreSQL reads the recovery settings the agent writes there, and the \
                     owner of the directory controls PGSQL.lock, which blocks a start",
                    owner_fix(&cfg.tmpdir, "0700"),
                ));
            }
            if mode & 0o022 != 0 {
                out.push(finding(
                    "tmpdir-mode",
                    format!(
                        "tmpdir {} has mode {mode:04o}: writable by group or others",
                        cfg.tmpdir.display()
                    ),
                    "another user could plant or remove PGSQL.lock or change the recovery \
                     settings PostgreSQL reads",
                    format!("chmod 0700 {}", cfg.tmpdir.display()),
                ));
            }
        }
    }
}

fn setting<'a>(server: &'a Server, name: &str) -> &'a str {
    server.settings.get(name).map(String::as_str).unwrap_or("")
}

fn conf_line(server: &Server, line: &str) -> String {
    let file = setting(server, "config_file");
    let file = if file.is_empty() {
        "postgresql.conf"
    } else {
        file
    };
    format!("in {file}: {line} (then restart PostgreSQL)")
}

fn settings(server: &Server, cfg: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let wal_level = setting(server, "wal_level");
    if !matches!(wal_level, "replica" | "logical" | "hot_standby" | "archive") {
        out.push(finding(
            "wal-level",
            format!("wal_level is {wal_level}, not replica or logical"),
            "a standby cannot stream from a primary with wal_level=minimal: replication \
             mode cannot work",
            conf_line(server, "wal_level = replica"),
        ));
    }
    let peers = others(cfg, facts).len() + cfg.external_standby_node_list.len();
    let number = |name: &str| setting(server, name).trim().parse::<usize>().unwrap_or(0);
    let senders = number("max_wal_senders");
    if senders < peers {
        out.push(finding(
            "max-wal-senders",
            format!(
                "max_wal_senders is {senders}; the {peers} other node(s) of node_list \
                 need at least {peers}"
            ),
            "every standby holds one WAL sender on the primary; one more is refused and \
             stays out of date",
            conf_line(
                server,
                &format!("max_wal_senders = {}", (peers + 2).max(10)),
            ),
        ));
    }
    let slots = number("max_replication_slots");
    if !cfg.replication_slot_name.is_empty() && slots < peers {
        out.push(finding(
            "max-replication-slots",
            format!(
                "max_replication_slots is {slots}; replication_slot_name is set and the \
                 {peers} other node(s) need one slot each"
            ),
            "the agent creates one slot per standby on the primary: a missing slot fails \
             the promotion's slot setup and the standby streams without one",
            conf_line(
                server,
                &format!("max_replication_slots = {}", (peers + 2).max(10)),
            ),
        ));
    }
    if setting(server, "hot_standby") != "on" {
        out.push(finding(
            "hot-standby",
            "hot_standby is off".to_string(),
            "the agent monitors a standby with SQL: a standby that accepts no connection \
             is reported as failed",
            conf_line(server, "hot_standby = on"),
        ));
    }
    if cfg.rejoin == Rejoin::Rewind
        && setting(server, "wal_log_hints") != "on"
        && setting(server, "data_checksums") != "on"
    {
        out.push(finding(
            "wal-log-hints",
            "rejoin=rewind, but wal_log_hints is off and the cluster has no data checksums"
                .to_string(),
            "pg_rewind refuses to run without one of them: a former primary cannot be \
             rewound and stays out of the cluster",
            conf_line(server, "wal_log_hints = on"),
        ));
    }
}

/// pgsqlms on PostgreSQL 12 and later: the standby settings live in the
/// server's configuration, and `primary_conninfo` names this node (what
/// pgsqlms refuses a start without). The value may hold a password: only
/// its `application_name` is printed.
fn standby_settings(server: &Server, facts: &Facts, out: &mut Vec<Finding>) {
    let version: u32 = setting(server, "server_version_num").parse().unwrap_or(0);
    if version < 120000 {
        return;
    }
    let conninfo = setting(server, "primary_conninfo");
    let name = crate::pg::conninfo::application_name(conninfo);
    if name.as_deref() != Some(facts.local_node.as_str()) {
        let what = match &name {
            Some(n) => format!(
                "primary_conninfo says application_name={n}, not this node's name {}",
                facts.local_node
            ),
            None => format!(
                "primary_conninfo has no application_name (this node's name {})",
                facts.local_node
            ),
        };
        out.push(finding(
            "application-name",
            what,
            "pgsqlms finds each standby in pg_stat_replication by its node name (case \
             matters): it refuses to start this node as a standby, and could not score it for \
             promotion",
            conf_line(
                server,
                &format!(
                    "primary_conninfo = 'host=<virtual IP> port=<port> user=<replication \
                     user> application_name={}'",
                    facts.local_node
                ),
            ),
        ));
    }
    let timeline = setting(server, "recovery_target_timeline");
    if timeline != "latest" {
        out.push(finding(
            "recovery-target-timeline",
            format!("recovery_target_timeline is '{timeline}', not 'latest'"),
            "a standby must follow the new primary's timeline after a failover: pgsqlms \
             refuses to start it otherwise",
            conf_line(server, "recovery_target_timeline = 'latest'"),
        ));
    }
}

fn repuser(server: &Server, cfg: &Config, out: &mut Vec<Finding>) {
    let problem = match server.repuser {
        None => Some(format!(
            "the replication user repuser={} does not exist",
            cfg.repuser
        )),
        Some(r) if !r.login => Some(format!("the role {} cannot log in", cfg.repuser)),
        Some(r) if !r.replication && !r.superuser => Some(format!(
            "the role {} has neither REPLICATION nor SUPERUSER",
            cfg.repuser
        )),
        Some(_) => None,
    };
    if let Some(what) = problem {
        out.push(finding(
            "repuser",
            what,
            "standbys connect to the primary as repuser: the server refuses them",
            format!(
                "on the primary: CREATE ROLE {} LOGIN REPLICATION (or ALTER ROLE {} LOGIN \
                 REPLICATION), with a password in the standbys' .pgpass if the pg_hba.conf \
                 method asks for one",
                cfg.repuser, cfg.repuser
            ),
        ));
    }
}

fn hba_rules(server: &Server, cfg: &Config, facts: &Facts, out: &mut Vec<Finding>) {
    let hba_file = setting(server, "hba_file");
    let hba_file = if hba_file.is_empty() {
        "pg_hba.conf"
    } else {
        hba_file
    };
    let rules = match &server.hba {
        Ok(r) => r,
        Err(e) => {
            out.push(finding(
                "hba-unreadable",
                format!("pg_hba_file_rules cannot be read: {e}"),
                "whether the other nodes may connect for replication is unchecked",
                format!(
                    "run the check with a superuser as monitor_user (--param monitor_user={})",
                    cfg.pgdba
                ),
            ));
            return;
        }
    };
    let resolve =
        |name: &str| -> Vec<IpAddr> { facts.hba_names.get(name).cloned().unwrap_or_default() };
    for peer in &facts.peers {
        let Ok(addrs) = &peer.addrs else {
            continue;
        };
        for addr in addrs {
            let why = "the node cannot stream from this node when this node is the \
                       primary: it stays a standby out of date, and cannot be promoted \
                       safely";
            let cidr = if addr.is_ipv4() { 32 } else { 128 };
            let line = format!(
                "host replication {} {addr}/{cidr} scram-sha-256",
                cfg.repuser
            );
            match hba::verdict(rules, *addr, &cfg.repuser, &facts.local_nets, &resolve) {
                Verdict::Allowed(_) => {}
                Verdict::Rejected(n) => out.push(finding(
                    "hba-replication",
                    format!(
                        "{hba_file} line {n} rejects replication connections from {} {} \
                         ({addr}) as {}",
                        peer.source, peer.name, cfg.repuser
                    ),
                    why,
                    format!(
                        "add before line {n} of {hba_file}: {line}; then SELECT \
                         pg_reload_conf();"
                    ),
                )),
                Verdict::NoLine { groups } => out.push(finding(
                    "hba-replication",
                    format!(
                        "no line of {hba_file} lets {} {} ({addr}) connect for replication \
                         as {}{}",
                        peer.source,
                        peer.name,
                        cfg.repuser,
                        if groups {
                            " (lines for +group users were not evaluated)"
                        } else {
                            ""
                        }
                    ),
                    why,
                    format!("add to {hba_file}: {line}; then SELECT pg_reload_conf();"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::facts::{ArchiveDir, Peer, Role};
    use super::super::hba::Rule;
    use super::*;
    use crate::ocf::OcfEnv;

    fn cfg(extra: &[(&str, &str)]) -> Config {
        let mut p = vec![
            ("rep_mode", "sync"),
            ("node_list", "node1 node2 node3"),
            ("master_ip", "10.0.0.100"),
            ("pgdata", "/var/lib/pgsql/data"),
            ("tmpdir", "/var/lib/pgsql/tmp"),
        ];
        p.extend_from_slice(extra);
        Config::from_env(&OcfEnv::from_params(&p)).unwrap()
    }

    fn server() -> Server {
        let settings = [
            ("wal_level", "replica"),
            ("max_wal_senders", "10"),
            ("max_replication_slots", "10"),
            ("hot_standby", "on"),
            ("wal_log_hints", "off"),
            ("data_checksums", "off"),
            ("config_file", "/etc/postgresql/15/main/postgresql.conf"),
            ("hba_file", "/etc/postgresql/15/main/pg_hba.conf"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Server {
            settings,
            in_recovery: false,
            hba: Ok(vec![Rule {
                line: 100,
                kind: "host".into(),
                databases: vec!["replication".into()],
                users: vec!["all".into()],
                address: Some("10.0.0.0".into()),
                netmask: Some("255.255.255.0".into()),
                method: "scram-sha-256".into(),
                error: None,
            }]),
            repuser: Some(Role {
                login: true,
                replication: true,
                superuser: false,
            }),
            system_id: None,
        }
    }

    fn facts() -> Facts {
        let dir = |mode| {
            Some(FileMeta {
                uid: 26,
                mode,
                is_dir: true,
            })
        };
        let peer = |name: &str, source, ip: &str| Peer {
            name: name.into(),
            source,
            addrs: Ok(vec![ip.parse().unwrap()]),
        };
        Facts {
            local_node: "Node1".into(),
            server: Some(Ok(server())),
            dba_uid: Some(26),
            pgdata: dir(0o700),
            tmpdir: dir(0o700),
            peers: vec![
                peer("node2", "node_list", "10.0.0.2"),
                peer("node3", "node_list", "10.0.0.3"),
                peer("10.0.0.100", "master_ip", "10.0.0.100"),
            ],
            ..Facts::default()
        }
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_correct_setup_has_no_finding() {
        assert_eq!(
            findings(&facts(), &cfg(&[]), Personality::Pgsql, &[]),
            vec![]
        );
    }

    #[test]
    fn each_setting() {
        let with = |name: &str, value: &str, extra: &[(&str, &str)]| {
            let mut f = facts();
            if let Some(Ok(s)) = &mut f.server {
                s.settings.insert(name.into(), value.into());
            }
            ids(&findings(&f, &cfg(extra), Personality::Pgsql, &[]))
        };
        assert_eq!(with("wal_level", "minimal", &[]), ["wal-level"]);
        assert_eq!(with("wal_level", "logical", &[]), Vec::<&str>::new());
        assert_eq!(with("max_wal_senders", "1", &[]), ["max-wal-senders"]);
        assert_eq!(with("max_wal_senders", "2", &[]), Vec::<&str>::new());
        assert_eq!(with("max_replication_slots", "1", &[]), Vec::<&str>::new());
        assert_eq!(
            with(
                "max_replication_slots",
                "1",
                &[("replication_slot_name", "s")]
            ),
            ["max-replication-slots"]
        );
        assert_eq!(with("hot_standby", "off", &[]), ["hot-standby"]);
        assert_eq!(
            with("wal_log_hints", "off", &[("rejoin", "rewind")]),
            ["wal-log-hints"]
        );
        assert_eq!(
            with("data_checksums", "on", &[("rejoin", "rewind")]),
            Vec::<&str>::new()
        );
        assert_eq!(
            with("wal_log_hints", "on", &[("rejoin", "rewind")]),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn settings_are_not_judged_outside_replication() {
        let mut f = facts();
        if let Some(Ok(s)) = &mut f.server {
            s.settings.insert("wal_level".into(), "minimal".into());
        }
        let c = cfg(&[("rep_mode", "none")]);
        assert_eq!(findings(&f, &c, Personality::Pgsql, &[]), vec![]);
    }

    #[test]
    fn hba_and_names() {
        let mut f = facts();
        f.peers.push(Peer {
            name: "node4".into(),
            source: "node_list",
            addrs: Err("Name or service not known".into()),
        });
        f.peers.push(Peer {
            name: "node5".into(),
            source: "node_list",
            addrs: Ok(vec!["192.168.0.5".parse().unwrap()]),
        });
        let out = findings(&f, &cfg(&[]), Personality::Pgsql, &[]);
        assert_eq!(ids(&out), ["node-unresolvable", "hba-replication"]);
        assert!(out[1].what.contains("192.168.0.5"), "{:?}", out[1]);
        assert!(out[1]
            .fix
            .contains("host replication postgres 192.168.0.5/32"));
    }

    #[test]
    fn master_ip_on_a_host_without_primary() {
        let mut f = facts();
        f.local_nets = vec![hba::LocalNet {
            addr: "10.0.0.100".parse().unwrap(),
            mask: "255.255.255.0".parse().unwrap(),
        }];
        assert_eq!(findings(&f, &cfg(&[]), Personality::Pgsql, &[]), vec![]);
        if let Some(Ok(s)) = &mut f.server {
            s.in_recovery = true;
        }
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["master-ip-local"]
        );
    }

    #[test]
    fn primary_at_master_ip() {
        let mut f = facts();
        if let Some(Ok(s)) = &mut f.server {
            s.system_id = Some("7000".into());
        }
        f.local_major = Some(15);
        f.primary = Some(Ok(("7000".into(), 15)));
        assert_eq!(findings(&f, &cfg(&[]), Personality::Pgsql, &[]), vec![]);
        f.primary = Some(Ok(("7001".into(), 15)));
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["primary-mismatch"]
        );
        f.primary = Some(Ok(("7000".into(), 16)));
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["primary-mismatch"]
        );
        f.primary = Some(Err("password authentication failed".into()));
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["primary-replication"]
        );
    }

    #[test]
    fn pgsqlms_standby_settings() {
        let mut f = facts();
        f.local_node = "srv1".into();
        f.peers.clear();
        f.tmpdir = None;
        let set = |f: &mut Facts, k: &str, v: &str| {
            if let Some(Ok(s)) = &mut f.server {
                s.settings.insert(k.into(), v.into());
            }
        };
        set(&mut f, "server_version_num", "150004");
        set(&mut f, "recovery_target_timeline", "latest");
        set(
            &mut f,
            "primary_conninfo",
            "host=10.0.0.100 password=secret application_name=srv1",
        );
        let c = cfg(&[("rep_mode", "async"), ("node_list", "")]);
        let run = |f: &Facts| findings(f, &c, Personality::Pgsqlms, &[]);
        assert_eq!(run(&f), vec![]);
        set(
            &mut f,
            "primary_conninfo",
            "host=10.0.0.100 password=secret application_name=SRV1",
        );
        set(&mut f, "recovery_target_timeline", "current");
        let out = run(&f);
        assert_eq!(ids(&out), ["application-name", "recovery-target-timeline"]);
        assert!(out.iter().all(|o| !format!("{o:?}").contains("secret")));
        // Before 12 the template file holds them: not judged here.
        set(&mut f, "server_version_num", "110000");
        assert_eq!(run(&f), vec![]);
    }

    #[test]
    fn node_name_compared_without_case() {
        let mut f = facts();
        f.local_node = "NODE9".into();
        let out = findings(&f, &cfg(&[]), Personality::Pgsql, &[]);
        assert_eq!(ids(&out), ["node-name"]);
        assert!(out[0].fix.contains("node1 node2 node3 node9"));
    }

    #[test]
    fn files_and_directories() {
        let mut f = facts();
        f.pgdata = Some(FileMeta {
            uid: 0,
            mode: 0o755,
            is_dir: true,
        });
        f.tmpdir = Some(FileMeta {
            uid: 0,
            mode: 0o777,
            is_dir: true,
        });
        f.start_conf = Some((
            PathBuf::from("/etc/postgresql/15/main/start.conf"),
            "auto".into(),
        ));
        f.archive_dirs = vec![ArchiveDir {
            setting: "restore_command",
            dir: PathBuf::from("/srv/archive"),
            is_dir: false,
            writable: false,
        }];
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            [
                "pgdata-owner",
                "pgdata-mode",
                "tmpdir-owner",
                "tmpdir-mode",
                "archive-dir",
                "start-conf"
            ]
        );
        f.pgdata = None;
        f.tmpdir = None;
        f.start_conf = Some((PathBuf::from("/x/start.conf"), "disabled".into()));
        f.archive_dirs.clear();
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["pgdata-missing", "tmpdir-missing"]
        );
    }

    #[test]
    fn out_of_time() {
        let mut f = facts();
        f.timed_out = true;
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["timeout"]
        );
    }

    #[test]
    fn unreachable_server_and_roles() {
        let mut f = facts();
        f.server = Some(Err("no socket".into()));
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["server"]
        );
        let mut f = facts();
        if let Some(Ok(s)) = &mut f.server {
            s.repuser = None;
        }
        assert_eq!(
            ids(&findings(&f, &cfg(&[]), Personality::Pgsql, &[])),
            ["repuser"]
        );
    }
}
