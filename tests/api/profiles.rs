//! The customer-profile cache of seed 004: written over gRPC by the voice
//! assistant, read by the agent desktop over HTTP, in a real Redis (read
//! back with a plain Redis client) and in the in-process cache.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, customer_service_client::CustomerServiceClient};

use crate::helpers::{TestApp, authed, spawn_app_with, token};

fn profile(extension: &str, name: &str, call_sid: &str, call_id: &str) -> pb::CustomerProfile {
    pb::CustomerProfile {
        name: name.into(),
        email: "ann@example.com".into(),
        phone: "+254712345678".into(),
        conversation_history: vec![pb::ConversationTurn {
            role: "user".into(),
            content: "transfer me to an agent".into(),
            timestamp: None,
        }],
        activities: vec![pb::CustomerActivity {
            r#type: "todo".into(),
            action: "created".into(),
            title: "Call back about the order".into(),
            details_json: r#"{"due": "2026-11-22"}"#.into(),
            timestamp: None,
        }],
        extension: extension.into(),
        call_sid: call_sid.into(),
        call_id: call_id.into(),
        cached_at: None,
    }
}

async fn customer_data(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/customer/data?{query}", app.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A fresh extension per run, so that runs sharing a Redis never meet.
fn fresh_extension() -> String {
    format!("9{:04}", rand::random::<u16>() % 10_000)
}

async fn the_lookup_flow(app: &TestApp, extension: &str) {
    let mut customers = CustomerServiceClient::new(app.channel().await);
    let service = token(Role::Admin, None, None);
    // Two calls of one customer transferred to one extension, then a WebRTC one.
    for (name, sid, id) in [
        ("Ann", "CA1", ""),
        ("Ann again", "CA2", ""),
        ("Web Ann", "", "web-7"),
    ] {
        let written = customers
            .put_customer_profile(authed(
                pb::PutCustomerProfileRequest {
                    profile: Some(profile(extension, name, sid, id)),
                    ttl_seconds: 120,
                },
                &service,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(written.keys[0], format!("callcenter:customer:{extension}"));
        assert_eq!(written.keys.len(), 2);
    }
    let agent = token(Role::Agent, Some(extension), None);
    for (query, expected, key) in [
        (
            format!("extension={extension}&call_sid=CA1"),
            "Ann",
            format!("{extension}:CA1"),
        ),
        (
            format!("extension={extension}&call_sid=CA2"),
            "Ann again",
            format!("{extension}:CA2"),
        ),
        (
            format!("extension={extension}&call_id=web-7"),
            "Web Ann",
            format!("{extension}:web-7"),
        ),
        // An unknown SID falls back to the call id, then to the extension's latest.
        (
            format!("extension={extension}&call_sid=CA9&call_id=web-7"),
            "Web Ann",
            format!("{extension}:web-7"),
        ),
        (
            format!("extension={extension}"),
            "Web Ann",
            extension.to_owned(),
        ),
    ] {
        let (status, body) = customer_data(app, &agent, &query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["name"], expected, "{query}");
        assert_eq!(body["cache_key"], format!("callcenter:customer:{key}"));
    }
    let (_, body) =
        customer_data(app, &agent, &format!("extension={extension}&call_sid=CA1")).await;
    assert_eq!(
        body["conversation_history"][0]["content"],
        "transfer me to an agent"
    );
    assert_eq!(body["activities"][0]["details"]["due"], "2026-11-22");
    // Another agent may not read it; nobody finds a profile that is not there.
    let (status, _) = customer_data(
        app,
        &token(Role::Agent, Some("1999"), None),
        &format!("extension={extension}"),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = customer_data(
        app,
        &token(Role::Supervisor, None, None),
        "extension=0000&call_sid=CA1",
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("extension 0000, call_sid CA1"),
        "{body}"
    );
    // gRPC reads the same.
    let read = customers
        .get_customer_profile(authed(
            pb::GetCustomerProfileRequest {
                extension: extension.into(),
                call_sid: "CA2".into(),
                call_id: String::new(),
            },
            &agent,
        ))
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(read.name, "Ann again");
    assert_eq!(read.activities[0].details_json, r#"{"due":"2026-11-22"}"#);
}

#[tokio::test]
async fn profiles_live_in_redis_under_the_documented_keys() {
    let redis_url = std::env::var("TEST_REDIS_URL")
        .expect("TEST_REDIS_URL is not set: run `make test` (it starts Redis with .ci/services)");
    let url = redis_url.clone();
    let app = spawn_app_with(move |args| args.redis_url = Some(url)).await;
    let extension = fresh_extension();
    the_lookup_flow(&app, &extension).await;

    // A plain Redis client sees the keys, their TTL and the JSON layout.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("callcenter:customer:{extension}:CA1");
    let json: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&json).unwrap();
    for field in [
        "name",
        "email",
        "phone",
        "conversation_history",
        "activities",
        "extension",
        "call_sid",
        "call_id",
        "cached_at",
    ] {
        assert!(stored.get(field).is_some(), "{field} in {stored}");
    }
    assert_eq!(stored["call_sid"], "CA1");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=120).contains(&ttl), "ttl {ttl}");

    // What a Python service writes in the same layout, switchboard reads.
    let python = json!({
        "name": "From Python",
        "email": "py@example.com",
        "phone": "+15005550006",
        "conversation_history": [{"role": "assistant", "content": "One moment."}],
        "activities": [],
        "extension": extension,
        "call_sid": "",
        "call_id": "py-1",
        "cached_at": "2026-11-21T10:30:00.000Z"
    });
    let _: () = redis::cmd("SET")
        .arg(format!("callcenter:customer:{extension}:py-1"))
        .arg(python.to_string())
        .arg("EX")
        .arg(60)
        .query_async(&mut redis)
        .await
        .unwrap();
    let (status, body) = customer_data(
        &app,
        &token(Role::Agent, Some(&extension), None),
        &format!("extension={extension}&call_id=py-1"),
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("From Python")));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn without_redis_the_in_process_cache_serves_the_same() {
    let app = spawn_app_with(|_| {}).await;
    the_lookup_flow(&app, &fresh_extension()).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.stop().await.unwrap();
}
