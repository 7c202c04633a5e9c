//! The voice-AI webhooks of seed 003: the provider's signature vectors, and
//! deliveries (good, forged, stale, repeated, out of order) through the real
//! server to Socket.IO rooms `admin` and `client:{id}`, gRPC and the store.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, event::Payload};
use switchboard::webhooks::{retell, twilio};

use crate::helpers::{TestApp, assert_lines_match_schemas, fixtures_root, spawn_app_with, token};

const KEY: &str = "retell-test-key";
const AGENT: &str = "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD";

fn fixture(name: &str) -> Value {
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

async fn deliver(app: &TestApp, body: &Value, signature: Option<String>) -> (u16, Value) {
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

fn signed(body: &Value, key: &str, at_ms: i64) -> Option<String> {
    Some(retell::sign(key, &serde_json::to_vec(body).unwrap(), at_ms))
}

fn now_ms() -> i64 {
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
    let admin = app.watch_socket(
        &admin_token,
        &["--seconds", "4", "--emit", "join:admin", "null"],
    );
    let client = app.watch_socket(
        &client_token,
        &[
            "--seconds",
            "4",
            "--emit",
            "join:client",
            r#""acme""#,
            "--emit",
            "join:client",
            r#""globex""#,
        ],
    );
    let script = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
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
        assert!(
            app.core
                .store
                .conversation(&format!("voice-{first_call}"))
                .await
                .unwrap()
                .is_none(),
            "a refused delivery stores nothing"
        );
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
    };
    let (admin, client, ()) = tokio::join!(admin, client, script);
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
    let stored = app
        .core
        .store
        .conversation(&format!("voice-{first_call}"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (
            stored.channel.as_str(),
            stored.tenant.as_str(),
            stored.status.as_str()
        ),
        ("voice_ai", "acme", "closed")
    );
    let messages = app
        .core
        .store
        .messages(&format!("voice-{first_call}"))
        .await
        .unwrap();
    let kinds: Vec<&str> = messages.iter().map(|m| m.sender_id.as_str()).collect();
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

async fn status_callback(app: &TestApp, params: &[(&str, &str)], signed_as: Option<&str>) -> u16 {
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
        app.core.log.read(|ledger, _| ledger.calls.is_empty()),
        "no call left behind"
    );
    app.stop().await.unwrap();
}
