//! The official Engine.IO and Socket.IO protocol suites
//! (`../shared/conformance/`, read in place and run from a copy under
//! `target/`) against `examples/socketio_conformance.rs`, switchboard's own
//! server configured as the suites expect. Every test passes but those
//! switchboard refuses by design and those the suite's own timing fails,
//! each named here and in `docs/socketio.md` with the reason.
//!
//! A test target of its own, so that cargo runs it after the API tests, not
//! beside them: the suites answer pings on 300 ms deadlines, which two cores
//! busy with Chromium and Asterisk made them miss now and then.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "common/tools.rs"]
mod tools;

use tools::{repo_root, require_tool};

/// Suite tests switchboard fails on purpose: it serves the default
/// namespace only, and its events carry no binary attachments.
const BY_DESIGN: &[&str] = &[
    "Socket.IO protocol connect should allow connection to a custom namespace",
    "Socket.IO protocol connect should allow connection to a custom namespace with a payload",
    "Socket.IO protocol disconnect should connect then disconnect from a custom namespace",
    "Socket.IO protocol message should send a packet with binary attachments",
    "Socket.IO protocol message should send a packet with binary attachments and an ack",
];

/// Suite tests lost to the suite's timing: the server writes the CONNECT
/// answer and the `auth` event together, and the suite, which reads one
/// WebSocket message per await, misses `auth` (the last one then waits for
/// a ping that never comes, the session having timed out unponged). With
/// `auth` sent 20 ms later they pass.
const TIMING: &[&str] = &[
    "Socket.IO protocol connect should allow connection to the main namespace",
    "Socket.IO protocol connect should allow connection to the main namespace with a payload",
    "Socket.IO protocol disconnect should disconnect from the main namespace",
];

/// The example server's binary, built by `cargo test --all-targets` (and
/// here when a narrower `cargo test` did not build it).
fn conformance_server() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    // Built every time (a no-op when it is fresh): `cargo test --test api`
    // alone does not build examples, and a stale one would test old code.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--example", "socketio_conformance"])
        .current_dir(repo_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the conformance example builds");
    profile_dir.join("examples/socketio_conformance")
}

/// A writable copy of suite `name` with its npm packages, kept under the
/// target directory between runs (re-made when the suite changes).
fn suite(name: &str) -> PathBuf {
    let source = repo_root()
        .join("../shared/conformance")
        .join(name)
        .join("test-suite");
    let exe = std::env::current_exe().expect("test binary path");
    let copy = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("conformance")
        .join(name);
    std::fs::create_dir_all(&copy).expect("suite copy dir");
    let mut changed = false;
    for file in [
        "package.json",
        "package-lock.json",
        "test-suite.js",
        "node-imports.js",
    ] {
        let text = std::fs::read(source.join(file)).expect("suite file");
        if std::fs::read(copy.join(file)).ok().as_deref() != Some(&text[..]) {
            std::fs::write(copy.join(file), &text).expect("suite copy");
            changed = true;
        }
    }
    if changed || !copy.join("node_modules").exists() {
        let npm = require_tool("npm", "install Node.js 20");
        let status = Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&copy)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in {}", copy.display());
    }
    copy
}

/// The example server on 127.0.0.1:3000, where the suites look; killed on drop.
struct Server(Child);

impl Server {
    fn start(args: &[&str]) -> Server {
        let child = Command::new(conformance_server())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the conformance server starts");
        let server = Server(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect("127.0.0.1:3000").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the conformance server listens on 127.0.0.1:3000"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a suite with mocha's JSON reporter: (passed, failed) test titles.
fn run(suite: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let npx = require_tool("npx", "install Node.js 20");
    let output = Command::new(npx)
        .args(["mocha", "test-suite.js", "--reporter", "json"])
        .current_dir(suite)
        .output()
        .expect("mocha runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "mocha's JSON report: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let titles = |key: &str| -> BTreeSet<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|test| test["fullTitle"].as_str().unwrap().to_owned())
            .collect()
    };
    (titles("passes"), titles("failures"))
}

fn set(titles: &[&[&str]]) -> BTreeSet<String> {
    titles
        .iter()
        .flat_map(|list| list.iter().map(|t| (*t).to_owned()))
        .collect()
}

/// Both suites, one server at a time (they share the port).
#[test]
fn the_official_engine_io_and_socket_io_suites_pass_but_for_what_is_documented() {
    let engine_suite = suite("engine.io-protocol");
    let socket_suite = suite("socket.io-protocol");

    let (passed, failed) = {
        let _server = Server::start(&["engine"]);
        run(&engine_suite)
    };
    assert_eq!(failed, BTreeSet::new(), "Engine.IO: every test passes");
    assert!(passed.len() >= 24, "{passed:?}");

    let (passed, failed) = {
        let _server = Server::start(&["socket"]);
        run(&socket_suite)
    };
    // The timing failures come and go with the machine's load (the two
    // messages sometimes reach the suite apart): they may pass here.
    let lost_to_timing: BTreeSet<String> = failed.difference(&set(&[BY_DESIGN])).cloned().collect();
    assert!(
        lost_to_timing.is_subset(&set(&[TIMING])),
        "Socket.IO, as served: only the documented tests fail: {failed:?}"
    );
    assert!(
        failed.is_superset(&set(&[BY_DESIGN])),
        "Socket.IO, as served: {failed:?}"
    );
    assert!(passed.len() >= 24, "{passed:?}");

    // The timing failures are the suite's: with `auth` a moment after the
    // CONNECT answer they pass, and only the refusals by design remain.
    let (passed, failed) = {
        let _server = Server::start(&["socket", "--auth-delay-ms", "20"]);
        run(&socket_suite)
    };
    assert_eq!(failed, set(&[BY_DESIGN]), "Socket.IO, auth delayed");
    for title in TIMING {
        assert!(passed.contains(*title), "{title}");
    }
}
