//! The client side of OCI Distribution towards an upstream registry: manifest
//! and blob requests with the Docker token flow (`WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…`, Docker token-auth spec §Requesting a token,
//! anonymous tokens included) or Basic authentication.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_meta::RegistryRecord;
use berth_oci::{media_type, Digest};
use bytes::Bytes;
use futures::StreamExt;

/// Why an upstream request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// No answer: refused, reset, timed out, DNS, TLS.
    #[error("upstream registry {name} is unreachable: {detail}")]
    Unreachable {
        /// The registry's name.
        name: String,
        /// What the connection said.
        detail: String,
    },
    /// 429 Too Many Requests.
    #[error("upstream registry {name} is rate limiting berth (429 Too Many Requests)")]
    RateLimited {
        /// The registry's name.
        name: String,
    },
    /// 401/403 with the configured credential (or without one).
    #[error("upstream registry {name} refused {who} ({status}): {hint}")]
    Unauthorized {
        /// The registry's name.
        name: String,
        /// 401 or 403.
        status: u16,
        /// `berth's credential` or `anonymous access`.
        who: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// Another unexpected answer (5xx, a malformed body, a wrong digest).
    #[error("upstream registry {name}: {detail}")]
    Bad {
        /// The registry's name.
        name: String,
        /// What was wrong.
        detail: String,
    },
}

impl UpstreamError {
    /// True when upstream is down or refusing load (unreachable, 429, 5xx):
    /// what a stale cached answer may stand in for.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable { .. } | UpstreamError::RateLimited { .. }
        ) || matches!(self, UpstreamError::Bad { detail, .. } if detail.starts_with("answered 5"))
    }
}

/// A manifest fetched from upstream.
#[derive(Debug, Clone)]
pub struct UpstreamManifest {
    /// The bytes, exactly as served.
    pub body: Bytes,
    /// `Content-Type`.
    pub media_type: Option<String>,
}

/// One upstream registry (a [`RegistryRecord`]) with its HTTP client and the
/// bearer tokens it was issued, by scope.
pub struct Upstream {
    record: RegistryRecord,
    client: reqwest::Client,
    tokens: std::sync::Mutex<HashMap<String, (String, Instant)>>,
}

/// What a `401` asked for.
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The `Accept` header of manifest requests: every manifest type berth stores.
fn manifest_accept() -> String {
    media_type::MANIFEST_TYPES.join(", ")
}

