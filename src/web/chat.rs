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
//! Each body (with the path's id, or the query) is the JSON form of the
//! `ChatService` rpc's request and is decoded into it, then handed to the
//! chat service as gRPC hands it. Refusals answer `{error, message}` with
//! the matching status (400, 401, 403, 404, 409, 429).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use prost_reflect::ReflectMessage;
use serde_json::Value;

use super::{Caller, Http};
use crate::error::Error;
use crate::socket_json::{from_json, to_json};

/// The rpc request `M` a JSON body asks for, with `extra` fields (the
/// path's) laid over it; a clear 400 when it is not one (413 when too large).
fn request_of<M: ReflectMessage + Default>(
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
    extra: &[(&str, &str)],
) -> Result<M, Error> {
    let mut body = match raw {
        Ok(Json(value)) if value.is_object() => value,
        Ok(_) => {
            return Err(Error::InvalidArgument(
                "the body must be a JSON object".into(),
            ));
        }
        Err(rejection) => return Err(rejection.into()),
    };
    for (field, value) in extra {
        body[*field] = Value::String((*value).to_owned());
    }
    from_json(&body).map_err(Error::InvalidArgument)
}

/// The rpc request `M` a query string asks for (each parameter a field).
fn query_request<M: ReflectMessage + Default>(
    query: BTreeMap<String, String>,
    extra: &[(&str, &str)],
) -> Result<M, Error> {
    let mut object: serde_json::Map<String, Value> = query
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    for (field, value) in extra {
        object.insert((*field).to_owned(), Value::String((*value).to_owned()));
    }
    from_json(&Value::Object(object)).map_err(Error::InvalidArgument)
}

async fn start(
    State(http): State<Arc<Http>>,
    caller: Option<Caller>,
    peer: Option<axum::Extension<crate::connections::PeerAddress>>,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let request = request_of(raw, &[])?;
    let peer = peer.map(|axum::Extension(peer)| peer.0.ip());
    let answer = http
        .chat
        .start_conversation(caller.as_ref().map(|c| &c.0), peer, request)
        .await
        .inspect_err(|e| {
            if matches!(e, Error::ResourceExhausted(_)) {
                http.gate.refused(e);
            }
        })?;
    Ok((StatusCode::CREATED, Json(to_json(&answer))).into_response())
}

async fn send(
    State(http): State<Arc<Http>>,
    Path(id): Path<String>,
    Caller(principal): Caller,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let request = request_of(raw, &[("conversationId", &id)])?;
    let answer = http.chat.send_message(&principal, request).await?;
    let message = answer.message.unwrap_or_default();
    Ok((StatusCode::CREATED, Json(to_json(&message))).into_response())
}

async fn list(
    State(http): State<Arc<Http>>,
    Query(query): Query<BTreeMap<String, String>>,
    Caller(principal): Caller,
) -> Result<Json<Value>, Error> {
    let request = query_request(query, &[])?;
    let answer = http.chat.list_conversations(&principal, request).await?;
    Ok(Json(to_json(&answer)))
}

async fn history(
    State(http): State<Arc<Http>>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    Caller(principal): Caller,
) -> Result<Json<Value>, Error> {
    let request = query_request(query, &[("conversationId", &id)])?;
    let answer = http.chat.get_conversation(&principal, request).await?;
    Ok(Json(to_json(&answer)))
}

async fn reassign(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Error> {
    let request = request_of(raw, &[])?;
    let answer = http
        .chat
        .reassign_conversations(&principal, request)
        .await?;
    Ok(Json(to_json(&answer)))
}

async fn system_mode(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
    raw: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, Error> {
    let request = request_of(raw, &[])?;
    let answer = http.chat.set_mode(&principal, request).await?;
    Ok(Json(to_json(&answer)))
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
