//! The web UI's sign-in (docs/ui.md): the session cookie's attributes, CSRF
//! protection of every change made with it, sign-out, the end of a session
//! when its password changes, refused sign-ins, and the pages' headers.

mod common;

use berth_registry::auth::AuthMode;
use common::*;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

const ADMIN: (&str, &str) = ("admin", "admin-password");

/// A server with token authentication and the UI on.
struct Server {
    base: String,
    client: Client,
    task: tokio::task::JoinHandle<()>,
    _reg: TestRegistry,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(ui_enabled: bool) -> Server {
        let reg = TestRegistry::start().await;
        let (mut state, _) = state_with_accounts(&reg, AuthMode::Token, ADMIN.1).await;
        state.ui.enabled = ui_enabled;
        let (base, task) = serve(state).await;
        Server {
            base,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            task,
            _reg: reg,
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    async fn sign_in(&self, user: &str, password: &str) -> Response {
        self.request(Method::POST, "/c/login")
            .json(&json!({"principal": user, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Signs in; returns (cookie header value, CSRF token).
    async fn session(&self, user: &str, password: &str) -> (String, String) {
        let r = self.sign_in(user, password).await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = set_cookie(&r);
        let body: Value = r.json().await.unwrap();
        let pair = cookie.split(';').next().unwrap().to_string();
        (pair, body["csrf_token"].as_str().unwrap().to_string())
    }

    async fn with_cookie(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut r = self
            .request(method, path)
            .header("cookie", format!("theme=dark; {cookie}"));
        if let Some(t) = csrf {
            r = r.header("x-berth-csrf-token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }
}

fn set_cookie(r: &Response) -> String {
    r.headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_string()
}

async fn message(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    (
        status,
        v["errors"][0]["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_session_cookie_and_answers_the_csrf_token() {
    let s = Server::start(true).await;
    let r = s.sign_in(ADMIN.0, ADMIN.1).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&r);
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(
        attrs[0].starts_with("berth_session=") && attrs[0].len() == 14 + 64,
        "{cookie}"
    );
    for a in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(attrs.contains(&a), "{a} missing from {cookie}");
    }
    assert!(
        !attrs.contains(&"Secure"),
        "no Secure over plain HTTP: {cookie}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["username"], "admin");
    assert_eq!(body["sysadmin"], true);
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(csrf.len(), 64);

    // Behind a TLS-terminating proxy the cookie is Secure.
    let r = s
        .request(Method::POST, "/c/login")
        .header("x-forwarded-proto", "https")
        .form(&[("principal", ADMIN.0), ("password", ADMIN.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookie(&r).split(';').any(|a| a.trim() == "Secure"));

    // The session speaks for the user in the management API.
    let pair = attrs[0];
    let r = s
        .with_cookie(Method::GET, "/c/session", pair, None, None)
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["username"], "admin");
    assert_eq!(v["csrf_token"], csrf.as_str());
    let r = s
        .with_cookie(Method::GET, "/api/v2.0/users/current", pair, None, None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "admin");
    // Without the cookie: not signed in.
    let r = s.request(Method::GET, "/c/session").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_change_made_with_the_cookie_needs_the_csrf_token() {
    let s = Server::start(true).await;
    let (cookie, csrf) = s.session(ADMIN.0, ADMIN.1).await;
    let project = |name: &str| Some(json!({"project_name": name, "metadata": {"public": "false"}}));
    let r = s
        .with_cookie(
            Method::POST,
            "/api/v2.0/projects",
            &cookie,
            None,
            project("a"),
        )
        .await;
    let (status, text) = message(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("CSRF"), "{text}");
    let r = s
        .with_cookie(
            Method::POST,
            "/api/v2.0/projects",
            &cookie,
            Some(&"0".repeat(64)),
            project("a"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .with_cookie(
            Method::POST,
            "/api/v2.0/projects",
            &cookie,
            Some(&csrf),
            project("a"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Nothing was created by the refused attempts, and the one change went
    // through under the user's name.
    let r = s
        .with_cookie(Method::GET, "/api/v2.0/projects/a", &cookie, None, None)
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["owner_name"], "admin");
    // Another session's token does not fit this one.
    let (_, other) = s.session(ADMIN.0, ADMIN.1).await;
    let r = s
        .with_cookie(
            Method::DELETE,
            "/api/v2.0/projects/a",
            &cookie,
            Some(&other),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // HTTP Basic needs no CSRF token (no ambient credential).
    let r = s
        .request(Method::POST, "/api/v2.0/projects")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&project("b").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // A forged cookie is no session.
    let forged = format!("berth_session={}", "ab".repeat(32));
    let r = s
        .with_cookie(Method::GET, "/api/v2.0/users/current", &forged, None, None)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .with_cookie(
            Method::DELETE,
            "/api/v2.0/projects/b",
            &forged,
            Some(&csrf),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_and_a_password_change_end_the_session() {
    let s = Server::start(true).await;
    let (cookie, csrf) = s.session(ADMIN.0, ADMIN.1).await;
    // Sign-out is a change too: refused without the token, session intact.
    let r = s
        .with_cookie(Method::POST, "/c/log_out", &cookie, None, None)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .with_cookie(Method::GET, "/c/session", &cookie, None, None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .with_cookie(Method::POST, "/c/log_out", &cookie, Some(&csrf), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(&r).contains("Max-Age=0"));
    for path in ["/c/session", "/api/v2.0/users/current"] {
        let r = s.with_cookie(Method::GET, path, &cookie, None, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    // A user's sessions end when their password changes.
    let r = s
        .request(Method::POST, "/api/v2.0/users")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(
            &json!({"username": "alice", "email": "a@example.com", "realname": "Alice",
                      "password": "Alice-Password-1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (cookie, csrf) = s.session("alice", "Alice-Password-1").await;
    let me: Value = s
        .with_cookie(Method::GET, "/api/v2.0/users/current", &cookie, None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    let r = s
        .with_cookie(
            Method::PUT,
            &format!("/api/v2.0/users/{}/password", me["user_id"]),
            &cookie,
            Some(&csrf),
            Some(json!({"old_password": "Alice-Password-1", "new_password": "Alice-Password-2"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .with_cookie(Method::GET, "/api/v2.0/users/current", &cookie, None, None)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.session("alice", "Alice-Password-2").await;
}

#[tokio::test]
async fn wrong_passwords_robots_and_other_origins_cannot_sign_in() {
    let s = Server::start(true).await;
    let (status, text) = message(s.sign_in(ADMIN.0, "wrong").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(text, "incorrect username or password");
    assert_eq!(
        s.sign_in("nobody", "x").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .request(Method::POST, "/c/login")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .request(Method::POST, "/c/login")
        .header("origin", "https://evil.example")
        .json(&json!({"principal": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
    // A robot's secret works for the registry, not for the UI.
    let r = s
        .request(Method::POST, "/api/v2.0/projects")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&json!({"project_name": "team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let robot: Value = s
        .request(Method::POST, "/api/v2.0/robots")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(
            &json!({"name": "ci", "level": "project", "duration": -1, "permissions": [
            {"kind": "project", "namespace": "team",
             "access": [{"resource": "repository", "action": "pull"}]}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = robot["name"].as_str().expect("robot name");
    let secret = robot["secret"].as_str().expect("robot secret");
    let (status, text) = message(s.sign_in(name, secret).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("robot"), "{text}");
}

#[tokio::test]
async fn the_pages_are_served_from_the_binary_under_a_strict_policy() {
    let s = Server::start(true).await;
    let r = s.request(Method::GET, "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let page = r.text().await.unwrap();
    assert!(page.contains("/ui/app.js"), "{page}");

    let r = s.request(Method::GET, "/ui/app.js").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = s
        .request(Method::GET, "/ui/app.js")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = s
        .request(Method::GET, "/ui/no-such.js")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // ui.enabled = false: no pages; the registry is untouched.
    let s = Server::start(false).await;
    let r = s.request(Method::GET, "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.request(Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
