//! The answer of `pgsql-ra show`, decided from a snapshot without I/O.
//!
//! Operators of the stock agent ask "why is this node not promoted?" and
//! answer it by reading `crm_mon -Afr` and guessing at attribute meanings.
//! Here the snapshot (the CIB, crm_mon's roles, this node's PostgreSQL and,
//! where it could be asked, the primary's view of its standbys) goes
//! through one pure function that says, per node, whether Pacemaker may
//! promote it now and, when not, why in one sentence and the command that
//! changes it when a person must act. The field names of [`Report`] are
//! the documented JSON of `show --json` (docs/show.schema.json).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::status::ClusterStatus;
use crate::inspect::cib::{parse_score, Cib, Primitive};
use crate::pg::rewind::Rejoin;

/// This node's PostgreSQL, as read by `show`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LocalPg {
    pub running: bool,
    pub in_recovery: Option<bool>,
    pub timeline: Option<u32>,
    /// The primary's current write position.
    pub current_lsn: Option<String>,
    pub received_lsn: Option<String>,
    pub replayed_lsn: Option<String>,
    /// Seconds since the last replayed transaction committed on the
    /// primary (a standby without write traffic grows this too).
    pub replay_delay_seconds: Option<f64>,
    /// Why the rest is unknown: no connection, a query refused...
    pub error: Option<String>,
}

/// One row of the primary's `pg_stat_replication`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Standby {
    pub application_name: String,
    pub state: String,
    pub sync_state: String,
    pub replay_lsn: Option<String>,
    pub lag_bytes: Option<i64>,
    pub replay_lag_seconds: Option<f64>,
}

