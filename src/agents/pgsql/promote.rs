//! `promote`, `demote` and `notify` outside replication mode (replication
//! mode has its own, in `replication/`).
//!
//! A stand-alone PostgreSQL has nothing to promote. The reference answers 6
//! (fatal) even when the resource is not a promotable clone at all, which
//! makes ocf-tester fail; the OCF guide asks for 3 (not implemented) there. We
//! answer 3 for a plain primitive and keep 6 for a promotable clone with
//! `rep_mode=none`, which is a real configuration error.

use super::Pgsql;
use crate::ocf::{ActionResult, Failure, OcfRc};

impl Pgsql {
    fn not_replicated(&self) -> Failure {
        if self.env.is_promotable() {
            Failure::configured(
                "Not in a replication mode. A promotable clone needs rep_mode=async or sync",
            )
        } else {
            Failure::unimplemented("Not in a replication mode.")
        }
    }

    pub(super) async fn promote(&self) -> ActionResult {
        Err(self.not_replicated())
    }

    pub(super) async fn demote(&self) -> ActionResult {
        Err(self.not_replicated())
    }

    /// Notifications only matter in replication mode; outside it they
    /// succeed, as `notify` must.
    pub(super) async fn notify(&self) -> ActionResult {
        tracing::debug!(
            "notify: {} for {}",
            self.env.meta("notify_type").unwrap_or(""),
            self.env.meta("notify_operation").unwrap_or("")
        );
        Ok(OcfRc::Success)
    }
}
