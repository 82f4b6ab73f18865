//! Prometheus metrics, `/api/v2.0/statistics` and the Grafana dashboard,
//! against the real binary: skopeo pushes and pulls a real image, then the
//! exposition must count it, name its routes by template, follow
//! Prometheus' naming rules, and export every metric the dashboard uses.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use support::http::{admin, send};
use support::*;

/// One sample line of the text exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The `# TYPE` of every metric family, and every sample.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        // Label values here never contain `",`.
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").expect("label");
            map.insert(k.to_string(), v.trim_end_matches('"').to_string());
        }
        samples.push(Sample {
            name: name.to_string(),
            labels: map,
            value: value.parse().expect("value"),
        });
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn scrape(b: &Berth) -> String {
    let client = reqwest::Client::new();
    let r = send(admin(client.get(b.url("/metrics"))));
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[test]
fn metrics_count_real_pushes_and_pulls_and_follow_prometheus_conventions() {
    let data = tempfile::tempdir().unwrap();
    let b = Berth::start_with(data.path(), &["--auth-mode", "token"]);
    let client = reqwest::Client::new();
    let creds = format!("admin:{ADMIN_PASSWORD}");

    // Scraping needs a system administrator; anonymous callers get 401
    // with a Basic challenge (what Prometheus' basic_auth answers).
    let r = send(client.get(b.url("/metrics")));
    assert_eq!(r.status, 401);
    assert!(r
        .headers
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap().starts_with("Basic")));

    let image = images().join("busybox");
    let dest = format!("docker://{}/library/busybox:1", b.addr);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:latest", image.display()),
        &dest,
    ]);
    let out = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &format!("dir:{}", out.path().display()),
    ]);
    let layer_bytes: u64 = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let r = send(admin(client.get(b.url("/api/v2.0/projects/library"))));
    assert_eq!(r.status, 200);
    // A GC run, so its duration and outcome are exported too.
    let r = send(
        admin(client.post(b.url("/api/v2.0/system/gc/schedule")))
            .json(&serde_json::json!({"schedule": {"type": "Manual"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let deadline = Instant::now() + Duration::from_secs(30);
    let (types, samples) = loop {
        let (types, samples) = parse(&scrape(&b));
        if value(&samples, "berth_gc_runs_total", &[]) >= 1.0 {
            break (types, samples);
        }
        assert!(Instant::now() < deadline, "the GC run was never counted");
        std::thread::sleep(Duration::from_millis(200));
    };

    // What skopeo did, counted.
    let manifests = "/v2/{name}/manifests/{reference}";
    assert_eq!(
        value(
            &samples,
            "berth_manifest_pushes_total",
            &[("project", "library")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "berth_manifest_pulls_total",
            &[("project", "library")]
        ),
        1.0
    );
    assert!(
        value(
            &samples,
            "berth_http_requests_total",
            &[("route", manifests), ("method", "PUT"), ("status", "201")]
        ) >= 1.0
    );
    assert!(
        value(
            &samples,
            "berth_http_requests_total",
            &[
                ("route", "/api/v2.0/projects/{project_name}"),
                ("method", "GET"),
                ("status", "200")
            ]
        ) >= 1.0,
        "management API requests are labelled by their route template"
    );
    // Bytes: the pulled blobs went out, the pushed ones came in.
    let blobs = "/v2/{name}/blobs/{digest}";
    assert!(
        value(&samples, "berth_http_sent_bytes_total", &[("route", blobs)])
            >= layer_bytes as f64 - 1024.0
    );
    assert!(
        value(&samples, "berth_http_received_bytes_total", &[])
            >= value(&samples, "berth_storage_bytes", &[]) - 4096.0
    );
    assert!(
        value(
            &samples,
            "berth_http_request_duration_seconds_count",
            &[("route", manifests)]
        ) >= 2.0
    );
    // A management API body is counted under its route.
    assert!(
        value(
            &samples,
            "berth_http_received_bytes_total",
            &[("route", "/api/v2.0/system/gc/schedule")]
        ) > 0.0
    );
    // Database figures: the stored image, as the statistics API says.
    let stats = send(admin(client.get(b.url("/api/v2.0/statistics")))).json();
    let total = stats["total_storage_consumption"].as_f64().unwrap();
    assert!(total > 0.0);
    assert_eq!(value(&samples, "berth_storage_bytes", &[]), total);
    assert_eq!(
        value(
            &samples,
            "berth_project_storage_bytes",
            &[("project", "library")]
        ),
        total
    );
    assert_eq!(value(&samples, "berth_repositories", &[]), 1.0);
    assert_eq!(stats["total_repo_count"], 1);
    assert_eq!(stats["public_repo_count"], 1);
    assert!(value(&samples, "berth_db_query_duration_seconds_count", &[]) > 0.0);
    assert!(value(&samples, "berth_db_connections_max", &[]) >= 1.0);

    // Naming: berth_ prefix, counters end in _total, no unbounded labels
    // (no digest, repository or user name anywhere in a label value).
    for (name, kind) in &types {
        assert!(name.starts_with("berth_"), "{name}");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
        if kind == "histogram" {
            assert!(name.ends_with("_seconds"), "{name}");
        }
    }
    for s in &samples {
        for (k, v) in &s.labels {
            assert!(
                !v.contains("sha256") && !v.contains("busybox") && !v.contains("admin"),
                "{} has an unbounded label {k}={v}",
                s.name
            );
        }
    }

    // The Grafana dashboard uses only exported metrics.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let re = regex::Regex::new(r"berth_[a-z_]+").unwrap();
    let used: BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| re.find_iter(e).map(|m| m.as_str().to_string()))
        .collect();
    for name in &used {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "the dashboard uses {name}, which /metrics does not export"
        );
    }
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn metrics_listen_serves_without_credentials_and_metrics_can_be_turned_off() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = data.path().join("berth.toml");
    std::fs::write(
        &config,
        format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let b = Berth::start_with(
        data.path(),
        &["--auth-mode", "token", "--config", config.to_str().unwrap()],
    );
    let client = reqwest::Client::new();
    let r = send(client.get(format!("http://127.0.0.1:{port}/metrics")));
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/plain; version=0.0.4")));
    assert!(r
        .text()
        .contains("# TYPE berth_login_failures_total counter"));
    // The main listener still wants an administrator.
    assert_eq!(send(client.get(b.url("/metrics"))).status, 401);
    drop(b);

    let off = data.path().join("off.toml");
    std::fs::write(&off, "[metrics]\nenabled = false\n").unwrap();
    let b = Berth::start_with(
        data.path(),
        &["--auth-mode", "token", "--config", off.to_str().unwrap()],
    );
    assert_eq!(send(admin(client.get(b.url("/metrics")))).status, 404);
}

#[test]
fn statistics_and_docker_search_show_only_what_the_caller_may_pull() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let pw = [("BERTH_NEW_PASSWORD", "password-123")];
    berth_ok(dir, &["project", "create", "team"], &[]);
    berth_ok(dir, &["user", "add", "dev"], &pw);
    berth_ok(dir, &["user", "add", "outsider"], &pw);
    berth_ok(dir, &["project", "member", "team", "dev", "guest"], &[]);
    let b = Berth::start_with(dir, &["--auth-mode", "token"]);
    let creds = format!("admin:{ADMIN_PASSWORD}");
    let image = format!("oci:{}:latest", images().join("busybox").display());
    for repo in [
        "library/app-one",
        "library/app-two",
        "team/app-three",
        "team/other",
    ] {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &image,
            &format!("docker://{}/{repo}:1", b.addr),
        ]);
    }
    let client = reqwest::Client::new();
    let search = |who: Option<&str>, query: &str| {
        let r = client.get(b.url(&format!("/v1/search?{query}")));
        let r = match who {
            Some(user) => r.basic_auth(user, Some("password-123")),
            None => r,
        };
        let r = send(r);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Anonymous: the public project only; a member: its private project too.
    let v = search(None, "q=app");
    assert_eq!(names(&v), ["library/app-one", "library/app-two"]);
    assert_eq!(v["num_results"], 2);
    let v = search(Some("dev"), "q=APP");
    assert_eq!(
        names(&v),
        ["library/app-one", "library/app-two", "team/app-three"]
    );
    assert_eq!(search(Some("outsider"), "q=app")["num_results"], 2);
    // Paging: n per page, page from 1, num_pages over everything visible.
    let v = search(Some("dev"), "q=app&n=2&page=2");
    assert_eq!(names(&v), ["team/app-three"]);
    assert_eq!(
        (v["num_pages"].as_u64(), v["page"].as_u64()),
        (Some(2), Some(2))
    );
    // Wrong credentials are refused, not treated as anonymous.
    let r = send(
        client
            .get(b.url("/v1/search?q=app"))
            .basic_auth("dev", Some("wrong")),
    );
    assert_eq!(r.status, 401);
    // The daemon's ping.
    let r = send(client.get(b.url("/v1/_ping")));
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-docker-registry-standalone"], "true");

    // Statistics: counts of what the caller may see; totals for admins only.
    let stats = |who: &str, pass: &str| {
        send(
            client
                .get(b.url("/api/v2.0/statistics"))
                .basic_auth(who, Some(pass)),
        )
    };
    let v = stats("dev", "password-123").json();
    assert_eq!(v["public_project_count"], 1);
    assert_eq!(v["public_repo_count"], 2);
    assert_eq!(v["private_project_count"], 1);
    assert_eq!(v["private_repo_count"], 2);
    assert!(v.get("total_repo_count").is_none(), "{v}");
    let v = stats("outsider", "password-123").json();
    assert_eq!(v["private_project_count"], 0);
    let v = stats("admin", ADMIN_PASSWORD).json();
    assert_eq!(
        (
            v["total_project_count"].as_u64(),
            v["total_repo_count"].as_u64()
        ),
        (Some(2), Some(4))
    );
    assert_eq!(send(client.get(b.url("/api/v2.0/statistics"))).status, 401);
}
