//! [`Principal`]: who is making a request.

use super::permissions::RobotPermission;

/// An authenticated (or anonymous) caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A user account (password or personal access token).
    User {
        /// `users.id`.
        id: i64,
        /// Login name.
        name: String,
        /// System administrator: may do everything.
        sysadmin: bool,
    },
    /// A robot account (`robot$<project>+<name>`).
    Robot {
        /// `robots.id`.
        id: i64,
        /// Full name.
        name: String,
        /// What it may do.
        permissions: Vec<RobotPermission>,
    },
}

impl Principal {
    /// The name recorded in tokens (`sub`) and the audit log; `anonymous` for
    /// [`Principal::Anonymous`].
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::User { name, .. } | Principal::Robot { name, .. } => name,
        }
    }

    /// `anonymous`, `user` or `robot`.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::User { .. } => "user",
            Principal::Robot { .. } => "robot",
        }
    }

    /// True for a system administrator.
    pub fn is_sysadmin(&self) -> bool {
        matches!(self, Principal::User { sysadmin: true, .. })
    }

    /// True unless anonymous.
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Principal::Anonymous)
    }

    /// The user id, for users.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }
}
