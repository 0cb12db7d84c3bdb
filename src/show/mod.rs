//! `pgsql-ra show`: the cluster as the agent sees it, and for every node
//! why it is or is not promotable now (report.rs decides; this file reads
//! and prints).
//!
//! Read-only by construction: one `cibadmin --query`, one `crm_mon`, one
//! `crm_node -n`, and SELECTs on this node's PostgreSQL (and on the primary
//! through `master_ip` when this node is not the primary). No attribute,
//! file or CIB change; every call bounded by `--timeout`.

pub mod report;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};

use crate::agents::Local;
use crate::cluster::Pacemaker;
use crate::inspect::{self, cib::Cib};
use crate::ocf::{Deadline, OcfEnv};
use crate::pg::{ConnParams, Host};
use report::{LocalPg, Report, Snapshot, Standby};

fn command() -> Command {
    Command::new("show")
        .bin_name("pgsql-ra show")
        .about(
            "Show the PostgreSQL resource on every node of the cluster, and why each node is or \
             is not promotable now. Read-only; the resource and its parameters come from the CIB.",
        )
        .arg(
            Arg::new("resource")
                .long("resource")
                .short('r')
                .value_name("NAME")
                .help("The primitive's or clone's id (needed when the CIB has several)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print JSON (fields: docs/show.schema.json)"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..))
                .default_value("20")
                .help("Bound of the whole command"),
        )
}

/// `pgsql-ra show ...`: exit 0 with the report, 1 when the cluster or the
/// resource cannot be read, 2 for bad arguments.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let deadline = Deadline::from_timeout(Duration::from_secs(
        *m.get_one::<u64>("timeout").expect("default"),
    ));
    let wanted = m.get_one::<String>("resource").cloned();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgsql-ra show: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(snapshot(wanted.as_deref(), deadline)) {
        Ok(snap) => {
            let r = report::describe(&snap);
            if m.get_flag("json") {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("a report serializes")
                );
            } else {
                print!("{}", text(&r));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pgsql-ra show: {e}");
            ExitCode::from(1)
        }
    }
}

/// Reads everything [`report::describe`] needs.
async fn snapshot(wanted: Option<&str>, deadline: Deadline) -> Result<Snapshot, String> {
    let process = OcfEnv::from_process(&[]);
    let pm = Pacemaker::for_reading(&process, deadline);
    let cib = Cib::parse(&pm.cib().await.map_err(|e| e.to_string())?)?;
    let primitive = cib.resource(wanted)?.clone();
    let status = pm.status(&primitive.id).await.map_err(|e| e.to_string())?;
    let local_node = pm.local_node(None).await;
    let env = inspect::resource_env(&primitive, &[]);
    let agent = inspect::personality(&primitive);
    let mut snap = Snapshot {
        personality: agent.name(),
        sync: false,
        rejoin: None,
        lock: None,
        local_pg: None,
        standbys: None,
        local_node,
        cib,
        primitive,
        status,
    };
    let local = match agent.local(&env, deadline) {
        Ok(l) => l,
        Err(f) => {
            snap.local_pg = Some(LocalPg {
                error: Some(format!("the resource's parameters: {}", f.reason)),
                ..LocalPg::default()
            });
            return Ok(snap);
        }
    };
    snap.sync = local.sync;
    snap.rejoin = Some(local.rejoin);
    snap.lock = local
        .lock_file
        .as_ref()
        .map(|p| (p.display().to_string(), p.exists()));
    let is_primary = snap
        .status
        .promoted
        .iter()
        .any(|n| n.eq_ignore_ascii_case(&snap.local_node));
    snap.local_pg = Some(local_pg(&local, deadline).await);
    let primary_conn = if is_primary {
        Some(local.conn.clone())
    } else if snap.status.promoted.is_empty() {
        None
    } else {
        primary_through(&env, &local.conn)
    };
    if let Some(conn) = primary_conn {
        snap.standbys = Some(standbys(&conn, deadline).await);
    }
    Ok(snap)
}

