//! Security hardening end to end (docs/security.md): the real binary in
//! `auth.mode = token`, attacked as a stranger on the network would. One test
//! per rule, named after it; each failed on the code before its fix.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{berth_ok, Berth, ADMIN_PASSWORD};

const PW: &str = "password-123";

fn start(dir: &Path, extra: &[&str]) -> Berth {
    let mut args = vec!["--auth-mode", "token"];
    args.extend_from_slice(extra);
    Berth::start_with(dir, &args)
}

fn user(dir: &Path, name: &str) {
    berth_ok(dir, &["user", "add", name], &[("BERTH_NEW_PASSWORD", PW)]);
}

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A client whose connections leave from `ip` (any 127.0.0.0/8 address is
/// this machine, so several "hosts" can be told apart).
fn http_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().ok())
        .build()
        .expect("client")
}

/// A token from `GET /v2/token` for `scope`.
async fn token(b: &Berth, creds: Option<(&str, &str)>, scope: &str) -> (StatusCode, Value) {
    let mut r = http()
        .get(b.url("/v2/token"))
        .query(&[("service", "berth"), ("scope", scope)]);
    if let Some((u, p)) = creds {
        r = r.basic_auth(u, Some(p));
    }
    let r = r.send().await.expect("token");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn bearer_token(b: &Berth, creds: (&str, &str), scope: &str) -> String {
    let (s, v) = token(b, Some(creds), scope).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["token"].as_str().expect("token").to_owned()
}

/// Pushes a config blob and a one-config manifest to `repo:tag` with the
/// bearer token `t` (or Basic `creds`); returns the manifest PUT's status.
async fn push(b: &Berth, repo: &str, tag: &str, auth: &Auth<'_>) -> StatusCode {
    let config = format!("{{\"tag\":\"{tag}\"}}");
    let cd = sha256(config.as_bytes());
    let r = auth
        .apply(http().post(b.url(&format!("/v2/{repo}/blobs/uploads/?digest={cd}"))))
        .header("content-type", "application/octet-stream")
        .body(config.clone())
        .send()
        .await
        .expect("blob");
    if r.status() != StatusCode::CREATED {
        return r.status();
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": []
    })
    .to_string();
    auth.apply(http().put(b.url(&format!("/v2/{repo}/manifests/{tag}"))))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .expect("manifest")
        .status()
}

enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a str, &'a str),
}

impl Auth<'_> {
    fn apply(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Bearer(t) => r.bearer_auth(t),
            Auth::Basic(u, p) => r.basic_auth(u, Some(p)),
        }
    }
}

/// A management API request as `admin`.
fn api(b: &Berth, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    http()
        .request(method, b.url(&format!("/api/v2.0{path}")))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
}

async fn user_id(b: &Berth, name: &str) -> i64 {
    let v: Value = api(b, reqwest::Method::GET, &format!("/users?username={name}"))
        .send()
        .await
        .expect("users")
        .json()
        .await
        .expect("json");
    v.as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == name))
        .and_then(|u| u["user_id"].as_i64())
        .expect("user id")
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A 1 GiB request body, generated as it is sent.
fn gibibyte() -> reqwest::Body {
    let chunk = vec![b'a'; 1 << 20];
    let s = futures::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    reqwest::Body::wrap_stream(s)
}

/// Sends `head` on a raw connection, then `body` one byte at a time every
/// `every`; returns how long until the server answered or closed, and what
/// it sent.
fn trickle(addr: &str, head: &str, body: &[u8], every: Duration) -> (Duration, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let start = Instant::now();
    s.write_all(head.as_bytes()).expect("head");
    let mut got = Vec::new();
    for byte in body {
        let _ = s.write_all(std::slice::from_ref(byte));
        let until = Instant::now() + every;
        while Instant::now() < until {
            let mut buf = [0u8; 4096];
            match s.read(&mut buf) {
                Ok(0) => return (start.elapsed(), String::from_utf8_lossy(&got).into()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return (start.elapsed(), String::from_utf8_lossy(&got).into()),
            }
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                return (start.elapsed(), String::from_utf8_lossy(&got).into());
            }
        }
    }
    (start.elapsed(), String::from_utf8_lossy(&got).into())
}

