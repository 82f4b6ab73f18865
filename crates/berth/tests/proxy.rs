//! Pull-through cache (docs/proxy.md), end to end: a second berth on
//! loopback is the upstream, with token authentication, behind a counting
//! front that sees every request berth makes upstream (and can corrupt blob
//! bodies or go away). Clients are real: skopeo and the docker CLI against a
//! private daemon using berth as its registry mirror.

mod support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::front::Front;
use support::*;

fn admin(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.basic_auth("admin", Some(ADMIN_PASSWORD))
}

/// A response read whole (its body, or why reading it failed).
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Result<Vec<u8>, String>,
}

impl Resp {
    fn text(&self) -> String {
        match &self.body {
            Ok(b) => String::from_utf8_lossy(b).to_string(),
            Err(e) => e.clone(),
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).unwrap_or_default()
    }
}

/// Sends `r` and reads the answer, from a synchronous test.
fn send(r: reqwest::RequestBuilder) -> Resp {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap());
    rt.block_on(async move {
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string());
        Resp {
            status,
            headers,
            body,
        }
    })
}

/// Adds upstream registry `name` at `url` through the management API and a
/// proxy project `project` over it; returns the registry id.
fn add_proxy_project(
    proxy: &Berth,
    (name, kind): (&str, &str),
    url: &str,
    secret: Option<&str>,
    project: &str,
    public: bool,
) -> i64 {
    let client = reqwest::Client::new();
    let mut body = serde_json::json!({"name": name, "type": kind, "url": url});
    if let Some(s) = secret {
        body["credential"] =
            serde_json::json!({"type": "basic", "access_key": "admin", "access_secret": s});
    }
    let r = send(admin(client.post(proxy.url("/api/v2.0/registries"))).json(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = support::http::location_id(&r.headers);
    let r = send(
        admin(client.post(proxy.url("/api/v2.0/projects"))).json(&serde_json::json!({
            "project_name": project,
            "registry_id": id,
            "metadata": {"public": public.to_string()},
        })),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    id
}

fn proxy_stats(proxy: &Berth, project: &str) -> serde_json::Value {
    let r = send(admin(
        reqwest::Client::new().get(proxy.url(&format!("/api/v2.0/projects/{project}"))),
    ));
    r.json()["proxy_stats"].clone()
}

fn config_file(dir: &Path, text: &str) -> String {
    let path = dir.join("berth.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().to_string()
}

const CREDS: &str = "admin:admin-test-password";

/// The digest of `reference`'s manifest (`skopeo inspect --raw`, hashed).
fn manifest_digest(reference: &str) -> String {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        CREDS,
        reference,
    ]);
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, raw.as_bytes()))
    )
}

fn pull_dir(reference: &str, arch: &str, dir: &Path) -> Vec<String> {
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        CREDS,
        &format!("--override-arch={arch}"),
        reference,
        &format!("dir:{}", dir.display()),
    ]);
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "version"))
        .map(|p| file_digest(&p))
        .collect();
    files.sort();
    files
}