impl Upstream {
    /// A client for `record` (10 s to connect, 5 min per request; any TLS
    /// certificate when `insecure`).
    ///
    /// Errors: [`UpstreamError::Bad`] when the client cannot be built.
    pub fn new(record: RegistryRecord) -> Result<Upstream, UpstreamError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(record.insecure)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Bad {
                name: record.name.clone(),
                detail: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Upstream {
            record,
            client,
            tokens: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The registry record this client was built from.
    pub fn record(&self) -> &RegistryRecord {
        &self.record
    }

    /// The repository upstream for `path` (the local name without its
    /// project): Docker Hub keeps official images under `library/`.
    pub fn repository(&self, path: &str) -> String {
        if self.record.kind == "docker-hub" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        }
    }

    fn base(&self) -> &str {
        self.record.url.trim_end_matches('/')
    }

    fn bad(&self, detail: impl Into<String>) -> UpstreamError {
        UpstreamError::Bad {
            name: self.record.name.clone(),
            detail: detail.into(),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> UpstreamError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        UpstreamError::Unreachable {
            name: self.record.name.clone(),
            detail,
        }
    }

    /// `GET /v2/`: reachable and the credential accepted.
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn ping(&self) -> Result<(), UpstreamError> {
        let resp = self
            .send(reqwest::Method::GET, "/v2/", None, "registry:catalog:*")
            .await?;
        self.check(resp).await.map(|_| ())
    }

    /// `HEAD` of a manifest: its digest, or `None` when upstream has no such
    /// manifest (404). Without a `Docker-Content-Digest` in the answer the
    /// manifest is fetched (at most `limit` bytes) and hashed.
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
        limit: usize,
    ) -> Result<Option<Digest>, UpstreamError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let Some(resp) = self
            .send_found(
                reqwest::Method::HEAD,
                &path,
                Some(&manifest_accept()),
                &pull_scope(repository),
            )
            .await?
        else {
            return Ok(None);
        };
        match resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            Some(d) => Digest::parse(d)
                .map(Some)
                .map_err(|e| self.bad(format!("answered a malformed Docker-Content-Digest: {e}"))),
            // Without the header a HEAD cannot tell: fetch it.
            None => self
                .manifest(repository, reference, limit)
                .await
                .map(|m| m.map(|m| Digest::of(berth_oci::Algorithm::Sha256, &m.body))),
        }
    }

    /// `GET` of a manifest, at most `limit` bytes; `None` on 404.
    ///
    /// Errors: any [`UpstreamError`]; [`UpstreamError::Bad`] when the body is
    /// over `limit`.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
        limit: usize,
    ) -> Result<Option<UpstreamManifest>, UpstreamError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let Some(resp) = self
            .send_found(
                reqwest::Method::GET,
                &path,
                Some(&manifest_accept()),
                &pull_scope(repository),
            )
            .await?
        else {
            return Ok(None);
        };
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let too_large = || {
            self.bad(format!(
                "served a manifest larger than the {limit}-byte manifest limit"
            ))
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(&e))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(UpstreamManifest {
            body: Bytes::from(body),
            media_type,
        }))
    }

    /// `GET` (or `HEAD`) of a blob; `None` on 404. The response is checked
    /// (2xx); its body is the blob.
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn blob(
        &self,
        repository: &str,
        digest: &Digest,
        head: bool,
    ) -> Result<Option<reqwest::Response>, UpstreamError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let method = if head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        let Some(resp) = self
            .send_found(method, &path, None, &pull_scope(repository))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(resp))
    }

    /// [`Upstream::send`], then `None` for a 404 and the error of any other
    /// non-2xx answer ([`Upstream::check`]).
    async fn send_found(
        &self,
        method: reqwest::Method,
        path: &str,
        accept: Option<&str>,
        scope: &str,
    ) -> Result<Option<reqwest::Response>, UpstreamError> {
        let resp = self.send(method, path, accept, scope).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.check(resp).await.map(Some)
    }

    /// Maps a non-2xx answer to its error.
    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, UpstreamError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let name = self.record.name.clone();
        Err(match status.as_u16() {
            429 => UpstreamError::RateLimited { name },
            s @ (401 | 403) => {
                let (who, hint) = if self.record.access_key.is_some() {
                    (
                        "berth's credential",
                        "check the registry's access_key and access_secret",
                    )
                } else {
                    (
                        "anonymous access",
                        "give the registry a credential (access_key, access_secret)",
                    )
                };
                UpstreamError::Unauthorized {
                    name,
                    status: s,
                    who,
                    hint,
                }
            }
            s => {
                let text = resp.text().await.unwrap_or_default();
                let text: String = text.chars().take(200).collect();
                self.bad(format!("answered {s}: {text}"))
            }
        })
    }

    /// Sends a request with the best credential known for `scope`; on a
    /// `401` answers the challenge (a bearer token from the realm, or Basic)
    /// and sends it once more.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        accept: Option<&str>,
        scope: &str,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.send_with(method, path, accept, scope, None).await
    }

    /// The URL of `target`: a path below the registry's base URL, or an
    /// absolute URL (an upload's `Location`).
    fn url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.base())
        }
    }

    /// [`Upstream::send`] with a body: `(content type, bytes)`.
    async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        accept: Option<&str>,
        scope: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = self.url(path);
        let build = |auth: Option<String>| {
            let mut r = self.client.request(method.clone(), &url);
            if let Some(a) = accept {
                r = r.header("accept", a);
            }
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            if let Some((ct, b)) = &body {
                r = r.header("content-type", *ct).body(b.clone());
            }
            r
        };
        let cached = self.cached_token(scope).map(|t| format!("Bearer {t}"));
        let resp = build(cached.clone())
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let auth = match challenge {
            Some(Challenge::Basic) => match self.basic() {
                Some(b) => b,
                None => return Ok(resp),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => {
                let asked = asked.unwrap_or_else(|| scope.to_string());
                let token = self.fetch_token(&realm, service.as_deref(), &asked).await?;
                // Later requests of this scope (an upload's PUT) send it
                // without a round trip.
                self.remember_token(scope, &token);
                format!("Bearer {token}")
            }
            None => return Ok(resp),
        };
        build(Some(auth))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))
    }

    /// The credential to send for `scope` without a round trip: a cached
    /// bearer token, else Basic.
    fn known_auth(&self, scope: &str) -> Option<String> {
        self.cached_token(scope)
            .map(|t| format!("Bearer {t}"))
            .or_else(|| self.basic())
    }

    /// Whether the registry has blob `digest` in `repository` (`HEAD`),
    /// asked with push scope (the destination of a replication).
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, UpstreamError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        Ok(self
            .send_found(reqwest::Method::HEAD, &path, None, &push_scope(repository))
            .await?
            .is_some())
    }

    /// Uploads blob `digest` (`size` bytes of `body`) into `repository`:
    /// first a cross-repository mount from `mount_from` when given
    /// (distribution-spec §Mounting a blob from another repository), else
    /// (or when the registry declines the mount) `POST` then one `PUT` with
    /// the whole body. Returns whether bytes were sent (false: mounted).
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn blob_push(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: impl FnOnce() -> berth_storage::ByteStream,
        mount_from: Option<&str>,
    ) -> Result<bool, UpstreamError> {
        let scope = push_scope(repository);
        let start = match mount_from {
            Some(from) => format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"),
            None => format!("/v2/{repository}/blobs/uploads/"),
        };
        let resp = self
            .send(reqwest::Method::POST, &start, None, &scope)
            .await?;
        let resp = self.check(resp).await?;
        if resp.status() == reqwest::StatusCode::CREATED {
            return Ok(false);
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.bad("answered an upload without a Location"))?
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = self.url(&format!("{location}{sep}digest={digest}"));
        let mut put = self
            .client
            .put(&url)
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .body(reqwest::Body::wrap_stream(body()));
        if let Some(a) = self.known_auth(&scope) {
            put = put.header("authorization", a);
        }
        let resp = put.send().await.map_err(|e| self.unreachable(&e))?;
        self.check(resp).await.map(|_| true)
    }

    /// `PUT` of a manifest.
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn manifest_push(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<(), UpstreamError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let resp = self
            .send_with(
                reqwest::Method::PUT,
                &path,
                None,
                &push_scope(repository),
                Some((media_type, body)),
            )
            .await?;
        self.check(resp).await.map(|_| ())
    }

    /// `DELETE /v2/<repository>/manifests/<reference>` (a digest deletes
    /// the manifest with its tags; a tag, only the tag where the registry
    /// allows it). `false` when it was not there (404).
    ///
    /// Errors: any [`UpstreamError`] (a registry that does not delete, e.g.
    /// one that refuses tag deletes with 405 or `UNSUPPORTED`, is `Bad`).
    pub async fn manifest_delete(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<bool, UpstreamError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let scope = format!("repository:{repository}:delete");
        Ok(self
            .send_found(reqwest::Method::DELETE, &path, None, &scope)
            .await?
            .is_some())
    }

    /// Every repository (`/v2/_catalog`, following `Link` pages).
    ///
    /// Errors: any [`UpstreamError`] (Docker Hub has no catalog).
    pub async fn catalog(&self) -> Result<Vec<String>, UpstreamError> {
        self.paged("/v2/_catalog?n=1000", "registry:catalog:*", "repositories")
            .await
    }

    /// Every tag of `repository` (`/v2/<name>/tags/list`, following pages).
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, UpstreamError> {
        self.paged(
            &format!("/v2/{repository}/tags/list?n=1000"),
            &pull_scope(repository),
            "tags",
        )
        .await
    }

    async fn paged(
        &self,
        first: &str,
        scope: &str,
        field: &str,
    ) -> Result<Vec<String>, UpstreamError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(path) = next.take() {
            let resp = self.send(reqwest::Method::GET, &path, None, scope).await?;
            let resp = self.check(resp).await?;
            next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(target, _)| target.to_string());
            let page: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| self.bad(format!("answered unreadable JSON: {e}")))?;
            if let Some(items) = page[field].as_array() {
                out.extend(items.iter().filter_map(|v| v.as_str()).map(str::to_string));
            }
            if out.len() > 1_000_000 {
                return Err(self.bad("lists more than a million entries"));
            }
        }
        Ok(out)
    }

    /// The digests of the manifests that refer to `subject` in `repository`
    /// (distribution-spec §Listing Referrers); none when the registry has no
    /// referrers API.
    ///
    /// Errors: any [`UpstreamError`].
    pub async fn referrers(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Vec<Digest>, UpstreamError> {
        let path = format!("/v2/{repository}/referrers/{subject}");
        let Some(resp) = self
            .send_found(reqwest::Method::GET, &path, None, &pull_scope(repository))
            .await?
        else {
            return Ok(Vec::new());
        };
        let index: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| self.bad(format!("answered an unreadable referrers index: {e}")))?;
        Ok(index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["digest"].as_str())
            .filter_map(|d| Digest::parse(d).ok())
            .collect())
    }

    fn basic(&self) -> Option<String> {
        use base64::Engine;
        let (user, secret) = (
            self.record.access_key.as_deref()?,
            self.record.access_secret.as_deref().unwrap_or(""),
        );
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
        ))
    }

    /// Files `token` under `scope` too, for as long as it is filed under the
    /// scope it was issued for.
    fn remember_token(&self, scope: &str, token: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            let until = tokens
                .values()
                .find(|(t, _)| t == token)
                .map(|(_, until)| *until);
            if let Some(until) = until {
                tokens.insert(scope.to_string(), (token.to_string(), until));
            }
        }
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        match tokens.get(scope) {
            Some((t, until)) if *until > Instant::now() => Some(t.clone()),
            _ => None,
        }
    }

    /// Docker token-auth spec §Requesting a token: `GET realm?service=&scope=`
    /// with the Basic credential when there is one (anonymous otherwise).
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, UpstreamError> {
        let mut req = self.client.get(realm).query(&[("scope", scope)]);
        if let Some(s) = service {
            req = req.query(&[("service", s)]);
        }
        if let Some(b) = self.basic() {
            req = req.header("authorization", b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let resp = self.check(resp).await?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = resp
            .json()
            .await
            .map_err(|e| self.bad(format!("token endpoint answered unreadable JSON: {e}")))?;
        let token = answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| self.bad("token endpoint answered no token"))?;
        // The spec's default lifetime is 60 s; renew 10 s early.
        let life = answer.expires_in.unwrap_or(60).saturating_sub(10).max(1);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(
                scope.to_string(),
                (token.clone(), Instant::now() + Duration::from_secs(life)),
            );
        }
        Ok(token)
    }
}

fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        rest = tail.trim_start_matches([',', ' ']);
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_give_realm_service_and_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        match c {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("registry.docker.io"));
                assert_eq!(scope.as_deref(), Some("repository:library/busybox:pull"));
            }
            _ => panic!("not a bearer challenge"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        ));
        assert!(parse_challenge("Negotiate").is_none());
        assert!(
            parse_challenge(r#"Bearer service="s""#).is_none(),
            "a realm is required"
        );
    }

    #[test]
    fn docker_hub_keeps_official_images_under_library() {
        let hub = Upstream::new(RegistryRecord {
            id: 1,
            name: "hub".into(),
            kind: "docker-hub".into(),
            url: "https://registry-1.docker.io".into(),
            insecure: false,
            description: String::new(),
            access_key: None,
            access_secret: None,
            created_at: 0,
            updated_at: 0,
        })
        .unwrap();
        assert_eq!(hub.repository("nginx"), "library/nginx");
        assert_eq!(hub.repository("bitnami/nginx"), "bitnami/nginx");
    }
}
