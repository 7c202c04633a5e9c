//! The chat's Socket.IO events from clients (seed 001): dashboards join
//! room `agents` and heartbeat, widgets join their conversation, both type.
//! What they cause goes through the log (typing, presence) or straight back
//! to the sender (`heartbeat-ack`, `current-state`).

use std::sync::Arc;

use serde_json::Value as Json;
use socketioxide::extract::{State, TryData};

use super::{AGENTS_ROOM, Ack, Socket, principal_of, refuse, send_json, text_field};
use crate::app::Core;
use crate::auth::Role;
use crate::error::Error;
use crate::proto::v1::{self as pb, event::Payload};
use crate::socket_json::to_json;
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

/// The chat agent id a socket joined the dashboard as.
#[derive(Clone)]
struct DashboardAgent(String);

/// A conversation a socket may write in, checked against the store.
async fn usable_conversation(
    core: &Core,
    socket: &Socket,
    conversation_id: &str,
) -> Result<String, Error> {
    if conversation_id.is_empty() {
        return Err(Error::InvalidArgument("conversationId is required".into()));
    }
    let principal = principal_of(socket);
    crate::chat::conversation_for(core, &principal, conversation_id)
        .await
        .map(|row| row.tenant)
}

/// Registers the chat events on a newly connected socket.
pub fn register(socket: &Socket) {
    socket.on(
        "join-agent-dashboard",
        async |socket: Socket,
               State(core): State<Arc<Core>>,
               TryData(agent): TryData<String>,
               ack: Ack| {
            let principal = principal_of(&socket);
            let result = match agent {
                Err(_) => Err(Error::InvalidArgument(
                    "join-agent-dashboard takes the agentId string".into(),
                )),
                Ok(agent) if agent.trim().is_empty() => {
                    Err(Error::InvalidArgument("agentId is empty".into()))
                }
                Ok(agent) => match principal.role() {
                    Role::Agent if agent != principal.claims.sub => {
                        Err(Error::PermissionDenied(format!(
                            "an agent joins as themselves ({}), not {agent}",
                            principal.claims.sub
                        )))
                    }
                    Role::Agent | Role::Supervisor | Role::Admin => Ok(agent),
                    _ => Err(Error::PermissionDenied(
                        "only agents and supervisors join the agent dashboard".into(),
                    )),
                },
            };
            let agent = match result {
                Ok(agent) => agent,
                Err(error) => {
                    return refuse(&socket, &core, Some(ack), "join-agent-dashboard", &error);
                }
            };
            socket.join(AGENTS_ROOM);
            socket.extensions.insert(DashboardAgent(agent.clone()));
            crate::chat::agent_joined(&core, &agent, &principal.claims.sub, &socket.id.to_string());
            let mode = core.log.read(|ledger, _| ledger.system_mode.clone());
            send_json(
                &socket,
                "system-mode-update",
                &to_json(&pb::SystemModeUpdate { mode }),
            );
            send_json(
                &socket,
                "connected-agents-update",
                &to_json(&core.chat.connected_agents()),
            );
            let _ = ack.send(&serde_json::json!({ "ok": true, "room": AGENTS_ROOM }));
        },
    );
    socket.on(
        "heartbeat",
        async |socket: Socket, State(core): State<Arc<Core>>, ack: Ack| {
            let Some(DashboardAgent(agent)) = socket.extensions.get::<DashboardAgent>() else {
                let error = Error::FailedPrecondition(
                    "join-agent-dashboard before sending heartbeats".into(),
                );
                return refuse(&socket, &core, Some(ack), "heartbeat", &error);
            };
            if !crate::chat::agent_active(&core, &agent) {
                // Timed out meanwhile: the heartbeat brings the agent back.
                let principal = principal_of(&socket);
                crate::chat::agent_joined(
                    &core,
                    &agent,
                    &principal.claims.sub,
                    &socket.id.to_string(),
                );
            }
            let answer = pb::HeartbeatAck {
                timestamp: Some(to_timestamp(chrono::Utc::now())),
                agent_id: agent,
            };
            send_json(&socket, "heartbeat-ack", &to_json(&answer));
            let _ = ack.send(&to_json(&answer));
        },
    );
    socket.on(
        "request-current-state",
        async |socket: Socket,
               State(core): State<Arc<Core>>,
               TryData(kind): TryData<String>,
               ack: Ack| {
            if let Err(error) = principal_of(&socket).refuse_customers("read the agents' state") {
                return refuse(&socket, &core, Some(ack), "request-current-state", &error);
            }
            let state = match kind.as_deref() {
                Ok("connected-agents") => to_json(&core.chat.connected_agents()),
                Ok("system-mode") => to_json(&pb::SystemModeUpdate {
                    mode: core.log.read(|ledger, _| ledger.system_mode.clone()),
                }),
                _ => {
                    let error = Error::InvalidArgument(
                        "request-current-state takes connected-agents or system-mode".into(),
                    );
                    return refuse(&socket, &core, Some(ack), "request-current-state", &error);
                }
            };
            send_json(&socket, "current-state", &state);
            let _ = ack.send(&state);
        },
    );
    socket.on(
        "join-conversation",
        async |socket: Socket,
               State(core): State<Arc<Core>>,
               TryData(conversation): TryData<String>,
               ack: Ack| {
            let conversation = conversation.unwrap_or_default();
            match usable_conversation(&core, &socket, conversation.trim()).await {
                Ok(_) => {
                    socket.join(conversation.trim().to_owned());
                    let _ =
                        ack.send(&serde_json::json!({ "ok": true, "room": conversation.trim() }));
                }
                Err(error) => refuse(&socket, &core, Some(ack), "join-conversation", &error),
            }
        },
    );
    for (name, by_customer) in [("agent-typing", false), ("customer-typing", true)] {
        socket.on(
            name,
            async move |socket: Socket,
                        State(core): State<Arc<Core>>,
                        TryData(data): TryData<Json>,
                        ack: Ack| {
                let data = data.unwrap_or_default();
                let conversation = text_field(&data, "conversationId");
                let is_typing = data
                    .get("isTyping")
                    .and_then(Json::as_bool)
                    .unwrap_or(false);
                let principal = principal_of(&socket);
                let role_fits = (principal.role() == Role::Customer) == by_customer;
                let checked = if role_fits {
                    usable_conversation(&core, &socket, &conversation).await
                } else {
                    Err(Error::PermissionDenied(format!(
                        "{name} is for the {}",
                        if by_customer {
                            "customer widget"
                        } else {
                            "agent dashboard"
                        }
                    )))
                };
                let tenant = match checked {
                    Ok(tenant) => tenant,
                    Err(error) => return refuse(&socket, &core, Some(ack), name, &error),
                };
                let now = chrono::Utc::now();
                let payload = if by_customer {
                    Payload::CustomerTypingStatus(pb::CustomerTypingStatus {
                        conversation_id: conversation,
                        is_typing,
                        timestamp: Some(to_timestamp(now)),
                    })
                } else {
                    if let Some(DashboardAgent(agent)) = socket.extensions.get::<DashboardAgent>() {
                        crate::chat::agent_active(&core, &agent);
                    }
                    Payload::AgentTypingStatus(pb::AgentTypingStatus {
                        conversation_id: conversation,
                        is_typing,
                        timestamp: Some(to_timestamp(now)),
                    })
                };
                core.log.publish(payload, tenant, now);
                let _ = ack.send(&serde_json::json!({ "ok": true }));
            },
        );
    }
}
