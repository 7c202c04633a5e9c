//! The chat's HTTP API (JSON, camelCase), for the customer widget and the
//! agent dashboards:
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `POST /api/conversations` | anyone (the widget) | `{customerName, customerEmail, customerPhone?, firstMessage?}` → `{conversation, customerToken}` |
//! | `POST /api/conversations/{id}/messages` | the customer's token, or staff | `{content, messageId?}` → the stored message |
//! | `GET /api/conversations?status=&pageSize=&pageToken=` | agents (theirs and unassigned), supervisors (all) | `{conversations, nextPageToken}` |
//! | `GET /api/conversations/{id}?after=&limit=` | the customer's token, or staff | `{conversation, messages, nextAfter}` |
//! | `POST /api/conversations/reassign` | supervisors | `{reassignments: [{conversationId, toAgentId}], reason}` |
//! | `PUT /api/system-mode` | admins | `{mode}` → `{mode, sequence}` |
//!
//! Refusals answer `{error, message}` with the matching status (400, 401, 403, 404).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde_json::Value;

use super::{Caller, Http};
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::socket_json::to_json;

/// A JSON body, or a clear 400 (413 when too large).
fn body(raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>) -> Result<Value, Error> {
    match raw {
        Ok(Json(value)) if value.is_object() => Ok(value),
        Ok(_) => Err(Error::InvalidArgument(
            "the body must be a JSON object".into(),
        )),
        Err(rejection) => Err(rejection.into()),
    }
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The conversation start a widget's JSON body asks for (fields that are
/// missing or not strings are empty).
pub fn start_request_of(
    value: &Value,
    tenant: String,
    anonymous_from: Option<std::net::IpAddr>,
) -> crate::commands::chat::StartRequest {
    crate::commands::chat::StartRequest {
        customer_name: text(value, "customerName"),
        customer_email: text(value, "customerEmail"),
        customer_phone: text(value, "customerPhone"),
        first_message: text(value, "firstMessage"),
        tenant,
        anonymous_from,
    }
}

async fn start(
    State(http): State<Arc<Http>>,
    caller: Option<Caller>,
    peer: Option<axum::Extension<crate::connections::PeerAddress>>,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    // A staff or client token may come along (a tenant's widget); none is
    // needed, and starts without one are limited per address.
    let (tenant, anonymous_from) = match caller {
        Some(Caller(principal)) => (
            principal.forced_tenant().unwrap_or_default().to_owned(),
            None,
        ),
        None => (String::new(), peer.map(|axum::Extension(peer)| peer.0.ip())),
    };
    let value = body(raw)?;
    let (conversation, token) = http
        .chat
        .start(start_request_of(&value, tenant, anonymous_from))
        .await
        .inspect_err(|e| {
            if matches!(e, Error::ResourceExhausted(_)) {
                http.gate.refused(e);
            }
        })?;
    let answer = pb::StartConversationResponse {
        conversation: Some(conversation),
        customer_token: token,
    };
    Ok((StatusCode::CREATED, Json(to_json(&answer))).into_response())
}

async fn send(
    State(http): State<Arc<Http>>,
    Path(id): Path<String>,
    Caller(principal): Caller,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let value = body(raw)?;
    let message_id = text(&value, "messageId");
    let message = http
        .chat
        .send(&principal, &id, &text(&value, "content"), Some(&message_id))
        .await?;
    Ok((StatusCode::CREATED, Json(to_json(&message))).into_response())
}

async fn list(
    State(http): State<Arc<Http>>,
    Query(query): Query<BTreeMap<String, String>>,
    Caller(principal): Caller,
) -> Result<Json<Value>, Error> {
    let status = match query.get("status").map(String::as_str) {
        None | Some("") => pb::ConversationStatus::Unspecified,
        Some("open") => pb::ConversationStatus::Open,
        Some("assigned") => pb::ConversationStatus::Assigned,
        Some("closed") => pb::ConversationStatus::Closed,
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "status {other:?} is not open, assigned or closed"
            )));
        }
    };
    let page_size = match query.get("pageSize") {
        Some(size) => size
            .parse()
            .map_err(|_| Error::InvalidArgument("pageSize is not a number".into()))?,
        None => 0,
    };
    let token = query.get("pageToken").cloned().unwrap_or_default();
    let (conversations, next_page_token) = http
        .chat
        .list(&principal, status, page_size, &token)
        .await?;
    Ok(Json(to_json(&pb::ListConversationsResponse {
        conversations,
        next_page_token,
    })))
}

async fn history(
    State(http): State<Arc<Http>>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    Caller(principal): Caller,
) -> Result<Json<Value>, Error> {
    let number = |name: &str| -> Result<i64, Error> {
        query.get(name).map_or(Ok(0), |v| {
            v.parse()
                .map_err(|_| Error::InvalidArgument(format!("{name} is not a number")))
        })
    };
    let after = number("after")?;
    let limit = u32::try_from(number("limit")?.max(0)).unwrap_or(u32::MAX);
    let (conversation, messages, next_after) =
        http.chat.history(&principal, &id, after, limit).await?;
    Ok(Json(to_json(&pb::GetConversationResponse {
        conversation: Some(conversation),
        messages,
        next_after,
    })))
}

async fn reassign(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Error> {
    let value = body(raw)?;
    let moves = value
        .get("reassignments")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::InvalidArgument("reassignments must be an array".into()))?
        .iter()
        .map(|m| pb::TicketReassignment {
            conversation_id: text(m, "conversationId"),
            from_agent_id: String::new(),
            to_agent_id: text(m, "toAgentId"),
        })
        .collect();
    let reassignments = http
        .chat
        .reassign(&principal, moves, &text(&value, "reason"))
        .await?;
    Ok(Json(to_json(&pb::ReassignConversationsResponse {
        reassignments,
    })))
}

async fn system_mode(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Error> {
    let value = body(raw)?;
    let mode = text(&value, "mode");
    let sequence = http.chat.set_system_mode(&principal, &mode).await?;
    Ok(Json(to_json(&pb::SetSystemModeResponse {
        mode: mode.trim().to_owned(),
        sequence,
    })))
}

/// The chat's routes.
pub fn routes() -> Router<Arc<Http>> {
    Router::new()
        .route("/api/conversations", post(start).get(list))
        .route("/api/conversations/reassign", post(reassign))
        .route("/api/conversations/{id}", get(history))
        .route("/api/conversations/{id}/messages", post(send))
        .route("/api/system-mode", put(system_mode))
}
