//! The agent contracts this binary speaks, built on `ocf`, `pg` and `cluster`.

pub mod pgsql;
pub mod pgsqlms;
