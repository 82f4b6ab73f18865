//! Access control end to end: the real binary in `auth.mode = token`, real
//! clients (skopeo, reqwest speaking the Docker token protocol), accounts made
//! with the `berth user|project|robot` CLI.

mod support;

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use support::{berth_ok, images, skopeo, Berth, ADMIN_PASSWORD};

const PW: &str = "password-123";

/// A data dir with project `team` (private) holding one member per role,
/// project `other` (private, nobody), project `pub` (public), and user `outsider`.
fn accounts(dir: &Path) {
    berth_ok(dir, &["project", "create", "team"], &[]);
    berth_ok(dir, &["project", "create", "other"], &[]);
    berth_ok(dir, &["project", "create", "pub", "--public"], &[]);
    for (user, role) in [
        ("padmin", "projectAdmin"),
        ("maint", "maintainer"),
        ("dev", "developer"),
        ("guest", "guest"),
        ("lguest", "limitedGuest"),
    ] {
        berth_ok(dir, &["user", "add", user], &[("BERTH_NEW_PASSWORD", PW)]);
        berth_ok(dir, &["project", "member", "team", user, role], &[]);
    }
    berth_ok(
        dir,
        &["user", "add", "outsider"],
        &[("BERTH_NEW_PASSWORD", PW)],
    );
}

fn start(dir: &Path, extra: &[&str]) -> Berth {
    let mut args = vec!["--auth-mode", "token"];
    args.extend_from_slice(extra);
    Berth::start_with(dir, &args)
}

fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
    creds: Option<(String, String)>,
}

impl Client {
    fn new(b: &Berth, creds: Option<(&str, &str)>) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: b.url(""),
            creds: creds.map(|(u, p)| (u.to_owned(), p.to_owned())),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.base, path));
        match &self.creds {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// Pushes `{}` as a config blob and a manifest with `note` as annotation
    /// under `tag`; returns the manifest digest.
    async fn push_manifest(&self, repo: &str, tag: &str, note: &str) -> (StatusCode, String) {
        let config = b"{}";
        let cd = sha256(config);
        let r = self
            .req(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={cd}"),
            )
            .header("content-type", "application/octet-stream")
            .body(config.to_vec())
            .send()
            .await
            .expect("blob");
        if r.status() != StatusCode::CREATED {
            return (r.status(), r.text().await.unwrap_or_default());
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": 2},
            "layers": [],
            "annotations": {"note": note}
        })
        .to_string();
        let r = self
            .req(reqwest::Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .expect("manifest");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if status == StatusCode::CREATED {
            (status, sha256(manifest.as_bytes()))
        } else {
            (status, text)
        }
    }
}

