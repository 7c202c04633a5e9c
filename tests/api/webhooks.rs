//! The voice-AI webhooks of seed 003: the provider's signature vectors, and
//! deliveries (good, forged, stale, repeated, out of order) through the real
//! server to Socket.IO rooms `admin` and `client:{id}`, gRPC and the store.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, event::Payload};
use switchboard::sources::webhooks::{retell, twilio};

use crate::helpers::{TestApp, assert_lines_match_schemas, fixtures_root, spawn_app_with, token};

pub(crate) const KEY: &str = "retell-test-key";
pub(crate) const AGENT: &str = "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD";

pub(crate) fn fixture(name: &str) -> Value {
    let path = fixtures_root().join("retell").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).unwrap()
}

#[test]
fn the_providers_signature_vectors_verify_as_its_sdk_does() {
    let vectors = fixture("signature_vectors.json");
    for case in vectors["positive"].as_array().unwrap() {
        let at = case["timestamp_ms"].as_i64().unwrap();
        assert_eq!(
            retell::verify(
                case["api_key"].as_str().unwrap(),
                case["raw_body"].as_str().unwrap().as_bytes(),
                case["x_retell_signature"].as_str().unwrap(),
                at,
            ),
            Ok(()),
            "{}",
            case["id"]
        );
        assert_eq!(
            retell::sign(
                case["api_key"].as_str().unwrap(),
                case["raw_body"].as_str().unwrap().as_bytes(),
                at
            ),
            case["x_retell_signature"].as_str().unwrap()
        );
    }
    let negatives = vectors["negative"].as_array().unwrap();
    assert!(negatives.len() >= 10);
    for case in negatives {
        let verdict = retell::verify(
            case["api_key"].as_str().unwrap(),
            case["raw_body"].as_str().unwrap().as_bytes(),
            case["x_retell_signature"].as_str().unwrap(),
            case["now_ms"].as_i64().unwrap(),
        );
        assert_eq!(
            verdict.is_ok(),
            case["expected_valid"].as_bool().unwrap(),
            "{} {}: {verdict:?}",
            case["id"],
            case["x_retell_signature"]
        );
    }
}

/// Twilio's Node library (`clients/contract/twilio-signatures.mjs`) judges
/// signatures over request URLs that tell validators apart (an apostrophe,
/// which `new URL()` turns into `%27`; `+` and `%20`; ports; IPv6; repeated
/// keys), each signed over the forms a sender may use and over wrong ones:
/// switchboard's verdict is Twilio's on every case, both ways.
#[test]
fn twilio_signatures_are_judged_as_twilios_node_library_judges_them() {
    let node = crate::helpers::require_tool("node", "install Node.js 20");
    let output = std::process::Command::new(node)
        .arg(crate::helpers::repo_root().join("clients/contract/twilio-signatures.mjs"))
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut verdicts = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let (token, url, signature) = (
            case["token"].as_str().unwrap(),
            case["url"].as_str().unwrap(),
            case["signature"].as_str().unwrap(),
        );
        let ours = if case["kind"] == "json" {
            twilio::verify_json(
                token,
                url,
                case["body"].as_str().unwrap().as_bytes(),
                signature,
            )
        } else {
            let mut params = Vec::new();
            for (name, value) in case["params"].as_object().unwrap() {
                match value {
                    Value::Array(values) => params.extend(
                        values
                            .iter()
                            .map(|v| (name.clone(), v.as_str().unwrap().to_owned())),
                    ),
                    value => params.push((name.clone(), value.as_str().unwrap().to_owned())),
                }
            }
            twilio::verify_form(token, url, &params, signature)
        };
        let theirs = case["valid"].as_bool().unwrap();
        assert_eq!(ours, theirs, "{case}");
        *verdicts
            .entry((case["kind"].as_str().unwrap().to_owned(), theirs))
            .or_insert(0) += 1;
    }
    for kind in ["form", "json"] {
        for valid in [true, false] {
            assert!(
                verdicts
                    .get(&(kind.to_owned(), valid))
                    .copied()
                    .unwrap_or(0)
                    >= 5,
                "{verdicts:?}"
            );
        }
    }
}

