//! What the agents write into the cluster and read back: attribute names
//! and lifetimes, promotion scores, the pgsql personality's statuses. Typed
//! here, spelt exactly as the stock agents spell them (nodes running the
//! shell agent and nodes running this one read each other's attributes
//! during a rolling upgrade), and turned into text only where a tool reads
//! or writes it.

use std::fmt;

use super::Lifetime;

/// A promotion score: a number or one of Pacemaker's infinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Score {
    MinusInfinity,
    Value(i64),
    Infinity,
}

impl Score {
    /// Pacemaker's spelling: `INFINITY`, `+INFINITY`, `-INFINITY` or a
    /// number (a fraction is cut to its integer part, as Pacemaker does).
    pub fn parse(s: &str) -> Option<Score> {
        match s.trim() {
            "INFINITY" | "+INFINITY" => Some(Score::Infinity),
            "-INFINITY" => Some(Score::MinusInfinity),
            n => n
                .parse()
                .ok()
                .or_else(|| {
                    n.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|f| f as i64)
                })
                .map(Score::Value),
        }
    }

    /// A number to compare and rank with: the infinities at the ends.
    pub fn as_i64(self) -> i64 {
        match self {
            Score::MinusInfinity => i64::MIN,
            Score::Value(v) => v,
            Score::Infinity => i64::MAX,
        }
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Score::MinusInfinity => f.write_str("-INFINITY"),
            Score::Value(v) => write!(f, "{v}"),
            Score::Infinity => f.write_str("INFINITY"),
        }
    }
}

/// The node attributes of the pgsql personality, named after the
/// primitive (`<rsc>-status`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    /// `PgsqlStatus` of each node.
    Status,
    /// `DataStatus` of each node, kept across reboots.
    DataStatus,
    /// A standby's received/replayed position while the election runs.
    XlogLoc,
    /// The primary's position when it was promoted.
    MasterBaseline,
    /// The primary before this one, recorded with `MasterBaseline`: whose
    /// history the baseline is a point of (replication/rejoin.rs).
    PromotedFrom,
    /// Whether the WAL receiver runs (`check_wal_receiver`).
    ReceiverStatus,
}

impl Attr {
    pub fn name(self, rsc: &str) -> String {
        let suffix = match self {
            Attr::Status => "status",
            Attr::DataStatus => "data-status",
            Attr::XlogLoc => "xlog-loc",
            Attr::MasterBaseline => "master-baseline",
            Attr::PromotedFrom => "promoted-from",
            Attr::ReceiverStatus => "receiver-status",
        };
        format!("{rsc}-{suffix}")
    }

    pub fn lifetime(self) -> Lifetime {
        match self {
            Attr::DataStatus => Lifetime::Forever,
            _ => Lifetime::Reboot,
        }
    }
}

/// The promotion score's attribute of a resource instance (`pgsql`,
/// `pgsql:0`): `master-<instance>`, as `crm_attribute --promotion` names it.
pub fn promotion_score_name(instance: &str) -> String {
    format!("master-{instance}")
}

/// PAF's private attributes (attrd, never in the CIB), `<name>-<rsc>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateAttr {
    /// A node's WAL position during the election.
    LsnLocation,
    /// The partition's nodes when the election started.
    Nodes,
    /// The primary is being recovered in place: no election.
    RecoverPrimary,
    /// A switchover that the designated standby refused.
    CancelSwitchover,
}

impl PrivateAttr {
    pub fn base(self) -> &'static str {
        match self {
            PrivateAttr::LsnLocation => "lsn_location",
            PrivateAttr::Nodes => "nodes",
            PrivateAttr::RecoverPrimary => "recover_primary",
            PrivateAttr::CancelSwitchover => "cancel_switchover",
        }
    }
}

/// `<rsc>-status`: what each node is, as the pgsql personality sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgsqlStatus {
    Primary,
    SyncStandby,
    AsyncStandby,
    PotentialStandby,
    /// Connected, not (yet) streaming.
    Connected,
    /// A standby with no primary to follow.
    Alone,
    Stopped,
    /// A stop or demote that failed: nothing is known.
    Unknown,
}

