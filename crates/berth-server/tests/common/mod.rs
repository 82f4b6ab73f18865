//! A registry on an ephemeral 127.0.0.1 port for HTTP-level tests, and helpers
//! that speak the distribution API with reqwest.

#![allow(dead_code)]

use std::sync::Arc;

use berth_oci::{Algorithm, Digest};
use berth_registry::{AccessPolicy, Limits, Registry};
use berth_server::AppState;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The blob storage of a test registry: the data directory, or, when
/// `BERTH_TEST_S3_BUCKET` names a bucket (with the `AWS_*` variables, see
/// scripts/start-garage.sh), a prefix of its own in that bucket.
pub fn test_storage() -> berth_registry::BlobStorage {
    match std::env::var("BERTH_TEST_S3_BUCKET") {
        Ok(bucket) if !bucket.is_empty() => berth_registry::BlobStorage {
            url: Some(berth_storage::StorageUrl::S3 {
                bucket,
                prefix: format!("spec-{}", uuid::Uuid::new_v4()),
            }),
            ..Default::default()
        },
        _ => berth_registry::BlobStorage::default(),
    }
}

/// A running registry; stopped when dropped.
pub struct TestRegistry {
    pub base: String,
    pub client: Client,
    pub dir: tempfile::TempDir,
    /// The metadata database (SQLite in `dir`, or PostgreSQL under
    /// `BERTH_TEST_DATABASE_URL`).
    pub database: berth_registry::DatabaseUrl,
    /// The blob storage ([`test_storage`]).
    pub storage: berth_registry::BlobStorage,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestRegistry {
    pub async fn start() -> TestRegistry {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let database = berth_meta::testing::database_url(dir.path()).await;
        let storage = test_storage();
        let registry = Registry::open_on(dir.path(), &database, &storage, limits)
            .await
            .unwrap();
        let state = Arc::new(AppState::new(registry, AccessPolicy::Anonymous));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = berth_server::router(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestRegistry {
            base: format!("http://{addr}"),
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            database,
            storage,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn req(&self, method: Method, path: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .unwrap()
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        self.client.request(method, url)
    }

    /// Monolithic push of a blob (POST ?digest=); returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let d = Digest::of(Algorithm::Sha256, bytes);
        let r = self
            .request(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "push blob: {}",
            r.text().await.unwrap()
        );
        d
    }

    /// PUT a manifest; returns the response.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.request(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes config + one layer + an OCI image manifest tagged `tag`; returns
    /// (manifest bytes, manifest digest).
    pub async fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (Vec<u8>, Digest) {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
        let layer = format!("layer bytes for {seed}");
        let c = self.push_blob(repo, config.as_bytes()).await;
        let l = self.push_blob(repo, layer.as_bytes()).await;
        let m = image_manifest(&c, config.len(), &[(&l, layer.len())], None, None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "push manifest: {}",
            r.text().await.unwrap()
        );
        let d = Digest::of(Algorithm::Sha256, &m);
        (m, d)
    }
}

pub fn descriptor(media_type: &str, digest: &Digest, size: usize) -> Value {
    json!({ "mediaType": media_type, "digest": digest.as_str(), "size": size })
}

/// An OCI image manifest with the given config and layers, optional artifactType
/// and subject.
pub fn image_manifest(
    config: &Digest,
    config_size: usize,
    layers: &[(&Digest, usize)],
    artifact_type: Option<&str>,
    subject: Option<(&Digest, usize)>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config, config_size),
        "layers": layers.iter().map(|(d, s)| descriptor(OCI_LAYER, d, *s)).collect::<Vec<_>>(),
    });
    if let Some(t) = artifact_type {
        m["artifactType"] = json!(t);
    }
    if let Some((d, s)) = subject {
        m["subject"] = descriptor(OCI_MANIFEST, d, s);
    }
    serde_json::to_vec(&m).unwrap()
}

/// The `code` of the first error in an OCI error body.
pub async fn error_code(r: Response) -> String {
    let v: Value = r.json().await.expect("error body is JSON");
    v["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_string()
}

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// Sends a request with the path exactly as given (no URL normalisation of
/// `%2e%2e` or `..`, which HTTP client libraries apply) and returns the status
/// code and body.
pub async fn raw_get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Serves `state` on an ephemeral 127.0.0.1 port (with the peer address, for
/// IP allow-lists and audit entries); returns its base URL and the server
/// task (abort it to stop).
pub async fn serve(state: AppState) -> (String, tokio::task::JoinHandle<()>) {
    let app = berth_server::router(Arc::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    (format!("http://{addr}"), task)
}

/// A server state over `reg`'s data directory, database and storage with
/// accounts on: authentication `mode`, the `admin` user's password
/// `admin_password`. Returns it with its account service.
pub async fn state_with_accounts(
    reg: &TestRegistry,
    mode: berth_registry::AuthMode,
    admin_password: &str,
) -> (AppState, Arc<berth_registry::Auth>) {
    let registry = Registry::open_on(
        reg.dir.path(),
        &reg.database,
        &reg.storage,
        Limits::default(),
    )
    .await
    .unwrap();
    let config = berth_registry::AuthConfig {
        mode,
        admin_password: Some(admin_password.into()),
        ..berth_registry::AuthConfig::default()
    };
    let (auth, _) = berth_registry::Auth::open(registry.meta().clone(), reg.dir.path(), config)
        .await
        .unwrap();
    let auth = Arc::new(auth);
    let mut state = AppState::new(registry, AccessPolicy::Anonymous);
    state.auth = Some(auth.clone());
    (state, auth)
}
