//! Roles and permissions: what a [`Role`] (Harbor's project roles) or a robot's
//! permission list allows on a repository, as a [`Permissions`] set.

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::access::Action;

/// A set of things a caller may do on a repository (or project).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Permissions(u8);

impl Permissions {
    /// Nothing.
    pub const NONE: Permissions = Permissions(0);
    /// Read manifests, blobs, referrers (`pull` scope).
    pub const PULL: Permissions = Permissions(1);
    /// Upload blobs, push manifests and tags (`push` scope).
    pub const PUSH: Permissions = Permissions(2);
    /// Delete manifests, tags and blobs (`delete` scope).
    pub const DELETE: Permissions = Permissions(4);
    /// List tags and see the repository in the catalog (every role but limited guest).
    pub const LIST: Permissions = Permissions(8);
    /// Manage the project: members, robots, settings (project admin).
    pub const MANAGE: Permissions = Permissions(16);
    /// Everything.
    pub const ALL: Permissions = Permissions(31);

    /// True when every permission in `other` is in `self`.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// `self` without `other`.
    pub fn without(self, other: Permissions) -> Permissions {
        Permissions(self.0 & !other.0)
    }

    /// The permission one scope action needs.
    pub fn of_action(action: Action) -> Permissions {
        match action {
            Action::Pull => Permissions::PULL,
            Action::Push => Permissions::PUSH,
            Action::Delete => Permissions::DELETE,
        }
    }

    /// The permissions a list of scope actions needs.
    pub fn of_actions(actions: &[Action]) -> Permissions {
        actions.iter().fold(Permissions::NONE, |p, a| {
            p.union(Permissions::of_action(*a))
        })
    }

    /// The scope actions (`pull`, `push`, `delete`) in this set, in that order.
    pub fn actions(self) -> Vec<Action> {
        [Action::Pull, Action::Push, Action::Delete]
            .into_iter()
            .filter(|a| self.contains(Permissions::of_action(*a)))
            .collect()
    }
}

/// A project role with Harbor's role ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 1: everything in the project, members included.
    ProjectAdmin,
    /// 2: push and pull.
    Developer,
    /// 3: pull.
    Guest,
    /// 4: push, pull, delete, manage tags.
    Maintainer,
    /// 5: pull only, no listing.
    LimitedGuest,
}

impl Role {
    /// The role with Harbor's id (1 projectAdmin, 2 developer, 3 guest,
    /// 4 maintainer, 5 limitedGuest).
    pub fn from_id(id: i64) -> Option<Role> {
        Some(match id {
            1 => Role::ProjectAdmin,
            2 => Role::Developer,
            3 => Role::Guest,
            4 => Role::Maintainer,
            5 => Role::LimitedGuest,
            _ => return None,
        })
    }

    /// Harbor's role id.
    pub fn id(self) -> i64 {
        match self {
            Role::ProjectAdmin => 1,
            Role::Developer => 2,
            Role::Guest => 3,
            Role::Maintainer => 4,
            Role::LimitedGuest => 5,
        }
    }

    /// Harbor's role name (`projectAdmin`, `developer`, `guest`, `maintainer`, `limitedGuest`).
    pub fn name(self) -> &'static str {
        match self {
            Role::ProjectAdmin => "projectAdmin",
            Role::Developer => "developer",
            Role::Guest => "guest",
            Role::Maintainer => "maintainer",
            Role::LimitedGuest => "limitedGuest",
        }
    }

    /// The role named `name` (Harbor's names; also `admin` for project admin).
    pub fn from_name(name: &str) -> Option<Role> {
        Some(match name.to_ascii_lowercase().as_str() {
            "projectadmin" | "admin" | "project-admin" => Role::ProjectAdmin,
            "developer" => Role::Developer,
            "guest" => Role::Guest,
            "maintainer" => Role::Maintainer,
            "limitedguest" | "limited-guest" => Role::LimitedGuest,
            _ => return None,
        })
    }

    /// What the role allows.
    pub fn permissions(self) -> Permissions {
        let p = Permissions::PULL;
        match self {
            Role::ProjectAdmin => Permissions::ALL,
            Role::Maintainer => p
                .union(Permissions::PUSH)
                .union(Permissions::DELETE)
                .union(Permissions::LIST),
            Role::Developer => p.union(Permissions::PUSH).union(Permissions::LIST),
            Role::Guest => p.union(Permissions::LIST),
            Role::LimitedGuest => p,
        }
    }
}

