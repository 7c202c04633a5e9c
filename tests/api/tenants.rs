//! The `client` role sees only its tenant, with phone numbers masked to the
//! last four digits; finished calls reach the store even when the server stops
//! right after them.

use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;
use switchboard::ledger::Input;
use switchboard::ledger::model::{CallIds, Direction, EndReason};
use switchboard::proto::v1::{self as pb, SubscribeRequest, event::Payload};
use switchboard::store::Store;

use crate::helpers::{
    Postgres, assert_lines_match_schemas, authed, spawn_app, spawn_app_with, token,
};

fn call_started(id: &str, tenant: &str, number: &str) -> Input {
    Input::CallStarted {
        call_id: id.into(),
        ids: CallIds {
            ami_uniqueid: id.into(),
            channel: format!("PJSIP/trunk-{id}"),
            ..CallIds::default()
        },
        direction: Direction::Inbound,
        customer_number: number.into(),
        caller_name: "Customer".into(),
        destination: "8000".into(),
        context: "from-external".into(),
        channel_state: "Ring".into(),
        queue: None,
        tenant: tenant.into(),
    }
}

#[tokio::test]
async fn a_client_subscriber_gets_only_its_tenant_with_masked_numbers() {
    let app = spawn_app().await;
    let client = token(Role::Client, None, Some("acme"));
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![pb::EventKind::CallNew as i32],
                ..Default::default()
            },
            &client,
        )
        .await;
    let now = chrono::Utc::now();
    app.internals
        .log
        .apply(call_started("g.1", "globex", "254700000001"), now);
    app.internals
        .log
        .apply(call_started("a.1", "acme", "254712345678"), now);
    let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("ok")
        .event
        .expect("set");
    assert_eq!(event.tenant, "acme", "globex's call was not delivered");
    let Some(Payload::CallNew(call)) = event.payload else {
        panic!("expected call:new")
    };
    assert_eq!(call.uniqueid, "a.1");
    assert_eq!(call.callerid, "********5678");

    let state = app
        .state()
        .await
        .get_system_state(authed(
            pb::GetSystemStateRequest {
                tenant: "globex".into(),
            },
            &client,
        ))
        .await
        .expect("state")
        .into_inner();
    assert_eq!(
        state.calls.len(),
        1,
        "held to its own tenant whatever it asks"
    );
    assert_eq!(state.calls[0].customer_number, "********5678");
}

#[tokio::test]
async fn a_client_socket_gets_its_tenant_masked_and_staff_see_every_number() {
    let app = spawn_app().await;
    let client_token = token(Role::Client, None, Some("acme"));
    let staff_token = token(Role::Supervisor, None, None);
    // The client gets system_state, then call:new; staff get system_state, calls:active, agents:status, call:new.
    let (client, staff, ()) = tokio::join!(
        app.watch_socket(&client_token, &["--count", "2", "--seconds", "15"]),
        app.watch_socket(&staff_token, &["--count", "4", "--seconds", "15"]),
        async {
            app.wait_for_sockets(2).await;
            let call = call_started("a.2", "acme", "254712345678");
            app.internals.log.apply(call, chrono::Utc::now());
        },
    );
    assert_eq!(client[0]["event"], "system_state");
    assert_eq!(client[1]["event"], "call:new");
    assert_eq!(client[1]["data"]["callerid"], "********5678");
    let call_new = staff
        .iter()
        .find(|l| l["event"] == "call:new")
        .expect("staff call:new");
    assert_eq!(call_new["data"]["callerid"], "254712345678");
    assert_eq!(call_new["data"]["state"], "Ring");
    assert_eq!(call_new["data"]["answered"], false);
    assert_lines_match_schemas(&client);
    assert_lines_match_schemas(&staff);
}

