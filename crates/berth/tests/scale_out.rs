//! Several `berth serve` nodes over one PostgreSQL database and one shared
//! data directory, behind a round-robin HTTP proxy (every request goes to the
//! next node, as a load balancer without affinity would send it): pushes and
//! pulls with real clients, caches that follow changes made on other nodes,
//! an upload continued on another node after its node was killed, garbage
//! collection beside pushes, and one audit chain.
//!
//! Needs PostgreSQL: runs when `BERTH_TEST_DATABASE_URL` is set
//! (`scripts/test.sh` sets it for its PostgreSQL pass) and says it skipped
//! otherwise.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use support::*;

/// A loopback HTTP proxy sending each request to the next live node in turn.
/// Request bodies are buffered, so a request whose node refuses the
/// connection (it was killed) goes to the next node, as a load balancer's
/// health check would arrange.
struct RoundRobin {
    addr: SocketAddr,
    /// How many requests each node answered.
    served: Arc<Vec<AtomicUsize>>,
    state: Arc<ProxyState>,
    _runtime: tokio::runtime::Runtime,
}

struct ProxyState {
    nodes: Vec<String>,
    next: AtomicUsize,
    served: Arc<Vec<AtomicUsize>>,
    client: reqwest::Client,
    /// When set, the node process ids by node index: the next `PATCH` is
    /// sent half way, then its node is killed (SIGKILL) before the rest.
    kill_during_patch: std::sync::Mutex<Option<Vec<u32>>>,
    /// Requests answered 502 because their node died under them.
    failed: AtomicUsize,
}

impl RoundRobin {
    fn start(nodes: &[&Berth]) -> RoundRobin {
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
        Self::start_addrs(&addrs)
    }

    fn start_addrs(nodes: &[String]) -> RoundRobin {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let served = Arc::new((0..nodes.len()).map(|_| AtomicUsize::new(0)).collect());
        let state = Arc::new(ProxyState {
            nodes: nodes.to_vec(),
            next: AtomicUsize::new(0),
            served: Arc::clone(&served),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            kill_during_patch: std::sync::Mutex::new(None),
            failed: AtomicUsize::new(0),
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
        RoundRobin {
            addr,
            served,
            state,
            _runtime: runtime,
        }
    }

    /// Arms the proxy to kill the node that receives the next `PATCH`
    /// (an upload's data) half way through its body: `pids` by node index.
    fn kill_during_next_patch(&self, pids: Vec<u32>) {
        *self.state.kill_during_patch.lock().unwrap() = Some(pids);
    }

    /// How many requests failed because their node died under them.
    fn failed(&self) -> usize {
        self.state.failed.load(Ordering::Relaxed)
    }

    fn served(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

async fn forward(
    axum::extract::State(p): axum::extract::State<Arc<ProxyState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 512 << 20).await else {
        return (axum::http::StatusCode::BAD_GATEWAY, "request body").into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    for _ in 0..p.nodes.len() {
        let i = p.next.fetch_add(1, Ordering::Relaxed) % p.nodes.len();
        let mut r = p
            .client
            .request(parts.method.clone(), format!("http://{}{path}", p.nodes[i]));
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "connection" | "content-length" | "transfer-encoding"
            ) {
                r = r.header(name, value);
            }
        }
        let victim = match parts.method {
            axum::http::Method::PATCH => p.kill_during_patch.lock().unwrap().take(),
            _ => None,
        };
        let r = match victim {
            Some(pids) => {
                // Half the body, then the node dies, then the rest.
                let pid = pids[i].to_string();
                let mut rest = body.clone();
                let first = rest.split_to(rest.len() / 2);
                let tail = futures::stream::once(async move {
                    let _ = tokio::process::Command::new("kill")
                        .args(["-9", &pid])
                        .status()
                        .await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, std::io::Error>(rest)
                });
                let head = futures::stream::iter([Ok::<_, std::io::Error>(first)]);
                r.body(reqwest::Body::wrap_stream(head.chain(tail)))
            }
            None => r.body(body.clone()),
        };
        match r.send().await {
            Ok(resp) => {
                p.served[i].fetch_add(1, Ordering::Relaxed);
                let mut out = axum::response::Response::builder().status(resp.status());
                for (name, value) in resp.headers() {
                    if !matches!(name.as_str(), "connection" | "transfer-encoding") {
                        out = out.header(name, value);
                    }
                }
                return out
                    .body(axum::body::Body::from_stream(resp.bytes_stream()))
                    .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response());
            }
            Err(e) if e.is_connect() => continue,
            Err(_) => {
                p.failed.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    axum::http::StatusCode::BAD_GATEWAY.into_response()
}

/// Three nodes on `data` (one database: `database_for(data)`), with `extra`
/// serve arguments; `None` when the tests run on SQLite.
fn three_nodes(data: &Path, extra: &[&str]) -> Option<Vec<Berth>> {
    if database_for(data).is_none() {
        eprintln!("skipped: several nodes need PostgreSQL (set BERTH_TEST_DATABASE_URL; scripts/test.sh does)");
        return None;
    }
    // Started together, as a deployment's replicas are: the schema is
    // migrated once, under the migration lock, and one admin is created.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let data = data.to_path_buf();
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            std::thread::spawn(move || {
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                Berth::start_with(&data, &extra)
            })
        })
        .collect();
    Some(handles.into_iter().map(|h| h.join().unwrap()).collect())
}

/// Pushes the multi-arch test image as `team/app:v1` through `proxy` with
/// skopeo, and checks every node behind it took part.
fn push_app_through(proxy: &RoundRobin) {
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", images().join("busybox").display()),
        &format!("docker://{}/team/app:v1", proxy.addr),
    ]);
    assert!(
        proxy.served().iter().all(|&n| n > 2),
        "every node took part in the push: {:?}",
        proxy.served()
    );
}

