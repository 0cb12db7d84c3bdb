//! Property tests (proptest) for what the agent reads from outside and for
//! the decisions that must hold whatever the input.
//!
//! Every parser here is fed text the agent does not control: PostgreSQL's
//! tools (`pg_controldata`, timeline history files, LSNs), Pacemaker
//! (`crm_mon` XML, attribute values), the environment (`OCF_*`) and the CIB
//! (connection strings, configuration values). A panic in any of them would
//! abort an action (release builds abort on panic) and leave Pacemaker with a
//! bare error, so "never panics" is checked on arbitrary input, and "reads
//! back what we write" where the agent writes that format itself. The
//! decisions: the WAL archive never takes a segment no promotable standby
//! has; the election's own properties (never a node behind another, in sync
//! mode never a standby not known complete) are beside it, in
//! agents/pgsql/replication/election.rs.
//!
//! `cargo test` runs proptest's default 256 cases per property (CI). The
//! long, seeded run is a separate command (README.md):
//! `PROPTEST_CASES=100000 PROPTEST_RNG_SEED=1 cargo test --bin pgsql-ra props::`.

use proptest::prelude::*;

use crate::cluster::status::ClusterStatus;
use crate::ocf::OcfEnv;
use crate::pg::archive::{decide, Sender, ServerView, WalFile};
use crate::pg::controldata::{ControlData, DbState};
use crate::pg::timeline::{relation, switch_point, Relation};
use crate::pg::{conf, conninfo, settings, Lsn};

const STATES: &[&str] = &[
    "in production",
    "in archive recovery",
    "shut down",
    "shut down in recovery",
    "in crash recovery",
    "starting up",
];

fn controldata_text(state: &str, redo: u64, ckpt: u64, tli: u32, id: u64) -> String {
    format!(
        "pg_control version number:            1300\n\
         Database system identifier:           {id}\n\
         Database cluster state:               {state}\n\
         Latest checkpoint location:           {}\n\
         Latest checkpoint's REDO location:    {}\n\
         Latest checkpoint's TimeLineID:       {tli}\n\
         wal_level setting:                    replica\n",
        Lsn(ckpt),
        Lsn(redo)
    )
}

