//! The distribution API's entries in the audit trail (docs/audit.md), from one
//! hook around [`crate::handlers::dispatch`]: before the handler runs, [`Probe::of`]
//! notes what the request would do (from its method and parsed route); after, [`Probe::finish`]
//! records it with the response status as the result and the
//! `Docker-Content-Digest` header as the digest when the path named a tag.
//!
//! Recorded: manifest `GET` (pull, by tag or digest), manifest `PUT` (push, with
//! the tag when pushed by tag), manifest `DELETE` (by digest: delete; by tag:
//! tag_delete) and blob `DELETE`; failures included (404, 401, 429, ...). A
//! manifest `HEAD` is not a pull and is not recorded; neither are blob reads and
//! uploads (the manifest push that completes an image is the push).

use axum::extract::Request;
use axum::http::{Extensions, Method};
use axum::response::Response;
use berth_oci::Reference;
use berth_registry::audit::{Actor, AuditAction, AuditEntry, AuditLog, Outcome};

use crate::handlers::manifests::AuditNote;
use crate::route::Route;
use crate::server::AppState;
use berth_registry::signing::SignatureVerdict;

/// Who sent the request: the [`Actor`] the authentication layer put into the
/// request's extensions, or anonymous when there is none.
pub fn actor_of(extensions: &Extensions) -> Actor {
    extensions
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(Actor::anonymous)
}

/// What a request will be recorded as, noted before it is handled.
#[derive(Debug)]
pub struct Probe {
    entry: AuditEntry,
}

impl Probe {
    /// The audit entry this request (already parsed into `route`) will produce,
    /// or `None` when it is not an audited action, or neither the trail nor
    /// webhooks want it.
    pub fn of(state: &AppState, route: &Route, req: &Request) -> Option<Probe> {
        if !state.audit.enabled() && !state.audit.tapped() {
            return None;
        }
        let method = req.method();
        let (action, repo, tag, digest) = match (route, method) {
            (Route::Manifest(repo, r), &Method::GET | &Method::PUT | &Method::DELETE) => {
                let (tag, digest) = match r {
                    Reference::Tag(t) => (Some(t.as_str().to_string()), None),
                    Reference::Digest(d) => (None, Some(d.to_string())),
                };
                let action = match *method {
                    Method::GET => AuditAction::Pull,
                    Method::PUT => AuditAction::Push,
                    _ if tag.is_some() => AuditAction::TagDelete,
                    _ => AuditAction::Delete,
                };
                (action, repo, tag, digest)
            }
            (Route::InvalidTag(repo, tag), &Method::GET | &Method::PUT | &Method::DELETE) => {
                let action = match *method {
                    Method::GET => AuditAction::Pull,
                    Method::PUT => AuditAction::Push,
                    _ => AuditAction::TagDelete,
                };
                (action, repo, Some(tag.clone()), None)
            }
            (Route::Blob(repo, d), &Method::DELETE) => {
                (AuditAction::BlobDelete, repo, None, Some(d.to_string()))
            }
            _ => return None,
        };
        let peer = crate::listener::peer(req.extensions()).map(|a| a.ip());
        let mut entry = AuditEntry::new(actor_of(req.extensions()), action, Outcome::Success)
            .ip(peer)
            .repository(repo.as_str());
        entry.reference = tag;
        entry.digest = digest;
        Some(Probe { entry })
    }

    /// Records the entry with the response's result: success for 2xx, otherwise
    /// failure with `HTTP <status>` as the detail. An [`Actor`] in the response's
    /// extensions (authentication done inside the handler path) replaces the one
    /// taken from the request.
    pub fn finish(self, audit: &AuditLog, resp: &Response) {
        let mut entry = self.entry;
        if let Some(a) = resp.extensions().get::<Actor>() {
            entry.actor = a.clone();
        }
        let note = resp.extensions().get::<AuditNote>();
        let status = resp.status();
        if !status.is_success() {
            entry.result = Outcome::Failure;
            entry.detail = Some(match note {
                Some(n) => format!("HTTP {}: {}", status.as_u16(), n.detail),
                None => format!("HTTP {}", status.as_u16()),
            });
        }
        if entry.digest.is_none() {
            entry.digest = note.and_then(|n| n.digest.clone());
        }
        let verdict = resp
            .extensions()
            .get::<SignatureVerdict>()
            .map(|v| signature_entry(&entry, v));
        if entry.digest.is_none() {
            entry.digest = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        audit.record(entry);
        if let Some(v) = verdict {
            audit.record(v);
        }
    }
}

/// The audit entry of a signature verified at push: action
/// `signature_verify`, the push's actor and address, the signature's
/// repository, its digest, the subject as the reference; the verdict and key
/// in the detail; a failure unless verified.
pub fn signature_entry(push: &AuditEntry, v: &SignatureVerdict) -> AuditEntry {
    verdict_entry(push.actor.clone(), push.source_ip, v)
}

/// The audit entry of a signature verdict by `actor` (see [`signature_entry`]).
pub fn verdict_entry(
    actor: Actor,
    ip: Option<std::net::IpAddr>,
    v: &SignatureVerdict,
) -> AuditEntry {
    use berth_registry::signing::SignatureStatus;
    let outcome = match v.status {
        SignatureStatus::Verified => Outcome::Success,
        _ => Outcome::Failure,
    };
    let mut e = AuditEntry::new(actor, AuditAction::SignatureVerify, outcome)
        .ip(ip)
        .repository(&v.repository);
    e.reference = Some(v.subject.to_string());
    e.digest = Some(v.signature.to_string());
    e.detail = Some(format!("{}: {}", v.status.as_str(), v.detail));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_an_actor_is_anonymous() {
        let mut ext = Extensions::new();
        assert_eq!(actor_of(&ext), Actor::anonymous());
        ext.insert(Actor::robot("robot$team+ci"));
        assert_eq!(actor_of(&ext), Actor::robot("robot$team+ci"));
    }
}
