//! The Harbor-compatible management API under `/api/v2.0`: shapes, pagination,
//! `q` filters, double-encoded repository names, error bodies, and that the
//! OpenAPI document and the live routes agree.

mod common;

use std::collections::BTreeSet;

use berth_oci::{Algorithm, Digest};
use common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/v2.0";

async fn get_json(
    reg: &TestRegistry,
    path: &str,
) -> (StatusCode, Value, Option<String>, Option<String>) {
    let r = reg.req(Method::GET, &format!("{API}{path}")).await;
    let status = r.status();
    let total = header(&r, "x-total-count");
    let link = header(&r, "link");
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, total, link)
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

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

/// Pushes an image manifest by digest (untagged) with its own config and
/// layer; returns (digest, total bytes of manifest + config + layer).
async fn push_untagged(reg: &TestRegistry, repo: &str, arch: &str) -> (Digest, usize, usize) {
    let config = format!("{{\"architecture\":\"{arch}\",\"os\":\"linux\"}}");
    let layer = format!("layer of {arch}");
    let c = reg.push_blob(repo, config.as_bytes()).await;
    let l = reg.push_blob(repo, layer.as_bytes()).await;
    let m = image_manifest(&c, config.len(), &[(&l, layer.len())], None, None);
    let d = Digest::of(Algorithm::Sha256, &m);
    let r = reg.put_manifest(repo, d.as_str(), OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    (d, m.len(), m.len() + config.len() + layer.len())
}

/// Pushes an index of an amd64 and an arm64/v8 image, tagged `tag`; returns
/// (index digest, expected size, child digests).
async fn push_index(reg: &TestRegistry, repo: &str, tag: &str) -> (Digest, usize, Vec<Digest>) {
    let (a, a_len, a_total) = push_untagged(reg, repo, "amd64").await;
    let (b, b_len, b_total) = push_untagged(reg, repo, "arm64").await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": a.as_str(), "size": a_len,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": b.as_str(), "size": b_len,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]
    }))
    .unwrap();
    let r = reg.put_manifest(repo, tag, OCI_INDEX, &index).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d = Digest::of(Algorithm::Sha256, &index);
    (d, index.len() + a_total + b_total, vec![a, b])
}

#[tokio::test]
async fn health_reports_core_database_and_storage_healthy() {
    let reg = TestRegistry::start().await;
    let (status, v, _, _) = get_json(&reg, "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "healthy");
    let comps: Vec<(&str, &str)> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        comps,
        [
            ("core", "healthy"),
            ("database", "healthy"),
            ("storage", "healthy"),
            ("audit", "healthy")
        ]
    );
}

#[tokio::test]
async fn health_reports_storage_unhealthy_when_its_root_is_gone() {
    let reg = TestRegistry::start().await;
    if reg.storage.url.is_some() {
        eprintln!("skipped: blobs are on an object store here, not under the data directory");
        return;
    }
    // The database stays open (its file handle survives); the root directory goes.
    let root = reg.dir.path().to_path_buf();
    let moved = root.with_extension("moved");
    std::fs::rename(&root, &moved).unwrap();
    let (_, v, _, _) = get_json(&reg, "/health").await;
    std::fs::rename(&moved, &root).unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["components"][2]["name"], "storage");
    assert_eq!(v["components"][2]["status"], "unhealthy");
    assert!(v["components"][2]["error"].is_string());
}

#[tokio::test]
async fn systeminfo_has_harbor_fields_and_ping_is_pong() {
    let reg = TestRegistry::start().await;
    let (status, v, _, _) = get_json(&reg, "/systeminfo").await;
    assert_eq!(status, StatusCode::OK);
    let host = reg.base.trim_start_matches("http://");
    assert_eq!(v["registry_url"], host);
    assert_eq!(v["external_url"], reg.base);
    assert_eq!(
        v["harbor_version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(v["with_notary"], false);
    assert_eq!(v["auth_mode"], "db_auth");
    let r = reg.req(Method::GET, &format!("{API}/ping")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "Pong");
}

#[tokio::test]
async fn repositories_of_a_project_are_listed_by_name_with_counts() {
    let reg = TestRegistry::start().await;
    reg.push_image("team/app", "v1", "a").await;
    reg.push_image("team/app", "v2", "b").await;
    reg.push_image("team/tools/lint", "v1", "c").await;
    reg.push_image("teamx/other", "v1", "d").await;
    reg.push_image("busybox", "latest", "e").await;
    reg.push_image("library/alpine", "3", "f").await;

    let (status, v, total, link) = get_json(&reg, "/projects/team/repositories").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&v), ["team/app", "team/tools/lint"]);
    assert_eq!(total.as_deref(), Some("2"));
    assert_eq!(link, None);
    let app = &v[0];
    assert_eq!(app["artifact_count"], 2);
    assert_eq!(app["pull_count"], 0);
    assert_eq!(app["description"], "");
    assert!(app["id"].as_i64().unwrap() > 0);
    assert!(app["creation_time"].as_str().unwrap().ends_with('Z'));
    assert!(app["update_time"].as_str().unwrap() >= app["creation_time"].as_str().unwrap());

    let (_, v, _, _) = get_json(&reg, "/projects/library/repositories").await;
    assert_eq!(names(&v), ["busybox", "library/alpine"]);

    let (_, v, total, _) = get_json(&reg, "/repositories?page_size=100").await;
    assert_eq!(v.as_array().unwrap().len(), 5);
    assert_eq!(total.as_deref(), Some("5"));
}