proptest! {
    #[test]
    fn lsn_reads_back_both_forms(x in any::<u64>()) {
        prop_assert_eq!(Lsn::parse_pg(&Lsn(x).to_string()), Some(Lsn(x)));
        prop_assert_eq!(Lsn::parse_attr(&Lsn(x).to_attr()), Some(Lsn(x)));
        // The attribute form sorts as the numbers do (the election compares
        // the published strings).
        prop_assert_eq!(Lsn(x).to_attr().len(), 16);
    }

    #[test]
    fn lsn_parsers_never_panic(s in any::<String>()) {
        let _ = Lsn::parse_pg(&s);
        let _ = Lsn::parse_attr(&s);
    }

    #[test]
    fn timeline_history_never_panics(h in any::<String>(), a in any::<u32>(), b in any::<u32>(),
                                     last in any::<u64>()) {
        let _ = switch_point(&h, a);
        let _ = relation(a, Lsn(last), b, Some(&h));
    }

    #[test]
    fn a_later_timeline_proves_a_prefix_exactly_below_its_fork(
        tli in 1u32..1000, later in 1u32..5, fork in 1u64..u64::MAX / 2, last in any::<u64>()
    ) {
        let primary = tli + later;
        let mut history = String::new();
        for t in 1..primary {
            let at = if t == tli { fork } else if t < tli { fork / 2 } else { fork + 1 };
            history.push_str(&format!("{t}\t{}\tno recovery target specified\n", Lsn(at)));
        }
        match relation(tli, Lsn(last), primary, Some(&history)) {
            Relation::Prefix { fork: f } => {
                prop_assert_eq!(f, Lsn(fork));
                prop_assert!(last < fork);
            }
            Relation::Diverged(_) => prop_assert!(last >= fork),
            Relation::SameTimeline => prop_assert!(false, "not the same timeline"),
        }
    }

    #[test]
    fn controldata_never_panics(s in any::<String>()) {
        let _ = ControlData::parse(&s);
    }

    #[test]
    fn controldata_reads_back(i in 0usize..STATES.len(), redo in any::<u64>(),
                              ckpt in any::<u64>(), tli in any::<u32>(), id in any::<u64>()) {
        let c = ControlData::parse(&controldata_text(STATES[i], redo, ckpt, tli, id)).unwrap();
        prop_assert_eq!(c.state.text(), STATES[i]);
        prop_assert_eq!(c.redo, Lsn(redo));
        prop_assert_eq!(c.checkpoint, Some(Lsn(ckpt)));
        prop_assert_eq!(c.timeline, tli);
        prop_assert_eq!(c.system_id, Some(id.to_string()));
        prop_assert_eq!(c.state == DbState::ShutDown, STATES[i] == "shut down");
    }

    #[test]
    fn conninfo_never_panics(s in any::<String>(), k in "[a-z_]{1,12}", v in any::<String>()) {
        let _ = conninfo::parse_keywords(&s);
        let _ = conninfo::application_name(&s);
        let _ = conninfo::with_parameter(&s, &k, &v);
    }

    #[test]
    fn conninfo_quote_reads_back(v in any::<String>()) {
        let pairs = conninfo::parse_keywords(&format!("host=h k={} port=5432", conninfo::quote(&v)))
            .unwrap();
        prop_assert_eq!(pairs.iter().find(|(k, _)| k == "k").map(|(_, v)| v.clone()), Some(v));
    }

    #[test]
    fn application_name_added_reads_back(name in "[A-Za-z0-9_.-]{1,30}",
                                         host in "[a-z0-9.]{1,20}") {
        let ci = conninfo::with_parameter(&format!("host={host} port=5432"),
                                          "application_name", &name);
        prop_assert_eq!(conninfo::application_name(&ci), Some(name));
    }

    #[test]
    fn conf_value_quote_reads_back(v in "[^\r\n]*") {
        let text = format!("# a comment\nother = 'x'\nrestore_command = {}\n", settings::quote(&v));
        prop_assert_eq!(conf::get_in(&text, "restore_command"), Some(v));
    }

    #[test]
    fn crm_mon_xml_never_panics(s in any::<String>(), tags in proptest::collection::vec(
        prop_oneof![Just("<crm_mon>"), Just("<nodes>"), Just("<node name=\"n\" online=\"true\"/>"),
                    Just("<node_attributes>"), Just("<attribute name=\"a\" value=\"1\"/>"),
                    Just("</nodes>"), Just("<summary><current_dc present=\"true\" with_quorum=\"x\"/>"),
                    Just("</summary>"), Just("</node_attributes>"), Just("</crm_mon>"),
                    Just("<resources><clone id=\"c\"><resource id=\"pgsql\" role=\"Promoted\">"),
                    Just("</resource></clone></resources>")], 0..12)) {
        let _ = ClusterStatus::parse(&s, "pgsql");
        let _ = ClusterStatus::parse(&tags.concat(), "pgsql");
    }

    #[test]
    fn ocf_environment_reads_back(vars in proptest::collection::vec(
        ("[A-Za-z_]{1,12}", any::<String>()), 0..20), name in "[a-z_]{1,12}", value in any::<String>()) {
        let mut all: Vec<(String, String)> =
            vars.into_iter().map(|(k, v)| (format!("OCF_RESKEY_{k}"), v)).collect();
        all.push((format!("OCF_RESKEY_{name}"), value.clone()));
        let env = OcfEnv::from_vars(all, &[]);
        prop_assert_eq!(env.param(&name), Some(value.as_str()));
        let _ = env.op_timeout();
        let _ = env.interval_ms();
        let _ = env.is_promotable();
    }

    #[test]
    fn wal_names_never_panic_and_read_back(s in any::<String>(), tli in 1u32.., log in any::<u32>(),
                                          seg in 0u32..256) {
        let _ = WalFile::parse(&s);
        let name = format!("{tli:08X}{log:08X}{seg:08X}");
        let f = WalFile::parse(&name).unwrap();
        prop_assert_eq!(f, WalFile::Segment { timeline: tli, log, seg });
        let size = 16u64 << 20;
        prop_assert_eq!(f.end(size), Some(Lsn((u64::from(log) * 256 + u64::from(seg) + 1) * size)));
    }

    /// A segment enters the archive only when a standby that could be
    /// promoted flushed all of it, or when this primary is alone with no
    /// synchronous standby named.
    #[test]
    fn the_archive_takes_only_what_a_promotable_standby_has(
        synchronous in any::<bool>(), log in 0u32..4, seg in 0u32..256,
        senders in proptest::collection::vec(
            (prop_oneof![Just("sync"), Just("async"), Just("quorum"), Just("potential")],
             proptest::option::of(any::<u64>())), 0..4)
    ) {
        let view = ServerView {
            in_recovery: false,
            synchronous,
            segment_size: 16 << 20,
            senders: senders.iter().enumerate().map(|(i, (st, f))| Sender {
                name: format!("node{i}"),
                sync_state: st.to_string(),
                flush: f.map(|x| Lsn(x % (8u64 << 32))),
            }).collect(),
        };
        let name = format!("00000001{log:08X}{seg:08X}");
        let file = WalFile::parse(&name).unwrap();
        let end = file.end(view.segment_size).unwrap();
        if decide(&name, file, &view).is_ok() {
            let covered = view.senders.iter().any(|s| {
                (!synchronous || s.sync_state == "sync" || s.sync_state == "quorum")
                    && s.flush.is_some_and(|f| f >= end)
            });
            prop_assert!(covered || (!synchronous && view.senders.is_empty()));
        }
    }
}