/// One entry of a robot's permission list: in `project` (`*` = every project),
/// on repositories matching one of `repositories` (globs relative to the
/// project; empty = all), the listed `actions` (`pull`, `push`, `delete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotPermission {
    /// Project name or `*`.
    pub project: String,
    /// Repository globs relative to the project (`app`, `team-*`, `**`); empty = all.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// `pull`, `push`, `delete`.
    pub actions: Vec<String>,
}

impl RobotPermission {
    /// What this entry allows on `repository` (full name) in `project`.
    pub fn permissions_on(&self, project: &str, repository: &str) -> Permissions {
        if self.project != "*" && self.project != project {
            return Permissions::NONE;
        }
        if !repository_matches(&self.repositories, project, repository) {
            return Permissions::NONE;
        }
        let mut p = Permissions::NONE;
        for a in &self.actions {
            p = p.union(match a.as_str() {
                "pull" => Permissions::PULL.union(Permissions::LIST),
                "push" => Permissions::PUSH,
                "delete" => Permissions::DELETE,
                "*" => Permissions::PULL
                    .union(Permissions::PUSH)
                    .union(Permissions::DELETE)
                    .union(Permissions::LIST),
                _ => Permissions::NONE,
            });
        }
        p
    }
}

/// True when `patterns` is empty or one of them matches the repository's path
/// relative to its project (`team/app/web` → `app/web`; a one-component name
/// in `library` matches as itself). A malformed pattern matches nothing.
pub fn repository_matches(patterns: &[String], project: &str, repository: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let relative = repository
        .strip_prefix(project)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(repository);
    patterns
        .iter()
        .filter_map(|p| matcher(p))
        .any(|m| m.is_match(relative) || m.is_match(repository))
}

fn matcher(pattern: &str) -> Option<GlobMatcher> {
    Glob::new(pattern).ok().map(|g| g.compile_matcher())
}

/// Checks that every pattern is a valid glob; returns the first bad one.
pub fn validate_patterns(patterns: &[String]) -> Result<(), String> {
    match patterns.iter().find(|p| Glob::new(p).is_err()) {
        Some(bad) => Err(bad.clone()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_harbor_grants() {
        let can = |r: Role, p: Permissions| r.permissions().contains(p);
        assert!(can(Role::ProjectAdmin, Permissions::MANAGE));
        assert!(can(Role::Maintainer, Permissions::DELETE));
        assert!(!can(Role::Maintainer, Permissions::MANAGE));
        assert!(can(Role::Developer, Permissions::PUSH));
        assert!(!can(Role::Developer, Permissions::DELETE));
        assert!(can(Role::Guest, Permissions::PULL.union(Permissions::LIST)));
        assert!(!can(Role::Guest, Permissions::PUSH));
        assert!(can(Role::LimitedGuest, Permissions::PULL));
        assert!(!can(Role::LimitedGuest, Permissions::LIST));
        for id in 1..=5 {
            assert_eq!(Role::from_id(id).map(Role::id), Some(id));
        }
        assert_eq!(Role::from_id(6), None);
    }

    #[test]
    fn repository_patterns_are_relative_to_the_project() {
        let pats = vec!["app*".to_string()];
        assert!(repository_matches(&pats, "team", "team/app"));
        assert!(repository_matches(&pats, "team", "team/app-web"));
        assert!(!repository_matches(&pats, "team", "team/db"));
        assert!(repository_matches(&[], "team", "team/db"));
        let perm = RobotPermission {
            project: "team".into(),
            repositories: vec![],
            actions: vec!["pull".into(), "push".into()],
        };
        assert!(perm
            .permissions_on("team", "team/x")
            .contains(Permissions::PUSH));
        assert_eq!(perm.permissions_on("other", "other/x"), Permissions::NONE);
    }
}
