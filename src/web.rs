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

async fn healthz(State(core): State<Arc<Core>>) -> Response {
    let database = core.store.ping().await;
    let body = serde_json::json!({
        "status": if database.is_ok() { "ok" } else { "degraded" },
        "database": if database.is_ok() { "ok" } else { "unreachable" },
        "epoch": core.log.epoch(),
        "sequence": core.log.head(),
        "uptime": core.stats.uptime_seconds(),
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

/// The HTTP routes.
pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/state", get(state))
        .with_state(Arc::clone(&core))
        .merge(crate::chat::http::router(Arc::clone(&core)))
        .merge(crate::webhooks::router(core))
}