/// Everything `show` read, for [`describe`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub cib: Cib,
    pub primitive: Primitive,
    pub status: ClusterStatus,
    pub local_node: String,
    pub personality: &'static str,
    pub sync: bool,
    pub rejoin: Option<Rejoin>,
    /// The lock file's path and whether it exists on this node.
    pub lock: Option<(String, bool)>,
    pub local_pg: Option<LocalPg>,
    /// The primary's standbys: from this node when it is the primary, else
    /// through `master_ip`; `Err` says why they could not be read.
    pub standbys: Option<Result<Vec<Standby>, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub resource: String,
    pub clone: Option<String>,
    pub agent: String,
    pub personality: String,
    pub local_node: String,
    pub quorate: Option<bool>,
    pub fencing: Option<bool>,
    pub no_quorum_policy: Option<String>,
    pub primary: Option<String>,
    pub nodes: Vec<NodeReport>,
    pub constraints: Vec<ConstraintReport>,
    /// Why the standbys' positions are missing, when they are.
    pub standbys_unknown: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConstraintReport {
    pub id: String,
    pub node: Option<String>,
    pub score: String,
    pub role: Option<String>,
    pub rule: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailCount {
    pub operation: String,
    pub count: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub online: bool,
    pub standby_mode: bool,
    /// Promoted, Unpromoted or Stopped.
    pub role: String,
    pub promotion_score: Option<String>,
    /// The resource's node attributes (`master-<rsc>`, `<rsc>-*`).
    pub attributes: BTreeMap<String, String>,
    pub fail_counts: Vec<FailCount>,
    /// Ids of the location constraints that keep the resource off it.
    pub bans: Vec<String>,
    /// Whether the lock file exists; `None` on other nodes (not visible
    /// from here).
    pub lock_file: Option<bool>,
    /// This node's PostgreSQL; `None` on the other nodes.
    pub postgres: Option<LocalPg>,
    /// The primary's view of this node as a standby.
    pub replication: Option<Standby>,
    pub promotable: bool,
    pub reason: String,
    /// The command that would change it, when a person must act.
    pub fix: Option<String>,
}

/// Per node: may Pacemaker promote it now, why, and the fix.
struct Verdict {
    promotable: bool,
    reason: String,
    fix: Option<String>,
}

fn no(reason: String, fix: Option<String>) -> Verdict {
    Verdict {
        promotable: false,
        reason,
        fix,
    }
}

pub fn describe(s: &Snapshot) -> Report {
    let p = &s.primitive;
    let rsc = &p.id;
    let score_name = crate::cluster::vocabulary::promotion_score_name(rsc);
    let mut names: Vec<String> = s.cib.nodes.clone();
    for n in s.status.nodes.keys() {
        if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
            names.push(n.clone());
        }
    }
    let locations = s.cib.locations_of(p);
    let standbys: &[Standby] = match &s.standbys {
        Some(Ok(rows)) => rows,
        _ => &[],
    };
    let threshold = s.cib.migration_threshold(p);
    let nodes = names
        .iter()
        .map(|name| {
            let mut attributes = BTreeMap::new();
            for source in [s.cib.node_attrs.get(name), s.cib.transient.get(name)] {
                for (k, v) in source.into_iter().flatten() {
                    if *k == score_name || k.starts_with(&format!("{rsc}-")) {
                        attributes.insert(k.clone(), v.clone());
                    }
                }
            }
            let online = s.status.is_online(name);
            let standby_mode = s
                .cib
                .node_attrs
                .get(name)
                .and_then(|a| a.get("standby"))
                .and_then(|v| crate::ocf::env::parse_bool(v))
                .unwrap_or(false);
            let role = if s.status.promoted.iter().any(|n| n == name) {
                "Promoted"
            } else if s.status.unpromoted.iter().any(|n| n == name) {
                "Unpromoted"
            } else {
                "Stopped"
            };
            let fail_counts: Vec<FailCount> = s
                .cib
                .fail_counts(p, name)
                .into_iter()
                .map(|(operation, count)| FailCount { operation, count })
                .collect();
            let bans: Vec<String> = locations
                .iter()
                .filter(|l| {
                    l.is_ban()
                        && !l.has_rule
                        && l.node
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                        && !matches!(l.role.as_deref(), Some("Promoted" | "Master"))
                })
                .map(|l| l.id.clone())
                .collect();
            let is_local = name.eq_ignore_ascii_case(&s.local_node);
            let lock_file = if is_local {
                s.lock.as_ref().map(|(_, exists)| *exists)
            } else {
                None
            };
            let replication = standbys
                .iter()
                .find(|r| r.application_name.eq_ignore_ascii_case(name))
                .cloned();
            let mut node = NodeReport {
                name: name.clone(),
                online,
                standby_mode,
                role: role.to_string(),
                promotion_score: attributes.get(&score_name).cloned(),
                attributes,
                fail_counts,
                bans,
                lock_file,
                postgres: if is_local { s.local_pg.clone() } else { None },
                replication,
                promotable: false,
                reason: String::new(),
                fix: None,
            };
            let v = verdict(s, &node, threshold);
            node.promotable = v.promotable;
            node.reason = v.reason;
            node.fix = v.fix;
            node
        })
        .collect();
    Report {
        resource: rsc.clone(),
        clone: p.clone.as_ref().map(|c| c.id.clone()),
        agent: p.agent(),
        personality: s.personality.to_string(),
        local_node: s.local_node.clone(),
        quorate: s.status.quorate,
        fencing: s.status.fencing,
        no_quorum_policy: s.status.no_quorum_policy.clone(),
        primary: s.status.promoted.first().cloned(),
        nodes,
        constraints: locations
            .iter()
            .map(|l| ConstraintReport {
                id: l.id.clone(),
                node: l.node.clone(),
                score: l.score.clone(),
                role: l.role.clone(),
                rule: l.has_rule,
            })
            .collect(),
        standbys_unknown: match &s.standbys {
            Some(Err(e)) => Some(e.clone()),
            None if !s.status.promoted.is_empty() => {
                Some("the primary's pg_stat_replication could not be asked from this node".into())
            }
            _ => None,
        },
    }
}