#[test]
fn a_proxy_project_pulls_through_caches_and_outlives_its_upstream() {
    let tmp = tempfile::tempdir().unwrap();
    let (up_dir, px_dir) = (tmp.path().join("up"), tmp.path().join("px"));
    let upstream = Berth::start_with(&up_dir, &["--auth-mode", "token"]);
    let img = images();
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        &format!("oci:{}:multi", img.join("busybox").display()),
        &format!("docker://{}/team/app:v1", upstream.addr),
    ]);
    let mut front = Front::start(&upstream.addr);
    let cfg = config_file(tmp.path(), "[proxy]\ntag_ttl = \"4s\"\n");
    let proxy = Berth::start_with(&px_dir, &["--auth-mode", "token", "--config", &cfg]);
    add_proxy_project(
        &proxy,
        ("up", "harbor"),
        &format!("http://{}", front.addr),
        Some(ADMIN_PASSWORD),
        "hub",
        false,
    );
    let ping = send(
        admin(reqwest::Client::new().post(proxy.url("/api/v2.0/registries/ping")))
            .json(&serde_json::json!({"id": 1})),
    );
    assert_eq!(ping.status, 200, "{}", ping.text());

    // A private proxy project needs pull permission, as a local one does.
    let anonymous = send(reqwest::Client::new().get(proxy.url("/v2/hub/team/app/manifests/v1")));
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        front.count("/manifests/"),
        0,
        "nothing asked upstream for a refused caller"
    );

    // A miss: an arm64 pull through the proxy is the upstream's image, byte for byte.
    let via_proxy = format!("docker://{}/hub/team/app:v1", proxy.addr);
    let direct = format!("docker://{}/team/app:v1", upstream.addr);
    let got = pull_dir(&via_proxy, "arm64", &tmp.path().join("p1"));
    let want = pull_dir(&direct, "arm64", &tmp.path().join("d1"));
    assert_eq!(got, want);
    let blob_gets = front.count("GET /v2/team/app/blobs/");
    // Every blob of the image (all but manifest.json) fetched once.
    assert_eq!(blob_gets, want.len() - 1, "{:#?}", front.seen());

    // Concurrent misses of the same blobs: one upstream fetch each.
    let pulls: Vec<_> = (0..4)
        .map(|i| {
            let (r, d) = (via_proxy.clone(), tmp.path().join(format!("c{i}")));
            std::thread::spawn(move || pull_dir(&r, "amd64", &d))
        })
        .collect();
    let results: Vec<_> = pulls.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    let amd64_blobs = front.count("GET /v2/team/app/blobs/") - blob_gets;
    assert_eq!(
        amd64_blobs,
        results[0].len() - 1,
        "four concurrent pulls fetch each blob once: {:#?}",
        front.seen()
    );

    // A hit: nothing is fetched again (a tag may be confirmed with a HEAD).
    let before = front.seen().len();
    assert_eq!(pull_dir(&via_proxy, "arm64", &tmp.path().join("p2")), want);
    let again: Vec<String> = front.seen()[before..]
        .iter()
        .filter(|l| l.starts_with("GET /v2/team/app/"))
        .cloned()
        .collect();
    assert!(again.is_empty(), "a cached pull fetched {again:#?}");
    let stats = proxy_stats(&proxy, "hub");
    assert!(stats["hits"].as_i64().unwrap() > 0, "{stats}");
    assert!(stats["misses"].as_i64().unwrap() >= 6, "{stats}");

    // Tags: upstream's and the cached ones.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        &format!("oci:{}:latest", img.join("busybox").display()),
        &format!("docker://{}/team/app:v9", upstream.addr),
    ]);
    let repo_via_proxy = format!("docker://{}/hub/team/app", proxy.addr);
    let list_tags = || {
        skopeo(&[
            "list-tags",
            "--tls-verify=false",
            "--creds",
            CREDS,
            &repo_via_proxy,
        ])
    };
    let tags = list_tags();
    assert!(tags.contains("\"v1\"") && tags.contains("\"v9\""), "{tags}");

    // A tag moved upstream is seen after the TTL, not before, and asked
    // with one HEAD however many clients pull it.
    let old = manifest_digest(&via_proxy);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        &format!("oci:{}:latest", img.join("busybox").display()),
        &format!("docker://{}/team/app:v1", upstream.addr),
    ]);
    let new = manifest_digest(&direct);
    assert_ne!(old, new);
    let heads_before = front.count("HEAD /v2/team/app/manifests/v1");
    assert_eq!(
        manifest_digest(&via_proxy),
        old,
        "within the TTL the cached tag is served"
    );
    std::thread::sleep(Duration::from_millis(4500));
    for _ in 0..4 {
        assert_eq!(
            manifest_digest(&via_proxy),
            new,
            "after the TTL the moved tag is seen"
        );
    }
    assert_eq!(
        front.count("HEAD /v2/team/app/manifests/v1") - heads_before,
        1,
        "{:#?}",
        front.seen()
    );

    // Upstream gone: what is cached is still served, by digest and by tag.
    front.stop();
    let pinned = format!("docker://{}/hub/team/app@{old}", proxy.addr);
    assert_eq!(pull_dir(&pinned, "arm64", &tmp.path().join("p3")), want);
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(
        manifest_digest(&via_proxy),
        new,
        "a stale tag is served while upstream is down"
    );
    let stats = proxy_stats(&proxy, "hub");
    assert!(stats["upstream_failures"].as_i64().unwrap() > 0, "{stats}");
    let tags = list_tags();
    assert!(
        tags.contains("\"v1\"") && !tags.contains("\"v9\""),
        "only the cached tags while upstream is down: {tags}"
    );
    // Pushing into a proxy project is refused with a clear message.
    let push = std::process::Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            CREDS,
            &format!("oci:{}:latest", img.join("busybox").display()),
            &format!("docker://{}/hub/team/mine:v1", proxy.addr),
        ])
        .output()
        .unwrap();
    assert!(!push.status.success());
    let err = String::from_utf8_lossy(&push.stderr);
    assert!(err.contains("pull-through cache"), "{err}");

    let (code, report) = fsck(&px_dir);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn bad_upstreams_get_clear_errors_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let (up_dir, px_dir) = (tmp.path().join("up"), tmp.path().join("px"));
    // The upstream takes manifests up to 8 MiB; the proxy, berth's default 4 MiB.
    let cfg_dir = tmp.path().join("cfg");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let up_cfg = config_file(&cfg_dir, "[limits]\nmax_manifest_bytes = 8388608\n");
    let upstream = Berth::start_with(&up_dir, &["--auth-mode", "token", "--config", &up_cfg]);
    let img = images();
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        &format!("oci:{}:latest", img.join("busybox").display()),
        &format!("docker://{}/team/app:v1", upstream.addr),
    ]);
    let client = reqwest::Client::new();
    // A 5 MiB manifest (an artifact whose annotation is large).
    let empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let r = send(
        admin(client.post(upstream.url(&format!("/v2/team/big/blobs/uploads/?digest={empty}"))))
            .body("{}"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let big = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/x-big",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
        "annotations": {"padding": "x".repeat(5 << 20)},
    });
    let r = send(
        admin(client.put(upstream.url("/v2/team/big/manifests/v1")))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(big.to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let front = Front::start(&upstream.addr);
    let proxy = Berth::start_with(&px_dir, &["--auth-mode", "none"]);
    let front_url = format!("http://{}", front.addr);
    add_proxy_project(
        &proxy,
        ("good", "harbor"),
        &front_url,
        Some(ADMIN_PASSWORD),
        "hub",
        true,
    );
    add_proxy_project(
        &proxy,
        ("wrong", "harbor"),
        &front_url,
        Some("not-the-password"),
        "wrong",
        true,
    );
    add_proxy_project(
        &proxy,
        ("down", "harbor"),
        "http://127.0.0.1:9",
        None,
        "down",
        true,
    );

    let error_of = |path: &str| {
        let r = send(client.get(proxy.url(path)));
        (r.status, r.text())
    };
    // Unreachable upstream.
    let (status, body) = error_of("/v2/down/team/app/manifests/v1");
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("UNAVAILABLE") && body.contains("unreachable"),
        "{body}"
    );
    let ping = send(
        admin(client.post(proxy.url("/api/v2.0/registries/ping")))
            .json(&serde_json::json!({"id": 3})),
    );
    assert_eq!(ping.status, 400);
    assert!(ping.text().contains("unreachable"), "{}", ping.text());
    // Wrong credentials.
    let (status, body) = error_of("/v2/wrong/team/app/manifests/v1");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("credential"), "{body}");
    // A manifest over the limit.
    let (status, body) = error_of("/v2/hub/team/big/manifests/v1");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("limit"), "{body}");
    let (status, _) = error_of("/v2/hub/team/big/manifests/v1");
    assert_eq!(status, 502, "still not stored, still refused");

    // A blob whose bytes do not match its digest: the client never gets a
    // complete body, and nothing is stored (the next pull fetches again).
    let manifest = client
        .get(proxy.url("/v2/hub/team/app/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json");
    let manifest = send(manifest).json();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    front.state.tamper.store(true, Ordering::Relaxed);
    let path = format!("/v2/hub/team/app/blobs/{layer}");
    let tampered = send(client.get(proxy.url(&path)));
    let complete = match &tampered.body {
        Ok(b) => tampered.status == 200 && file_digest_of(b) == layer,
        Err(_) => false,
    };
    assert!(!complete, "a corrupt upstream blob was served whole");
    front.state.tamper.store(false, Ordering::Relaxed);
    let fetches = front.count(&format!("GET /v2/team/app/blobs/{layer}"));
    let good = send(client.get(proxy.url(&path)));
    assert_eq!(good.status, 200);
    assert_eq!(file_digest_of(good.body.as_ref().unwrap()), layer);
    assert_eq!(
        front.count(&format!("GET /v2/team/app/blobs/{layer}")),
        fetches + 1,
        "the corrupt copy was not stored, so it was fetched again"
    );
    let started = Instant::now();
    let (code, report) = fsck(&px_dir);
    assert_eq!(code, 0, "{report} ({:?})", started.elapsed());
}