fn code_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_role_and_action_on_own_and_foreign_projects() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let b = start(tmp.path(), &[]);
    let admin = Client::new(&b, Some(("admin", ADMIN_PASSWORD)));
    for project in ["team", "other"] {
        let (s, _) = admin
            .push_manifest(&format!("{project}/app"), "v1", "base")
            .await;
        assert_eq!(s, StatusCode::CREATED, "admin seeds {project}/app");
    }
    // (who, pull, push, delete, list tags, sees in catalog) on `team`; nobody
    // but the system admin may do anything on `other`.
    let table: &[(&str, bool, bool, bool, bool)] = &[
        ("admin", true, true, true, true),
        ("padmin", true, true, true, true),
        ("maint", true, true, true, true),
        ("dev", true, true, false, true),
        ("guest", true, false, false, true),
        ("lguest", true, false, false, false),
        ("outsider", false, false, false, false),
        ("anonymous", false, false, false, false),
    ];
    for &(who, pull, push, delete, list) in table {
        let c = if who == "anonymous" {
            Client::new(&b, None)
        } else if who == "admin" {
            Client::new(&b, Some(("admin", ADMIN_PASSWORD)))
        } else {
            Client::new(&b, Some((who, PW)))
        };
        let denied = if who == "anonymous" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        for project in ["team", "other"] {
            let own = project == "team" || who == "admin";
            let expect = |allowed: bool, ok: StatusCode| if allowed && own { ok } else { denied };
            let repo = format!("{project}/app");
            let ctx = format!("{who} on {project}");
            // pull
            let r = c
                .req(reqwest::Method::GET, &format!("/v2/{repo}/manifests/v1"))
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .await
                .expect("pull");
            assert_eq!(r.status(), expect(pull, StatusCode::OK), "pull: {ctx}");
            if r.status() == StatusCode::FORBIDDEN {
                let body = r.text().await.unwrap_or_default();
                assert_eq!(code_of(&body), "DENIED", "{ctx}: {body}");
                assert!(
                    body.contains("requested access to the resource is denied"),
                    "{body}"
                );
            } else if r.status() == StatusCode::UNAUTHORIZED {
                let challenge = r.headers()["www-authenticate"]
                    .to_str()
                    .expect("ascii")
                    .to_owned();
                assert!(challenge.starts_with("Bearer realm=\""), "{challenge}");
                assert!(
                    challenge.contains(&format!("scope=\"repository:{repo}:pull\"")),
                    "{challenge}"
                );
            }
            // push
            let (s, body) = c.push_manifest(&repo, &format!("by-{who}"), who).await;
            assert_eq!(s, expect(push, StatusCode::CREATED), "push: {ctx}: {body}");
            // list tags
            let r = c
                .req(reqwest::Method::GET, &format!("/v2/{repo}/tags/list"))
                .send()
                .await
                .expect("tags");
            assert_eq!(r.status(), expect(list, StatusCode::OK), "list tags: {ctx}");
            // delete (a tag the admin pushed for this caller)
            let tag = format!("del-{who}");
            let (s, _) = admin
                .push_manifest(&repo, &tag, &format!("del {who}"))
                .await;
            assert_eq!(s, StatusCode::CREATED);
            let r = c
                .req(
                    reqwest::Method::DELETE,
                    &format!("/v2/{repo}/manifests/{tag}"),
                )
                .send()
                .await
                .expect("delete");
            assert_eq!(
                r.status(),
                expect(delete, StatusCode::ACCEPTED),
                "delete: {ctx}"
            );
            if r.status() == StatusCode::UNAUTHORIZED {
                let challenge = r.headers()["www-authenticate"]
                    .to_str()
                    .expect("ascii")
                    .to_owned();
                assert!(
                    challenge.contains(&format!("scope=\"repository:{repo}:delete\"")),
                    "{challenge}"
                );
            }
        }
        // catalog: only what the caller may pull and list
        let r = c
            .req(reqwest::Method::GET, "/v2/_catalog")
            .send()
            .await
            .expect("catalog");
        if who == "anonymous" {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            let challenge = r.headers()["www-authenticate"]
                .to_str()
                .expect("ascii")
                .to_owned();
            assert!(
                challenge.contains("scope=\"registry:catalog:*\""),
                "{challenge}"
            );
            continue;
        }
        assert_eq!(r.status(), StatusCode::OK, "catalog: {who}");
        let v: Value = r.json().await.expect("json");
        let repos: Vec<&str> = v["repositories"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let expected: Vec<&str> = match who {
            "admin" => vec!["other/app", "team/app"],
            _ if list => vec!["team/app"],
            _ => vec![],
        };
        assert_eq!(repos, expected, "catalog seen by {who}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_login_push_pull_by_role_and_anonymous_on_public_and_private() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let b = start(tmp.path(), &[]);
    let host = b.addr.clone();
    let authfile = tmp.path().join("auth.json");
    let auth = authfile.to_str().expect("utf8");
    let src = format!("oci:{}:latest", images().join("busybox").display());
    let login = |user: &str, pw: &str| {
        skopeo(&[
            "login",
            "--tls-verify=false",
            "--authfile",
            auth,
            "-u",
            user,
            "-p",
            pw,
            &host,
        ]);
    };
    // Wrong password: login fails.
    let out = std::process::Command::new("skopeo")
        .args([
            "login",
            "--tls-verify=false",
            "--authfile",
            auth,
            "-u",
            "dev",
            "-p",
            "wrong-password",
            &host,
        ])
        .output()
        .expect("skopeo");
    assert!(
        !out.status.success(),
        "login with a wrong password must fail"
    );

    // A developer logs in, pushes and pulls.
    login("dev", PW);
    let dest = format!("docker://{host}/team/app:v1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        auth,
        &src,
        &dest,
    ]);
    let pulled = tmp.path().join("pulled");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--authfile",
        auth,
        &dest,
        &format!("oci:{}:v1", pulled.display()),
    ]);
    // A guest pulls but cannot push: DENIED.
    login("guest", PW);
    skopeo(&["inspect", "--tls-verify=false", "--authfile", auth, &dest]);
    let out = std::process::Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--authfile",
            auth,
            &src,
            &format!("docker://{host}/team/app:guest"),
        ])
        .output()
        .expect("skopeo");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("denied") || err.contains("403"),
        "guest push must be denied: {err}"
    );
    // The developer pushes into the public project too.
    login("admin", ADMIN_PASSWORD);
    let public = format!("docker://{host}/pub/app:v1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--authfile",
        auth,
        &src,
        &public,
    ]);
    // Anonymous: the public project pulls, the private one is refused with a challenge.
    skopeo(&["inspect", "--tls-verify=false", "--no-creds", &public]);
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--no-creds", &dest])
        .output()
        .expect("skopeo");
    assert!(!out.status.success(), "anonymous pull of a private project");
    let r = reqwest::get(b.url("/v2/team/app/manifests/v1"))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{host}/v2/token\",service=\"berth\",scope=\"repository:team/app:pull\""
        )
    );
    assert_eq!(code_of(&r.text().await.expect("body")), "UNAUTHORIZED");
}

