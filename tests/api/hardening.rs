//! Surfaces that fail closed, tried as an attacker would: a flood of refused
//! events, a client's token asking for the staff's view, a socket in two
//! rooms, an oversized body, what `/healthz` tells anyone.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::auth::Role;

use crate::helpers::{spawn_app, spawn_app_with, token};
use crate::raw_socket::RawSocket;
use crate::webhooks::{AGENT, KEY, deliver, fixture, now_ms, signed};

/// Events until `quiet` passes without one (or the connection ends).
/// `GET path` as a supervisor reads it, as JSON.
async fn as_supervisor(app: &crate::helpers::TestApp, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", app.url()))
        .bearer_auth(token(Role::Supervisor, None, None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn events_for(socket: &mut RawSocket, quiet: Duration) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(quiet, socket.next_event()).await {
        events.push(event);
    }
    events
}

#[tokio::test]
async fn a_flood_of_refused_events_is_answered_twenty_times_then_closes_that_socket_only() {
    let (app, peer) = crate::ami_peer::app_with_peer(|_| {}).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut flooder = RawSocket::connect(app.address, &supervisor).await;
    let mut bystander = RawSocket::connect(app.address, &supervisor).await;
    for n in 0..500 {
        flooder
            .send_raw(&format!("42[\"no-such-event-{n}\"]"))
            .await;
    }
    let heard = events_for(&mut flooder, Duration::from_secs(2)).await;
    let refusals = heard
        .iter()
        .filter(|(name, _)| name == "error-event")
        .count();
    assert_eq!(
        refusals, 20,
        "answered up to the bound, then closed: {heard:?}"
    );
    // The bystander is untouched: it still hears what the server says.
    peer.send(crate::ami_peer::agent_login("3001", "Ada"));
    let heard = events_for(&mut bystander, Duration::from_secs(2)).await;
    assert!(
        heard
            .iter()
            .any(|(name, data)| name == "agent:login" && data["extension"] == "3001"),
        "the bystander hears on: {heard:?}"
    );
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", app.url()))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("reason=\"too_many_refused_events\""),
        "counted"
    );
}

