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

/// The cosign signatures among the accessories of `reference` in
/// `team/<repo>`: `(digest, status, key)`.
fn accessories(b: &Berth, repo: &str, reference: &str) -> Vec<(String, String, Option<String>)> {
    accessories_of(b, repo, reference, "signature.cosign")
        .into_iter()
        .map(|(digest, status, key, _)| (digest, status, key))
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

    // cosign attestations (`cosign attest`, tag form `sha256-<hex>.att`):
    // listed as `attestation.cosign`, their DSSE signatures verified with
    // the project's keys; a statement changed after signing fails. They
    // never stand in for a signature (below, app:unsigned stays refused).
    let att = sign(&b, "team/app", &unsigned, &ec.0, "attestation", "good");
    let found = accessories_of(&b, "app", "unsigned", "attestation.cosign");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0].0.as_str(),
            found[0].1.as_str(),
            found[0].2.as_deref()
        ),
        (att.as_str(), "verified", Some("ci-ec")),
        "{found:?}"
    );
    assert!(
        found[0].3.contains("https://slsa.dev/provenance/v1"),
        "names the predicate: {found:?}"
    );
    let tampered = sign(&b, "team/other", &other, &ec.0, "attestation", "tamper");
    let found = accessories_of(&b, "other", "v1", "attestation.cosign");
    assert_eq!(
        found
            .iter()
            .map(|a| (a.0.as_str(), a.1.as_str()))
            .collect::<Vec<_>>(),
        vec![(tampered.as_str(), "failed")],
        "{found:?}"
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

/// The accessories of `reference` in `team/<repo>` of type `kind`:
/// `(digest, status, key, detail)`.
fn accessories_of(
    b: &Berth,
    repo: &str,
    reference: &str,
    kind: &str,
) -> Vec<(String, String, Option<String>, String)> {
    let r = send(admin(reqwest::Client::new().get(b.url(&format!(
        "/api/v2.0/projects/team/repositories/{repo}/artifacts/{reference}/accessories"
    )))));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == kind)
        .map(|a| {
            let v = &a["verification"];
            (
                a["digest"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
                v["key"].as_str().map(str::to_string),
                v["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A certificate made by rcgen: `(cert PEM, key PEM)`, signed by `issuer`
/// (self-signed CA when `None`).
fn certificate(
    subject: &[(rcgen::DnType, &str)],
    ca: bool,
    code_signing: bool,
    expired: bool,
    issuer: Option<&rcgen::Issuer<'static, rcgen::KeyPair>>,
) -> (String, rcgen::KeyPair, rcgen::CertificateParams) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    for (t, v) in subject {
        params.distinguished_name.push(t.clone(), *v);
    }
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
    } else {
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    }
    if code_signing {
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = match issuer {
        Some(i) => params.signed_by(&key, i).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    (cert.pem(), key, params)
}

#[test]
fn notation_jws_and_cose_signatures_are_verified_against_trusted_certificates_and_gate_pulls() {
    use rcgen::DnType::{CommonName, OrganizationName};
    let tmp = tempfile::tempdir().unwrap();
    let b = Berth::start_with(&tmp.path().join("data"), &["--auth-mode", "none"]);
    let client = reqwest::Client::new();
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects")))
            .json(&json!({"project_name": "team", "metadata": {"public": "true"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let img = images();
    for (tag, to) in [("amd64", "app:v1"), ("arm64", "app:unsigned")] {
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", img.join("busybox").display()),
            &format!("docker://{}/team/{to}", b.addr),
        ]);
    }
    let at = |r: &str| format!("docker://{}/team/{r}", b.addr);
    let v1 = manifest_of(&at("app:v1"));
    let unsigned = manifest_of(&at("app:unsigned"));

    // A CA (as a notation trust store holds) and leaves it signed, made
    // with rcgen; another CA for a chain the project does not trust.
    let (ca_pem, ca_key, ca_params) =
        certificate(&[(CommonName, "Acme signing CA")], true, false, false, None);
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let (other_ca_pem, other_key, other_params) =
        certificate(&[(CommonName, "Other CA")], true, false, false, None);
    let other_ca = rcgen::Issuer::new(other_params, other_key);
    let _ = other_ca_pem;
    let dir = tmp.path().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let leaf = |name: &str,
                cn: &str,
                eku: bool,
                expired: bool,
                by: &rcgen::Issuer<'static, rcgen::KeyPair>| {
        let (pem, key, _) = certificate(
            &[(OrganizationName, "Acme"), (CommonName, cn)],
            false,
            eku,
            expired,
            Some(by),
        );
        std::fs::write(dir.join(format!("{name}.crt")), pem).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        name.to_string()
    };
    let ci = leaf("ci", "ci", true, false, &ca);
    let expired = leaf("expired", "ci", true, true, &ca);
    let no_eku = leaf("no-eku", "ci", false, false, &ca);
    let stranger = leaf("stranger", "ci", true, false, &other_ca);
    let intern = leaf("intern", "intern", true, false, &ca);

    let nsign_as = |subject: &(String, usize), who: &str, mode: &str, envelope: &str| -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/notation_sign.py");
        let work = tempfile::tempdir().unwrap();
        let out = run(Command::new("python3")
            .arg(script)
            .args([
                b.addr.as_str(),
                "team/app",
                &subject.0,
                &subject.1.to_string(),
            ])
            .arg(dir.join(format!("{who}.key")))
            .arg(dir.join(format!("{who}.crt")))
            .arg(work.path())
            .args([mode, envelope]));
        out.lines()
            .find_map(|l| l.strip_prefix("signature "))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string()
    };
    let nsign =
        |subject: &(String, usize), who: &str, mode: &str| nsign_as(subject, who, mode, "jws");
    let verdict = |reference: &str, sig: &str| {
        let found = accessories_of(&b, "app", reference, "signature.notation");
        found
            .into_iter()
            .find(|a| a.0 == sig)
            .unwrap_or_else(|| panic!("{sig} is not listed"))
    };

    // Signed before the project trusts a certificate: recorded, not verified.
    let good = nsign(&v1, &ci, "good");
    assert_eq!(verdict("v1", &good).1, "unknown_key");
    // Trusting the CA, with the trust policy's identity, verifies it.
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects/team/trusted-keys"))).json(&json!({
            "name": "acme-ca", "public_key": ca_pem,
            "trusted_identities": ["x509.subject: O=Acme, CN=ci"]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["algorithm"], "x509-ca");
    assert_eq!(
        r.json()["trusted_identities"][0],
        "x509.subject: O=Acme, CN=ci"
    );
    let v = verdict("v1", &good);
    assert_eq!(
        (v.1.as_str(), v.2.as_deref()),
        ("verified", Some("acme-ca")),
        "{v:?}"
    );

    // A COSE envelope (notation's other format) verifies the same way.
    let cose = nsign_as(&v1, &ci, "good", "cose");
    let v = verdict("v1", &cose);
    assert_eq!(
        (v.1.as_str(), v.2.as_deref()),
        ("verified", Some("acme-ca")),
        "{v:?}"
    );
    // What fails, in either envelope: a payload changed after signing, an
    // expired certificate, one without code signing, one from another CA, a
    // subject that is not a trusted identity; a payload naming another
    // manifest is invalid.
    for (envelope, who, mode, status, why) in [
        ("jws", &ci, "tamper", "failed", "does not verify"),
        ("jws", &expired, "good", "failed", "expired"),
        ("jws", &no_eku, "good", "failed", "code signing"),
        ("jws", &stranger, "good", "failed", "no trusted certificate"),
        ("jws", &intern, "good", "failed", "trusted identities"),
        ("jws", &ci, "other-digest", "invalid", "targetArtifact"),
        ("cose", &ci, "tamper", "failed", "does not verify"),
        ("cose", &expired, "good", "failed", "expired"),
        ("cose", &intern, "good", "failed", "trusted identities"),
        ("cose", &ci, "other-digest", "invalid", "targetArtifact"),
    ] {
        let sig = nsign_as(&unsigned, who, mode, envelope);
        let v = verdict("unsigned", &sig);
        assert_eq!(v.1, status, "{envelope} {who} {mode}: {v:?}");
        assert!(v.3.contains(why), "{envelope} {who} {mode}: {v:?}");
    }

    // The pull gate takes notation signatures: v1 is pulled, the image
    // with only bad signatures is refused.
    let r = send(
        admin(client.put(b.url("/api/v2.0/projects/team")))
            .json(&json!({"metadata": {"enable_content_trust_cosign": "true"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    pull(&at("app:v1"), false).expect("a notation-verified image is pulled");
    let err = pull(&at("app:unsigned"), false).expect_err("bad signatures only");
    assert!(err.contains("signature policy"), "{err}");

    // Removing the CA takes the verdict back.
    let r = send(admin(
        client.delete(b.url("/api/v2.0/projects/team/trusted-keys/acme-ca")),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(verdict("v1", &good).1, "unknown_key");
    assert_eq!(verdict("v1", &cose).1, "unknown_key");
}
