//! OCF exit codes and the error type every action returns.
//!
//! Pacemaker reads only the exit code and the last `ocf-exit-reason:` line, so
//! an action's failure is always a pair (code, reason). Keeping that pair in one
//! type means no code path can exit non-zero without saying why.

use std::fmt;

/// The exit codes of the OCF resource-agent API (and Pacemaker's additions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // the full contract; ErrPerm is not returned by pgsqlms
#[repr(u8)]
pub enum OcfRc {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
    RunningPromoted = 8,
    FailedPromoted = 9,
}

impl OcfRc {
    /// Every code, in numeric order (the man page's EXIT CODES).
    pub const ALL: [OcfRc; 10] = [
        OcfRc::Success,
        OcfRc::ErrGeneric,
        OcfRc::ErrArgs,
        OcfRc::ErrUnimplemented,
        OcfRc::ErrPerm,
        OcfRc::ErrInstalled,
        OcfRc::ErrConfigured,
        OcfRc::NotRunning,
        OcfRc::RunningPromoted,
        OcfRc::FailedPromoted,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The symbolic name of ocf-shellfuncs and Pacemaker.
    pub fn name(self) -> &'static str {
        match self {
            OcfRc::Success => "OCF_SUCCESS",
            OcfRc::ErrGeneric => "OCF_ERR_GENERIC",
            OcfRc::ErrArgs => "OCF_ERR_ARGS",
            OcfRc::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfRc::ErrPerm => "OCF_ERR_PERM",
            OcfRc::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfRc::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfRc::NotRunning => "OCF_NOT_RUNNING",
            OcfRc::RunningPromoted => "OCF_RUNNING_PROMOTED",
            OcfRc::FailedPromoted => "OCF_FAILED_PROMOTED",
        }
    }

    /// What the code means coming from this agent, for the man page.
    pub fn meaning(self) -> &'static str {
        match self {
            OcfRc::Success => {
                "The action succeeded. From monitor and status: the server runs (in \
                 replication mode, as a standby)."
            }
            OcfRc::ErrGeneric => {
                "The action failed in a way that may be specific to this node or \
                 temporary (the server did not start or stop in time, a query failed, \
                 the server runs but does not answer), or no action was given. \
                 Pacemaker recovers the resource."
            }
            OcfRc::ErrArgs => "Bad command-line arguments, such as a --param without KEY=VALUE.",
            OcfRc::ErrUnimplemented => {
                "The action is unknown or not available: promote or demote of a plain \
                 (not promotable) resource outside replication mode, or a personality \
                 this version does not implement."
            }
            OcfRc::ErrPerm => {
                "A permission problem: pgdba cannot write the data directory, the log \
                 file or socketdir, or the agent cannot create one of them."
            }
            OcfRc::ErrInstalled => {
                "Something needed is missing on this node, such as pg_ctl or the data \
                 directory. Pacemaker does not start the resource on this node again \
                 until the failure is cleaned up."
            }
            OcfRc::ErrConfigured => {
                "The configuration is wrong everywhere (an invalid parameter value or \
                 combination). Pacemaker stops the resource on every node."
            }
            OcfRc::NotRunning => {
                "monitor or status: the server is cleanly stopped. An exit reason \
                 still says why it is considered stopped."
            }
            OcfRc::RunningPromoted => "monitor: the server runs as the primary (promoted).",
            OcfRc::FailedPromoted => {
                "A failed primary. The pgsql personality never returns it (a failed \
                 primary is reported as 1 or 7, as by ocf:heartbeat:pgsql); pgsqlms \
                 returns it, as PAF does, when the server is down and its control file \
                 says it was running as a primary (a crash)."
            }
        }
    }
}

impl fmt::Display for OcfRc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.code())
    }
}

/// A non-success outcome: the code Pacemaker acts on and the text it shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    pub rc: OcfRc,
    pub reason: String,
}

impl Failure {
    pub fn new(rc: OcfRc, reason: impl Into<String>) -> Self {
        Failure {
            rc,
            reason: reason.into(),
        }
    }
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrGeneric, reason)
    }
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrConfigured, reason)
    }
    pub fn installed(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrInstalled, reason)
    }
    pub fn perm(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrPerm, reason)
    }
    pub fn unimplemented(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrUnimplemented, reason)
    }
    /// Not an error but a state: monitor found the resource stopped. It still
    /// carries a reason, so the operator sees why.
    pub fn not_running(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::NotRunning, reason)
    }
}

/// What an action returns: a success code (0, or 8 for a promoted monitor),
/// or any other code with its reason. Every non-zero exit but 8 prints an
/// `ocf-exit-reason:` line, `NotRunning` included.
pub type ActionResult = Result<OcfRc, Failure>;
