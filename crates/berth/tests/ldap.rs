//! Sign-in against a real OpenLDAP server (docs/identity.md): Debian's
//! `slapd`, started by this test on a loopback port with a configuration and
//! an LDIF it writes. Directory users sign in with skopeo and the token
//! endpoint, are onboarded with their e-mail and name, push where a project
//! admin made them members, lose access within the documented bound once
//! removed from the directory (tokens issued before included); wrong passwords, unknown users, empty
//! passwords and filter injection are refused; a directory that is down
//! answers 503 while the local `admin` keeps working.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::http::{admin, send};
use support::*;

const SUFFIX: &str = "dc=example,dc=org";
const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
const ROOT_PW: &str = "directory-admin-secret";
const ALICE: (&str, &str) = ("alice", "alice-ldap-pass");
const BOB: (&str, &str) = ("bob", "bob-ldap-pass");

/// A private slapd on 127.0.0.1; killed when dropped.
struct Slapd {
    url: String,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Slapd {
    fn start() -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {pid}\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {db}\n",
            pid = d.join("slapd.pid").display(),
            db = d.join("db").display(),
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let person = |uid: &str, cn: &str, pw: &str| {
            format!(
                "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
                 cn: {cn}\nsn: {cn}\nmail: {uid}@example.org\nuserPassword: {pw}\n\n"
            )
        };
        let ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n{}{}",
            person(ALICE.0, "Alice Liddell", ALICE.1),
            person(BOB.0, "Bob Builder", BOB.1),
        );
        std::fs::write(d.join("data.ldif"), ldif).unwrap();
        run(Command::new("slapadd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("data.ldif")));
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("ldap://127.0.0.1:{port}/");
        let child = Command::new("slapd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .args(["-h", &url, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd (scripts/test.sh installs Debian's slapd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "slapd did not listen on {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Slapd {
            url,
            child: Some(child),
            _dir: dir,
        }
    }

    fn delete(&self, dn: &str) {
        run(Command::new("ldapdelete")
            .args(["-x", "-H", &self.url, "-D", ROOT_DN, "-w", ROOT_PW, dn]));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// berth with `auth.identity = "ldap"` against `slapd`, rechecking
/// directory users every 2 s.
fn start_berth(data: &Path, slapd: &Slapd) -> Berth {
    let config = data.join("berth.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nidentity = \"ldap\"\ncredential_cache_secs = 1\n\n\
             [auth.ldap]\nurl = \"{}\"\nbind_dn = \"{ROOT_DN}\"\n\
             user_base = \"ou=people,{SUFFIX}\"\nuser_filter = \"(objectClass=inetOrgPerson)\"\n\
             timeout_secs = 2\nrecheck_secs = 2\n",
            slapd.url
        ),
    )
    .unwrap();
    Berth::start_with_env(
        data,
        &["--config", config.to_str().unwrap(), "--auth-mode", "token"],
        &[("BERTH_LDAP_BIND_PASSWORD", ROOT_PW)],
    )
}

/// The token endpoint's status (and token) for `who` and `scope`.
fn token(b: &Berth, who: (&str, &str), scope: &str) -> (u16, String) {
    let r = send(
        reqwest::Client::new()
            .get(b.url(&format!("/v2/token?service=berth&scope={scope}")))
            .basic_auth(who.0, Some(who.1)),
    );
    (
        r.status,
        r.json()["token"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn directory_users_sign_in_push_where_they_are_members_and_lose_access_when_removed() {
    let slapd = Slapd::start();
    let data = tempfile::tempdir().unwrap();
    let b = start_berth(data.path(), &slapd);
    let client = reqwest::Client::new();
    let scope = "repository:team/app:pull,push";

    // First sign-in onboards the user with the directory's e-mail and name.
    assert_eq!(token(&b, ALICE, scope).0, 200);
    let users = send(admin(
        client.get(b.url("/api/v2.0/users?q=username%3Dalice")),
    ))
    .json();
    assert_eq!(users[0]["email"], "alice@example.org", "{users}");
    assert_eq!(users[0]["realname"], "Alice Liddell");
    assert_eq!(users[0]["sysadmin_flag"], false);

    // Refusals: wrong or empty password, unknown user, filter injection.
    for (who, why) in [
        ((ALICE.0, "wrong-password"), "wrong password"),
        ((ALICE.0, ""), "empty password (an unauthenticated bind)"),
        (("carol", "anything"), "unknown user"),
        (("*)(uid=*", "anything"), "filter injection"),
        (("*", BOB.1), "wildcard name"),
        (
            ("alice)(|(uid=*", ALICE.1),
            "filter injection with a real password",
        ),
    ] {
        assert_eq!(token(&b, who, scope).0, 401, "{why}");
    }

    // A project admin makes alice a developer of team: she pushes with
    // skopeo; bob, not a member, cannot.
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects")))
            .json(&serde_json::json!({"project_name": "team"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(b.url("/api/v2.0/projects/team/members")))
            .json(&serde_json::json!({"role_id": 2, "member_user": {"username": ALICE.0}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let image = format!("oci:{}:latest", images().join("busybox").display());
    let creds = |who: (&str, &str)| format!("{}:{}", who.0, who.1);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds(ALICE),
        &image,
        &format!("docker://{}/team/app:1", b.addr),
    ]);
    let refused = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
        ])
        .arg(creds(BOB))
        .arg(&image)
        .arg(format!("docker://{}/team/app:2", b.addr))
        .output()
        .unwrap();
    assert!(!refused.status.success(), "bob is no member of team");

    // The web UI signs directory users in too.
    let r = send(
        client
            .post(b.url("/c/login"))
            .json(&serde_json::json!({"principal": ALICE.0, "password": ALICE.1})),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Removed from the directory: a token issued before and a new sign-in
    // with the old password stop working within recheck_secs (2) plus the
    // credential caches (credential_cache_secs 1, 5 s per node).
    let (_, held) = token(&b, ALICE, scope);
    let manifest = |bearer: &str| {
        send(
            client
                .get(b.url("/v2/team/app/manifests/1"))
                .bearer_auth(bearer)
                .header("accept", "application/vnd.oci.image.manifest.v1+json"),
        )
        .status
    };
    assert_eq!(manifest(&held), 200);
    slapd.delete(&format!("uid=alice,ou=people,{SUFFIX}"));
    let removed = Instant::now();
    loop {
        if manifest(&held) == 401 && token(&b, ALICE, scope).0 == 401 {
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(15),
            "a removed user's token still works after 15 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_directory_that_is_down_answers_503_and_local_accounts_keep_working() {
    let mut slapd = Slapd::start();
    let data = tempfile::tempdir().unwrap();
    let b = start_berth(data.path(), &slapd);
    let scope = "repository:library/busybox:pull";
    assert_eq!(token(&b, BOB, scope).0, 200);
    slapd.stop();
    let (status, _) = token(&b, ALICE, scope);
    assert_eq!(
        status, 503,
        "the directory cannot tell: not a wrong password"
    );
    let r = send(
        reqwest::Client::new()
            .get(b.url(&format!("/v2/token?service=berth&scope={scope}")))
            .basic_auth(ALICE.0, Some(ALICE.1)),
    );
    assert!(
        !r.text().contains("127.0.0.1"),
        "the directory's address is not told to clients: {}",
        r.text()
    );
    assert_eq!(token(&b, ("admin", ADMIN_PASSWORD), scope).0, 200);
}