/// The primary at `master_ip` (the pgsql contract's virtual address),
/// with this node's monitor credentials.
fn primary_through(env: &OcfEnv, local: &ConnParams) -> Option<ConnParams> {
    let ip = env.param("master_ip").filter(|v| !v.trim().is_empty())?;
    let mut conn = local.clone();
    conn.host = Host::from_libpq(ip.trim());
    conn.os_user = None;
    Some(conn)
}

const LOCAL_SQL: &str = "select pg_is_in_recovery()::text, \
     case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end, \
     pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, \
     extract(epoch from now() - pg_last_xact_replay_timestamp())::text, \
     case when pg_is_in_recovery() then coalesce( \
         (select received_tli from pg_stat_wal_receiver)::text, \
         (select timeline_id from pg_control_checkpoint())::text) \
     else (('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int)::text end";

const STANDBYS_SQL: &str = "select application_name, coalesce(state, ''), \
     coalesce(sync_state, ''), replay_lsn::text, \
     pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text, \
     extract(epoch from replay_lag)::text \
     from pg_stat_replication order by application_name";

async fn local_pg(local: &Local, deadline: Deadline) -> LocalPg {
    if crate::pg::pidfile::live_postmaster(&local.pgdata, None).is_none() {
        return LocalPg {
            running: false,
            ..LocalPg::default()
        };
    }
    let mut pg = LocalPg {
        running: true,
        ..LocalPg::default()
    };
    let rows = match local
        .conn
        .connect(deadline.within(Duration::from_secs(5)))
        .await
    {
        Ok(s) => s.simple_query(LOCAL_SQL).await,
        Err(e) => Err(e),
    };
    match rows {
        Ok(rows) => {
            if let Some(r) = rows.first() {
                let col = |i: usize| r.get(i).cloned().flatten();
                pg.in_recovery = col(0).map(|v| v == "true");
                pg.current_lsn = col(1);
                pg.received_lsn = col(2);
                pg.replayed_lsn = col(3);
                pg.replay_delay_seconds = col(4).and_then(|v| v.parse().ok());
                pg.timeline = col(5).and_then(|v| v.parse().ok());
            }
        }
        Err(e) => pg.error = Some(e.to_string()),
    }
    pg
}

async fn standbys(conn: &ConnParams, deadline: Deadline) -> Result<Vec<Standby>, String> {
    let session = conn
        .connect(deadline.within(Duration::from_secs(5)))
        .await
        .map_err(|e| format!("cannot ask the primary: {e}"))?;
    let rows = session
        .simple_query(STANDBYS_SQL)
        .await
        .map_err(|e| format!("the primary's pg_stat_replication: {e}"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let col = |i: usize| r.get(i).cloned().flatten();
            Standby {
                application_name: col(0).unwrap_or_default(),
                state: col(1).unwrap_or_default(),
                sync_state: col(2).unwrap_or_default(),
                replay_lsn: col(3),
                lag_bytes: col(4).and_then(|v| v.parse().ok()),
                replay_lag_seconds: col(5).and_then(|v| v.parse().ok()),
            }
        })
        .collect())
}

