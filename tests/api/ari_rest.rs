//! The ARI REST client against a loopback ARI peer that answers what a real
//! Asterisk 22 answered (`../shared/fixtures/ari/asterisk-22/stasis_call.ari.rest.jsonl`),
//! checks basic auth, and fails on purpose where a test asks it to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard::sources::ari::rest::{AriError, AriRest};

use crate::helpers::fixtures_root;

struct Recorded {
    method: String,
    path: String,
    params: HashMap<String, String>,
    status: u16,
    body: Value,
}

fn recording() -> Vec<Recorded> {
    let path = fixtures_root().join("ari/asterisk-22/stasis_call.ari.rest.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            Recorded {
                method: entry["method"].as_str().unwrap().to_owned(),
                path: entry["path"].as_str().unwrap().to_owned(),
                params: serde_json::from_value(entry["params"].clone()).unwrap(),
                status: entry["status"].as_u64().unwrap() as u16,
                body: entry["body"].clone(),
            }
        })
        .collect()
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    if body.is_null() {
        status.into_response()
    } else {
        (status, axum::Json(body.clone())).into_response()
    }
}

async fn answer(
    State(recorded): State<Arc<Vec<Recorded>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // Basic base64("switchboard:secret").
    let expected = "Basic c3dpdGNoYm9hcmQ6c2VjcmV0";
    if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(expected) {
        return json_response(401, &json!({"message": "Authentication required"}));
    }
    let path = uri.path().trim_start_matches("/ari");
    match path {
        "/channels/in-a-call/answer" => {
            return json_response(
                409,
                &json!({"message": "Channel not in Stasis application"}),
            );
        }
        "/channels/broken/answer" => return json_response(500, &json!({"message": "Internal"})),
        "/channels/slow/answer" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return json_response(204, &Value::Null);
        }
        _ => {}
    }
    let found = recorded.iter().find(|r| {
        r.method == method.as_str()
            && r.path == path
            && r.params.iter().all(|(k, v)| query.get(k) == Some(v))
    });
    match found {
        Some(r) => json_response(r.status, &r.body),
        None => json_response(404, &json!({"message": "Channel not found"})),
    }
}

async fn peer() -> String {
    let router = axum::Router::new()
        .fallback(answer)
        .with_state(Arc::new(recording()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/ari")
}

#[tokio::test]
async fn the_recorded_stasis_call_replays_through_the_client() {
    let ari = AriRest::new(
        &peer().await,
        "switchboard",
        "secret",
        Duration::from_secs(2),
    );
    ari.answer("1795270310.25").await.expect("answered");
    let bridge = ari.create_bridge("cc-bridge-1").await.expect("bridge");
    assert_eq!(bridge.id, "bac232e6-d9d3-44e1-9416-74b30cbc863e");
    assert_eq!(bridge.bridge_type, "mixing");
    ari.add_channel(&bridge.id, "1795270310.25")
        .await
        .expect("added");
    let now = ari.bridge(&bridge.id).await.expect("bridge read");
    assert_eq!(now.channels, ["1795270310.25"]);
    let channels = ari.channels().await.expect("channels");
    assert!(
        channels
            .iter()
            .any(|c| c.id == "1795270310.25" && c.caller.number == "5550004"),
        "{channels:?}"
    );
    ari.hang_up("1795270310.25", "normal")
        .await
        .expect("hung up");
    ari.destroy_bridge(&bridge.id).await.expect("destroyed");
}

#[tokio::test]
async fn each_failure_is_its_own_error_and_the_client_goes_on() {
    let url = peer().await;
    let ari = AriRest::new(&url, "switchboard", "secret", Duration::from_millis(300));
    assert_eq!(
        ari.answer("gone").await,
        Err(AriError::NotFound("Channel not found".into()))
    );
    assert_eq!(
        ari.answer("in-a-call").await,
        Err(AriError::Conflict(
            "Channel not in Stasis application".into()
        ))
    );
    assert!(matches!(
        ari.answer("broken").await,
        Err(AriError::Server { status: 500, .. })
    ));
    assert_eq!(
        ari.answer("slow").await,
        Err(AriError::Timeout(Duration::from_millis(300)))
    );
    let wrong = AriRest::new(&url, "switchboard", "wrong", Duration::from_secs(1));
    assert_eq!(
        wrong.answer("1795270310.25").await,
        Err(AriError::Refused(401))
    );
    // After all that, the same client still works.
    ari.answer("1795270310.25").await.expect("answered");
    let unreachable = AriRest::new("http://127.0.0.1:9/ari", "u", "p", Duration::from_secs(1));
    assert!(matches!(
        unreachable.answer("x").await,
        Err(AriError::Transport(_))
    ));
}
