//! The console (`clients/web/console/`, served by the server at `/`) in
//! headless Chromium, one page at a time, against a real server fed by a
//! PBX peer on loopback (AMI), the ARI simulator, a local Twilio or the
//! voice-AI provider's signed webhooks. The browser is driven step by step
//! by `clients/web/console/drive.mjs`; each test writes screenshots to
//! `target/console-screenshots/` for a reviewer (not committed) and ends with
//! no console error on the page.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::auth::Role;
use switchboard::devtools::sim::ari::AriSim;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio_util::sync::CancellationToken;

use crate::ami_peer::{PeerCall, agent_login, app_with_peer};
use crate::helpers::{TestApp, repo_root, require_tool, spawn_app_with, token, token_for};

/// Headless Chromium on the console, driven one command at a time.
struct Browser {
    _child: Child,
    stdin: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    /// Opens `page` (a hash route) of `app`'s console signed in with `token`
    /// (none: the server runs with auth off), at 1366×768.
    async fn open(app: &TestApp, token: &str, page: &str) -> Browser {
        let query = if token.is_empty() {
            String::new()
        } else {
            format!("?token={token}")
        };
        Browser::at(&format!("{}/{query}#/{page}", app.url())).await
    }

    /// Opens `url` at 1366×768.
    async fn at(url: &str) -> Browser {
        require_tool("chromium", "apt-get install chromium (make deps does)");
        let node = require_tool("node", "install Node.js 20");
        let shots = repo_root().join("target/console-screenshots");
        let mut child = tokio::process::Command::new(node)
            .arg(repo_root().join("clients/web/console/drive.mjs"))
            .arg("--screenshots")
            .arg(shots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("stdin");
        let answers = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut browser = Browser {
            _child: child,
            stdin,
            answers,
        };
        browser.run(json!({"do": "open", "url": url})).await;
        browser
    }

    /// Runs `command`; its answer, whether it worked or not.
    async fn try_run(&mut self, command: Value) -> Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("driver reads");
        let answer = tokio::time::timeout(Duration::from_secs(60), self.answers.next_line())
            .await
            .expect("the driver answers within a minute")
            .expect("stdout readable")
            .expect("the driver answers");
        serde_json::from_str(&answer).expect("json answer")
    }

    /// Runs `command`, which must work.
    async fn run(&mut self, command: Value) -> Value {
        let answer = self.try_run(command.clone()).await;
        assert_eq!(answer["ok"], true, "{command} failed: {answer}");
        answer
    }

