//! The chat of seed 001 end to end: real Socket.IO clients (the npm client)
//! playing an agent dashboard and a customer widget, the HTTP API the widget
//! and dashboards call, gRPC for supervisors; on SQLite and on Postgres.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, chat_service_client::ChatServiceClient, event::Payload};

use crate::helpers::{
    Postgres, TestApp, assert_lines_match_schemas, authed, spawn_app_with, token,
};

/// An agent's token: subject `agent_id`, at `extension`.
fn agent(agent_id: &str, extension: &str) -> String {
    crate::helpers::token_for(Role::Agent, agent_id, Some(extension))
}

pub(crate) async fn http(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", app.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("http answers");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Waits until `agents` are exactly the online chat agents, as a
/// supervisor's socket asks for them (`request-current-state`).
pub(crate) async fn online(app: &TestApp, agents: &[&str]) {
    let supervisor = token(Role::Supervisor, None, None);
    let mut socket = crate::raw_socket::RawSocket::connect(app.address, &supervisor).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        for ack in 0.. {
            let answer = socket
                .ask(ack, "request-current-state", json!("connected-agents"))
                .await;
            let now: Vec<&str> = answer[0]["agents"]
                .as_array()
                .map(|list| list.iter().filter_map(|a| a["agentId"].as_str()).collect())
                .unwrap_or_default();
            if now == agents {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{agents:?} online"));
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["event"] == name)
        .map(|l| &l["data"])
        .collect()
}

async fn the_whole_flow(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("chat.db").display()));
    let start = || {
        let database = database.clone();
        spawn_app_with(move |args| args.database_url = Some(database))
    };
    let app = start().await;
    let ann_agent = agent("agent-123", "1001");

    // The dashboard joins room agents and heartbeats; it asks for the mode.
    // Every watcher below runs until the test has what it waits for, so the
    // steps follow each other, not guessed delays.
    let dashboard = app.start_socket_watcher(
        &ann_agent,
        &[
            "--seconds",
            "60",
            "--emit",
            "join-agent-dashboard",
            r#""agent-123""#,
            "--emit-at",
            "100",
            "request-current-state",
            r#""system-mode""#,
            "--every",
            "1000",
            "heartbeat",
            r#"{"timestamp": 1705312200000}"#,
        ],
    );
    online(&app, &["agent-123"]).await;
    // The widget starts a conversation: it goes to the one agent online.
    let (status, started) = http(
        &app,
        reqwest::Method::POST,
        "/api/conversations",
        None,
        Some(json!({"customerName": "Ann", "customerEmail": "ann@example.com", "firstMessage": "Hello, my order is late"})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let conversation = started["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(started["conversation"]["assignedAgentId"], "agent-123");
    let customer = started["customerToken"].as_str().unwrap().to_owned();
    let (_, other) = http(
        &app,
        reqwest::Method::POST,
        "/api/conversations",
        None,
        Some(json!({"customerName": "Bob"})),
    )
    .await;
    let someone_else = other["conversation"]["id"].as_str().unwrap().to_owned();

    // The widget joins its room (not another's) and types.
    let join = format!("\"{conversation}\"");
    let trespass = format!("\"{someone_else}\"");
    let typing = json!({"conversationId": conversation, "isTyping": true}).to_string();
    let widget = app.start_socket_watcher(
        &customer,
        &[
            "--seconds",
            "60",
            "--emit",
            "join-conversation",
            &join,
            "--emit",
            "join-conversation",
            &trespass,
            "--emit-at",
            "200",
            "customer-typing",
            &typing,
            "--emit-at",
            "200",
            "heartbeat",
            "{}",
        ],
    );
    widget.wait_for("ack:join-conversation", 2).await;
    dashboard.wait_for("customer-typing-status", 1).await;

    // The agent types and answers.
    let agent_desk = app.start_socket_watcher(
        &ann_agent,
        &[
            "--seconds",
            "60",
            "--emit",
            "join-agent-dashboard",
            r#""agent-123""#,
            "--emit-at",
            "100",
            "agent-typing",
            &typing,
        ],
    );
    widget.wait_for("agent-typing-status", 1).await;
    agent_desk.finish().await;
    let (status, reply) = http(
        &app,
        reqwest::Method::POST,
        &format!("/api/conversations/{conversation}/messages"),
        Some(&ann_agent),
        Some(json!({"content": "Sorry! Let me check.", "messageId": "agent-msg-1"})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    // The customer's retry is stored once.
    for _ in 0..2 {
        let (status, sent) = http(
            &app,
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            Some(&customer),
            Some(json!({"content": "Thanks", "messageId": "widget-msg-7"})),
        )
        .await;
        assert_eq!(status, 201, "{sent}");
    }
    // Another message under that id is no retry: refused, nothing stored.
    let (status, refused) = http(
        &app,
        reqwest::Method::POST,
        &format!("/api/conversations/{conversation}/messages"),
        Some(&customer),
        Some(json!({"content": "Something else", "messageId": "widget-msg-7"})),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("already_exists")),
        "{refused}"
    );
    // The customer may not write into another conversation.
    let (status, refused) = http(
        &app,
        reqwest::Method::POST,
        &format!("/api/conversations/{someone_else}/messages"),
        Some(&customer),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("permission_denied"))
    );
    let (status, _) = http(
        &app,
        reqwest::Method::POST,
        &format!("/api/conversations/{conversation}/messages"),
        Some(&customer),
        Some(json!({"content": ""})),
    )
    .await;
    assert_eq!(status, 400);
    // An admin switches the mode.
    let (status, mode) = http(
        &app,
        reqwest::Method::PUT,
        "/api/system-mode",
        Some(&token(Role::Admin, None, None)),
        Some(json!({"mode": "human"})),
    )
    .await;
    assert_eq!((status, mode["mode"].as_str()), (200, Some("human")));

    // What the sockets wait for has come; a moment more shows nothing comes twice.
    widget.wait_for("agent-message", 1).await;
    widget.wait_for("ack:heartbeat", 1).await;
    dashboard.wait_for("new-message", 3).await;
    dashboard.wait_for("system-mode-update", 2).await;
    dashboard.wait_for("heartbeat-ack", 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (dashboard, widget) = (dashboard.finish().await, widget.finish().await);
    assert_lines_match_schemas(&dashboard);
    assert_lines_match_schemas(&widget);

    // The dashboard heard everything of room agents, each once.
    let new_conversations = events(&dashboard, "new-conversation");
    assert_eq!(new_conversations.len(), 2);
    assert_eq!(new_conversations[0]["conversationId"], conversation);
    let messages: Vec<&str> = events(&dashboard, "new-message")
        .iter()
        .filter(|m| m["conversationId"] == conversation)
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["Hello, my order is late", "Sorry! Let me check.", "Thanks"],
        "in order, the retry once"
    );
    let typing = events(&dashboard, "customer-typing-status");
    assert_eq!(typing.len(), 1);
    assert_eq!(typing[0]["conversationId"], conversation);
    assert_eq!(typing[0]["isTyping"], true);
    let modes: Vec<&Value> = events(&dashboard, "system-mode-update")
        .into_iter()
        .map(|m| &m["mode"])
        .collect();
    assert_eq!(modes, [&json!("auto"), &json!("human")]);
    assert_eq!(events(&dashboard, "current-state")[0]["mode"], "auto");
    assert!(events(&dashboard, "heartbeat-ack").len() >= 4);
    assert_eq!(
        events(&dashboard, "heartbeat-ack")[0]["agentId"],
        "agent-123"
    );
    // The seed's dashboard sends `Date.now()`: the acknowledgement's time
    // is a number too (the server's clock, in epoch milliseconds).
    let acked = events(&dashboard, "heartbeat-ack")[0]["timestamp"].clone();
    assert!(
        acked.as_i64().is_some_and(|ms| ms > 1_705_312_200_000),
        "{acked}"
    );
    let agents = events(&dashboard, "connected-agents-update");
    assert_eq!(agents.len(), 1, "one list per join: {agents:?}");
    assert_eq!(agents[0]["agents"][0]["agentId"], "agent-123");
    assert!(
        events(&dashboard, "agent-message").is_empty(),
        "that goes to the widget"
    );

    // The widget heard its conversation only: the agent's reply and typing.
    let replies = events(&widget, "agent-message");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["content"], "Sorry! Let me check.");
    assert_eq!(replies[0]["senderType"], "agent");
    assert_eq!(events(&widget, "agent-typing-status")[0]["isTyping"], true);
    let seen: BTreeSet<&str> = widget.iter().filter_map(|l| l["event"].as_str()).collect();
    for staff_only in [
        "new-message",
        "new-conversation",
        "system_state",
        "calls:active",
    ] {
        assert!(
            !seen.contains(staff_only),
            "{staff_only} reached the widget"
        );
    }
    // The two joins are answered in either order: one allowed, one refused.
    let acks = events(&widget, "ack:join-conversation");
    assert_eq!(acks.len(), 2);
    assert!(acks.iter().any(|a| a["ok"] == true), "{acks:?}");
    assert!(
        acks.iter().any(|a| a["error"] == "permission_denied"),
        "{acks:?}"
    );
    assert_eq!(
        events(&widget, "ack:heartbeat")[0]["error"],
        "failed_precondition"
    );

    // Everything survives a restart, and the mode with it.
    app.stop().await.unwrap();
    let app = start().await;
    let (status, history) = http(
        &app,
        reqwest::Method::GET,
        &format!("/api/conversations/{conversation}"),
        Some(&customer),
        None,
    )
    .await;
    assert_eq!(status, 200, "{history}");
    let stored: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        stored,
        ["Hello, my order is late", "Sorry! Let me check.", "Thanks"]
    );
    assert_eq!(app.system_state().await.system_mode, "human");
    // Paging: after the second message, one more.
    let (_, page) = http(
        &app,
        reqwest::Method::GET,
        &format!("/api/conversations/{conversation}?after=2&limit=5"),
        Some(&customer),
        None,
    )
    .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["nextAfter"], 3);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn widget_and_dashboard_talk_through_every_001_flow_on_sqlite() {
    the_whole_flow(None).await;
}

#[tokio::test]
async fn widget_and_dashboard_talk_through_every_001_flow_on_postgres() {
    let (database, url) = Postgres::create().await;
    the_whole_flow(Some(url)).await;
    database.drop_database().await;
}

#[tokio::test]
async fn silent_and_disconnected_agents_hand_their_conversations_on() {
    let app = spawn_app_with(|args| args.chat_heartbeat_timeout_seconds = Some("2".into())).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut stream = app
        .subscribe(
            pb::SubscribeRequest {
                kinds: vec![
                    pb::EventKind::TicketsReassigned as i32,
                    pb::EventKind::ConnectedAgentsUpdate as i32,
                ],
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    // Bob's dashboard heartbeats until Ann's is online, then falls silent;
    // Ann's keeps heartbeating until she leaves.
    let heartbeats = ["--every", "500", "heartbeat", r#"{"timestamp": 1}"#];
    let dashboard = |agent_id: &str, extension: &str| {
        let join = format!("\"{agent_id}\"");
        let mut args = vec!["--seconds", "60", "--emit", "join-agent-dashboard", &join];
        args.extend(heartbeats);
        app.start_socket_watcher(&agent(agent_id, extension), &args)
    };
    let mut next_move = async || loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("events in time")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        if let Some(Payload::TicketsReassigned(moved)) = event.payload {
            return moved;
        }
    };
    let mut bob = dashboard("agent-bob", "1002");
    online(&app, &["agent-bob"]).await;
    let mut chat = ChatServiceClient::new(app.channel().await);
    let started = chat
        .start_conversation(pb::StartConversationRequest {
            customer_name: "Cleo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let conversation = started.conversation.unwrap().id;
    let ann = dashboard("agent-ann", "1001");
    online(&app, &["agent-ann", "agent-bob"]).await;
    bob.command(json!(["quiet"])).await;
    let first_move = next_move().await;
    ann.wait_for("tickets-reassigned", 1).await;
    let lists_only_ann = |lines: &[Value]| {
        lines
            .iter()
            .rev()
            .find(|l| l["event"] == "connected-agents-update")
            .and_then(|l| l["data"]["agents"].as_array())
            .is_some_and(|agents| agents.len() == 1 && agents[0]["agentId"] == "agent-ann")
    };
    ann.wait_until("the list without Bob", lists_only_ann).await;
    let ann_lines = ann.finish().await;
    let second_move = next_move().await;
    bob.finish().await;
    let moves = [first_move, second_move];
    // Ann's dashboard heard it too: Bob gone from the list, his conversation hers.
    assert_lines_match_schemas(&ann_lines);
    let heard = events(&ann_lines, "tickets-reassigned");
    assert_eq!(heard[0]["reason"], "heartbeat_timeout");
    assert_eq!(heard[0]["reassignments"][0]["toAgentId"], "agent-ann");
    let last_list = events(&ann_lines, "connected-agents-update");
    let names: Vec<&Value> = last_list.last().unwrap()["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["agentId"])
        .collect();
    assert_eq!(names, [&json!("agent-ann")]);
    // Bob fell silent: his conversation went to Ann. Then Ann left: back to the pool.
    assert_eq!(moves[0].reason, "heartbeat_timeout");
    assert_eq!(
        (
            moves[0].reassignments[0].conversation_id.as_str(),
            moves[0].reassignments[0].from_agent_id.as_str(),
            moves[0].reassignments[0].to_agent_id.as_str()
        ),
        (conversation.as_str(), "agent-bob", "agent-ann")
    );
    assert_eq!(moves[1].reason, "agent_disconnected");
    assert_eq!(moves[1].reassignments[0].from_agent_id, "agent-ann");
    assert_eq!(moves[1].reassignments[0].to_agent_id, "");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn agents_see_theirs_and_the_unassigned_and_supervisors_move_them() {
    let app = spawn_app_with(|_| {}).await;
    let mut chat = ChatServiceClient::new(app.channel().await);
    let mut ids = Vec::new();
    for name in ["Dee", "Eve", "Fay"] {
        let started = chat
            .start_conversation(pb::StartConversationRequest {
                customer_name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        ids.push(started.conversation.unwrap().id);
    }
    let supervisor = token(Role::Supervisor, None, None);
    let moved = chat
        .reassign_conversations(authed(
            pb::ReassignConversationsRequest {
                reassignments: vec![
                    pb::TicketReassignment {
                        conversation_id: ids[0].clone(),
                        to_agent_id: "agent-ann".into(),
                        ..Default::default()
                    },
                    pb::TicketReassignment {
                        conversation_id: ids[1].clone(),
                        to_agent_id: "agent-bob".into(),
                        ..Default::default()
                    },
                ],
                reason: String::new(),
            },
            &supervisor,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.reassignments.len(), 2);
    let refused = chat
        .reassign_conversations(authed(
            pb::ReassignConversationsRequest::default(),
            &agent("agent-ann", "1001"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let list = |token: String, page_size: u32, page_token: String| {
        let mut chat = chat.clone();
        async move {
            chat.list_conversations(authed(
                pb::ListConversationsRequest {
                    page_size,
                    page_token,
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let ann: BTreeSet<String> = list(agent("agent-ann", "1001"), 0, String::new())
        .await
        .conversations
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        ann,
        [ids[0].clone(), ids[2].clone()].into(),
        "hers and the unassigned"
    );
    // A supervisor pages through all of them, two at a time.
    let first = list(supervisor.clone(), 2, String::new()).await;
    assert_eq!(first.conversations.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = list(supervisor.clone(), 2, first.next_page_token).await;
    assert_eq!(second.conversations.len(), 1);
    assert!(second.next_page_token.is_empty());
    let everyone: BTreeSet<String> = first
        .conversations
        .into_iter()
        .chain(second.conversations)
        .map(|c| c.id)
        .collect();
    assert_eq!(everyone.len(), 3);
    // Ann's dashboard may join her conversation's room, not Bob's; it can
    // ask who is online.
    let mine = format!("\"{}\"", ids[0]);
    let bobs = format!("\"{}\"", ids[1]);
    let watcher = app.start_socket_watcher(
        &agent("agent-ann", "1001"),
        &[
            "--seconds",
            "60",
            "--emit",
            "join-conversation",
            &mine,
            "--emit",
            "join-conversation",
            &bobs,
            "--emit",
            "request-current-state",
            r#""connected-agents""#,
        ],
    );
    watcher.wait_for("ack:join-conversation", 2).await;
    watcher.wait_for("current-state", 1).await;
    let lines = watcher.finish().await;
    assert_lines_match_schemas(&lines);
    let acks = events(&lines, "ack:join-conversation");
    assert_eq!(acks.len(), 2);
    assert!(
        acks.iter()
            .any(|a| a["ok"] == true && a["room"] == ids[0].as_str()),
        "{acks:?}"
    );
    assert!(
        acks.iter().any(|a| a["error"] == "permission_denied"),
        "{acks:?}"
    );
    assert_eq!(events(&lines, "current-state")[0]["agents"], json!([]));
    // Ann may not read Bob's conversation.
    let denied = chat
        .get_conversation(authed(
            pb::GetConversationRequest {
                conversation_id: ids[1].clone(),
                ..Default::default()
            },
            &agent("agent-ann", "1001"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    app.stop().await.unwrap();
}
