//! The `switchboard` binary itself: one clear line for bad configuration,
//! `token` minting, and a graceful stop on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::{Authenticator, Role};
use switchboard::proto::v1::{SubscribeRequest, event_service_client::EventServiceClient};

use crate::helpers::{SECRET, authed};

fn binary() -> tokio::process::Command {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn sigterm_ends_streams_cleanly_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = binary()
        .arg("serve")
        .env("JWT_SECRET", SECRET)
        .env("SOCKET_PORT", port.to_string())
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
    let url = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(format!("{url}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server answered /healthz");
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
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    assert!(log.contains("AUTH IS DISABLED"), "said loudly: {log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn the_demo_runs_both_the_ami_wallboard_and_the_ari_agent_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let address = crate::sim::free_address();
    let mut demo = binary()
        .arg("demo")
        .env("SOCKET_PORT", address.port().to_string())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("demo.db").display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("demo starts");
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
