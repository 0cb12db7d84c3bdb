//! OCF exit codes and the error type every action returns.
//!
//! Pacemaker reads only the exit code and the last `ocf-exit-reason:` line, so
//! an action's failure is always a pair (code, reason). Keeping that pair in one
//! type means no code path can exit non-zero without saying why.

use std::fmt;

/// The exit codes of the OCF resource-agent API (and Pacemaker's additions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // the full contract; FailedPromoted is never reported by pgsql
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
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for OcfRc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
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
        };
        write!(f, "{name}({})", self.code())
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
