//! The actions an OCF agent can be asked for, parsed from argv[1].

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Status,
    Monitor,
    Promote,
    Demote,
    Notify,
    MetaData,
    Methods,
    ValidateAll,
    Usage,
    /// PAF's `reload`: lets Pacemaker apply non-unique parameter changes
    /// without a restart. Only the pgsqlms personality accepts it.
    Reload,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::Start,
        Action::Stop,
        Action::Status,
        Action::Monitor,
        Action::Promote,
        Action::Demote,
        Action::Notify,
        Action::MetaData,
        Action::Methods,
        Action::ValidateAll,
        Action::Usage,
        Action::Reload,
    ];

    pub fn parse(word: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == word)
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Status => "status",
            Action::Monitor => "monitor",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Notify => "notify",
            Action::MetaData => "meta-data",
            Action::Methods => "methods",
            Action::ValidateAll => "validate-all",
            Action::Usage => "usage",
            Action::Reload => "reload",
        }
    }

    /// Actions that may read or write cluster attributes named after the
    /// resource (`OCF_RESOURCE_INSTANCE`).
    pub fn touches_cluster(self) -> bool {
        matches!(
            self,
            Action::Start
                | Action::Stop
                | Action::Monitor
                | Action::Promote
                | Action::Demote
                | Action::Notify
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()), Some(a));
        }
        assert_eq!(Action::parse("reload"), Some(Action::Reload));
        assert_eq!(Action::parse("recover"), None);
        assert_eq!(Action::parse("START"), None);
    }
}