#[tokio::test]
async fn repository_pages_carry_total_count_and_prev_next_links() {
    let reg = TestRegistry::start().await;
    for n in ["a", "b", "c", "d", "e"] {
        reg.push_image(&format!("p/{n}"), "v1", n).await;
    }
    let (_, v, total, link) = get_json(&reg, "/projects/p/repositories?page=2&page_size=2").await;
    assert_eq!(names(&v), ["p/c", "p/d"]);
    assert_eq!(total.as_deref(), Some("5"));
    assert_eq!(
        link.as_deref(),
        Some(
            "</api/v2.0/projects/p/repositories?page=1&page_size=2>; rel=\"prev\" , \
             </api/v2.0/projects/p/repositories?page=3&page_size=2>; rel=\"next\""
        )
    );
    let (_, v, _, link) = get_json(&reg, "/projects/p/repositories?page=3&page_size=2").await;
    assert_eq!(names(&v), ["p/e"]);
    assert_eq!(
        link.as_deref(),
        Some("</api/v2.0/projects/p/repositories?page=2&page_size=2>; rel=\"prev\"")
    );
    let (_, v, _, link) = get_json(&reg, "/projects/p/repositories").await;
    assert_eq!(v.as_array().unwrap().len(), 5);
    assert_eq!(link, None);
    let (_, v, _, _) = get_json(&reg, "/projects/p/repositories?page=9").await;
    assert_eq!(v, json!([]));
    let r = reg
        .req(
            Method::GET,
            &format!("{API}/projects/p/repositories?page=0"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
    let r = reg
        .req(
            Method::GET,
            &format!("{API}/projects/p/repositories?page_size=x"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
}

#[tokio::test]
async fn repository_q_filters_name_exactly_fuzzily_and_by_list() {
    let reg = TestRegistry::start().await;
    for n in ["p/web", "p/webhook", "p/api"] {
        reg.push_image(n, "v1", n).await;
    }
    let (_, v, total, _) = get_json(&reg, "/projects/p/repositories?q=name%3D~web").await;
    assert_eq!(names(&v), ["p/web", "p/webhook"]);
    assert_eq!(total.as_deref(), Some("2"));
    let (_, v, _, _) = get_json(&reg, "/projects/p/repositories?q=name%3Dp/web").await;
    assert_eq!(names(&v), ["p/web"]);
    let (_, v, _, _) = get_json(&reg, "/projects/p/repositories?q=name%3D(p/api%20p/web)").await;
    assert_eq!(names(&v), ["p/api", "p/web"]);
    let r = reg
        .req(
            Method::GET,
            &format!("{API}/projects/p/repositories?q=colour%3Dred"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
}

#[tokio::test]
async fn repository_names_with_slashes_are_double_url_encoded_in_paths() {
    let reg = TestRegistry::start().await;
    reg.push_image("team/a/b", "v1", "x").await;
    reg.push_image("busybox", "v1", "y").await;
    for enc in ["a%252Fb", "a%2Fb"] {
        let (status, v, _, _) = get_json(&reg, &format!("/projects/team/repositories/{enc}")).await;
        assert_eq!(status, StatusCode::OK, "{enc}");
        assert_eq!(v["name"], "team/a/b");
        let (status, v, _, _) = get_json(
            &reg,
            &format!("/projects/team/repositories/{enc}/artifacts"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{enc}");
        assert_eq!(v[0]["tags"][0]["name"], "v1");
    }
    let (status, v, _, _) = get_json(&reg, "/projects/library/repositories/busybox").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["name"], "busybox");
}

#[tokio::test]
async fn unknown_project_repository_and_endpoint_are_harbor_404s() {
    let reg = TestRegistry::start().await;
    reg.push_image("team/app", "v1", "x").await;
    for path in [
        "/projects/nope/repositories",
        "/projects/team/repositories/missing",
        "/projects/team/repositories/app/artifacts/v9",
        "/projects/team/repositories/missing/artifacts",
        "/no/such/endpoint",
    ] {
        let r = reg.req(Method::GET, &format!("{API}{path}")).await;
        assert_eq!(
            harbor_error(r).await,
            (StatusCode::NOT_FOUND, "NOT_FOUND".into()),
            "{path}"
        );
    }
    let r = reg
        .req(Method::PUT, &format!("{API}/projects/team/repositories"))
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED".into())
    );
    let r = reg
        .req(
            Method::GET,
            &format!("{API}/projects/team/repositories/app/artifacts/sha256:zz"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
    let r = reg
        .req(
            Method::GET,
            &format!("{API}/projects/team/repositories/UPPER"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
}

#[tokio::test]
async fn an_image_artifact_has_harbor_shape_size_tags_and_config_attributes() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("team/app", "v1", "s").await;
    let r = reg
        .put_manifest("team/app", "stable", OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let config_len = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"s\"}".len();
    let layer_len = "layer bytes for s".len();

    let (status, v, total, _) = get_json(&reg, "/projects/team/repositories/app/artifacts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(total.as_deref(), Some("1"));
    let a = &v[0];
    assert_eq!(a["type"], "IMAGE");
    assert_eq!(a["digest"], d.as_str());
    assert_eq!(a["manifest_media_type"], OCI_MANIFEST);
    assert_eq!(a["media_type"], OCI_CONFIG);
    assert_eq!(a["repository_name"], "team/app");
    assert_eq!(a["size"], m.len() + config_len + layer_len);
    assert_eq!(a["pull_time"], "0001-01-01T00:00:00.000Z");
    assert!(a["push_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a["extra_attrs"]["architecture"], "amd64");
    assert_eq!(a["extra_attrs"]["os"], "linux");
    assert_eq!(a["references"], json!([]));
    let tags: Vec<&str> = a["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["stable", "v1"]);
    let t = &a["tags"][0];
    assert_eq!(t["artifact_id"], a["id"]);
    assert_eq!(t["repository_id"], a["repository_id"]);
    assert_eq!(t["immutable"], false);

    for reference in ["v1".to_string(), d.to_string()] {
        let (status, one, _, _) = get_json(
            &reg,
            &format!("/projects/team/repositories/app/artifacts/{reference}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["id"], a["id"]);
        assert_eq!(one["tags"], a["tags"]);
    }
    let (_, one, _, _) = get_json(
        &reg,
        "/projects/team/repositories/app/artifacts/v1?with_tag=false",
    )
    .await;
    assert_eq!(one["tags"], json!([]));
    let (_, v, _, _) = get_json(
        &reg,
        "/projects/team/repositories/app/artifacts?with_tag=false",
    )
    .await;
    assert_eq!(v[0]["tags"], json!([]));
}

#[tokio::test]
async fn an_index_lists_once_with_its_platforms_and_the_size_of_its_children() {
    let reg = TestRegistry::start().await;
    let (d, size, children) = push_index(&reg, "team/multi", "latest").await;
    let (_, v, total, _) = get_json(&reg, "/projects/team/repositories/multi/artifacts").await;
    assert_eq!(total.as_deref(), Some("1"));
    let a = &v[0];
    assert_eq!(a["digest"], d.as_str());
    assert_eq!(a["type"], "IMAGE");
    assert_eq!(a["manifest_media_type"], OCI_INDEX);
    assert_eq!(a["size"], size);
    let refs = a["references"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0]["child_digest"], children[0].as_str());
    assert_eq!(refs[0]["parent_id"], a["id"]);
    assert!(refs[0]["child_id"].as_i64().unwrap() > 0);
    assert_eq!(
        refs[0]["platform"],
        json!({"architecture": "amd64", "os": "linux"})
    );
    assert_eq!(
        refs[1]["platform"],
        json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );
    let (_, v, total, _) = get_json(
        &reg,
        "/projects/team/repositories/multi/artifacts?with_children=true",
    )
    .await;
    assert_eq!(total.as_deref(), Some("3"));
    assert_eq!(v.as_array().unwrap().len(), 3);
    let (_, repo, _, _) = get_json(&reg, "/projects/team/repositories/multi").await;
    assert_eq!(repo["artifact_count"], 1);
}

#[tokio::test]
async fn artifact_q_filters_tags_and_digest() {
    let reg = TestRegistry::start().await;
    let (_, tagged) = reg.push_image("p/app", "v1", "t").await;
    let (untagged, _, _) = push_untagged(&reg, "p/app", "s390x").await;
    let path = "/projects/p/repositories/app/artifacts";
    let digests = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, v, _, _) = get_json(&reg, path).await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (_, v, total, _) = get_json(&reg, &format!("{path}?q=tags%3D*")).await;
    assert_eq!(digests(&v), [tagged.to_string()]);
    assert_eq!(total.as_deref(), Some("1"));
    let (_, v, _, _) = get_json(&reg, &format!("{path}?q=tags%3Dnil")).await;
    assert_eq!(digests(&v), [untagged.to_string()]);
    let (_, v, _, _) = get_json(&reg, &format!("{path}?q=tags%3D~v")).await;
    assert_eq!(digests(&v), [tagged.to_string()]);
    let (_, v, _, _) = get_json(&reg, &format!("{path}?q=tags%3Dv2")).await;
    assert_eq!(v, json!([]));
    let (_, v, _, _) = get_json(&reg, &format!("{path}?q=digest%3D{untagged}")).await;
    assert_eq!(digests(&v), [untagged.to_string()]);
    let (_, v, _, link) = get_json(&reg, &format!("{path}?page_size=1")).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(link.unwrap().contains("rel=\"next\""));
    let r = reg
        .req(Method::GET, &format!("{API}{path}?q=labels%3D1"))
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
}

#[tokio::test]
async fn adding_a_tag_retags_through_the_registry_and_an_existing_tag_is_409() {
    let reg = TestRegistry::start().await;
    let (_, old) = reg.push_image("p/app", "v1", "old").await;
    let (_, new) = reg.push_image("p/app", "latest", "new").await;
    let tags = format!("{API}/projects/p/repositories/app/artifacts/{old}/tags");
    let r = reg
        .request(Method::POST, &tags)
        .json(&json!({"name": "rollback"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        header(&r, "location"),
        Some(
            format!("{tags}/rollback")
                .trim_start_matches(&reg.base)
                .to_string()
        )
    );
    let r = reg.req(Method::GET, "/v2/p/app/manifests/rollback").await;
    assert_eq!(header(&r, "docker-content-digest"), Some(old.to_string()));

    let r = reg
        .request(Method::POST, &tags)
        .json(&json!({"name": "latest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::CONFLICT, "CONFLICT".into())
    );
    let r = reg.req(Method::GET, "/v2/p/app/manifests/latest").await;
    assert_eq!(header(&r, "docker-content-digest"), Some(new.to_string()));

    let r = reg
        .request(Method::POST, &tags)
        .json(&json!({"name": "bad tag"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );
    let r = reg
        .request(Method::POST, &tags)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
    );

    let (_, v, total, _) = get_json(
        &reg,
        &format!("/projects/p/repositories/app/artifacts/{old}/tags"),
    )
    .await;
    assert_eq!(names(&v), ["rollback", "v1"]);
    assert_eq!(total.as_deref(), Some("2"));
}

#[tokio::test]
async fn deleting_a_tag_keeps_the_artifact_and_a_tag_of_another_artifact_is_404() {
    let reg = TestRegistry::start().await;
    let (_, d) = reg.push_image("p/app", "v1", "a").await;
    reg.push_image("p/app", "other", "b").await;
    let base = format!("{API}/projects/p/repositories/app/artifacts/{d}/tags");
    let r = reg.req(Method::DELETE, &format!("{base}/other")).await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
    let r = reg.req(Method::DELETE, &format!("{base}/v1")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg.req(Method::GET, "/v2/p/app/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg
        .req(Method::GET, &format!("/v2/p/app/manifests/{d}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg.req(Method::GET, "/v2/p/app/manifests/other").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_artifact_by_tag_removes_the_manifest_and_all_its_tags() {
    let reg = TestRegistry::start().await;
    let (m, d) = reg.push_image("p/a/b", "v1", "a").await;
    reg.put_manifest("p/a/b", "v2", OCI_MANIFEST, &m).await;
    // Warm the manifest cache so a stale entry would show.
    assert_eq!(
        reg.req(Method::GET, "/v2/p/a/b/manifests/v2")
            .await
            .status(),
        StatusCode::OK
    );
    let r = reg
        .req(
            Method::DELETE,
            &format!("{API}/projects/p/repositories/a%252Fb/artifacts/v1"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for reference in ["v1".to_string(), "v2".to_string(), d.to_string()] {
        let r = reg
            .req(Method::GET, &format!("/v2/p/a/b/manifests/{reference}"))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{reference}");
    }
    let r = reg
        .req(
            Method::DELETE,
            &format!("{API}/projects/p/repositories/a%252Fb/artifacts/{d}"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
}

#[tokio::test]
async fn deleting_a_repository_removes_its_manifests_and_tags_and_keeps_others() {
    let reg = TestRegistry::start().await;
    reg.push_image("p/gone", "v1", "a").await;
    let (_, kept) = reg.push_image("p/kept", "v1", "b").await;
    assert_eq!(
        reg.req(Method::GET, "/v2/p/gone/manifests/v1")
            .await
            .status(),
        StatusCode::OK
    );
    let r = reg
        .req(
            Method::DELETE,
            &format!("{API}/projects/p/repositories/gone"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg.req(Method::GET, "/v2/p/gone/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg.req(Method::GET, "/v2/p/gone/tags/list").await;
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let (_, v, _, _) = get_json(&reg, "/projects/p/repositories").await;
    assert_eq!(names(&v), ["p/kept"]);
    let r = reg.req(Method::GET, "/v2/p/kept/manifests/v1").await;
    assert_eq!(header(&r, "docker-content-digest"), Some(kept.to_string()));
    let r = reg
        .req(
            Method::DELETE,
            &format!("{API}/projects/p/repositories/gone"),
        )
        .await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
    // The name can be pushed again from scratch.
    reg.push_image("p/gone", "v2", "c").await;
    let (_, v, _, _) = get_json(&reg, "/projects/p/repositories/gone/artifacts").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn search_finds_projects_and_repositories_by_substring() {
    let reg = TestRegistry::start().await;
    reg.push_image("web/frontend", "v1", "a").await;
    reg.push_image("web/backend", "v1", "b").await;
    reg.push_image("ops/webhook", "v1", "c").await;
    reg.push_image("ops/db", "v1", "d").await;
    let (status, v, _, _) = get_json(&reg, "/search?q=web").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["project"].as_array().unwrap().len(), 1);
    assert_eq!(v["project"][0]["name"], "web");
    assert_eq!(v["project"][0]["repo_count"], 2);
    assert_eq!(v["project"][0]["metadata"]["public"], "true");
    let repos: Vec<&str> = v["repository"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repository_name"].as_str().unwrap())
        .collect();
    assert_eq!(repos, ["ops/webhook", "web/backend", "web/frontend"]);
    assert_eq!(v["repository"][0]["project_name"], "ops");
    assert_eq!(v["repository"][0]["project_public"], true);
    assert_eq!(v["repository"][0]["artifact_count"], 1);
}

/// (method, path) of every route the management API is meant to have.
const EXPECTED_ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/systeminfo"),
    ("get", "/ping"),
    ("get", "/statistics"),
    ("get", "/system/scanAll/schedule"),
    ("post", "/system/scanAll/schedule"),
    ("get", "/openapi.json"),
    ("get", "/search"),
    ("get", "/users/current"),
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/{user_id}"),
    ("put", "/users/{user_id}"),
    ("delete", "/users/{user_id}"),
    ("put", "/users/{user_id}/password"),
    ("put", "/users/{user_id}/sysadmin"),
    ("put", "/users/{user_id}/cli_secret"),
    ("get", "/usergroups"),
    ("post", "/usergroups"),
    ("get", "/usergroups/search"),
    ("get", "/usergroups/{group_id}"),
    ("put", "/usergroups/{group_id}"),
    ("delete", "/usergroups/{group_id}"),
    ("get", "/configurations"),
    ("post", "/ldap/ping"),
    ("get", "/ldap/users/search"),
    ("get", "/ldap/groups/search"),
    ("post", "/ldap/users/import"),
    ("post", "/system/oidc/ping"),
    ("get", "/robots"),
    ("post", "/robots"),
    ("get", "/robots/{robot_id}"),
    ("put", "/robots/{robot_id}"),
    ("patch", "/robots/{robot_id}"),
    ("delete", "/robots/{robot_id}"),
    ("get", "/repositories"),
    ("get", "/projects"),
    ("head", "/projects"),
    ("post", "/projects"),
    ("get", "/projects/{project_name}"),
    ("put", "/projects/{project_name}"),
    ("delete", "/projects/{project_name}"),
    ("get", "/projects/{project_name}/members"),
    ("post", "/projects/{project_name}/members"),
    ("get", "/projects/{project_name}/members/{mid}"),
    ("put", "/projects/{project_name}/members/{mid}"),
    ("delete", "/projects/{project_name}/members/{mid}"),
    ("get", "/projects/{project_name}/repositories"),
    ("get", "/projects/{project_name}/repositories/{repository_name}"),
    ("delete", "/projects/{project_name}/repositories/{repository_name}"),
    ("get", "/projects/{project_name}/repositories/{repository_name}/artifacts"),
    ("get", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"),
    ("delete", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"),
    ("get", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags"),
    ("post", "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags"),
    (
        "delete",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags/{tag_name}",
    ),
    ("get", "/projects/{project_name}/retention"),
    ("put", "/projects/{project_name}/retention"),
    ("delete", "/projects/{project_name}/retention"),
    ("post", "/projects/{project_name}/retention/executions"),
    ("get", "/projects/{project_name}/webhook/policies"),
    ("post", "/projects/{project_name}/webhook/policies"),
    ("get", "/projects/{project_name}/webhook/policies/{webhook_policy_id}"),
    ("put", "/projects/{project_name}/webhook/policies/{webhook_policy_id}"),
    ("delete", "/projects/{project_name}/webhook/policies/{webhook_policy_id}"),
    ("get", "/projects/{project_name}/webhook/events"),
    ("get", "/projects/{project_name}/webhook/policies/{webhook_policy_id}/executions"),
    (
        "get",
        "/projects/{project_name}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks",
    ),
    (
        "get",
        "/projects/{project_name}/webhook/policies/{webhook_policy_id}/executions/{execution_id}/tasks/{task_id}/log",
    ),
    ("get", "/projects/{project_name}/immutabletagrules"),
    ("post", "/projects/{project_name}/immutabletagrules"),
    ("put", "/projects/{project_name}/immutabletagrules/{immutable_rule_id}"),
    ("delete", "/projects/{project_name}/immutabletagrules/{immutable_rule_id}"),
    ("get", "/projects/{project_name}/tag-naming-rule"),
    ("put", "/projects/{project_name}/tag-naming-rule"),
    ("get", "/projects/{project_name}/summary"),
    ("put", "/projects/{project_name}/quota"),
    ("get", "/projects/{project_name}/trusted-keys"),
    ("post", "/projects/{project_name}/trusted-keys"),
    ("delete", "/projects/{project_name}/trusted-keys/{key_name}"),
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/accessories",
    ),
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/build_history",
    ),
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/layers",
    ),
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/referrers",
    ),
    (
        "post",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/scan",
    ),
    (
        "get",
        "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions/vulnerabilities",
    ),
    ("get", "/vulnerability-database"),
    ("get", "/system/CVEAllowlist"),
    ("put", "/system/CVEAllowlist"),
    ("get", "/audit-logs"),
    ("get", "/audit-logs/checkpoint"),
    ("post", "/audit-logs/checkpoint"),
    ("get", "/system/gc"),
    ("get", "/system/gc/{gc_id}"),
    ("get", "/system/gc/{gc_id}/log"),
    ("get", "/system/gc/schedule"),
    ("post", "/system/gc/schedule"),
    ("get", "/registries"),
    ("post", "/registries"),
    ("get", "/registries/{id}"),
    ("put", "/registries/{id}"),
    ("delete", "/registries/{id}"),
    ("post", "/registries/ping"),
    ("get", "/scanners"),
    ("post", "/scanners"),
    ("get", "/scanners/{registration_id}"),
    ("put", "/scanners/{registration_id}"),
    ("patch", "/scanners/{registration_id}"),
    ("delete", "/scanners/{registration_id}"),
    ("get", "/scanners/{registration_id}/metadata"),
    ("post", "/scanners/ping"),
    ("get", "/replication/policies"),
    ("post", "/replication/policies"),
    ("get", "/replication/policies/{id}"),
    ("put", "/replication/policies/{id}"),
    ("delete", "/replication/policies/{id}"),
    ("get", "/replication/executions"),
    ("post", "/replication/executions"),
    ("get", "/replication/executions/{id}"),
    ("put", "/replication/executions/{id}"),
    ("get", "/replication/executions/{id}/tasks"),
    ("get", "/replication/executions/{id}/tasks/{task_id}/log"),
];

/// Routes whose success needs a resource-specific body or existing policy:
/// the live check only asserts they are routed (management_policies.rs tests them).
fn needs_its_own_body(path: &str) -> bool {
    [
        "/retention",
        "/immutabletagrules",
        "/tag-naming-rule",
        "/quota",
        "{gc_id}",
        "/registries",
        "/scanners",
        "/replication",
        "/trusted-keys",
        "/checkpoint",
        "/scan",
        "/additions/vulnerabilities",
        "/system/CVEAllowlist",
        "/webhook/",
        "/scanAll",
    ]
    .iter()
    .any(|p| path.contains(p))
}

/// Routes of [`EXPECTED_ROUTES`] that need accounts ([`berth_registry::Auth`]).
const ACCOUNT_ROUTES: &[(&str, &str)] = &[
    ("post", "/ldap/ping"),
    ("get", "/ldap/users/search"),
    ("get", "/ldap/groups/search"),
    ("post", "/ldap/users/import"),
    ("get", "/usergroups"),
    ("post", "/usergroups"),
    ("get", "/usergroups/search"),
    ("get", "/usergroups/{group_id}"),
    ("put", "/usergroups/{group_id}"),
    ("delete", "/usergroups/{group_id}"),
    ("post", "/projects"),
    ("put", "/projects/{project_name}"),
    ("delete", "/projects/{project_name}"),
    ("get", "/projects/{project_name}/members"),
    ("post", "/projects/{project_name}/members"),
    ("get", "/projects/{project_name}/members/{mid}"),
    ("put", "/projects/{project_name}/members/{mid}"),
    ("delete", "/projects/{project_name}/members/{mid}"),
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/{user_id}"),
    ("put", "/users/{user_id}"),
    ("delete", "/users/{user_id}"),
    ("put", "/users/{user_id}/password"),
    ("put", "/users/{user_id}/sysadmin"),
    ("put", "/users/{user_id}/cli_secret"),
    ("post", "/system/oidc/ping"),
    ("get", "/robots"),
    ("post", "/robots"),
    ("get", "/robots/{robot_id}"),
    ("put", "/robots/{robot_id}"),
    ("patch", "/robots/{robot_id}"),
    ("delete", "/robots/{robot_id}"),
];

#[tokio::test]
async fn openapi_document_matches_the_live_routes() {
    let reg = TestRegistry::start().await;
    reg.push_image("p/a/b", "v1", "x").await;
    let (status, doc, _, _) = get_json(&reg, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], API);
    assert_eq!(
        doc,
        serde_json::to_value(berth_server::api::openapi()).unwrap()
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch", "head"].contains(&method.as_str()) {
                assert!(op["responses"].is_object(), "{method} {path} has responses");
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = EXPECTED_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Every documented operation is routed: with real parameters it answers
    // neither 405 nor the "no such endpoint" 404. Deletes go last.
    let mut ops: Vec<_> = documented.iter().collect();
    ops.sort_by_key(|(m, p)| (m == "delete", std::cmp::Reverse(p.len())));
    for (method, path) in ops {
        let concrete = path
            .replace("{project_name}", "p")
            .replace("{repository_name}", "a%252Fb")
            .replace("{reference}", "v1")
            .replace("{tag_name}", "v9")
            .replace("{immutable_rule_id}", "1")
            .replace("{mid}", "1")
            .replace("{robot_id}", "1")
            .replace("{gc_id}", "1")
            .replace("{id}", "1")
            .replace("{task_id}", "1")
            .replace("{user_id}", "1")
            .replace("{group_id}", "1");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let query = if method == "head" {
            "?project_name=p"
        } else {
            ""
        };
        let mut req = reg.request(m, &format!("{API}{concrete}{query}"));
        if method == "post" {
            req = req.json(&json!({"name": "v9"}));
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            method == "head" || !body.contains("no such endpoint"),
            "{method} {path} is documented but not routed"
        );
        if ACCOUNT_ROUTES.iter().any(|(m, p)| m == method && p == path) {
            // Accounts need an account service, which this server lacks:
            // routed, and refused in Harbor's shape (tested with one in
            // management_accounts.rs).
            assert!(status.is_client_error(), "{method} {path}: {status} {body}");
            continue;
        }
        if needs_its_own_body(path) || (method == "post" && path == "/system/gc/schedule") {
            continue;
        }
        if path == "/users/current" {
            // Anonymous without authentication: routed, and 401 in Harbor's shape.
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            continue;
        }
        assert!(status.is_success(), "{method} {concrete}: {status} {body}");
    }
}

/// A second server on the same data directory as `reg`, with HTTP Basic
/// authentication on; returns its base URL and the account service.
async fn start_with_basic_auth(
    reg: &TestRegistry,
) -> (
    String,
    std::sync::Arc<berth_registry::Auth>,
    tokio::task::JoinHandle<()>,
) {
    let (state, auth) =
        state_with_accounts(reg, berth_registry::auth::AuthMode::Basic, "admin-password").await;
    let (base, task) = serve(state).await;
    (base, auth, task)
}

#[tokio::test]
async fn with_authentication_private_projects_need_a_member_and_changes_need_the_role() {
    let reg = TestRegistry::start().await;
    reg.push_image("team/app", "v1", "a").await;
    reg.push_image("library/pub", "v1", "b").await;
    let (base, auth, task) = start_with_basic_auth(&reg).await;
    auth.create_project("team", false, None).await.unwrap();
    auth.create_user("bob", "bob-password", "", "", false)
        .await
        .unwrap();
    auth.create_user("eve", "eve-password", "", "", false)
        .await
        .unwrap();
    auth.set_member("team", "bob", berth_registry::auth::Role::Guest, None)
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let url = |p: &str| format!("{base}{API}{p}");
    let get = |p: &str, who: Option<(&str, &str)>| {
        let mut r = c.get(url(p));
        if let Some((u, pw)) = who {
            r = r.basic_auth(u, Some(pw));
        }
        r.send()
    };
    let list = "/projects/team/repositories";
    assert_eq!(
        harbor_error(get(list, None).await.unwrap()).await,
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    assert_eq!(
        harbor_error(get(list, Some(("eve", "eve-password"))).await.unwrap()).await,
        (StatusCode::FORBIDDEN, "FORBIDDEN".into())
    );
    assert_eq!(
        harbor_error(get(list, Some(("bob", "wrong-password"))).await.unwrap()).await,
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    for who in [("bob", "bob-password"), ("admin", "admin-password")] {
        let r = get(list, Some(who)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{who:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(names(&v), ["team/app"]);
        assert!(v[0]["project_id"].as_i64().unwrap() > 0);
    }
    // library is public: anyone may read, only members may change.
    let r = get("/projects/library/repositories", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .delete(url("/projects/library/repositories/pub"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    // A guest may not delete; a system administrator may.
    let del = url("/projects/team/repositories/app/artifacts/v1");
    let r = c
        .delete(&del)
        .basic_auth("bob", Some("bob-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::FORBIDDEN, "FORBIDDEN".into())
    );
    let r = c
        .delete(&del)
        .basic_auth("admin", Some("admin-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The current user.
    let r = get("/users/current", Some(("bob", "bob-password")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["username"], "bob");
    assert_eq!(v["sysadmin_flag"], false);
    assert!(v["user_id"].as_i64().unwrap() > 0);
    let r = get("/users/current", None).await.unwrap();
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into())
    );
    // Search shows only what the caller may list.
    let r = get("/search?q=app", None).await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["repository"], json!([]));
    task.abort();
}

#[tokio::test]
async fn projects_are_listed_from_repository_names_and_checked_with_head() {
    let reg = TestRegistry::start().await;
    reg.push_image("team/app", "v1", "a").await;
    reg.push_image("team/web", "v1", "b").await;
    reg.push_image("ops/db", "v1", "c").await;
    let (status, v, total, _) = get_json(&reg, "/projects").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&v), ["library", "ops", "team"]);
    assert_eq!(total.as_deref(), Some("3"));
    let (_, v, _, _) = get_json(&reg, "/projects/team").await;
    assert_eq!(v["name"], "team");
    assert_eq!(v["repo_count"], 2);
    assert_eq!(v["metadata"]["public"], "true");
    let (_, v, total, link) = get_json(&reg, "/projects?q=name%3D~a&page_size=1").await;
    assert_eq!(names(&v), ["library"]);
    assert_eq!(total.as_deref(), Some("2"));
    assert!(link.unwrap().contains("rel=\"next\""));
    let (_, v, _, _) = get_json(&reg, "/projects?name=op").await;
    assert_eq!(names(&v), ["ops"]);
    let r = reg
        .req(Method::HEAD, &format!("{API}/projects?project_name=ops"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .req(Method::HEAD, &format!("{API}/projects?project_name=nope"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg.req(Method::GET, &format!("{API}/projects/nope")).await;
    assert_eq!(
        harbor_error(r).await,
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
}
