//! The `switchboard` binary itself: one clear line for bad configuration,
//! `token` minting, and a graceful stop on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::{Authenticator, Role};
use switchboard::proto::v1::{SubscribeRequest, event_service_client::EventServiceClient};

use crate::helpers::{SECRET, authed};

pub(crate) fn binary() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

#[tokio::test]
async fn bad_configuration_stops_start_up_with_one_clear_line() {
    for (variable, value, expected) in [
        (
            "SOCKET_PORT",
            "http",
            "SOCKET_PORT=\"http\" is not a valid value",
        ),
        (
            "JWT_SECRET",
            "short",
            "JWT_SECRET must be at least 32 bytes",
        ),
        ("LOG_LEVEL", "loud", "LOG_LEVEL=\"loud\" is not one of"),
        (
            "DATABASE_URL",
            "mysql://x",
            "DATABASE_URL must start with sqlite: or postgres://",
        ),
    ] {
        let output = binary()
            .arg("serve")
            .env("JWT_SECRET", SECRET)
            .env(variable, value)
            .output()
            .await
            .expect("binary runs");
        assert_eq!(output.status.code(), Some(1), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{variable}: {stderr}");
    }
}

#[tokio::test]
async fn token_prints_a_verifiable_token_and_insists_on_the_claims_a_role_needs() {
    let output = binary()
        .args([
            "token",
            "--role",
            "agent",
            "--sub",
            "ann",
            "--extension",
            "1001",
            "--ttl",
            "30m",
        ])
        .env("JWT_SECRET", SECRET)
        .output()
        .await
        .expect("binary runs");
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    let principal = Authenticator::new(SECRET.as_bytes(), false)
        .verify(token.trim())
        .expect("verifies");
    assert_eq!(principal.role(), Role::Agent);
    assert_eq!(principal.claims.extension.as_deref(), Some("1001"));
    assert_eq!(principal.claims.exp - principal.claims.iat, 1800);

    let missing = binary()
        .args(["token", "--role", "client", "--sub", "acme-app"])
        .env("JWT_SECRET", SECRET)
        .output()
        .await
        .expect("binary runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--client-id is required"));
}

/// Waits (up to 10 s) until the server at `url` answers `/healthz`.
async fn until_healthy(url: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{url}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server at {url} does not answer /healthz");
}

/// A log line without its terminal colours.
fn without_colours(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence: ESC [ … final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address a server started with `SOCKET_PORT=0` reports it listens on
/// (its log's `switchboard listening … address=…` line on stdout), and the
/// whole log, read to its end once the server has exited.
pub(crate) async fn reported_address(
    child: &mut tokio::process::Child,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
    use tokio::io::AsyncBufReadExt;
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut log = String::new();
    let address = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("the log reads") {
            let line = without_colours(&line);
            log.push_str(&line);
            log.push('\n');
            if line.contains("switchboard listening")
                && let Some(address) = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("address="))
            {
                return address.parse().expect("an address");
            }
        }
        panic!("the server exited without listening: {log}");
    })
    .await
    .expect("the server reports where it listens");
    let rest = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&without_colours(&line));
            log.push('\n');
        }
        log
    });
    (address, rest)
}