async fn token(b: &Berth, creds: Option<(&str, &str)>, query: &str) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new().get(b.url(&format!("/v2/token?{query}")));
    if let Some((u, p)) = creds {
        r = r.basic_auth(u, Some(p));
    }
    let r = r.send().await.expect("token");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("jwt");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("claims")
}

async fn get_with(b: &Berth, path: &str, bearer: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(b.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("get")
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_carry_the_intersection_and_are_checked() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let b = start(tmp.path(), &[]);
    let admin = Client::new(&b, Some(("admin", ADMIN_PASSWORD)));
    assert_eq!(
        admin.push_manifest("team/app", "v1", "x").await.0,
        StatusCode::CREATED
    );

    // Scope intersection: dev asks for pull,push,delete on team/app and pull on other/x.
    let (s, v) = token(
        &b,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/app:pull,push,delete&scope=repository:other/x:pull",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for key in ["token", "access_token", "expires_in", "issued_at"] {
        assert!(!v[key].is_null(), "{key} in {v}");
    }
    let t = v["token"].as_str().expect("token").to_owned();
    let c = claims(&t);
    assert_eq!(c["sub"], "dev");
    assert_eq!(c["aud"], "berth");
    assert_eq!(
        c["access"],
        serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}])
    );
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &t).await.status(),
        StatusCode::OK
    );
    // The token does not hold delete, and dev may not delete: 403.
    let r = reqwest::Client::new()
        .delete(b.url("/v2/team/app/manifests/v1"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The token lacks pull on other/app: 401 insufficient_scope... but dev may
    // not pull it either: 403.
    assert_eq!(
        get_with(&b, "/v2/other/app/manifests/v1", &t)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A token for one repository used on another the subject may pull: 401 with
    // insufficient_scope, so the client fetches a new token.
    let (_, v) = token(
        &b,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/other:pull",
    )
    .await;
    let narrow = v["token"].as_str().expect("token").to_owned();
    let r = get_with(&b, "/v2/team/app/manifests/v1", &narrow).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"repository:team/app:pull\""),
        "{challenge}"
    );

    // Tampered signature and tampered claims.
    let mut bad = t.clone();
    let last = bad.pop().expect("char");
    bad.push(if last == 'A' { 'B' } else { 'A' });
    let r = get_with(&b, "/v2/team/app/manifests/v1", &bad).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .contains("invalid_token"));
    let parts: Vec<&str> = t.split('.').collect();
    let forged = {
        use base64::Engine;
        let mut c = claims(&t);
        c["sub"] = "admin".into();
        c["access"][0]["actions"] = serde_json::json!(["pull", "push", "delete"]);
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        format!("{}.{}.{}", parts[0], p, parts[2])
    };
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &forged)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Wrong service: the token endpoint refuses; a token of another berth
    // (another key, same service name) is refused.
    let (s, _) = token(
        &b,
        Some(("dev", PW)),
        "service=elsewhere&scope=repository:team/app:pull",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let tmp2 = tempfile::tempdir().expect("tmp2");
    accounts(tmp2.path());
    let b2 = start(tmp2.path(), &[]);
    let (_, v2) = token(
        &b2,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/app:pull",
    )
    .await;
    let foreign = v2["token"].as_str().expect("token").to_owned();
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &foreign)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Bad credentials at the token endpoint: 401.
    let (s, _) = token(&b, Some(("dev", "wrong-password")), "service=berth").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Anonymous token: nothing on private projects.
    let (s, v) = token(&b, None, "service=berth&scope=repository:team/app:pull").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        claims(v["token"].as_str().expect("t"))["access"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_expire() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let config = tmp.path().join("berth.toml");
    std::fs::write(&config, "[auth]\ntoken_ttl_secs = 1\n").expect("config");
    let b = start(tmp.path(), &["--config", config.to_str().expect("utf8")]);
    let admin = Client::new(&b, Some(("admin", ADMIN_PASSWORD)));
    assert_eq!(
        admin.push_manifest("team/app", "v1", "x").await.0,
        StatusCode::CREATED
    );
    let (_, v) = token(
        &b,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/app:pull",
    )
    .await;
    let t = v["token"].as_str().expect("token").to_owned();
    assert_eq!(v["expires_in"], 1);
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &t).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = get_with(&b, "/v2/team/app/manifests/v1", &t).await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "an expired token is refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth2_post_issues_and_refreshes_tokens() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let b = start(tmp.path(), &[]);
    let http = reqwest::Client::new();
    let post = |form: Vec<(&'static str, String)>| http.post(b.url("/v2/token")).form(&form).send();
    let r = post(vec![
        ("grant_type", "password".into()),
        ("username", "dev".into()),
        ("password", PW.into()),
        ("service", "berth".into()),
        (
            "scope",
            "repository:team/app:pull,push repository:other/app:pull".into(),
        ),
        ("client_id", "test".into()),
        ("access_type", "offline".into()),
    ])
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    let refresh = v["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert_eq!(
        claims(v["access_token"].as_str().expect("at"))["access"][0]["name"],
        "team/app"
    );
    // The refresh token is not an access token.
    assert_eq!(
        get_with(&b, "/v2/", &refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh.clone()),
        ("service", "berth".into()),
        ("scope", "repository:team/app:pull".into()),
    ])
    .await
    .expect("refresh");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("json");
    let at = v["access_token"].as_str().expect("at");
    assert_eq!(claims(at)["sub"], "dev");
    assert_eq!(get_with(&b, "/v2/", at).await.status(), StatusCode::OK);
    // A password change invalidates refresh tokens issued before it.
    berth_ok(
        tmp.path(),
        &["user", "passwd", "dev"],
        &[("BERTH_NEW_PASSWORD", "another-password")],
    );
    let r = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh),
        ("service", "berth".into()),
    ])
    .await
    .expect("refresh");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    // Unknown grant types are refused.
    let r = post(vec![("grant_type", "client_credentials".into())])
        .await
        .expect("post");
    assert!(r.status().is_client_error());
}

