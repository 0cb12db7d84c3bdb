//! PostgreSQL access: the data directory's files (PID file, version,
//! configuration), SQL sessions and password lookup. Nothing here knows about
//! Pacemaker.

pub mod conf;
pub mod lsn;
pub mod pgpass;
pub mod pidfile;
pub mod session;
pub mod settings;
pub mod version;

pub use lsn::Lsn;
pub use pidfile::PidFile;
pub use session::{ConnParams, Host, Session, SqlError};
pub use version::PgVersion;
