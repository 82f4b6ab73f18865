//! End to end with the real docker CLI and a private daemon
//! (`shared/testdata/start-dockerd.sh`): load, tag, push, remove, pull (by tag, by
//! digest, an index with --platform), run, and `docker manifest inspect`.

mod support;

use support::*;

#[test]
fn docker_push_pull_run_and_manifest_inspect() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let reg = berth.addr.clone();
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
    let name = format!("{reg}/e2e/docker-busybox:1");
    d.docker(&["tag", "test/busybox:amd64", &name]);
    let push = d.docker(&["push", &name]);
    let digest = push
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .expect("digest in docker push output")
        .to_string();

    d.docker(&["rmi", &name, "test/busybox:amd64"]);
    d.docker(&["pull", &name]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "echo",
        "hello from berth",
    ]);
    assert_eq!(out.trim(), "hello from berth");

    // By digest.
    d.docker(&["rmi", &name]);
    let by_digest = format!("{reg}/e2e/docker-busybox@{digest}");
    d.docker(&["pull", &by_digest]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &by_digest,
        "cat",
        "/etc/hostname",
    ]);
    let _ = out;

    // A multi-platform index pushed with skopeo, pulled by docker for arm64.
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", img.join("busybox").display()),
        &format!("docker://{reg}/e2e/multi:1"),
    ]);
    let multi = format!("{reg}/e2e/multi:1");
    d.docker(&["pull", "--platform", "linux/arm64", &multi]);
    let arch = d.docker(&["image", "inspect", "--format", "{{.Architecture}}", &multi]);
    assert_eq!(arch.trim(), "arm64");

    let inspect: serde_json::Value =
        serde_json::from_str(&d.docker(&["manifest", "inspect", "--insecure", &multi])).unwrap();
    let platforms: Vec<String> = inspect["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(platforms, vec!["amd64", "arm64"]);

    let (code, report) = fsck(data.path());
    assert_eq!(code, 0, "{report}");
}

/// `docker` with its own client config (credentials) directory.
fn docker_as(d: &Dockerd, config: &std::path::Path, args: &[&str]) -> std::process::Output {
    d.docker_as(config, args)
}

#[test]
fn docker_login_push_as_developer_pull_as_guest_and_refusals() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let pw = [("BERTH_NEW_PASSWORD", "password-123")];
    berth_ok(dir, &["project", "create", "team"], &[]);
    berth_ok(dir, &["user", "add", "dev"], &pw);
    berth_ok(dir, &["user", "add", "guest"], &pw);
    berth_ok(dir, &["project", "member", "team", "dev", "developer"], &[]);
    berth_ok(dir, &["project", "member", "team", "guest", "guest"], &[]);
    let berth = Berth::start_with(dir, &["--auth-mode", "token"]);
    let reg = berth.addr.clone();
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let fails = |out: std::process::Output| {
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_lowercase()
    };

    d.docker(&[
        "load",
        "-i",
        img.join("busybox-amd64.docker.tar").to_str().unwrap(),
    ]);
    let name = format!("{reg}/team/app:1");
    d.docker(&["tag", "test/busybox:amd64", &name]);
    // Without login: the push is refused (docker words an anonymous token's
    // insufficient scope as "denied", as with Docker Hub).
    let err = fails(docker_as(&d, cfg, &["push", &name]));
    assert!(
        err.contains("unauthorized") || err.contains("denied"),
        "{err}"
    );
    // A wrong password does not log in.
    let err = fails(docker_as(
        &d,
        cfg,
        &["login", "-u", "dev", "-p", "wrong-password", &reg],
    ));
    assert!(
        err.contains("unauthorized") || err.contains("incorrect"),
        "{err}"
    );
    // The developer logs in and pushes.
    ok(docker_as(
        &d,
        cfg,
        &["login", "-u", "dev", "-p", "password-123", &reg],
    ));
    ok(docker_as(&d, cfg, &["push", &name]));
    // `docker search` finds it for a member (the daemon's /v1/search, with
    // the login's credentials).
    let search = |cfg: &std::path::Path| {
        ok(docker_as(
            &d,
            cfg,
            &["search", "--format", "{{.Name}}", &format!("{reg}/app")],
        ))
    };
    assert_eq!(search(cfg).trim(), "team/app");
    // The guest pulls, but cannot push: "denied".
    ok(docker_as(
        &d,
        cfg,
        &["login", "-u", "guest", "-p", "password-123", &reg],
    ));
    d.docker(&["rmi", &name]);
    ok(docker_as(&d, cfg, &["pull", &name]));
    let other = format!("{reg}/team/app:guest");
    d.docker(&["tag", &name, &other]);
    let err = fails(docker_as(&d, cfg, &["push", &other]));
    assert!(err.contains("denied"), "{err}");
    // Logged out: the private project's image cannot be pulled, nor found.
    ok(docker_as(&d, cfg, &["logout", &reg]));
    assert_eq!(search(cfg).trim(), "");
    d.docker(&["rmi", &name, &other]);
    let err = fails(docker_as(&d, cfg, &["pull", &name]));
    assert!(
        err.contains("unauthorized")
            || err.contains("denied")
            || err.contains("authentication required"),
        "{err}"
    );
}