impl PgsqlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PgsqlStatus::Primary => "PRI",
            PgsqlStatus::SyncStandby => "HS:sync",
            PgsqlStatus::AsyncStandby => "HS:async",
            PgsqlStatus::PotentialStandby => "HS:potential",
            PgsqlStatus::Connected => "HS:connected",
            PgsqlStatus::Alone => "HS:alone",
            PgsqlStatus::Stopped => "STOP",
            PgsqlStatus::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(s: &str) -> Option<PgsqlStatus> {
        [
            PgsqlStatus::Primary,
            PgsqlStatus::SyncStandby,
            PgsqlStatus::AsyncStandby,
            PgsqlStatus::PotentialStandby,
            PgsqlStatus::Connected,
            PgsqlStatus::Alone,
            PgsqlStatus::Stopped,
            PgsqlStatus::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// A node's own statement about itself (stopped, or a failed stop),
    /// which no other node may overwrite.
    pub fn is_own_statement(self) -> bool {
        matches!(self, PgsqlStatus::Stopped | PgsqlStatus::Unknown)
    }
}

impl fmt::Display for PgsqlStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `pg_stat_replication.sync_state`, upper-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncState {
    Sync,
    Async,
    Potential,
    Other(String),
}

impl SyncState {
    fn parse(s: &str) -> SyncState {
        match s.to_ascii_uppercase().as_str() {
            "SYNC" => SyncState::Sync,
            "ASYNC" => SyncState::Async,
            "POTENTIAL" => SyncState::Potential,
            other => SyncState::Other(other.to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            SyncState::Sync => "SYNC",
            SyncState::Async => "ASYNC",
            SyncState::Potential => "POTENTIAL",
            SyncState::Other(s) => s,
        }
    }
}

/// `<rsc>-data-status`: how complete a node's data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataStatus {
    /// The primary's, or a former primary's.
    Latest,
    /// A standby that lost its primary: it may lack acknowledged writes.
    Disconnect,
    /// A standby seen by the primary's WAL sender: its state and sync state
    /// (`STREAMING|SYNC`, `CATCHUP|ASYNC`...).
    Sender { state: String, sync: SyncState },
}

impl DataStatus {
    /// A sender row of `pg_stat_replication`.
    pub fn sender(state: &str, sync_state: &str) -> DataStatus {
        DataStatus::Sender {
            state: state.to_ascii_uppercase(),
            sync: SyncState::parse(sync_state),
        }
    }

    /// The attribute's text; `None` for something no agent writes.
    pub fn parse(s: &str) -> Option<DataStatus> {
        match s {
            "LATEST" => Some(DataStatus::Latest),
            "DISCONNECT" => Some(DataStatus::Disconnect),
            _ => {
                let (state, sync) = s.split_once('|')?;
                Some(DataStatus::sender(state, sync))
            }
        }
    }

    /// Holds every acknowledged write: the primary's, or the synchronous
    /// standby's while it streams.
    pub fn is_complete(&self) -> bool {
        *self == DataStatus::Latest || self.is_streaming(SyncState::Sync)
    }

    /// Streaming, with this sync state.
    pub fn is_streaming(&self, want: SyncState) -> bool {
        matches!(self, DataStatus::Sender { state, sync } if state == "STREAMING" && *sync == want)
    }
}

impl fmt::Display for DataStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataStatus::Latest => f.write_str("LATEST"),
            DataStatus::Disconnect => f.write_str("DISCONNECT"),
            DataStatus::Sender { state, sync } => write!(f, "{state}|{}", sync.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_in_pacemakers_spelling() {
        for (text, score) in [
            ("-INFINITY", Score::MinusInfinity),
            ("INFINITY", Score::Infinity),
            ("1000", Score::Value(1000)),
            ("-1", Score::Value(-1)),
        ] {
            assert_eq!(Score::parse(text), Some(score));
            assert_eq!(score.to_string(), text);
        }
        assert_eq!(Score::parse("+INFINITY"), Some(Score::Infinity));
        assert_eq!(Score::parse("lots"), None);
        assert_eq!(Score::parse("1.5"), Some(Score::Value(1)));
        assert!(Score::MinusInfinity < Score::Value(i64::MIN + 1));
        assert!(Score::Value(i64::MAX - 1) < Score::Infinity);
    }

    #[test]
    fn statuses_print_the_stock_spellings() {
        for s in [
            "PRI",
            "HS:sync",
            "HS:async",
            "HS:potential",
            "HS:connected",
            "HS:alone",
            "STOP",
            "UNKNOWN",
        ] {
            assert_eq!(PgsqlStatus::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(PgsqlStatus::parse("hs:sync"), None);
        for s in [
            "LATEST",
            "DISCONNECT",
            "STREAMING|SYNC",
            "CATCHUP|ASYNC",
            "STREAMING|QUORUM",
        ] {
            assert_eq!(DataStatus::parse(s).unwrap().to_string(), s);
        }
        assert!(DataStatus::sender("streaming", "sync").is_streaming(SyncState::Sync));
        assert!(!DataStatus::sender("catchup", "sync").is_streaming(SyncState::Sync));
        assert_eq!(DataStatus::parse("garbage"), None);
    }

    #[test]
    fn attribute_names_and_lifetimes() {
        assert_eq!(Attr::Status.name("pgsql"), "pgsql-status");
        assert_eq!(Attr::DataStatus.name("pgsql"), "pgsql-data-status");
        assert_eq!(Attr::XlogLoc.name("pgsql"), "pgsql-xlog-loc");
        assert_eq!(Attr::MasterBaseline.name("pgsql"), "pgsql-master-baseline");
        assert_eq!(Attr::ReceiverStatus.name("pgsql"), "pgsql-receiver-status");
        assert_eq!(Attr::DataStatus.lifetime(), Lifetime::Forever);
        assert_eq!(Attr::Status.lifetime(), Lifetime::Reboot);
        assert_eq!(promotion_score_name("pgsql:1"), "master-pgsql:1");
    }
}
