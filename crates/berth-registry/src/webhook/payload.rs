//! Webhook bodies: Harbor's default JSON and CloudEvents 1.0 (structured
//! mode, `application/cloudevents+json`), the same `event_data` in both
//! (docs/webhooks.md "Payloads").

use serde_json::{json, Map, Value};

use super::{Event, EventType, Target};
use crate::error::Result;
use crate::registry::Registry;

/// What the payload says about the event's repository.
#[derive(Debug, Clone, Default)]
pub struct RepositoryInfo {
    /// Creation time, Unix seconds, when the repository exists.
    pub date_created: Option<i64>,
    /// The project is public.
    pub public: bool,
}

impl RepositoryInfo {
    /// Reads them for `event`.
    pub(crate) async fn read(registry: &Registry, event: &Event) -> Result<RepositoryInfo> {
        let (created, public) = registry
            .meta
            .webhook_repository_facts(event.repository.as_deref(), &event.project)
            .await?;
        Ok(RepositoryInfo {
            date_created: created.map(|ms| ms / 1000),
            public,
        })
    }
}

/// Harbor's `event_data` of `event`.
pub fn event_data(event: &Event, repo: &RepositoryInfo, host: &str) -> Value {
    match event.kind {
        EventType::TagRetention => {
            return json!({ "retention": event.extra.clone().unwrap_or(Value::Null) })
        }
        EventType::Replication => {
            return json!({ "replication": event.extra.clone().unwrap_or(Value::Null) })
        }
        _ => {}
    }
    let mut data = Map::new();
    if let Some(full) = &event.repository {
        let mut resource = Map::new();
        if let Some(d) = &event.digest {
            resource.insert("digest".into(), json!(d));
        }
        // Harbor: the tag, or the digest when the artifact was addressed by it.
        let tag = event
            .tag
            .clone()
            .or_else(|| event.digest.clone())
            .unwrap_or_default();
        resource.insert("tag".into(), json!(tag));
        if !matches!(event.kind, EventType::QuotaExceed | EventType::QuotaWarning) {
            let url = match (&event.tag, &event.digest) {
                (Some(t), _) => format!("{host}/{full}:{t}"),
                (None, Some(d)) => format!("{host}/{full}@{d}"),
                (None, None) => format!("{host}/{full}"),
            };
            resource.insert("resource_url".into(), json!(url));
        }
        if matches!(
            event.kind,
            EventType::ScanningCompleted | EventType::ScanningFailed
        ) {
            if let Some(overview) = &event.extra {
                resource.insert("scan_overview".into(), overview.clone());
            }
        }
        data.insert("resources".into(), json!([resource]));
        let prefix = format!("{}/", event.project);
        let name = full.strip_prefix(&prefix).unwrap_or(full);
        let mut repository = Map::new();
        if let Some(t) = repo.date_created {
            repository.insert("date_created".into(), json!(t));
        }
        repository.insert("name".into(), json!(name));
        repository.insert("namespace".into(), json!(event.project));
        repository.insert("repo_full_name".into(), json!(full));
        repository.insert(
            "repo_type".into(),
            json!(if repo.public { "public" } else { "private" }),
        );
        data.insert("repository".into(), Value::Object(repository));
    }
    if matches!(event.kind, EventType::QuotaExceed | EventType::QuotaWarning) {
        if let Some(extra) = &event.extra {
            data.insert("custom_attributes".into(), extra.clone());
        }
    }
    Value::Object(data)
}

/// The body and `Content-Type` of `event` for `target` of policy `policy_id`.
pub fn render(
    event: &Event,
    repo: &RepositoryInfo,
    target: &Target,
    policy_id: i64,
    host: &str,
) -> (String, &'static str) {
    let data = event_data(event, repo, host);
    if target.payload_format.eq_ignore_ascii_case("CloudEvents") {
        let time = chrono::DateTime::from_timestamp_millis(event.at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = json!({
            "specversion": "1.0",
            "id": uuid::Uuid::new_v4().to_string(),
            "source": format!("/projects/{}/webhook/policies/{policy_id}", event.project),
            "type": event.kind.cloud_event_type(),
            "datacontenttype": "application/json",
            "time": time,
            "operator": event.operator,
            "data": data,
        });
        (body.to_string(), "application/cloudevents+json")
    } else {
        let body = json!({
            "type": event.kind.as_str(),
            "occur_at": event.at_ms / 1000,
            "operator": event.operator,
            "event_data": data,
        });
        (body.to_string(), "application/json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> Event {
        Event {
            kind: EventType::PushArtifact,
            project: "team".into(),
            repository: Some("team/app".into()),
            digest: Some("sha256:abc".into()),
            tag: Some("1".into()),
            operator: "dev".into(),
            at_ms: 1_700_000_000_123,
            extra: None,
        }
    }

    fn target(format: &str) -> Target {
        Target {
            kind: "http".into(),
            address: "http://127.0.0.1:1/hook".into(),
            auth_header: String::new(),
            skip_cert_verify: false,
            payload_format: format.into(),
        }
    }

    #[test]
    fn the_default_payload_is_harbors() {
        let repo = RepositoryInfo {
            date_created: Some(1_700_000_000),
            public: false,
        };
        let (body, ct) = render(&push(), &repo, &target("Default"), 7, "reg.example:5000");
        assert_eq!(ct, "application/json");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            json!({
                "type": "PUSH_ARTIFACT",
                "occur_at": 1_700_000_000,
                "operator": "dev",
                "event_data": {
                    "resources": [{"digest": "sha256:abc", "tag": "1",
                        "resource_url": "reg.example:5000/team/app:1"}],
                    "repository": {"date_created": 1_700_000_000, "name": "app",
                        "namespace": "team", "repo_full_name": "team/app", "repo_type": "private"}
                }
            })
        );
    }

    #[test]
    fn cloud_events_carry_the_same_data() {
        let repo = RepositoryInfo::default();
        let (body, ct) = render(&push(), &repo, &target("CloudEvents"), 7, "h");
        assert_eq!(ct, "application/cloudevents+json");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "harbor.artifact.pushed");
        assert_eq!(v["source"], "/projects/team/webhook/policies/7");
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["data"], event_data(&push(), &repo, "h"));
        assert!(uuid::Uuid::parse_str(v["id"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn a_pull_by_digest_names_the_digest_as_tag_and_in_the_url() {
        let mut e = push();
        e.kind = EventType::PullArtifact;
        e.tag = None;
        let d = event_data(&e, &RepositoryInfo::default(), "h");
        assert_eq!(d["resources"][0]["tag"], "sha256:abc");
        assert_eq!(d["resources"][0]["resource_url"], "h/team/app@sha256:abc");
        assert_eq!(d["repository"]["repo_type"], "private");
    }
}
