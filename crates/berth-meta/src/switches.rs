//! A project's policy settings kept as columns of `projects`: the on/off
//! switches (`require_signature`, migration 12; `auto_sbom`, migration 14;
//! `signature_each_child`, migration 16) and the vulnerability gate
//! (`prevent_severity`, `deny_unscanned`, migration 15), read in one query
//! for the registry's rules cache.

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// A project's on/off switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSwitch {
    /// Pulls need a verified signature (Harbor's `enable_content_trust_cosign`).
    RequireSignature,
    /// With that gate, every platform manifest needs its own signature.
    SignatureEachChild,
    /// Images pushed get an SBOM (Harbor's `auto_sbom_generation`).
    AutoSbom,
}

impl ProjectSwitch {
    /// Its column (a closed set: safe to write into SQL).
    fn column(self) -> &'static str {
        match self {
            ProjectSwitch::RequireSignature => "require_signature",
            ProjectSwitch::SignatureEachChild => "signature_each_child",
            ProjectSwitch::AutoSbom => "auto_sbom",
        }
    }
}

/// A project's policy settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSettings {
    /// [`ProjectSwitch::RequireSignature`].
    pub require_signature: bool,
    /// [`ProjectSwitch::SignatureEachChild`].
    pub signature_each_child: bool,
    /// [`ProjectSwitch::AutoSbom`].
    pub auto_sbom: bool,
    /// The lowest vulnerability severity whose images may not be pulled
    /// (`None`: the gate is off).
    pub prevent_severity: Option<String>,
    /// Images without a vulnerability report may not be pulled.
    pub deny_unscanned: bool,
}

impl Default for ProjectSettings {
    /// The columns' defaults: what a project not stored (one only implied by
    /// repository names) has.
    fn default() -> Self {
        ProjectSettings {
            require_signature: false,
            signature_each_child: false,
            auto_sbom: true,
            prevent_severity: None,
            deny_unscanned: false,
        }
    }
}

impl MetaStore {
    /// The policy settings of `project` (the defaults when it is not stored).
    pub async fn project_settings(&self, project: &str) -> Result<ProjectSettings> {
        let row = sqlx::query(
            "SELECT require_signature, signature_each_child, auto_sbom, prevent_severity, deny_unscanned
             FROM projects WHERE name = $1",
        )
        .bind(project)
        .fetch_optional(&self.read)
        .await?;
        Ok(match row {
            Some(r) => ProjectSettings {
                require_signature: r.get::<i64, _>("require_signature") != 0,
                signature_each_child: r.get::<i64, _>("signature_each_child") != 0,
                auto_sbom: r.get::<i64, _>("auto_sbom") != 0,
                prevent_severity: r.get("prevent_severity"),
                deny_unscanned: r.get::<i64, _>("deny_unscanned") != 0,
            },
            None => ProjectSettings::default(),
        })
    }

    /// Turns `switch` of `project` on or off. False when the project is not
    /// stored.
    pub async fn project_switch_set(
        &self,
        project: &str,
        switch: ProjectSwitch,
        on: bool,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE projects SET {} = $1, updated_at = $2 WHERE name = $3",
            switch.column()
        );
        let n = self
            .write_one(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from(on))
                    .bind(now_ms())
                    .bind(project.to_string()),
            )
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}