#[tokio::test(flavor = "multi_thread")]
async fn robot_accounts_push_from_ci_and_expired_or_disabled_ones_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let secret_of = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("secret: "))
            .expect("secret line")
            .to_owned()
    };
    let ci = berth_ok(
        tmp.path(),
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
    assert!(ci.contains("name: robot$team+ci"), "{ci}");
    let ci_secret = secret_of(&ci);
    let old = berth_ok(
        tmp.path(),
        &[
            "robot",
            "create",
            "old",
            "--project",
            "team",
            "--actions",
            "pull",
            "--expires-days=-1",
        ],
        &[],
    );
    let old_secret = secret_of(&old);
    let off = berth_ok(
        tmp.path(),
        &[
            "robot",
            "create",
            "off",
            "--project",
            "team",
            "--actions",
            "pull,push",
        ],
        &[],
    );
    let off_secret = secret_of(&off);
    berth_ok(tmp.path(), &["robot", "disable", "robot$team+off"], &[]);
    let b = start(tmp.path(), &[]);
    let host = b.addr.clone();
    let src = format!("oci:{}:latest", images().join("busybox").display());
    // The "CI job": push with the robot's credentials.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("robot$team+ci:{ci_secret}"),
        &src,
        &format!("docker://{host}/team/app:ci-1"),
    ]);
    // The robot stays inside its project.
    let out = std::process::Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("robot$team+ci:{ci_secret}"),
            &src,
            &format!("docker://{host}/other/app:ci-1"),
        ])
        .output()
        .expect("skopeo");
    assert!(
        !out.status.success(),
        "a project robot cannot push elsewhere"
    );
    // Expired and disabled robots cannot log in.
    for (name, secret) in [
        ("robot$team+old", old_secret),
        ("robot$team+off", off_secret),
    ] {
        let (s, _) = token(
            &b,
            Some((name, &secret)),
            "service=berth&scope=repository:team/app:pull",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}");
        let r = reqwest::Client::new()
            .get(b.url("/v2/team/app/manifests/ci-1"))
            .basic_auth(name, Some(&secret))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name} with Basic");
    }
    // A personal access token works as a password; revoked, it does not.
    let pat = berth_ok(tmp.path(), &["token", "create", "dev", "laptop"], &[])
        .trim()
        .to_owned();
    assert!(pat.starts_with("berth_pat_"), "{pat}");
    let (s, _) = token(&b, Some(("dev", &pat)), "service=berth").await;
    assert_eq!(s, StatusCode::OK);
    berth_ok(tmp.path(), &["token", "revoke", "dev", "laptop"], &[]);
    // Revocation from another process reaches the server when its credential
    // cache entry expires; a fresh server sees it at once.
    drop(b);
    let b = start(tmp.path(), &[]);
    let (s, _) = token(&b, Some(("dev", &pat)), "service=berth").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let config = tmp.path().join("berth.toml");
    std::fs::write(&config, "[auth]\nlogin_failures_per_user = 3\n").expect("config");
    let b = start(tmp.path(), &["--config", config.to_str().expect("utf8")]);
    // User names are lowercase: however the name is typed, the failures
    // count for the one user.
    for typed in ["dev", "DEV", "Dev"] {
        let (s, _) = token(&b, Some((typed, "wrong-password")), "service=berth").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Locked out, even with the right password, in any case.
    for typed in ["dev", "dEv"] {
        let (s, _) = token(&b, Some((typed, PW)), "service=berth").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{typed}");
    }
    // Other users are not.
    let (s, _) = token(&b, Some(("guest", PW)), "service=berth").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_allow_lists_apply_to_token_issue_and_every_request() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let b = start(tmp.path(), &[]);
    let admin = Client::new(&b, Some(("admin", ADMIN_PASSWORD)));
    assert_eq!(
        admin.push_manifest("team/app", "v1", "x").await.0,
        StatusCode::CREATED
    );
    let (_, v) = token(
        &b,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/app:pull,push",
    )
    .await;
    let t = v["token"].as_str().expect("token").to_owned();
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &t).await.status(),
        StatusCode::OK
    );
    // Only 10.0.0.0/8 may pull from now on (the test client is 127.0.0.1).
    berth_ok(
        tmp.path(),
        &["project", "set", "team", "--pull-cidr", "10.0.0.0/8"],
        &[],
    );
    drop(b);
    let b = start(tmp.path(), &[]);
    // The token issued before still carries pull, but the request is refused.
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &t).await.status(),
        StatusCode::FORBIDDEN
    );
    // A new token no longer gets pull; push is still allowed from here.
    let (_, v) = token(
        &b,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/app:pull,push",
    )
    .await;
    assert_eq!(
        claims(v["token"].as_str().expect("t"))["access"][0]["actions"],
        serde_json::json!(["push"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_names_the_actor_and_result_of_each_action() {
    let tmp = tempfile::tempdir().expect("tmp");
    accounts(tmp.path());
    let mut b = start(tmp.path(), &[]);
    // A failed and a successful login at the token endpoint, then a push with the token.
    let (s, _) = token(&b, Some(("dev", "wrong-password")), "service=berth").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let dev = Client::new(&b, Some(("dev", PW)));
    assert_eq!(
        dev.push_manifest("team/app", "v1", "dev").await.0,
        StatusCode::CREATED
    );
    let (s, v) = token(
        &b,
        Some(("dev", PW)),
        "service=berth&scope=repository:team/app:pull",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let t = v["token"].as_str().expect("token").to_owned();
    assert_eq!(
        get_with(&b, "/v2/team/app/manifests/v1", &t).await.status(),
        StatusCode::OK
    );
    // A guest's push is refused; a robot-less anonymous delete is refused.
    let guest = Client::new(&b, Some(("guest", PW)));
    let (s, _) = guest.push_manifest("team/app", "g1", "guest").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let r = reqwest::Client::new()
        .put(b.url("/v2/team/app/manifests/g2"))
        .basic_auth("guest", Some(PW))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body("{}")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(b.terminate(), "graceful stop flushes the audit writer");
    let out = berth_ok(tmp.path(), &["audit", "export"], &[]);
    let entries: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let find = |action: &str, actor: &str, result: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["actor"] == actor && e["result"] == result)
            .count()
    };
    assert_eq!(find("login", "dev", "failure"), 1, "{out}");
    assert_eq!(find("login", "dev", "success"), 1, "{out}");
    assert_eq!(find("token_issue", "dev", "success"), 1, "{out}");
    assert_eq!(find("push", "dev", "success"), 1, "{out}");
    assert_eq!(find("pull", "dev", "success"), 1, "{out}");
    // The first attempt stopped at its blob upload (uploads are not audited); the
    // manifest PUT is.
    assert_eq!(find("push", "guest", "failure"), 1, "{out}");
    let push = entries
        .iter()
        .find(|e| e["action"] == "push" && e["actor"] == "dev")
        .expect("push entry");
    assert_eq!(push["repository"], "team/app");
    assert_eq!(push["reference"], "v1");
    assert_eq!(push["source_ip"], "127.0.0.1");
    assert_eq!(push["actor_kind"], "user");
    let (code, out, _) = support::berth_cli(tmp.path(), &["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}");
    drop(b);
}
