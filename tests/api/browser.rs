//! The TypeScript browser client of `clients/web/` (generated code from
//! `gen/ts`, grpc-web transport) in headless Chromium: reads the state,
//! resumes the event stream, then receives a live event.

use std::process::Stdio;
use std::time::Duration;

use switchboard::auth::Role;
use switchboard::ledger::Input;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{repo_root, require_tool, spawn_app, token};

#[tokio::test]
async fn the_browser_client_resumes_and_follows_the_stream_over_grpc_web() {
    let app = spawn_app().await;
    require_tool("chromium", "apt-get install chromium (make deps does)");
    let node = require_tool("node", "install Node.js 20");
    for n in 1..=3 {
        app.core.log.apply(
            Input::SystemModeSet {
                mode: format!("mode-{n}"),
            },
            chrono::Utc::now(),
        );
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
            app.core.log.apply(
                Input::SystemModeSet {
                    mode: "live".into(),
                },
                chrono::Utc::now(),
            );
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
