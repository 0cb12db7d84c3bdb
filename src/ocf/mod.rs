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
