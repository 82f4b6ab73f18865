//! Upstream registries as managed objects (Harbor's `/api/v2.0/registries`,
//! `berth registry add|list|remove`) and binding projects to them.

use berth_meta::{is_conflict, NewRegistry, RegistryRecord};

use crate::auth::AccountError;
use crate::registry::Registry;

/// The adapter types berth speaks (Harbor's names): any OCI/Distribution
/// registry, Harbor (or another berth), Docker Hub.
pub const REGISTRY_TYPES: [&str; 3] = ["docker-registry", "harbor", "docker-hub"];

/// Checks a registry's settings: a name, a known type, an `http(s)://` URL
/// without query, a secret only with a key.
fn validate(r: &NewRegistry) -> Result<(), AccountError> {
    let invalid = |m: String| Err(AccountError::Invalid(m));
    if r.name.trim().is_empty() || r.name.len() > 255 {
        return invalid("a registry needs a name of 1 to 255 characters".into());
    }
    if !REGISTRY_TYPES.contains(&r.kind.as_str()) {
        return invalid(format!(
            "registry type {:?} is not supported: use one of {}",
            r.kind,
            REGISTRY_TYPES.join(", ")
        ));
    }
    let rest = r
        .url
        .strip_prefix("https://")
        .or_else(|| r.url.strip_prefix("http://"));
    match rest.map(|h| h.trim_end_matches('/')) {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ', '@']) => {}
        _ => {
            return invalid(format!(
                "registry url {:?} must be http://host[:port] or https://host[:port]",
                r.url
            ))
        }
    }
    if r.access_secret.is_some() && r.access_key.is_none() {
        return invalid("credential: an access_secret needs an access_key".into());
    }
    Ok(())
}

impl Registry {
    /// Every upstream registry, by id.
    ///
    /// Errors: [`AccountError::Meta`].
    pub async fn registries(&self) -> Result<Vec<RegistryRecord>, AccountError> {
        Ok(self.meta.registries_all().await?)
    }

    /// A registry by id, or by name when `key` is not a number.
    ///
    /// Errors: [`AccountError::NotFound`].
    pub async fn registry(&self, key: &str) -> Result<RegistryRecord, AccountError> {
        let found = match key.parse::<i64>() {
            Ok(id) => self.meta.registry_by_id(id).await?,
            Err(_) => self.meta.registry_by_name(key).await?,
        };
        found.ok_or_else(|| AccountError::NotFound(format!("registry {key} not found")))
    }

    /// Adds a registry.
    ///
    /// Errors: [`AccountError::Invalid`] (see the checks above),
    /// [`AccountError::Conflict`] when the name is taken.
    pub async fn registry_add(&self, r: &NewRegistry) -> Result<RegistryRecord, AccountError> {
        validate(r)?;
        self.meta.registry_create(r).await.map_err(|e| {
            if is_conflict(&e) {
                AccountError::Conflict(format!("registry {} already exists", r.name))
            } else {
                e.into()
            }
        })
    }

    /// Replaces registry `id`'s settings.
    ///
    /// Errors: as [`Registry::registry_add`]; [`AccountError::NotFound`].
    pub async fn registry_change(&self, id: i64, r: &NewRegistry) -> Result<(), AccountError> {
        validate(r)?;
        let changed = self.meta.registry_update(id, r).await.map_err(|e| {
            if is_conflict(&e) {
                AccountError::Conflict(format!("registry {} already exists", r.name))
            } else {
                AccountError::from(e)
            }
        })?;
        if !changed {
            return Err(AccountError::NotFound(format!("registry {id} not found")));
        }
        self.forget_upstreams();
        Ok(())
    }

    /// Removes registry `id`.
    ///
    /// Errors: [`AccountError::NotFound`]; [`AccountError::Conflict`] while a
    /// project proxies it (naming them).
    pub async fn registry_remove(&self, id: i64) -> Result<RegistryRecord, AccountError> {
        let record = self.registry(&id.to_string()).await?;
        let users = self.meta.registry_projects(id).await?;
        if !users.is_empty() {
            return Err(AccountError::Conflict(format!(
                "registry {} is the upstream of project(s) {}: delete those projects first",
                record.name,
                users.join(", ")
            )));
        }
        let policies: Vec<String> = self
            .replication_policies()
            .await?
            .into_iter()
            .filter(|(_, spec)| spec.uses_registry(id))
            .map(|(row, _)| row.name)
            .collect();
        if !policies.is_empty() {
            return Err(AccountError::Conflict(format!(
                "registry {} is used by replication policy(ies) {}: delete or change those first",
                record.name,
                policies.join(", ")
            )));
        }
        self.meta.registry_delete(id).await?;
        self.forget_upstreams();
        Ok(record)
    }

    /// Binds project `project` to registry `registry_id` (making it a proxy
    /// project) or unbinds it.
    ///
    /// Errors: [`AccountError::NotFound`] for the project or registry.
    pub async fn project_bind(
        &self,
        project: &str,
        registry_id: Option<i64>,
    ) -> Result<(), AccountError> {
        let p = self
            .meta
            .project_by_name(project)
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("project {project} not found")))?;
        if let Some(id) = registry_id {
            self.registry(&id.to_string()).await?;
        }
        self.meta.project_set_registry(p.id, registry_id).await?;
        self.forget_upstreams();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(kind: &str, url: &str) -> NewRegistry {
        NewRegistry {
            name: "up".into(),
            kind: kind.into(),
            url: url.into(),
            ..NewRegistry::default()
        }
    }

    #[test]
    fn registries_need_a_known_type_and_an_http_url() {
        assert!(validate(&reg("docker-registry", "http://127.0.0.1:5000")).is_ok());
        assert!(validate(&reg("docker-hub", "https://registry-1.docker.io")).is_ok());
        for (kind, url) in [
            ("quay", "https://quay.io"),
            ("harbor", "ftp://x"),
            ("harbor", "https://"),
            ("harbor", "https://x?y=1"),
            ("harbor", "http://127.0.0.1:5000/v2/"),
        ] {
            assert!(
                matches!(validate(&reg(kind, url)), Err(AccountError::Invalid(_))),
                "{kind} {url}"
            );
        }
        let mut secret_only = reg("harbor", "https://h");
        secret_only.access_secret = Some("s".into());
        assert!(validate(&secret_only).is_err());
    }
}
