//! Signatures (docs/supply-chain.md), end to end: cosign signatures made by
//! the test as cosign makes them (openssl signs the simple-signing payload
//! with ECDSA P-256, Ed25519 or RSA keys; Python oras pushes them in the tag
//! form and as OCI 1.1 referrers), verified by berth against the project's
//! trusted keys when pushed and when the keys change, listed as Harbor
//! accessories, recorded in the audit trail, and the signature pull gate
//! (`enable_content_trust_cosign`) seen through skopeo and docker.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::http::{admin, created_id, send};
use support::*;

/// A key pair made by openssl: `(private PEM path, public PEM text)`.
fn keypair(dir: &Path, name: &str, genpkey: &[&str]) -> (String, String) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    run(Command::new("openssl")
        .arg("genpkey")
        .args(genpkey)
        .arg("-out")
        .arg(&private));
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public));
    (
        private.to_string_lossy().to_string(),
        std::fs::read_to_string(public).unwrap(),
    )
}

/// `(digest, size)` of `reference`'s manifest as stored.
fn manifest_of(reference: &str) -> (String, usize) {
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", reference]);
    let digest = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, raw.as_bytes()))
    );
    (digest, raw.len())
}

/// Signs `subject` of `repo` with `key` (see tests/clients/cosign_sign.py);
/// returns the signature manifest's digest.
fn sign(
    b: &Berth,
    repo: &str,
    subject: &(String, usize),
    key: &str,
    form: &str,
    mode: &str,
) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/cosign_sign.py");
    let work = tempfile::tempdir().unwrap();
    let size = if form == "referrer-index" {
        format!("index:{}", subject.1)
    } else {
        subject.1.to_string()
    };
    let form = form.trim_end_matches("-index");
    let out = run(Command::new("python3")
        .arg(script)
        .args([b.addr.as_str(), repo, &subject.0, &size, key, form])
        .arg(work.path())
        .arg(mode));
    out.lines()
        .find_map(|l| l.strip_prefix("signature "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

/// The accessories of `reference` in `team/<repo>`: `(digest, status, key)`.
fn accessories(b: &Berth, repo: &str, reference: &str) -> Vec<(String, String, Option<String>)> {
    let r = send(admin(reqwest::Client::new().get(b.url(&format!(
        "/api/v2.0/projects/team/repositories/{repo}/artifacts/{reference}/accessories"
    )))));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "signature.cosign", "{a}");
            let v = &a["verification"];
            (
                a["digest"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
                v["key"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn add_key(b: &Berth, name: &str, pem: &str) -> Value {
    let r = send(
        admin(reqwest::Client::new().post(b.url("/api/v2.0/projects/team/trusted-keys")))
            .json(&json!({"name": name, "public_key": pem})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// `skopeo copy` of `reference` to a directory: `Ok` or skopeo's error text.
fn pull(reference: &str, all: bool) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--insecure-policy", "copy", "--src-tls-verify=false"];
    if all {
        args.push("--all");
    }
    let dest = format!("dir:{}", dir.path().display());
    args.extend([reference, dest.as_str()]);
    let out = Command::new("skopeo").args(&args).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[test]
fn cosign_signatures_are_verified_listed_audited_and_gate_pulls() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let b = Berth::start_with(&data, &["--auth-mode", "none"]);
    let r = send(
        admin(reqwest::Client::new().post(b.url("/api/v2.0/projects")))
            .json(&json!({"project_name": "team", "metadata": {"public": "true"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let img = images();
    let push = |tag: &str, to: &str, all: bool| {
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        if all {
            args.push("--all");
        }
        let src = format!("oci:{}:{tag}", img.join("busybox").display());
        let dest = format!("docker://{}/team/{to}", b.addr);
        args.extend([src.as_str(), dest.as_str()]);
        skopeo(&args);
    };
    push("amd64", "app:v1", false);
    push("arm64", "app:unsigned", false);
    push("latest", "other:v1", false);
    push("multi", "multi:v1", true);
    push("whiteout", "bundled:v1", false);
    let at = |r: &str| format!("docker://{}/team/{r}", b.addr);
    let v1 = manifest_of(&at("app:v1"));
    let unsigned = manifest_of(&at("app:unsigned"));
    let other = manifest_of(&at("other:v1"));
    let multi = manifest_of(&at("multi:v1"));
    let bundled = manifest_of(&at("bundled:v1"));

    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let ec = keypair(
        &keys,
        "ec",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let ed = keypair(&keys, "ed", &["-algorithm", "ed25519"]);
    let rsa = keypair(
        &keys,
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );

    // Signed before the project trusts any key: recorded, not verified.
    let sig_v1 = sign(&b, "team/app", &v1, &ec.0, "tag", "good");
    assert_eq!(
        accessories(&b, "app", "v1"),
        vec![(sig_v1.clone(), "unknown_key".into(), None)]
    );
    // Trusting the key verifies what is already there.
    let key = add_key(&b, "ci-ec", &ec.1);
    assert_eq!(key["algorithm"], "ecdsa-p256");
    assert_eq!(
        accessories(&b, "app", "v1"),
        vec![(sig_v1.clone(), "verified".into(), Some("ci-ec".into()))]
    );

    // The image index is signed with an Ed25519 key, as an OCI 1.1 referrer.
    let sig_multi = sign(&b, "team/multi", &multi, &ed.0, "referrer-index", "good");
    // The project trusts a key, but not this one (yet).
    assert_eq!(accessories(&b, "multi", "v1")[0].1, "failed".to_string());
    add_key(&b, "release-ed", &ed.1);
    assert_eq!(
        accessories(&b, "multi", "v1"),
        vec![(sig_multi, "verified".into(), Some("release-ed".into()))]
    );

    // Bad signatures: an untrusted key, a tampered payload, a payload naming
    // another manifest, a payload that is not JSON.
    let sig_rsa = sign(&b, "team/other", &other, &rsa.0, "tag", "good");
    assert_eq!(accessories(&b, "other", "v1")[0].1, "failed");
    for (mode, want) in [
        ("tamper", "failed"),
        ("other-digest", "invalid"),
        ("not-json", "invalid"),
    ] {
        let sig = sign(&b, "team/app", &unsigned, &ec.0, "referrer", mode);
        let found = accessories(&b, "app", "unsigned");
        let got = found.iter().find(|a| a.0 == sig).expect("listed");
        assert_eq!(got.1, want, "{mode}: {found:?}");
    }

    // cosign 3's default: a sigstore bundle (DSSE envelope of an in-toto
    // statement) as a referrer; a bundle changed after signing fails.
    let good = sign(&b, "team/bundled", &bundled, &ec.0, "bundle", "good");
    let bad = sign(&b, "team/bundled", &bundled, &ec.0, "bundle", "tamper");
    let r = send(admin(reqwest::Client::new().get(b.url(
        "/api/v2.0/projects/team/repositories/bundled/artifacts/v1/accessories",
    ))));
    let listed = r.json();
    let verdict = |d: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["digest"] == d)
            .map(|a| (a["type"].clone(), a["verification"]["status"].clone()))
    };
    assert_eq!(
        verdict(&good),
        Some((json!("signature.sigstore-bundle"), json!("verified"))),
        "{listed}"
    );
    assert_eq!(
        verdict(&bad).map(|v| v.1),
        Some(json!("failed")),
        "{listed}"
    );

    // An image does not pass for an accessory by naming a subject: the
    // runnable image with a `subject` below is held back by the gate too.
    let raw = send(
        reqwest::Client::new()
            .get(b.url("/v2/team/app/manifests/unsigned"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json"),
    );
    let mut with_subject: Value = raw.json();
    with_subject["subject"] = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": v1.0, "size": v1.1,
    });
    let r = send(
        reqwest::Client::new()
            .put(b.url("/v2/team/app/manifests/bypass"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(with_subject.to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // Harbor's Notary v1 gate is refused, not silently ignored.
    let r = send(
        admin(reqwest::Client::new().put(b.url("/api/v2.0/projects/team")))
            .json(&json!({"metadata": {"enable_content_trust": "true"}})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("enable_content_trust_cosign"),
        "{}",
        r.text()
    );

    // The gate: only verified-signed artifacts may be pulled.
    let r = send(
        admin(reqwest::Client::new().put(b.url("/api/v2.0/projects/team")))
            .json(&json!({"metadata": {"enable_content_trust_cosign": "true"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let project = send(admin(
        reqwest::Client::new().get(b.url("/api/v2.0/projects/team")),
    ))
    .json();
    assert_eq!(project["metadata"]["enable_content_trust_cosign"], "true");
    pull(&at("app:v1"), false).expect("a verified image is pulled");
    pull(&at("bundled:v1"), false).expect("an image signed with a bundle is pulled");
    pull(&at("multi:v1"), true).expect("every platform of a verified index is pulled");
    // signature_each_child: the index's signature no longer covers its
    // platform manifests; each needs its own.
    let r = send(
        admin(reqwest::Client::new().put(b.url("/api/v2.0/projects/team")))
            .json(&json!({"metadata": {"signature_each_child": "true"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let refused = pull(&at("multi:v1"), true).unwrap_err();
    assert!(refused.contains("signature_each_child"), "{refused}");
    // The index as pushed (the gate refuses it here now).
    let index: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:multi", img.join("busybox").display()),
    ]))
    .unwrap();
    let children: Vec<(String, usize)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["digest"].as_str().unwrap().to_string(),
                m["size"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    sign(&b, "team/multi", &children[0], &ed.0, "referrer", "good");
    let refused = pull(&at("multi:v1"), true).unwrap_err();
    assert!(
        refused.contains(&children[1].0),
        "names the unsigned platform: {refused}"
    );
    sign(&b, "team/multi", &children[1], &ed.0, "referrer", "good");
    pull(&at("multi:v1"), true).expect("every platform manifest signed");
    let r = send(
        admin(reqwest::Client::new().put(b.url("/api/v2.0/projects/team")))
            .json(&json!({"metadata": {"signature_each_child": "false"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let refused = pull(&at("app:unsigned"), false).unwrap_err();
    assert!(refused.contains("signature policy"), "{refused}");
    assert!(refused.contains(&unsigned.0), "names the digest: {refused}");
    let refused = pull(&at("app:bypass"), false).unwrap_err();
    assert!(refused.contains("signature policy"), "{refused}");
    let refused = pull(&at("other:v1"), false).unwrap_err();
    assert!(refused.contains("failed"), "says why: {refused}");
    // Signatures stay pullable so clients can verify.
    let sig_tag = format!("{}.sig", v1.0.replace(':', "-"));
    let r = send(
        reqwest::Client::new()
            .get(b.url(&format!("/v2/team/app/manifests/{sig_tag}")))
            .header("accept", "application/vnd.oci.image.manifest.v1+json"),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // A gated proxy project of this registry: what upstream has signed
    // passes (its signature is fetched and verified on the first pull),
    // what it has not is refused.
    let client = reqwest::Client::new();
    let r = send(
        admin(client.post(b.url("/api/v2.0/registries"))).json(&json!({
            "name": "self", "type": "docker-registry", "url": format!("http://{}", b.addr),
        })),
    );
    let id = created_id(&r);
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects"))).json(&json!({
            "project_name": "mirror", "registry_id": id,
            "metadata": {"public": "true", "enable_content_trust_cosign": "true"},
        })),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects/mirror/trusted-keys")))
            .json(&json!({"name": "ci-ec", "public_key": ec.1})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    pull(&format!("docker://{}/mirror/team/app:v1", b.addr), false)
        .expect("signed upstream, verified here");
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects")))
            .json(&json!({"project_name": "open", "metadata": {"public": "true"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:arm64", img.join("busybox").display()),
        &format!("docker://{}/open/app:unsigned", b.addr),
    ]);
    let refused = pull(
        &format!("docker://{}/mirror/open/app:unsigned", b.addr),
        false,
    )
    .unwrap_err();
    assert!(refused.contains("signature policy"), "{refused}");

    // docker sees the same gate.
    let state = tempfile::tempdir().unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    d.docker(&["pull", &format!("{}/team/app:v1", b.addr)]);
    let out = Command::new("docker")
        .env("DOCKER_HOST", &d.host)
        .args(["pull", &format!("{}/team/app:unsigned", b.addr)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signature policy"), "{err}");

    // Trusting the RSA key lets its signature through; removing the EC key
    // shuts app:v1 out again.
    add_key(&b, "legacy-rsa", &rsa.1);
    assert_eq!(
        accessories(&b, "other", "v1"),
        vec![(sig_rsa, "verified".into(), Some("legacy-rsa".into()))]
    );
    pull(&at("other:v1"), false).expect("verified after the key was trusted");
    let r = send(admin(
        reqwest::Client::new().delete(b.url("/api/v2.0/projects/team/trusted-keys/ci-ec")),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(accessories(&b, "app", "v1")[0].1, "failed");
    assert!(pull(&at("app:v1"), false).is_err());

    // Keys that are not keys, and unknown ones, get clear errors.
    let r = send(
        admin(reqwest::Client::new().post(b.url("/api/v2.0/projects/team/trusted-keys")))
            .json(&json!({"name": "bad", "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not a PEM public key"), "{}", r.text());
    let r = send(admin(
        reqwest::Client::new().delete(b.url("/api/v2.0/projects/team/trusted-keys/nope")),
    ));
    assert_eq!(r.status, 404);

    // The trail: every verdict and every refused pull, with digests (a
    // clean stop writes the last entries).
    let mut b = b;
    assert!(b.terminate());
    let (code, out, err) = berth_cli(&data, &["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, jsonl, _) = berth_cli(&data, &["audit", "export"], &[]);
    let entries: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdict = |sig: &str, result: &str, word: &str| {
        entries.iter().any(|e| {
            e["action"] == "signature_verify"
                && e["digest"] == sig
                && e["result"] == result
                && e["detail"].as_str().is_some_and(|d| d.starts_with(word))
        })
    };
    assert!(verdict(&sig_v1, "failure", "unknown_key"), "{jsonl}");
    assert!(verdict(&sig_v1, "success", "verified"), "{jsonl}");
    assert!(
        verdict(&sig_v1, "failure", "failed"),
        "after the key was removed: {jsonl}"
    );
    assert!(
        entries.iter().any(|e| e["action"] == "pull"
            && e["result"] == "failure"
            && e["digest"] == unsigned.0.as_str()
            && e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("signature policy"))),
        "{jsonl}"
    );
    assert!(
        entries.iter().any(|e| e["action"] == "trusted_key_change"
            && e["reference"] == "legacy-rsa"
            && e["result"] == "success"),
        "{jsonl}"
    );
}
