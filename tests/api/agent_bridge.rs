//! The ARI agent bridge end to end: the server's ARI source against the
//! simulator's ARI side on loopback (REST + events WebSocket), every flow of
//! seed 000 seen over gRPC `Subscribe`, commands over `CallControlService`.
//! Durations and timer fields are checked against the peer's own event
//! timestamps, read by a second ARI client of the test's.

use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;
use switchboard::devtools::sim::ari::AriSim;
use switchboard::proto::v1::{
    self as pb, call_control_service_client::CallControlServiceClient, event::Payload,
};
use switchboard::sources::ari::events::{AriEventSettings, AriNotice, run as listen};
use switchboard::sources::ari::model::{AriEvent, AriMessage};
use switchboard::time::{Instant, to_timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;

use crate::ari_models::assert_follows_swagger;
use crate::helpers::{TestApp, assert_lines_match_schemas, authed, spawn_app_with, token};

pub(crate) const AGENTS: &str = r#"
[[agents]]
agent_id = "agent_uuid_789"
extension = "1001"
name = "John Doe"
max_calls = 1

[[agents]]
agent_id = "agent_uuid_456"
extension = "1002"
name = "Jane Smith"
max_calls = 3

[[agents]]
extension = "1003"
name = "Ann Lee"
"#;

/// The ARI simulator as these tests run it: application `callcenter`, user
/// `switchboard`, password `secret`; it stops with `stop`.
pub(crate) async fn start_sim(stop: &CancellationToken) -> AriSim {
    AriSim::start(
        "127.0.0.1:0".parse().unwrap(),
        "callcenter",
        "switchboard",
        "secret",
        stop.clone(),
    )
    .await
    .expect("ARI simulator starts")
}

/// Points `args`' agent bridge at `sim`, with the agents of [`AGENTS`]
/// (their file written into `dir`).
pub(crate) fn uses_sim(
    args: &mut switchboard::config::ServeArgs,
    sim: &AriSim,
    dir: &std::path::Path,
) {
    let agents = dir.join("agents.toml");
    std::fs::write(&agents, AGENTS).unwrap();
    args.ari_url = Some(sim.url());
    args.ari_username = Some("switchboard".into());
    args.ari_password = Some("secret".into());
    args.agents_file = Some(agents);
}

/// A server whose ARI source runs against the simulator, a gRPC stream of
/// everything, and the test's own view of the peer's events.
struct Rig {
    sim: AriSim,
    app: TestApp,
    stream: Streaming<pb::SubscribeResponse>,
    peer: mpsc::Receiver<AriNotice>,
    stop: CancellationToken,
    /// How many of the peer's events were checked against `events.json`.
    peer_events: usize,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    rig_with(|_| {}, |_| {}).await
}

async fn rig_with(
    configure: impl FnOnce(&mut switchboard::config::ServeArgs),
    prepare: impl FnOnce(&AriSim),
) -> Rig {
    let stop = CancellationToken::new();
    let sim = start_sim(&stop).await;
    prepare(&sim);
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|args| {
        uses_sim(args, &sim, dir.path());
        configure(args);
    })
    .await;
    let stream = app
        .subscribe(
            pb::SubscribeRequest::default(),
            &token(Role::Supervisor, None, None),
        )
        .await;
    let (notices, peer) = mpsc::channel(1024);
    tokio::spawn(listen(
        AriEventSettings {
            base: sim.url(),
            app: "callcenter".into(),
            username: "switchboard".into(),
            password: "secret".into(),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
        },
        notices,
        stop.clone(),
    ));
    // Both the server and the test's own client listen before anything happens.
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.listeners() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server's ARI source connects");
    Rig {
        sim,
        app,
        stream,
        peer,
        stop,
        peer_events: 0,
        _dir: dir,
    }
}

impl Rig {
    /// The next event the server streams for which `pick` says something.
    async fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&Payload) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} within 10 s"))
                .expect("stream open")
                .expect("no error");
            if let Some(found) = next
                .event
                .and_then(|e| e.payload)
                .as_ref()
                .and_then(&mut pick)
            {
                return found;
            }
        }
    }

    /// The next event of the peer (as the test's own ARI client sees it) that `pick` accepts.
    async fn peer_event(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&AriEvent) -> bool,
    ) -> (AriMessage, Instant) {
        loop {
            let notice = tokio::time::timeout(Duration::from_secs(10), self.peer.recv())
                .await
                .unwrap_or_else(|_| panic!("the peer sent no {what}"))
                .expect("listening");
            if let AriNotice::Event(message) = &notice {
                assert_follows_swagger(message);
                self.peer_events += 1;
            }
            if let AriNotice::Event(message) = notice
                && pick(&message.event)
            {
                let at = message.at().expect("ARI timestamp");
                return (*message, at);
            }
        }
    }

    async fn ringing(&self, endpoint: &str) -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(leg) = self.sim.ringing_at(endpoint) {
                    return leg;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{endpoint} never rang"))
    }

    async fn control(&self) -> CallControlServiceClient<tonic::transport::Channel> {
        CallControlServiceClient::new(self.app.channel().await)
    }

    /// Waits until the simulator has no channel and no bridge left.
    async fn all_clear(&self) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !(self.sim.channels().is_empty() && self.sim.bridges().is_empty()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "channels or bridges left behind: {:?} {:?}",
                self.sim.channels(),
                self.sim.bridges()
            )
        });
    }

    /// Checks every event the peer sent against `events.json`, then stops.
    async fn finish(mut self) {
        // Let the last events arrive, then check all of them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Ok(notice) = self.peer.try_recv() {
            if let AriNotice::Event(message) = notice {
                assert_follows_swagger(&message);
                self.peer_events += 1;
            }
        }
        assert!(self.peer_events > 0, "the peer's events were checked");
        self.stop.cancel();
        self.app.stop().await.unwrap();
    }
}

fn status_of(payload: &Payload, extension: &str) -> Option<(pb::AgentStatus, pb::AgentStatus)> {
    match payload {
        Payload::AgentStatusUpdated(u) if u.extension == extension => {
            Some((u.previous_status(), u.status()))
        }
        _ => None,
    }
}

fn seconds(from: Instant, to: Instant) -> u32 {
    u32::try_from((to - from).num_seconds()).unwrap()
}

