//! The agent contracts this binary speaks, built on `ocf`, `pg` and
//! `cluster`. Each personality is one `Agent`: `main` picks it by the name
//! it was called by and asks it everything else (meta-data, methods, usage,
//! which actions it has, and the action itself).

pub mod follow;
pub mod manual;
pub mod pgsql;
pub mod pgsqlms;

use std::path::PathBuf;

use crate::ocf::{Action, ActionResult, Deadline, Failure, OcfEnv};
use crate::pg::rewind::Rejoin;
use crate::pg::ConnParams;

/// Whether a personality has an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// Not a word of this contract: usage is printed, exit 3, as for a word
    /// no contract knows (the stock agent's `*)` branch).
    Unknown,
    /// A word of the OCF vocabulary this contract leaves out on purpose
    /// (PAF has no `status` or `usage`): exit 3 with that reason.
    NotPart,
}

/// One OCF contract.
pub trait Agent: Sync {
    /// The name the contract's messages use (`pgsqlms` in "not part of").
    fn name(&self) -> &'static str;
    fn metadata_xml(&self, env: &OcfEnv) -> String;
    fn methods(&self) -> &'static str;
    /// The usage text: the stock pgsql agent's for both (PAF has none of
    /// its own).
    fn usage(&self, program: &str) -> String {
        usage(program)
    }
    fn support(&self, action: Action) -> Support;
    /// Runs an action other than meta-data, methods and usage.
    fn run(&self, action: Action, env: OcfEnv, program: &str) -> ActionResult;
    /// The local instance as this contract's parameters describe it, for
    /// `show` (no action runs, nothing is validated beyond what reaching
    /// PostgreSQL needs).
    fn local(&self, env: &OcfEnv, deadline: Deadline) -> Result<Local, Failure>;
}

/// How to reach the local PostgreSQL of a resource and what the contract
/// keeps beside it.
pub struct Local {
    pub conn: ConnParams,
    pub pgdata: PathBuf,
    /// The lock a primary leaves behind (the pgsql contract's
    /// `PGSQL.lock`); PAF has none.
    pub lock_file: Option<PathBuf>,
    /// `rep_mode=sync`: only a synchronous standby is a full candidate.
    pub sync: bool,
    pub rejoin: Rejoin,
}

/// The personality called `argv0`'s base name: `pgsqlms` is PAF's contract,
/// every other name (`pgsql`, `pgsql-ra`) the pgsql one.
/// `rejoin=rewind` on a data directory pg_rewind cannot work on (neither
/// `wal_log_hints` nor data checksums in `pg_controldata`): the same
/// validation failure in both personalities.
pub fn not_rewindable() -> crate::ocf::Failure {
    crate::ocf::Failure::configured(
        "rejoin=rewind needs wal_log_hints = on or data checksums, and this data directory \
         has neither: set wal_log_hints = on in postgresql.conf and restart PostgreSQL, or \
         use rejoin=safe",
    )
}

pub fn by_program_name(argv0: &str) -> &'static dyn Agent {
    match argv0.rsplit('/').next().unwrap_or(argv0) {
        "pgsqlms" => &pgsqlms::PGSQLMS,
        _ => &pgsql::PGSQL,
    }
}

/// The stock pgsql agent's usage text, with our program name: the `usage`
/// action of the pgsql personality, and what both personalities print for
/// an unknown action word (PAF's own has none).
pub fn usage(program: &str) -> String {
    format!(
        "        usage: {program} start|stop|status|monitor|promote|demote|notify|meta-data|validate-all|methods

        {program} manages a PostgreSQL Server as an HA resource.

        The 'start' operation starts the PostgreSQL server.
        The 'stop' operation stops the PostgreSQL server.
        The 'status' operation reports whether the PostgreSQL is up.
        The 'monitor' operation reports whether the PostgreSQL is running.
        The 'promote' operation promotes the PostgreSQL server.
        The 'demote' operation demotes the PostgreSQL server.
        The 'validate-all' operation reports whether the parameters are valid.
        The 'methods' operation reports on the methods {program} supports.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_from_the_program_name() {
        assert_eq!(
            by_program_name("/usr/lib/ocf/resource.d/upfront/pgsqlms").name(),
            "pgsqlms"
        );
        assert_eq!(by_program_name("pgsqlms").name(), "pgsqlms");
        assert_eq!(
            by_program_name("/usr/lib/ocf/resource.d/upfront/pgsql").name(),
            "pgsql"
        );
        assert_eq!(by_program_name("pgsql-ra").name(), "pgsql");
    }

    #[test]
    fn what_each_contract_has() {
        assert_eq!(pgsql::PGSQL.support(Action::Reload), Support::Unknown);
        assert_eq!(pgsql::PGSQL.support(Action::Status), Support::Yes);
        assert_eq!(pgsqlms::PGSQLMS.support(Action::Status), Support::NotPart);
        assert_eq!(pgsqlms::PGSQLMS.support(Action::Usage), Support::NotPart);
        assert_eq!(pgsqlms::PGSQLMS.support(Action::Reload), Support::Yes);
        for a in [
            Action::Start,
            Action::Monitor,
            Action::MetaData,
            Action::Methods,
        ] {
            assert_eq!(pgsql::PGSQL.support(a), Support::Yes);
            assert_eq!(pgsqlms::PGSQLMS.support(a), Support::Yes);
        }
    }
}
