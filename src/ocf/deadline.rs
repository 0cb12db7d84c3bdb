//! The time budget of one operation.
//!
//! Pacemaker kills an agent that overruns `OCF_RESKEY_CRM_meta_timeout` and
//! records a bare "Timed Out". We would rather finish a little early and say
//! what we were waiting for, so every wait and every child process is bounded
//! by a `Deadline` that keeps a safety margin before the executor's own limit.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
    budget: Duration,
}

impl Deadline {
    /// `timeout` is the operation timeout Pacemaker gave us. The margin we keep
    /// grows with it (10%, between 0.5 s and 5 s) so short operations still get
    /// most of their budget.
    pub fn from_timeout(timeout: Duration) -> Self {
        let margin = (timeout / 10).clamp(Duration::from_millis(500), Duration::from_secs(5));
        let budget = timeout
            .saturating_sub(margin)
            .max(Duration::from_millis(500));
        Deadline {
            end: Instant::now() + budget,
            budget,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The whole budget this deadline was created with.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// A shorter deadline inside this one, for a sub-step that must leave time
    /// for what follows it.
    pub fn within(&self, limit: Duration) -> Deadline {
        let now = Instant::now();
        let end = (now + limit).min(self.end);
        Deadline {
            end,
            budget: end.saturating_duration_since(now),
        }
    }

    pub fn tokio_instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_ten_percent_clamped() {
        let d = Deadline::from_timeout(Duration::from_secs(20));
        assert!(d.budget() == Duration::from_secs(18));
        let d = Deadline::from_timeout(Duration::from_secs(120));
        assert!(d.budget() == Duration::from_secs(115));
        let d = Deadline::from_timeout(Duration::from_secs(2));
        assert!(d.budget() == Duration::from_millis(1500));
    }

    #[test]
    fn within_never_extends() {
        let d = Deadline::from_timeout(Duration::from_secs(10));
        let inner = d.within(Duration::from_secs(100));
        assert!(inner.end <= d.end);
    }
}
