//! Tag immutability (Harbor's immutable tag rules): a tag a rule protects can be
//! neither moved to another digest nor deleted, and the manifest it points at
//! cannot be deleted by digest. Pushing the same digest again is allowed.
//! Refusals are [`Error::PolicyDenied`] (403 DENIED) naming the rule. Retention
//! never removes a protected tag or its manifest.
//!
//! Rule JSON (Harbor's shape; `id` is assigned by berth and ignored on input):
//! ```json
//! {"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"v*"}],
//!  "scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]},
//!  "disabled":false}
//! ```
//!
//! Known limit: the check runs before the metadata transaction that moves the tag,
//! so two *first* pushes of the same protected tag racing each other with
//! different digests can both succeed (the later one wins); once the tag exists,
//! it is protected.

use std::sync::Arc;

use berth_oci::{Digest, RepositoryName};
use serde::{Deserialize, Serialize};

use super::rules::ProjectRules;
use super::selector::{self, Compiled, ScopeSelectors, Selector};
use super::PolicyError;
use crate::error::{Error, Result};
use crate::registry::Registry;

/// An immutable tag rule in Harbor's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImmutableRule {
    /// Assigned by berth; ignored on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Which tags it protects (see [`selector`]).
    #[serde(default)]
    pub tag_selectors: Vec<Selector>,
    /// In which repositories of the project.
    #[serde(default)]
    pub scope_selectors: ScopeSelectors,
    /// A disabled rule protects nothing.
    #[serde(default)]
    pub disabled: bool,
}

impl ImmutableRule {
    /// A rule protecting tags matching the doublestar `tag_pattern` in repositories
    /// matching `repo_pattern` (relative to the project, `**` for all).
    pub fn new(tag_pattern: &str, repo_pattern: &str) -> ImmutableRule {
        ImmutableRule {
            id: None,
            tag_selectors: vec![Selector::matching(tag_pattern, false)],
            scope_selectors: ScopeSelectors {
                repository: vec![Selector::matching(repo_pattern, true)],
            },
            disabled: false,
        }
    }

    /// Human form: `tags matching "v*" in repositories matching "**"`.
    pub fn describe(&self) -> String {
        format!(
            "tags {} in repositories {}",
            selector::describe_list(&self.tag_selectors),
            selector::describe_list(&self.scope_selectors.repository)
        )
    }
}

/// An enabled rule ready to match.
#[derive(Debug, Clone)]
pub struct CompiledImmutableRule {
    /// Its id.
    pub id: i64,
    /// The rule as stored.
    pub rule: ImmutableRule,
    repos: Vec<Compiled>,
    tags: Vec<Compiled>,
}

impl CompiledImmutableRule {
    /// Compiles a rule. Errors: [`PolicyError::Invalid`].
    pub fn compile(id: i64, rule: ImmutableRule) -> std::result::Result<Self, PolicyError> {
        if rule.tag_selectors.is_empty() {
            return Err(PolicyError::Invalid(
                "an immutable rule needs at least one tag selector".into(),
            ));
        }
        Ok(CompiledImmutableRule {
            id,
            repos: selector::compile(&rule.scope_selectors.repository, true)?,
            tags: selector::compile(&rule.tag_selectors, false)?,
            rule,
        })
    }

    /// True when the rule protects `tag` in `repo`.
    pub fn protects(&self, repo: &RepositoryName, tag: &str) -> bool {
        selector::selects(&self.repos, selector::repository_path(repo))
            && selector::selects(&self.tags, tag)
    }

    /// `immutable rule 3 (tags matching "v*" in repositories matching "**")`.
    pub fn label(&self) -> String {
        format!("immutable rule {} ({})", self.id, self.rule.describe())
    }
}

/// The first rule of `rules` protecting `tag` in `repo`.
pub fn protecting<'a>(
    rules: &'a ProjectRules,
    repo: &RepositoryName,
    tag: &str,
) -> Option<&'a CompiledImmutableRule> {
    rules.immutable.iter().find(|r| r.protects(repo, tag))
}

impl Registry {
    /// Whether an immutable rule of the repository's project protects `tag`
    /// (Harbor's `immutable` flag of a tag). Uses the cached rules.
    pub async fn tag_is_immutable(&self, repo: &RepositoryName, tag: &str) -> Result<bool> {
        let rules = self.project_rules(repo.project()).await?;
        Ok(protecting(&rules, repo, tag).is_some())
    }