pub(crate) async fn deliver(
    app: &TestApp,
    body: &Value,
    signature: Option<String>,
) -> (u16, Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let mut request = reqwest::Client::new()
        .post(format!("{}/webhooks/retell", app.url()))
        .header("content-type", "application/json")
        .body(raw);
    if let Some(signature) = signature {
        request = request.header("x-retell-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn signed(body: &Value, key: &str, at_ms: i64) -> Option<String> {
    Some(retell::sign(key, &serde_json::to_vec(body).unwrap(), at_ms))
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn voice_ai_calls_reach_admins_and_their_tenant_once_and_forgeries_nothing() {
    let app = spawn_app_with(|args| {
        args.retell_api_key = Some(KEY.into());
        args.retell_agent_clients = Some(format!("{AGENT}=acme"));
    })
    .await;
    let examples = fixture("spec_example_webhooks_assembled.json");
    let ended = fixture("docs_sample_webhook_call_ended.json");
    let first_call = ended["call"]["call_id"].as_str().unwrap().to_owned();
    let mut second_started = examples["call_started"].clone();
    second_started["call"]["call_id"] = json!("call-two");
    second_started["call"]["from_number"] = json!("+254712345678");

    let mut tenant_stream = app
        .subscribe(
            pb::SubscribeRequest::default(),
            &token(Role::Client, None, Some("acme")),
        )
        .await;
    let admin_token = token(Role::Admin, None, None);
    let client_token = token(Role::Client, None, Some("acme"));
    // The watchers run until the test ends them; the deliveries start once
    // both have their rooms (acknowledged joins), however slow Node's start.
    let admin = app.start_socket_watcher(
        &admin_token,
        &["--seconds", "60", "--emit", "join:admin", "null"],
    );
    let client = app.start_socket_watcher(
        &client_token,
        &[
            "--seconds",
            "60",
            "--emit",
            "join:client",
            r#""acme""#,
            "--emit",
            "join:client",
            r#""globex""#,
        ],
    );
    admin.wait_for("ack:join:admin", 1).await;
    client.wait_for("ack:join:client", 2).await;
    // Forged, unsigned, stale, or for an unknown agent: refused, nothing happens.
    let (status, _) = deliver(&app, &ended, signed(&ended, "not-the-key", now_ms())).await;
    assert_eq!(status, 403);
    let (status, _) = deliver(&app, &ended, None).await;
    assert_eq!(status, 403);
    let (status, _) = deliver(&app, &ended, signed(&ended, KEY, now_ms() - 600_000)).await;
    assert_eq!(status, 403);
    let mut stranger = ended.clone();
    stranger["call"]["agent_id"] = json!("someone-else");
    let (status, _) = deliver(&app, &stranger, signed(&stranger, KEY, now_ms())).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get_as_supervisor(&format!("/api/conversations/voice-acme.{first_call}"))
        .await;
    assert_eq!(status, 404, "a refused delivery stores nothing");
    // The end comes before the start: the end goes out, the late start does not.
    let (status, answer) = deliver(&app, &ended, signed(&ended, KEY, now_ms())).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ok")));
    let late = &examples["call_started"];
    let (status, _) = deliver(&app, late, signed(late, KEY, now_ms())).await;
    assert_eq!(status, 200);
    // A second call starts; its retry is recognised.
    for expected in ["ok", "duplicate"] {
        let (status, answer) = deliver(
            &app,
            &second_started,
            signed(&second_started, KEY, now_ms()),
        )
        .await;
        assert_eq!((status, answer["status"].as_str()), (200, Some(expected)));
    }
    let analyzed = &examples["call_analyzed"];
    let (status, _) = deliver(&app, analyzed, signed(analyzed, KEY, now_ms())).await;
    assert_eq!(status, 200);
    // Each reaches both sockets; a moment more shows nothing comes twice.
    for watcher in [&admin, &client] {
        watcher.wait_for("call:ended", 1).await;
        watcher.wait_for("call:started", 1).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (admin, client) = (admin.finish().await, client.finish().await);
    for lines in [&admin, &client] {
        assert_lines_match_schemas(lines);
        let started: Vec<&Value> = lines
            .iter()
            .filter(|l| l["event"] == "call:started")
            .map(|l| &l["data"])
            .collect();
        assert_eq!(started.len(), 1, "{lines:?}");
        assert_eq!(started[0]["callId"], "call-two");
        assert_eq!(started[0]["clientId"], "acme");
        assert_eq!(started[0]["phone"], "5678", "last four digits only");
        assert_eq!(started[0]["direction"], "inbound");
        assert_eq!(started[0]["agentId"], AGENT);
        let ended: Vec<&Value> = lines
            .iter()
            .filter(|l| l["event"] == "call:ended")
            .map(|l| &l["data"])
            .collect();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0]["callId"], first_call);
        assert_eq!(
            ended[0]["durationMs"],
            1_714_608_491_736_i64 - 1_714_608_475_945
        );
        assert_eq!(ended[0]["status"], "registered");
    }
    let refused: Vec<&Value> = client
        .iter()
        .filter(|l| l["event"] == "ack:join:client")
        .map(|l| &l["data"])
        .collect();
    assert_eq!(refused.len(), 2);
    assert!(
        refused.iter().any(|a| a["room"] == "client:acme"),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|a| a["error"] == "permission_denied"),
        "{refused:?}"
    );

    // The tenant's gRPC stream saw the same.
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), tenant_stream.next())
            .await
            .expect("tenant events")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        match event.payload {
            Some(Payload::VoiceCallEnded(e)) => kinds.push(format!("ended {}", e.call_id)),
            Some(Payload::VoiceCallStarted(e)) => kinds.push(format!("started {}", e.call_id)),
            _ => {}
        }
    }
    assert_eq!(
        kinds,
        [format!("ended {first_call}"), "started call-two".to_owned()]
    );

    // Stored as conversations, with the transcript and the analysis.
    let (status, stored) = app
        .get_as_supervisor(&format!("/api/conversations/voice-acme.{first_call}"))
        .await;
    assert_eq!(status, 200, "stored: {stored}");
    let conversation = &stored["conversation"];
    assert_eq!(
        (
            &conversation["channel"],
            &conversation["tenant"],
            &conversation["status"]
        ),
        (&json!("voice_ai"), &json!("acme"), &json!("closed"))
    );
    let kinds: Vec<&str> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["senderId"].as_str())
        .collect();
    assert!(kinds.contains(&"transcript"), "{kinds:?}");
    app.stop().await.unwrap();
}