fn file_digest_of(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

#[test]
fn docker_pulls_through_berth_as_its_registry_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let (up_dir, px_dir) = (tmp.path().join("up"), tmp.path().join("px"));
    let upstream = Berth::start_with(&up_dir, &["--auth-mode", "none"]);
    let img = images();
    // docker.io's busybox:1, as the local upstream holds it.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!(
            "docker-archive:{}",
            img.join("busybox-amd64.docker.tar").display()
        ),
        &format!("docker://{}/library/busybox:1", upstream.addr),
    ]);
    let cfg = config_file(
        tmp.path(),
        "[proxy]\ndefault_mirror = \"hub\"\n[proxy.mirrors]\n\"docker.io\" = \"hub\"\n",
    );
    std::fs::create_dir_all(&px_dir).unwrap();
    // The operator's way: the CLI, before the server starts.
    let url = format!("http://{}", upstream.addr);
    let env = [("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)];
    let added = berth_ok(
        &px_dir,
        &["registry", "add", "dockerhub", "--url", &url],
        &env,
    );
    assert!(added.contains("added registry dockerhub"), "{added}");
    let created = berth_ok(
        &px_dir,
        &[
            "project",
            "create",
            "hub",
            "--public",
            "--proxy",
            "dockerhub",
        ],
        &env,
    );
    assert!(
        created.contains("pull-through cache of dockerhub"),
        "{created}"
    );
    berth_ok(&px_dir, &["project", "create", "secret"], &env);
    let listed = berth_ok(&px_dir, &["registry", "list"], &env);
    assert!(
        listed.contains("dockerhub") && listed.contains("hub"),
        "{listed}"
    );
    let proxy = Berth::start_with(&px_dir, &["--auth-mode", "token", "--config", &cfg]);

    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start_with_args(
        state.path().to_path_buf(),
        &format!("--registry-mirror=http://{}", proxy.addr),
    );
    d.docker(&["pull", "busybox:1"]);
    let first = proxy_stats(&proxy, "hub");
    assert!(first["misses"].as_i64().unwrap() > 0, "{first}");
    d.docker(&["rmi", "busybox:1"]);
    d.docker(&["pull", "busybox:1"]);
    let second = proxy_stats(&proxy, "hub");
    assert!(
        second["hits"].as_i64().unwrap() > first["hits"].as_i64().unwrap(),
        "the second pull was served from the cache: {first} then {second}"
    );
    // containerd's hosts.toml mirrors name the upstream with ?ns=.
    let accept = "application/vnd.docker.distribution.manifest.v2+json";
    let r = send(
        reqwest::Client::new()
            .get(proxy.url("/v2/library/busybox/manifests/1?ns=docker.io"))
            .header("accept", accept),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let direct = send(
        reqwest::Client::new()
            .head(upstream.url("/v2/library/busybox/manifests/1"))
            .header("accept", accept),
    );
    assert_eq!(
        r.headers["docker-content-digest"],
        direct.headers["docker-content-digest"]
    );

    // With a default mirror, pushing to a new repository still works: the
    // pusher's blob HEADs are answered locally, never by the mirror.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        CREDS,
        &format!(
            "docker-archive:{}",
            img.join("busybox-amd64.docker.tar").display()
        ),
        &format!("docker://{}/secret/newapp:1", proxy.addr),
    ]);
    // A proxy project is not a way to read other projects' blobs by digest:
    // a blob berth holds only for the private `secret` is not served through
    // the public mirror project, which upstream does not confirm.
    let private = send(
        admin(reqwest::Client::new().get(proxy.url("/v2/secret/newapp/manifests/1")))
            .header("accept", accept),
    )
    .json();
    let config = private["config"]["digest"].as_str().unwrap().to_string();
    let upstream_has = send(
        reqwest::Client::new().head(upstream.url(&format!("/v2/library/busybox/blobs/{config}"))),
    );
    if upstream_has.status == 404 {
        for path in [
            format!("/v2/hub/anything/blobs/{config}"),
            format!("/v2/library/anything/blobs/{config}"),
            format!("/v2/library/anything/blobs/{config}?ns=docker.io"),
        ] {
            let r = send(reqwest::Client::new().get(proxy.url(&path)));
            assert_eq!(r.status, 404, "{path}: {}", r.text());
        }
    }
}

