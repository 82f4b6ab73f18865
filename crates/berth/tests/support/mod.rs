//! Harness for end-to-end tests: the real `berth` binary on an ephemeral
//! 127.0.0.1 port, real test images from `shared/testdata/make-images.sh`, and
//! helpers to run real clients (skopeo, docker).

#![allow(dead_code)]

pub mod front;
pub mod http;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `admin` password every test server starts with.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// The binary under test: `BERTH_TEST_BIN` when set (to run a test against
/// another build, e.g. to see a new test fail on the code before a fix),
/// else the one cargo built for this test.
pub fn berth_bin() -> PathBuf {
    std::env::var_os("BERTH_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// The PostgreSQL database of the registry in `data_dir`, when the tests run
/// on PostgreSQL (`BERTH_TEST_DATABASE_URL`, an admin URL of a private
/// server, see scripts/start-postgres.sh): a fresh database per data
/// directory, created on first use, so every server and CLI command of one
/// test (and every node sharing that directory) meets the same database.
/// `None` on SQLite.
pub fn database_for(data_dir: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static DATABASES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let admin = std::env::var("BERTH_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let mut map = DATABASES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(url) = map.get(data_dir) {
        return Some(url.clone());
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "berth_e2e_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    run(Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &admin, "-c"])
        .arg(format!("CREATE DATABASE {name}")));
    let (server, _) = admin
        .rsplit_once('/')
        .expect("BERTH_TEST_DATABASE_URL is postgres://USER@HOST:PORT/DB");
    let url = format!("{server}/{name}");
    map.insert(data_dir.to_path_buf(), url.clone());
    Some(url)
}

/// The blob storage of the registry in `data_dir` when the tests run on an
/// S3-compatible store (`BERTH_TEST_S3_BUCKET` with the `AWS_*` variables, as
/// scripts/start-garage.sh prints them): `s3://BUCKET/e2e-<n>`, a prefix of
/// its own per data directory. `None`: the data directory.
pub fn storage_for(data_dir: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static PREFIXES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let bucket = std::env::var("BERTH_TEST_S3_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())?;
    let mut map = PREFIXES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let n = map.len();
    Some(
        map.entry(data_dir.to_path_buf())
            .or_insert_with(|| format!("s3://{bucket}/e2e-{}-{n}", std::process::id()))
            .clone(),
    )
}

/// The environment a server or CLI command on `data_dir` runs with: its
/// database ([`database_for`]) and blob storage ([`storage_for`]).
pub fn backend_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(u) = database_for(data_dir) {
        env.push(("BERTH_DATABASE_URL", u));
    }
    if let Some(u) = storage_for(data_dir) {
        env.push(("BERTH_STORAGE_URL", u));
    }
    env
}

/// A `berth serve` child process. Killed (SIGKILL) when dropped.
pub struct Berth {
    pub addr: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
}

impl Berth {
    /// Starts `berth serve --listen 127.0.0.1:0 --data-dir DIR` and waits for its
    /// "listening on" line.
    pub fn start(data_dir: &Path) -> Berth {
        Self::start_with(data_dir, &[])
    }

    /// Like [`Berth::start`], with extra `serve` arguments. Without an
    /// `--auth-mode` among them the server runs with `--auth-mode none` (the
    /// tests written before authentication); the `admin` password is always
    /// [`ADMIN_PASSWORD`].
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Berth {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// Like [`Berth::start_with`], with extra environment variables (which
    /// override the harness's database and storage).
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Berth {
        let mut args: Vec<&str> = extra.to_vec();
        if !extra.contains(&"--auth-mode") {
            args.extend(["--auth-mode", "none"]);
        }
        let mut child = Command::new(berth_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(&args)
            .env("BERTH_LOG_LEVEL", "info")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .envs(backend_env(data_dir))
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(i) = line.find("listening on ") {
                        let addr = line[i + 13..]
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                if std::env::var_os("BERTH_TEST_SERVER_LOG").is_some() {
                    eprintln!("[berth] {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("berth did not report its address");
        Berth {
            addr,
            data_dir: data_dir.to_path_buf(),
            child: Some(child),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        match self.child.take() {
            Some(mut c) => {
                let _ = Command::new("kill")
                    .args(["-TERM", &c.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    if let Ok(Some(status)) = c.try_wait() {
                        return status.success();
                    }
                    if Instant::now() > deadline {
                        let _ = c.kill();
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            None => false,
        }
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `limit` for `child` to exit; kills it and returns `None` when
/// it is still running then (for a process that must refuse to start).
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `berth fsck --data-dir DIR`; returns (exit code, stdout).
pub fn fsck(data_dir: &Path) -> (i32, String) {
    let out = Command::new(berth_bin())
        .args(["fsck", "--data-dir"])
        .arg(data_dir)
        .envs(backend_env(data_dir))
        .output()
        .expect("run berth fsck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// `shared/testdata`: `$BERTH_SHARED/testdata`, else the `shared/` beside the checkout.
pub fn shared_testdata() -> PathBuf {
    match std::env::var_os("BERTH_SHARED") {
        Some(s) => PathBuf::from(s).join("testdata"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
    }
}

/// Directory with the images of `make-images.sh`: `$BERTH_TESTDATA` when set
/// (scripts/test.sh builds them once), else built here once per test binary.
pub fn images() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("BERTH_TESTDATA") {
            let d = PathBuf::from(d);
            if d.join("DIGESTS").exists() {
                return d;
            }
        }
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("testdata");
        let status = Command::new(shared_testdata().join("make-images.sh"))
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("run shared/testdata/make-images.sh");
        assert!(status.success(), "make-images.sh failed");
        out
    })
}

/// The digest `make-images.sh` recorded for a reference such as `oci:busybox:amd64`.
pub fn recorded_digest(reference: &str) -> String {
    let text = std::fs::read_to_string(images().join("DIGESTS")).expect("DIGESTS");
    text.lines()
        .find(|l| l.split('\t').next() == Some(reference))
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or_else(|| panic!("{reference} not in DIGESTS"))
        .to_string()
}

/// Runs a command; panics with its output unless it succeeds; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `skopeo` with the flags plain-HTTP loopback registries need.
pub fn skopeo(args: &[&str]) -> String {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c.args(args);
    run(&mut c)
}

/// sha256 of a file, as `sha256:<hex>`.
pub fn file_digest(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
    )
}

/// Runs `berth <args> --data-dir DIR` with extra environment; returns (exit
/// code, stdout, stderr). The admin password is [`ADMIN_PASSWORD`].
pub fn berth_cli(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(berth_bin());
    c.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .envs(backend_env(data_dir))
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run berth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Like [`berth_cli`], panicking unless it succeeds; returns stdout.
pub fn berth_ok(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let (code, out, err) = berth_cli(data_dir, args, env);
    assert_eq!(code, 0, "berth {args:?} failed: {out}\n{err}");
    out
}

/// A private Docker daemon (`shared/testdata/start-dockerd.sh`), stopped when dropped.
pub struct Dockerd {
    pub host: String,
    pub state: PathBuf,
}

impl Dockerd {
    /// Starts one with its state in `state`.
    pub fn start(state: PathBuf) -> Dockerd {
        Self::start_with_args(state, "")
    }

    /// Starts one with extra daemon flags (`DOCKERD_EXTRA_ARGS`, e.g.
    /// `--registry-mirror=http://127.0.0.1:PORT`).
    pub fn start_with_args(state: PathBuf, extra: &str) -> Dockerd {
        let script = shared_testdata().join("start-dockerd.sh");
        let out = run(Command::new(script)
            .arg(&state)
            .env("DOCKERD_EXTRA_ARGS", extra));
        let host = out
            .lines()
            .find_map(|l| l.strip_prefix("export DOCKER_HOST="))
            .expect("DOCKER_HOST line")
            .to_string();
        Dockerd { host, state }
    }

    /// Runs `docker ARGS` against it with its client configuration (logins)
    /// in `config`, whatever the outcome.
    pub fn docker_as(&self, config: &Path, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", config)
            .args(args)
            .output()
            .expect("spawn docker")
    }

    /// Runs `docker ARGS` against it; panics unless it succeeds.
    pub fn docker(&self, args: &[&str]) -> String {
        run(Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.state.join("docker.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// A test CA and a certificate for 127.0.0.1 that it signed (rcgen, ECDSA
/// P-256), as PEM files in `dir`: `ca.crt`, `tls.crt`, `tls.key`.
pub fn write_test_ca(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
}
