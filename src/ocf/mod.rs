//! The OCF resource-agent contract, independent of PostgreSQL: exit codes,
//! actions, the environment Pacemaker passes, logging and exit reasons, the
//! meta-data writer and the operation deadline.

pub mod action;
pub mod deadline;
pub mod env;
pub mod log;
pub mod metadata;
pub mod rc;

pub use action::Action;
pub use deadline::Deadline;
pub use env::OcfEnv;
pub use rc::{ActionResult, Failure, OcfRc};

/// Runs an action's future to completion on a single-threaded runtime (one
/// invocation does one thing at a time; every wait in it is bounded by the
/// operation's `Deadline`).
pub fn block_on(fut: impl std::future::Future<Output = ActionResult>) -> ActionResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::generic(format!("cannot start the async runtime: {e}")))?
        .block_on(fut)
}