#[tokio::test(flavor = "multi_thread")]
async fn bounded_request_bodies_everywhere() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("berth.toml");
    std::fs::write(
        &config,
        "[server]\nbody_read_timeout_secs = 2\nbody_idle_timeout_secs = 60\n",
    )
    .expect("config");
    let b = start(tmp.path(), &["--config", config.to_str().expect("utf8")]);
    // Warm up: a login, a management call, a push.
    assert_eq!(
        push(
            &b,
            "library/warm",
            "1",
            &Auth::Basic("admin", ADMIN_PASSWORD)
        )
        .await,
        StatusCode::CREATED
    );
    let before = vm_hwm_kib(b.pid());

    // Two anonymous 1 GiB POSTs in parallel: refused before the body is read.
    let anon = || async {
        http()
            .post(b.url("/api/v2.0/users"))
            .header("content-type", "application/json")
            .body(gibibyte())
            .send()
            .await
    };
    let (one, two) = tokio::join!(anon(), anon());
    // The server may close the connection after answering; when the answer
    // arrives it is the 401.
    for r in [one, two].into_iter().flatten() {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Anonymous with a large declared body: still the 401 (nothing says
    // whether the body would fit), and never cached.
    let r = http()
        .post(b.url("/api/v2.0/users"))
        .header("content-type", "application/json")
        .header("content-length", (1u64 << 30).to_string())
        .body(gibibyte())
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    // An administrator's 1 GiB body: 413, declared or not.
    let r = api(&b, reqwest::Method::POST, "/users")
        .header("content-type", "application/json")
        .header("content-length", (1u64 << 30).to_string())
        .body(gibibyte())
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let r = api(&b, reqwest::Method::POST, "/users")
        .header("content-type", "application/json")
        .body(gibibyte())
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["errors"][0]["code"], "PAYLOAD_TOO_LARGE");
    }
    // The token endpoint and manifests have their own small limits.
    let _ = http()
        .post(b.url("/v2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(gibibyte())
        .send()
        .await;
    let _ = http()
        .put(b.url("/v2/library/warm/manifests/big"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(gibibyte())
        .send()
        .await;
    let after = vm_hwm_kib(b.pid());
    assert!(
        after < before + 64 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );

    // A body that trickles (one byte every 500 ms) is cut off: buffered
    // bodies after body_read_timeout_secs (2 s here).
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"))
    };
    let body = br#"{"project_name":"trickle","metadata":{"public":"false"}}"#;
    let head = format!(
        "POST /api/v2.0/projects HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        b.addr,
        body.len()
    );
    let (took, answer) = trickle(&b.addr, &head, body, Duration::from_millis(500));
    assert!(
        took < Duration::from_secs(8),
        "a trickling management body was read for {took:?}: {answer}"
    );
    // A manifest body that trickles, too.
    let head = format!(
        "PUT /v2/library/warm/manifests/slow HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 200\r\n\r\n",
        b.addr
    );
    let (took, answer) = trickle(&b.addr, &head, &[b' '; 200], Duration::from_millis(500));
    assert!(
        took < Duration::from_secs(8),
        "a trickling manifest was read for {took:?}: {answer}"
    );
    // An upload body trickling below body_min_bytes_per_sec after 2 s.
    let r = http()
        .post(b.url("/v2/library/warm/blobs/uploads/"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("start upload");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    let path = location
        .strip_prefix(&format!("http://{}", b.addr))
        .unwrap_or(&location)
        .to_owned();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 200\r\n\r\n",
        b.addr
    );
    let (took, answer) = trickle(&b.addr, &head, &[b'x'; 200], Duration::from_millis(500));
    assert!(
        took < Duration::from_secs(10),
        "a trickling upload was read for {took:?}: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_tokens_are_not_management_credentials() {
    let tmp = tempfile::tempdir().expect("tmp");
    let b = start(tmp.path(), &[]);
    // The kind of token every docker client and CI log holds: a pull token.
    let t = bearer_token(
        &b,
        ("admin", ADMIN_PASSWORD),
        "repository:library/busybox:pull",
    )
    .await;
    let r = http()
        .post(b.url("/api/v2.0/users"))
        .bearer_auth(&t)
        .json(&json!({"username": "mallory", "password": "mallory-password", "email": ""}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http()
        .get(b.url("/api/v2.0/users"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = api(&b, reqwest::Method::GET, "/users?page_size=100")
        .send()
        .await
        .expect("users");
    let v: Value = r.json().await.expect("json");
    let names: Vec<&str> = v
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["admin"], "no user was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_scopes_are_rechecked_against_current_permissions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    berth_ok(dir, &["project", "create", "open", "--public"], &[]);
    user(dir, "dev");
    user(dir, "boss");
    berth_ok(dir, &["project", "member", "team", "dev", "developer"], &[]);
    berth_ok(
        dir,
        &["user", "add", "root2", "--admin"],
        &[("BERTH_NEW_PASSWORD", PW)],
    );
    let b = start(dir, &[]);
    let scope = "repository:team/app:pull,push";

    // A member removed after the token was issued: push refused.
    let t = bearer_token(&b, ("dev", PW), scope).await;
    assert_eq!(
        push(&b, "team/app", "1", &Auth::Bearer(&t)).await,
        StatusCode::CREATED
    );
    let members: Value = api(&b, reqwest::Method::GET, "/projects/team/members")
        .send()
        .await
        .expect("members")
        .json()
        .await
        .expect("json");
    let mid = members
        .as_array()
        .and_then(|a| a.iter().find(|m| m["entity_name"] == "dev"))
        .and_then(|m| m["id"].as_i64())
        .expect("dev's membership");
    let r = api(
        &b,
        reqwest::Method::DELETE,
        &format!("/projects/team/members/{mid}"),
    )
    .send()
    .await
    .expect("remove");
    assert!(r.status().is_success());
    let s = push(&b, "team/app", "2", &Auth::Bearer(&t)).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a removed member's token still pushed"
    );

    // A user deleted and a new one created with the same name: the old token
    // names another account.
    let t = bearer_token(&b, ("boss", PW), "repository:open/app:pull").await;
    let ok = http()
        .get(b.url("/v2/open/app/tags/list"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("tags");
    assert_ne!(ok.status(), StatusCode::UNAUTHORIZED);
    let id = user_id(&b, "boss").await;
    assert!(api(&b, reqwest::Method::DELETE, &format!("/users/{id}"))
        .send()
        .await
        .expect("delete")
        .status()
        .is_success());
    let r = api(&b, reqwest::Method::POST, "/users")
        .json(&json!({"username": "boss", "password": "other-password", "email": ""}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http()
        .get(b.url("/v2/open/app/tags/list"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("tags");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old user's token");

    // A system administrator demoted: their token for a project they are no
    // member of stops working.
    let t = bearer_token(&b, ("root2", PW), "repository:team/app:pull,push").await;
    assert_eq!(
        push(&b, "team/app", "3", &Auth::Bearer(&t)).await,
        StatusCode::CREATED
    );
    let id = user_id(&b, "root2").await;
    let r = api(&b, reqwest::Method::PUT, &format!("/users/{id}/sysadmin"))
        .json(&json!({"sysadmin_flag": false}))
        .send()
        .await
        .expect("demote");
    assert!(r.status().is_success());
    assert_eq!(
        push(&b, "team/app", "4", &Auth::Bearer(&t)).await,
        StatusCode::FORBIDDEN
    );

    // A project made private: anonymous pull tokens stop working.
    assert_eq!(
        push(&b, "open/app", "1", &Auth::Basic("admin", ADMIN_PASSWORD)).await,
        StatusCode::CREATED
    );
    let (s, v) = token(&b, None, "repository:open/app:pull").await;
    assert_eq!(s, StatusCode::OK);
    let anon = v["token"].as_str().expect("token").to_owned();
    let get = |t: String| {
        let url = b.url("/v2/open/app/manifests/1");
        async move {
            http()
                .get(url)
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .bearer_auth(t)
                .send()
                .await
                .expect("get")
                .status()
        }
    };
    assert_eq!(get(anon.clone()).await, StatusCode::OK);
    let r = api(&b, reqwest::Method::PUT, "/projects/open")
        .json(&json!({"metadata": {"public": "false"}}))
        .send()
        .await
        .expect("private");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(get(anon).await, StatusCode::UNAUTHORIZED);

    // A robot whose permissions were emptied (from the CLI, another
    // process): refused within the documented 5 s bound.
    let out = berth_ok(
        dir,
        &[
            "robot",
            "create",
            "ci",
            "--project",
            "team",
            "--actions",
            "pull,push",
        ],
        &[],
    );
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret")
        .to_owned();
    let t = bearer_token(&b, ("robot$team+ci", &secret), scope).await;
    assert_eq!(
        push(&b, "team/app", "5", &Auth::Bearer(&t)).await,
        StatusCode::CREATED
    );
    berth_ok(dir, &["robot", "disable", "robot$team+ci"], &[]);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let s = push(&b, "team/app", "6", &Auth::Bearer(&t)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a disabled robot's token");
}

async fn post_token(b: &Berth, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = http()
        .post(b.url("/v2/token"))
        .form(form)
        .send()
        .await
        .expect("post");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn refresh_of(b: &Berth, user: &str, secret: &str) -> String {
    let (s, v) = post_token(
        b,
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", secret),
            ("service", "berth"),
            ("client_id", "test"),
            ("access_type", "offline"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

async fn refresh(b: &Berth, rt: &str) -> (StatusCode, Value) {
    post_token(
        b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("service", "berth"),
        ],
    )
    .await
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("jwt");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("claims")
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_die_with_their_credential() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    user(dir, "dev");
    let robot_secret = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("secret: "))
            .expect("secret")
            .to_owned()
    };
    let ci = robot_secret(&berth_ok(
        dir,
        &[
            "robot",
            "create",
            "ci",
            "--project",
            "team",
            "--actions",
            "pull",
        ],
        &[],
    ));
    let pat_of = |out: &str| {
        out.split_whitespace()
            .find(|w| w.starts_with("berth_pat_"))
            .expect("token secret")
            .to_owned()
    };
    let pat = pat_of(&berth_ok(dir, &["token", "create", "dev", "laptop"], &[]));
    let short = pat_of(&berth_ok(
        dir,
        &["token", "create", "dev", "short", "--expires-days", "1"],
        &[],
    ));
    let b = start(dir, &[]);

    // A robot's secret rotated: its refresh token is dead.
    let rt = refresh_of(&b, "robot$team+ci", &ci).await;
    assert_eq!(refresh(&b, &rt).await.0, StatusCode::OK);
    let robots: Value = api(
        &b,
        reqwest::Method::GET,
        "/robots?q=name%3Drobot%24team%2Bci",
    )
    .send()
    .await
    .expect("robots")
    .json()
    .await
    .expect("json");
    let rid = robots[0]["id"].as_i64().expect("robot id");
    let r = api(&b, reqwest::Method::PATCH, &format!("/robots/{rid}"))
        .json(&json!({}))
        .send()
        .await
        .expect("rotate");
    assert!(r.status().is_success());
    let (s, v) = refresh(&b, &rt).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "invalid_grant");

    // A robot deleted and recreated with the same name: the old refresh
    // token does not carry over.
    let again = robot_secret(&berth_ok(
        dir,
        &["robot", "secret", "robot$team+ci"],
        &[("BERTH_NEW_PASSWORD", "robot-secret-1234")],
    ));
    let rt = refresh_of(&b, "robot$team+ci", &again).await;
    berth_ok(dir, &["robot", "delete", "robot$team+ci", "--yes"], &[]);
    berth_ok(
        dir,
        &[
            "robot",
            "create",
            "ci",
            "--project",
            "team",
            "--actions",
            "pull",
        ],
        &[],
    );
    assert_eq!(refresh(&b, &rt).await.0, StatusCode::BAD_REQUEST);

    // A revoked personal access token.
    let rt = refresh_of(&b, "dev", &pat).await;
    assert_eq!(refresh(&b, &rt).await.0, StatusCode::OK);
    berth_ok(dir, &["token", "revoke", "dev", "laptop"], &[]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(refresh(&b, &rt).await.0, StatusCode::BAD_REQUEST);

    // A refresh token never outlives its credential (30 days by default; this
    // PAT expires in one).
    let rt = refresh_of(&b, "dev", &short).await;
    let exp = claims(&rt)["exp"].as_u64().expect("exp");
    let iat = claims(&rt)["iat"].as_u64().expect("iat");
    assert!(
        exp - iat <= 24 * 3600,
        "refresh token lives {} s",
        exp - iat
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn management_reads_honour_the_same_limits_as_pulls() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    user(dir, "carol");
    user(dir, "lg");
    berth_ok(
        dir,
        &[
            "project",
            "member",
            "team",
            "carol",
            "developer",
            "--repository",
            "web*",
        ],
        &[],
    );
    berth_ok(
        dir,
        &["project", "member", "team", "lg", "limitedGuest"],
        &[],
    );
    let b = start(dir, &[]);
    for repo in ["team/web", "team/db"] {
        assert_eq!(
            push(&b, repo, "1", &Auth::Basic("admin", ADMIN_PASSWORD)).await,
            StatusCode::CREATED
        );
    }
    let get = |who: &'static str, path: &str| {
        let url = b.url(&format!("/api/v2.0{path}"));
        async move {
            let r = http()
                .get(url)
                .basic_auth(who, Some(PW))
                .send()
                .await
                .expect("get");
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // On /v2 carol may pull team/web only.
    let (s, v) = get("carol", "/projects/team/repositories").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["team/web"]);
    assert_eq!(
        get("carol", "/projects/team/repositories/db/artifacts")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("carol", "/projects/team/repositories/db/artifacts/1")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("carol", "/projects/team/repositories/db").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("carol", "/projects/team/repositories/web/artifacts")
            .await
            .0,
        StatusCode::OK
    );
    let (_, v) = get("carol", "/search?q=db").await;
    assert_eq!(v["repository"].as_array().map(Vec::len), Some(0), "{v}");
    // A limited guest pulls but does not list, there as on /v2.
    assert_eq!(
        get("lg", "/projects/team/repositories/web/artifacts")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("lg", "/projects/team/repositories/web/artifacts/1/tags")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("lg", "/projects/team/repositories/web/artifacts/1")
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_information_for_the_unauthorized() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "teamb"], &[]);
    user(dir, "outsider");
    berth_ok(
        dir,
        &[
            "robot",
            "create",
            "ci",
            "--project",
            "teamb",
            "--actions",
            "pull",
        ],
        &[],
    );
    let b = start(dir, &[]);
    let id: Value = api(&b, reqwest::Method::GET, "/projects/teamb")
        .send()
        .await
        .expect("project")
        .json()
        .await
        .expect("json");
    let id = id["project_id"].as_i64().expect("id");
    let answer = |path: String, creds: Option<(&'static str, &'static str)>| {
        let url = b.url(&format!("/api/v2.0{path}"));
        async move {
            let mut r = http().get(url);
            if let Some((u, p)) = creds {
                r = r.basic_auth(u, Some(p));
            }
            let r = r.send().await.expect("get");
            (r.status(), r.text().await.unwrap_or_default())
        }
    };
    for creds in [None, Some(("outsider", PW))] {
        let private_by_name = answer("/projects/teamb".into(), creds).await;
        let private_by_id = answer(format!("/projects/{id}"), creds).await;
        let unknown_by_name = answer("/projects/nosuch".into(), creds).await;
        let unknown_by_id = answer("/projects/987654".into(), creds).await;
        assert_eq!(private_by_name, unknown_by_name, "{creds:?}");
        assert_eq!(private_by_id, unknown_by_id, "{creds:?}");
        assert_eq!(private_by_name, private_by_id, "{creds:?}");
        for text in [&private_by_name.1, &unknown_by_id.1] {
            assert!(
                !text.contains("teamb") && !text.contains("nosuch") && !text.contains("987654"),
                "{text}"
            );
        }
    }
    let robots: Value = api(&b, reqwest::Method::GET, "/robots")
        .send()
        .await
        .expect("robots")
        .json()
        .await
        .expect("json");
    let rid = robots[0]["id"].as_i64().expect("robot id");
    // Members of a private project and of no project: one answer.
    for creds in [None, Some(("outsider", PW))] {
        let private = answer("/projects/teamb/members".into(), creds).await;
        let unknown = answer("/projects/nosuch/members".into(), creds).await;
        assert_eq!(private, unknown, "{creds:?}");
        assert!(!unknown.1.contains("nosuch"), "{}", unknown.1);
    }
    // Whether a name is taken is for signed-in callers.
    for name in ["teamb", "nosuch"] {
        let r = http()
            .head(b.url(&format!("/api/v2.0/projects?project_name={name}")))
            .send()
            .await
            .expect("head");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    let existing = answer(format!("/robots/{rid}"), Some(("outsider", PW))).await;
    let unknown = answer("/robots/987654".into(), Some(("outsider", PW))).await;
    assert_eq!(existing.0, StatusCode::FORBIDDEN);
    assert_eq!(existing, unknown);
    assert!(!existing.1.contains("teamb"), "{}", existing.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_cannot_be_used_against_the_victim() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    user(dir, "dev");
    let b = start(dir, &[]);
    let token_from = |ip: &'static str, u: &'static str, p: &'static str| {
        let url = b.url("/v2/token?service=berth");
        async move {
            http_from(ip)
                .get(url)
                .basic_auth(u, Some(p))
                .send()
                .await
                .expect("token")
                .status()
        }
    };
    // A stranger at 127.0.0.2 hammers admin with wrong passwords...
    let mut locked = false;
    for _ in 0..15 {
        if token_from("127.0.0.2", "admin", "wrong-password").await == StatusCode::TOO_MANY_REQUESTS
        {
            locked = true;
        }
    }
    assert!(locked, "the stranger is throttled");
    // ...and admin logs in from its own address all the same.
    assert_eq!(
        token_from("127.0.0.1", "admin", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
    // A caller with a cached-valid credential is not blocked, even from the
    // address that is locked out for its name.
    assert_eq!(token_from("127.0.0.3", "dev", PW).await, StatusCode::OK);
    for _ in 0..15 {
        token_from("127.0.0.3", "dev", "wrong-password").await;
    }
    assert_eq!(
        token_from("127.0.0.3", "dev", "another-wrong").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(token_from("127.0.0.3", "dev", PW).await, StatusCode::OK);
    // The old_password check of a password change is throttled too.
    let id = user_id(&b, "dev").await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = http_from("127.0.0.4")
            .put(b.url(&format!("/api/v2.0/users/{id}/password")))
            .basic_auth("dev", Some(PW))
            .json(&json!({"old_password": "not-it-at-all", "new_password": "new-password-1"}))
            .send()
            .await
            .expect("passwd");
        statuses.push(r.status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Failed logins through /api/v2.0 are audited like those on /v2.
    let r = http()
        .get(b.url("/api/v2.0/users/current"))
        .basic_auth("dev", Some("wrong-for-the-api"))
        .send()
        .await
        .expect("current");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v: Value = api(&b, reqwest::Method::GET, "/audit-logs?page_size=100")
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let text = v.to_string();
    assert!(text.contains("/api/v2.0"), "no API login failure in {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_safety() {
    let tmp = tempfile::tempdir().expect("tmp");
    let b = start(tmp.path(), &[]);
    // The last system administrator cannot be demoted.
    let admin = user_id(&b, "admin").await;
    let r = api(
        &b,
        reqwest::Method::PUT,
        &format!("/users/{admin}/sysadmin"),
    )
    .json(&json!({"sysadmin_flag": false}))
    .send()
    .await
    .expect("demote");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("last system administrator"));
    // Reserved names.
    for name in ["anonymous", "robot$team+x", "system"] {
        let r = api(&b, reqwest::Method::POST, "/users")
            .json(&json!({"username": name, "password": "long-enough-password", "email": ""}))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name}");
    }
    // A token request for a project that does not exist creates nothing.
    let t = bearer_token(
        &b,
        ("admin", ADMIN_PASSWORD),
        "repository:newproj/app:pull,push",
    )
    .await;
    assert!(!t.is_empty());
    let r = api(&b, reqwest::Method::GET, "/projects/newproj")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // ...while the push itself may (a system administrator's).
    assert_eq!(
        push(&b, "newproj/app", "1", &Auth::Bearer(&t)).await,
        StatusCode::CREATED
    );
    // BERTH_ADMIN_PASSWORD obeys the password policy.
    let fresh = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(support::berth_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(fresh.path())
        .env("BERTH_ADMIN_PASSWORD", "short")
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BERTH_ADMIN_PASSWORD"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn realm_and_headers() {
    let tmp = tempfile::tempdir().expect("tmp");
    berth_ok(tmp.path(), &["project", "create", "team"], &[]);
    let b = start(tmp.path(), &[]);
    // The realm comes from the authority the client used.
    let r = http()
        .get(b.url("/v2/"))
        .header("host", "registry.example.com:5000")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        challenge.contains("realm=\"http://registry.example.com:5000/v2/token\""),
        "{challenge}"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // Without a Host (HTTP/1.0), never localhost: the listen address.
    let mut s = TcpStream::connect(&b.addr).expect("connect");
    s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n").expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(
        text.contains(&format!("realm=\"http://{}/v2/token\"", b.addr)),
        "{text}"
    );
    assert!(!text.contains("localhost"), "{text}");
    // Over HTTP/2 the realm comes from `:authority` (curl with prior
    // knowledge sends no Host header).
    let port = b.addr.rsplit(':').next().expect("port").to_owned();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--http2-prior-knowledge",
            "--connect-to",
            &format!("registry.example:{port}:127.0.0.1:{port}"),
            &format!("http://registry.example:{port}/v2/"),
        ])
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/2 401"), "{head}");
    assert!(
        head.contains(&format!(
            "realm=\"http://registry.example:{port}/v2/token\""
        )),
        "{head}"
    );
    // Management API answers are never cached.
    let r = http()
        .get(b.url("/api/v2.0/systeminfo"))
        .send()
        .await
        .expect("info");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // Blobs of private projects are for private caches only.
    assert_eq!(
        push(&b, "team/app", "1", &Auth::Basic("admin", ADMIN_PASSWORD)).await,
        StatusCode::CREATED
    );
    let digest = sha256(br#"{"tag":"1"}"#);
    let r = http()
        .get(b.url(&format!("/v2/team/app/blobs/{digest}")))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    let cc = r.headers()["cache-control"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(cc.starts_with("private"), "{cc}");
    // An operator behind a proxy sets auth.realm.
    let tmp2 = tempfile::tempdir().expect("tmp");
    let config = tmp2.path().join("berth.toml");
    std::fs::write(
        &config,
        "[auth]\nrealm = \"https://registry.corp/v2/token\"\n",
    )
    .expect("cfg");
    let b2 = start(tmp2.path(), &["--config", config.to_str().expect("utf8")]);
    let r = http().get(b2.url("/v2/")).send().await.expect("get");
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        challenge.contains("realm=\"https://registry.corp/v2/token\""),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_repository_mounts_work_under_token_auth() {
    let tmp = tempfile::tempdir().expect("tmp");
    berth_ok(tmp.path(), &["project", "create", "team"], &[]);
    let b = start(tmp.path(), &[]);
    let layer = vec![7u8; 512 * 1024];
    let digest = sha256(&layer);
    let r = http()
        .post(b.url(&format!("/v2/team/a/blobs/uploads/?digest={digest}")))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("content-type", "application/octet-stream")
        .body(layer.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    // The challenge of a mount names the source's pull scope as well.
    let mount = format!("/v2/team/b/blobs/uploads/?mount={digest}&from=team/a");
    let r = http().post(b.url(&mount)).send().await.expect("mount");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        challenge.contains("scope=\"repository:team/b:pull,push repository:team/a:pull\""),
        "{challenge}"
    );
    // A token for exactly what the challenge named mounts: 201, no upload.
    let (s, v) = {
        let r = http()
            .get(b.url("/v2/token"))
            .query(&[
                ("service", "berth"),
                ("scope", "repository:team/b:pull,push"),
                ("scope", "repository:team/a:pull"),
            ])
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("token");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(s, StatusCode::OK);
    let t = v["token"].as_str().expect("token");
    let r = http()
        .post(b.url(&mount))
        .bearer_auth(t)
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), StatusCode::CREATED, "mounted");
    // Without pull on the source: a plain upload session, never the blob.
    let t = bearer_token(&b, ("admin", ADMIN_PASSWORD), "repository:team/c:pull,push").await;
    let r = http()
        .post(b.url(&format!(
            "/v2/team/c/blobs/uploads/?mount={digest}&from=team/a"
        )))
        .bearer_auth(&t)
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth2_errors_as_rfc_6749_says() {
    let tmp = tempfile::tempdir().expect("tmp");
    let b = start(tmp.path(), &[]);
    let (s, v) = post_token(&b, &[("grant_type", "client_credentials")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "unsupported_grant_type");
    let (s, v) = post_token(&b, &[("grant_type", "password"), ("username", "admin")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_request");
    let (s, v) = post_token(
        &b,
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "wrong-one"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
    let (s, v) = post_token(
        &b,
        &[("grant_type", "refresh_token"), ("refresh_token", "x.y.z")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
    let (s, v) = post_token(&b, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_request");
    let r = http()
        .get(b.url("/v2/token?service=berth"))
        .basic_auth("admin", Some("wrong-one"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["errors"][0]["code"], "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_allow_lists_survive_other_project_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    berth_ok(
        dir,
        &[
            "project",
            "set",
            "team",
            "--pull-cidr",
            "10.0.0.0/8",
            "--push-cidr",
            "10.1.0.0/16",
        ],
        &[],
    );
    // Changing the visibility, or one list, keeps the other settings.
    berth_ok(dir, &["project", "set", "team", "--public", "true"], &[]);
    berth_ok(
        dir,
        &["project", "set", "team", "--push-cidr", "10.2.0.0/16"],
        &[],
    );
    let list = berth_ok(dir, &["project", "list"], &[]);
    let line = list
        .lines()
        .find(|l| l.contains("team"))
        .expect("team line");
    assert!(line.contains("10.0.0.0/8"), "{line}");
    assert!(
        line.contains("10.2.0.0/16") && !line.contains("10.1.0.0/16"),
        "{line}"
    );
    // The public project still refuses pulls from outside its pull list.
    let b = start(dir, &[]);
    assert_eq!(
        push(&b, "team/app", "1", &Auth::Basic("admin", ADMIN_PASSWORD)).await,
        StatusCode::FORBIDDEN,
        "127.0.0.1 is outside the push list"
    );
    let (s, v) = token(&b, None, "repository:team/app:pull").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["scope"], "",
        "anonymous pull from outside the pull list: {v}"
    );
    // `any` clears a list.
    berth_ok(
        dir,
        &[
            "project",
            "set",
            "team",
            "--pull-cidr",
            "any",
            "--push-cidr",
            "any",
        ],
        &[],
    );
    let list = berth_ok(dir, &["project", "list"], &[]);
    let line = list
        .lines()
        .find(|l| l.contains("team"))
        .expect("team line");
    assert!(!line.contains("10."), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_logins_on_v2_are_audited() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("berth.toml");
    std::fs::write(&config, "[auth]\nlogin_failures_per_user = 2\n").expect("config");
    let b = start(tmp.path(), &["--config", config.to_str().expect("utf8")]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = http_from("127.0.0.2")
            .get(b.url("/v2/"))
            .basic_auth("admin", Some("wrong-password"))
            .send()
            .await
            .expect("get");
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let v: Value = r.json().await.expect("json");
            let msg = v["errors"][0]["message"].as_str().unwrap_or("").to_owned();
            assert!(
                msg.contains("admin") && msg.contains("try again in"),
                "{msg}"
            );
        }
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v: Value = api(&b, reqwest::Method::GET, "/audit-logs?page_size=100")
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert!(
        v.to_string().contains("throttled"),
        "no throttled login in {v}"
    );
}