/// Debian's docker-registry (CNCF Distribution 2.8) on loopback, filesystem
/// storage, no auth; killed when dropped.
struct Distribution {
    addr: String,
    child: std::process::Child,
}

impl Distribution {
    fn start(dir: &Path) -> Distribution {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(
                "docker-registry (Debian package docker-registry; scripts/test.sh installs it)",
            );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Distribution { addr, child }
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn distribution_is_an_upstream_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = Distribution::start(&tmp.path().join("dist"));
    let img = images();
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", img.join("busybox").display()),
        &format!("docker://{}/team/app:v1", dist.addr),
    ]);
    let px_dir = tmp.path().join("px");
    let proxy = Berth::start_with(&px_dir, &["--auth-mode", "none"]);
    let client = reqwest::Client::new();
    let dist_url = format!("http://{}", dist.addr);
    let dist_registry = ("distribution", "docker-registry");
    add_proxy_project(&proxy, dist_registry, &dist_url, None, "dist", true);
    for arch in ["arm64", "amd64"] {
        let via = pull_dir(
            &format!("docker://{}/dist/team/app:v1", proxy.addr),
            arch,
            &tmp.path().join(format!("p-{arch}")),
        );
        let direct = pull_dir(
            &format!("docker://{}/team/app:v1", dist.addr),
            arch,
            &tmp.path().join(format!("d-{arch}")),
        );
        assert_eq!(via, direct, "{arch}");
    }
    // A blob HEAD on a miss gives upstream's size, not the empty body's.
    let index: serde_json::Value = send(
        client
            .get(format!("http://{}/v2/team/app/manifests/v1", dist.addr))
            .header("accept", "application/vnd.oci.image.index.v1+json"),
    )
    .json();
    let child = index["manifests"][0]["digest"].as_str().unwrap();
    let image: serde_json::Value = send(
        client
            .get(format!(
                "http://{}/v2/team/app/manifests/{child}",
                dist.addr
            ))
            .header("accept", "application/vnd.oci.image.manifest.v1+json"),
    )
    .json();
    let layer = &image["layers"][0];
    let fresh = tmp.path().join("fresh");
    let proxy2 = Berth::start_with(&fresh, &["--auth-mode", "none"]);
    add_proxy_project(&proxy2, dist_registry, &dist_url, None, "dist", true);
    let head = send(client.head(proxy2.url(&format!(
        "/v2/dist/team/app/blobs/{}",
        layer["digest"].as_str().unwrap()
    ))));
    assert_eq!(head.status, 200);
    assert_eq!(
        head.headers["content-length"].to_str().unwrap(),
        layer["size"].to_string()
    );
    let (code, report) = fsck(&px_dir);
    assert_eq!(code, 0, "{report}");
}