#[test]
fn twilios_signature_vectors_verify_as_its_sdks_do() {
    let path = fixtures_root().join("twilio/signature_vectors.json");
    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let positives = vectors["positive"].as_array().unwrap();
    assert!(positives.len() >= 7);
    for case in positives {
        let token = case["auth_token"].as_str().unwrap();
        let url = case["url"].as_str().unwrap();
        let expected = case["expected_signature"].as_str().unwrap();
        let mut params = Vec::new();
        for (name, value) in case["params"].as_object().unwrap() {
            match value {
                Value::Array(values) => {
                    for v in values {
                        params.push((name.clone(), v.as_str().unwrap().to_owned()));
                    }
                }
                v => params.push((name.clone(), v.as_str().unwrap().to_owned())),
            }
        }
        let signed_url = case["signed_url"].as_str().unwrap();
        assert_eq!(
            twilio::signature(token, signed_url, &params),
            expected,
            "{}",
            case["id"]
        );
        match case.get("raw_body").and_then(Value::as_str) {
            Some(body) => {
                assert!(
                    twilio::verify_json(token, url, body.as_bytes(), expected),
                    "{}",
                    case["id"]
                );
                assert!(
                    !twilio::verify_json(token, url, b"{\"property\": \"other\"}", expected),
                    "a different body"
                );
            }
            None => {
                assert!(
                    twilio::verify_form(token, url, &params, expected),
                    "{}",
                    case["id"]
                );
                // Tampered, wrong token, or no signature: refused.
                let mut tampered = params.clone();
                tampered.push(("Extra".into(), "1".into()));
                assert!(!twilio::verify_form(token, url, &tampered, expected));
                assert!(!twilio::verify_form("54321", url, &params, expected));
                assert!(!twilio::verify_form(token, url, &params, ""));
            }
        }
    }
}

