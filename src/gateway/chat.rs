//! The chat's Socket.IO events from clients (seed 001): dashboards join
//! room `agents` and heartbeat, widgets join their conversation, both type.
//! What they cause goes through the log (typing, presence) or straight back
//! to the sender (`heartbeat-ack`, `current-state`).

use super::AGENTS_ROOM;
use super::client::{Received, Services, Socket, send_json};
use crate::auth::Role;
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::socket_json::{from_json, to_json};
use crate::time::to_timestamp;

/// The client→server chat events this module serves.
pub const EVENTS: &[&str] = &[
    "join-agent-dashboard",
    "agent-typing",
    "heartbeat",
    "request-current-state",
    "join-conversation",
    "customer-typing",
];

/// A conversation a socket may write in, checked against the store.
async fn usable_conversation(
    services: &Services,
    socket: &Socket,
    conversation_id: &str,
) -> Result<String, Error> {
    if conversation_id.is_empty() {
        return Err(Error::InvalidArgument("conversationId is required".into()));
    }
    services
        .chat
        .conversation_for(&socket.state.principal, conversation_id)
        .await
        .map(|row| row.tenant)
}

/// Serves one of the chat's [`EVENTS`].
pub(super) async fn serve(event: Received<'_>) {
    match event.name {
        "join-agent-dashboard" => join_agent_dashboard(event),
        "heartbeat" => heartbeat(event),
        "request-current-state" => request_current_state(event),
        "join-conversation" => join_conversation(event).await,
        "agent-typing" => typing(event, false).await,
        "customer-typing" => typing(event, true).await,
        other => {
            let error = Error::InvalidArgument(format!("{other:?} is not a chat event"));
            event.refuse(&error);
        }
    }
}

fn join_agent_dashboard(event: Received<'_>) {
    let principal = event.principal();
    let result = match event.text() {
        None => Err(Error::InvalidArgument(
            "join-agent-dashboard takes the agentId string".into(),
        )),
        Some(agent) if agent.trim().is_empty() => {
            Err(Error::InvalidArgument("agentId is empty".into()))
        }
        Some(agent) => match principal.role() {
            Role::Agent if agent != principal.claims.sub => Err(Error::PermissionDenied(format!(
                "an agent joins as themselves ({}), not {agent}",
                principal.claims.sub
            ))),
            Role::Agent | Role::Supervisor | Role::Admin => Ok(agent.to_owned()),
            _ => Err(Error::PermissionDenied(
                "only agents and supervisors join the agent dashboard".into(),
            )),
        },
    };
    let agent = match result {
        Ok(agent) => agent,
        Err(error) => return event.refuse(&error),
    };
    let (services, socket) = (event.services, event.socket);
    socket.join(AGENTS_ROOM);
    *socket.state.dashboard_agent.lock() = Some(agent.clone());
    super::client::share_rooms(services.recovery.as_deref(), socket);
    let mode = services.chat.system_mode();
    send_json(
        socket,
        "system-mode-update",
        &to_json(&pb::SystemModeUpdate { mode }),
    );
    // An agent coming online is announced to room `agents`, this socket
    // included; one already online (another tab) is not, so this socket is
    // told the list itself. Either way it hears the list once.
    if !services
        .chat
        .agent_joined(&agent, &principal.claims.sub, &socket.id)
    {
        send_json(
            socket,
            "connected-agents-update",
            &to_json(&services.chat.desk().connected_agents()),
        );
    }
    event.answer(&serde_json::json!({ "ok": true, "room": AGENTS_ROOM }));
}

fn heartbeat(event: Received<'_>) {
    let (services, socket) = (event.services, event.socket);
    let Some(agent) = socket.state.dashboard_agent.lock().clone() else {
        let error =
            Error::FailedPrecondition("join-agent-dashboard before sending heartbeats".into());
        return event.refuse(&error);
    };
    if !services.chat.agent_active(&agent) {
        // Timed out meanwhile: the heartbeat brings the agent back.
        services
            .chat
            .agent_joined(&agent, &event.principal().claims.sub, &socket.id);
    }
    let ack = pb::HeartbeatAck {
        timestamp: Some(to_timestamp(chrono::Utc::now())),
        agent_id: agent,
    };
    let mut answer = to_json(&ack);
    if let Some(asked) = &event.data {
        crate::socket_json::times_as_asked(&ack, &mut answer, asked);
    }
    send_json(socket, "heartbeat-ack", &answer);
    event.answer(&answer);
}

fn request_current_state(event: Received<'_>) {
    if let Err(error) = event.principal().refuse_customers("read the agents' state") {
        return event.refuse(&error);
    }
    let services = event.services;
    let state = match event.text() {
        // The house's chat agents are staff's to see, not a tenant's.
        Some("connected-agents") if event.principal().forced_tenant().is_some() => {
            let error = Error::PermissionDenied(
                "the connected agents are for staff, not a client's token".into(),
            );
            return event.refuse(&error);
        }
        Some("connected-agents") => to_json(&services.chat.desk().connected_agents()),
        Some("system-mode") => to_json(&pb::SystemModeUpdate {
            mode: services.chat.system_mode(),
        }),
        _ => {
            let error = Error::InvalidArgument(
                "request-current-state takes connected-agents or system-mode".into(),
            );
            return event.refuse(&error);
        }
    };
    send_json(event.socket, "current-state", &state);
    event.answer(&state);
}

async fn join_conversation(event: Received<'_>) {
    let conversation = event.text().unwrap_or_default().trim().to_owned();
    match usable_conversation(event.services, event.socket, &conversation).await {
        Ok(_) => {
            event.socket.join(&conversation);
            super::client::share_rooms(event.services.recovery.as_deref(), event.socket);
            event.answer(&serde_json::json!({ "ok": true, "room": conversation }));
        }
        Err(error) => event.refuse(&error),
    }
}

/// `agent-typing` (`by_customer` false) or `customer-typing`: the payload
/// decoded into the catalog's `TypingRequest`, handed to the chat.
async fn typing(event: Received<'_>, by_customer: bool) {
    let request = match event.data.as_ref().map(from_json::<pb::TypingRequest>) {
        Some(Ok(request)) => request,
        Some(Err(reason)) => return event.refuse(&Error::InvalidArgument(reason)),
        None => pb::TypingRequest::default(),
    };
    let agent = event.socket.state.dashboard_agent.lock().clone();
    let typed = event
        .services
        .chat
        .typing(event.principal(), agent.as_deref(), request, by_customer)
        .await;
    match typed {
        Ok(()) => event.answer(&serde_json::json!({ "ok": true })),
        Err(error) => event.refuse(&error),
    }
}
