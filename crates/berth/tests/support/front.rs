//! A loopback HTTP front for a registry under test: forwards every request,
//! records `METHOD path` of each as it starts (and `answered STATUS
//! METHOD@path` once its answer was read), counts request body bytes, and, when `tamper`
//! is set, flips a byte of every blob body it returns. Dropping it (or
//! [`Front::stop`]) closes the port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// See the module docs.
pub struct Front {
    pub addr: SocketAddr,
    pub state: Arc<FrontState>,
    runtime: Option<tokio::runtime::Runtime>,
}

pub struct FrontState {
    upstream: String,
    seen: Mutex<Vec<String>>,
    /// Corrupt blob bodies.
    pub tamper: AtomicBool,
    /// Request body bytes forwarded.
    pub body_bytes: AtomicU64,
    client: reqwest::Client,
}

impl Front {
    /// Starts one forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Front {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(FrontState {
            upstream: upstream.to_string(),
            seen: Mutex::new(Vec::new()),
            tamper: AtomicBool::new(false),
            body_bytes: AtomicU64::new(0),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Front {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// Requests seen so far whose line contains `part`.
    pub fn count(&self, part: &str) -> usize {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(part))
            .count()
    }

    /// Every request line so far.
    pub fn seen(&self) -> Vec<String> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Closes the port.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn forward(
    axum::extract::State(f): axum::extract::State<Arc<FrontState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    f.seen
        .lock()
        .unwrap()
        .push(format!("{} {path}", parts.method));
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let mut r = f
        .client
        .request(parts.method.clone(), format!("http://{}{path}", f.upstream));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "connection" | "content-length" | "host") {
            r = r.header(name, value);
        }
    }
    let Ok(resp) = r.body(body).send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut bytes = resp.bytes().await.unwrap_or_default().to_vec();
    f.seen.lock().unwrap().push(format!(
        "answered {} {}@{path}",
        status.as_u16(),
        parts.method
    ));
    let blob = parts.method == axum::http::Method::GET && path.contains("/blobs/sha256:");
    if blob && status.is_success() && f.tamper.load(Ordering::Relaxed) && !bytes.is_empty() {
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
    }
    let mut out = axum::response::Response::builder().status(status);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "connection" | "transfer-encoding") {
            out = out.header(name, value);
        }
    }
    out.body(axum::body::Body::from(bytes))
        .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response())
}
