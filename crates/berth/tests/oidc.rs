//! Sign-in through a real OpenID Connect provider (docs/identity.md): the
//! npm package `oidc-provider` run by `tests/browser/oidc-provider.mjs` on
//! loopback, berth with `auth.identity = "oidc"`, and headless Chromium
//! (`tests/browser/oidc.mjs`) going through the provider's login and
//! consent pages. Then `docker login` with the CLI secret made in the UI,
//! a push allowed by the user's group, and the provider's changes (another
//! group, the user removed) reaching berth within the recheck bound.
//!
//! ID tokens with a wrong audience, an expired one and an unsigned
//! (`alg: none`) one are refused in `berth_registry::auth::oidc`'s unit
//! tests (a real provider does not issue them); a wrong nonce is refused
//! here, end to end, by altering the authorization request in the browser.
//!
//! Needs `node`, Debian's `chromium`, `npm ci` in `tests/browser` and the
//! docker CLI and daemon (scripts/test.sh installs them).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::http::{admin, send};
use support::*;

const CLIENT_SECRET: &str = "berth-test-client-secret";
const PROVIDER_NAME: &str = "Test IdP";

fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
}

fn node_packages_installed() {
    if browser_dir().join("node_modules/oidc-provider").exists()
        && browser_dir().join("node_modules/playwright-core").exists()
    {
        return;
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(browser_dir()));
}

/// The provider process and the line protocol of `oidc-provider.mjs`.
struct Idp {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    issuer: String,
}

impl Idp {
    fn start(accounts: serde_json::Value) -> Idp {
        Idp::start_with(accounts, None)
    }

    /// With `tls_dir` (holding `tls.crt` and `tls.key`), it serves https.
    fn start_with(accounts: serde_json::Value, tls_dir: Option<&Path>) -> Idp {
        node_packages_installed();
        let mut cmd = Command::new("node");
        if let Some(dir) = tls_dir {
            cmd.env("OIDC_TLS_DIR", dir);
        }
        let mut child = cmd
            .arg(browser_dir().join("oidc-provider.mjs"))
            .current_dir(browser_dir())
            .env("OIDC_ACCOUNTS", accounts.to_string())
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run node (scripts/test.sh installs it)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut idp = Idp {
            child,
            stdin,
            lines,
            issuer: String::new(),
        };
        let first = idp.next_line();
        idp.issuer = first
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        idp
    }

    /// The next protocol line (the package's own notices are skipped).
    fn next_line(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("a line from oidc-provider.mjs");
            if !line.starts_with("oidc-provider ") {
                return line;
            }
        }
    }

    /// Sends one command and waits for its answer.
    fn say(&mut self, command: &str, answer: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        assert_eq!(self.next_line(), answer, "answer to {command:?}");
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The actions a token for `who` grants on `repository`.
fn granted(b: &Berth, who: (&str, &str), repository: &str) -> (u16, Vec<String>) {
    support::http::granted_actions(&format!("http://{}", b.addr), who, repository)
}

/// Polls `f` for up to 20 s until it holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..80 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what}: not within 20 s");
}