    /// The rules of a project, from the cache or loaded (see [`super::rules`]).
    /// A stored rule that no longer compiles is skipped with an error logged.
    pub(crate) async fn project_rules(&self, project: &str) -> Result<Arc<ProjectRules>> {
        if let Some(r) = self.rules.get(project) {
            return Ok(r);
        }
        let snapshot = self.rules.snapshot();
        let mut rules = ProjectRules::default();
        for row in self.meta.immutable_rules(project).await? {
            let parsed = serde_json::from_str::<ImmutableRule>(&row.rule)
                .map_err(|e| PolicyError::Invalid(e.to_string()))
                .and_then(|r| CompiledImmutableRule::compile(row.id, r));
            match parsed {
                Ok(r) if !r.rule.disabled => rules.immutable.push(r),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(project, id = row.id, error = %e, "stored immutable rule is invalid; ignored")
                }
            }
        }
        if let Some(pattern) = self.meta.tag_naming_rule(project).await? {
            match super::naming::compile(&pattern) {
                Ok(re) => rules.naming = Some((pattern, re)),
                Err(e) => {
                    tracing::error!(project, error = %e, "stored tag naming rule is invalid; ignored")
                }
            }
        }
        let settings = self.meta.project_settings(project).await?;
        rules.require_signature = settings.require_signature;
        rules.signature_each_child = settings.signature_each_child;
        rules.auto_sbom = settings.auto_sbom;
        rules.prevent_severity = settings
            .prevent_severity
            .as_deref()
            .and_then(crate::vuln::Severity::parse);
        rules.deny_unscanned = settings.deny_unscanned;
        let rules = Arc::new(rules);
        self.rules.put(snapshot, project, rules.clone());
        Ok(rules)
    }

    /// Push of `digest` under `tag`: the naming rule, then immutability (a
    /// protected tag may only be pushed again with the digest it has).
    pub(crate) async fn check_tag_push(
        &self,
        repo: &RepositoryName,
        tag: &str,
        digest: &Digest,
    ) -> Result<()> {
        let rules = self.project_rules(repo.project()).await?;
        super::naming::check(&rules, repo, tag)?;
        if let Some(rule) = protecting(&rules, repo, tag) {
            if let Some(current) = self.meta.manifest_by_tag(repo.as_str(), tag).await? {
                if &current.digest != digest {
                    return Err(Error::PolicyDenied(format!(
                        "tag {tag:?} of {repo} is immutable under {}: it points at {} and cannot be overwritten with {digest}",
                        rule.label(),
                        current.digest
                    )));
                }
            }
        }
        Ok(())
    }

    /// Delete of `tag`: refused when a rule protects it.
    pub(crate) async fn check_tag_delete(&self, repo: &RepositoryName, tag: &str) -> Result<()> {
        let rules = self.project_rules(repo.project()).await?;
        if let Some(rule) = protecting(&rules, repo, tag) {
            return Err(Error::PolicyDenied(format!(
                "tag {tag:?} of {repo} is immutable under {}: it cannot be deleted",
                rule.label()
            )));
        }
        Ok(())
    }

    /// Delete of a manifest by digest: refused when a protected tag points at it.
    pub(crate) async fn check_manifest_delete(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<()> {
        let rules = self.project_rules(repo.project()).await?;
        if rules.immutable.is_empty() {
            return Ok(());
        }
        for tag in self.meta.tags_of_manifest(repo.as_str(), digest).await? {
            if let Some(rule) = protecting(&rules, repo, &tag) {
                return Err(Error::PolicyDenied(format!(
                    "manifest {digest} of {repo} is the target of tag {tag:?}, immutable under {}: it cannot be deleted",
                    rule.label()
                )));
            }
        }
        Ok(())
    }

    /// The project's immutable tag rules (with their ids), by id.
    ///
    /// For `GET /api/v2.0/projects/{project}/immutabletagrules`.
    pub async fn immutable_rules(
        &self,
        project: &str,
    ) -> std::result::Result<Vec<ImmutableRule>, PolicyError> {
        let mut out = Vec::new();
        for row in self.meta.immutable_rules(project).await? {
            let mut rule: ImmutableRule = serde_json::from_str(&row.rule).map_err(|e| {
                PolicyError::Invalid(format!("stored immutable rule {}: {e}", row.id))
            })?;
            rule.id = Some(row.id);
            out.push(rule);
        }
        Ok(out)
    }

    /// Adds an immutable tag rule to the project and returns its id. Takes effect
    /// at once in this process.
    ///
    /// Errors: [`PolicyError::Invalid`] when a selector does not compile.
    pub async fn immutable_rule_add(
        &self,
        project: &str,
        mut rule: ImmutableRule,
    ) -> std::result::Result<i64, PolicyError> {
        rule.id = None;
        CompiledImmutableRule::compile(0, rule.clone())?;
        let json = serde_json::to_string(&rule).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        let id = self.meta.add_immutable_rule(project, &json).await?;
        self.forget_rules(project).await;
        Ok(id)
    }

    /// Replaces rule `id` of the project (e.g. to disable it).
    ///
    /// Errors: [`PolicyError::Invalid`], [`PolicyError::NotFound`].
    pub async fn immutable_rule_update(
        &self,
        project: &str,
        id: i64,
        mut rule: ImmutableRule,
    ) -> std::result::Result<(), PolicyError> {
        rule.id = None;
        CompiledImmutableRule::compile(id, rule.clone())?;
        let json = serde_json::to_string(&rule).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        let found = self.meta.update_immutable_rule(project, id, &json).await?;
        self.forget_rules(project).await;
        found.then_some(()).ok_or_else(|| {
            PolicyError::NotFound(format!("project {project} has no immutable rule {id}"))
        })
    }

    /// Removes rule `id` of the project.
    ///
    /// Errors: [`PolicyError::NotFound`].
    pub async fn immutable_rule_delete(
        &self,
        project: &str,
        id: i64,
    ) -> std::result::Result<(), PolicyError> {
        let found = self.meta.delete_immutable_rule(project, id).await?;
        self.forget_rules(project).await;
        found.then_some(()).ok_or_else(|| {
            PolicyError::NotFound(format!("project {project} has no immutable rule {id}"))
        })
    }
}