async fn finished_call_reaches_the_store(database_url: String) {
    let url = database_url.clone();
    let app = spawn_app_with(move |args| args.database_url = Some(url)).await;
    let now = chrono::Utc::now();
    app.internals
        .log
        .apply(call_started("s.1", "", "+6421436772"), now);
    app.internals.log.apply(
        Input::CallAnswered {
            call_id: "s.1".into(),
            agent_extension: None,
            answered_by: String::new(),
        },
        now,
    );
    app.internals.log.apply(
        Input::CallEnded {
            call_id: "s.1".into(),
            reason: EndReason::Completed,
        },
        now,
    );
    app.stop().await.expect("clean stop");
    let store = Store::connect(&database_url).await.expect("store");
    let records = store.recent_call_records(5).await.expect("records");
    assert_eq!(records.len(), 1, "the pending write reached the store");
    assert_eq!(records[0].call_id, "s.1");
    assert_eq!(records[0].disposition, "ANSWERED");
    assert_eq!(records[0].customer_number, "+6421436772");
    store.close().await;
}

#[tokio::test]
async fn a_call_that_ends_just_before_shutdown_is_stored_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    finished_call_reaches_the_store(format!(
        "sqlite://{}",
        dir.path().join("calls.db").display()
    ))
    .await;
}

#[tokio::test]
async fn a_call_that_ends_just_before_shutdown_is_stored_in_postgres() {
    let (database, url) = Postgres::create().await;
    finished_call_reaches_the_store(url).await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_tenant_gets_system_stats_over_its_own_calls_and_staff_get_the_house_wide_ones() {
    let app = spawn_app_with(|args| args.stats_interval_seconds = Some("1".into())).await;
    let now = chrono::Utc::now();
    app.internals
        .log
        .apply(call_started("a.1", "acme", "254712345678"), now);
    app.internals
        .log
        .apply(call_started("g.1", "globex", "254700000001"), now);
    app.internals
        .log
        .apply(call_started("g.2", "globex", "254700000002"), now);

    let client = token(Role::Client, None, Some("acme"));
    let scoped = app
        .state()
        .await
        .get_system_stats(authed(Default::default(), &client))
        .await
        .expect("a tenant may read its own figures")
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!(scoped.total_sessions, 1);
    assert_eq!(scoped.performance.as_ref().unwrap().calls_per_minute, 1);
    assert_eq!(
        scoped.performance.as_ref().unwrap().peak_concurrent_calls,
        1
    );

    let staff_token = token(Role::Supervisor, None, None);
    let (client_lines, staff_lines) = tokio::join!(
        app.watch_socket(&client, &["--seconds", "3"]),
        app.watch_socket(&staff_token, &["--seconds", "3"]),
    );
    let stats_of = |lines: &[serde_json::Value]| -> Vec<u64> {
        lines
            .iter()
            .filter(|l| l["event"] == "system_stats")
            .map(|l| l["data"]["totalSessions"].as_u64().unwrap())
            .collect()
    };
    let client_stats = stats_of(&client_lines);
    assert!(
        !client_stats.is_empty(),
        "every client gets system_stats: {client_lines:?}"
    );
    assert!(
        client_stats.iter().all(|n| *n == 1),
        "only acme's calls: {client_stats:?}"
    );
    let staff_stats = stats_of(&staff_lines);
    assert!(!staff_stats.is_empty());
    assert!(
        staff_stats.iter().all(|n| *n == 3),
        "house-wide, never a tenant's copy: {staff_stats:?}"
    );
    assert_lines_match_schemas(&client_lines);
}

/// A burst far larger than the replay window and the live buffers loses no
/// call record: the store reads a durable feed of its own.
#[tokio::test]
async fn a_burst_beyond_the_replay_window_loses_no_call_record() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("burst.db").display());
    let app_url = url.clone();
    let app = spawn_app_with(move |args| {
        args.database_url = Some(app_url);
        args.replay_window_events = Some("20".into());
        args.subscriber_buffer = Some("8".into());
    })
    .await;
    let calls = 1500;
    let log = std::sync::Arc::clone(&app.internals.log);
    tokio::task::spawn_blocking(move || {
        for n in 0..calls {
            let now = chrono::Utc::now();
            let id = format!("r.{n}");
            log.apply(call_started(&id, "", "+6421436772"), now);
            log.apply(
                Input::CallEnded {
                    call_id: id,
                    reason: EndReason::Completed,
                },
                now,
            );
        }
    })
    .await
    .expect("burst");
    app.stop().await.expect("clean stop");
    let store = Store::connect(&url).await.expect("store");
    let records = store
        .recent_call_records(calls + 10)
        .await
        .expect("records");
    assert_eq!(records.len() as i64, calls, "every ended call is stored");
    store.close().await;
}