pub(crate) async fn status_callback(
    app: &TestApp,
    params: &[(&str, &str)],
    signed_as: Option<&str>,
) -> u16 {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut request = reqwest::Client::new()
        .post(format!("{}/webhooks/twilio/status", app.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(url) = signed_as {
        request = request.header(
            "x-twilio-signature",
            twilio::signature("12345", url, &owned),
        );
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn twilio_status_callbacks_are_call_events_in_sequence_once() {
    let app = spawn_app_with(|args| {
        args.twilio_auth_token = Some("12345".into());
        args.public_url = Some("https://hub.example.com/".into());
    })
    .await;
    let signed = "https://hub.example.com/webhooks/twilio/status";
    let with_port = "https://hub.example.com:443/webhooks/twilio/status";
    let mut stream = app
        .subscribe(
            pb::SubscribeRequest {
                kinds: vec![pb::EventKind::CallUpdated as i32],
                ..Default::default()
            },
            &token(Role::Supervisor, None, None),
        )
        .await;
    let callback = |sid: &'static str, seq: &'static str, status: &'static str| {
        vec![
            ("CallSid", sid),
            ("SequenceNumber", seq),
            ("CallStatus", status),
            ("Direction", "outbound-api"),
            ("From", "+15005550006"),
            ("To", "+254712345678"),
        ]
    };
    // Forged or unsigned: refused, nothing happens.
    assert_eq!(
        status_callback(
            &app,
            &callback("CA1", "0", "ringing"),
            Some("https://evil.example/x")
        )
        .await,
        403
    );
    assert_eq!(
        status_callback(&app, &callback("CA1", "0", "ringing"), None).await,
        403
    );
    // CA1 rings, is answered (the retry counts once), completes; a stale ringing after the end is ignored.
    for (seq, status, url) in [
        ("0", "ringing", signed),
        ("1", "in-progress", with_port),
        ("1", "in-progress", signed),
        ("3", "completed", signed),
        ("0", "ringing", signed),
    ] {
        assert_eq!(
            status_callback(&app, &callback("CA1", seq, status), Some(url)).await,
            200
        );
    }
    // CA2's final callback overtakes its ringing one: one call, ended busy, no ghost.
    for (seq, status) in [("2", "busy"), ("0", "ringing")] {
        assert_eq!(
            status_callback(&app, &callback("CA2", seq, status), Some(signed)).await,
            200
        );
    }
    let mut changes = Vec::new();
    while changes.len() < 5 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("call events")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        if let Some(Payload::CallUpdated(update)) = event.payload {
            let change = update.change();
            let call = update.call.unwrap();
            changes.push(format!(
                "{} {:?} {:?}",
                call.ids.as_ref().unwrap().twilio_call_sid,
                change,
                call.end_reason()
            ));
        }
    }
    assert_eq!(
        changes,
        [
            "CA1 Started Unspecified",
            "CA1 Answered Unspecified",
            "CA1 Ended Completed",
            "CA2 Started Unspecified",
            "CA2 Ended Busy",
        ]
    );
    assert!(
        app.system_state().await.calls.is_empty(),
        "no call left behind"
    );
    app.stop().await.unwrap();
}

/// One request the Twilio peer saw: its path after the account, and its form fields.
type SeenRequest = (String, Vec<(String, String)>);

/// A local Twilio REST API: checks basic auth, records every request's form
/// fields, answers a call resource, or fails once when told to.
#[derive(Clone, Default)]
pub(crate) struct TwilioPeer {
    requests: std::sync::Arc<parking_lot::Mutex<Vec<SeenRequest>>>,
    fail_next: std::sync::Arc<parking_lot::Mutex<Option<(u16, i64, String)>>>,
}

impl TwilioPeer {
    pub(crate) async fn start(self) -> std::net::SocketAddr {
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        async fn calls(
            State(peer): State<TwilioPeer>,
            Path(rest): Path<String>,
            headers: HeaderMap,
            body: String,
        ) -> axum::response::Response {
            use base64::Engine;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("AC123:12345")
            );
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
            {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
                )
                    .into_response();
            }
            let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            peer.requests.lock().push((rest.clone(), form));
            if let Some((status, code, message)) = peer.fail_next.lock().take() {
                return (
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(json!({"code": code, "message": message, "status": status})),
                )
                    .into_response();
            }
            let sid = if rest == "Calls.json" {
                "CAagentleg0001".to_owned()
            } else {
                rest.trim_start_matches("Calls/")
                    .trim_end_matches(".json")
                    .to_owned()
            };
            (
                StatusCode::CREATED,
                axum::Json(json!({"sid": sid, "status": "queued"})),
            )
                .into_response()
        }
        let router = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/AC123/{*rest}",
                axum::routing::post(calls),
            )
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        address
    }
}

