//! Operating-system access the agent needs: the PostgreSQL OS user and child
//! processes with deadlines.

pub mod fs;
pub mod process;
pub mod user;

pub use process::{Cmd, Output, RunError};
pub use user::OsUser;
