//! The web UI in a real browser (docs/ui.md): skopeo pushes real images,
//! then headless Chromium, driven by playwright-core
//! (`tests/browser/ui.mjs`), signs in, finds them, checks tags, platforms,
//! layers, configuration and an attached referrer, deletes a tag after confirming, and
//! sees a guest refused. Screenshots land in `target/tmp/ui-screenshots/`.
//!
//! Needs `node`, Debian's `chromium` and `npm ci` in `tests/browser`
//! (scripts/test.sh installs them; this test runs `npm ci` itself when the
//! packages are missing).

mod support;

use std::path::Path;
use std::process::Command;

use support::http::{admin, send};
use support::*;

const GUEST: (&str, &str) = ("gwen", "Guest-Password-1");
const ATTESTATION: &str = "application/vnd.example.attestation.v1+json";

fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
}

fn playwright_installed() {
    if browser_dir().join("node_modules/playwright-core").exists() {
        return;
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(browser_dir()));
}

#[test]
fn the_web_ui_shows_what_skopeo_pushed_and_deletes_a_tag_for_those_allowed() {
    let data = tempfile::tempdir().unwrap();
    let b = Berth::start_with(data.path(), &["--auth-mode", "token"]);
    let client = reqwest::Client::new();
    let creds = format!("admin:{ADMIN_PASSWORD}");
    let image = images().join("busybox");
    for (src, tag) in [
        ("latest", "latest"),
        ("latest", "stable"),
        ("multi", "multi"),
    ] {
        skopeo(&[
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("oci:{}:{src}", image.display()),
            &format!("docker://{}/library/busybox:{tag}", b.addr),
        ]);
    }
    let latest = recorded_digest("oci:busybox:latest");
    let multi = recorded_digest("oci:busybox:multi");
    // An attestation attached to the image, pushed with a registry token
    // as OCI 1.1 clients do.
    let r = send(admin(client.get(b.url(
        "/v2/token?service=berth&scope=repository:library/busybox:pull,push",
    ))));
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().expect("token").to_string();
    let referrer = support::http::push_referrer(
        &format!("http://{}", b.addr),
        "library/busybox",
        ("application/vnd.oci.image.manifest.v1+json", &latest, 587),
        ATTESTATION,
        &|r: reqwest::RequestBuilder| r.bearer_auth(&token),
    );

    // What the artifact page reads: the layers with their build steps, the
    // history, the referrers.
    let artifact = |digest: &str, what: &str| {
        format!("/api/v2.0/projects/library/repositories/busybox/artifacts/{digest}/{what}")
    };
    let r = send(admin(
        client.get(b.url(&artifact(&latest, "additions/layers"))),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let layers = r.json();
    assert_eq!(layers.as_array().unwrap().len(), 2, "{layers}");
    assert_eq!(layers[0]["size"], 1084573);
    assert_eq!(layers[1]["size"], 315);
    assert_eq!(layers[1]["created_by"], "make-images.sh: /etc files");
    let r = send(admin(
        client.get(b.url(&artifact(&latest, "additions/build_history"))),
    ));
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let r = send(admin(
        client.get(b.url(&artifact(&multi, "additions/layers"))),
    ));
    assert_eq!(r.json(), serde_json::json!([]), "an index has no layers");
    let r = send(admin(client.get(b.url(&artifact(&latest, "referrers")))));
    assert_eq!(r.status, 200, "{}", r.text());
    let referrers = r.json();
    assert!(
        referrers
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["digest"] == referrer.as_str()
                && x["artifact_type"] == ATTESTATION
                && x["annotations"]["org.example.test"] == "library/busybox"),
        "{referrers}"
    );
    // Wrong credentials read nothing.
    let r = send(
        client
            .get(b.url(&artifact(&latest, "referrers")))
            .basic_auth("nobody", Some("x")),
    );
    assert_eq!(r.status, 401);

    let r = send(
        admin(client.post(b.url("/api/v2.0/users"))).json(&serde_json::json!({
            "username": GUEST.0, "password": GUEST.1,
            "email": "gwen@example.com", "realname": "Gwen"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects/library/members")))
            .json(&serde_json::json!({"role_id": 3, "member_user": {"username": GUEST.0}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // An OIDC-type user group (no directory needed) for the Members tab.
    let r = send(
        admin(client.post(b.url("/api/v2.0/usergroups")))
            .json(&serde_json::json!({"group_name": "qa", "group_type": 3})),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    playwright_installed();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let out = Command::new("node")
        .arg(browser_dir().join("ui.mjs"))
        .current_dir(browser_dir())
        .env("BERTH_URL", format!("http://{}", b.addr))
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("BERTH_GUEST", format!("{}:{}", GUEST.0, GUEST.1))
        .env("BERTH_DIGEST_LATEST", &latest)
        .env("BERTH_DIGEST_MULTI", &multi)
        .env("BERTH_REFERRER", &referrer)
        .env("BERTH_REFERRER_TYPE", ATTESTATION)
        .env("BERTH_SCREENSHOTS", &shots)
        .output()
        .expect("run node (scripts/test.sh installs it)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser checks failed:\n{log}");
    assert!(log.contains("all checks passed"), "{log}");
    for shot in [
        "03-repository.png",
        "04-artifact.png",
        "09-guest-refused.png",
    ] {
        assert!(shots.join(shot).exists(), "{shot} was not saved");
    }

    // What the browser did, seen through the API: `stable` is gone, the
    // guest's attempt on `latest` changed nothing.
    let tags = |digest: &str| -> Vec<String> {
        let r = send(admin(client.get(b.url(&artifact(digest, "tags")))));
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(tags(&latest), vec!["latest".to_string()]);
    assert_eq!(tags(&multi), vec!["multi".to_string()]);
    let members = send(admin(
        client.get(b.url("/api/v2.0/projects/library/members")),
    ))
    .text();
    assert!(members.contains("\"entity_type\":\"g\""), "{members}");
    // The sign-ins are in the audit trail.
    let r = send(admin(
        client.get(b.url("/api/v2.0/audit-logs?q=operation%3Dlogin&page_size=50")),
    ));
    let entries = r.text();
    assert!(entries.contains("web UI sign-in"), "{entries}");
}
