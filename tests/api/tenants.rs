//! The `client` role sees only its tenant, with phone numbers masked to the
//! last four digits; finished calls reach the store even when the server stops
//! right after them.

use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, CallChange, SubscribeRequest, event::Payload};
use switchboard::store::Store;

use crate::ami_peer::{AmiPeer, PeerCall, app_with_peer};
use crate::helpers::{Postgres, TestApp, assert_lines_match_schemas, authed, token, until};

/// Waits until the ledger holds `count` calls in progress.
async fn calls_up(app: &TestApp, count: usize) {
    until("the calls up", Duration::from_secs(10), async || {
        (app.system_state().await.calls.len() == count).then_some(())
    })
    .await;
}

/// A call of `tenant`'s from `number` rings in on `peer`.
fn rings(peer: &AmiPeer, n: usize, tenant: &str, number: &str) -> PeerCall {
    let call = PeerCall::new(n, number, tenant);
    peer.send(call.rings());
    call
}

#[tokio::test]
async fn a_client_subscriber_gets_only_its_tenant_with_masked_numbers() {
    let (app, peer) = app_with_peer(|_| {}).await;
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
    rings(&peer, 1, "globex", "254700000001");
    let acme = rings(&peer, 2, "acme", "254712345678");
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
    assert_eq!(call.uniqueid, acme.uniqueid());
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

/// A `Resync` snapshot is the whole house's state in the log; a client's
/// stream gets its own tenant's share of it, masked, and no PBX sources.
#[tokio::test]
async fn a_client_snapshot_holds_only_its_tenants_calls() {
    let (app, peer) = app_with_peer(|_| {}).await;
    rings(&peer, 1, "globex", "254700000001");
    rings(&peer, 2, "acme", "254712345678");
    calls_up(&app, 2).await;
    let first_event = async |bearer: &str| {
        let mut stream = app
            .subscribe(
                SubscribeRequest {
                    snapshot_first: true,
                    ..Default::default()
                },
                bearer,
            )
            .await;
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the snapshot")
            .expect("open")
            .expect("ok")
            .event
            .expect("set");
        let Some(Payload::Resync(resync)) = event.payload else {
            panic!("a snapshot first")
        };
        resync.snapshot.expect("set")
    };
    let client = first_event(&token(Role::Client, None, Some("acme"))).await;
    let numbers: Vec<_> = client
        .calls
        .iter()
        .map(|c| c.customer_number.as_str())
        .collect();
    assert_eq!(numbers, ["********5678"], "acme's call only, masked");
    assert!(client.sources.is_empty(), "the house's PBX link is staff's");
    let staff = first_event(&token(Role::Supervisor, None, None)).await;
    assert_eq!(staff.calls.len(), 2);
    let ami = staff
        .sources
        .iter()
        .find(|s| s.source == pb::SourceKind::Ami as i32)
        .expect("the AMI source in the snapshot");
    assert_eq!(ami.state, pb::SourceState::Connected as i32);
}

#[tokio::test]
async fn a_client_socket_gets_its_tenant_masked_and_staff_see_every_number() {
    let (app, peer) = app_with_peer(|_| {}).await;
    let client_token = token(Role::Client, None, Some("acme"));
    let staff_token = token(Role::Supervisor, None, None);
    // The client gets system_state, then call:new; staff get system_state,
    // ami:connected (the PBX link, house-wide), calls:active, agents:status, call:new.
    let (client, staff, ()) = tokio::join!(
        app.watch_socket(&client_token, &["--count", "2", "--seconds", "15"]),
        app.watch_socket(&staff_token, &["--count", "5", "--seconds", "15"]),
        async {
            app.wait_for_sockets(2).await;
            rings(&peer, 2, "acme", "254712345678");
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
    assert_eq!(call_new["data"]["state"], "Ring", "the trunk's state");
    assert_eq!(call_new["data"]["answered"], false);
    assert_lines_match_schemas(&client);
    assert_lines_match_schemas(&staff);
}

async fn finished_call_reaches_the_store(database_url: String) {
    let url = database_url.clone();
    let (app, peer) = app_with_peer(move |args| args.database_url = Some(url)).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut updates = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![pb::EventKind::CallUpdated as i32],
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let call = PeerCall::new(1, "+6421436772", "");
    for step in [call.rings(), call.answered(), call.ends()] {
        peer.send(step);
    }
    // Stop the moment the end is told: the record is still to be written.
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), updates.next())
            .await
            .expect("the call ends in time")
            .expect("open")
            .expect("ok")
            .event
            .expect("set");
        if let Some(Payload::CallUpdated(update)) = event.payload
            && update.change() == CallChange::Ended
        {
            break;
        }
    }
    app.stop().await.expect("clean stop");
    let store = Store::connect(&database_url).await.expect("store");
    let records = store.recent_call_records(5).await.expect("records");
    assert_eq!(records.len(), 1, "the pending write reached the store");
    assert_eq!(records[0].call_id, call.call_id());
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
    let (app, peer) = app_with_peer(|args| args.stats_interval_seconds = Some("1".into())).await;
    rings(&peer, 1, "acme", "254712345678");
    rings(&peer, 2, "globex", "254700000001");
    rings(&peer, 3, "globex", "254700000002");
    calls_up(&app, 3).await;

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
    let (app, peer) = app_with_peer(move |args| {
        args.database_url = Some(app_url);
        args.replay_window_events = Some("20".into());
        args.subscriber_buffer = Some("8".into());
    })
    .await;
    let calls = 1500;
    let mut burst = Vec::new();
    for n in 0..calls {
        let call = PeerCall::new(n, "+6421436772", "");
        burst.extend(call.rings());
        burst.extend(call.ends());
    }
    // The PBX writes the whole burst at once, then a call that stays up:
    // once that call is in the state, the burst has been read.
    let marker = PeerCall::new(calls, "+6421436772", "");
    burst.extend(marker.rings());
    peer.send(burst);
    let state = until("the burst is read", Duration::from_secs(60), async || {
        let state = app.system_state().await;
        let marked = state.calls.iter().any(|c| c.call_id == marker.call_id());
        marked.then_some(state)
    })
    .await;
    assert_eq!(state.calls.len(), 1, "every call of the burst ended");
    app.stop().await.expect("clean stop");
    let store = Store::connect(&url).await.expect("store");
    let records = store
        .recent_call_records(calls as i64 + 10)
        .await
        .expect("records");
    assert_eq!(
        records.len(),
        calls + 1,
        "every call of the burst is stored, and the one still up when the server stopped"
    );
    store.close().await;
}
