//! Every refusal: gRPC UNAUTHENTICATED / PERMISSION_DENIED, HTTP 401 / 403,
//! a Socket.IO connect error with its reason.

use switchboard::auth::Role;
use switchboard::proto::v1::{GetSystemStateRequest, SetSystemModeRequest, SubscribeRequest};
use tonic::Code;

use crate::helpers::{authed, repo_root, require_tool, spawn_app, token};

#[tokio::test]
async fn grpc_refuses_missing_bad_and_insufficient_tokens() {
    let app = spawn_app().await;
    let mut state = app.state().await;

    let missing = state
        .get_system_state(GetSystemStateRequest::default())
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("no bearer token"));

    let forged = authed(GetSystemStateRequest::default(), "not.a.token");
    assert_eq!(
        state.get_system_state(forged).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    let agent = token(Role::Agent, Some("1001"), None);
    let denied = state
        .set_system_mode(authed(
            SetSystemModeRequest {
                mode: "night".into(),
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let client = token(Role::Client, None, Some("acme"));
    let other_tenant = app
        .events()
        .await
        .subscribe(authed(
            SubscribeRequest {
                tenant: "globex".into(),
                ..Default::default()
            },
            &client,
        ))
        .await
        .unwrap_err();
    assert_eq!(other_tenant.code(), Code::PermissionDenied);

    let admin = token(Role::Admin, None, None);
    let ok = state
        .set_system_mode(authed(
            SetSystemModeRequest {
                mode: "night".into(),
            },
            &admin,
        ))
        .await
        .expect("admin may");
    assert_eq!(ok.into_inner().mode, "night");
    let refusals = app.metrics().await;
    assert!(refusals.contains(
        "switchboard_auth_refusals_total{surface=\"grpc\",reason=\"unauthenticated\"} 2"
    ));
}

#[tokio::test]
async fn http_answers_401_without_a_token_and_403_without_the_role() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let metrics = format!("{}/metrics", app.url());
    assert_eq!(http.get(&metrics).send().await.unwrap().status(), 401);
    let agent = token(Role::Agent, Some("1001"), None);
    let forbidden = http.get(&metrics).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    let body: serde_json::Value = forbidden.json().await.unwrap();
    assert_eq!(body["error"], "permission_denied");
    let supervisor = token(Role::Supervisor, None, None);
    let allowed = http
        .get(&metrics)
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let text = allowed.text().await.unwrap();
    assert!(text.contains("switchboard_auth_refusals_total{surface=\"http\""));
    assert_eq!(
        http.get(format!("{}/healthz", app.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn socketio_refuses_the_handshake_with_a_reason() {
    let app = spawn_app().await;
    let node = require_tool("node", "install Node.js 20");
    let script = repo_root().join("clients/socketio/watch.mjs");
    let output = tokio::process::Command::new(&node)
        .arg(&script)
        .arg(app.url())
        .args(["--token", "forged", "--seconds", "10"])
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).unwrap();
    assert_eq!(line["event"], "connect_error");
    assert!(
        line["data"]["message"]
            .as_str()
            .unwrap()
            .contains("token malformed")
    );
}
