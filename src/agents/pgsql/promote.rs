//! `promote`, `demote` and `notify` outside replication mode.
//!
//! A stand-alone PostgreSQL has nothing to promote. The reference answers 6
//! (fatal) even when the resource is not a promotable clone at all, which
//! makes ocf-tester fail; the OCF guide asks for 3 (not implemented) there. We
//! answer 3 for a plain primitive and keep 6 for a promotable clone with
//! `rep_mode=none`, which is a real configuration error.

use super::{Pgsql, RepMode};
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
        match self.cfg.rep_mode {
            RepMode::None | RepMode::Slave => Err(self.not_replicated()),
            _ => Err(self.replication_unsupported()),
        }
    }

    pub(super) async fn demote(&self) -> ActionResult {
        match self.cfg.rep_mode {
            RepMode::None | RepMode::Slave => Err(self.not_replicated()),
            _ => Err(self.replication_unsupported()),
        }
    }

    /// Notifications only matter in replication mode; outside it (and for
    /// now, in it) they succeed, as `notify` must.
    pub(super) async fn notify(&self) -> ActionResult {
        tracing::debug!(
            "notify: {} for {}",
            self.env.meta("notify_type").unwrap_or(""),
            self.env.meta("notify_operation").unwrap_or("")
        );
        Ok(OcfRc::Success)
    }
}