/// Pulls `team/app:v1` (its arm64 image) from every node directly and
/// checks the files are byte-identical.
fn assert_every_node_serves_the_same_app(nodes: &[Berth]) {
    let pulled = pull_from_each(nodes.iter(), "team/app:v1", &["--override-arch=arm64"]);
    assert!(pulled.windows(2).all(|w| w[0] == w[1]), "{pulled:#?}");
}

/// Pulls `reference` (`repo:tag`) from each node directly with skopeo
/// (`extra` flags), and returns the digests of each pull's files.
fn pull_from_each<'a>(
    nodes: impl Iterator<Item = &'a Berth>,
    reference: &str,
    extra: &[&str],
) -> Vec<Vec<String>> {
    nodes
        .map(|n| {
            let out = tempfile::tempdir().unwrap();
            let dir = out.path().join("img");
            let mut args = vec!["copy", "--src-tls-verify=false"];
            args.extend_from_slice(extra);
            let (src, dst) = (
                format!("docker://{}/{reference}", n.addr),
                format!("dir:{}", dir.display()),
            );
            args.extend([src.as_str(), dst.as_str()]);
            skopeo(&args);
            skopeo_dir_digests(&dir)
        })
        .collect()
}

fn skopeo_dir_digests(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "version"))
        .map(|p| {
            format!(
                "{} {}",
                p.file_name().unwrap().to_string_lossy(),
                file_digest(&p)
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn three_nodes_behind_a_round_robin_proxy_serve_one_registry() {
    let data = tempfile::tempdir().unwrap();
    let Some(nodes) = three_nodes(data.path(), &[]) else {
        return;
    };
    let proxy = RoundRobin::start(&nodes.iter().collect::<Vec<_>>());
    let lb = proxy.addr.to_string();
    let img = images();

    // skopeo pushes a multi-arch image, each request to the next node.
    push_app_through(&proxy);

    // docker pushes through the proxy too.
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    d.docker(&[
        "load",
        "-i",
        img.join("busybox-amd64.docker.tar").to_str().unwrap(),
    ]);
    let loaded = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let source = loaded
        .lines()
        .next()
        .expect("a loaded image")
        .trim()
        .to_string();
    d.docker(&["tag", &source, &format!("{lb}/team/docker:v1")]);
    d.docker(&["push", &format!("{lb}/team/docker:v1")]);

    // Every node serves the same bytes, directly.
    assert_every_node_serves_the_same_app(&nodes);
    for (i, n) in nodes.iter().enumerate() {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/team/docker:v1", n.addr),
        ]);
        assert!(raw.contains("layers"), "node {i}: {raw}");
    }

    // A push storm from three clients at once while node 0 collects
    // garbage: the audit chain stays one line, fsck stays clean.
    let storm: Vec<_> = (0..3)
        .map(|k| {
            let lb = lb.clone();
            let src = format!("oci:{}:latest", img.join("busybox").display());
            std::thread::spawn(move || {
                for j in 0..3 {
                    skopeo(&[
                        "copy",
                        "--dest-tls-verify=false",
                        &src,
                        &format!("docker://{lb}/storm/c{k}:t{j}"),
                    ]);
                }
            })
        })
        .collect();
    let gc = berth_ok(data.path(), &["gc", "--yes"], &[]);
    assert!(gc.contains("deleted"), "{gc}");
    for t in storm {
        t.join().unwrap();
    }
    let verify = berth_ok(data.path(), &["audit", "verify"], &[]);
    assert!(verify.contains("audit trail intact"), "{verify}");
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
    for k in 0..3 {
        let tags = skopeo(&[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{lb}/storm/c{k}"),
        ]);
        for j in 0..3 {
            assert!(tags.contains(&format!("t{j}")), "{tags}");
        }
    }
}

/// Polls `check` for up to `bound`; panics with `what` when it never holds.
async fn within<F: std::future::Future<Output = bool>>(
    bound: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < bound, "{what} not seen within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn as_admin(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.basic_auth("admin", Some(ADMIN_PASSWORD))
}

/// The digest `tag` of team/app resolves to on `node`.
async fn digest_of(client: &reqwest::Client, node: &str, tag: &str) -> String {
    let r = as_admin(client.head(format!("http://{node}/v2/team/app/manifests/{tag}")))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{tag} on {node}");
    r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The status of a manifest GET as `dev` with `password` on `node`.
async fn pull_as(client: &reqwest::Client, node: &str, password: &str) -> u16 {
    client
        .get(format!("http://{node}/v2/team/app/manifests/amd64"))
        .basic_auth("dev", Some(password))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn caches_follow_tag_moves_password_changes_and_member_removals_on_other_nodes() {
    let data = tempfile::tempdir().unwrap();
    let Some(nodes) = three_nodes(data.path(), &["--auth-mode", "basic"]) else {
        return;
    };
    let (a, b) = (nodes[0].addr.clone(), nodes[1].addr.clone());
    let client = reqwest::Client::new();
    let img = images();
    // A private project: its members, and nobody else, pull from it.
    let r = as_admin(client.post(format!("http://{a}/api/v2.0/projects")))
        .json(&serde_json::json!({"project_name": "team", "metadata": {"public": "false"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    for tag in ["amd64", "arm64"] {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("--dest-creds=admin:{ADMIN_PASSWORD}"),
            &format!("oci:{}:{tag}", img.join("busybox").display()),
            &format!("docker://{a}/team/app:{tag}"),
        ]);
    }
    // Node B caches what `current` means, then node A moves it.
    let amd64 = digest_of(&client, &b, "amd64").await;
    let arm64 = digest_of(&client, &b, "arm64").await;
    let put_current = |digest: String| {
        let (client, a) = (client.clone(), a.clone());
        async move {
            let body = as_admin(client.get(format!("http://{a}/v2/team/app/manifests/{digest}")))
                .header("Accept", OCI_MANIFEST)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let r = as_admin(client.put(format!("http://{a}/v2/team/app/manifests/current")))
                .header("Content-Type", OCI_MANIFEST)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    put_current(amd64.clone()).await;
    assert_eq!(digest_of(&client, &b, "current").await, amd64);
    put_current(arm64.clone()).await;
    // Far inside the manifest cache's own 2 s TTL: the notification did it.
    within(
        Duration::from_millis(1000),
        "the tag move on node B",
        || {
            let (client, b, arm64) = (client.clone(), b.clone(), arm64.clone());
            async move { digest_of(&client, &b, "current").await == arm64 }
        },
    )
    .await;

    // A user who pulls through B; the password changes through A.
    let api = |node: &str, path: &str| format!("http://{node}/api/v2.0{path}");
    let r = as_admin(client.post(api(&a, "/users")))
        .json(&serde_json::json!({"username": "dev", "password": "first-Password-1", "email": "dev@example.com", "realname": "Dev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = as_admin(client.post(api(&a, "/projects/team/members")))
        .json(&serde_json::json!({"role_id": 3, "member_user": {"username": "dev"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(
        pull_as(&client, &b, "first-Password-1").await,
        200,
        "dev pulls through B (cached now)"
    );
    let users: serde_json::Value = as_admin(client.get(api(&a, "/users?q=username%3Ddev")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = users[0]["user_id"].as_i64().expect("dev's id");
    let r = as_admin(client.put(api(&a, &format!("/users/{id}/password"))))
        .json(&serde_json::json!({"new_password": "second-Password-2"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    within(
        Duration::from_millis(1000),
        "the old password refused on B",
        || {
            let (client, b) = (client.clone(), b.clone());
            async move { pull_as(&client, &b, "first-Password-1").await == 401 }
        },
    )
    .await;
    assert_eq!(pull_as(&client, &b, "second-Password-2").await, 200);

    // The membership goes through A: B stops serving dev at once.
    let members: serde_json::Value = as_admin(client.get(api(&a, "/projects/team/members")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let member = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["entity_name"] == "dev")
        .expect("dev is a member")["id"]
        .as_i64()
        .unwrap();
    let r = as_admin(client.delete(api(&a, &format!("/projects/team/members/{member}"))))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    within(
        Duration::from_millis(1000),
        "the removed member refused on B",
        || {
            let (client, b) = (client.clone(), b.clone());
            async move { pull_as(&client, &b, "second-Password-2").await != 200 }
        },
    )
    .await;
}

/// `location` (absolute or a path) on `node` instead.
fn on(node: &str, location: &str) -> String {
    let path = match location.strip_prefix("http://") {
        Some(rest) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => location.trim_start_matches('/'),
    };
    format!("http://{node}/{path}")
}

/// Pushes a 3 MiB blob in three chunks through three nodes, killing the
/// second node (SIGKILL) right after its chunk; the third node continues the
/// session and the first commits it. Returns the blob's digest after
/// checking node 2 serves it byte for byte.
async fn chunked_push_across_nodes(nodes: &mut [Berth]) -> String {
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let blob: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let digest = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &blob))
    );
    let start = client
        .post(format!("http://{}/v2/team/big/blobs/uploads/", addrs[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 202);
    let mut location = start.headers()["location"].to_str().unwrap().to_string();
    let chunk = 1024 * 1024;
    // Chunk 1 on node 1, then node 1 dies (SIGKILL) holding the session.
    let r = client
        .patch(on(&addrs[1], &location))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("0-{}", chunk - 1))
        .body(blob[..chunk].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    location = r.headers()["location"].to_str().unwrap().to_string();
    nodes[1].kill();
    // Chunk 2 on node 2, which never saw the session before.
    let r = client
        .patch(on(&addrs[2], &location))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("{chunk}-{}", 2 * chunk - 1))
        .body(blob[chunk..2 * chunk].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    location = r.headers()["location"].to_str().unwrap().to_string();
    // The last chunk and the commit on node 0.
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = client
        .put(format!("{}{sep}digest={digest}", on(&addrs[0], &location)))
        .header("Content-Type", "application/octet-stream")
        .body(blob[2 * chunk..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let got = client
        .get(format!("http://{}/v2/team/big/blobs/{digest}", addrs[2]))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        got[..] == blob[..],
        "node 2 serves the blob three nodes wrote"
    );
    digest
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_continues_on_another_node_after_its_node_is_killed() {
    let data = tempfile::tempdir().unwrap();
    let Some(mut nodes) = three_nodes(data.path(), &[]) else {
        return;
    };
    chunked_push_across_nodes(&mut nodes).await;
    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
    let verify = berth_ok(data.path(), &["audit", "verify"], &[]);
    assert!(verify.contains("audit trail intact"), "{verify}");
}

/// Node loss as a client sees it: docker pushes through the proxy, the node
/// receiving the layer's data is killed (SIGKILL) half way through that
/// request, the client gets 502 and retries on its own (docker's layer
/// retry), the retry lands on a live node and the push completes.
#[test]
fn a_push_survives_the_death_of_the_node_it_was_talking_to() {
    let data = tempfile::tempdir().unwrap();
    let Some(nodes) = three_nodes(data.path(), &[]) else {
        return;
    };
    let proxy = RoundRobin::start(&nodes.iter().collect::<Vec<_>>());
    let lb = proxy.addr.to_string();
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    d.docker(&[
        "load",
        "-i",
        images().join("busybox-amd64.docker.tar").to_str().unwrap(),
    ]);
    let loaded = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let source = loaded.lines().next().expect("a loaded image").trim();
    let target = format!("{lb}/team/survivor:v1");
    d.docker(&["tag", source, &target]);

    proxy.kill_during_next_patch(nodes.iter().map(Berth::pid).collect());
    d.docker(&["push", &target]);
    assert_eq!(proxy.failed(), 1, "one request died with its node");
    let alive: Vec<&Berth> = nodes
        .iter()
        .filter(|n| std::net::TcpStream::connect(&n.addr).is_ok())
        .collect();
    assert_eq!(alive.len(), 2, "one node was killed");

    // The survivors serve the image the client pushed, byte for byte.
    let pulled = pull_from_each(alive.iter().copied(), "team/survivor:v1", &[]);
    assert_eq!(pulled[0], pulled[1]);
    d.docker(&["rmi", &target]);
    d.docker(&["pull", &target]);

    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
    let verify = berth_ok(data.path(), &["audit", "verify"], &[]);
    assert!(verify.contains("audit trail intact"), "{verify}");
}

/// The deployment of docs/deploy.md: nodes with directories of their own
/// over one PostgreSQL database and one S3 bucket (Garage).
#[tokio::test(flavor = "multi_thread")]
async fn nodes_with_their_own_directories_share_one_database_and_one_bucket() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (Some(db), Some(bucket)) = (database_for(dirs[0].path()), storage_for(dirs[0].path()))
    else {
        eprintln!("skipped: needs PostgreSQL and S3 (BERTH_TEST_DATABASE_URL, BERTH_TEST_S3_BUCKET; scripts/test.sh sets both)");
        return;
    };
    let env = [
        ("BERTH_DATABASE_URL", db.as_str()),
        ("BERTH_STORAGE_URL", bucket.as_str()),
    ];
    let mut nodes: Vec<Berth> = dirs
        .iter()
        .map(|d| Berth::start_with_env(d.path(), &[], &env))
        .collect();
    // The proxy's runtime starts and stops outside this async test.
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    std::thread::spawn(move || push_app_through(&RoundRobin::start_addrs(&addrs)))
        .join()
        .unwrap();
    // Every node serves the same bytes from the bucket.
    assert_every_node_serves_the_same_app(&nodes);
    for d in &dirs {
        assert!(
            !d.path().join("blobs").join("sha256").exists(),
            "no blob lands in a node's own directory"
        );
    }
    chunked_push_across_nodes(&mut nodes).await;
    // Garbage collection and fsck from another node's directory see it all.
    let gc = berth_ok(dirs[2].path(), &["gc", "--yes"], &env);
    assert!(gc.contains("deleted"), "{gc}");
    let (code, out, err) = berth_cli(dirs[0].path(), &["fsck"], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 0 problems"), "{out}");
    // The database knows its blobs are in the bucket: a command given the
    // database without the bucket is refused, instead of finding every blob
    // "missing" (which `fsck --repair` would then forget).
    let (code, out, err) = berth_cli(
        dirs[0].path(),
        &["fsck", "--repair"],
        &[
            ("BERTH_DATABASE_URL", db.as_str()),
            ("BERTH_STORAGE_URL", ""),
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("this database's blobs are in {bucket}")),
        "{err}"
    );
    let (code, out, err) = berth_cli(dirs[1].path(), &["fsck"], &env);
    assert_eq!(code, 0, "nothing was forgotten: {out}{err}");
    let verify = berth_ok(dirs[0].path(), &["audit", "verify"], &env);
    assert!(verify.contains("audit trail intact"), "{verify}");
}

#[test]
fn a_second_garbage_collection_waits_for_the_one_running_elsewhere() {
    let data = tempfile::tempdir().unwrap();
    let Some(_nodes) = three_nodes(data.path(), &[]) else {
        return;
    };
    let url = database_for(data.path()).unwrap();
    // Hold the collection's cluster lock from a plain PostgreSQL session, as
    // a run on another node would.
    let mut holder = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = holder.stdin.as_mut().unwrap();
        writeln!(
            stdin,
            "SELECT pg_advisory_lock({});",
            berth_meta::db::job_lock_key("gc")
        )
        .unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut gc = Command::new(berth_bin())
        .args(["gc", "--yes", "--data-dir"])
        .arg(data.path())
        .envs(backend_env(data.path()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        gc.try_wait().unwrap().is_none(),
        "gc waits while another node collects"
    );
    drop(holder.stdin.take());
    let _ = holder.wait();
    let status =
        exit_within(&mut gc, Duration::from_secs(60)).expect("gc finishes once the lock is free");
    let mut err = String::new();
    use std::io::Read;
    gc.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("another node"), "gc said why it waited: {err}");
}

/// `storage.redirect = true`: blob GETs answer `307` to a presigned URL of
/// the bucket, and skopeo and docker follow it (the bytes never pass
/// through berth on a pull).
#[test]
fn blob_gets_redirect_to_presigned_urls_that_skopeo_and_docker_follow() {
    let data = tempfile::tempdir().unwrap();
    if storage_for(data.path()).is_none() {
        eprintln!("skipped: needs S3 (BERTH_TEST_S3_BUCKET; scripts/test.sh sets it)");
        return;
    }
    let config = data.path().join("berth.toml");
    std::fs::write(
        &config,
        "[storage]\nredirect = true\nredirect_expiry_secs = 600\n",
    )
    .unwrap();
    let berth = Berth::start_with(
        &data.path().join("node"),
        &["--config", config.to_str().unwrap()],
    );
    let img = images();
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:amd64", img.join("busybox").display()),
        &format!("docker://{}/team/app:v1", berth.addr),
    ]);
    // The layer of the image: a GET is a redirect into the bucket.
    let manifest: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/team/app:v1", berth.addr),
    ]))
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .get(berth.url(&format!("/v2/team/app/blobs/{layer}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
        assert!(location.starts_with(&endpoint), "{location}");
        assert!(location.contains("X-Amz-Signature="), "{location}");
        let bytes = client
            .get(&location)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let got = format!(
            "sha256:{}",
            hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
        );
        assert_eq!(got, layer);
    });
    drop(rt);
    // skopeo follows it.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("img");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/team/app:v1", berth.addr),
        &format!("dir:{}", dir.display()),
    ]);
    let hex = layer.trim_start_matches("sha256:");
    assert_eq!(file_digest(&dir.join(hex)), layer);
    // docker follows it.
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    d.docker(&["pull", &format!("{}/team/app:v1", berth.addr)]);
    let id = d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("{}/team/app:v1", berth.addr),
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
}

/// Stops a Garage cluster of scripts/start-garage.sh when dropped.
struct GarageCluster {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl GarageCluster {
    fn start(nodes: usize) -> GarageCluster {
        let dir = tempfile::Builder::new()
            .prefix("garage")
            .tempdir_in("/tmp")
            .unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-garage.sh");
        let out = run(Command::new(script)
            .env("GARAGE_NODES", nodes.to_string())
            .arg(dir.path()));
        let env = out
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        GarageCluster { dir, env }
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("start-garage.sh printed no {name}"))
    }
}

impl Drop for GarageCluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-garage.sh");
        let _ = Command::new(script)
            .arg("--stop")
            .arg(self.dir.path())
            .status();
    }
}

/// A three-node Garage (`replication_factor = 3`) loses a node (SIGKILL):
/// pushes and pulls through berth go on, and fsck stays clean.
#[test]
fn a_three_node_garage_with_one_node_killed_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    if storage_for(data.path()).is_none() {
        eprintln!(
            "skipped: needs Garage (BERTH_TEST_S3_BUCKET; scripts/test.sh builds and starts it)"
        );
        return;
    }
    let garage = GarageCluster::start(3);
    let storage = format!("s3://{}/three-nodes", garage.var("BERTH_TEST_S3_BUCKET"));
    let mut env: Vec<(&str, &str)> = garage
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("BERTH_STORAGE_URL", storage.as_str()));
    let berth = Berth::start_with_env(data.path(), &[], &env);
    let img = images();
    let push = |tag: &str| {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", img.join("busybox").display()),
            &format!("docker://{}/team/app:{tag}", berth.addr),
        ])
    };
    push("amd64");
    let pids: Vec<&str> = garage.var("GARAGE_PIDS").split_whitespace().collect();
    assert_eq!(pids.len(), 3, "{pids:?}");
    run(Command::new("kill").args(["-9", pids[2]]));
    // Two of three replicas answer: the quorum holds.
    push("arm64");
    for tag in ["amd64", "arm64"] {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("img");
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/team/app:{tag}", berth.addr),
            &format!("dir:{}", dir.display()),
        ]);
        let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
        assert_eq!(
            format!(
                "sha256:{}",
                hex::encode(ring::digest::digest(&ring::digest::SHA256, &manifest))
            ),
            recorded_digest(&format!("oci:busybox:{tag}")),
            "{tag} pulled byte-exact"
        );
    }
    let (code, out, err) = berth_cli(data.path(), &["fsck"], &env);
    assert_eq!(code, 0, "{out}{err}");
}
