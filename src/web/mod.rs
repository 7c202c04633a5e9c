//! The HTTP surface: the console's pages at `/` ([`console`]), `GET /healthz`
//! (open), `GET /metrics` (supervisor or admin token), `GET /api/state` (any
//! token; tenant-held for clients), the customer profiles and transfers of seed 004 and the chat's JSON API
//! ([`chat`]); the providers' webhooks are their sources' own routes
//! (`sources::webhooks`). Handlers take the verified
//! [`Caller`] and call the services, which hold the rules.

pub mod caller;
pub mod chat;
pub mod console;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;

use crate::auth::Role;
use crate::commands::chat::Chat;
use crate::commands::transfers::TransferDesk;
use crate::error::Error;
use crate::ledger::views;
use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::socket_json::{masked, to_json};
use crate::store::Store;
pub use caller::{Caller, Gatekeeper};

/// What the HTTP routes call.
pub struct Http {
    /// The ledger and the log, for the state and the health.
    pub log: Arc<EventLog>,
    /// The store, whose health `/healthz` reports.
    pub store: Store,
    /// Metrics, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Checks tokens.
    pub gate: Gatekeeper,
    /// The chat service.
    pub chat: Arc<Chat>,
    /// The transfer service (and its profile cache).
    pub transfers: Arc<TransferDesk>,
    /// This node's name and whether it ingests, for `/healthz`.
    pub role: Arc<crate::cluster::NodeRole>,
}

impl axum::extract::FromRef<Arc<Http>> for Gatekeeper {
    fn from_ref(http: &Arc<Http>) -> Gatekeeper {
        http.gate.clone()
    }
}

/// `GET /healthz`, open to anyone: whether the service can serve, and where
/// each phone-system source stands (`connected`, `disconnected`, `error`),
/// nothing more. `status` is `ok` when the database answers and every
/// source that reported is connected, `degraded` otherwise; the HTTP status
/// is 503 only when the database does not answer (with the PBX away the
/// service still serves what it knows).
async fn healthz(State(http): State<Arc<Http>>) -> Response {
    let database = http.store.ping().await;
    let sources: serde_json::Map<String, serde_json::Value> = http.log.read(|ledger, _| {
        ledger
            .source_statuses()
            .map(|status| {
                let name =
                    crate::socket_json::enum_text("switchboard.v1.SourceKind", status.source);
                let state =
                    crate::socket_json::enum_text("switchboard.v1.SourceState", status.state);
                (
                    name.unwrap_or_default(),
                    serde_json::Value::from(state.unwrap_or_default()),
                )
            })
            .collect()
    });
    let sources_up = sources.values().all(|state| state == "connected");
    let log_up = http.log.journal_reachable();
    let mut body = serde_json::json!({
        "status": if database.is_ok() && sources_up && log_up { "ok" } else { "degraded" },
        "node": http.role.node,
        "ingest": http.role.ingest(),
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "sources": sources,
    });
    if http.log.is_journaled() {
        // The log in Redis: while it does not answer, nothing new is served.
        body["log"] = serde_json::Value::from(if log_up { "ok" } else { "unreachable" });
    }
    let status = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
) -> Result<Response, Error> {
    principal
        .require(&[Role::Supervisor, Role::Admin], "read metrics")
        .inspect_err(|e| http.gate.refused(e))?;
    Ok((
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        http.metrics.render(),
    )
        .into_response())
}

async fn state(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
) -> Result<Json<serde_json::Value>, Error> {
    principal.refuse_customers("read the system state")?;
    let now = chrono::Utc::now();
    let state = http
        .log
        .read(|ledger, _| views::system_state(ledger, now, principal.forced_tenant()));
    let state = if principal.masks_phone_numbers() {
        masked(&state)
    } else {
        state
    };
    Ok(Json(to_json(&state)))
}

/// `GET /api/customer/data?extension=&call_sid=&call_id=` (seed 004): the
/// cached profile of the customer transferred to `extension`, looked up by
/// call SID, then call id, then the extension alone. An agent reads only
/// their own extension's; a miss is a 404 that says what was tried.
async fn customer_data(
    State(http): State<Arc<Http>>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
    Caller(principal): Caller,
) -> Result<Json<serde_json::Value>, Error> {
    let field = |name: &str| query.get(name).map_or("", String::as_str);
    let (key, profile) = http
        .transfers
        .customer_profile(
            &principal,
            field("extension"),
            field("call_sid"),
            field("call_id"),
        )
        .await?;
    let mut body = serde_json::to_value(&profile).map_err(|e| Error::Internal(e.into()))?;
    body["cache_key"] = serde_json::Value::String(key);
    Ok(Json(body))
}

/// The body of `POST /api/transfers`: snake_case, the profile in the
/// cache's own layout (what a Python assistant already writes to Redis).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    extension: String,
    profile: crate::profiles::StoredProfile,
    #[serde(default)]
    customer_call_sid: String,
    #[serde(default)]
    call_id: String,
    #[serde(default)]
    ttl_seconds: u32,
}

/// `POST /api/transfers`: [`TransferDesk::request`]; answers `{transfer, cacheKeys}`.
async fn transfer(
    State(http): State<Arc<Http>>,
    Caller(principal): Caller,
    body: Result<Json<TransferBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let Json(body) = body?;
    let (transfer, cache_keys) = http
        .transfers
        .request(
            &principal,
            crate::commands::transfers::TransferRequest {
                extension: body.extension,
                profile: body.profile.to_proto(),
                customer_call_sid: body.customer_call_sid,
                call_id: body.call_id,
                ttl_seconds: body.ttl_seconds,
            },
        )
        .await?;
    let answer = crate::proto::v1::RequestTransferResponse {
        transfer: Some(transfer),
        cache_keys,
    };
    Ok((StatusCode::CREATED, Json(to_json(&answer))).into_response())
}

/// The HTTP routes.
pub fn router(http: Arc<Http>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/state", get(state))
        .route("/api/customer/data", get(customer_data))
        .route("/api/transfers", axum::routing::post(transfer))
        .merge(chat::routes())
        .with_state(http)
        .merge(console::router())
}