#[tokio::test]
async fn a_clients_token_does_not_list_the_house_chat_agents() {
    let app = spawn_app().await;
    let client = token(Role::Client, None, Some("acme"));
    let mut socket = RawSocket::connect(app.address, &client).await;
    socket
        .send_raw(r#"421["request-current-state","connected-agents"]"#)
        .await;
    let heard = events_for(&mut socket, Duration::from_secs(1)).await;
    let refusal = heard
        .iter()
        .find(|(name, _)| name == "error-event")
        .expect("refused");
    assert_eq!(refusal.1["error"], "permission_denied", "{heard:?}");
    assert!(!heard.iter().any(|(name, _)| name == "current-state"));
}

#[tokio::test]
async fn a_socket_in_two_rooms_gets_each_event_once() {
    let app = spawn_app_with(|args| {
        args.retell_api_key = Some(KEY.into());
        args.retell_agent_clients = Some(format!("{AGENT}=acme"));
    })
    .await;
    let admin = token(Role::Admin, None, None);
    let mut socket = RawSocket::connect(app.address, &admin).await;
    socket.send_raw(r#"421["join:admin"]"#).await;
    socket.send_raw(r#"422["join:client","acme"]"#).await;
    events_for(&mut socket, Duration::from_millis(500)).await;
    let started = fixture("spec_example_webhooks_assembled.json")["call_started"].clone();
    let (status, _) = deliver(&app, &started, signed(&started, KEY, now_ms())).await;
    assert_eq!(status, 200);
    let heard = events_for(&mut socket, Duration::from_secs(1)).await;
    let calls: Vec<_> = heard
        .iter()
        .filter(|(name, _)| name == "call:started")
        .collect();
    assert_eq!(calls.len(), 1, "{heard:?}");
}

#[tokio::test]
async fn an_oversized_json_body_is_413_and_healthz_says_only_what_anyone_may_know() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let huge = json!({ "customerName": "x".repeat(3_000_000) });
    let response = http
        .post(format!("{}/api/conversations", app.url()))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large", "{body}");

    let health: Value = http
        .get(format!("{}/healthz", app.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = health
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["database", "ingest", "node", "sources", "status"],
        "{health}"
    );
    assert_eq!(health["status"], "ok");
    assert_eq!(health["ingest"], "leader", "one node always ingests");
}

#[tokio::test]
async fn a_new_conversations_fields_are_bounded_and_anonymous_starts_are_limited_per_address() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let start = |body: Value| {
        let http = http.clone();
        let url = format!("{}/api/conversations", app.url());
        async move {
            let response = http.post(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // Every field has its bound, checked before anything is stored.
    for (field, value) in [
        ("customerPhone", "1".repeat(1_000_000)),
        ("customerPhone", "+1 555 0100; DROP".to_owned()),
        ("customerName", "n".repeat(201)),
        ("customerEmail", "e".repeat(255)),
        ("firstMessage", "m".repeat(4001)),
    ] {
        let (status, body) = start(json!({ field: value })).await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    let stored = as_supervisor(&app, "/api/conversations").await;
    assert_eq!(
        stored["conversations"],
        json!([]),
        "nothing stored: {stored}"
    );
    // Ten starts a minute from one address, then a clear 429.
    for n in 0..10 {
        let (status, body) = start(json!({ "customerName": format!("c{n}") })).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = start(json!({ "customerName": "one too many" })).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "resource_exhausted");
    // A token's holder is not an anonymous stranger.
    let response = http
        .post(format!("{}/api/conversations", app.url()))
        .bearer_auth(token(Role::Supervisor, None, None))
        .json(&json!({ "customerName": "on the phone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn a_client_chosen_message_id_is_one_conversations_not_everyones() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let mut conversations = Vec::new();
    for name in ["Ann", "Bob"] {
        let started: Value = http
            .post(format!("{}/api/conversations", app.url()))
            .json(&json!({ "customerName": name }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        conversations.push((
            started["conversation"]["id"].as_str().unwrap().to_owned(),
            started["customerToken"].as_str().unwrap().to_owned(),
        ));
    }
    for (id, customer) in &conversations {
        for _ in 0..2 {
            // One id, sent twice (a retry) by each.
            let response = http
                .post(format!("{}/api/conversations/{id}/messages", app.url()))
                .bearer_auth(customer)
                .json(&json!({ "content": "hello", "messageId": "widget-7" }))
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{:?}",
                response.text().await
            );
        }
        let stored = as_supervisor(&app, &format!("/api/conversations/{id}")).await;
        let messages = stored["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            1,
            "one message per conversation, retry included"
        );
        assert_eq!(messages[0]["id"], "widget-7");
    }
}

#[tokio::test]
async fn voice_ai_calls_are_each_tenants_own_and_no_chat_agent_reads_them() {
    const OTHER_AGENT: &str = "agent-of-globex";
    let app = spawn_app_with(|args| {
        args.retell_api_key = Some(KEY.into());
        args.retell_agent_clients = Some(format!("{AGENT}=acme,{OTHER_AGENT}=globex"));
    })
    .await;
    let examples = fixture("spec_example_webhooks_assembled.json");
    let for_tenant = |kind: &str, agent: &str| {
        let mut body = examples[kind].clone();
        body["call"]["call_id"] = json!("same-call-id");
        body["call"]["agent_id"] = json!(agent);
        body
    };
    // Both tenants' providers use one call id: two calls, neither a duplicate.
    for agent in [AGENT, OTHER_AGENT] {
        let body = for_tenant("call_started", agent);
        let (status, answer) = deliver(&app, &body, signed(&body, KEY, now_ms())).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("ok")),
            "{answer}"
        );
    }
    let ended = for_tenant("call_ended", OTHER_AGENT);
    let (status, answer) = deliver(&app, &ended, signed(&ended, KEY, now_ms())).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ok")),
        "{answer}"
    );
    let acme = as_supervisor(&app, "/api/conversations/voice-acme.same-call-id").await;
    let globex = as_supervisor(&app, "/api/conversations/voice-globex.same-call-id").await;
    assert_eq!(
        acme["conversation"]["status"], "open",
        "globex's end is not acme's: {acme}"
    );
    assert_eq!(globex["conversation"]["status"], "closed", "{globex}");

    // A chat agent whose id equals the provider's agent id reads none of it.
    let agent = token(Role::Agent, Some("1001"), None);
    // Tokens as any holder of the shared secret mints them (`switchboard token`).
    let tokens = switchboard::auth::Authenticator::new(crate::helpers::SECRET.as_bytes(), false);
    let claims = tokens.verify(&agent).unwrap().claims;
    let impostor = tokens
        .mint(
            AGENT,
            Role::Agent,
            claims.extension,
            None,
            Duration::from_secs(60),
            switchboard::auth::unix_now(),
        )
        .unwrap();
    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!("{}/api/conversations", app.url()))
        .bearer_auth(&impostor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.iter().all(|id| !id.starts_with("voice-")), "{listed}");
    let read = http
        .get(format!(
            "{}/api/conversations/voice-acme.same-call-id",
            app.url()
        ))
        .bearer_auth(&impostor)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 403);
}
