//! Tag naming rules: a project may require every pushed tag to match a regular
//! expression (e.g. `\d+\.\d+\.\d+` for semver, `[0-9.]+-(dev|prod)-\d+` for
//! `<version>-<env>-<build>`). The pattern must match the whole tag (it is
//! anchored as `^(?:…)$`). Off by default. A push whose tag does not match is
//! refused with [`Error::PolicyDenied`] (403 DENIED) showing the pattern; pushes
//! by digest carry no tag and are not affected. Existing tags are not checked.

use berth_oci::RepositoryName;
use regex::Regex;

use super::rules::ProjectRules;
use super::PolicyError;
use crate::error::{Error, Result};
use crate::registry::Registry;

/// Compiles a naming pattern, anchored to the whole tag.
///
/// Errors: [`PolicyError::Invalid`] with the regex parser's message.
pub fn compile(pattern: &str) -> std::result::Result<Regex, PolicyError> {
    let invalid =
        |e: regex::Error| PolicyError::Invalid(format!("tag naming pattern {pattern:?}: {e}"));
    // Parse it alone first, so an error points into what the user wrote.
    Regex::new(pattern).map_err(invalid)?;
    Regex::new(&format!("^(?:{pattern})$")).map_err(invalid)
}

/// Refuses `tag` when the project has a naming rule it does not match.
pub fn check(rules: &ProjectRules, repo: &RepositoryName, tag: &str) -> Result<()> {
    match &rules.naming {
        Some((pattern, re)) if !re.is_match(tag) => Err(Error::PolicyDenied(format!(
            "tag {tag:?} does not follow the tag naming rule of project {}: tags must match the pattern {pattern}",
            repo.project()
        ))),
        _ => Ok(()),
    }
}

impl Registry {
    /// The project's tag naming pattern, if set.
    ///
    /// For a management route such as `GET /api/v2.0/projects/{project}/tag-naming-rule`.
    pub async fn tag_naming_rule(
        &self,
        project: &str,
    ) -> std::result::Result<Option<String>, PolicyError> {
        Ok(self.meta.tag_naming_rule(project).await?)
    }

    /// Sets (`Some`) or clears (`None`) the project's tag naming pattern. Takes
    /// effect at once in this process.
    ///
    /// Errors: [`PolicyError::Invalid`] when the pattern is not a valid regex.
    pub async fn tag_naming_rule_set(
        &self,
        project: &str,
        pattern: Option<&str>,
    ) -> std::result::Result<(), PolicyError> {
        if let Some(p) = pattern {
            compile(p)?;
        }
        self.meta.set_tag_naming_rule(project, pattern).await?;
        self.forget_rules(project).await;
        Ok(())
    }
}