/// The report as text: a table, then one line per node with its verdict.
pub fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let clone = r
        .clone
        .as_deref()
        .map(|c| format!(", clone {c}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Resource {} ({}{clone}), seen from {}",
        r.resource, r.agent, r.local_node
    );
    let yes_no = |b: Option<bool>, y: &str, n: &str| match b {
        Some(true) => y.to_string(),
        Some(false) => n.to_string(),
        None => "unknown".to_string(),
    };
    let _ = writeln!(
        out,
        "Partition: {}; fencing: {}; no-quorum-policy: {}",
        yes_no(r.quorate, "quorate", "WITHOUT QUORUM"),
        yes_no(r.fencing, "on", "OFF"),
        r.no_quorum_policy.as_deref().unwrap_or("stop")
    );
    let _ = writeln!(out, "Primary: {}\n", r.primary.as_deref().unwrap_or("none"));
    let _ = writeln!(
        out,
        "{:<12} {:<10} {:<10} {:<9} {:<12} {:<14} {:<10} {:<5} LOCK",
        "NODE", "ROLE", "SCORE", "STATUS", "REPLAY LSN", "LAG", "SYNC", "FAILS"
    );
    for n in &r.nodes {
        let status_attr = n
            .attributes
            .get(&format!("{}-status", r.resource))
            .map(String::as_str)
            .unwrap_or("-");
        let (lsn, lag, sync) = match (&n.replication, &n.postgres) {
            (Some(s), _) => (
                s.replay_lsn.clone().unwrap_or_else(|| "-".into()),
                match (s.lag_bytes, s.replay_lag_seconds) {
                    (Some(b), Some(t)) => format!("{b} B {t:.1} s"),
                    (Some(b), None) => format!("{b} B"),
                    _ => "-".into(),
                },
                s.sync_state.clone(),
            ),
            (None, Some(pg)) if pg.in_recovery == Some(false) => (
                pg.current_lsn.clone().unwrap_or_else(|| "-".into()),
                "-".into(),
                "-".into(),
            ),
            (None, Some(pg)) => (
                pg.replayed_lsn.clone().unwrap_or_else(|| "-".into()),
                "?".into(),
                "?".into(),
            ),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let fails: i64 = n
            .fail_counts
            .iter()
            .filter_map(|f| crate::inspect::cib::parse_score(&f.count))
            .sum();
        let lock = match n.lock_file {
            Some(true) => "YES",
            Some(false) => "no",
            // PAF keeps no lock file.
            None if r.personality == "pgsqlms" => "-",
            None => "?",
        };
        let role = if n.online { n.role.as_str() } else { "OFFLINE" };
        let _ = writeln!(
            out,
            "{:<12} {:<10} {:<10} {:<9} {:<12} {:<14} {:<10} {:<5} {lock}",
            n.name,
            role,
            n.promotion_score.as_deref().unwrap_or("-"),
            status_attr,
            lsn,
            lag,
            sync,
            fails
        );
    }
    out.push('\n');
    for n in &r.nodes {
        let verdict = if n.promotable {
            "promotable"
        } else {
            "NOT promotable"
        };
        let _ = writeln!(out, "{}: {verdict}: {}", n.name, n.reason);
        if let Some(fix) = &n.fix {
            let _ = writeln!(out, "  fix: {fix}");
        }
    }
    for n in &r.nodes {
        if let Some(pg) = &n.postgres {
            let _ = writeln!(out, "\nPostgreSQL on {} (this node):", n.name);
            if let Some(e) = &pg.error {
                let _ = writeln!(out, "  unknown: {e}");
            } else if !pg.running {
                let _ = writeln!(out, "  not running");
            } else {
                let role = if pg.in_recovery == Some(true) {
                    "standby"
                } else {
                    "primary"
                };
                let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "  {role}, timeline {}, current {}, received {}, replayed {}{}",
                    pg.timeline.map_or("-".into(), |t| t.to_string()),
                    opt(&pg.current_lsn),
                    opt(&pg.received_lsn),
                    opt(&pg.replayed_lsn),
                    pg.replay_delay_seconds
                        .map(|s| format!(", last replayed commit {s:.1} s ago"))
                        .unwrap_or_default()
                );
            }
        }
    }
    if let Some(why) = &r.standbys_unknown {
        let _ = writeln!(out, "\nStandbys' lag: unknown ({why})");
    }
    if !r.constraints.is_empty() {
        let _ = writeln!(out, "\nLocation constraints on {}:", r.resource);
        for c in &r.constraints {
            let _ = writeln!(
                out,
                "  {} node={} score={}{}{}",
                c.id,
                c.node.as_deref().unwrap_or("(rule)"),
                c.score,
                c.role
                    .as_deref()
                    .map(|r| format!(" role={r}"))
                    .unwrap_or_default(),
                if c.rule { " (rule)" } else { "" }
            );
        }
    }
    out
}