/// The first thing, in the order Pacemaker applies them, that keeps the
/// node from being promoted now.
fn verdict(s: &Snapshot, n: &NodeReport, threshold: i64) -> Verdict {
    let handle = s.primitive.handle();
    let name = &n.name;
    if !n.online {
        return no(
            "the node is not an online member of this partition (down, fenced, or cut off by \
             the network)"
                .into(),
            Some(format!(
                "once it is repaired, start the cluster on {name}: `crm cluster start` or \
                 `pcs cluster start`"
            )),
        );
    }
    if n.standby_mode {
        return no(
            "the node is in standby mode, so it runs no resources".into(),
            Some(format!(
                "crm_attribute --node {name} --name standby --delete"
            )),
        );
    }
    if let Some(id) = n.bans.first() {
        let cli = locations_cli(s, id);
        let fix = if cli {
            format!("crm_resource --clear --resource {handle} --node {name}")
        } else {
            format!("cibadmin --delete --xml-text '<rsc_location id=\"{id}\"/>'")
        };
        return no(
            format!("location constraint {id} keeps the resource off this node"),
            Some(fix),
        );
    }
    let failures: i64 = n
        .fail_counts
        .iter()
        .filter_map(|f| parse_score(&f.count))
        .sum();
    if failures >= threshold {
        let ops: Vec<&str> = n.fail_counts.iter().map(|f| f.operation.as_str()).collect();
        return no(
            format!(
                "the resource failed here {failures} time(s) ({}), which reaches its \
                 migration-threshold {threshold}",
                ops.join(", ")
            ),
            Some(format!(
                "after repairing the cause: crm_resource --cleanup --resource {handle} --node {name}"
            )),
        );
    }
    if n.lock_file == Some(true) && n.role != "Promoted" {
        let path = s
            .lock
            .as_ref()
            .map(|(p, _)| p.as_str())
            .unwrap_or("PGSQL.lock");
        let fix = match s.rejoin {
            Some(Rejoin::Rewind) => format!(
                "the next start rewinds it from the primary: crm_resource --cleanup --resource \
                 {handle} --node {name}"
            ),
            _ => format!(
                "make it a standby of the current primary (pg_basebackup, or rejoin=rewind on \
                 the resource), then remove {path} and run crm_resource --cleanup --resource \
                 {handle} --node {name} (docs/operations.md, \"Rejoining a failed primary\")"
            ),
        };
        return no(
            format!(
                "{path} is there: this node was a primary that did not hand over cleanly and may \
                 hold writes no other node has, so it is not started"
            ),
            Some(fix),
        );
    }
    if n.role == "Promoted" {
        return Verdict {
            promotable: true,
            reason: "it is the primary".into(),
            fix: None,
        };
    }
    if n.role == "Stopped" {
        return no(
            "the resource is not running on this node; Pacemaker may still start it".into(),
            (!n.fail_counts.is_empty())
                .then(|| format!("crm_resource --cleanup --resource {handle} --node {name}")),
        );
    }
    let data_status = n.attributes.get(&format!("{}-data-status", s.primitive.id));
    let score = n.promotion_score.as_deref().and_then(parse_score);
    match score {
        None => no(
            format!(
                "it has no promotion score (master-{} is not set): the agent has not finished a \
                 monitor there since it started",
                s.primitive.id
            ),
            None,
        ),
        Some(v) if v < 0 => {
            let v = n.promotion_score.as_deref().unwrap_or("-INFINITY");
            let why = match data_status.map(String::as_str) {
                Some(d) if d.starts_with("DISCONNECT") => format!(
                    "its data status is {d}: it may lack writes the primary acknowledged, so the \
                     agent gave it {v}; it becomes a candidate again once it streams from the \
                     primary"
                ),
                Some(d) if s.sync && d.contains("ASYNC") => format!(
                    "asynchronous standby (data status {d}, score {v}): with rep_mode=sync only \
                     the synchronous standby, which has every acknowledged commit, may be promoted"
                ),
                Some(d) => format!("the agent gave it {v} (data status {d})"),
                None => format!(
                    "the agent gave it {v}: it lags behind the primary or does not stream from it"
                ),
            };
            no(why, None)
        }
        Some(0) => no(
            "its promotion score is 0: the agent does not consider it a candidate".into(),
            None,
        ),
        Some(v) => {
            let sync = n
                .attributes
                .get(&format!("{}-status", s.primitive.id))
                .map(String::as_str);
            let note = if s.sync && sync == Some("HS:async") {
                "; asynchronous, so a synchronous standby is preferred"
            } else {
                ""
            };
            Verdict {
                promotable: true,
                reason: if s.status.promoted.is_empty() {
                    format!("candidate with promotion score {v}{note}")
                } else {
                    format!(
                        "standby with promotion score {v}: a candidate if the primary fails{note}"
                    )
                },
                fix: None,
            }
        }
    }
}