/// Writes an OCI layout at `dir` holding one image tagged `v1`: one
/// uncompressed tar layer with `bytes` random bytes, so each image's blobs
/// are its own.
fn random_image(dir: &Path, bytes: u64) {
    use std::io::Read;
    let root = dir.join("root");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&blobs).unwrap();
    let mut data = Vec::new();
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .take(bytes)
        .read_to_end(&mut data)
        .unwrap();
    std::fs::write(root.join("data"), &data).unwrap();
    let layer_tar = dir.join("layer.tar");
    run(std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&layer_tar)
        .arg("data"));
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = put(&std::fs::read(&layer_tar).unwrap());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer]},
    });
    let (config, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer, "size": layer_size}],
    });
    let (manifest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": "v1"}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Polls `check` every 200 ms for up to 20 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_proxy_cache_limit_evicts_the_least_recently_pulled() {
    const MIB: u64 = 1 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let (up_dir, px_dir) = (tmp.path().join("up"), tmp.path().join("px"));
    let upstream = Berth::start_with(&up_dir, &["--auth-mode", "token"]);
    for name in ["a", "b", "c"] {
        let layout = tmp.path().join(format!("img-{name}"));
        random_image(&layout, MIB);
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            CREDS,
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{}/team/{name}:v1", upstream.addr),
        ]);
    }
    let front = Front::start(&upstream.addr);
    let proxy = Berth::start_with(&px_dir, &["--auth-mode", "token"]);
    let client = reqwest::Client::new();
    add_proxy_project(
        &proxy,
        ("up", "harbor"),
        &format!("http://{}", front.addr),
        Some(ADMIN_PASSWORD),
        "hub",
        false,
    );

    // The limit is a proxy project's: refused on a normal one.
    let r = send(
        admin(client.post(proxy.url("/api/v2.0/projects")))
            .json(&serde_json::json!({"project_name": "team"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.put(proxy.url("/api/v2.0/projects/team")))
            .json(&serde_json::json!({"proxy_cache_limit": MIB})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not a proxy project"), "{}", r.text());

    // Room for two of the three images.
    let limit = 5 * MIB / 2;
    let r = send(
        admin(client.put(proxy.url("/api/v2.0/projects/hub")))
            .json(&serde_json::json!({"proxy_cache_limit": limit})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let project = send(admin(client.get(proxy.url("/api/v2.0/projects/hub")))).json();
    assert_eq!(project["proxy_cache_limit"], limit, "{project}");

    let pull = |name: &str, n: usize| {
        let reference = format!("docker://{}/hub/team/{name}:v1", proxy.addr);
        pull_dir(&reference, "amd64", &tmp.path().join(format!("{name}-{n}")))
    };
    let cached = |name: &str| -> usize {
        let r = send(admin(client.get(proxy.url(&format!(
            "/api/v2.0/projects/hub/repositories/team%252F{name}/artifacts"
        )))));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().as_array().map_or(0, |a| a.len())
    };
    let used = || -> u64 {
        let s = send(admin(
            client.get(proxy.url("/api/v2.0/projects/hub/summary")),
        ))
        .json();
        s["quota"]["used"]["storage"].as_u64().unwrap()
    };
    let layer_gets = |name: &str| front.count(&format!("GET /v2/team/{name}/blobs/"));

    // a, then b: both fit.
    let a = pull("a", 1);
    pull("b", 1);
    assert!(used() <= limit, "{} of {limit}", used());
    // a again (a hit, from the cache): now b is the least recently pulled.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(pull("a", 2), a);
    assert_eq!(layer_gets("a"), 2, "config and layer fetched once");
    std::thread::sleep(Duration::from_millis(1500));
    // c passes the limit: b goes, a and c stay.
    pull("c", 1);
    eventually("b is evicted", || cached("b") == 0);
    assert_eq!((cached("a"), cached("c")), (1, 1));
    let after = used();
    assert!(after <= limit, "{after} of {limit}");
    assert!(after > 2 * MIB, "a and c are still counted: {after}");

    // An evicted image is fetched again on its next pull, and then the
    // least recently pulled (a) makes room.
    let before = layer_gets("b");
    pull("b", 2);
    assert_eq!(layer_gets("b") - before, 2, "{:#?}", front.seen());
    eventually("a is evicted", || cached("a") == 0);
    assert_eq!((cached("b"), cached("c")), (1, 1));

    // Past the project's quota a miss is refused before its first byte
    // (403 with the reason), not cut off mid-body: room for a's manifest
    // and config, not for its layer.
    let r = send(
        admin(client.put(proxy.url("/api/v2.0/projects/hub/quota")))
            .json(&serde_json::json!({"storage": used() + 16 * 1024})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let refused = std::process::Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            CREDS,
        ])
        .arg(format!("docker://{}/hub/team/a:v1", proxy.addr))
        .arg(format!("dir:{}", tmp.path().join("a-3").display()))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    // skopeo shows a blob's status only (the body says "quota exceeded:
    // caching this pull would bring the project to …").
    assert!(err.contains("403"), "{err}");
    assert!(!err.contains("unexpected EOF"), "{err}");

    let (code, report) = fsck(&px_dir);
    assert_eq!(code, 0, "{report}");
}