    /// Waits until `selector` (holding `text`) shows; its text.
    async fn wait(&mut self, selector: &str, text: &str) -> String {
        let answer = self
            .run(json!({"do": "wait", "selector": selector, "text": text}))
            .await;
        answer["text"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until no `selector` (holding `text`) shows.
    async fn gone(&mut self, selector: &str, text: &str) {
        self.run(json!({"do": "gone", "selector": selector, "text": text}))
            .await;
    }

    async fn click(&mut self, selector: &str, text: &str) {
        self.run(json!({"do": "click", "selector": selector, "text": text}))
            .await;
    }

    async fn fill(&mut self, selector: &str, value: &str) {
        self.run(json!({"do": "fill", "selector": selector, "value": value}))
            .await;
    }

    async fn screenshot(&mut self, name: &str) {
        self.run(json!({"do": "screenshot", "name": name})).await;
    }

    /// Checks what every page owes its users: every control has a name a
    /// screen reader can say, Tab reaches the navigation and `controls`,
    /// and a phone-width screen (390 px) scrolls down, not sideways.
    async fn check_usable(&mut self, name: &str, controls: &[&str]) {
        let audit = self.run(json!({"do": "audit"})).await;
        assert_eq!(audit["unnamed"], json!([]), "controls without a name");
        let reached: Vec<&str> = audit["reached"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for wanted in ["a:Skip to content"].iter().chain(controls) {
            assert!(
                reached.iter().any(|r| r.starts_with(wanted)),
                "Tab never reaches {wanted}: {reached:?}"
            );
        }
        let phone = self
            .run(json!({"do": "resize", "width": 390, "height": 844}))
            .await;
        assert!(
            phone["overflow"].as_i64().unwrap() <= 0,
            "the page is wider than a phone: {phone}"
        );
        self.screenshot(&format!("{name}-phone")).await;
        self.run(json!({"do": "resize", "width": 1366, "height": 768}))
            .await;
    }

    /// Closes the browser; the page must not have logged an error.
    async fn close(mut self) {
        let answer = self.run(json!({"do": "close"})).await;
        assert_eq!(answer["errors"], json!([]), "the page logged errors");
    }
}

/// The seconds a `m:ss` timer shows.
fn timer_seconds(text: &str) -> u64 {
    let (minutes, seconds) = text.trim().split_once(':').expect("m:ss");
    minutes.parse::<u64>().unwrap() * 60 + seconds.parse::<u64>().unwrap()
}

#[tokio::test]
async fn the_wallboard_shows_calls_live_and_a_supervisors_barge_reaches_the_pbx() {
    let (app, peer) = app_with_peer(|args| args.supervisor_extension = None).await;
    peer.send(agent_login("1001", "Ann Agent"));
    let supervisor = token(Role::Supervisor, None, None);
    let mut page = Browser::open(&app, &supervisor, "wallboard").await;
    page.wait("[data-source=AMI]", "AMI connected").await;
    page.wait("tr[data-agent='1001']", "available").await;

    let call = PeerCall::new(1, "254712345678", "").named("Jane Caller");
    let row = format!("tr[data-call='{}']", call.call_id());
    peer.send(call.rings());
    let ringing = page.wait(&row, "ringing").await;
    assert!(ringing.contains("Jane Caller 254712345678"), "{ringing}");
    peer.send(call.answered());
    page.wait(&row, "connected").await;
    page.wait("tr[data-agent='1001']", "on call").await;
    // The duration runs on the page, between two pushes.
    let timer = format!("{row} td.timer");
    let first = page.wait(&timer, "").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let later = page.wait(&timer, "").await;
    assert!(
        timer_seconds(&later) >= timer_seconds(&first) + 2,
        "{first} then {later}"
    );
    page.screenshot("wallboard").await;

    // A barge with no phone to ring is refused, and the page says why.
    page.click("button[aria-label='Barge agent 1001']", "")
        .await;
    let refused = page.wait(".panel .result.refused", "Barge refused").await;
    assert!(refused.contains("extension"), "{refused}");
    // With the supervisor's phone, the PBX is asked to ring it into ChanSpy.
    page.fill("input[inputmode=numeric]", "2001").await;
    page.click("button[aria-label='Barge agent 1001']", "")
        .await;
    page.wait(".panel .result.ok", "Barge on 1001").await;
    let originate = crate::helpers::until(
        "the barge's Originate",
        Duration::from_secs(5),
        async || peer.originates().into_iter().next(),
    )
    .await;
    assert_eq!(originate.get("Channel"), Some("PJSIP/2001"));
    assert_eq!(originate.get("Context"), Some("spy-barge"));
    assert_eq!(originate.get("Exten"), Some("1001"));

    page.check_usable(
        "wallboard",
        &["button:Monitor agent 1001", "button:Barge agent 1001"],
    )
    .await;
    peer.send(call.ends());
    page.gone(&row, "").await;
    page.wait(&format!("[data-ended='{}']", call.call_id()), "Jane Caller")
        .await;
    page.wait("tr[data-agent='1001']", "available").await;
    page.close().await;
}

#[tokio::test]
async fn a_client_token_sees_only_its_tenants_calls_masked_and_no_supervisor_actions() {
    let (app, peer) = app_with_peer(|_| {}).await;
    peer.send(agent_login("1001", "Ann Agent"));
    let acme = PeerCall::new(1, "254712345678", "acme");
    let globex = PeerCall::new(2, "254700000001", "globex");
    peer.send(acme.rings());
    peer.send(globex.rings());
    let client = token(Role::Client, None, Some("acme"));
    let mut page = Browser::open(&app, &client, "wallboard").await;
    let row = page.wait("tr[data-call]", "").await;
    assert!(row.contains("********5678"), "masked: {row}");
    page.screenshot("wallboard-client").await;
    let calls = page
        .run(json!({"do": "count", "selector": "tr[data-call]"}))
        .await;
    assert_eq!(calls["count"], 1, "acme's call only");
    let buttons = page
        .run(json!({"do": "count", "selector": "button[aria-label^='Barge']"}))
        .await;
    assert_eq!(buttons["count"], 0, "no supervisor actions for a client");
    let links = page.wait("header nav", "").await;
    assert!(
        links.contains("Voice AI calls") && !links.contains("Queue calls"),
        "{links}"
    );
    let sources = page
        .run(json!({"do": "count", "selector": "[data-source]"}))
        .await;
    assert_eq!(sources["count"], 0, "the house's PBX link is staff's");
    page.close().await;
}

/// The ARI simulator with agents 1001 (one call at a time) and 1002 (three)
/// whose phones are online, and a server whose agent bridge runs on it.
async fn bridge_app(stop: &CancellationToken) -> (AriSim, TestApp, tempfile::TempDir) {
    let sim = crate::agent_bridge::start_sim(stop).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|args| crate::agent_bridge::uses_sim(args, &sim, dir.path())).await;
    crate::helpers::until(
        "the agent bridge listens",
        Duration::from_secs(10),
        async || (sim.listeners() >= 1).then_some(()),
    )
    .await;
    (sim, app, dir)
}

#[tokio::test]
async fn an_agent_answers_from_the_desktop_and_the_timer_runs_until_the_hang_up() {
    let stop = CancellationToken::new();
    let (sim, app, _dir) = bridge_app(&stop).await;
    let agent = token_for(Role::Agent, "agent_uuid_456", Some("1002"));
    let mut page = Browser::open(&app, &agent, "agent").await;
    page.wait("[data-agent-status]", "available").await;

    let first = sim.customer_calls("254712345678", "Customer Name", "1002", &["agent", "1002"]);
    let second = sim.customer_calls("254700000002", "Second Caller", "1002", &["agent", "1002"]);
    let session = format!("[data-session='ari-{first}']");
    let offer = page.wait(&session, "Customer Name").await;
    assert!(offer.contains("254712345678"), "{offer}");
    page.wait(&format!("[data-session='ari-{second}']"), "Second Caller")
        .await;
    page.screenshot("agent-incoming").await;
    page.click(&format!("{session} button"), "Answer").await;
    let timer = format!("{session} [data-timer]");
    let first_reading = page.wait(&timer, "").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let later = page.wait(&timer, "").await;
    assert!(
        timer_seconds(&later) >= timer_seconds(&first_reading) + 2,
        "{first_reading} then {later}"
    );
    page.wait("[data-agent-status]", "1 of 3 calls").await;
    // Hold reaches the PBX: the customer's channel is held there.
    page.click(&format!("{session} button"), "Hold").await;
    page.wait(&format!("{session} button[aria-pressed=true]"), "Resume")
        .await;
    let (held, _) = sim.held_and_muted();
    assert_eq!(held, std::slice::from_ref(&first), "held on the PBX");
    page.screenshot("agent-on-call").await;
    page.check_usable(
        "agent",
        &["button:Answer", "button:Reject", "button:Hang up"],
    )
    .await;
    // Mute reaches the PBX too: the agent's leg is muted there.
    page.click(&format!("{session} button"), "Mute").await;
    page.wait(&format!("{session} button[aria-pressed=true]"), "Unmute")
        .await;
    let (_, muted) = sim.held_and_muted();
    assert_eq!(muted.len(), 1, "the agent's leg muted on the PBX");
    // A third call, answered too (1002 takes three), goes on to 1001.
    let third = sim.customer_calls("254700000003", "Third Caller", "1002", &["agent", "1002"]);
    let third_session = format!("[data-session='ari-{third}']");
    page.click(&format!("{third_session} button"), "Answer")
        .await;
    page.wait(&format!("{third_session} [data-timer]"), "")
        .await;
    page.fill(&format!("{third_session} input"), "1001").await;
    page.click(&format!("{third_session} button[type=submit]"), "Transfer")
        .await;
    page.gone(&third_session, "").await;
    crate::helpers::until("1001's phone rings", Duration::from_secs(5), async || {
        sim.ringing_at("PJSIP/1001")
    })
    .await;
    // The second caller is rejected; the first call is hung up from the page.
    page.click(&format!("[data-session='ari-{second}'] button"), "Reject")
        .await;
    page.gone(&format!("[data-session='ari-{second}']"), "")
        .await;
    page.click(&format!("{session} button"), "Hang up").await;
    page.gone(&session, "").await;
    page.wait("[data-agent-status]", "available").await;
    assert!(
        !sim.channels().iter().any(|c| c.id == first),
        "the customer's channel is gone from the PBX"
    );
    page.close().await;
    stop.cancel();
}

#[tokio::test]
async fn a_supervisor_assigns_a_waiting_queue_call_to_an_agent_with_room() {
    let stop = CancellationToken::new();
    let (sim, app, _dir) = bridge_app(&stop).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut page = Browser::open(&app, &supervisor, "queue").await;
    let caller = sim.customer_calls("254798765432", "Queue Customer", "8000", &["queue", "8000"]);
    let row = format!("tr[data-queued='ari-{caller}']");
    let waiting = page.wait(&row, "Queue Customer").await;
    assert!(waiting.contains("8000"), "{waiting}");
    page.screenshot("queue").await;
    page.run(json!({"do": "select", "selector": format!("{row} select[aria-label^=Priority]"), "value": "high"}))
        .await;
    page.wait(&format!("{row} .result.ok"), "Priority set to high")
        .await;
    page.run(json!({"do": "select", "selector": format!("{row} select[aria-label^=Agent]"), "value": "1002"}))
        .await;
    page.click(&format!("{row} button"), "Assign").await;
    page.gone(&row, "").await;
    crate::helpers::until(
        "agent 1002's phone rings",
        Duration::from_secs(5),
        async || sim.ringing_at("PJSIP/1002"),
    )
    .await;
    page.check_usable("queue", &[]).await;
    page.close().await;
    stop.cancel();
}

#[tokio::test]
async fn a_transfer_shows_the_customers_profile_then_an_info_window_until_the_call_ends() {
    use crate::webhooks::{TwilioPeer, status_callback, uses_twilio_peer};
    let twilio = TwilioPeer::default();
    let address = twilio.clone().start().await;
    let app = spawn_app_with(move |args| uses_twilio_peer(args, address)).await;
    let agent = token_for(Role::Agent, "agent-2001", Some("2001"));
    let mut page = Browser::open(&app, &agent, "agent").await;
    page.wait("[data-stream=live]", "Live").await;

    // The voice assistant hands its caller over, with what it learnt.
    let response = reqwest::Client::new()
        .post(format!("{}/api/transfers", app.url()))
        .bearer_auth(token(Role::Admin, None, None))
        .json(&json!({
            "extension": "2001",
            "customer_call_sid": "CAcustomer42",
            "profile": {"name": "Ann Example", "email": "ann@example.com", "phone": "+254712345678",
                        "conversation_history": [{"role": "user", "content": "a human, please"}],
                        "activities": [{"type": "order", "action": "viewed", "title": "Order 1042"}]}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let popup = page.wait("[role=dialog]", "Ann Example").await;
    for shown in ["ann@example.com", "a human, please", "Order 1042"] {
        assert!(popup.contains(shown), "{shown} missing from {popup}");
    }
    page.screenshot("agent-transfer-popup").await;
    page.check_usable("agent-transfer", &["button:Accept"])
        .await;
    page.click("[role=dialog] button", "Accept").await;
    page.gone("[role=dialog]", "").await;
    page.wait("[data-transfer-info]", "Ann Example").await;

    // Twilio reports the agent's leg: it rings, is answered, then ends.
    let signed = "https://hub.example.com/webhooks/twilio/status";
    for (seq, status) in [("0", "ringing"), ("1", "in-progress")] {
        let params = [
            ("CallSid", "CAagentleg0001"),
            ("SequenceNumber", seq),
            ("CallStatus", status),
        ];
        assert_eq!(status_callback(&app, &params, Some(signed)).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    page.wait("[data-transfer-info]", "Ann Example").await;
    page.screenshot("agent-transfer-info").await;
    let params = [
        ("CallSid", "CAagentleg0001"),
        ("SequenceNumber", "2"),
        ("CallStatus", "completed"),
    ];
    assert_eq!(status_callback(&app, &params, Some(signed)).await, 200);
    page.gone("[data-transfer-info]", "").await;
    page.close().await;
}

#[tokio::test]
async fn a_chat_message_goes_both_ways_between_the_widget_and_the_dashboard() {
    let app = crate::helpers::spawn_app().await;
    let agent = token_for(Role::Agent, "agent-7", Some("1007"));
    let mut dashboard = Browser::open(&app, &agent, "chat").await;
    dashboard.wait("[data-online='agent-7']", "").await;
    // The customer needs no token: the widget starts the conversation.
    let mut widget = Browser::open(&app, "", "widget").await;
    widget.fill("input[autocomplete=name]", "Wanjiru").await;
    widget
        .fill("input[type=email]", "wanjiru@example.com")
        .await;
    widget
        .fill("label:has-text('help') input", "Where is my order?")
        .await;
    widget.click("button[type=submit]", "Start chat").await;
    widget.wait("[data-message]", "Where is my order?").await;

    dashboard.click("[data-conversation]", "Wanjiru").await;
    dashboard.wait("[data-message]", "Where is my order?").await;
    // The customer types: the agent sees it.
    widget
        .fill("label:has-text('Message') input", "Hello?")
        .await;
    dashboard.wait(".typing", "The customer is typing").await;
    dashboard
        .fill("label:has-text('Reply') input", "It ships today.")
        .await;
    widget.wait(".typing", "The agent is typing").await;
    dashboard.click("button[type=submit]", "Send").await;
    widget.wait("[data-message]", "It ships today.").await;
    widget.click("button[type=submit]", "Send").await;
    dashboard.wait("[data-message]", "Hello?").await;
    dashboard.wait(".badge", "Heartbeat acknowledged").await;
    dashboard.screenshot("chat-dashboard").await;
    widget.screenshot("chat-widget").await;
    dashboard.check_usable("chat", &["button:Send"]).await;
    widget.check_usable("chat-widget", &["button:Send"]).await;
    // Each message was stored once: the widget shows three, in order.
    let shown = widget
        .run(json!({"do": "count", "selector": "[data-message]"}))
        .await;
    assert_eq!(shown["count"], 3);
    widget.close().await;
    dashboard.close().await;
}

#[tokio::test]
async fn voice_ai_calls_show_live_and_recent_for_admins_and_masked_for_their_client() {
    use crate::webhooks::{AGENT, KEY, deliver, fixture, now_ms, signed};
    let app = spawn_app_with(|args| {
        args.retell_api_key = Some(KEY.into());
        args.retell_agent_clients = Some(format!("{AGENT}=acme"));
    })
    .await;
    let examples = fixture("spec_example_webhooks_assembled.json");
    let mut started = examples["call_started"].clone();
    started["call"]["call_id"] = json!("call-recent");
    started["call"]["from_number"] = json!("+254712345678");
    let (status, _) = deliver(&app, &started, signed(&started, KEY, now_ms())).await;
    assert_eq!(status, 200);

    // Opened after the call started: the replay window shows it.
    let mut admin = Browser::open(&app, &token(Role::Admin, None, None), "voice").await;
    let row = admin.wait("[data-voice-call='call-recent']", "acme").await;
    assert!(row.contains("in progress"), "{row}");
    let mut client = Browser::open(&app, &token(Role::Client, None, Some("acme")), "voice").await;
    client.wait("[data-voice-call='call-recent']", "5678").await;
    let mut stranger =
        Browser::open(&app, &token(Role::Client, None, Some("globex")), "voice").await;
    stranger.wait(".empty", "No assistant calls yet").await;

    // Live: a second call starts, the first ends.
    let mut live = examples["call_started"].clone();
    live["call"]["call_id"] = json!("call-live");
    let (status, _) = deliver(&app, &live, signed(&live, KEY, now_ms())).await;
    assert_eq!(status, 200);
    admin
        .wait("[data-voice-call='call-live']", "in progress")
        .await;
    client.wait("[data-voice-call='call-live']", "").await;
    let mut ended = fixture("docs_sample_webhook_call_ended.json");
    ended["call"]["call_id"] = json!("call-recent");
    let (status, _) = deliver(&app, &ended, signed(&ended, KEY, now_ms())).await;
    assert_eq!(status, 200);
    let done = admin.wait("[data-voice-call='call-recent']", "").await;
    assert!(!done.contains("in progress"), "{done}");
    admin.screenshot("voice-admin").await;
    client.screenshot("voice-client").await;
    let phones = client
        .wait("[data-voice-call='call-recent'] [data-phone]", "")
        .await;
    assert!(
        !phones.contains("2547123"),
        "a client sees the last digits only: {phones}"
    );
    let others = stranger
        .run(json!({"do": "count", "selector": "[data-voice-call]"}))
        .await;
    assert_eq!(others["count"], 0, "another client's calls stay hidden");
    admin.check_usable("voice", &["select"]).await;
    for page in [admin, client, stranger] {
        page.close().await;
    }
}

/// The pages' stream keeper (`clients/web/console/live.ts`) against a
/// scripted stream: resume after a break and after dropped events, a
/// Resync's picture, a refused token (`clients/web/console/live.test.ts`).
#[test]
fn the_console_stream_resumes_where_it_broke_and_starts_over_from_a_resync() {
    let node = require_tool("node", "install Node.js 20");
    let run = std::process::Command::new(node)
        .arg(repo_root().join("clients/web/console/test.mjs"))
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("# pass 4"), "{report}");
}

#[tokio::test]
async fn the_wallboard_tells_when_the_pbx_state_was_rebuilt_and_keeps_no_ghost_call() {
    let stop = CancellationToken::new();
    let (sim, app, _dir) = bridge_app(&stop).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut page = Browser::open(&app, &supervisor, "wallboard").await;
    page.wait("[data-source=ARI]", "ARI connected").await;
    let customer = sim.customer_calls("254712345678", "Lost Caller", "1001", &["agent", "1001"]);
    let row = format!("tr[data-call='ari-{customer}']");
    page.wait(&row, "Lost Caller").await;
    // The PBX becomes unreachable; the caller hangs up meanwhile.
    sim.cut_events(true);
    page.wait("[data-source=ARI]", "ARI disconnected").await;
    sim.customer_hangs_up(&customer);
    sim.restore_events();
    page.wait(".notice", "rebuilt from the PBX").await;
    page.wait("[data-source=ARI]", "ARI connected").await;
    page.gone(&row, "").await;
    page.screenshot("wallboard-rebuilt").await;
    page.close().await;
    stop.cancel();
}

/// What the issue promises a newcomer: `switchboard demo` prints a URL, and
/// every page there shows the simulated call center live (auth is off: no
/// sign-in). The demo's PBX is the simulator (AMI and ARI); its chat
/// customers and voice assistant write in over its own port.
#[tokio::test]
async fn the_demo_shows_the_simulated_call_center_live_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = crate::cli::spawn_demo(dir.path());
    let (address, log) = crate::cli::reported_address(&mut demo).await;
    let mut page = Browser::at(&format!("http://{address}/")).await;
    page.wait("main h1", "Wallboard").await;
    page.wait("[data-source=AMI]", "AMI connected").await;
    page.wait("[data-source=ARI]", "ARI connected").await;
    page.wait("tr[data-call]", "").await;
    // The agent-bridge agents are signed in by their phones (ARI), whatever AMI says.
    page.wait("tr[data-agent='3001']", "").await;
    let agent = page.wait("tr[data-agent='3001']", "").await;
    assert!(!agent.contains("offline"), "{agent}");
    page.screenshot("demo-wallboard").await;

    page.click("header nav a", "Agent desktop").await;
    page.run(json!({"do": "select", "selector": "main select", "value": "3003"}))
        .await;
    page.run(json!({"do": "wait", "selector": "[data-session]", "timeout": 60000}))
        .await;
    page.screenshot("demo-agent").await;

    page.click("header nav a", "Queue calls").await;
    page.run(json!({"do": "wait", "selector": "tr[data-queued]", "timeout": 60000}))
        .await;
    page.screenshot("demo-queue").await;

    page.click("header nav a", "Voice AI calls").await;
    page.wait("[data-voice-call]", "acme").await;
    page.screenshot("demo-voice").await;

    page.click("header nav a", "Chat").await;
    page.run(json!({"do": "wait", "selector": "[data-conversation]", "timeout": 30000}))
        .await;
    page.click("[data-conversation]", "").await;
    page.wait("[data-message]", "").await;
    page.screenshot("demo-chat").await;
    page.close().await;
    demo.start_kill().unwrap();
    let _ = demo.wait().await;
    let log = log.await.unwrap_or_default();
    assert!(
        log.contains(&format!("open the console at http://{address}/")),
        "the demo prints the console's URL first: {log}"
    );
}

#[tokio::test]
async fn an_admin_sets_the_system_mode_and_sees_reassignments_on_the_chat_dashboard() {
    use switchboard::proto::v1 as pb;
    let app = crate::helpers::spawn_app().await;
    let admin = token_for(Role::Admin, "admin-1", None);
    let mut page = Browser::open(&app, &admin, "chat").await;
    page.wait("[data-online='admin-1']", "").await;
    let mut chat = pb::chat_service_client::ChatServiceClient::new(app.channel().await);
    let started = chat
        .start_conversation(pb::StartConversationRequest {
            customer_name: "Dee".into(),
            first_message: "Hello".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = started.conversation.unwrap().id;
    page.wait("[data-conversation]", "Dee").await;
    chat.reassign_conversations(crate::helpers::authed(
        pb::ReassignConversationsRequest {
            reassignments: vec![pb::TicketReassignment {
                conversation_id: id.clone(),
                to_agent_id: "agent-ann".into(),
                ..Default::default()
            }],
            reason: "shift change".into(),
        },
        &token(Role::Supervisor, None, None),
    ))
    .await
    .unwrap();
    let notice = page.wait(".notices li", &id).await;
    assert!(
        notice.contains("agent-ann") && notice.contains("shift change"),
        "{notice}"
    );
    page.fill("label:has-text('Set system mode') input", "night")
        .await;
    page.click("button[type=submit]", "Set").await;
    page.wait(".result.ok", "System mode is night").await;
    page.wait("[data-system-mode]", "System mode: night").await;
    page.screenshot("chat-admin").await;
    page.close().await;
}

/// The real Asterisk 22 watched over both AMI and ARI: a customer's call
/// into the agent bridge (route 7001) rings agent 1001's phone, which
/// answers. The wallboard and agent 1001's desktop follow it to its end,
/// and the agent-bridge agent stays signed in whatever AMI's rebuild says.
#[tokio::test]
async fn the_wallboard_and_the_agent_desktop_follow_a_real_asterisk_call() {
    use crate::real_pbx::{Bench, Watching};
    let bench = Bench::start_watching(Watching::Both).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut wallboard = Browser::open(&bench.app, &supervisor, "wallboard").await;
    wallboard.wait("[data-source=AMI]", "AMI connected").await;
    wallboard.wait("[data-source=ARI]", "ARI connected").await;
    wallboard.wait("tr[data-agent='1001']", "available").await;
    let agent = token_for(Role::Agent, "agent-1001", Some("1001"));
    let mut desktop = Browser::open(&bench.app, &agent, "agent").await;
    desktop.wait("[data-agent-status]", "available").await;

    bench.customer_calls("0611111111", "7001").await;
    let call = desktop.wait("[data-session] [data-timer]", "").await;
    desktop.wait("[data-session]", "0611111111").await;
    wallboard.wait("tr[data-call]", "connected").await;
    wallboard.wait("tr[data-agent='1001']", "on call").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = desktop.wait("[data-session] [data-timer]", "").await;
    assert!(
        timer_seconds(&later) > timer_seconds(&call),
        "{call} then {later}"
    );
    wallboard.screenshot("real-pbx-wallboard").await;
    desktop.screenshot("real-pbx-desktop").await;

    bench.hang_up("^Local/0611111111@customers").await;
    desktop.gone("[data-session]", "").await;
    wallboard.gone("tr[data-call]", "").await;
    wallboard.wait("tr[data-agent='1001']", "available").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.agent_extension, "1001");
    wallboard.close().await;
    desktop.close().await;
}

/// Without a token, a server with auth on asks for one: a pasted token that
/// is not one, or one the server refuses, says why; a good one opens the
/// pages its role may use (an agent: no wallboard).
#[tokio::test]
async fn a_pasted_token_signs_in_and_a_refused_one_says_why() {
    let app = crate::helpers::spawn_app().await;
    let mut page = Browser::at(&format!("{}/", app.url())).await;
    page.wait("form", "Access token").await;
    page.check_usable("sign-in", &["button:Sign in"]).await;
    page.fill("textarea", "not a token").await;
    page.click("button[type=submit]", "Sign in").await;
    page.wait("[role=alert]", "not a switchboard token").await;
    // Signed with another secret: the server's reason, in words.
    let forged =
        switchboard::auth::Authenticator::new(b"another-secret-of-32-bytes-or-more", false)
            .mint(
                "mallory",
                Role::Supervisor,
                None,
                None,
                Duration::from_secs(600),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
            )
            .unwrap();
    page.fill("textarea", &forged).await;
    page.click("button[type=submit]", "Sign in").await;
    page.wait("[role=alert]", "Not signed in").await;
    page.screenshot("sign-in-refused").await;
    page.fill("textarea", &token_for(Role::Agent, "agent-7", Some("1007")))
        .await;
    page.click("button[type=submit]", "Sign in").await;
    page.wait("main h1", "Agent desktop").await;
    let links = page.wait("header nav", "").await;
    assert!(
        !links.contains("Wallboard") && !links.contains("Queue calls"),
        "{links}"
    );
    page.click("header button", "Sign out").await;
    page.wait("form", "Access token").await;
    page.close().await;
}
