//! The event stream: resume with no gap and no duplicate, the explicit resync
//! when too far behind, and a stalled subscriber that holds nobody back.

use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;
use switchboard::proto::v1::{
    self as pb, ResyncReason, SetSystemModeRequest, SubscribeRequest, event::Payload,
};
use tonic::Streaming;

use crate::helpers::{authed, spawn_app, spawn_app_with, token};

async fn set_modes(app: &crate::helpers::TestApp, from: u32, to: u32) -> u64 {
    let admin = token(Role::Admin, None, None);
    let mut state = app.state().await;
    let mut last = 0;
    for n in from..=to {
        last = state
            .set_system_mode(authed(
                SetSystemModeRequest {
                    mode: format!("mode-{n}"),
                },
                &admin,
            ))
            .await
            .expect("admin sets the mode")
            .into_inner()
            .sequence;
    }
    last
}

pub(crate) async fn next(stream: &mut Streaming<pb::SubscribeResponse>) -> pb::Event {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("no error")
        .event
        .expect("event set")
}

fn mode_of(event: &pb::Event) -> &str {
    match &event.payload {
        Some(Payload::SystemModeUpdate(update)) => &update.mode,
        other => panic!("expected system-mode-update, got {other:?}"),
    }
}

#[tokio::test]
async fn resume_replays_the_missed_events_then_goes_live_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let supervisor = token(Role::Supervisor, None, None);
    let last_seen = set_modes(&app, 1, 3).await;
    set_modes(&app, 4, 6).await;

    let mut stream = app
        .subscribe(
            SubscribeRequest {
                resume_after: last_seen,
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let mut sequences = Vec::new();
    for expected in 4..=6 {
        let event = next(&mut stream).await;
        assert_eq!(mode_of(&event), format!("mode-{expected}"));
        sequences.push(event.sequence);
    }
    set_modes(&app, 7, 8).await;
    for expected in 7..=8 {
        let event = next(&mut stream).await;
        assert_eq!(mode_of(&event), format!("mode-{expected}"));
        sequences.push(event.sequence);
    }
    let contiguous: Vec<u64> = (last_seen + 1..=last_seen + 5).collect();
    assert_eq!(sequences, contiguous, "no gap, no duplicate");
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_resume_older_than_the_window_starts_with_an_explicit_snapshot() {
    let app = spawn_app_with(|args| args.replay_window_events = Some("3".into())).await;
    let supervisor = token(Role::Supervisor, None, None);
    set_modes(&app, 1, 10).await;
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                resume_after: 2,
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let first = next(&mut stream).await;
    let Some(Payload::Resync(resync)) = &first.payload else {
        panic!("expected a resync first, got {first:?}");
    };
    assert_eq!(resync.reason(), ResyncReason::ResumeTooOld);
    assert_eq!(resync.requested_after, 2);
    assert_eq!(resync.oldest_available, 8);
    assert_eq!(
        resync.snapshot.as_ref().expect("snapshot").system_mode,
        "mode-10"
    );
    assert_eq!(first.sequence, 10);
    set_modes(&app, 11, 11).await;
    let live = next(&mut stream).await;
    assert_eq!((live.sequence, mode_of(&live)), (11, "mode-11"));

    let mut other_epoch = app
        .subscribe(
            SubscribeRequest {
                resume_after: 5,
                epoch: "an-older-epoch".into(),
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let first = next(&mut other_epoch).await;
    let Some(Payload::Resync(resync)) = &first.payload else {
        panic!("expected a resync")
    };
    assert_eq!(resync.reason(), ResyncReason::EpochChanged);
}

#[tokio::test]
async fn a_stalled_subscriber_does_not_hold_back_others_and_is_told_what_it_lost() {
    let (app, peer) =
        crate::ami_peer::app_with_peer(|args| args.subscriber_buffer = Some("8".into())).await;
    let supervisor = token(Role::Supervisor, None, None);
    // Every event, so the sequence numbers a stream hears run on with no gap
    // but the ones it is told it lost.
    let mut stalled = app
        .subscribe(SubscribeRequest::default(), &supervisor)
        .await;
    let mut reader = app
        .subscribe(SubscribeRequest::default(), &supervisor)
        .await;

    // Enough events to fill the stalled stream's HTTP/2 window (2 MB, the
    // client's default) and its buffer many times over: calls whose
    // caller's name is 4,000 characters long come in and end. A last call
    // stays up: once the state holds it, the burst is in the log.
    let calls = 3000;
    let name = "x".repeat(4000);
    for n in 0..calls {
        let call = crate::ami_peer::PeerCall::new(n, "+6421436772", "").named(&name);
        let mut bytes = call.announced();
        bytes.extend(call.ends());
        peer.send(bytes);
    }
    let marker = crate::ami_peer::PeerCall::new(calls, "+6421436772", "");
    peer.send(marker.announced());
    let last = crate::helpers::until("the burst is read", Duration::from_secs(30), async || {
        let state = app.system_state().await;
        let marked = state.calls.iter().any(|c| c.caller_name == "Customer");
        marked.then_some(state.sequence)
    })
    .await;

    let mut through = 0;
    let mut received = 0;
    while through < last {
        let event = next(&mut reader).await;
        through = match event.payload {
            Some(Payload::EventsDropped(d)) => d.resumed_at - 1,
            _ => {
                received += 1;
                event.sequence
            }
        };
    }
    assert!(received > 0);

    let mut lost = 0;
    let mut previous = 0;
    while previous < last {
        let event = next(&mut stalled).await;
        match event.payload {
            Some(Payload::EventsDropped(d)) => {
                if previous > 0 {
                    assert_eq!(d.resumed_at, previous + d.count + 1, "the gap it was told");
                }
                // The next event must be `resumed_at` (checked below), unless
                // another drop report follows, which then starts its gap there.
                previous = d.resumed_at - 1;
                lost += d.count;
            }
            _ => {
                if previous > 0 {
                    assert_eq!(
                        event.sequence,
                        previous + 1,
                        "no silent gap; resumes where it said"
                    );
                }
                previous = event.sequence;
            }
        }
    }
    assert!(lost > 0, "the stalled subscriber was told it lost events");
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchboard_events_dropped_total{output=\"grpc\"}")),
        "the loss is counted in /metrics"
    );
}

#[tokio::test]
async fn system_stats_are_published_on_the_interval_with_measured_figures() {
    let app = spawn_app_with(|args| args.stats_interval_seconds = Some("1".into())).await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![pb::EventKind::SystemStats as i32],
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let event = next(&mut stream).await;
    let Some(Payload::SystemStats(stats)) = event.payload else {
        panic!("expected stats")
    };
    let health = stats.system_health.expect("health");
    let memory = health.memory_usage.expect("memory");
    assert!(memory.used > 1_000_000, "resident memory of a real process");
    assert!(memory.total > memory.used);
    assert_eq!(health.active_connections, 1, "this stream");
    let performance = stats.performance.expect("performance");
    assert_eq!(
        (performance.success_rate, performance.calls_ended_today),
        (0.0, 0),
        "no call ended: 0, and the count says nothing was measured"
    );
    assert_eq!(
        (
            performance.avg_response_time,
            performance.responses_measured
        ),
        (0.0, 0),
        "no source event yet"
    );
}
