//! The log kept in Redis (`REDIS_URL`): a node that restarts keeps its
//! replay window, its ledger and its numbering, so a gRPC client resumes
//! across the restart with exactly what it missed; every event a client
//! reads is in Redis first. A real Redis, started by `.ci/services`.

use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, SubscribeRequest, event::Payload};
use tonic::Streaming;

use crate::events::next;
use crate::helpers::{TestApp, spawn_app_with, test_redis_url, token, unique_cluster_name};

fn mode_of(event: &pb::Event) -> Option<&str> {
    match &event.payload {
        Some(Payload::SystemModeUpdate(update)) => Some(&update.mode),
        _ => None,
    }
}

/// A node of deployment `name` on the test Redis.
async fn node(name: &str) -> TestApp {
    let (url, name) = (test_redis_url(), name.to_owned());
    spawn_app_with(move |args| {
        args.redis_url = Some(url);
        args.cluster_name = Some(name);
    })
    .await
}

/// Reads `stream` until an event sets the mode to `mode`; every event read.
async fn read_until_mode(
    stream: &mut Streaming<pb::SubscribeResponse>,
    mode: &str,
) -> Vec<pb::Event> {
    let mut read = Vec::new();
    loop {
        let event = next(stream).await;
        let done = mode_of(&event) == Some(mode);
        read.push(event);
        if done {
            return read;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_across_a_restart_with_exactly_what_it_missed() {
    let name = unique_cluster_name();
    let admin = token(Role::Admin, None, None);
    let first = node(&name).await;
    let mut reference = first.subscribe(SubscribeRequest::default(), &admin).await;
    first.set_system_mode("mode-1").await;
    let seen = read_until_mode(&mut reference, "mode-1").await;
    let (resume_after, epoch) = {
        let last = seen.last().unwrap();
        (last.sequence, last.epoch.clone())
    };
    // The client goes; the server goes on, then stops.
    for n in 2..=4 {
        first.set_system_mode(&format!("mode-{n}")).await;
    }
    let missed = read_until_mode(&mut reference, "mode-4").await;
    drop(reference);
    first.stop().await.expect("a clean stop");

    let second = node(&name).await;
    let state = second.system_state().await;
    assert_eq!(
        state.system_mode, "mode-4",
        "the ledger is restored from Redis"
    );
    assert_eq!(state.epoch, epoch, "the same epoch");
    assert_eq!(state.sequence, missed.last().unwrap().sequence);
    let mut resumed = second
        .subscribe(
            SubscribeRequest {
                resume_after,
                epoch: epoch.clone(),
                ..Default::default()
            },
            &admin,
        )
        .await;
    let mut replayed = Vec::new();
    for _ in 0..missed.len() {
        replayed.push(next(&mut resumed).await);
    }
    assert_eq!(replayed, missed, "exactly what it missed, no Resync");
    // Numbering goes on from where the first node stopped.
    second.set_system_mode("mode-5").await;
    let live = next(&mut resumed).await;
    assert_eq!(mode_of(&live), Some("mode-5"));
    assert_eq!(live.sequence, missed.last().unwrap().sequence + 1);
    assert_eq!(live.epoch, epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_s_sequence_can_be_resumed_after_at_once() {
    // An rpc answers with its event's number before this node has read the
    // event back from Redis: resuming after it neither replays it nor
    // says the client is ahead.
    let app = node(&unique_cluster_name()).await;
    let admin = token(Role::Admin, None, None);
    let mut state = app.state().await;
    let answer = state
        .set_system_mode(crate::helpers::authed(
            pb::SetSystemModeRequest {
                mode: "mode-1".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                resume_after: answer.sequence,
                ..Default::default()
            },
            &admin,
        )
        .await;
    app.set_system_mode("mode-2").await;
    let event = next(&mut stream).await;
    assert_eq!(mode_of(&event), Some("mode-2"), "{event:?}");
    assert_eq!(event.sequence, answer.sequence + 1);
}
