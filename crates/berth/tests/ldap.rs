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
        Slapd::start_with(None, "")
    }

    /// With `tls` (a directory [`write_test_ca`] filled), slapd serves
    /// `ldaps://` with its certificate; `extra_ldif` adds entries.
    fn start_with(tls: Option<&Path>, extra_ldif: &str) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let tls_conf = match tls {
            Some(t) => format!(
                "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                t.join("ca.crt").display(),
                t.join("tls.crt").display(),
                t.join("tls.key").display()
            ),
            None => String::new(),
        };
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             {tls_conf}\
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
        let group = |cn: &str, member: &str| {
            format!(
                "dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n\
                 member: uid={member},ou=people,{SUFFIX}\n\n"
            )
        };
        let ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n{}{}{}{}{}",
            person(ALICE.0, "Alice Liddell", ALICE.1),
            person(BOB.0, "Bob Builder", BOB.1),
            person("Frank", "Frank Capital", "frank-ldap-pass"),
            group("devs", BOB.0),
            group("readers", ALICE.0),
        ) + extra_ldif;
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
        let scheme = if tls.is_some() { "ldaps" } else { "ldap" };
        let url = format!("{scheme}://127.0.0.1:{port}/");
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

    /// Applies an LDIF change (`ldapmodify`) as the directory's admin.
    fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url, "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("ldapmodify");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "ldapmodify failed");
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
             group_base = \"ou=groups,{SUFFIX}\"\n\
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
    support::http::token_for(&format!("http://{}", b.addr), who, scope)
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
    assert_eq!(users[0]["source"], "ldap");
    // The password is the directory's: setting one in berth is refused.
    let id = users[0]["user_id"].as_i64().unwrap();
    let r = send(
        admin(client.put(b.url(&format!("/api/v2.0/users/{id}/password"))))
            .json(&serde_json::json!({"new_password": "Some-Other-Pass-1"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("LDAP"), "{}", r.text());
    // Directory names are matched without regard to case; berth's name is
    // the lowercase one.
    for typed in ["frank", "Frank"] {
        assert_eq!(
            token(&b, (typed, "frank-ldap-pass"), scope).0,
            200,
            "{typed}"
        );
    }
    let users = send(admin(
        client.get(b.url("/api/v2.0/users?q=username%3Dfrank")),
    ))
    .json();
    assert_eq!(users[0]["realname"], "Frank Capital", "{users}");

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

    // docker too: a directory user's `docker login` goes through the token
    // endpoint, then a push as the developer; a wrong password is refused.
    let state = tempfile::Builder::new()
        .prefix("dockerd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = Dockerd::start(state.path().to_path_buf());
    let docker_config = tempfile::tempdir().unwrap();
    let docker = |args: &[&str]| d.docker_as(docker_config.path(), args);
    d.docker(&[
        "load",
        "-i",
        images().join("busybox-amd64.docker.tar").to_str().unwrap(),
    ]);
    let name = format!("{}/team/app:docker", b.addr);
    d.docker(&["tag", "test/busybox:amd64", &name]);
    let out = docker(&["login", "-u", ALICE.0, "-p", "wrong-password", &b.addr]);
    assert!(!out.status.success(), "a wrong directory password logs in");
    let out = docker(&["login", "-u", ALICE.0, "-p", ALICE.1, &b.addr]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = docker(&["push", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(d);

    // The web UI signs directory users in too.
    let r = send(
        client
            .post(b.url("/c/login"))
            .json(&serde_json::json!({"principal": ALICE.0, "password": ALICE.1})),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Removed from the directory: a token issued before, a personal access
    // token and a new sign-in with the old password stop working within
    // recheck_secs (2) plus the credential caches (credential_cache_secs 1,
    // 5 s per node).
    let (_, held) = token(&b, ALICE, scope);
    let pat = berth_ok(data.path(), &["token", "create", "alice", "ci"], &[])
        .trim()
        .to_string();
    assert_eq!(token(&b, (ALICE.0, &pat), scope).0, 200);
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
        if manifest(&held) == 401
            && token(&b, ALICE, scope).0 == 401
            && token(&b, (ALICE.0, &pat), scope).0 == 401
        {
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

/// The actions a token for `who` grants on `repository`.
fn granted(b: &Berth, who: (&str, &str), repository: &str) -> Vec<String> {
    let (status, actions) =
        support::http::granted_actions(&format!("http://{}", b.addr), who, repository);
    assert_eq!(status, 200);
    actions
}

#[test]
fn directory_groups_give_project_roles_and_membership_follows_the_directory() {
    let slapd = Slapd::start();
    let data = tempfile::tempdir().unwrap();
    let b = start_berth(data.path(), &slapd);
    let client = reqwest::Client::new();
    let api = |path: &str| b.url(&format!("/api/v2.0{path}"));

    let r = send(
        admin(client.post(api("/projects"))).json(&serde_json::json!({"project_name": "grp"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // LDAP groups are registered by DN; the name defaults to the first RDN.
    let mut groups = Vec::new();
    for cn in ["devs", "readers"] {
        let r = send(
            admin(client.post(api("/usergroups"))).json(&serde_json::json!({
            "group_type": 1, "ldap_group_dn": format!("cn={cn},ou=groups,{SUFFIX}")})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        groups.push(support::http::location_id(&r.headers));
    }
    let listed = send(admin(client.get(api("/usergroups?group_name=dev")))).json();
    assert_eq!(listed[0]["group_name"], "devs", "{listed}");
    let r = send(
        admin(client.post(api("/usergroups"))).json(&serde_json::json!({
        "group_type": 1, "ldap_group_dn": format!("cn=devs,ou=groups,{SUFFIX}")})),
    );
    assert_eq!(r.status, 409);
    let r = send(
        admin(client.post(api("/usergroups"))).json(&serde_json::json!({
        "group_type": 1, "ldap_group_dn": format!("CN=Devs, ou=groups, {SUFFIX}")})),
    );
    assert_eq!(r.status, 409, "the same DN spelled otherwise: {}", r.text());
    let r =
        send(admin(client.post(api("/usergroups"))).json(&serde_json::json!({"group_type": 1})));
    assert_eq!(r.status, 400, "an LDAP group needs its DN");
    let r = send(
        admin(client.post(api("/usergroups"))).json(&serde_json::json!({
        "group_type": 1, "ldap_group_dn": format!("cn=typo,ou=groups,{SUFFIX}")})),
    );
    assert_eq!(r.status, 400, "not a group of the directory: {}", r.text());
    let r = send(
        admin(client.post(api("/usergroups"))).json(&serde_json::json!({
        "group_type": 1, "ldap_group_dn": "not a dn"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no DN"), "{}", r.text());
    // devs develop in grp (by DN, any case); readers are guests (by id).
    let r = send(
        admin(client.post(api("/projects/grp/members"))).json(&serde_json::json!({
        "role_id": 2,
        "member_group": {"ldap_group_dn": format!("CN=devs,ou=groups,{SUFFIX}")}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(api("/projects/grp/members"))).json(&serde_json::json!({
        "role_id": 3, "member_group": {"id": groups[1]}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let members = send(admin(client.get(api("/projects/grp/members")))).json();
    let kinds: Vec<(String, String, String)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["entity_name"].as_str().unwrap().to_string(),
                m["entity_type"].as_str().unwrap().to_string(),
                m["role_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("devs".into(), "g".into(), "developer".into())),
        "{members}"
    );
    assert!(
        kinds.contains(&("readers".into(), "g".into(), "guest".into())),
        "{members}"
    );

    // bob (in devs, never signed in before) pushes with skopeo; alice (in
    // readers) may only pull.
    let image = format!("oci:{}:latest", images().join("busybox").display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("{}:{}", BOB.0, BOB.1),
        &image,
        &format!("docker://{}/grp/app:1", b.addr),
    ]);
    assert_eq!(granted(&b, BOB, "grp/app"), vec!["pull", "push"]);
    assert_eq!(granted(&b, ALICE, "grp/app"), vec!["pull"]);

    // A group's role changes at once for its members.
    let readers_member = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["entity_name"] == "readers")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = send(
        admin(client.put(api(&format!("/projects/grp/members/{readers_member}"))))
            .json(&serde_json::json!({"role_id": 2})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    while granted(&b, ALICE, "grp/app") != vec!["pull", "push"] {
        assert!(
            Instant::now() < deadline,
            "the group's new role never applied"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // bob leaves devs in the directory: push goes within the bound.
    slapd.modify(&format!(
        "dn: cn=devs,ou=groups,{SUFFIX}\nchangetype: modify\ndelete: member\n\
         member: uid=bob,ou=people,{SUFFIX}\n-\nadd: member\nmember: uid=alice,ou=people,{SUFFIX}\n"
    ));
    let left = Instant::now();
    while !granted(&b, BOB, "grp/app").is_empty() {
        assert!(
            left.elapsed() < Duration::from_secs(15),
            "bob still holds a role 15 s after leaving the group"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Deleting the group ends its memberships.
    let r = send(admin(
        client.delete(api(&format!("/usergroups/{}", groups[0]))),
    ));
    assert_eq!(r.status, 200);
    let members = send(admin(client.get(api("/projects/grp/members")))).json();
    assert!(!members.to_string().contains("\"devs\""), "{members}");
}

#[test]
fn the_ldap_api_pings_searches_and_imports_users_before_their_first_sign_in() {
    let mut slapd = Slapd::start();
    let data = tempfile::tempdir().unwrap();
    let b = start_berth(data.path(), &slapd);
    let client = reqwest::Client::new();
    let api = |path: &str| b.url(&format!("/api/v2.0{path}"));

    let r = send(admin(client.post(api("/ldap/ping"))));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["success"], true, "{}", r.text());
    // The identity settings are visible to administrators, never the
    // bind password.
    let r = send(admin(client.get(api("/configurations"))));
    assert_eq!(r.status, 200, "{}", r.text());
    let cfg = r.json();
    assert_eq!(cfg["auth_mode"]["value"], "ldap_auth", "{cfg}");
    assert_eq!(cfg["ldap_url"]["value"], slapd.url.as_str());
    assert_eq!(cfg["ldap_search_dn"]["value"], ROOT_DN);
    assert_eq!(
        cfg["ldap_group_base_dn"]["value"],
        format!("ou=groups,{SUFFIX}")
    );
    assert_eq!(cfg["ldap_recheck_secs"]["value"], 2);
    assert!(
        !r.text().contains(ROOT_PW),
        "the bind password leaked: {}",
        r.text()
    );
    let r = send(
        client
            .get(api("/configurations"))
            .basic_auth(BOB.0, Some(BOB.1)),
    );
    assert_eq!(r.status, 403);
    // A user whose sign-in created them is audited as user_create, once.
    assert_eq!(token(&b, BOB, "repository:library/busybox:pull").0, 200);
    assert_eq!(token(&b, BOB, "repository:library/busybox:pull").0, 200);
    // Directory users are no administrators.
    let r = send(
        client
            .post(api("/ldap/ping"))
            .basic_auth(BOB.0, Some(BOB.1)),
    );
    assert_eq!(r.status, 403);

    let users = send(admin(client.get(api("/ldap/users/search?username=lic")))).json();
    assert_eq!(
        users,
        serde_json::json!([{"username": "alice", "realname": "Alice Liddell", "email": "alice@example.org"}])
    );
    let all = send(admin(client.get(api("/ldap/users/search")))).json();
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let frank = send(admin(client.get(api("/ldap/users/search?username=ran")))).json();
    assert_eq!(frank[0]["username"], "frank", "{frank}");
    let groups = send(admin(client.get(api("/ldap/groups/search?groupname=dev")))).json();
    assert_eq!(
        groups[0]["ldap_group_dn"],
        format!("cn=devs,ou=groups,{SUFFIX}"),
        "{groups}"
    );
    assert_eq!(groups[0]["group_name"], "devs");
    let one = send(admin(client.get(api(&format!(
        "/ldap/groups/search?groupdn=cn%3Dreaders%2Cou%3Dgroups%2C{}",
        SUFFIX.replace('=', "%3D").replace(',', "%2C")
    )))))
    .json();
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["group_name"], "readers");

    // Import: alice is onboarded (a member can be added before she signs
    // in); an unknown name is reported, the rest still imported.
    let r = send(
        admin(client.post(api("/ldap/users/import")))
            .json(&serde_json::json!({"ldap_uid_list": ["alice", "nobody"]})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()[0]["uid"], "nobody", "{}", r.text());
    let users = send(admin(client.get(api("/users?q=username%3Dalice")))).json();
    assert_eq!(users[0]["realname"], "Alice Liddell", "{users}");
    let r = send(
        admin(client.post(api("/projects/library/members")))
            .json(&serde_json::json!({"role_id": 1, "member_user": {"username": "alice"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(api("/ldap/users/import")))
            .json(&serde_json::json!({"ldap_uid_list": ["alice"]})),
    );
    assert_eq!(r.status, 200, "importing again changes nothing");
    // The import is audited as the user's creation, once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = send(admin(
            client.get(api("/audit-logs?q=operation%3Dcreate&page_size=100")),
        ))
        .json();
        let of = |name: &str| -> usize {
            log.as_array()
                .unwrap()
                .iter()
                .filter(|e| e["resource"] == name && e["resource_type"] == "user")
                .count()
        };
        if of("alice") > 0 && of("bob") > 0 {
            assert_eq!((of("alice"), of("bob")), (1, 1), "{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no audit entry for the import: {log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    slapd.stop();
    let r = send(admin(client.post(api("/ldap/ping"))));
    assert_eq!(r.json()["success"], false, "{}", r.text());
    let r = send(admin(client.get(api("/ldap/users/search"))));
    assert_eq!(r.status, 503);
    let r = send(
        admin(client.post(api("/ldap/users/import")))
            .json(&serde_json::json!({"ldap_uid_list": ["bob"]})),
    );
    assert_eq!(r.status, 503, "{}", r.text());
}

#[test]
fn ldaps_with_a_private_ca_file_and_nested_groups() {
    let certs = tempfile::tempdir().unwrap();
    write_test_ca(certs.path());
    // `platform` lists the group `devs` (bob's), not bob himself.
    let nested = format!(
        "dn: cn=platform,ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: platform\n\
         member: cn=devs,ou=groups,{SUFFIX}\n\n"
    );
    let slapd = Slapd::start_with(Some(certs.path()), &nested);
    assert!(slapd.url.starts_with("ldaps://"));
    let start = |data: &Path, extra: &str| {
        let config = data.join("berth.toml");
        std::fs::write(
            &config,
            format!(
                "[auth]\nidentity = \"ldap\"\ncredential_cache_secs = 1\n\n\
                 [auth.ldap]\nurl = \"{}\"\nbind_dn = \"{ROOT_DN}\"\n\
                 user_base = \"ou=people,{SUFFIX}\"\nuser_filter = \"(objectClass=inetOrgPerson)\"\n\
                 group_base = \"ou=groups,{SUFFIX}\"\ntimeout_secs = 2\n{extra}",
                slapd.url
            ),
        )
        .unwrap();
        Berth::start_with_env(
            data,
            &["--config", config.to_str().unwrap(), "--auth-mode", "token"],
            &[("BERTH_LDAP_BIND_PASSWORD", ROOT_PW)],
        )
    };
    let client = reqwest::Client::new();

    // Without the CA file the directory's certificate is not trusted: the
    // check says so, and a directory user's sign-in is 503, not 401.
    let untrusting = tempfile::tempdir().unwrap();
    let b = start(untrusting.path(), "");
    let r = send(admin(client.post(b.url("/api/v2.0/ldap/ping"))));
    assert_eq!(r.json()["success"], false, "{}", r.text());
    assert!(
        r.text().to_lowercase().contains("certificate"),
        "{}",
        r.text()
    );
    assert_eq!(token(&b, BOB, "repository:library/busybox:pull").0, 503);
    drop(b);

    // With it: TLS holds, and nested groups count.
    let data = tempfile::tempdir().unwrap();
    let b = start(
        data.path(),
        &format!(
            "ca_file = \"{}\"\nnested_groups = true\n",
            certs.path().join("ca.crt").display()
        ),
    );
    let api = |p: &str| b.url(&format!("/api/v2.0{p}"));
    let r = send(admin(client.post(api("/ldap/ping"))));
    assert_eq!(r.json()["success"], true, "{}", r.text());
    let r = send(
        admin(client.post(api("/projects"))).json(&serde_json::json!({
        "project_name": "team", "metadata": {"public": "false"}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(api("/usergroups"))).json(&serde_json::json!({
        "group_type": 1, "ldap_group_dn": format!("cn=platform,ou=groups,{SUFFIX}")})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(
        admin(client.post(api("/projects/team/members"))).json(&serde_json::json!({
        "role_id": 2,
        "member_group": {"ldap_group_dn": format!("cn=platform,ou=groups,{SUFFIX}")}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // bob is in devs, which platform lists: developer of team.
    assert_eq!(granted(&b, BOB, "team/app"), vec!["pull", "push"]);
    // alice is only in readers: nothing in a private project.
    assert_eq!(granted(&b, ALICE, "team/app"), Vec::<String>::new());
    // Many sign-ins in a row reuse pooled service connections.
    for _ in 0..5 {
        assert_eq!(token(&b, BOB, "repository:team/app:pull").0, 200);
    }
}