/// Bytes the process has read from sockets and files so far (`rchar` of
/// `/proc/<pid>/io`): what a push sent it, give or take database pages.
fn bytes_read(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .expect("proc io")
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar")
}

/// Cross-repository mounts work under token auth (docs/security.md): the push
/// of the same image into a second repository mounts its layers instead of
/// sending them again, because the mount's challenge names the source's pull
/// scope as well.
#[test]
fn cross_repository_mounts_work_under_token_auth_with_docker() {
    let img = images();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    berth_ok(dir, &["project", "create", "team"], &[]);
    let berth = Berth::start_with(dir, &["--auth-mode", "token"]);
    let reg = berth.addr.clone();
    // The bytes the server reads are the measure: no SBOM worker reading
    // the layers meanwhile.
    let r = support::http::send(support::http::admin(
        reqwest::Client::new()
            .put(berth.url("/api/v2.0/projects/team"))
            .json(&serde_json::json!({"metadata": {"auto_sbom_generation": "false"}})),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    d.docker(&[
        "load",
        "-i",
        img.join("busybox-amd64.docker.tar").to_str().unwrap(),
    ]);
    ok(docker_as(
        &d,
        cfg,
        &["login", "-u", "admin", "-p", ADMIN_PASSWORD, &reg],
    ));
    let first = format!("{reg}/team/base:1");
    let second = format!("{reg}/team/other:1");
    d.docker(&["tag", "test/busybox:amd64", &first]);
    d.docker(&["tag", "test/busybox:amd64", &second]);
    let before = bytes_read(berth.pid());
    ok(docker_as(&d, cfg, &["push", &first]));
    let first_push = bytes_read(berth.pid()) - before;
    let before = bytes_read(berth.pid());
    let out = ok(docker_as(&d, cfg, &["push", &second]));
    let second_push = bytes_read(berth.pid()) - before;
    assert!(
        out.contains("Mounted from team/base"),
        "docker did not mount: {out}"
    );
    // No layer was sent again: every layer line of the second push is a mount
    // (or already there), and the server read less than in the first push.
    assert!(
        !out.lines().any(|l| l.contains(": Pushed")),
        "docker re-sent a layer: {out}"
    );
    // What the process read (rchar): on SQLite the first push reads the
    // layers it installs and the second does not. On PostgreSQL neither
    // push reads files the size of a layer, so the count tells nothing
    // there; the push lines above still do.
    if database_for(dir).is_none() {
        assert!(
            second_push < first_push,
            "the second push sent {second_push} bytes, the first {first_push}"
        );
    }
}
