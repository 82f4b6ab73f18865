//! Per-project storage quotas (Harbor's project quota): a project's usage is the
//! sum of the sizes of the distinct blobs and manifests its repositories hold. A
//! push that would take the project past its quota is refused with 403 DENIED
//! `quota exceeded: the push would bring the project to X of its Y quota`: before any byte is stored when the size is
//! known up front (`Content-Length` of a chunk or monolithic upload, a manifest
//! body), otherwise at commit, inside the transaction that would link the blob
//! (so concurrent pushes cannot overshoot), and the bytes are dropped.

use berth_meta::DailyCount;
use berth_oci::{Digest, RepositoryName};
use berth_storage::UploadId;

use crate::error::{Error, Result};
use crate::registry::Registry;

/// Days of push/pull counters [`Registry::project_usage`] returns.
pub const USAGE_DAYS: u32 = 30;

/// A project's usage, for the management API (Harbor's `/projects/{name}/summary`
/// quota and `/quotas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectUsage {
    /// Project name.
    pub project: String,
    /// Bytes used, each blob counted once.
    pub storage_used: u64,
    /// The quota in force in bytes (the project's own, else the configured
    /// default); `None`: unlimited.
    pub quota: Option<u64>,
    /// True when `quota` is the project's own rather than the default.
    pub quota_is_custom: bool,
    /// Repositories of the project.
    pub repositories: u64,
    /// Artifacts: manifests that are neither an index's child nor a referrer.
    pub artifacts: u64,
    /// Pushes and pulls per day, newest first, for the last [`USAGE_DAYS`] days
    /// (days without activity are absent).
    pub daily: Vec<DailyCount>,
}

/// Sizes the way the quota message shows them: `512 B`, `10 MiB`, `1.5 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = 0;
    let mut v = n as f64;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        let s = format!("{v:.2}");
        format!(
            "{} {}",
            s.trim_end_matches('0').trim_end_matches('.'),
            UNITS[unit]
        )
    }
}

/// The refusal: 403 DENIED with `quota exceeded: the push would bring the
/// project to X of its Y quota` (X: the usage with this push's bytes).
pub(crate) fn exceeded(would_use: u64, limit: u64) -> Error {
    Error::PolicyDenied(format!(
        "quota exceeded: the push would bring the project to {} of its {} quota",
        human_bytes(would_use),
        human_bytes(limit)
    ))
}

impl Registry {
    /// The quota in force for a project in bytes: its own, else the default
    /// (`None`: unlimited). Returns whether it is the project's own.
    pub(crate) async fn quota_limit(&self, project: &str) -> Result<(Option<u64>, bool)> {
        Ok(match self.meta.project_quota(project).await? {
            Some(own) => (Some(own), true),
            None => (self.default_quota, false),
        })
    }

    /// Sets a project's quota in bytes, or with `None` removes it so the
    /// configured default applies. (Harbor: `PUT /api/v2.0/quotas/{id}`.)
    pub async fn set_project_quota(&self, project: &str, bytes: Option<u64>) -> Result<()> {
        Ok(self.meta.set_project_quota(project, bytes).await?)
    }

    /// A project's storage used, quota, repository and artifact counts, and
    /// pushes/pulls per day.
    pub async fn project_usage(&self, project: &str) -> Result<ProjectUsage> {
        let rec = self.meta.project_usage(project).await?;
        let (quota, custom) = self.quota_limit(project).await?;
        Ok(ProjectUsage {
            project: project.to_string(),
            storage_used: rec.storage_bytes,
            quota,
            quota_is_custom: custom,
            repositories: rec.repositories,
            artifacts: rec.artifacts,
            daily: self.meta.project_daily(project, USAGE_DAYS).await?,
        })
    }

    /// Refuses, before anything is stored, a push of `incoming` more bytes into
    /// `repo` that would take its project past its quota. `digest`, when known,
    /// lets a blob the project already holds through (it adds nothing).
    ///
    /// Errors: [`Error::PolicyDenied`] `quota exceeded: the push would bring the project to X of its Y quota`.
    pub async fn quota_admit(
        &self,
        repo: &RepositoryName,
        digest: Option<&Digest>,
        incoming: u64,
    ) -> Result<()> {
        let project = repo.project();
        let (Some(limit), _) = self.quota_limit(project).await? else {
            return Ok(());
        };
        if let Some(d) = digest {
            if self.meta.project_holds_blob(project, d).await? {
                return Ok(());
            }
        }
        let used = self.meta.project_storage_used(project).await?;
        let would_use = used.saturating_add(incoming);
        let percent = crate::webhook::QUOTA_WARNING_PERCENT;
        let near = |bytes: u64| u128::from(bytes) * 100 > u128::from(limit) * u128::from(percent);
        let (kind, details) = if would_use > limit {
            let refusal = exceeded(would_use, limit);
            (crate::webhook::EventType::QuotaExceed, Err(refusal))
        } else if digest.is_some() && near(would_use) && !near(used) {
            // Only at a blob's or manifest's commit (with its digest): the
            // checks of upload chunks before it would warn of it again.
            let note = format!(
                "quota near: the push brings the project to {} of its {} quota (over {percent}%)",
                human_bytes(would_use),
                human_bytes(limit)
            );
            (crate::webhook::EventType::QuotaWarning, Ok(note))
        } else {
            return Ok(());
        };
        let mut event = crate::webhook::Event::on_repository(kind, repo.as_str(), "");
        event.digest = digest.map(|d| d.to_string());
        let text = match &details {
            Ok(note) => note.clone(),
            Err(refusal) => refusal.to_string(),
        };
        event.extra = Some(serde_json::json!({ "Details": text }));
        self.webhook_notify(event);
        details.map(|_| ())
    }

    /// [`Registry::quota_admit`] for a chunk of `incoming` bytes about to be
    /// appended to upload session `id` (its bytes so far count too). When refused,
    /// the session is cancelled so nothing of the push stays behind.
    pub async fn upload_quota_admit(
        &self,
        repo: &RepositoryName,
        id: &str,
        incoming: u64,
    ) -> Result<()> {
        let Some(upload) = UploadId::parse(id) else {
            return Ok(()); // the append itself answers BLOB_UPLOAD_UNKNOWN
        };
        if self.quota_limit(repo.project()).await?.0.is_none() {
            return Ok(());
        }
        let offset = self.blobs.upload_len(&upload).await.unwrap_or(0);
        match self
            .quota_admit(repo, None, offset.saturating_add(incoming))
            .await
        {
            Err(e @ Error::PolicyDenied(_)) => {
                let _ = self.upload_cancel(repo, id).await;
                Err(e)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(
            exceeded(10 << 20, 8 << 20).to_string(),
            "quota exceeded: the push would bring the project to 10 MiB of its 8 MiB quota"
        );
    }
}
