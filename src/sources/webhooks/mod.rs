//! Webhooks: the voice-AI provider's call lifecycle (seed 003). Every
//! delivery is verified by its provider's signature before anything is
//! read from it as true; a refused one emits and stores nothing.
//!
//! `POST /webhooks/retell`: `call_started`, `call_ended`, `call_analyzed`.
//! The call's `agent_id` names the tenant (configured), whose API key must
//! have signed the raw body (`x-retell-signature`). Each event is taken once
//! (a retry answers `duplicate`); an end that comes before its start is
//! kept, and the late start is not announced. The call is stored as a
//! conversation (`channel = voice_ai`) with its transcript and analysis.

pub mod retell;
pub mod twilio;
pub mod twilio_rest;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};

use crate::config::{TwilioConfig, VoiceAiTenant};
use crate::error::Error;
use crate::ledger::Input;
use crate::ledger::model::Direction;
use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::store::{ConversationRow, MessageRow, Store};

/// What the webhooks need: the providers' settings, and where a delivery goes.
pub struct Webhooks {
    /// Where calls and their ends are published.
    pub log: Arc<EventLog>,
    /// Refusals are counted here.
    pub metrics: Arc<Metrics>,
    /// Voice-AI calls are stored as conversations.
    pub store: Store,
    /// The voice-AI provider's tenants (webhook keys and agents).
    pub voice_ai: Vec<VoiceAiTenant>,
    /// Twilio's webhook settings, when configured.
    pub twilio: Option<TwilioConfig>,
    /// Told of every Twilio status callback (the transfers follow their
    /// agent legs by them).
    pub call_status: Arc<dyn CallStatusListener>,
}

/// Who hears of Twilio's status callbacks, verified and taken once: a call
/// SID and its status (`ringing`, `in-progress`, `completed`, …).
pub trait CallStatusListener: Send + Sync {
    /// Call `call_sid` is now `status`.
    fn call_status<'a>(
        &'a self,
        call_sid: &'a str,
        status: &'a str,
    ) -> futures::future::BoxFuture<'a, ()>;
}

/// The conversation that records tenant `client_id`'s voice-AI call
/// `call_id` (client ids have no `.`, so two tenants' ids never meet).
pub fn voice_conversation_id(client_id: &str, call_id: &str) -> String {
    format!("voice-{client_id}.{call_id}")
}

