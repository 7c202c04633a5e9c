//! The seeds' dashboards pointed at switchboard unchanged
//! (`clients/socketio/seed-dashboards.mjs`): the AMI wallboard (002) keyed
//! by `uniqueid`, the voice-AI call panel (003) keyed by `callId`, and the
//! agent desktop's metrics (000), on one server fed at once by the AMI
//! simulator, the ARI simulator and signed voice-AI webhooks. Each dashboard
//! keeps its state as the seed's own code does and reports where a payload
//! would break it.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::auth::Role;
use switchboard::devtools::sim::Simulator;
use switchboard::devtools::sim::ari_workload::{self, AriWorkload};
use tokio_util::sync::CancellationToken;

use crate::helpers::{repo_root, require_tool, spawn_app_with, token};
use crate::webhooks::{AGENT, KEY, deliver, fixture, now_ms, signed};

#[tokio::test]
async fn the_seeds_dashboards_keep_a_true_picture_of_ami_ari_and_voice_ai_calls() {
    let stop = CancellationToken::new();
    let ami = Simulator::start(crate::sim::busy(crate::sim::any_port()), stop.clone())
        .await
        .expect("AMI simulator starts");
    let ami_address = ami.address;
    let ari = crate::agent_bridge::start_sim(&stop).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|args| {
        args.ami_host = Some(ami_address.ip().to_string());
        args.ami_port = Some(ami_address.port().to_string());
        args.ami_username = Some("switchboard".into());
        args.ami_secret = Some("switchboard".into());
        args.ami_md5 = Some("true".into());
        crate::agent_bridge::uses_sim(args, &ari, dir.path());
        args.retell_api_key = Some(KEY.into());
        args.retell_agent_clients = Some(format!("{AGENT}=acme"));
        args.stats_interval_seconds = Some("1".into());
    })
    .await;
    // Agent-bridge calls, short enough to end within the run.
    let workload = AriWorkload {
        extensions: vec!["1001".into(), "1002".into()],
        queue_number: "8000".into(),
        calls_per_minute: 40.0,
        talk_seconds: 1.0..3.0,
        seed: 11,
    };
    tokio::spawn(ari_workload::run(ari, workload, stop.clone()));
    // The dashboards open once the PBX link is up: they must still learn it is.
    tokio::time::timeout(Duration::from_secs(20), async {
        // `/healthz` says where each source stands.
        loop {
            let health: serde_json::Value = reqwest::get(format!("{}/healthz", app.url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if health["sources"]["ami"] == "connected" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("AMI connects");

    let node = require_tool("node", "install Node.js 20");
    let dashboards = tokio::process::Command::new(node)
        .arg(repo_root().join("clients/socketio/seed-dashboards.mjs"))
        .arg(app.url())
        .args(["--token", &token(Role::Admin, None, None)])
        .args(["--seconds", "12"])
        .kill_on_drop(true)
        .output();
    let calls = async {
        // Voice-AI calls start and end while the dashboards watch.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let examples = fixture("spec_example_webhooks_assembled.json");
        for n in 0..3 {
            for kind in ["call_started", "call_ended"] {
                let mut body = examples[kind].clone();
                body["call"]["call_id"] = json!(format!("voice-call-{n}"));
                let (status, answer) = deliver(&app, &body, signed(&body, KEY, now_ms())).await;
                assert!(status < 300, "{kind}: {status} {answer}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let (output, ()) = tokio::join!(dashboards, calls);
    let output = output.expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "one report line: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    stop.cancel();
    assert_eq!(report["problems"], json!([]), "{report}");
    let wallboard = &report["wallboard"];
    assert_eq!(wallboard["amiConnected"], true, "told at connect: {report}");
    // Calls of both sources, in one keyed picture: the AMI simulator's
    // (from-external / from-internal) and the agent bridge's (from-trunk).
    assert!(
        wallboard["contexts"]["from-trunk"].as_u64() >= Some(2),
        "{report}"
    );
    assert!(
        wallboard["contexts"]["from-external"].as_u64() >= Some(2),
        "{report}"
    );
    assert!(wallboard["ended"].as_u64() >= Some(2), "{report}");
    assert!(wallboard["references"].as_u64() >= Some(1), "{report}");
    // The panel joined `admin` while AMI calls ended: it heard the voice-AI
    // calls only, each started and ended under its callId.
    let panel = &report["panel"];
    assert_eq!(panel["joined"], true, "{report}");
    assert_eq!(panel["started"], 3, "{report}");
    assert_eq!(panel["recent"], 3, "{report}");
    assert_eq!(panel["active"], 0, "{report}");
    assert!(report["metrics"]["stats"].as_u64() >= Some(5), "{report}");
}
