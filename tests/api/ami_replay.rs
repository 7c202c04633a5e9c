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

/// The events of a raw Asterisk capture (greeting and action responses left
/// out), in wire framing.
fn events_of_capture(path: &std::path::Path) -> Vec<u8> {
    use tokio_util::codec::Decoder;
    let mut buffer = bytes::BytesMut::from(&std::fs::read(path).expect("capture")[..]);
    let mut codec = switchboard::sources::ami::AmiCodec::default();
    let mut wire = bytes::BytesMut::new();
    while let Some(frame) = codec.decode_eof(&mut buffer).expect("decodes") {
        if let switchboard::sources::ami::AmiFrame::Message(message) = frame
            && message.event().is_some()
        {
            switchboard::sources::ami::codec::encode_message(&message, &mut wire);
        }
    }
    wire.to_vec()
}

#[tokio::test]
async fn an_asterisk_22_queue_call_through_local_channels_is_one_answered_queue_call() {
    let capture = crate::helpers::fixtures_root().join("ami/asterisk-22/queue_call.ami");
    let (app, _peer) = app_replaying(events_of_capture(&capture)).await;
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![
                    EventKind::CallNew as i32,
                    EventKind::CallAnswered as i32,
                    EventKind::CallHangup as i32,
                    EventKind::CallUpdated as i32,
                    EventKind::QueueCallerJoined as i32,
                    EventKind::AgentLogin as i32,
                ],
                ..Default::default()
            },
            &token(Role::Supervisor, None, None),
        )
        .await;
    let mut seen = Vec::new();
    loop {
        let response = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the capture's call ends")
            .unwrap()
            .unwrap();
        let payload = response.event.unwrap().payload.unwrap();
        let done = matches!(&payload, Payload::CallUpdated(update) if update.change() == CallChange::Ended);
        seen.push(payload);
        if done {
            break;
        }
    }
    let new_calls: Vec<_> = seen
        .iter()
        .filter_map(|p| match p {
            Payload::CallNew(call) => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(new_calls.len(), 1, "the Local channel pair is one call");
    assert_eq!(new_calls[0].callerid, "5550001");
    let joined = seen
        .iter()
        .find_map(|p| match p {
            Payload::QueueCallerJoined(joined) => Some(joined),
            _ => None,
        })
        .expect("queue:caller_joined");
    assert_eq!(
        (
            joined.queue.as_str(),
            joined.callerid.as_str(),
            joined.position
        ),
        ("sales", "5550001", 1)
    );
    let answered = seen
        .iter()
        .find_map(|p| match p {
            Payload::CallAnswered(call) => Some(call),
            _ => None,
        })
        .expect("call:answered");
    assert_eq!(answered.agent.as_deref(), Some("1002"));
    let record = seen
        .iter()
        .rev()
        .find_map(|p| match p {
            Payload::CallUpdated(update) if update.change() == CallChange::Ended => {
                update.call.clone()
            }
            _ => None,
        })
        .expect("call_updated ENDED");
    assert_eq!(record.end_reason(), CallEndReason::Completed);
    assert_eq!(record.queue, "sales");
    assert_eq!(record.agent_extension, "1002");
    assert_eq!(
        record.answered_by, "1002",
        "answered by the agent, not the customer id its Local channel carries"
    );
    let ended = seen
        .iter()
        .find_map(|p| match p {
            Payload::CallHangup(call) => Some(call),
            _ => None,
        })
        .expect("call:ended");
    assert_eq!(ended.disposition.as_deref(), Some("ANSWERED"));
    assert!(
        seen.iter()
            .any(|p| matches!(p, Payload::AgentLogin(agent) if agent.extension == "1002")),
        "the answering member is a logged-in agent"
    );
    app.stop().await.unwrap();
}

/// Recorded from the real Asterisk 22 (`real_pbx::a_blind_transfer_to_a_ring_group`
/// with `REAL_PBX_DUMP`) on a loaded machine: the transferee already dials the
/// ring group (it was sent on) when Asterisk's `BlindTransfer` event comes. The
/// late event confirms the transfer switchboard inferred; it is not another.
#[tokio::test]
async fn a_blind_transfer_event_after_the_transferee_dials_on_is_one_transfer() {
    let capture = crate::helpers::repo_root()
        .join("tests/asterisk/captures/blind_transfer_to_a_ring_group_late_event.ami");
    let (app, _peer) = app_replaying(events_of_capture(&capture)).await;
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![EventKind::CallUpdated as i32],
                ..Default::default()
            },
            &token(Role::Supervisor, None, None),
        )
        .await;
    let mut transfers = Vec::new();
    loop {
        let response = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the capture's call ends")
            .unwrap()
            .unwrap();
        let Some(Payload::CallUpdated(update)) = response.event.unwrap().payload else {
            continue;
        };
        let change = update.change();
        if change == CallChange::Transferred {
            let call = update.call.expect("the call");
            transfers.push(call.transfers.last().expect("a transfer").target.clone());
        }
        if change == CallChange::Ended {
            break;
        }
    }
    assert_eq!(transfers, ["600"], "one blind transfer to the ring group");
}