/// The voice-AI webhook: verify, take once, record, emit.
async fn retell_webhook(
    State(hooks): State<Arc<Webhooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let now = chrono::Utc::now();
    let refuse = |reason: &str, error: Error| {
        hooks.metrics.refuse("webhook", error.code_name());
        tracing::warn!(provider = "retell", reason, %error, "webhook refused");
        error
    };
    let parsed: Value = serde_json::from_slice(&body).map_err(|_| {
        refuse(
            "not json",
            Error::InvalidArgument("the body is not JSON".into()),
        )
    })?;
    let call = &parsed["call"];
    let text = |field: &str| call[field].as_str().unwrap_or_default().to_owned();
    let (call_id, agent_id) = (text("call_id"), text("agent_id"));
    let tenant = hooks
        .voice_ai
        .iter()
        .find(|t| t.agent_ids.contains(&agent_id))
        .ok_or_else(|| {
            refuse(
                "unknown agent",
                Error::PermissionDenied(format!("no tenant for voice-AI agent {agent_id:?}")),
            )
        })?;
    let signature = headers
        .get("x-retell-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    retell::verify(&tenant.api_key, &body, signature, now.timestamp_millis())
        .map_err(|e| refuse("signature", Error::PermissionDenied(e.to_string())))?;
    let event = parsed["event"].as_str().unwrap_or_default().to_owned();
    if !matches!(
        event.as_str(),
        "call_started" | "call_ended" | "call_analyzed"
    ) {
        return Err(refuse(
            "unknown event",
            Error::InvalidArgument(format!("unknown event {event:?}")),
        ));
    }
    if call_id.is_empty() {
        return Err(refuse(
            "no call id",
            Error::InvalidArgument("call.call_id is missing".into()),
        ));
    }
    // Receipts and ids are the tenant's: another tenant's call with the same
    // call id is another call.
    let client_id = tenant.client_id.clone();
    let first = hooks
        .store
        .record_webhook_receipt(
            "retell",
            &format!("{client_id}:{event}:{call_id}"),
            now.timestamp_millis(),
        )
        .await?;
    if !first {
        return Ok(Json(json!({ "status": "duplicate" })).into_response());
    }
    let conversation_id = voice_conversation_id(&client_id, &call_id);
    let millis = |field: &str| call[field].as_i64();
    let stored = ConversationRow {
        id: conversation_id.clone(),
        tenant: client_id.clone(),
        status: if event == "call_started" {
            "open"
        } else {
            "closed"
        }
        .into(),
        channel: crate::store::VOICE_AI_CHANNEL.into(),
        customer_name: call["retell_llm_dynamic_variables"]["customer_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        customer_email: String::new(),
        customer_phone: text("from_number"),
        assigned_agent_id: Some(agent_id.clone()),
        created_at_ms: millis("start_timestamp").unwrap_or(now.timestamp_millis()),
        updated_at_ms: now.timestamp_millis(),
    };
    hooks.store.put_conversation(&stored).await?;
    match event.as_str() {
        "call_started" => {
            hooks.log.apply(
                Input::VoiceCallStarted {
                    call_id,
                    client_id,
                    phone: text("from_number"),
                    direction: match text("direction").as_str() {
                        "outbound" => Direction::Outbound,
                        _ => Direction::Inbound,
                    },
                    agent_id,
                },
                now,
            );
        }
        "call_ended" => {
            let duration_ms = millis("duration_ms").unwrap_or_else(|| {
                match (millis("start_timestamp"), millis("end_timestamp")) {
                    (Some(start), Some(end)) => (end - start).max(0),
                    _ => 0,
                }
            });
            let transcript = text("transcript");
            if !transcript.is_empty() {
                keep(&hooks, &conversation_id, "transcript", &transcript, now).await?;
            }
            hooks.log.apply(
                Input::VoiceCallEnded {
                    call_id,
                    client_id,
                    duration_ms,
                    status: text("call_status"),
                },
                now,
            );
        }
        _ => {
            let summary = call["call_analysis"]["call_summary"]
                .as_str()
                .unwrap_or_default();
            if !summary.is_empty() {
                keep(&hooks, &conversation_id, "analysis", summary, now).await?;
            }
        }
    }
    Ok(Json(json!({ "status": "ok" })).into_response())
}

/// Stores a system message (`kind`: transcript, analysis) of a voice call.
async fn keep(
    hooks: &Webhooks,
    conversation_id: &str,
    kind: &str,
    content: &str,
    now: crate::time::Instant,
) -> Result<(), Error> {
    hooks
        .store
        .insert_message(&MessageRow {
            id: format!("{conversation_id}-{kind}"),
            conversation_id: conversation_id.to_owned(),
            sender_type: "system".into(),
            sender_id: kind.into(),
            sender_name: String::new(),
            content: content.to_owned(),
            created_at_ms: now.timestamp_millis(),
            seq: 0,
        })
        .await
        .map(drop)
}

/// A Twilio request verified against `PUBLIC_URL` + the path and query it
/// requested with `TWILIO_AUTH_TOKEN`; its parameters (form or JSON body).
fn verified_twilio_params(
    hooks: &Webhooks,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Error> {
    let Some(config) = &hooks.twilio else {
        return Err(Error::Unavailable(
            "Twilio webhooks are not configured (TWILIO_AUTH_TOKEN, PUBLIC_URL)".into(),
        ));
    };
    let refuse = |reason: &str, error: Error| {
        hooks.metrics.refuse("webhook", error.code_name());
        tracing::warn!(provider = "twilio", reason, %error, "webhook refused");
        error
    };
    let url = format!(
        "{}{}",
        config.public_url,
        uri.path_and_query().map_or("", |p| p.as_str())
    );
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let json_body = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json_body {
        if !twilio::verify_json(&config.auth_token, &url, body, signature) {
            return Err(refuse(
                "signature",
                Error::PermissionDenied("X-Twilio-Signature does not match".into()),
            ));
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            refuse(
                "not json",
                Error::InvalidArgument("the body is not JSON".into()),
            )
        })?;
        Ok(value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    } else {
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        if !twilio::verify_form(&config.auth_token, &url, &params, signature) {
            return Err(refuse(
                "signature",
                Error::PermissionDenied("X-Twilio-Signature does not match".into()),
            ));
        }
        Ok(params)
    }
}

/// TwiML answered to a voice request: join the conference named in the
/// query (a transfer's legs), or say that there is nothing to join.
async fn twilio_voice(
    State(hooks): State<Arc<Webhooks>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    verified_twilio_params(&hooks, &uri, &headers, &body)?;
    let conference = uri
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "conference")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'));
    let twiml = match conference {
        Some(name) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial><Conference>{name}</Conference></Dial></Response>"
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>This number does not take calls.</Say><Hangup/></Response>".to_owned(),
    };
    Ok(([(http::header::CONTENT_TYPE, "text/xml")], twiml).into_response())
}

/// Twilio's status callbacks: verified against `PUBLIC_URL` + the path
/// and query Twilio requested, with `TWILIO_AUTH_TOKEN`; each (CallSid,
/// SequenceNumber, CallStatus) taken once, in sequence order per call.
async fn twilio_status(
    State(hooks): State<Arc<Webhooks>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let params = verified_twilio_params(&hooks, &uri, &headers, &body)?;
    let refuse = |reason: &str, error: Error| {
        hooks.metrics.refuse("webhook", error.code_name());
        tracing::warn!(provider = "twilio", reason, %error, "webhook refused");
        error
    };
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let call_sid = field("CallSid");
    if call_sid.is_empty() {
        return Err(refuse(
            "no call sid",
            Error::InvalidArgument("CallSid is missing".into()),
        ));
    }
    let sequence: i64 = field("SequenceNumber").parse().unwrap_or(0);
    let status = field("CallStatus");
    let now = chrono::Utc::now();
    let first = hooks
        .store
        .record_webhook_receipt(
            "twilio",
            &format!("{call_sid}:{sequence}:{status}"),
            now.timestamp_millis(),
        )
        .await?;
    // A call whose end was taken before (perhaps before a restart) does not start again.
    let ended_before = first
        && hooks
            .store
            .webhook_receipts_with_prefix("twilio", &format!("{call_sid}:"))
            .await?
            .iter()
            .filter_map(|id| id.rsplit_once(':'))
            .any(|(_, done)| {
                done != status
                    && matches!(
                        done,
                        "completed" | "busy" | "failed" | "no-answer" | "canceled"
                    )
            });
    if first && !ended_before {
        hooks.call_status.call_status(&call_sid, &status).await;
        hooks.log.apply(
            Input::TwilioCallStatus {
                call_sid,
                sequence,
                status,
                direction: if field("Direction") == "inbound" {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                from: field("From"),
                to: field("To"),
            },
            now,
        );
    }
    Ok((
        [(http::header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
    )
        .into_response())
}

/// The webhook routes.
pub fn router(hooks: Arc<Webhooks>) -> Router {
    Router::new()
        .route("/webhooks/retell", post(retell_webhook))
        .route("/webhooks/twilio/status", post(twilio_status))
        .route("/webhooks/twilio/voice", post(twilio_voice))
        .with_state(hooks)
}