/// Whether the constraint `id` was written by `crm_resource --ban/--move`.
fn locations_cli(s: &Snapshot, id: &str) -> bool {
    s.cib.locations.iter().any(|l| l.id == id && l.is_cli())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::cib::Cib;

    fn cib(extra_status: &str, constraints: &str) -> Cib {
        Cib::parse(&format!(
            r#"<cib><configuration><crm_config/><nodes>
              <node id="1" uname="node1"/><node id="2" uname="node2"/><node id="3" uname="node3"/>
            </nodes><resources><clone id="pgsql-clone">
              <meta_attributes id="m"><nvpair id="a" name="promotable" value="true"/></meta_attributes>
              <primitive id="pgsql" class="ocf" provider="upfront" type="pgsql"/>
            </clone></resources><constraints>{constraints}</constraints></configuration>
            <status>{extra_status}</status></cib>"#
        ))
        .unwrap()
    }

    fn attrs(node: &str, pairs: &[(&str, &str)]) -> String {
        let nv: String = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| format!(r#"<nvpair id="{node}{i}" name="{k}" value="{v}"/>"#))
            .collect();
        format!(
            r#"<node_state uname="{node}"><transient_attributes id="t"><instance_attributes id="i">{nv}</instance_attributes></transient_attributes></node_state>"#
        )
    }

    fn snapshot(cib: Cib) -> Snapshot {
        let mut status = ClusterStatus::default();
        for n in ["node1", "node2", "node3"] {
            status.nodes.insert(n.into(), true);
        }
        status.promoted = vec!["node1".into()];
        status.unpromoted = vec!["node2".into(), "node3".into()];
        Snapshot {
            primitive: cib.resource(None).unwrap().clone(),
            cib,
            status,
            local_node: "node2".into(),
            personality: "pgsql",
            sync: true,
            rejoin: Some(Rejoin::Safe),
            lock: Some(("/var/lib/pgsql/tmp/PGSQL.lock".into(), false)),
            local_pg: Some(LocalPg {
                running: true,
                in_recovery: Some(true),
                ..LocalPg::default()
            }),
            standbys: None,
        }
    }

    fn node<'a>(r: &'a Report, name: &str) -> &'a NodeReport {
        r.nodes.iter().find(|n| n.name == name).unwrap()
    }

    #[test]
    fn a_healthy_cluster() {
        let status = [
            attrs(
                "node1",
                &[("master-pgsql", "1000"), ("pgsql-status", "PRI")],
            ),
            attrs(
                "node2",
                &[("master-pgsql", "100"), ("pgsql-status", "HS:sync")],
            ),
            attrs(
                "node3",
                &[
                    ("master-pgsql", "-INFINITY"),
                    ("pgsql-status", "HS:async"),
                    ("pgsql-data-status", "STREAMING|ASYNC"),
                ],
            ),
        ]
        .concat();
        let mut s = snapshot(cib(&status, ""));
        s.standbys = Some(Ok(vec![Standby {
            application_name: "node2".into(),
            state: "streaming".into(),
            sync_state: "sync".into(),
            lag_bytes: Some(0),
            ..Standby::default()
        }]));
        let r = describe(&s);
        assert_eq!(r.primary.as_deref(), Some("node1"));
        assert_eq!(r.clone.as_deref(), Some("pgsql-clone"));
        let n1 = node(&r, "node1");
        assert!(n1.promotable && n1.reason == "it is the primary");
        let n2 = node(&r, "node2");
        assert!(n2.promotable, "{}", n2.reason);
        assert!(n2.reason.contains("score 100"));
        assert_eq!(n2.replication.as_ref().unwrap().sync_state, "sync");
        assert!(n2.postgres.is_some() && n1.postgres.is_none());
        assert_eq!(n2.lock_file, Some(false));
        let n3 = node(&r, "node3");
        assert!(!n3.promotable);
        assert!(n3.reason.contains("asynchronous standby"), "{}", n3.reason);
        assert!(n3.reason.contains("-INFINITY"), "{}", n3.reason);
        assert_eq!(r.standbys_unknown, None);
    }

    #[test]
    fn each_reason_and_its_fix() {
        // Offline.
        let mut s = snapshot(cib("", ""));
        s.status.nodes.insert("node3".into(), false);
        s.status.unpromoted.retain(|n| n != "node3");
        let r = describe(&s);
        assert!(node(&r, "node3").reason.contains("not an online member"));
        assert!(node(&r, "node3")
            .fix
            .as_ref()
            .unwrap()
            .contains("cluster start"));

        // A ban from crm_resource --ban.
        let s = snapshot(cib(
            "",
            r#"<rsc_location id="cli-ban-pgsql-clone-on-node3" rsc="pgsql-clone" node="node3" score="-INFINITY"/>"#,
        ));
        let n3 = describe(&s).nodes[2].clone();
        assert!(n3.reason.contains("cli-ban-pgsql-clone-on-node3"));
        assert_eq!(
            n3.fix.as_deref(),
            Some("crm_resource --clear --resource pgsql-clone --node node3")
        );

        // Fail-count at the threshold (INFINITY after a failed start).
        let s = snapshot(cib(
            &attrs("node3", &[("fail-count-pgsql#start_0", "INFINITY")]),
            "",
        ));
        let n3 = describe(&s).nodes[2].clone();
        assert!(n3.reason.contains("migration-threshold"), "{}", n3.reason);
        assert!(n3
            .fix
            .unwrap()
            .contains("--cleanup --resource pgsql-clone --node node3"));

        // The lock file on this node (node2), rejoin=safe: rebuild.
        let mut s = snapshot(cib("", ""));
        s.lock = Some(("/t/PGSQL.lock".into(), true));
        s.status.unpromoted.retain(|n| n != "node2");
        let n2 = describe(&s).nodes[1].clone();
        assert!(
            n2.reason.contains("/t/PGSQL.lock is there"),
            "{}",
            n2.reason
        );
        assert!(n2.fix.unwrap().contains("pg_basebackup"));

        // DISCONNECT: no person needed.
        let s = snapshot(cib(
            &attrs(
                "node3",
                &[
                    ("master-pgsql", "-INFINITY"),
                    ("pgsql-data-status", "DISCONNECT"),
                ],
            ),
            "",
        ));
        let n3 = describe(&s).nodes[2].clone();
        assert!(n3.reason.contains("DISCONNECT") && n3.fix.is_none());

        // Standby mode.
        let mut c = cib("", "");
        c.node_attrs
            .get_mut("node3")
            .unwrap()
            .insert("standby".into(), "on".into());
        let n3 = describe(&snapshot(c)).nodes[2].clone();
        assert!(n3.reason.contains("standby mode"));
        assert!(n3.fix.unwrap().contains("--name standby --delete"));

        // No score yet.
        let n3 = describe(&snapshot(cib("", ""))).nodes[2].clone();
        assert!(n3.reason.contains("no promotion score"));
    }

    #[test]
    fn json_field_names_are_the_documented_ones() {
        let r = describe(&snapshot(cib("", "")));
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "resource",
            "clone",
            "agent",
            "personality",
            "local_node",
            "quorate",
            "fencing",
            "no_quorum_policy",
            "primary",
            "nodes",
            "constraints",
            "standbys_unknown",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let n = &v["nodes"][0];
        for k in [
            "name",
            "online",
            "standby_mode",
            "role",
            "promotion_score",
            "attributes",
            "fail_counts",
            "bans",
            "lock_file",
            "postgres",
            "replication",
            "promotable",
            "reason",
            "fix",
        ] {
            assert!(n.get(k).is_some(), "{k}");
        }
    }
}
