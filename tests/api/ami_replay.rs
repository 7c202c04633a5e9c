//! The whole AMI path over TCP: a PBX peer on loopback replays each capture in
//! wire framing to the real server (`AMI_HOST`), and the gRPC stream's
//! `call_updated` events are checked against the capture's expected outcomes.

use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;
use switchboard::proto::v1::{
    CallChange, CallEndReason, EventKind, SourceState, SubscribeRequest, event::Payload,
};

use crate::ami_peer::{self, Script};
use crate::cacofonisk::{Outcomes, captures, wire_bytes};
use crate::helpers::{spawn_app_with, token};

/// Starts the server against a peer that replays `bytes` once connected.
pub async fn app_replaying(bytes: Vec<u8>) -> (crate::helpers::TestApp, ami_peer::AmiPeer) {
    let peer = ami_peer::start(Script {
        channels: Vec::new(),
        after_rebuild: bytes,
    })
    .await;
    let port = peer.port();
    let app = spawn_app_with(|args| {
        args.ami_host = Some("127.0.0.1".into());
        args.ami_port = Some(port);
        args.ami_username = Some("switchboard".into());
        args.ami_secret = Some("secret".into());
    })
    .await;
    (app, peer)
}

#[tokio::test]
async fn every_cacofonisk_capture_replayed_over_tcp_gives_its_expected_outcomes() {
    let supervisor = token(Role::Supervisor, None, None);
    let mut failures = Vec::new();
    for (name, capture, expected) in captures() {
        let wanted = Outcomes::known_differences(&name, Outcomes::expected(&expected));
        let hangups: u32 = wanted.hangups.values().sum();
        // Subscribe before the peer is reached: nothing can be missed.
        let (app, _peer) = app_replaying(wire_bytes(&capture)).await;
        let mut stream = app
            .subscribe(
                SubscribeRequest {
                    kinds: vec![
                        EventKind::CallUpdated as i32,
                        EventKind::SourceStatus as i32,
                    ],
                    ..Default::default()
                },
                &supervisor,
            )
            .await;
        let mut updates = Vec::new();
        let mut connected = false;
        let mut ended = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ended < hangups {
            let Ok(Some(Ok(response))) = tokio::time::timeout_at(deadline, stream.next()).await
            else {
                break;
            };
            match response.event.and_then(|e| e.payload) {
                Some(Payload::SourceStatus(status)) => {
                    connected |= status.state() == SourceState::Connected;
                }
                Some(Payload::CallUpdated(update)) => {
                    let call = update.call.as_ref().unwrap();
                    if update.change() == CallChange::Ended
                        && call.end_reason() != CallEndReason::Transferred
                    {
                        ended += 1;
                    }
                    updates.push(update);
                }
                _ => {}
            }
        }
        assert!(connected, "{name}: ami:connected came first");
        let reported = Outcomes::reported(&updates);
        if reported != wanted {
            failures.push(format!(
                "{name}:\n  expected {wanted:?}\n  reported {reported:?}"
            ));
        }
        // One record per call, transfers included: every ended call's chain is on it.
        for update in updates.iter().filter(|u| u.change() == CallChange::Ended) {
            let call = update.call.as_ref().unwrap();
            assert!(
                call.ended_at.is_some() && call.started_at.is_some(),
                "{name}"
            );
        }
        app.stop().await.unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