#[tokio::test]
async fn sigterm_ends_streams_cleanly_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = binary()
        .arg("serve")
        .env("JWT_SECRET", SECRET)
        .env("SOCKET_PORT", "0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        )
        .env("AUTH_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let (address, stdout_log) = reported_address(&mut server).await;
    let url = format!("http://{address}");
    until_healthy(&url).await;
    let channel = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .expect("grpc connects");
    let mut stream = EventServiceClient::new(channel)
        .subscribe(authed(
            SubscribeRequest {
                snapshot_first: true,
                ..Default::default()
            },
            "unused",
        ))
        .await
        .expect("subscribed")
        .into_inner();
    assert!(
        stream.next().await.is_some_and(|r| r.is_ok()),
        "the initial snapshot"
    );

    let pid = server.id().expect("pid").to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("stream ends");
    assert!(end.is_none(), "ended with OK status, not an error: {end:?}");
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    use tokio::io::AsyncReadExt;
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    log.push_str(&stdout_log.await.unwrap());
    assert!(log.contains("AUTH IS DISABLED"), "said loudly: {log}");
    assert!(log.contains("stopped"), "{log}");
}

/// `switchboard demo` on a free port, its database in `dir`, its log piped.
pub(crate) fn spawn_demo(dir: &std::path::Path) -> tokio::process::Child {
    binary()
        .arg("demo")
        .env("SOCKET_PORT", "0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("demo.db").display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("demo starts")
}

#[tokio::test]
async fn the_demo_runs_both_the_ami_wallboard_and_the_ari_agent_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = spawn_demo(dir.path());
    let (address, _log) = reported_address(&mut demo).await;
    let url = format!("http://{address}");
    tokio::time::timeout(Duration::from_secs(20), async {
        while reqwest::get(format!("{url}/healthz")).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the demo serves");
    let node = crate::helpers::require_tool("node", "install Node.js 20");
    let output = tokio::process::Command::new(node)
        .arg(crate::helpers::repo_root().join("clients/socketio/watch.mjs"))
        .arg(&url)
        .args(["--seconds", "13"])
        .output()
        .await
        .expect("node runs");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    crate::helpers::assert_lines_match_schemas(&lines);
    let seen: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l["event"].as_str()).collect();
    // The AMI side (seed 002) and the ARI side (seed 000) both run.
    for event in [
        "calls:active",
        "call:new",
        "system_state",
        "agent_status_updated",
    ] {
        assert!(seen.contains(event), "{event} missing; saw {seen:?}");
    }
    assert!(
        seen.contains("call_incoming") || seen.contains("incoming_queue_call"),
        "an agent-bridge call arrives; saw {seen:?}"
    );
    let state = lines.iter().find(|l| l["event"] == "system_state").unwrap();
    assert_eq!(
        state["data"]["extensionStates"]["3001"]["agentName"],
        "Asha Njeri"
    );
    demo.start_kill().unwrap();
    let _ = demo.wait().await;
}

/// What the attacker's connections do.
#[derive(Clone, Copy, Debug)]
enum Stalling {
    /// Connects and sends nothing.
    Silent,
    /// Sends half a request line, then nothing.
    HalfLine,
    /// Sends a header line every 400 ms, never ending the headers.
    Dribble,
    /// Sends a request with a 1,000-byte body, 10 bytes of it, then nothing.
    HalfBody,
}

/// Opens a connection that stalls as `how`; returns how long the server
/// took to close it (`None`: still open after `patience`).
async fn stall(
    address: std::net::SocketAddr,
    how: Stalling,
    patience: Duration,
) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = tokio::time::Instant::now();
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        // Refused outright (the backlog is full): closed, in effect.
        return Some(started.elapsed());
    };
    let opening: &[u8] = match how {
        Stalling::Silent => b"",
        Stalling::HalfLine => b"GET /healthz HT",
        Stalling::Dribble => b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        Stalling::HalfBody => b"POST /api/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"custome",
    };
    if stream.write_all(opening).await.is_err() {
        return Some(started.elapsed());
    }
    let mut buffer = [0_u8; 4096];
    let deadline = started + patience;
    let mut next_header = 0_u32;
    loop {
        let tick = tokio::time::sleep(Duration::from_millis(400));
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {} // an answer (408, 400): the close may follow
            },
            () = tick => {
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                if matches!(how, Stalling::Dribble) {
                    next_header += 1;
                    let header = format!("X-Slow-{next_header}: 1\r\n");
                    if stream.write_all(header.as_bytes()).await.is_err() {
                        return Some(started.elapsed());
                    }
                }
            }
        }
    }
}

/// Strangers' connections that send nothing, half a request line, a header
/// now and then, or half a body are closed, even more of them than the
/// process has descriptors for; meanwhile the server keeps answering.
#[tokio::test]
async fn stalled_connections_are_closed_and_the_server_keeps_answering_past_its_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 200 descriptors for the server: fewer than the connections below.
    let mut server = tokio::process::Command::new("bash")
        .arg("-c")
        .arg("ulimit -n 200 && exec \"$0\" serve")
        .arg(env!("CARGO_BIN_EXE_switchboard"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("JWT_SECRET", SECRET)
        .env("SOCKET_PORT", "0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        )
        .env("CONNECTION_TIMEOUT_SECONDS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let (address, _log) = reported_address(&mut server).await;
    let url = format!("http://{address}");
    until_healthy(&url).await;
    let kinds = [
        Stalling::Silent,
        Stalling::HalfLine,
        Stalling::Dribble,
        Stalling::HalfBody,
    ];
    let attackers: Vec<_> = (0..300)
        .map(|n| {
            let how = kinds[n % kinds.len()];
            tokio::spawn(async move { (how, stall(address, how, Duration::from_secs(40)).await) })
        })
        .collect();
    // While they hold what they can, a normal client is served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let answered = client.get(format!("{url}/healthz")).send().await;
    assert!(
        answered.as_ref().is_ok_and(|r| r.status() == 200),
        "a normal request is answered: {answered:?}"
    );
    let mut slowest = Duration::ZERO;
    for attacker in attackers {
        let (how, closed) = attacker.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("a {how:?} connection was never closed"));
        slowest = slowest.max(closed);
    }
    // Every one closed well within the patience (idle: 3 s; headers and
    // body: 1 s; the last ones accepted only as descriptors came free).
    assert!(slowest < Duration::from_secs(30), "{slowest:?}");
    let answered = client.get(format!("{url}/healthz")).send().await;
    assert!(answered.is_ok_and(|r| r.status() == 200));
    server.start_kill().unwrap();
    let _ = server.wait().await;
}
