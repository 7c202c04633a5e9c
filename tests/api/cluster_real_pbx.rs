//! A cluster on the real Asterisk 22: two nodes watch one PBX over AMI, the
//! leader stops mid-call, the standby takes the lease, connects to Asterisk
//! and rebuilds from what Asterisk reports. The call is counted once across
//! the failover: one start, one answer, one end, one record.

use std::time::Duration;

use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, CallChange, event::Payload};
use tokio_util::sync::CancellationToken;

use crate::cluster::{read_until, until_ingest};
use crate::helpers::{
    Postgres, TestApp, spawn_app_with, test_redis_url, token, unique_cluster_name,
};
use crate::real_pbx::Pbx;

/// A node of deployment `name` watching `pbx` over AMI.
async fn node(name: &str, node: &str, database: &str, pbx: &Pbx) -> TestApp {
    let (name, node, database) = (name.to_owned(), node.to_owned(), database.to_owned());
    let ami_port = pbx.ami_port.to_string();
    spawn_app_with(move |args| {
        args.redis_url = Some(test_redis_url());
        args.cluster_name = Some(name);
        args.cluster = Some("true".into());
        args.node_name = Some(node);
        args.lease_seconds = Some("2".into());
        args.database_url = Some(database);
        args.ami_host = Some("127.0.0.1".into());
        args.ami_port = Some(ami_port);
        args.ami_username = Some("watcher".into());
        args.ami_secret = Some("watcherpw".into());
    })
    .await
}

/// The call updates of `call_id` among `events`.
fn changes_of(events: &[pb::Event], call_id: &str) -> Vec<CallChange> {
    events
        .iter()
        .filter_map(|e| match &e.payload {
            Some(Payload::CallUpdated(update))
                if update.call.as_ref().is_some_and(|c| c.call_id == call_id) =>
            {
                Some(update.change())
            }
            _ => None,
        })
        .collect()
}

fn started(event: &pb::Event) -> Option<String> {
    match &event.payload {
        Some(Payload::CallUpdated(update)) if update.change() == CallChange::Started => {
            update.call.as_ref().map(|c| c.call_id.clone())
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_on_the_real_pbx_is_counted_once_across_a_failover() {
    let pbx = Pbx::start().await;
    let (postgres, database) = Postgres::create().await;
    let name = unique_cluster_name();
    let mut a = node(&name, "node-a", &database, &pbx).await;
    until_ingest(&a, "leader", Duration::from_secs(10)).await;
    let b = node(&name, "node-b", &database, &pbx).await;
    until_ingest(&b, "standby", Duration::from_secs(5)).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut on_b = b
        .subscribe(
            pb::SubscribeRequest {
                kinds: vec![
                    pb::EventKind::CallUpdated as i32,
                    pb::EventKind::Resync as i32,
                ],
                ..Default::default()
            },
            &supervisor,
        )
        .await;

    // The leader's AMI source has connected and rebuilt (its first term).
    let mut read = Vec::new();
    read_until(&mut on_b, &mut read, |e| {
        matches!(&e.payload, Some(Payload::Resync(r)) if r.reason() == pb::ResyncReason::SourceRebuilt)
    })
    .await;

    // The test's own AMI connection places a customer's call to 1001,
    // which answers after a second's ringing.
    let stop = CancellationToken::new();
    let (ami, mut heard) = pbx.connect_ami(&stop);
    tokio::spawn(async move { while heard.recv().await.is_some() {} });
    let originate = [
        ("Channel", "Local/0611111111@customers"),
        ("Context", "internal"),
        ("Exten", "1001"),
        ("Priority", "1"),
        ("Async", "true"),
        ("CallerID", "\"Customer\" <0611111111>"),
    ];
    let mut placed = false;
    for _ in 0..50 {
        match ami.send("Originate", &originate).await {
            Ok(reply) => {
                assert!(reply.is_success(), "{reply:?}");
                placed = true;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(placed, "the test's AMI connection came up");
    read_until(&mut on_b, &mut read, |e| started(e).is_some()).await;
    let call_id = started(read.last().unwrap()).unwrap();
    read_until(&mut on_b, &mut read, |e| {
        changes_of(std::slice::from_ref(e), &call_id) == [CallChange::Answered]
    })
    .await;

    // The leader stops mid-call; b takes over and rebuilds from Asterisk.
    a.halt().await.expect("the leader stops");
    until_ingest(&b, "leader", Duration::from_secs(10)).await;
    read_until(&mut on_b, &mut read, |e| {
        matches!(&e.payload, Some(Payload::Resync(r)) if r.reason() == pb::ResyncReason::SourceRebuilt)
    })
    .await;
    let Some(Payload::Resync(resync)) = &read.last().unwrap().payload else {
        unreachable!()
    };
    let live: Vec<&pb::Call> = resync
        .snapshot
        .as_ref()
        .map(|s| s.calls.iter().collect())
        .unwrap_or_default();
    assert_eq!(
        live.len(),
        1,
        "the rebuilt picture holds the one call: {live:?}"
    );
    assert_eq!(live[0].call_id, call_id, "the same call, not a new one");
    assert_eq!(live[0].answered_by, "1001");

    // The customer hangs up under the new leader.
    let _ = ami
        .send("Hangup", &[("Channel", "/^Local/0611111111@customers/")])
        .await;
    read_until(&mut on_b, &mut read, |e| {
        changes_of(std::slice::from_ref(e), &call_id) == [CallChange::Ended]
    })
    .await;
    let changes = changes_of(&read, &call_id);
    let count = |change: CallChange| changes.iter().filter(|c| **c == change).count();
    assert_eq!(count(CallChange::Started), 1, "{changes:?}");
    assert_eq!(count(CallChange::Answered), 1, "{changes:?}");
    assert_eq!(count(CallChange::Ended), 1, "{changes:?}");
    assert!(
        read.iter()
            .all(|e| started(e).is_none_or(|id| id == call_id)),
        "no other call started: {read:?}"
    );

    // One record, written once whichever node wrote it.
    let store = switchboard::store::Store::connect(&database)
        .await
        .expect("the records database");
    let mut records = Vec::new();
    for _ in 0..100 {
        records = store.recent_call_records(100).await.expect("records");
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ours: Vec<_> = records.iter().filter(|r| r.call_id == call_id).collect();
    assert_eq!(ours.len(), 1, "{records:?}");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(ours[0].answered_by, "1001");
    assert_eq!(ours[0].customer_number, "0611111111");

    stop.cancel();
    drop(on_b);
    drop(b);
    store.close().await;
    postgres.drop_database().await;
}
