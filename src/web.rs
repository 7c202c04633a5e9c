//! Plain HTTP routes: `GET /healthz` (open), `GET /metrics` (supervisor or
//! admin token) and `GET /api/state` (any token; tenant-held for clients).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};

use crate::app::Core;
use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::ledger::views;
use crate::socket_json::{masked, to_json};

fn authenticate(core: &Core, headers: &HeaderMap) -> Result<Principal, Error> {
    let credential = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    core.auth.authenticate(credential).inspect_err(|e| {
        core.metrics.refuse("http", e.code_name());
    })
}

/// `GET /healthz`, open to anyone: whether the service can serve, and where
/// each phone-system source stands (`connected`, `disconnected`, `error`),
/// nothing more. `status` is `ok` when the database answers and every
/// source that reported is connected, `degraded` otherwise; the HTTP status
/// is 503 only when the database does not answer (with the PBX away the
/// service still serves what it knows).
async fn healthz(State(core): State<Arc<Core>>) -> Response {
    let database = core.store.ping().await;
    let sources: serde_json::Map<String, serde_json::Value> = core.log.read(|ledger, _| {
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
    let body = serde_json::json!({
        "status": if database.is_ok() && sources_up { "ok" } else { "degraded" },
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "sources": sources,
    });
    let status = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(core): State<Arc<Core>>, headers: HeaderMap) -> Result<Response, Error> {
    let principal = authenticate(&core, &headers)?;
    principal
        .require(&[Role::Supervisor, Role::Admin], "read metrics")
        .inspect_err(|e| core.metrics.refuse("http", e.code_name()))?;
    Ok((
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        core.metrics.render(),
    )
        .into_response())
}

async fn state(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Error> {
    let principal = authenticate(&core, &headers)?;
    principal.refuse_customers("read the system state")?;
    let now = chrono::Utc::now();
    let state = core
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
    State(core): State<Arc<Core>>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Error> {
    let principal = authenticate(&core, &headers)?;
    let field = |name: &str| query.get(name).map_or("", |v| v.trim()).to_owned();
    let (extension, call_sid, call_id) = (field("extension"), field("call_sid"), field("call_id"));
    let extension = match (principal.role(), principal.claims.extension.as_deref()) {
        (Role::Agent, Some(own)) if extension.is_empty() || extension == own => own.to_owned(),
        (Role::Agent, _) => {
            return Err(Error::PermissionDenied(
                "an agent reads only their own extension's customer".into(),
            ));
        }
        (Role::Supervisor | Role::Admin, _) if !extension.is_empty() => extension,
        (Role::Supervisor | Role::Admin, _) => {
            return Err(Error::InvalidArgument("extension is required".into()));
        }
        _ => {
            return Err(Error::PermissionDenied(
                "only agents and supervisors read customer profiles".into(),
            ));
        }
    };
    match core.profiles.get(&extension, &call_sid, &call_id).await? {
        Some((key, profile)) => {
            let mut body = serde_json::to_value(&profile).map_err(|e| Error::Internal(e.into()))?;
            body["cache_key"] = serde_json::Value::String(key);
            Ok(Json(body))
        }
        None => Err(Error::NotFound(format!(
            "no customer profile for extension {extension}{}{}",
            if call_sid.is_empty() {
                String::new()
            } else {
                format!(", call_sid {call_sid}")
            },
            if call_id.is_empty() {
                String::new()
            } else {
                format!(", call_id {call_id}")
            },
        ))),
    }
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

/// `POST /api/transfers`: [`crate::transfers::request`]; answers `{transfer, cacheKeys}`.
async fn transfer(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    body: Result<Json<TransferBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Error> {
    let principal = authenticate(&core, &headers)?;
    let Json(body) = body?;
    let (transfer, cache_keys) = crate::transfers::request(
        &core,
        &principal,
        crate::transfers::TransferRequest {
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
pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/state", get(state))
        .route("/api/customer/data", get(customer_data))
        .route("/api/transfers", axum::routing::post(transfer))
        .with_state(Arc::clone(&core))
        .merge(crate::chat::http::router(Arc::clone(&core)))
        .merge(crate::webhooks::router(core))
}
