//! PostgreSQL access, for both personalities: the data directory's files
//! (PID file, control data, version, configuration), pg_ctl, SQL sessions,
//! replication-protocol questions to another server, connection strings and
//! password lookup. Each PostgreSQL operation is done in one place here
//! (docs/architecture.md lists them); the personalities only decide when,
//! and what a failure means in their contract. Nothing here knows about
//! Pacemaker.

pub mod archive;
pub mod conf;
pub mod conninfo;
pub mod controldata;
pub mod controlfile;
pub mod ctl;
pub mod lsn;
pub mod pgpass;
pub mod pidfile;
pub mod replication;
pub mod rewind;
pub mod session;
pub mod settings;
pub mod timeline;
pub mod version;
pub mod waldump;
pub mod walrecord;

pub use lsn::Lsn;
pub use pidfile::PidFile;
pub use session::{ConnParams, Host, Session, SqlError};
pub use version::PgVersion;
