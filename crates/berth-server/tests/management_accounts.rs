//! The write side of the management API under `/api/v2.0`: projects, members,
//! users, robots and the audit trail, with HTTP Basic authentication on; each
//! change is checked through Harbor's shapes, its refusals (401/403/404/409/
//! 400/412), its effect on `/v2` and its audit entry.

mod common;

use std::sync::Arc;

use berth_oci::{Algorithm, Digest};
use berth_registry::auth::AuthMode;
use berth_registry::{AuditAction, AuditConfig, AuditLog, Auth};
use common::*;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/v2.0";
const ADMIN: (&str, &str) = ("admin", "admin-password");

/// A server with HTTP Basic authentication and the audit trail on, over a
/// fresh data directory holding `seed/app:v1`.
struct Server {
    base: String,
    client: Client,
    auth: Arc<Auth>,
    audit: AuditLog,
    task: tokio::task::JoinHandle<()>,
    _reg: TestRegistry,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start() -> Server {
        let reg = TestRegistry::start().await;
        reg.push_image("seed/app", "v1", "seed").await;
        let (mut state, auth) = state_with_accounts(&reg, AuthMode::Basic, ADMIN.1).await;
        let audit = AuditLog::start(&state.registry, &AuditConfig::default());
        state.audit = audit.clone();
        // Garbage collection through the API without a grace period, so a test
        // sees an unreferenced blob go at once.
        state.gc.grace_period = std::time::Duration::ZERO;
        let (base, task) = serve(state).await;
        Server {
            base,
            client: Client::new(),
            auth,
            audit,
            task,
            _reg: reg,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        who: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> Response {
        let url = if path.starts_with("/v2") || path.starts_with(API) {
            format!("{}{path}", self.base)
        } else {
            format!("{}{API}{path}", self.base)
        };
        let mut r = self.client.request(method, url);
        if let Some((u, p)) = who {
            r = r.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// Pushes a one-layer image as `who`; returns the manifest PUT's status.
    async fn push(&self, who: (&str, &str), repo: &str, tag: &str) -> StatusCode {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"r\":\"{repo}\"}}");
        let layer = format!("layer of {repo}");
        let mut descs = Vec::new();
        for bytes in [config.as_bytes(), layer.as_bytes()] {
            let d = Digest::of(Algorithm::Sha256, bytes);
            let r = self
                .client
                .post(format!("{}/v2/{repo}/blobs/uploads/?digest={d}", self.base))
                .basic_auth(who.0, Some(who.1))
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .unwrap();
            if r.status() != StatusCode::CREATED {
                return r.status();
            }
            descs.push((d, bytes.len()));
        }
        let m = image_manifest(
            &descs[0].0,
            descs[0].1,
            &[(&descs[1].0, descs[1].1)],
            None,
            None,
        );
        self.client
            .put(format!("{}/v2/{repo}/manifests/{tag}", self.base))
            .basic_auth(who.0, Some(who.1))
            .header("content-type", OCI_MANIFEST)
            .body(m)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// `actor resource result` of each audit entry of `action`, newest first.
    async fn audit_lines(&self, action: AuditAction) -> Vec<String> {
        self.audit_of(action)
            .await
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["username"].as_str().unwrap(),
                    e["resource"].as_str().unwrap(),
                    e["result"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Audit entries (Harbor shape) of `action`, newest first.
    async fn audit_of(&self, action: AuditAction) -> Vec<Value> {
        self.audit.flush().await;
        let filter = berth_registry::audit::AuditFilter {
            actions: vec![action],
            ..Default::default()
        };
        let (rows, _) = self.audit.query(&filter, 1, 100).await.unwrap();
        rows.iter()
            .map(berth_registry::audit::harbor_json)
            .collect()
    }
}

async fn harbor_error(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.expect("error body is JSON");
    assert!(v["errors"][0]["message"].is_string(), "{v}");
    (
        status,
        v["errors"][0]["code"].as_str().expect("code").to_string(),
    )
}

fn err(status: StatusCode, code: &str) -> (StatusCode, String) {
    (status, code.to_string())
}

fn location(r: &Response) -> String {
    header(r, "location").expect("Location header")
}

#[tokio::test]
async fn projects_are_created_updated_and_deleted_by_administrators() {
    let s = Server::start().await;
    s.auth
        .create_user("bob", "bob-password", "", "", false)
        .await
        .unwrap();
    let bob = ("bob", "bob-password");
    let req = json!({"project_name": "team", "metadata": {"public": "false"}});
    // Anonymous 401, a plain user 403.
    let r = s
        .call(Method::POST, "/projects", None, Some(req.clone()))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let r = s
        .call(Method::POST, "/projects", Some(bob), Some(req.clone()))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    // The administrator creates it: 201 + Location with the id.
    let r = s
        .call(Method::POST, "/projects", Some(ADMIN), Some(req.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = s.auth.project_named("team").await.unwrap().id;
    assert_eq!(location(&r), format!("{API}/projects/{id}"));
    let r = s
        .call(Method::POST, "/projects", Some(ADMIN), Some(req))
        .await;
    assert_eq!(harbor_error(r).await, err(StatusCode::CONFLICT, "CONFLICT"));
    let r = s
        .call(
            Method::POST,
            "/projects",
            Some(ADMIN),
            Some(json!({"project_name": "Bad Name"})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    // Private: bob cannot read it; read back by the administrator.
    let r = s.call(Method::GET, "/projects/team", Some(bob), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let v: Value = s
        .call(Method::GET, "/projects/team", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["metadata"]["public"], "false");
    assert_eq!(v["project_id"], id);

    assert_eq!(s.push(ADMIN, "team/app", "v1").await, StatusCode::CREATED);
    // PUT by id: public, and a pull allow-list that excludes 127.0.0.1.
    let r = s
        .call(
            Method::PUT,
            "/projects/team",
            Some(bob),
            Some(json!({"metadata": {"public": "true"}})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(
            Method::PUT,
            &format!("/projects/{id}"),
            Some(ADMIN),
            Some(json!({"metadata": {"public": "true"}, "pull_cidrs": ["10.0.0.0/8"]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let p = s.auth.project_named("team").await.unwrap();
    assert!(p.public);
    assert_eq!(p.pull_cidrs, ["10.0.0.0/8"]);
    assert!(p.push_cidrs.is_empty());
    let r = s
        .call(
            Method::PUT,
            "/projects/team",
            Some(ADMIN),
            Some(json!({"pull_cidrs": ["not-a-cidr"]})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    let r = s
        .call(Method::PUT, "/projects/nope", Some(ADMIN), Some(json!({})))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    // The allow-list takes effect on /v2: bob (anyone, it is public) may not
    // pull from 127.0.0.1 until the administrator clears the list.
    let r = s
        .call(Method::GET, "/v2/team/app/manifests/v1", Some(bob), None)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.call(
        Method::PUT,
        "/projects/team",
        Some(ADMIN),
        Some(json!({"pull_cidrs": []})),
    )
    .await;
    let r = s
        .call(Method::GET, "/v2/team/app/manifests/v1", Some(bob), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // DELETE: 412 while it has repositories, then 200 once they are gone.
    let r = s
        .call(Method::DELETE, "/projects/team", Some(bob), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(Method::DELETE, "/projects/team", Some(ADMIN), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::PRECONDITION_FAILED, "PRECONDITION")
    );
    let r = s
        .call(
            Method::DELETE,
            "/projects/team/repositories/app",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .call(Method::DELETE, "/projects/team", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(s.auth.project("team").await.unwrap().is_none());
    let r = s
        .call(Method::DELETE, "/projects/team", Some(ADMIN), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );

    // The audit trail has each attempt, refused ones as failures.
    let created = s.audit_of(AuditAction::ProjectCreate).await;
    let outcomes: Vec<(&str, &str)> = created
        .iter()
        .map(|e| {
            (
                e["username"].as_str().unwrap(),
                e["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("admin", "failure"),
            ("admin", "failure"),
            ("admin", "success"),
            ("bob", "failure"),
            // An anonymous write is refused before its body is read and
            // before any handler runs (docs/security.md): no entry.
        ]
    );
    assert_eq!(created[2]["resource"], "team");
    assert_eq!(created[2]["operation"], "create");
    assert_eq!(created[2]["resource_type"], "project");
    assert_eq!(created[2]["source_ip"], "127.0.0.1");
    assert!(created[1]["detail"]
        .as_str()
        .unwrap()
        .contains("409 CONFLICT"));
    let updated = s.audit_of(AuditAction::ProjectUpdate).await;
    assert!(updated
        .iter()
        .any(|e| e["result"] == "success" && e["detail"].as_str().unwrap().contains("10.0.0.0/8")));
    let deleted = s.audit_of(AuditAction::ProjectDelete).await;
    assert_eq!(
        deleted.iter().filter(|e| e["result"] == "success").count(),
        1
    );
    assert!(deleted
        .iter()
        .any(|e| e["detail"].as_str().unwrap_or("").contains("412")));
}

#[tokio::test]
async fn project_admins_manage_members_who_then_push_with_their_role() {
    let s = Server::start().await;
    s.auth.create_project("team", false, None).await.unwrap();
    for u in ["alice", "bob", "carol"] {
        s.auth
            .create_user(u, &format!("{u}-password"), "", "", false)
            .await
            .unwrap();
    }
    let alice = ("alice", "alice-password");
    let bob = ("bob", "bob-password");
    let carol = ("carol", "carol-password");
    // The administrator makes alice project admin (by user id).
    let alice_id = s.auth.user("alice").await.unwrap().id;
    let r = s
        .call(
            Method::POST,
            "/projects/team/members",
            Some(ADMIN),
            Some(json!({"role_id": 1, "member_user": {"user_id": alice_id}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(location(&r).starts_with(&format!("{API}/projects/team/members/")));
    // Anonymous 401; bob (no member) 403; bob cannot push yet.
    let r = s
        .call(Method::GET, "/projects/team/members", None, None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let add_bob = json!({"role_id": 3, "member_user": {"username": "bob"}});
    let r = s
        .call(
            Method::POST,
            "/projects/team/members",
            Some(bob),
            Some(add_bob.clone()),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    assert_eq!(s.push(alice, "team/app", "v1").await, StatusCode::CREATED);
    let pull = "/v2/team/app/manifests/v1";
    assert_eq!(
        s.call(Method::GET, pull, Some(bob), None).await.status(),
        StatusCode::FORBIDDEN
    );
    // alice adds bob as guest: 201, Location, then 409 a second time.
    let r = s
        .call(
            Method::POST,
            "/projects/team/members",
            Some(alice),
            Some(add_bob.clone()),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = location(&r);
    let mid: i64 = loc.rsplit('/').next().unwrap().parse().unwrap();
    let r = s
        .call(
            Method::POST,
            "/projects/team/members",
            Some(alice),
            Some(add_bob),
        )
        .await;
    assert_eq!(harbor_error(r).await, err(StatusCode::CONFLICT, "CONFLICT"));
    for bad in [
        json!({"role_id": 9, "member_user": {"username": "carol"}}),
        json!({"role_id": 2}),
    ] {
        let r = s
            .call(
                Method::POST,
                "/projects/team/members",
                Some(alice),
                Some(bad),
            )
            .await;
        assert_eq!(
            harbor_error(r).await,
            err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
        );
    }
    let r = s
        .call(
            Method::POST,
            "/projects/team/members",
            Some(alice),
            Some(json!({"role_id": 2, "member_user": {"username": "nobody"}})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    // Harbor's shape.
    let r = s
        .call(
            Method::GET,
            &format!("/projects/team/members/{mid}"),
            Some(alice),
            None,
        )
        .await;
    let v: Value = r.json().await.unwrap();
    let team_id = s.auth.project_named("team").await.unwrap().id;
    assert_eq!(v["id"], mid);
    assert_eq!(v["project_id"], team_id);
    assert_eq!(v["entity_name"], "bob");
    assert_eq!(v["entity_type"], "u");
    assert_eq!(v["role_id"], 3);
    assert_eq!(v["role_name"], "guest");
    let r = s
        .call(Method::GET, "/projects/team/members", Some(alice), None)
        .await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("2"));
    let v: Value = r.json().await.unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entity_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    // A guest may pull but not push, and may not manage members.
    assert_eq!(
        s.call(Method::GET, pull, Some(bob), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(s.push(bob, "team/app", "v2").await, StatusCode::FORBIDDEN);
    let r = s
        .call(Method::GET, "/projects/team/members", Some(bob), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    // Developer, limited to app*: pushes app, not other.
    let r = s
        .call(
            Method::PUT,
            &format!("/projects/team/members/{mid}"),
            Some(alice),
            Some(json!({"role_id": 2, "repositories": ["app*"]})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.push(bob, "team/app", "v2").await, StatusCode::CREATED);
    assert_eq!(s.push(bob, "team/other", "v1").await, StatusCode::FORBIDDEN);
    let v: Value = s
        .call(
            Method::GET,
            &format!("/projects/team/members/{mid}"),
            Some(alice),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["role_name"].clone(), v["repositories"].clone()),
        (json!("developer"), json!(["app*"]))
    );
    let r = s
        .call(
            Method::PUT,
            &format!("/projects/team/members/{mid}"),
            Some(alice),
            Some(json!({"role_id": 0})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    // A membership of another project is 404 here.
    s.auth.create_project("other", false, None).await.unwrap();
    let r = s
        .call(
            Method::GET,
            &format!("/projects/other/members/{mid}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    // carol (no member) may not remove bob; alice may; bob loses access.
    let path = format!("/projects/team/members/{mid}");
    let r = s.call(Method::DELETE, &path, Some(carol), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s.call(Method::DELETE, &path, Some(alice), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.call(Method::GET, &path, Some(alice), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    assert_eq!(
        s.call(Method::GET, pull, Some(bob), None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.push(bob, "team/app", "v3").await, StatusCode::FORBIDDEN);

    let added = s.audit_of(AuditAction::MemberAdd).await;
    let ok: Vec<(&str, &str)> = added
        .iter()
        .filter(|e| e["result"] == "success")
        .map(|e| {
            (
                e["username"].as_str().unwrap(),
                e["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ok, [("alice", "team:bob"), ("admin", "team:alice")]);
    assert!(added
        .iter()
        .any(|e| e["username"] == "bob" && e["result"] == "failure"));
    let updated = s.audit_of(AuditAction::MemberUpdate).await;
    assert_eq!(updated[0]["result"], "failure");
    assert_eq!(updated[1]["result"], "success");
    assert!(updated[1]["detail"].as_str().unwrap().contains("developer"));
    let removed = s.audit_of(AuditAction::MemberRemove).await;
    assert_eq!(removed[0]["username"], "alice");
    assert_eq!(removed[0]["result"], "success");
    assert_eq!(removed[1]["username"], "carol");
    assert_eq!(removed[1]["result"], "failure");
}

#[tokio::test]
async fn administrators_manage_users_and_users_change_their_own_profile_and_password() {
    let s = Server::start().await;
    let new = json!({"username": "carol", "email": "c@example.com", "realname": "Carol", "password": "carol-password"});
    let r = s
        .call(Method::POST, "/users", None, Some(new.clone()))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let r = s
        .call(Method::POST, "/users", Some(ADMIN), Some(new.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let carol_id = s.auth.user("carol").await.unwrap().id;
    assert_eq!(location(&r), format!("{API}/users/{carol_id}"));
    let r = s.call(Method::POST, "/users", Some(ADMIN), Some(new)).await;
    assert_eq!(harbor_error(r).await, err(StatusCode::CONFLICT, "CONFLICT"));
    let weak = json!({"username": "dan", "password": "short"});
    let r = s
        .call(Method::POST, "/users", Some(ADMIN), Some(weak))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    s.auth
        .create_user("dave", "dave-password", "", "", false)
        .await
        .unwrap();
    let carol = ("carol", "carol-password");
    let dave = ("dave", "dave-password");
    let dave_id = s.auth.user("dave").await.unwrap().id;
    // Listing is for administrators; q filters by name.
    let r = s.call(Method::GET, "/users", Some(carol), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(
            Method::GET,
            "/users?q=username%3D~a&page_size=1",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("3"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let v: Value = s
        .call(Method::GET, "/users?q=username%3Dcarol", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v[0]["username"], "carol");
    assert_eq!(v[0]["email"], "c@example.com");
    assert_eq!(v[0]["realname"], "Carol");
    assert_eq!(v[0]["sysadmin_flag"], false);
    // One user: self or administrator.
    let me = format!("/users/{carol_id}");
    let r = s.call(Method::GET, &me, Some(carol), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.call(Method::GET, &me, Some(dave), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(Method::GET, "/users/999999", Some(ADMIN), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let r = s
        .call(
            Method::PUT,
            &me,
            Some(carol),
            Some(json!({"email": "carol@example.org"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let u = s.auth.user("carol").await.unwrap();
    assert_eq!(
        (u.email.as_str(), u.realname.as_str()),
        ("carol@example.org", "Carol")
    );
    // Own password: the old one is needed.
    let pw = format!("/users/{carol_id}/password");
    let r = s
        .call(
            Method::PUT,
            &pw,
            Some(carol),
            Some(json!({"old_password": "wrong-password", "new_password": "carol-new-pass"})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    let r = s
        .call(
            Method::PUT,
            &pw,
            Some(dave),
            Some(json!({"new_password": "dave-sets-it"})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(
            Method::PUT,
            &pw,
            Some(carol),
            Some(json!({"old_password": "carol-password", "new_password": "carol-new-pass"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let carol = ("carol", "carol-new-pass");
    let r = s
        .call(Method::GET, "/users/current", Some(carol), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .call(
            Method::GET,
            "/users/current",
            Some(("carol", "carol-password")),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The administrator resets dave's without the old one.
    let r = s
        .call(
            Method::PUT,
            &format!("/users/{dave_id}/password"),
            Some(ADMIN),
            Some(json!({"new_password": "dave-reset-pw"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let dave = ("dave", "dave-reset-pw");
    assert_eq!(
        s.call(Method::GET, "/users/current", Some(dave), None)
            .await
            .status(),
        StatusCode::OK
    );
    // Sysadmin flag: only administrators grant it; then carol lists users.
    let flag = format!("/users/{carol_id}/sysadmin");
    let r = s
        .call(
            Method::PUT,
            &flag,
            Some(carol),
            Some(json!({"sysadmin_flag": true})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(
            Method::PUT,
            &flag,
            Some(ADMIN),
            Some(json!({"sysadmin_flag": true})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.call(Method::GET, "/users", Some(carol), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Delete: not by dave; the admin user never; dave cannot sign in after.
    let dave_path = format!("/users/{dave_id}");
    let r = s.call(Method::DELETE, &dave_path, Some(dave), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let admin_id = s.auth.user("admin").await.unwrap().id;
    let r = s
        .call(
            Method::DELETE,
            &format!("/users/{admin_id}"),
            Some(carol),
            None,
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    let r = s.call(Method::DELETE, &dave_path, Some(carol), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .call(Method::GET, "/users/current", Some(dave), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let r = s.call(Method::DELETE, &dave_path, Some(carol), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );

    let created = s.audit_of(AuditAction::UserCreate).await;
    // The anonymous attempt is refused before any handler (no entry).
    assert_eq!(created.len(), 3, "{created:?}");
    assert!(created
        .iter()
        .any(|e| e["username"] == "admin" && e["resource"] == "carol" && e["result"] == "success"));
    let updates = s.audit_of(AuditAction::UserUpdate).await;
    let details: Vec<(&str, &str, &str)> = updates
        .iter()
        .filter(|e| e["result"] == "success")
        .map(|e| {
            (
                e["username"].as_str().unwrap(),
                e["resource"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        details,
        [
            ("admin", "carol", "sysadmin=true"),
            ("admin", "dave", "password"),
            ("carol", "carol", "password"),
            ("carol", "carol", "profile"),
        ]
    );
    let deleted = s.audit_of(AuditAction::UserDelete).await;
    let outcomes: Vec<(String, &str)> = deleted
        .iter()
        .map(|e| {
            (
                e["resource"].as_str().unwrap().to_string(),
                e["result"].as_str().unwrap(),
            )
        })
        .collect();
    // The last attempt names the user by id: it no longer exists.
    let expected: Vec<(String, &str)> = [
        (dave_id.to_string(), "failure"),
        ("dave".into(), "success"),
        ("admin".into(), "failure"),
        ("dave".into(), "failure"),
    ]
    .into();
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn project_admins_create_robots_whose_secrets_push_until_disabled_or_deleted() {
    let s = Server::start().await;
    s.auth.create_project("ci", false, None).await.unwrap();
    s.auth
        .create_user("bob", "bob-password", "", "", false)
        .await
        .unwrap();
    let bob = ("bob", "bob-password");
    let create = json!({
        "name": "builder",
        "level": "project",
        "duration": 30,
        "permissions": [{"kind": "project", "namespace": "ci", "access": [
            {"resource": "repository", "action": "pull"},
            {"resource": "repository", "action": "push"}]}]
    });
    // Anonymous 401, a non-member 403, nothing created.
    let r = s
        .call(Method::POST, "/robots", None, Some(create.clone()))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let r = s
        .call(Method::POST, "/robots", Some(bob), Some(create.clone()))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    // Two projects in one project robot: 400.
    let mut two = create.clone();
    two["permissions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kind": "project", "namespace": "seed", "access": []}));
    let r = s
        .call(Method::POST, "/robots", Some(ADMIN), Some(two))
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    // The administrator creates it: 201, Harbor's RobotCreated, Location.
    let r = s
        .call(Method::POST, "/robots", Some(ADMIN), Some(create.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = location(&r);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(loc, format!("{API}/robots/{id}"));
    assert_eq!(created["name"], "robot$ci+builder");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(created["expires_at"].as_i64().unwrap() > 0);
    let r = s
        .call(Method::POST, "/robots", Some(ADMIN), Some(create))
        .await;
    assert_eq!(harbor_error(r).await, err(StatusCode::CONFLICT, "CONFLICT"));
    // The robot pushes into its project and nowhere else.
    let robot = ("robot$ci+builder", secret.as_str());
    assert_eq!(s.push(robot, "ci/app", "1").await, StatusCode::CREATED);
    assert_eq!(s.push(robot, "seed/app", "x").await, StatusCode::FORBIDDEN);
    // Read back: Harbor's Robot, without the secret.
    let r = s.call(Method::GET, &loc, Some(ADMIN), None).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["level"], "project");
    assert_eq!(v["duration"], 30);
    assert_eq!(v["disable"], false);
    assert_eq!(v["permissions"][0]["namespace"], "ci");
    assert!(v.get("secret").is_none());
    let r = s.call(Method::GET, "/robots", Some(ADMIN), None).await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("1"));
    let r = s.call(Method::GET, "/robots", Some(bob), None).await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("0"));
    let r = s.call(Method::GET, &loc, Some(bob), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    // Refreshing the secret to a chosen one: the old one stops working.
    let r = s
        .call(
            Method::PATCH,
            &loc,
            Some(ADMIN),
            Some(json!({"secret": "Chosen-secret-42"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secret"], "Chosen-secret-42");
    assert_eq!(s.push(robot, "ci/app", "2").await, StatusCode::UNAUTHORIZED);
    let robot = ("robot$ci+builder", "Chosen-secret-42");
    assert_eq!(s.push(robot, "ci/app", "2").await, StatusCode::CREATED);
    // Disabled: refused; enabled again: works.
    for (disable, expect) in [
        (true, StatusCode::UNAUTHORIZED),
        (false, StatusCode::CREATED),
    ] {
        let r = s
            .call(
                Method::PUT,
                &loc,
                Some(ADMIN),
                Some(json!({"disable": disable})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            s.push(robot, "ci/app", "3").await,
            expect,
            "disable={disable}"
        );
    }
    // Harbor's UI sends many access pairs: those with a berth equivalent
    // map, the rest are dropped (never granting more than asked).
    let ui = json!({
        "name": "ui", "level": "project", "duration": -1,
        "permissions": [{"kind": "project", "namespace": "ci", "access": [
            {"resource": "repository", "action": "list"},
            {"resource": "repository", "action": "pull"},
            {"resource": "artifact", "action": "read"},
            {"resource": "tag", "action": "create"},
            {"resource": "tag", "action": "list"},
            {"resource": "scan", "action": "create"}]}]
    });
    let r = s.call(Method::POST, "/robots", Some(ADMIN), Some(ui)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ui_loc = location(&r);
    let v: Value = s
        .call(Method::GET, &ui_loc, Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = v["permissions"][0]["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["pull", "push"], "{v}");
    let r = s
        .call(Method::GET, "/robots?q=name%3D~builder", Some(ADMIN), None)
        .await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("1"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["name"], "robot$ci+builder");
    // Deleted: gone, and its secret with it.
    let r = s.call(Method::DELETE, &loc, Some(ADMIN), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.call(Method::GET, &loc, Some(ADMIN), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    assert_eq!(s.push(robot, "ci/app", "4").await, StatusCode::UNAUTHORIZED);
    // Each change is on record with its actor; the refused ones as failures.
    let creates = s.audit_of(AuditAction::RobotCreate).await;
    let results: Vec<(&str, &str)> = creates
        .iter()
        .map(|e| {
            (
                e["username"].as_str().unwrap(),
                e["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("admin", "success"),
            ("admin", "failure"),
            ("admin", "success"),
            ("admin", "failure"),
            ("bob", "failure"),
            // An anonymous write is refused before its body is read and
            // before any handler runs (docs/security.md): no entry.
        ]
    );
    assert_eq!(s.audit_of(AuditAction::RobotUpdate).await.len(), 3);
    assert_eq!(s.audit_of(AuditAction::RobotDelete).await.len(), 1);
}

#[tokio::test]
async fn administrators_query_the_audit_trail_with_harbor_filters_and_pages() {
    let s = Server::start().await;
    s.auth
        .create_user("bob", "bob-password", "", "", false)
        .await
        .unwrap();
    let bob = ("bob", "bob-password");
    for name in ["p1", "p2", "p3"] {
        let r = s
            .call(
                Method::POST,
                "/projects",
                Some(ADMIN),
                Some(json!({"project_name": name, "storage_limit": 123_456})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Harbor's storage_limit at creation is the project's quota.
    let v: Value = s
        .call(Method::GET, "/projects/p2/summary", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["quota"]["hard"]["storage"], 123_456, "{v}");
    assert_eq!(s.push(ADMIN, "p1/app", "v1").await, StatusCode::CREATED);
    let r = s
        .call(Method::GET, "/v2/p1/app/manifests/v1", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    s.audit.flush().await;
    // Administrators only.
    let r = s.call(Method::GET, "/audit-logs", None, None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let r = s.call(Method::GET, "/audit-logs", Some(bob), None).await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    // Berth's action word, newest first, paged with X-Total-Count and Link.
    let r = s
        .call(
            Method::GET,
            "/audit-logs?q=action%3Dproject_create&page_size=2",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("3"));
    let link = header(&r, "link").expect("Link header");
    assert!(
        link.contains("page=2") && link.contains("rel=\"next\""),
        "{link}"
    );
    let v: Value = r.json().await.unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p3", "p2"]);
    assert_eq!(v[0]["operation"], "create");
    assert_eq!(v[0]["resource_type"], "project");
    assert_eq!(v[0]["username"], "admin");
    // Harbor's operation + resource_type: the pull, with repository and tag.
    let r = s
        .call(
            Method::GET,
            "/audit-logs?q=operation%3Dpull,resource_type%3Dartifact",
            Some(ADMIN),
            None,
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["resource"], "p1/app:v1");
    assert_eq!(v[0]["result"], "success");
    // operation=create spans actions (projects and the push): merged by time.
    let r = s
        .call(
            Method::GET,
            "/audit-logs?q=operation%3Dcreate,username%3Dadmin",
            Some(ADMIN),
            None,
        )
        .await;
    let v: Value = r.json().await.unwrap();
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["push", "project_create", "project_create", "project_create"]
    );
    // A time range before anything happened is empty; an unknown key is 400.
    let r = s
        .call(
            Method::GET,
            "/audit-logs?q=op_time%3D%5B2000-01-01%2000%3A00%3A00~2000-01-02%2000%3A00%3A00%5D",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("0"));
    let r = s
        .call(Method::GET, "/audit-logs?q=colour%3Dred", Some(ADMIN), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
}

#[tokio::test]
async fn administrators_run_garbage_collection_and_read_its_history() {
    let s = Server::start().await;
    s.auth
        .create_user("bob", "bob-password", "", "", false)
        .await
        .unwrap();
    let bob = ("bob", "bob-password");
    // A blob no manifest references (the grace period of this server is zero).
    let stray = b"a layer whose manifest never came";
    let d = Digest::of(Algorithm::Sha256, stray);
    let r = s
        .client
        .post(format!("{}/v2/seed/app/blobs/uploads/?digest={d}", s.base))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .body(stray.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let run =
        |dry_run: bool| json!({"schedule": {"type": "Manual"}, "parameters": {"dry_run": dry_run}});
    let r = s
        .call(
            Method::POST,
            "/system/gc/schedule",
            Some(bob),
            Some(run(false)),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(
            Method::POST,
            "/system/gc/schedule",
            Some(ADMIN),
            Some(json!({"schedule": {"type": "Daily"}})),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::BAD_REQUEST, "BAD_REQUEST")
    );
    let blob = format!("/v2/seed/app/blobs/{d}");
    let mut ids = Vec::new();
    for dry_run in [true, false] {
        let r = s
            .call(
                Method::POST,
                "/system/gc/schedule",
                Some(ADMIN),
                Some(run(dry_run)),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let loc = location(&r);
        // The run goes on in the background: poll its record.
        let mut v = Value::Null;
        for _ in 0..200 {
            v = s
                .call(Method::GET, &loc, Some(ADMIN), None)
                .await
                .json()
                .await
                .unwrap();
            if v["job_status"] != "Running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(v["job_status"], "Success", "{v}");
        assert_eq!(v["job_name"], "GARBAGE_COLLECTION");
        assert_eq!(v["job_kind"], "MANUAL");
        assert!(v["blobs_deleted"].as_u64().unwrap() >= 1, "{v}");
        let head = s
            .call(Method::HEAD, &blob, Some(ADMIN), None)
            .await
            .status();
        let expected = if dry_run {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(head, expected, "dry_run={dry_run}");
        let log = s
            .call(Method::GET, &format!("{loc}/log"), Some(ADMIN), None)
            .await
            .text()
            .await
            .unwrap();
        let verb = if dry_run { "would delete" } else { "deleted" };
        assert!(log.contains(verb), "{log}");
        ids.push(v["id"].as_i64().unwrap());
    }
    // The image stays whole.
    let r = s
        .call(Method::GET, "/v2/seed/app/manifests/v1", Some(ADMIN), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // History, newest first.
    let r = s.call(Method::GET, "/system/gc", Some(ADMIN), None).await;
    assert_eq!(header(&r, "x-total-count").as_deref(), Some("2"));
    let v: Value = r.json().await.unwrap();
    let listed: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    let v: Value = s
        .call(Method::GET, "/system/gc/schedule", Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["schedule"]["type"], "None");
    let r = s
        .call(Method::GET, "/system/gc/999999", Some(ADMIN), None)
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
}

#[tokio::test]
async fn projects_answer_by_id_and_content_changes_through_the_api_are_audited() {
    let s = Server::start().await;
    s.auth
        .create_user("dev", "dev-password", "", "", false)
        .await
        .unwrap();
    let dev = ("dev", "dev-password");
    let r = s
        .call(
            Method::POST,
            "/projects",
            Some(ADMIN),
            Some(json!({"project_name": "shop"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let by_id = location(&r);
    let id: i64 = by_id.rsplit('/').next().unwrap().parse().unwrap();
    let r = s
        .call(
            Method::POST,
            "/projects/shop/members",
            Some(ADMIN),
            Some(json!({"role_id": 2, "member_user": {"username": "dev"}})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(s.push(dev, "shop/app", "v1").await, StatusCode::CREATED);
    // The Location of a new project reads back, as do its sub-resources.
    let v: Value = s
        .call(Method::GET, &by_id, Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"], "shop", "{v}");
    assert_eq!(v["project_id"], id);
    for sub in [
        "/repositories",
        "/summary",
        "/immutabletagrules",
        "/members",
    ] {
        let r = s
            .call(Method::GET, &format!("{by_id}{sub}"), Some(ADMIN), None)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{by_id}{sub}");
    }
    // X-Is-Resource-Name: true means a name, and no project is named so.
    let r = s
        .client
        .get(format!("{}{by_id}", s.base))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("X-Is-Resource-Name", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .call(
            Method::GET,
            "/projects/nosuch/immutabletagrules",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    // An immutable rule shows on the tags it protects.
    let rule = json!({
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}
    });
    let r = s
        .call(
            Method::POST,
            &format!("{by_id}/immutabletagrules"),
            Some(ADMIN),
            Some(rule),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let art = "/projects/shop/repositories/app/artifacts";
    let v: Value = s
        .call(Method::GET, art, Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v[0]["tags"][0]["name"], "v1");
    assert_eq!(v[0]["tags"][0]["immutable"], true, "{v}");
    let digest = v[0]["digest"].as_str().unwrap().to_string();
    // Retag, untag, a refused untag and the artifact delete: each on record.
    let r = s
        .call(
            Method::POST,
            &format!("{art}/v1/tags"),
            Some(dev),
            Some(json!({"name": "rc"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = s
        .call(Method::GET, &format!("{art}/rc/tags"), Some(ADMIN), None)
        .await
        .json()
        .await
        .unwrap();
    let rc = v
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "rc")
        .unwrap();
    assert_eq!(rc["immutable"], false);
    let r = s
        .call(
            Method::DELETE,
            &format!("{art}/v1/tags/rc"),
            Some(dev),
            None,
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let r = s
        .call(
            Method::DELETE,
            &format!("{art}/v1/tags/rc"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .call(
            Method::DELETE,
            &format!("{art}/{digest}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        err(StatusCode::PRECONDITION_FAILED, "PRECONDITION")
    );
    let r = s
        .call(
            Method::DELETE,
            "/projects/shop/repositories/app",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.audit_lines(AuditAction::TagCreate).await,
        ["dev shop/app:rc success"]
    );
    assert_eq!(
        s.audit_lines(AuditAction::TagDelete).await,
        ["admin shop/app:rc success", "dev shop/app:rc failure"]
    );
    assert_eq!(
        s.audit_lines(AuditAction::Delete).await,
        [format!("admin shop/app@{digest} failure")]
    );
    assert_eq!(
        s.audit_lines(AuditAction::RepositoryDelete).await,
        ["admin shop/app success"]
    );
}