/// Points `args` at the local Twilio REST API at `address`, with the
/// account the peer checks (`AC123`, auth token `12345`) and the public URL
/// the callbacks are signed over (`https://hub.example.com`).
pub(crate) fn uses_twilio_peer(
    args: &mut switchboard::config::ServeArgs,
    address: std::net::SocketAddr,
) {
    args.twilio_auth_token = Some("12345".into());
    args.twilio_account_sid = Some("AC123".into());
    args.twilio_transfer_caller_id = Some("+15005550006".into());
    args.twilio_api_base = Some(format!("http://{address}"));
    args.freepbx_domain = Some("pbx.example.com".into());
    args.public_url = Some("https://hub.example.com".into());
}

/// Posts the peer's agent leg's status callbacks to `app`, signed: ringing,
/// in progress, completed.
pub(crate) async fn agent_leg_rings_answers_and_completes(app: &TestApp) {
    let signed = "https://hub.example.com/webhooks/twilio/status";
    for (seq, status) in [("0", "ringing"), ("1", "in-progress"), ("2", "completed")] {
        let params = [
            ("CallSid", "CAagentleg0001"),
            ("SequenceNumber", seq),
            ("CallStatus", status),
            ("Direction", "outbound-api"),
            ("From", "+15005550006"),
            ("To", "sip:2001@pbx.example.com"),
        ];
        assert_eq!(status_callback(app, &params, Some(signed)).await, 200);
    }
}

