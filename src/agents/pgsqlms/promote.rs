//! promote, with PAF's election check.
//!
//! Pacemaker picks the node with the best promotion score, but scores are
//! from the last primary monitor, and a standby may have received more
//! since. In pre-promote every node publishes `<timeline>#<position>`
//! (`lsn_location-<rsc>`); here the designated node compares itself with
//! every node that will run the resource. If another is ahead (timeline
//! first, then position), the promotion fails on purpose after handing that
//! node a score of 1000 (and ours 1): Pacemaker's next transition promotes
//! it. PAF compares positions as floating-point numbers and waits for
//! missing positions without bound; we compare integers and wait until the
//! operation deadline.

use crate::cluster::vocabulary::{PrivateAttr, Score};
use std::time::Duration;

use super::state::State;
use super::Paf;
use crate::ocf::{ActionResult, Failure, OcfRc};

/// `TL#LSN`, the LSN in decimal bytes.
pub fn parse_location(s: &str) -> Option<(u32, u64)> {
    let (tl, lsn) = s.trim().split_once('#')?;
    let tl = tl.trim().parse().ok()?;
    let lsn = lsn.trim();
    let lsn = lsn
        .parse::<u64>()
        .ok()
        .or_else(|| lsn.strip_suffix(".0").and_then(|l| l.parse().ok()))?;
    Some((tl, lsn))
}

/// Perl truth of an attribute value: set, not empty, not "0".
fn perl_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| !v.is_empty() && v != "0")
}

impl Paf {
    pub async fn promote(&self) -> ActionResult {
        match self.state().await {
            State::Standby => {}
            State::Primary => {
                tracing::info!("\"{}\" already running as a primary", self.rsc);
                return Ok(OcfRc::Success);
            }
            State::Stopped => {
                tracing::info!("\"{}\" currently not running, starting it", self.rsc);
                if let Err(f) = self.start().await {
                    return Err(Failure::generic(format!(
                        "Failed to start the instance \"{}\": {}",
                        self.rsc, f.reason
                    )));
                }
            }
            other => {
                return Err(Failure::generic(format!(
                    "Unexpected error, cannot promote \"{}\": {}",
                    self.rsc,
                    other.describe(&self.rsc)
                )))
            }
        }

        let cancel = self
            .private
            .get(PrivateAttr::CancelSwitchover, None)
            .await
            .ok()
            .flatten();
        if perl_true(cancel.as_deref()) {
            if let Err(e) = self.private.delete(PrivateAttr::CancelSwitchover).await {
                tracing::warn!("{e}");
            }
            let rc = if cancel.as_deref() == Some("1") {
                OcfRc::ErrGeneric
            } else {
                OcfRc::ErrArgs
            };
            return Err(Failure::new(
                rc,
                "Switchover has been canceled from pre-promote action",
            ));
        }

        let recovering = self
            .private
            .get(PrivateAttr::RecoverPrimary, None)
            .await
            .ok()
            .flatten();
        if recovering.as_deref() == Some("1") {
            tracing::info!("Recovering old primary, no election needed");
        } else {
            self.election().await?;
        }

        // Without fencing, a primary out of sight may still run
        // (cluster/partition.rs): wait until it has surely stopped itself.
        let st = self.pcmk.status(&self.rsc).await.map_err(|e| {
            Failure::generic(format!(
                "Could not read the cluster status before promoting: {e}"
            ))
        })?;
        let peers: Vec<String> = st
            .nodes
            .keys()
            .filter(|n| **n != self.node)
            .cloned()
            .collect();
        self.pcmk
            .wait_out_unseen_peers(&st, &self.rsc, &peers)
            .await
            .map_err(|e| Failure::generic(e.to_string()))?;

        let out = self
            .pg_ctl()
            .promote(crate::pg::ctl::Wait::Yes, self.deadline)
            .await;
        if !matches!(&out, Ok(o) if o.success()) {
            let detail = match &out {
                Ok(o) => o.combined(),
                Err(e) => e.to_string(),
            };
            return Err(Failure::generic(format!(
                "Error during promotion command ({detail})"
            )));
        }
        let state = self
            .wait_while(|s| {
                let waiting = *s == State::Standby;
                if waiting {
                    tracing::info!("Waiting for the promote to complete");
                }
                waiting
            })
            .await;
        if state != State::Primary {
            return Err(Failure::generic(format!(
                "Instance \"{}\" is not a primary after the promotion: {}",
                self.rsc,
                state.describe(&self.rsc)
            )));
        }
        tracing::info!("Promote complete");
        Ok(OcfRc::Success)
    }

