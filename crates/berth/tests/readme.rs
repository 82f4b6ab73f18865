//! The README runs as written: every ```` ```sh ```` block, in order, in one
//! `bash -euo pipefail` script, from a fresh working directory, against a
//! fresh `berth serve` with authentication on.
//!
//! The only changes the harness makes to the README's text, each because a
//! test cannot do what a reader does:
//! - `127.0.0.1:5000` and `localhost:5000` become the test server's ephemeral
//!   address; `<password>` becomes the admin password the server started with.
//! - The block that starts the server (`cargo run --release -- serve`) is not
//!   run: the harness starts the binary under test with the same defaults
//!   (data directory `./berth-data` of the working directory).
//! - The block that runs the test suite (`./scripts/test.sh`), the
//!   benchmark block (`berth-bench`, covered by `bench_smoke.rs`) and the
//!   nodes of a PostgreSQL deployment (blocks naming a `postgres://` URL, covered
//!   by `scale_out.rs`) are not run.
//! - `berth` is the binary under test, on `PATH` as `cargo install` would
//!   put it. The README's `export PATH="$PWD/target/release:$PATH"` runs as
//!   written: the working directory has no `target/`, so it adds nothing.
//! - `../shared/testdata/make-images.sh ./images` links the images that
//!   `scripts/test.sh` already built with that script (`BERTH_TESTDATA`).
//! - `curl` fails on an HTTP error status (`--fail-with-body`): an example that
//!   answers an error is a broken example.
//! - Blocks that use `docker` run against a private daemon
//!   (`shared/testdata/start-dockerd.sh`); they are skipped, with a message,
//!   only when no daemon can start.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// One fenced `sh` block of the README: its first line number and its text.
struct Block {
    line: usize,
    text: String,
}

fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in readme.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```sh" => {
                current = Some(Block {
                    line: i + 2,
                    text: String::new(),
                })
            }
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(b) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "README: an ```sh block is not closed");
    blocks
}

/// Why a block is not run, if it is not (see the module docs).
fn skipped(block: &Block) -> Option<&'static str> {
    let t = &block.text;
    if t.contains("-- serve") {
        Some("starts the server: the harness started it")
    } else if t.contains("postgres://") {
        Some("a node of a deployment on PostgreSQL: scale_out.rs runs several")
    } else if t.contains("./scripts/test.sh") {
        Some("runs the test suite this test is part of")
    } else if t.contains("berth-bench") {
        Some("the benchmark: bench_smoke.rs runs the harness")
    } else {
        None
    }
}

fn uses_docker(block: &Block) -> bool {
    block
        .text
        .lines()
        .any(|l| l.trim_start().starts_with("docker ") || l.contains("| docker "))
}

/// A private docker daemon, stopped when dropped; `None` when none can start.
struct Dockerd {
    host: String,
    state: tempfile::TempDir,
}

impl Dockerd {
    fn try_start() -> Option<Dockerd> {
        let state = tempfile::Builder::new()
            .prefix("dockerd")
            .tempdir_in("/tmp")
            .ok()?;
        let out = Command::new(shared_testdata().join("start-dockerd.sh"))
            .arg(state.path())
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "readme: no docker daemon: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let host = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("export DOCKER_HOST="))?
            .to_string();
        Some(Dockerd { host, state })
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.state.path().join("docker.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

#[test]
fn every_sh_block_of_the_readme_runs_in_order_against_a_fresh_server() {
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 8, "README: too few sh blocks found");

    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(berth_bin(), bin.join("berth")).unwrap();
    let server = Berth::start_with(&work.path().join("berth-data"), &["--auth-mode", "token"]);

    let docker = if blocks
        .iter()
        .any(|b| skipped(b).is_none() && uses_docker(b))
    {
        Dockerd::try_start()
    } else {
        None
    };

    let mut script = String::from(
        "curl() { command curl --fail-with-body \"$@\"; }\n\
         berth_readme_block() { printf '\\n### README line %s\\n' \"$1\" >&2; }\n",
    );
    let mut ran = 0;
    for b in &blocks {
        if let Some(why) = skipped(b) {
            eprintln!("readme: block at line {} not run: {why}", b.line);
            continue;
        }
        if uses_docker(b) && docker.is_none() {
            eprintln!(
                "readme: block at line {} not run: no docker daemon could start",
                b.line
            );
            continue;
        }
        let text = b
            .text
            .replace("127.0.0.1:5000", &server.addr)
            .replace("localhost:5000", &server.addr)
            .replace("<password>", ADMIN_PASSWORD)
            .replace(
                "../shared/testdata/make-images.sh ./images",
                &format!("ln -s '{}' ./images", images().display()),
            );
        script.push_str(&format!("berth_readme_block {}\n{text}", b.line));
        ran += 1;
    }
    let script_path = work.path().join("readme.sh");
    std::fs::write(&script_path, &script).unwrap();

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail"])
        .arg(&script_path)
        .current_dir(work.path())
        .env("PATH", path)
        .env("DOCKER_CONFIG", work.path().join("docker-config"))
        .env("REGISTRY_AUTH_FILE", work.path().join("auth.json"))
        .env_remove("BERTH_ADMIN_PASSWORD")
        .env_remove("BERTH_DATA_DIR")
        .env_remove("BERTH_CONFIG")
        .stdin(std::process::Stdio::null());
    match &docker {
        Some(d) => cmd.env("DOCKER_HOST", &d.host),
        None => cmd.env_remove("DOCKER_HOST"),
    };
    let out = cmd.output().expect("run bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's sh blocks failed ({} run); the last block started is the one that failed\n\
         --- stdout\n{}\n--- stderr\n{stderr}",
        ran,
        String::from_utf8_lossy(&out.stdout),
    );
    assert_eq!(
        stderr.matches("### README line").count(),
        ran,
        "every block ran"
    );

    // What the tutorial made is really there and intact.
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        &format!("admin:{ADMIN_PASSWORD}"),
        &format!("docker://{}/team/busybox", server.addr),
    ]);
    assert!(
        tags.contains("\"1\"") && tags.contains("\"rollback\""),
        "{tags}"
    );
    let (code, report) = fsck(&work.path().join("berth-data"));
    assert_eq!(code, 0, "{report}");
}

#[test]
fn sh_blocks_are_found_with_their_line_numbers() {
    let blocks =
        sh_blocks("text\n```sh\necho a\n```\n```json\n{}\n```\n```sh\necho b\necho c\n```\n");
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].text.as_str()), (3, "echo a\n"));
    assert_eq!(
        (blocks[1].line, blocks[1].text.as_str()),
        (9, "echo b\necho c\n")
    );
}