#[tokio::test]
async fn a_transfer_calls_the_agent_into_a_conference_and_streams_its_progress() {
    let peer = TwilioPeer::default();
    let address = peer.clone().start().await;
    let app = spawn_app_with(move |args| uses_twilio_peer(args, address)).await;
    let mut stream = app
        .subscribe(
            pb::SubscribeRequest {
                kinds: vec![pb::EventKind::TransferUpdate as i32],
                ..Default::default()
            },
            &token(Role::Supervisor, None, None),
        )
        .await;
    let transfer_body = json!({
        "extension": "2001",
        "customer_call_sid": "CAcustomer42",
        "profile": {"name": "Ann", "email": "ann@example.com", "phone": "+254712345678",
                    "conversation_history": [{"role": "user", "content": "a human, please"}],
                    "activities": []}
    });
    let post = |token: String, body: Value| {
        let url = format!("{}/api/transfers", app.url());
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, _) = post(
        token(Role::Agent, Some("2001"), None),
        transfer_body.clone(),
    )
    .await;
    assert_eq!(status, 403, "agents do not start transfers");
    let (status, started) = post(token(Role::Admin, None, None), transfer_body.clone()).await;
    assert_eq!(status, 201, "{started}");
    let transfer = &started["transfer"];
    assert_eq!(transfer["status"], "initiated");
    assert_eq!(transfer["callSid"], "CAagentleg0001");
    let conference = transfer["conferenceName"].as_str().unwrap().to_owned();
    assert!(conference.starts_with("transfer-"));
    let keys: Vec<&str> = started["cacheKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "callcenter:customer:2001",
            "callcenter:customer:2001:CAcustomer42"
        ]
    );

    // What reached Twilio: the agent's call, then the customer's leg sent to the conference.
    let join = format!("https://hub.example.com/webhooks/twilio/voice?conference={conference}");
    {
        let requests = peer.requests.lock();
        assert_eq!(requests.len(), 2);
        let (path, form) = &requests[0];
        assert_eq!(path, "Calls.json");
        let field = |name: &str| {
            form.iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(field("To"), ["sip:2001@pbx.example.com"]);
        assert_eq!(field("From"), ["+15005550006"]);
        assert_eq!(field("Url"), [join.as_str()]);
        assert_eq!(
            field("StatusCallback"),
            ["https://hub.example.com/webhooks/twilio/status"]
        );
        assert_eq!(
            field("StatusCallbackEvent"),
            ["initiated", "ringing", "answered", "completed"]
        );
        assert_eq!(requests[1].0, "Calls/CAcustomer42.json");
        assert!(requests[1].1.contains(&("Url".to_owned(), join.clone())));
    }

    // Twilio fetches the TwiML: a signed request joins the conference; an unsigned one is refused.
    let voice = |signature: Option<String>| {
        let url = format!(
            "{}/webhooks/twilio/voice?conference={conference}",
            app.url()
        );
        async move {
            let mut request = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("CallSid=CAagentleg0001");
            if let Some(signature) = signature {
                request = request.header("x-twilio-signature", signature);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let signature = twilio::signature(
        "12345",
        &join,
        &[("CallSid".to_owned(), "CAagentleg0001".to_owned())],
    );
    let (status, twiml) = voice(Some(signature)).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains(&format!(
            "<Dial><Conference>{conference}</Conference></Dial>"
        )),
        "{twiml}"
    );
    assert_eq!(voice(None).await.0, 403);

    // The agent leg's status callbacks are the transfer's progress.
    agent_leg_rings_answers_and_completes(&app).await;
    let mut states = Vec::new();
    while states.len() < 4 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("transfer updates")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        if let Some(Payload::TransferUpdate(update)) = event.payload {
            states.push(update.status());
        }
    }
    assert_eq!(
        states,
        [
            pb::TransferStatus::Initiated,
            pb::TransferStatus::Ringing,
            pb::TransferStatus::Answered,
            pb::TransferStatus::Completed
        ]
    );

    // Twilio refuses the agent's call: a clear error, and the transfer is failed.
    *peer.fail_next.lock() = Some((
        400,
        21211,
        "The 'To' number is not a valid phone number.".into(),
    ));
    let (status, refused) = post(token(Role::Admin, None, None), transfer_body).await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("21211"),
        "{refused}"
    );
    // Twilio's code, not its text or where switchboard reached it.
    let told = refused["message"].as_str().unwrap();
    assert!(
        !told.contains("127.0.0.1") && !told.contains("not a valid phone number"),
        "{refused}"
    );
    let failed = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .event
        .unwrap();
    let Some(Payload::TransferUpdate(failed)) = failed.payload else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.status(), pb::TransferStatus::Failed);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn twilio_json_callbacks_and_refused_credentials_are_handled() {
    let peer = TwilioPeer::default();
    let address = peer.clone().start().await;
    // The account's token is wrong for the REST API: the transfer fails with Twilio's reason.
    let app = spawn_app_with(move |args| {
        uses_twilio_peer(args, address);
        args.twilio_auth_token = Some("not-the-token".into());
    })
    .await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/transfers", app.url()))
        .bearer_auth(token(Role::Admin, None, None))
        .json(&json!({"extension": "2001", "profile": {"name": "Ann"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("20003"),
        "{body}"
    );
    assert!(
        peer.requests.lock().is_empty(),
        "refused before anything was recorded"
    );

    // A JSON status callback is signed through bodySHA256 in the URL.
    let raw = br#"{"CallSid":"CAjson1","SequenceNumber":"0","CallStatus":"ringing","Direction":"inbound","From":"+254712345678","To":"+15005550006"}"#;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw));
    let path = format!("/webhooks/twilio/status?bodySHA256={digest}");
    let signature = twilio::signature(
        "not-the-token",
        &format!("https://hub.example.com{path}"),
        &[],
    );
    let send = |signature: String, body: &'static [u8]| {
        let url = format!("{}{path}", app.url());
        async move {
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-twilio-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(send(signature.clone(), raw).await, 200);
    assert!(
        app.system_state()
            .await
            .calls
            .iter()
            .any(|c| c.call_id == "twilio-CAjson1")
    );
    // The same signature over another body is refused.
    assert_eq!(send(signature, br#"{"CallSid":"CAjson2"}"#).await, 403);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_late_twilio_callback_after_a_restart_does_not_revive_an_ended_call() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("twilio.db").display());
    let start = || {
        let database = database.clone();
        spawn_app_with(move |args| {
            args.database_url = Some(database);
            args.twilio_auth_token = Some("12345".into());
            args.public_url = Some("https://hub.example.com".into());
        })
    };
    let signed = Some("https://hub.example.com/webhooks/twilio/status");
    let callback = |seq: &'static str, status: &'static str| {
        vec![
            ("CallSid", "CAlate7"),
            ("SequenceNumber", seq),
            ("CallStatus", status),
            ("Direction", "inbound"),
            ("From", "+254712345678"),
            ("To", "+15005550006"),
        ]
    };
    let app = start().await;
    assert_eq!(
        status_callback(&app, &callback("3", "completed"), signed).await,
        200
    );
    app.stop().await.unwrap();
    let app = start().await;
    assert_eq!(
        status_callback(&app, &callback("0", "ringing"), signed).await,
        200
    );
    assert!(app.system_state().await.calls.is_empty(), "no ghost call");
    app.stop().await.unwrap();
}