    /// Fails (after handing over) unless this node is the best candidate.
    async fn election(&self) -> Result<(), Failure> {
        let nodes: Vec<String> = self
            .private
            .get(PrivateAttr::Nodes, None)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let own = self
            .private
            .get(PrivateAttr::LsnLocation, None)
            .await
            .ok()
            .flatten();
        let Some(own) = own else {
            return Err(Failure::generic(
                "Can not get current node LSN location (the pre-promote notification did not \
                 run here: promote only through Pacemaker, with notify=true)",
            ));
        };
        let Some(mut best) = parse_location(&own) else {
            return Err(Failure::generic(format!(
                "Can not get current node LSN location (lsn_location-{} is \"{own}\")",
                self.rsc
            )));
        };
        let mut best_node: Option<&str> = None;
        for node in nodes.iter().filter(|n| **n != self.node) {
            let value = loop {
                if let Some(v) = self
                    .private
                    .get(PrivateAttr::LsnLocation, Some(node))
                    .await
                    .ok()
                    .flatten()
                {
                    break v;
                }
                if self.deadline.remaining() <= Duration::from_millis(200) {
                    return Err(Failure::generic(format!(
                        "{node} did not publish its position (lsn_location-{}) before the \
                         promote timeout; cannot tell whether this node is the best candidate",
                        self.rsc
                    )));
                }
                tracing::info!("pgsql_promote: waiting for LSN from {node}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let Some(theirs) = parse_location(&value) else {
                return Err(Failure::generic(format!(
                    "{node} published an unreadable position \"{value}\" \
                     (lsn_location-{}); cannot tell whether this node is the best candidate",
                    self.rsc
                )));
            };
            tracing::debug!("comparing with \"{node}\": TL#LSN is {value}");
            if theirs > best {
                best = theirs;
                best_node = Some(node);
            }
        }
        let Some(better) = best_node else {
            return Ok(());
        };
        let failure = Failure::generic(format!(
            "{better} is the best candidate to promote, aborting current promotion"
        ));
        tracing::error!("{}", failure.reason);
        if let Err(f) = self.set_score(&self.node, Score::Value(1)).await {
            tracing::warn!("{}", f.reason);
        }
        if let Err(f) = self.set_score(better, Score::Value(1000)).await {
            tracing::warn!("{}", f.reason);
        }
        Err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(parse_location("21#100672008"), Some((21, 100672008)));
        assert_eq!(parse_location("1#50331808.0"), Some((1, 50331808)));
        assert_eq!(parse_location("1#"), None);
        assert_eq!(parse_location("x#1"), None);
        assert_eq!(parse_location("100672008"), None);
        // Timeline first: a newer timeline wins whatever its position.
        assert!(parse_location("3#1").unwrap() > parse_location("2#999999999").unwrap());
        // Exact beyond 2^53, where PAF's doubles are not.
        let a = parse_location("1#9007199254740993").unwrap();
        let b = parse_location("1#9007199254740992").unwrap();
        assert!(a > b);
    }

    #[test]
    fn perl_truth() {
        assert!(perl_true(Some("1")));
        assert!(perl_true(Some("2")));
        assert!(!perl_true(Some("0")));
        assert!(!perl_true(Some("")));
        assert!(!perl_true(None));
    }
}
