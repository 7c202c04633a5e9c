//! The TypeScript browser client of `clients/web/` (generated code from
//! `gen/ts`, grpc-web transport) in headless Chromium: reads the state,
//! resumes the event stream, then receives a live event; and the Socket.IO
//! wallboard page of `clients/web/wallboard.ts`, polling upgraded to WebSocket.

use std::process::Stdio;
use std::time::Duration;

use switchboard::auth::Role;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{repo_root, require_tool, spawn_app, token};

#[tokio::test]
async fn the_browser_client_resumes_and_follows_the_stream_over_grpc_web() {
    let app = spawn_app().await;
    require_tool("chromium", "apt-get install chromium (make deps does)");
    let node = require_tool("node", "install Node.js 20");
    for n in 1..=3 {
        app.set_system_mode(&format!("mode-{n}")).await;
    }
    let supervisor = token(Role::Supervisor, None, None);
    let mut child = tokio::process::Command::new(node)
        .arg(repo_root().join("clients/web/run-in-chromium.mjs"))
        .args(["--server", &app.url(), "--token", &supervisor])
        .args(["--resume-after", "1", "--reports", "4", "--seconds", "60"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut reports = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the page reports within a minute")
        .expect("stdout readable")
    {
        let report: serde_json::Value = serde_json::from_str(&line).expect("json report");
        assert_ne!(report["kind"], "error", "{report}");
        reports.push(report);
        if reports.len() == 3 {
            // The replay is through; what comes now must arrive live.
            app.set_system_mode("live").await;
        }
    }
    let status = child.wait().await.expect("node exits");
    assert!(status.success(), "{reports:?}");
    assert_eq!(reports[0]["kind"], "state");
    assert_eq!(reports[0]["systemMode"], "mode-3");
    assert_eq!(reports[0]["sequence"], "3");
    let events: Vec<(&str, &str)> = reports[1..]
        .iter()
        .map(|r| (r["sequence"].as_str().unwrap(), r["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(events, [("2", "mode-2"), ("3", "mode-3"), ("4", "live")]);
}

/// The seeds' dashboards are browser pages on another origin: socket.io-client
/// there starts with long-polling (cross-origin requests) and upgrades to a
/// WebSocket. The wallboard page of `clients/web/wallboard.ts` in headless
/// Chromium opens its session on polling, gets its greeting, an acknowledged
/// `join:client` and the upgrade (in either order: the upgrade may finish
/// before the CONNECT is answered), then a live 002 event.
#[tokio::test]
async fn a_wallboard_in_chromium_connects_by_polling_upgrades_and_hears_live_events() {
    let (app, peer) = crate::ami_peer::app_with_peer(|_| {}).await;
    require_tool("chromium", "apt-get install chromium (make deps does)");
    let node = require_tool("node", "install Node.js 20");
    let supervisor = token(Role::Supervisor, None, None);
    let mut child = tokio::process::Command::new(node)
        .arg(repo_root().join("clients/web/run-in-chromium.mjs"))
        .args(["--entry", "wallboard.ts", "--server", &app.url()])
        .args(["--token", &supervisor, "--client", "acme"])
        .args(["--reports", "1000", "--seconds", "60"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut reports: Vec<serde_json::Value> = Vec::new();
    let mut published = false;
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the page reports within a minute: {reports:?}"))
            .expect("stdout readable")
            .unwrap_or_else(|| panic!("the page stopped early: {reports:?}"));
        let report: serde_json::Value = serde_json::from_str(&line).expect("json report");
        assert_ne!(report["kind"], "error", "{report}");
        let live = report["name"] == "agent:login";
        reports.push(report);
        if live {
            break;
        }
        let upgraded = reports.iter().any(|r| r["kind"] == "upgraded");
        let greeted = reports.iter().any(|r| r["name"] == "system_state");
        let joined = reports.iter().any(|r| r["kind"] == "ack");
        if upgraded && greeted && joined && !published {
            published = true;
            // A live 002 event: an agent logs in at the PBX.
            peer.send(crate::ami_peer::agent_login("3001", "Ada"));
        }
    }
    assert_eq!(
        reports[0],
        serde_json::json!({ "kind": "opened", "transport": "polling" }),
        "the browser client's default start"
    );
    assert!(
        reports.iter().any(|r| r["kind"] == "connected"),
        "{reports:?}"
    );
    let upgraded = reports.iter().find(|r| r["kind"] == "upgraded");
    assert_eq!(upgraded.unwrap()["transport"], "websocket");
    let ack = reports.iter().find(|r| r["kind"] == "ack").unwrap();
    assert_eq!(
        ack["data"],
        serde_json::json!({ "ok": true, "room": "client:acme" })
    );
    let greeting: Vec<&str> = reports
        .iter()
        .filter_map(|r| r["name"].as_str())
        .filter(|name| {
            [
                "system_state",
                "ami:connected",
                "calls:active",
                "agents:status",
            ]
            .contains(name)
        })
        .take(4)
        .collect();
    assert_eq!(
        greeting,
        [
            "system_state",
            "ami:connected",
            "calls:active",
            "agents:status"
        ]
    );
    let live = reports.last().unwrap();
    assert_eq!(live["data"]["extension"], "3001", "{live}");
    assert_eq!(
        reports
            .iter()
            .filter(|r| r["name"] == "agent:login")
            .count(),
        1
    );
}