#[test]
fn oidc_users_sign_in_in_the_browser_push_with_a_cli_secret_and_follow_the_provider() {
    let mut idp = Idp::start(serde_json::json!({
        "alice": {
            "preferred_username": "Alice",
            "email": "alice@example.org",
            "name": "Alice Liddell",
            "groups": ["registry-devs", "everyone"],
        },
    }));
    let data = tempfile::tempdir().unwrap();
    let secret_file = data.path().join("client-secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).unwrap();
    let config = data.path().join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nidentity = \"oidc\"\ncredential_cache_secs = 1\n\n\
             [auth.oidc]\nname = \"{PROVIDER_NAME}\"\nissuer = \"{}\"\nclient_id = \"berth\"\n\
             client_secret_file = \"{}\"\n\
             scopes = [\"openid\", \"profile\", \"email\", \"groups\", \"offline_access\"]\n\
             admin_group = \"registry-admins\"\nrecheck_secs = 1\n",
            idp.issuer,
            secret_file.display()
        ),
    )
    .unwrap();
    let b = Berth::start_with(
        data.path(),
        &["--config", config.to_str().unwrap(), "--auth-mode", "token"],
    );
    idp.say(
        &format!("client http://{}/c/oidc/callback", b.addr),
        "ready",
    );
    let client = reqwest::Client::new();
    let api = |p: &str| b.url(&format!("/api/v2.0{p}"));

    // What the UI and operators read: the mode, the provider, no secret.
    let info = send(client.get(api("/systeminfo"))).json();
    assert_eq!(info["auth_mode"], "oidc_auth", "{info}");
    assert_eq!(info["oidc_provider_name"], PROVIDER_NAME);
    let r = send(admin(client.get(api("/configurations"))));
    assert_eq!(r.status, 200, "{}", r.text());
    let conf = r.json();
    assert_eq!(conf["auth_mode"]["value"], "oidc_auth");
    assert_eq!(conf["oidc_endpoint"]["value"], idp.issuer.as_str());
    assert_eq!(conf["oidc_client_id"]["value"], "berth");
    assert!(
        !r.text().contains(CLIENT_SECRET),
        "the client secret leaked"
    );
    // The ping checks discovery and the client credentials; a body is
    // optional.
    let r = send(admin(client.post(api("/system/oidc/ping"))).json(&serde_json::json!({})));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(admin(client.post(api("/system/oidc/ping"))));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        admin(client.post(api("/system/oidc/ping")))
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/nothing"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("did not answer as expected"),
        "{}",
        r.text()
    );

    // The project the group may push to, set up before anyone signed in:
    // the OIDC group exists by name, with the developer role.
    let r = send(
        admin(client.post(api("/projects"))).json(&serde_json::json!({
        "project_name": "team", "metadata": {"public": "false"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // A group named in a membership that /usergroups does not know is an
    // OIDC group, made on the way (as the Members tab of the UI sends it).
    let r = send(
        admin(client.post(api("/projects/team/members"))).json(&serde_json::json!({
            "role_id": 2,
            "member_group": {"group_name": "registry-devs"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // The browser: sign in at the provider, make a CLI secret, and see an
    // altered nonce refused.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let out = Command::new("node")
        .arg(browser_dir().join("oidc.mjs"))
        .current_dir(browser_dir())
        .env("BERTH_URL", format!("http://{}", b.addr))
        .env("OIDC_ISSUER", &idp.issuer)
        .env("OIDC_USER", "alice")
        .env("OIDC_PROVIDER_NAME", PROVIDER_NAME)
        .env("BERTH_SCREENSHOTS", &shots)
        .output()
        .expect("run node");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser checks failed:\n{log}");
    assert!(log.contains("all checks passed"), "{log}");
    let secret = log
        .lines()
        .find_map(|l| l.strip_prefix("CLI_SECRET="))
        .expect("the CLI secret line")
        .to_string();

    // Onboarded from the ID token: lowercase name, e-mail, name, source;
    // the group berth had not seen was created.
    let users = send(admin(client.get(api("/users?q=username%3Dalice")))).json();
    assert_eq!(users[0]["email"], "alice@example.org", "{users}");
    assert_eq!(users[0]["realname"], "Alice Liddell");
    assert_eq!(users[0]["source"], "oidc");
    assert_eq!(users[0]["sysadmin_flag"], false);
    let alice_id = users[0]["user_id"].as_i64().unwrap();
    let groups = send(admin(client.get(api("/usergroups")))).text();
    assert!(groups.contains("\"everyone\""), "{groups}");
    let audit = send(admin(
        client.get(api("/audit-logs?q=operation%3Dlogin&page_size=50")),
    ))
    .text();
    assert!(
        audit.contains("through Test IdP (OpenID Connect)"),
        "{audit}"
    );
    // Making the CLI secret is audited as her own user_update.
    let log = send(admin(
        client.get(api("/audit-logs?q=operation%3Dupdate&page_size=100")),
    ))
    .json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource"] == "alice"
                && e["resource_type"] == "user"
                && e["username"] == "alice"),
        "{log}"
    );

    // The CLI secret is a password for registry clients only; the web
    // sign-in form refuses it (the browser goes to the provider).
    let alice = ("alice", secret.as_str());
    assert_eq!(
        granted(&b, alice, "team/app"),
        (200, vec!["pull".to_string(), "push".to_string()])
    );
    // User names are lowercase: `Alice` can only mean alice.
    assert_eq!(granted(&b, ("Alice", &secret), "team/app").0, 200);
    let r = send(
        client
            .post(b.url("/c/login"))
            .json(&serde_json::json!({"principal": "alice", "password": secret})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("Sign in with Test IdP"), "{}", r.text());
    // A browser holding an ended session's cookie is told to forget it.
    let r = send(
        client
            .get(b.url("/c/session"))
            .header("cookie", format!("berth_session={}", "ab".repeat(32))),
    );
    assert_eq!(r.status, 401);
    let cleared = r
        .headers
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        cleared.contains("berth_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // Local accounts keep the form, and have passwords, not CLI secrets.
    let r = send(
        client
            .post(b.url("/c/login"))
            .json(&serde_json::json!({"principal": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        admin(client.put(api("/users/1/cli_secret")))
            .json(&serde_json::json!({"secret": "some-long-secret"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = send(
        admin(client.put(api(&format!("/users/{alice_id}/password"))))
            .json(&serde_json::json!({"new_password": "Another-Password-1"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("CLI secret"), "{}", r.text());
    assert_eq!(
        granted(&b, ("alice", "wrong-secret-123"), "team/app").0,
        401
    );

    // docker login with the CLI secret, and a push the group allows.
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    let docker_config = tempfile::tempdir().unwrap();
    let docker = |args: &[&str]| d.docker_as(docker_config.path(), args);
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    d.docker(&[
        "load",
        "-i",
        images().join("busybox-amd64.docker.tar").to_str().unwrap(),
    ]);
    let name = format!("{}/team/app:1", b.addr);
    d.docker(&["tag", "test/busybox:amd64", &name]);
    ok(docker(&["login", "-u", "alice", "-p", &secret, &b.addr]));
    ok(docker(&["push", &name]));
    let r = send(admin(
        client.get(api("/projects/team/repositories/app/artifacts/1/tags")),
    ));
    assert_eq!(r.status, 200, "{}", r.text());

    // The provider takes alice out of the developers' group: berth
    // follows at its next recheck (1 s) through the refresh token, and
    // the group's role is no longer hers.
    idp.say("groups alice everyone", "ok");
    eventually("alice loses the developers' role", || {
        granted(&b, alice, "team/app") == (200, Vec::new())
    });
    // Then into the administrators' group (auth.oidc.admin_group).
    idp.say("groups alice registry-admins", "ok");
    eventually("alice becomes a system administrator", || {
        let _ = granted(&b, alice, "team/app");
        let u = send(admin(client.get(api(&format!("/users/{alice_id}"))))).json();
        u["sysadmin_flag"] == true
    });
    assert_eq!(
        granted(&b, alice, "team/app"),
        (200, vec!["pull".to_string(), "push".to_string()])
    );

    // The provider removes alice: her CLI secret stops working within the
    // bound, for docker too.
    idp.say("remove alice", "ok");
    eventually("alice's CLI secret is refused", || {
        granted(&b, alice, "team/app").0 == 401
    });
    let out = docker(&["login", "-u", "alice", "-p", &secret, &b.addr]);
    assert!(!out.status.success(), "docker login still works");
}

#[test]
fn a_provider_whose_certificate_a_private_ca_signed_is_trusted_with_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    write_test_ca(certs.path());
    let mut idp = Idp::start_with(serde_json::json!({}), Some(certs.path()));
    assert!(idp.issuer.starts_with("https://"), "{}", idp.issuer);
    idp.say("client https://127.0.0.1/c/oidc/callback", "ready");
    let client = reqwest::Client::new();
    let start = |data: &Path, secret: &str, extra: &str| {
        let config = data.join("berth.toml");
        std::fs::write(
            &config,
            format!(
                "[auth]\nidentity = \"oidc\"\n\n[auth.oidc]\nissuer = \"{}\"\n\
                 client_id = \"berth\"\n{extra}",
                idp.issuer
            ),
        )
        .unwrap();
        Berth::start_with_env(
            data,
            &["--config", config.to_str().unwrap(), "--auth-mode", "token"],
            &[("BERTH_OIDC_CLIENT_SECRET", secret)],
        )
    };
    let ping = |b: &Berth| {
        send(admin(client.post(b.url("/api/v2.0/system/oidc/ping"))).json(&serde_json::json!({})))
    };
    // Without the CA file the provider's certificate is not trusted.
    let untrusting = tempfile::tempdir().unwrap();
    let b = start(untrusting.path(), CLIENT_SECRET, "");
    let r = ping(&b);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().to_lowercase().contains("certificate"),
        "{}",
        r.text()
    );
    drop(b);
    // With it, discovery and the keys load, and the token endpoint
    // accepts the client.
    let ca_file = format!("ca_file = \"{}\"\n", certs.path().join("ca.crt").display());
    let data = tempfile::tempdir().unwrap();
    let b = start(data.path(), CLIENT_SECRET, &ca_file);
    let r = ping(&b);
    assert_eq!(r.status, 200, "{}", r.text());
    drop(b);
    // A wrong client secret shows in the check, not first at a sign-in.
    let wrong = tempfile::tempdir().unwrap();
    let b = start(wrong.path(), "not-the-client-secret", &ca_file);
    let r = ping(&b);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("client credentials"), "{}", r.text());
}
