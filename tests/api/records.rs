//! The records a running server keeps, checked against everything that
//! happened: the server runs against `switchboard sim` until it is stopped
//! gracefully in the middle of the workload. Every call that ended is one
//! record (a transfer's consultation call is not a record of its own), every
//! call still up is an `open` record, every login is a session and every
//! pause a pause row. SQLite and Postgres.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;

use switchboard::devtools::sim::SimArgs;
use switchboard::proto::v1::{
    self as pb, AgentSessionChangeKind, CallChange, CallEndReason, event::Payload,
};
use switchboard::store::{OPEN_END_REASON, Store};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Postgres, spawn_app_with, token};
use crate::sim::{Reserved, busy};

fn millis(timestamp: Option<&prost_types::Timestamp>) -> i64 {
    let t = timestamp.expect("a timestamp");
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

/// Whether `events` hold what the records are checked against: three calls
/// ended, one of them after a transfer, and an agent's pause.
fn workload_shown(events: &[pb::Event]) -> bool {
    let ended: Vec<&pb::Call> = events
        .iter()
        .filter_map(|event| match &event.payload {
            Some(Payload::CallUpdated(update)) if update.change() == CallChange::Ended => {
                update.call.as_ref()
            }
            _ => None,
        })
        .filter(|call| call.end_reason() != CallEndReason::Transferred)
        .collect();
    let paused = events.iter().any(|event| {
        matches!(&event.payload, Some(Payload::AgentSession(change))
            if change.kind() == AgentSessionChangeKind::Paused)
    });
    ended.len() >= 3 && ended.iter().any(|call| !call.transfers.is_empty()) && paused
}

/// The calls of `events` that started and have not ended.
fn open_calls(events: &[pb::Event]) -> BTreeSet<String> {
    let mut up = BTreeSet::new();
    for event in events {
        if let Some(Payload::CallUpdated(update)) = &event.payload
            && let Some(call) = &update.call
        {
            match update.change() {
                CallChange::Started => {
                    up.insert(call.call_id.clone());
                }
                CallChange::Ended => {
                    up.remove(&call.call_id);
                }
                _ => {}
            }
        }
    }
    up
}

/// The extensions of `events` whose last session change was a login.
fn logged_in(events: &[pb::Event]) -> BTreeSet<String> {
    let mut logged_in = BTreeSet::new();
    for event in events {
        if let Some(Payload::AgentSession(change)) = &event.payload {
            match change.kind() {
                AgentSessionChangeKind::LoggedIn => {
                    logged_in.insert(change.extension.clone());
                }
                AgentSessionChangeKind::LoggedOut => {
                    logged_in.remove(&change.extension);
                }
                _ => {}
            }
        }
    }
    logged_in
}

/// The event of a stream's answer; a loss fails the test.
fn event_of(response: pb::SubscribeResponse) -> pb::Event {
    let event = response.event.expect("an event");
    if let Some(Payload::EventsDropped(dropped)) = &event.payload {
        panic!("the test's feed lost {} events", dropped.count);
    }
    event
}

async fn every_happening_is_recorded_once(database_url: String) {
    let pbx = Reserved::new();
    let address = pbx.address;
    let url = database_url.clone();
    let app = spawn_app_with(move |args| {
        args.database_url = Some(url);
        args.ami_host = Some(address.ip().to_string());
        args.ami_port = Some(address.port().to_string());
        args.ami_username = Some("switchboard".into());
        args.ami_secret = Some("switchboard".into());
    })
    .await;
    // Everything the log publishes, from before the PBX is reachable.
    let supervisor = token(Role::Supervisor, None, None);
    let mut feed = app
        .subscribe(pb::SubscribeRequest::default(), &supervisor)
        .await;
    let pbx_stop = CancellationToken::new();
    // Sixty simulated seconds per second: calls start, talk, hold, transfer
    // and end within the few seconds the test runs.
    let workload = SimArgs {
        rate: 4.0,
        speed: 60.0,
        agents: 10,
        // With the click-to-dials, pickups and forwards: their records too.
        other_rate: None,
        ..busy(address)
    };
    let _simulator = pbx.start(workload, pbx_stop.clone());
    // The stop comes once calls have ended, a transferred call among them, and
    // agents have paused: how long that takes depends on the simulator's dice
    // and on how busy the machine is (up to 40 s).
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    // ... and a call is up, so that the stop comes mid-workload (calls are
    // short at this speed: with few of them, all may have ended).
    while !workload_shown(&seen) || open_calls(&seen).is_empty() {
        match tokio::time::timeout_at(deadline, feed.next()).await {
            Ok(Some(response)) => seen.push(event_of(response.expect("the feed"))),
            Ok(None) | Err(_) => break,
        }
    }
    app.stop().await.expect("a graceful stop");
    pbx_stop.cancel();
    // The stop ends the stream once the log's last event is out.
    while let Some(response) = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("the stream ends with the stop")
    {
        match response {
            Ok(response) => seen.push(event_of(response)),
            Err(status) => panic!("the feed failed: {status}"),
        }
    }

    let mut ended: BTreeMap<String, pb::Call> = BTreeMap::new();
    let mut merged = BTreeSet::new();
    let mut logins: BTreeMap<String, usize> = BTreeMap::new();
    let mut pauses: BTreeMap<String, usize> = BTreeMap::new();
    for event in &seen {
        match &event.payload {
            Some(Payload::CallUpdated(update)) if update.change() == CallChange::Ended => {
                let call = update.call.clone().unwrap();
                if call.end_reason() == CallEndReason::Transferred {
                    merged.insert(call.call_id);
                } else {
                    assert!(
                        ended.insert(call.call_id.clone(), call).is_none(),
                        "a call ends once"
                    );
                }
            }
            Some(Payload::AgentSession(change)) => match change.kind() {
                AgentSessionChangeKind::LoggedIn => {
                    *logins.entry(change.extension.clone()).or_default() += 1;
                }
                AgentSessionChangeKind::Paused => {
                    *pauses.entry(change.extension.clone()).or_default() += 1;
                }
                _ => {}
            },
            _ => {}
        }
    }
    let still_up = open_calls(&seen);
    assert!(
        ended.len() >= 3,
        "the workload ended calls: {}",
        ended.len()
    );
    let kinds: BTreeMap<&str, usize> = seen.iter().fold(BTreeMap::new(), |mut kinds, event| {
        let kind = event
            .payload
            .as_ref()
            .map_or("none", |p| switchboard::events::kind_of(p).as_str_name());
        *kinds.entry(kind).or_default() += 1;
        kinds
    });
    let statuses: Vec<String> = seen
        .iter()
        .filter_map(|event| match &event.payload {
            Some(Payload::SourceStatus(status)) => {
                Some(format!("{} {}", status.state, status.message))
            }
            _ => None,
        })
        .collect();
    assert!(
        !still_up.is_empty(),
        "the stop came mid-workload; seen {kinds:?}, statuses {statuses:?}"
    );

    let store = Store::connect(&database_url).await.expect("store");
    let records = store.recent_call_records(100_000).await.unwrap();
    let (open, finished): (Vec<_>, Vec<_>) = records
        .iter()
        .partition(|r| r.end_reason == OPEN_END_REASON);
    let finished_ids: BTreeSet<&str> = finished.iter().map(|r| r.call_id.as_str()).collect();
    let ended_ids: BTreeSet<&str> = ended.keys().map(String::as_str).collect();
    assert_eq!(finished_ids, ended_ids, "every ended call, once");
    let open_ids: BTreeSet<String> = open.iter().map(|r| r.call_id.clone()).collect();
    assert_eq!(open_ids, still_up, "every call still up, as open");
    for id in &merged {
        assert!(
            !records.iter().any(|r| &r.call_id == id),
            "a merged consultation call {id} is part of its transferee's record"
        );
    }

    // Each record says what its call did.
    for record in &finished {
        let call = &ended[&record.call_id];
        assert_eq!(record.linkedid, call.ids.as_ref().unwrap().ami_linkedid);
        assert!(!record.linkedid.is_empty());
        assert_eq!(record.customer_number, call.customer_number);
        assert_eq!(record.queue.as_deref().unwrap_or(""), call.queue);
        assert_eq!(record.started_at_ms, millis(call.started_at.as_ref()));
        assert_eq!(record.ended_at_ms, millis(call.ended_at.as_ref()));
        assert_eq!(
            record.end_reason,
            call.end_reason()
                .as_str_name()
                .trim_start_matches("CALL_END_REASON_")
                .to_ascii_lowercase()
        );
        assert_eq!(record.hold_seconds, i64::from(call.hold_seconds));
        assert_eq!(record.talk_seconds, i64::from(call.talk_seconds));
        let transfers: Vec<serde_json::Value> = serde_json::from_str(&record.transfers).unwrap();
        assert_eq!(transfers.len(), call.transfers.len());
        for (stored, transfer) in transfers.iter().zip(&call.transfers) {
            assert_eq!(stored["target"], transfer.target.as_str());
            assert_eq!(stored["transferer"], transfer.transferer.as_str());
        }
        match record.answered_at_ms {
            Some(answered) => {
                assert_eq!(record.disposition, "ANSWERED");
                assert_eq!(answered, millis(call.answered_at.as_ref()));
                assert!(record.agent_extension.is_some(), "{record:?}");
                // Talk is answer to end less hold, in whole seconds.
                let talk = (record.ended_at_ms - answered) / 1000 - record.hold_seconds;
                assert!((record.talk_seconds - talk).abs() <= 1, "{record:?}");
            }
            None => assert_ne!(record.disposition, "ANSWERED"),
        }
    }
    assert!(
        finished.iter().any(|r| r.answered_at_ms.is_some()),
        "some call was answered"
    );
    assert!(
        finished.iter().any(|r| r.transfers != "[]"),
        "some stored call went through a transfer"
    );

    // Sessions: one per login, closed by each logout; pauses likewise.
    assert!(!logins.is_empty(), "agents logged in");
    for (extension, count) in &logins {
        let sessions = store.agent_sessions(extension).await.unwrap();
        assert_eq!(sessions.len(), *count, "sessions of {extension}");
    }
    let logged_in = logged_in(&seen);
    for extension in logins.keys() {
        let open_sessions = store
            .agent_sessions(extension)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.logged_out_ms.is_none())
            .count();
        let expected = usize::from(logged_in.contains(extension));
        assert_eq!(open_sessions, expected, "open sessions of {extension}");
    }
    assert!(!pauses.is_empty(), "agents paused");
    for (extension, count) in &pauses {
        let rows = store.agent_pauses(extension).await.unwrap();
        assert_eq!(rows.len(), *count, "pauses of {extension}");
        assert!(rows.iter().all(|p| !p.queue.is_empty()));
    }
    store.close().await;
}

#[tokio::test]
async fn a_graceful_stop_mid_workload_keeps_every_record_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    every_happening_is_recorded_once(format!(
        "sqlite://{}",
        dir.path().join("records.db").display()
    ))
    .await;
}

#[tokio::test]
async fn a_graceful_stop_mid_workload_keeps_every_record_in_postgres() {
    let (database, url) = Postgres::create().await;
    every_happening_is_recorded_once(url).await;
    database.drop_database().await;
}