#[tokio::test]
async fn answered_bridged_then_left_by_the_customer_timed_by_the_peers_clock() {
    let mut rig = rig().await;
    let customer =
        rig.sim
            .customer_calls("254712345678", "Customer Name", "1001", &["agent", "1001"]);
    let (_, started) = rig
        .peer_event("StasisStart", |e| matches!(e, AriEvent::StasisStart { .. }))
        .await;
    let incoming = rig
        .until("call_incoming", |p| match p {
            Payload::CallIncoming(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    assert_eq!(incoming.session_id, format!("ari-{customer}"));
    assert_eq!(
        (
            incoming.agent_id.as_str(),
            incoming.agent_name.as_str(),
            incoming.customer_number.as_str(),
            incoming.caller_name.as_str()
        ),
        (
            "agent_uuid_789",
            "John Doe",
            "254712345678",
            "Customer Name"
        )
    );
    assert_eq!((incoming.call_index, incoming.max_calls), (1, 1));
    assert!(incoming.can_answer && incoming.can_reject && incoming.can_transfer);
    assert_eq!(incoming.timestamp, Some(to_timestamp(started)));
    assert_eq!(
        rig.until("ringing", |p| status_of(p, "1001")).await,
        (pb::AgentStatus::Available, pb::AgentStatus::Ringing)
    );

    let leg = rig.ringing("PJSIP/1001").await;
    assert_eq!(rig.sim.phone_answers("PJSIP/1001"), Some(leg.clone()));
    let (entered, bridged_at) = rig
        .peer_event("both channels bridged", |e| {
            matches!(e, AriEvent::ChannelEnteredBridge { bridge, .. } if bridge.channels.len() == 2)
        })
        .await;
    let bridged = rig
        .until("call_bridged_successfully", |p| match p {
            Payload::CallBridged(b) => Some(b.clone()),
            _ => None,
        })
        .await;
    let AriEvent::ChannelEnteredBridge { bridge, .. } = &entered.event else {
        unreachable!()
    };
    assert_eq!(bridged.bridge_id, bridge.id);
    assert!(bridge.channels.contains(&customer) && bridge.channels.contains(&leg));
    assert_eq!(bridged.timer_start_time, Some(to_timestamp(bridged_at)));
    assert_eq!(bridged.connected_at, Some(to_timestamp(bridged_at)));
    assert_eq!(bridged.server_timestamp, bridged_at.timestamp_millis());
    assert!(bridged.start_timer);
    let controls = bridged.controls.unwrap();
    assert!(controls.mute && controls.hold && controls.hangup && controls.transfer);
    assert!(
        !controls.record && !controls.conference,
        "not carried out, not offered"
    );
    assert_eq!(
        rig.until("on call", |p| status_of(p, "1001")).await,
        (pb::AgentStatus::Ringing, pb::AgentStatus::OnCall)
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    rig.sim.customer_hangs_up(&customer);
    let (_, left_at) = rig
        .peer_event(
            "StasisEnd",
            |e| matches!(e, AriEvent::StasisEnd { channel } if channel.id == customer),
        )
        .await;
    let left = rig
        .until("customer_left_bridge", |p| match p {
            Payload::CustomerLeftBridge(l) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert_eq!(left.left_at, Some(to_timestamp(left_at)));
    assert_eq!(left.call_duration, seconds(bridged_at, left_at));
    assert_eq!(left.total_duration, seconds(started, left_at));
    assert!(left.call_duration >= 1);
    assert!(left.was_connected && left.was_answered && left.auto_decline);
    assert_eq!(left.reason(), pb::LeaveReason::CustomerDisconnected);
    assert_eq!(left.bridge_id.as_deref(), Some(bridge.id.as_str()));
    let ended = rig
        .until("call_ended", |p| match p {
            Payload::StasisCallEnded(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.reason, "customer_hangup");
    assert_eq!(ended.call_duration, left.call_duration);
    assert_eq!(
        rig.until("available again", |p| status_of(p, "1001")).await,
        (pb::AgentStatus::OnCall, pb::AgentStatus::Available)
    );
    // The agent's leg was hung up and the bridge destroyed: nothing is left on the PBX.
    rig.all_clear().await;
    rig.finish().await;
}

/// Asterisk 16 and 18 (FreePBX 15 and 16) send the events without the
/// properties later releases added (`protocol_id`, and before 16.4 the
/// dialplan's `app_name`/`app_data`, before 16.3 the events' `timestamp`):
/// the agent bridge runs a call through them as through 22.
#[tokio::test]
async fn an_older_asterisk_drives_the_agent_bridge_as_22_does() {
    for release in [(16, 0, 0), (16, 4, 0), (18, 0, 0)] {
        let mut rig = rig_with(|_| {}, |sim| sim.speak_as(release)).await;
        let customer =
            rig.sim
                .customer_calls("254712345678", "Customer Name", "1001", &["agent", "1001"]);
        let incoming = rig
            .until("call_incoming", |p| match p {
                Payload::CallIncoming(c) => Some(c.clone()),
                _ => None,
            })
            .await;
        assert_eq!(
            incoming.session_id,
            format!("ari-{customer}"),
            "{release:?}"
        );
        assert!(incoming.timestamp.is_some(), "{release:?}");
        rig.ringing("PJSIP/1001").await;
        rig.sim.phone_answers("PJSIP/1001");
        let bridged = rig
            .until("call_bridged_successfully", |p| match p {
                Payload::CallBridged(b) => Some(b.clone()),
                _ => None,
            })
            .await;
        assert_eq!(bridged.session_id, incoming.session_id, "{release:?}");
        rig.sim.customer_hangs_up(&customer);
        let left = rig
            .until("customer_left_bridge", |p| match p {
                Payload::CustomerLeftBridge(l) => Some(l.clone()),
                _ => None,
            })
            .await;
        assert!(left.was_connected && left.was_answered, "{release:?}");
        rig.finish().await;
    }
}

#[tokio::test]
async fn declined_rejected_and_left_before_answer() {
    let mut rig = rig().await;
    // The phone declines: agent_rejected_call, and the direct call ends busy.
    let first = rig
        .sim
        .customer_calls("254700000001", "", "1001", &["agent", "1001"]);
    rig.ringing("PJSIP/1001").await;
    rig.sim.phone_declines("PJSIP/1001");
    let rejected = rig
        .until("agent_rejected_call", |p| match p {
            Payload::AgentRejectedCall(r) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(rejected.session_id, format!("ari-{first}"));
    assert_eq!(rejected.reason, "declined on the phone");
    let ended = rig
        .until("call_ended", |p| match p {
            Payload::StasisCallEnded(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (ended.reason.as_str(), ended.was_connected),
        ("rejected", false)
    );
    rig.all_clear().await;

    // The desktop rejects; only the agent it rings may.
    let second = rig
        .sim
        .customer_calls("254700000002", "", "1001", &["agent", "1001"]);
    rig.ringing("PJSIP/1001").await;
    let mut control = rig.control().await;
    let refused = control
        .reject_call(authed(
            pb::RejectCallRequest {
                session_id: format!("ari-{second}"),
                reason: "not mine".into(),
            },
            &token(Role::Agent, Some("1002"), None),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    control
        .reject_call(authed(
            pb::RejectCallRequest {
                session_id: format!("ari-{second}"),
                reason: "wrap-up".into(),
            },
            &token(Role::Agent, Some("1001"), None),
        ))
        .await
        .expect("the ringing agent rejects");
    let rejected = rig
        .until("agent_rejected_call", |p| match p {
            Payload::AgentRejectedCall(r) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (rejected.reason.as_str(), rejected.extension.as_str()),
        ("wrap-up", "1001")
    );
    rig.all_clear().await;

    // The customer gives up while the phone rings: auto-decline, never connected.
    let third = rig
        .sim
        .customer_calls("254700000003", "", "1001", &["agent", "1001"]);
    rig.ringing("PJSIP/1001").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    rig.sim.customer_hangs_up(&third);
    let left = rig
        .until("customer_left_bridge", |p| match p {
            Payload::CustomerLeftBridge(l) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert!(left.auto_decline && !left.was_connected && !left.was_answered);
    assert_eq!((left.call_duration, left.bridge_id.clone()), (0, None));
    assert!(left.total_duration >= 1);
    assert_eq!(left.extension, "1001");
    rig.all_clear().await;
    rig.finish().await;
}

#[tokio::test]
async fn the_agent_ends_the_call_and_a_lost_line_is_a_network_issue() {
    let mut rig = rig().await;
    let customer = rig
        .sim
        .customer_calls("254700000004", "", "1002", &["agent", "1002"]);
    rig.ringing("PJSIP/1002").await;
    rig.sim.phone_answers("PJSIP/1002");
    rig.until("bridged", |p| {
        matches!(p, Payload::CallBridged(_)).then_some(())
    })
    .await;
    rig.sim.phone_hangs_up("PJSIP/1002");
    let normally = rig
        .until("call_ended_normally", |p| match p {
            Payload::CallEndedNormally(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(normally.session_id, format!("ari-{customer}"));
    assert_eq!(normally.reason, "agent_hangup");
    assert!(normally.was_connected);
    let ended = rig
        .until("call_ended", |p| match p {
            Payload::StasisCallEnded(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.reason, "agent_hangup");
    // The customer was hung up by switchboard, not left hanging.
    rig.all_clear().await;

    let customer = rig
        .sim
        .customer_calls("254700000005", "", "1002", &["agent", "1002"]);
    rig.ringing("PJSIP/1002").await;
    rig.sim.phone_answers("PJSIP/1002");
    rig.until("bridged", |p| {
        matches!(p, Payload::CallBridged(_)).then_some(())
    })
    .await;
    rig.sim.customer_is_lost(&customer);
    let left = rig
        .until("customer_left_bridge", |p| match p {
            Payload::CustomerLeftBridge(l) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert_eq!(left.reason(), pb::LeaveReason::NetworkIssue);
    rig.all_clear().await;
    rig.finish().await;
}

#[tokio::test]
async fn capacity_multi_call_and_the_desktop_controls() {
    let mut rig = rig().await;
    let agent = token(Role::Agent, Some("1002"), None);
    let mut control = rig.control().await;
    // Jane (three calls at most) answers two calls from the desktop: her
    // phone is rung with the auto-answer header and picks up by itself.
    let mut customers = Vec::new();
    for (n, expected) in [
        (1, pb::AgentStatus::OnCall),
        (2, pb::AgentStatus::MultiCall),
    ] {
        let customer =
            rig.sim
                .customer_calls(&format!("25470000001{n}"), "", "1002", &["agent", "1002"]);
        let incoming = rig
            .until("call_incoming", |p| match p {
                Payload::CallIncoming(c) => Some(c.clone()),
                _ => None,
            })
            .await;
        assert_eq!((incoming.call_index, incoming.max_calls), (n, 3));
        rig.ringing("PJSIP/1002").await;
        let answered = control
            .answer_call(authed(
                pb::AnswerCallRequest {
                    session_id: incoming.session_id.clone(),
                },
                &agent,
            ))
            .await
            .expect("answered from the desktop")
            .into_inner();
        assert_eq!(answered.call.unwrap().call_id, incoming.session_id);
        let bridged = rig
            .until("bridged", |p| match p {
                Payload::CallBridged(b) => Some(b.clone()),
                _ => None,
            })
            .await;
        assert_eq!(bridged.call_index, n);
        let status = rig.until("status", |p| status_of(p, "1002")).await;
        assert_eq!(status.1, expected);
        customers.push(customer);
    }
    assert_eq!(
        rig.sim.ringing_at("PJSIP/1002"),
        None,
        "the first ring was replaced"
    );

    // Hold and mute reach the PBX; hold is in the call's record.
    let session = format!("ari-{}", customers[0]);
    let held = control
        .hold_call(authed(
            pb::HoldCallRequest {
                session_id: session.clone(),
                on: true,
            },
            &agent,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.call.unwrap().state(), pb::CallState::Connected);
    control
        .mute_call(authed(
            pb::MuteCallRequest {
                session_id: session.clone(),
                on: true,
            },
            &agent,
        ))
        .await
        .unwrap();
    let (held, muted) = rig.sim.held_and_muted();
    assert_eq!(held, [customers[0].clone()]);
    assert_eq!(muted.len(), 1);
    assert!(
        rig.sim
            .channels()
            .iter()
            .any(|c| c.id == muted[0] && c.name.starts_with("PJSIP/1002-"))
    );

    // John (one call at most) is busy on a call: a second one is offered
    // without a ring and cannot be answered.
    rig.sim
        .customer_calls("254700000020", "", "1001", &["agent", "1001"]);
    rig.ringing("PJSIP/1001").await;
    rig.sim.phone_answers("PJSIP/1001");
    rig.until("bridged", |p| match p {
        Payload::CallBridged(b) if b.extension == "1001" => Some(()),
        _ => None,
    })
    .await;
    let over = rig
        .sim
        .customer_calls("254700000021", "", "1001", &["agent", "1001"]);
    let incoming = rig
        .until("call_incoming", |p| match p {
            Payload::CallIncoming(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    assert!(!incoming.can_answer && incoming.can_transfer);
    assert_eq!(incoming.call_index, 2);
    // The bridge decides not to ring before it offers the call: once the
    // offer is heard, no ring can follow.
    assert_eq!(
        rig.sim.ringing_at("PJSIP/1001"),
        None,
        "not rung at capacity"
    );
    let refused = control
        .answer_call(authed(
            pb::AnswerCallRequest {
                session_id: format!("ari-{over}"),
            },
            &token(Role::Agent, Some("1001"), None),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("at capacity"), "{refused:?}");

    // A supervisor transfers it to Ann, whose phone rings and answers.
    control
        .transfer_call(authed(
            pb::TransferCallRequest {
                session_id: format!("ari-{over}"),
                target: "1003".into(),
                with_customer_profile: false,
            },
            &token(Role::Supervisor, None, None),
        ))
        .await
        .unwrap();
    rig.ringing("PJSIP/1003").await;
    rig.sim.phone_answers("PJSIP/1003");
    let bridged = rig
        .until("bridged with 1003", |p| match p {
            Payload::CallBridged(b) if b.extension == "1003" => Some(b.clone()),
            _ => None,
        })
        .await;
    assert_eq!(bridged.session_id, format!("ari-{over}"));
    rig.finish().await;
}

#[tokio::test]
async fn a_queue_call_waits_until_a_supervisor_assigns_it() {
    let mut rig = rig().await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut control = rig.control().await;
    let first =
        rig.sim
            .customer_calls("254798765432", "Queue Customer", "8000", &["queue", "8000"]);
    let waiting = rig
        .until("incoming_queue_call", |p| match p {
            Payload::IncomingQueueCall(q) => Some(q.clone()),
            _ => None,
        })
        .await;
    assert_eq!(waiting.session_id, format!("ari-{first}"));
    assert_eq!(
        (waiting.queue_position, waiting.queue_number.as_str()),
        (1, "8000")
    );
    assert_eq!(waiting.estimated_wait_time, 0, "nothing measured yet");
    let mut agents: Vec<&str> = waiting
        .available_agents
        .iter()
        .map(|a| a.extension.as_str())
        .collect();
    agents.sort_unstable();
    assert_eq!(agents, ["1001", "1002", "1003"]);
    assert!(waiting.actions.unwrap().assign_to_agent);
    assert_eq!(
        rig.sim.ringing_at("PJSIP/1001"),
        None,
        "nobody rings before assignment"
    );

    // A second caller, raised to high priority, goes first.
    let second = rig
        .sim
        .customer_calls("254798765433", "", "8000", &["queue", "8000"]);
    rig.until("second waits", |p| match p {
        Payload::IncomingQueueCall(q) if q.session_id == format!("ari-{second}") => {
            Some(q.queue_position)
        }
        _ => None,
    })
    .await;
    let refused = control
        .set_call_priority(authed(
            pb::SetCallPriorityRequest {
                session_id: format!("ari-{second}"),
                priority: "high".into(),
            },
            &token(Role::Agent, Some("1001"), None),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    control
        .set_call_priority(authed(
            pb::SetCallPriorityRequest {
                session_id: format!("ari-{second}"),
                priority: "high".into(),
            },
            &supervisor,
        ))
        .await
        .unwrap();
    let raised = rig
        .until("re-announced", |p| match p {
            Payload::IncomingQueueCall(q) if q.session_id == format!("ari-{second}") => {
                Some(q.queue_position)
            }
            _ => None,
        })
        .await;
    assert_eq!(raised, 1);

    // Assignment: the agent's flow runs.
    let assigned = control
        .assign_queue_call(authed(
            pb::AssignQueueCallRequest {
                session_id: format!("ari-{first}"),
                extension: "1003".into(),
            },
            &supervisor,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assigned.call.unwrap().queue, "8000");
    let incoming = rig
        .until("call_incoming", |p| match p {
            Payload::CallIncoming(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (incoming.extension.as_str(), incoming.session_id.as_str()),
        ("1003", format!("ari-{first}").as_str())
    );
    rig.ringing("PJSIP/1003").await;
    rig.sim.phone_answers("PJSIP/1003");
    rig.until("bridged", |p| {
        matches!(p, Payload::CallBridged(_)).then_some(())
    })
    .await;
    let unknown = control
        .assign_queue_call(authed(
            pb::AssignQueueCallRequest {
                session_id: format!("ari-{second}"),
                extension: "4242".into(),
            },
            &supervisor,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // The waiting caller hangs up: an abandon, and the queue is empty.
    rig.sim.customer_hangs_up(&second);
    let stats = rig
        .until("queue figures", |p| match p {
            Payload::QueuesStats(list) => list
                .queues
                .iter()
                .find(|q| q.name == "8000" && q.waiting == 0)
                .cloned(),
            _ => None,
        })
        .await;
    // One answered (the assigned call, once bridged), one abandoned.
    assert_eq!(stats.abandon_rate, Some(50.0));
    assert_eq!(stats.service_level, Some(100.0));
    rig.finish().await;
}

#[tokio::test]
async fn a_lost_ari_connection_is_reconciled_without_ghost_calls() {
    let mut rig = rig().await;
    let stays = rig
        .sim
        .customer_calls("254700000030", "", "1002", &["agent", "1002"]);
    rig.ringing("PJSIP/1002").await;
    rig.sim.phone_answers("PJSIP/1002");
    rig.until("bridged", |p| {
        matches!(p, Payload::CallBridged(_)).then_some(())
    })
    .await;
    let goes = rig
        .sim
        .customer_calls("254700000031", "", "8000", &["queue", "8000"]);
    rig.until("queued", |p| {
        matches!(p, Payload::IncomingQueueCall(_)).then_some(())
    })
    .await;

    // The PBX becomes unreachable; meanwhile one caller hangs up and a new one arrives.
    rig.sim.cut_events(true);
    rig.until("ARI disconnected", |p| match p {
        Payload::SourceStatus(s) if s.source() == pb::SourceKind::Ari => {
            (s.state() == pb::SourceState::Disconnected).then_some(())
        }
        _ => None,
    })
    .await;
    rig.sim.customer_hangs_up(&goes);
    let arrived = rig
        .sim
        .customer_calls("254700000032", "", "8000", &["queue", "8000"]);
    rig.sim.restore_events();

    let snapshot = rig
        .until("resync", |p| match p {
            Payload::Resync(r) if r.reason() == pb::ResyncReason::SourceRebuilt => {
                r.snapshot.clone()
            }
            _ => None,
        })
        .await;
    let calls: Vec<&str> = snapshot.calls.iter().map(|c| c.call_id.as_str()).collect();
    assert!(
        calls.contains(&format!("ari-{stays}").as_str()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&format!("ari-{arrived}").as_str()),
        "{calls:?}"
    );
    assert!(
        !calls.contains(&format!("ari-{goes}").as_str()),
        "ghost: {calls:?}"
    );
    rig.until("ARI connected", |p| match p {
        Payload::SourceStatus(s) if s.source() == pb::SourceKind::Ari => {
            (s.state() == pb::SourceState::Connected).then_some(())
        }
        _ => None,
    })
    .await;
    // The kept call still works: the customer hangs up and it ends properly.
    rig.sim.customer_hangs_up(&stays);
    let left = rig
        .until("customer_left_bridge", |p| match p {
            Payload::CustomerLeftBridge(l) => Some(l.clone()),
            _ => None,
        })
        .await;
    assert_eq!(left.session_id, format!("ari-{stays}"));
    assert!(left.was_connected);
    rig.finish().await;
}

/// The top-level fields of each seed-000 example (`../shared/seeds/000_…`),
/// and the nested objects it spells out.
const SEED_FIELDS: &[(&str, &[&str])] = &[
    (
        "call_incoming",
        &[
            "sessionId",
            "channelId",
            "agentId",
            "extension",
            "agentName",
            "customerNumber",
            "callerName",
            "callIndex",
            "maxCalls",
            "callDirection",
            "priority",
            "timestamp",
            "canAnswer",
            "canReject",
            "canTransfer",
        ],
    ),
    (
        "call_bridged_successfully",
        &[
            "sessionId",
            "channelId",
            "bridgeId",
            "agentId",
            "extension",
            "customerNumber",
            "callIndex",
            "connectedAt",
            "startTimer",
            "timerStartTime",
            "serverTimestamp",
            "controls",
        ],
    ),
    (
        "customer_left_bridge",
        &[
            "sessionId",
            "channelId",
            "agentId",
            "extension",
            "customerNumber",
            "leftAt",
            "reason",
            "autoDecline",
            "callDuration",
            "totalDuration",
            "wasConnected",
            "wasAnswered",
            "callIndex",
            "bridgeId",
        ],
    ),
    (
        "system_state",
        &[
            "extensionStates",
            "availableAgents",
            "agentsWithCapacity",
            "activeCalls",
            "timestamp",
        ],
    ),
    (
        "agent_status_updated",
        &[
            "agentId",
            "extension",
            "agentName",
            "status",
            "previousStatus",
            "activeCalls",
            "callCount",
            "statusChangedAt",
            "lastUpdate",
            "capacity",
        ],
    ),
    (
        "system_stats",
        &[
            "totalSessions",
            "activeAgents",
            "availableAgents",
            "avgCallsPerAgent",
            "systemHealth",
            "performance",
            "timestamp",
        ],
    ),
    (
        "incoming_queue_call",
        &[
            "sessionId",
            "channelId",
            "customerNumber",
            "callerName",
            "queuePosition",
            "estimatedWaitTime",
            "queueNumber",
            "availableAgents",
            "actions",
            "timestamp",
        ],
    ),
];

fn keys(value: &serde_json::Value) -> std::collections::BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_desktop_over_socket_io_sees_every_000_event_in_the_seeds_shape_and_commands_are_acknowledged()
 {
    let mut rig = rig_with(
        |args| args.stats_interval_seconds = Some("1".into()),
        |_| {},
    )
    .await;
    let supervisor = token(Role::Supervisor, None, None);
    let app = &rig.app;
    let watcher = app.start_socket_watcher(&supervisor, &["--seconds", "60"]);
    let sim = rig.sim.clone();
    let drive = async {
        // The calls start once the desktop is connected (its greeting and
        // everything after it reach it).
        app.wait_for_sockets(1).await;
        // Answered, bridged, left by the customer.
        let customer =
            sim.customer_calls("254712345678", "Customer Name", "1001", &["agent", "1001"]);
        wait_ringing(&sim, "PJSIP/1001").await;
        sim.phone_answers("PJSIP/1001");
        tokio::time::sleep(Duration::from_millis(300)).await;
        sim.customer_hangs_up(&customer);
        // Ended by the agent.
        sim.customer_calls("254700000001", "", "1002", &["agent", "1002"]);
        wait_ringing(&sim, "PJSIP/1002").await;
        sim.phone_answers("PJSIP/1002");
        tokio::time::sleep(Duration::from_millis(300)).await;
        sim.phone_hangs_up("PJSIP/1002");
        // Declined on the phone.
        sim.customer_calls("254700000002", "", "1003", &["agent", "1003"]);
        wait_ringing(&sim, "PJSIP/1003").await;
        sim.phone_declines("PJSIP/1003");
        // A queue call waits.
        sim.customer_calls("254798765432", "Queue Customer", "8000", &["queue", "8000"])
    };
    let queued = drive.await;
    // The desktop has had every event the checks below read.
    let awaited = SEED_FIELDS.iter().map(|(event, _)| *event).chain([
        "incoming_call_for_agent",
        "call_answered",
        "call_ended_normally",
        "agent_rejected_call",
        "call_state_changed",
        "call_ended",
    ]);
    for event in awaited {
        watcher.wait_for(event, 1).await;
    }
    let lines = watcher.finish().await;
    assert_lines_match_schemas(&lines);
    let first = |name: &str| {
        lines
            .iter()
            .find(|l| l["event"] == name)
            .unwrap_or_else(|| {
                let seen: Vec<_> = lines.iter().map(|l| l["event"].clone()).collect();
                panic!("{name} not received; saw {seen:?}")
            })["data"]
            .clone()
    };
    for (event, fields) in SEED_FIELDS {
        let data = first(event);
        let expected: std::collections::BTreeSet<String> =
            fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(keys(&data), expected, "{event}: {data}");
    }
    // The documented aliases carry the same payloads.
    assert_eq!(first("incoming_call_for_agent"), first("call_incoming"));
    assert_eq!(first("call_answered"), first("call_bridged_successfully"));
    for event in [
        "call_ended_normally",
        "agent_rejected_call",
        "call_state_changed",
        "call_ended",
    ] {
        first(event);
    }
    // Nested objects as the seed spells them.
    let bridged = first("call_bridged_successfully");
    assert_eq!(
        keys(&bridged["controls"]),
        ["conference", "hangup", "hold", "mute", "record", "transfer"]
            .map(str::to_owned)
            .into()
    );
    assert!(
        bridged["serverTimestamp"].is_number(),
        "epoch ms is a number: {bridged}"
    );
    assert_eq!(bridged["timerStartTime"], bridged["connectedAt"]);
    let status = first("agent_status_updated");
    assert_eq!(
        keys(&status["capacity"]),
        ["canTakeCall", "current", "max"].map(str::to_owned).into()
    );
    let stats = first("system_stats");
    assert_eq!(
        keys(&stats["systemHealth"]),
        ["activeConnections", "memoryUsage", "status", "uptime"]
            .map(str::to_owned)
            .into()
    );
    assert_eq!(
        keys(&stats["performance"]),
        [
            "avgResponseTime",
            "callsEndedToday",
            "callsPerMinute",
            "peakConcurrentCalls",
            "responsesMeasured",
            "successRate"
        ]
        .map(str::to_owned)
        .into()
    );
    // The seed types every figure as a number and formats them at once
    // (`successRate.toFixed(1)`).
    for figure in keys(&stats["performance"]) {
        assert!(stats["performance"][&figure].is_number(), "{stats}");
    }
    let state = first("system_state");
    assert_eq!(
        keys(&state["extensionStates"]["1001"]),
        ["agentId", "agentName", "lastUpdate", "status"]
            .map(str::to_owned)
            .into()
    );
    assert_eq!(
        state["extensionStates"]["1001"]["agentId"],
        "agent_uuid_789"
    );
    // The seed's desktop stops its call timer on `customer_left_bridge` or
    // `call_ended_normally` with one handler reading `leftAt`.
    for event in ["customer_left_bridge", "call_ended_normally"] {
        let data = first(event);
        let left_at = data["leftAt"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(left_at).is_ok(),
            "{event}: {data}"
        );
    }
    let ended = first("call_ended_normally");
    assert_eq!(ended["leftAt"], ended["endedAt"]);
    let left = first("customer_left_bridge");
    assert_eq!(left["reason"], "customer_disconnected");
    assert_eq!(left["autoDecline"], true);
    assert_eq!(first("incoming_call_for_agent")["callDirection"], "inbound");

    // Commands: an agent socket rejects the call ringing at its extension,
    // and is refused what it may not do; every answer is an acknowledgement.
    let ringing = rig
        .sim
        .customer_calls("254700000003", "", "1002", &["agent", "1002"]);
    wait_ringing(&rig.sim, "PJSIP/1002").await;
    let reject = format!(r#"{{"sessionId":"ari-{ringing}","reason":"wrap-up"}}"#);
    let assign = format!(r#"{{"sessionId":"ari-{queued}","extension":"1002"}}"#);
    let agent_desk = rig.app.start_socket_watcher(
        &token(Role::Agent, Some("1002"), None),
        &[
            "--seconds",
            "60",
            "--emit",
            "reject_call",
            &reject,
            "--emit",
            "assign_queue_call",
            &assign,
            "--emit",
            "hangup_call",
            r#"{"sessionId":"ari-nope"}"#,
            "--emit",
            "hold_call",
            "[1,2]",
        ],
    );
    for name in [
        "reject_call",
        "assign_queue_call",
        "hangup_call",
        "hold_call",
    ] {
        agent_desk.wait_for(&format!("ack:{name}"), 1).await;
    }
    let lines = agent_desk.finish().await;
    let ack = |name: &str| {
        lines
            .iter()
            .find(|l| l["event"] == format!("ack:{name}"))
            .unwrap_or_else(|| panic!("ack for {name}: {lines:?}"))["data"]
            .clone()
    };
    assert_eq!(
        ack("reject_call")["call"]["callId"],
        format!("ari-{ringing}")
    );
    assert_eq!(ack("assign_queue_call")["error"], "permission_denied");
    assert_eq!(ack("hangup_call")["error"], "not_found");
    assert_eq!(ack("hold_call")["error"], "invalid_argument");
    rig.until("agent_rejected_call", |p| match p {
        Payload::AgentRejectedCall(r) if r.reason == "wrap-up" => Some(()),
        _ => None,
    })
    .await;
    rig.finish().await;
}

async fn wait_ringing(sim: &AriSim, endpoint: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.ringing_at(endpoint).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{endpoint} never rang"));
}

#[tokio::test]
async fn an_agents_phone_going_offline_and_online_is_their_status() {
    let rig = rig_with(
        |_| {},
        |sim| {
            sim.set_phone_online("PJSIP/1001", true);
            sim.set_phone_online("PJSIP/1003", false);
        },
    )
    .await;
    // Logged in: anything but offline in the system state.
    let app = &rig.app;
    let logged_in = |extension: &'static str| async move {
        app.system_state()
            .await
            .agents
            .iter()
            .find(|a| a.extension == extension)
            .is_some_and(|a| a.status() != pb::AgentStatus::Offline)
    };
    let settle = |extension: &'static str, wanted: bool| async move {
        tokio::time::timeout(Duration::from_secs(10), async {
            while logged_in(extension).await != wanted {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{extension} never became logged_in={wanted}"));
    };
    // Read at connect: 1003's phone is offline; 1001's online; 1002's unknown to the PBX (kept).
    settle("1003", false).await;
    assert!(logged_in("1001").await && logged_in("1002").await);
    let mut subscribed = rig.sim.subscriptions();
    subscribed.sort();
    assert_eq!(subscribed, ["endpoint:PJSIP/1001", "endpoint:PJSIP/1003"]);
    // Then followed live.
    rig.sim.set_phone_online("PJSIP/1003", true);
    settle("1003", true).await;
    rig.sim.set_phone_online("PJSIP/1001", false);
    settle("1001", false).await;
    let mut rig = rig;
    assert_eq!(
        rig.until("1001 offline", |p| status_of(p, "1001")).await,
        (pb::AgentStatus::Available, pb::AgentStatus::Offline)
    );
    // An offline agent is offered no ring.
    rig.sim
        .customer_calls("254700000040", "", "1001", &["agent", "1001"]);
    let incoming = rig
        .until("call_incoming", |p| match p {
            Payload::CallIncoming(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    assert!(!incoming.can_answer);
    // Not rung: decided before the offer was heard.
    assert_eq!(rig.sim.ringing_at("PJSIP/1001"), None);
    rig.finish().await;
}

#[tokio::test]
async fn admins_change_the_agent_directory_and_it_outlives_a_restart() {
    use switchboard::proto::v1::agent_service_client::AgentServiceClient;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("agents.db").display());
    let agents = dir.path().join("agents.toml");
    std::fs::write(&agents, AGENTS).unwrap();
    let start = || {
        let database = database.clone();
        let agents = agents.clone();
        spawn_app_with(move |args| {
            args.database_url = Some(database);
            args.agents_file = Some(agents);
        })
    };
    let app = start().await;
    let mut client = AgentServiceClient::new(app.channel().await);
    let admin = token(Role::Admin, None, None);
    let listed = client
        .list_agents(authed(
            pb::ListAgentsRequest {},
            &token(Role::Supervisor, None, None),
        ))
        .await
        .unwrap()
        .into_inner();
    let extensions: Vec<&str> = listed.agents.iter().map(|a| a.extension.as_str()).collect();
    assert_eq!(extensions, ["1001", "1002", "1003"]);
    assert_eq!(listed.agents[2].endpoint, "PJSIP/1003");
    let refused = client
        .put_agent(authed(
            pb::PutAgentRequest {
                agent: Some(pb::AgentDirectoryEntry {
                    extension: "1001".into(),
                    max_calls: 5,
                    ..Default::default()
                }),
            },
            &token(Role::Supervisor, None, None),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let bad = client
        .put_agent(authed(
            pb::PutAgentRequest {
                agent: Some(pb::AgentDirectoryEntry {
                    extension: "1001".into(),
                    max_calls: 50,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("max_calls"), "{bad:?}");
    let put = client
        .put_agent(authed(
            pb::PutAgentRequest {
                agent: Some(pb::AgentDirectoryEntry {
                    agent_id: "agent_uuid_789".into(),
                    extension: "1001".into(),
                    name: "John Doe".into(),
                    max_calls: 4,
                    endpoint: "PJSIP/desk-1001".into(),
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let state = put.state.unwrap();
    assert_eq!(state.capacity.unwrap().max, 4, "the ledger has it at once");
    assert_eq!(put.agent.unwrap().endpoint, "PJSIP/desk-1001");
    // One agent id, one extension: another extension may not take it.
    let taken = client
        .put_agent(authed(
            pb::PutAgentRequest {
                agent: Some(pb::AgentDirectoryEntry {
                    agent_id: "agent_uuid_789".into(),
                    extension: "1002".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), tonic::Code::AlreadyExists, "{taken:?}");
    assert!(taken.message().contains("1001"), "{taken:?}");
    app.stop().await.unwrap();

    // Restarted on the same store: the admin's change wins over the file,
    // in the directory and in the live state.
    let app = start().await;
    let mut client = AgentServiceClient::new(app.channel().await);
    let listed = client
        .list_agents(authed(pb::ListAgentsRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    let entry = listed
        .agents
        .iter()
        .find(|a| a.extension == "1001")
        .unwrap();
    assert_eq!(
        (
            entry.max_calls,
            entry.name.as_str(),
            entry.endpoint.as_str()
        ),
        (4, "John Doe", "PJSIP/desk-1001")
    );
    let state = app
        .state()
        .await
        .get_system_state(authed(pb::GetSystemStateRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    let agent = state.agents.iter().find(|a| a.extension == "1001").unwrap();
    assert_eq!(
        (agent.capacity.as_ref().unwrap().max, agent.name.as_str()),
        (4, "John Doe")
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_rest_call_ends_or_refuses_that_call_only() {
    use axum::http::{Method, StatusCode};
    let mut rig = rig().await;
    // Asterisk fails to create the bridge: the offer lapses and the call ends cleanly.
    rig.sim.fail_next(
        Method::POST,
        "/ari/bridges",
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    let first = rig
        .sim
        .customer_calls("254700000050", "", "1001", &["agent", "1001"]);
    rig.ringing("PJSIP/1001").await;
    rig.sim.phone_answers("PJSIP/1001");
    let ended = rig
        .until("call_ended", |p| match p {
            Payload::StasisCallEnded(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.session_id, format!("ari-{first}"));
    assert!(!ended.was_connected);
    rig.all_clear().await;

    // The next call goes through as usual.
    let second = rig
        .sim
        .customer_calls("254700000051", "", "1001", &["agent", "1001"]);
    rig.ringing("PJSIP/1001").await;
    rig.sim.phone_answers("PJSIP/1001");
    rig.until("bridged", |p| {
        matches!(p, Payload::CallBridged(_)).then_some(())
    })
    .await;

    // A refused hold is that command's error, and the call goes on.
    rig.sim
        .fail_next(Method::POST, "/hold", StatusCode::CONFLICT);
    let mut control = rig.control().await;
    let supervisor = token(Role::Supervisor, None, None);
    let refused = control
        .hold_call(authed(
            pb::HoldCallRequest {
                session_id: format!("ari-{second}"),
                on: true,
            },
            &supervisor,
        ))
        .await
        .unwrap_err();
    // What the client is told is the refusal's meaning; ARI's own text
    // stays in the log.
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("not in a state that allows it"),
        "{refused:?}"
    );
    assert!(!refused.message().contains("ari"), "{refused:?}");
    control
        .hold_call(authed(
            pb::HoldCallRequest {
                session_id: format!("ari-{second}"),
                on: true,
            },
            &supervisor,
        ))
        .await
        .expect("the second try holds");

    // A supervisor hangs it up: call_ended says who.
    control
        .hangup_call(authed(
            pb::HangupCallRequest {
                session_id: format!("ari-{second}"),
            },
            &supervisor,
        ))
        .await
        .unwrap();
    let ended = rig
        .until("call_ended", |p| match p {
            Payload::StasisCallEnded(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.reason, "supervisor_hangup");
    rig.all_clear().await;

    // A waiting queue call moved to another queue by a supervisor waits there.
    let queued = rig
        .sim
        .customer_calls("254700000052", "", "8000", &["queue", "8000"]);
    rig.until("queued", |p| {
        matches!(p, Payload::IncomingQueueCall(_)).then_some(())
    })
    .await;
    control
        .transfer_call(authed(
            pb::TransferCallRequest {
                session_id: format!("ari-{queued}"),
                target: "8100".into(),
                with_customer_profile: false,
            },
            &supervisor,
        ))
        .await
        .unwrap();
    let moved = rig
        .until("in 8100", |p| match p {
            Payload::IncomingQueueCall(q) if q.queue_number == "8100" => Some(q.clone()),
            _ => None,
        })
        .await;
    assert_eq!(moved.session_id, format!("ari-{queued}"));
    rig.finish().await;
}

#[tokio::test]
async fn a_supervisor_listens_in_through_a_snoop_on_the_agents_leg() {
    use switchboard::proto::v1::supervisor_service_client::SupervisorServiceClient;
    let mut rig = rig().await;
    let customer = rig
        .sim
        .customer_calls("254700000060", "", "1002", &["agent", "1002"]);
    let leg = rig.ringing("PJSIP/1002").await;
    rig.sim.phone_answers("PJSIP/1002");
    rig.until("bridged", |p| {
        matches!(p, Payload::CallBridged(_)).then_some(())
    })
    .await;
    let mut supervisors = SupervisorServiceClient::new(rig.app.channel().await);
    let supervisor = token(Role::Supervisor, Some("2001"), None);
    let action = supervisors
        .whisper(authed(
            pb::WhisperRequest {
                agent_extension: "1002".into(),
                ..Default::default()
            },
            &supervisor,
        ))
        .await
        .expect("accepted")
        .into_inner()
        .action
        .unwrap();
    assert_eq!(action.status(), pb::SupervisorActionStatus::Accepted);
    // The snoop sits on the agent's leg and whispers to it; the supervisor's phone rings.
    let snoop = rig
        .sim
        .channels()
        .into_iter()
        .find(|c| c.name.starts_with(&format!("Snoop/{leg}-")))
        .expect("a snoop on the agent's leg");
    let vars = snoop.channelvars.clone().unwrap();
    assert_eq!(
        (vars["SNOOP_SPY"].as_str(), vars["SNOOP_WHISPER"].as_str()),
        (Some("both"), Some("out"))
    );
    rig.ringing("PJSIP/2001").await;
    let phone = rig.sim.phone_answers("PJSIP/2001").unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if rig
                .sim
                .bridges()
                .iter()
                .any(|b| b.channels.contains(&snoop.id) && b.channels.contains(&phone))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the supervisor's phone is bridged with the snoop");
    let session = rig
        .until("spy session", |p| match p {
            Payload::SpySession(s) if s.active => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (
            session.agent_extension.as_str(),
            session.supervisor_extension.as_str(),
            session.call_id.as_str()
        ),
        ("1002", "2001", format!("ari-{customer}").as_str())
    );
    // The supervisor hangs up: the session ends and its channels go.
    rig.sim.phone_hangs_up("PJSIP/2001");
    let ended = rig
        .until("spy session ended", |p| match p {
            Payload::SpySession(s) if !s.active => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(ended.supervisor_extension, "2001");
    crate::helpers::eventually("the snoop is hung up", Duration::from_secs(5), || {
        !rig.sim.channels().iter().any(|c| c.id == snoop.id)
    })
    .await;
    // The call itself goes on.
    rig.sim.customer_hangs_up(&customer);
    rig.until("customer_left_bridge", |p| {
        matches!(p, Payload::CustomerLeftBridge(_)).then_some(())
    })
    .await;
    rig.all_clear().await;
    rig.finish().await;
}

#[tokio::test]
async fn a_restarted_switchboard_adopts_the_calls_in_the_application() {
    let mut rig = rig().await;
    let customer = rig
        .sim
        .customer_calls("254700000070", "", "1002", &["agent", "1002"]);
    rig.ringing("PJSIP/1002").await;
    rig.sim.phone_answers("PJSIP/1002");
    let first = rig
        .until("bridged", |p| match p {
            Payload::CallBridged(b) => Some(b.clone()),
            _ => None,
        })
        .await;
    // switchboard restarts; the call goes on at the PBX meanwhile.
    let agents = rig._dir.path().join("agents.toml");
    let url = rig.sim.url();
    let Rig { app, sim, stop, .. } = rig;
    app.stop().await.unwrap();
    let app = spawn_app_with(|args| {
        args.ari_url = Some(url);
        args.ari_username = Some("switchboard".into());
        args.ari_password = Some("secret".into());
        args.agents_file = Some(agents);
    })
    .await;
    let call_id = format!("ari-{customer}");
    let adopted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let state = app.system_state().await;
            if let Some(call) = state.calls.into_iter().find(|c| c.call_id == call_id)
                && !call.agent_extension.is_empty()
            {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the call is adopted with its agent");
    assert_eq!(adopted.agent_extension, "1002");
    assert_eq!(adopted.ids.unwrap().ari_bridge_id, first.bridge_id);
    // Timed by the PBX's own records (bridge creation), not by the restart.
    let bridge_created = sim
        .bridges()
        .into_iter()
        .find(|b| b.id == first.bridge_id)
        .map(|b| switchboard::sources::ari::model::ari_time(&b.creationtime).unwrap())
        .unwrap();
    assert_eq!(
        adopted.bridged_at,
        Some(switchboard::time::to_timestamp(bridge_created)),
        "the PBX's bridge time"
    );
    let state = app.system_state().await;
    let agent = state.agents.iter().find(|a| a.extension == "1002").unwrap();
    assert_eq!(agent.current_call_ids, std::slice::from_ref(&call_id));
    let mut stream = app
        .subscribe(
            pb::SubscribeRequest::default(),
            &token(Role::Supervisor, None, None),
        )
        .await;
    sim.customer_hangs_up(&customer);
    let left = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = stream.next().await.unwrap().unwrap().event.unwrap();
            if let Some(Payload::CustomerLeftBridge(left)) = event.payload {
                return left;
            }
        }
    })
    .await
    .expect("customer_left_bridge");
    assert!(left.was_connected);
    assert_eq!(left.extension, "1002");
    // Its agent leg and bridge were cleaned up by the new instance.
    tokio::time::timeout(Duration::from_secs(5), async {
        while !(sim.channels().is_empty() && sim.bridges().is_empty()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("nothing left on the PBX");
    stop.cancel();
    app.stop().await.unwrap();
}
