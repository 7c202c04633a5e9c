//! The server against `switchboard sim` over a real loopback AMI connection:
//! the 002 Socket.IO events with their documented shapes, the same
//! happenings on gRPC, the rebuild after the PBX comes back, a failed login,
//! and the supervisor actions with their errors and audit trail.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use switchboard::auth::Role;
use switchboard::devtools::sim::{SimArgs, Simulator};
use switchboard::proto::v1::{
    EventKind, MonitorRequest, SourceState, SubscribeRequest, SupervisorActionStatus,
    event::Payload, supervisor_service_client::SupervisorServiceClient,
};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, assert_lines_match_schemas, authed, spawn_app_with, token};

/// A busy simulator: twenty simulated seconds per second, about one new
/// caller per real second for six agents.
pub(crate) fn busy(listen: SocketAddr) -> SimArgs {
    SimArgs {
        rate: 3.0,
        speed: 20.0,
        agents: 6,
        seed: 7,
        // Queue callers only, as these tests were written for: the
        // click-to-dials, pickups and forwards (tested in sim_fidelity.rs and
        // real_pbx.rs) would keep the six agents busy, and a busy agent
        // never logs out, which the wallboard test waits to see.
        other_rate: Some(0.0),
        ..SimArgs::on(listen)
    }
}

async fn app_on(address: SocketAddr, secret: &str) -> TestApp {
    app_on_with(address, secret, |_| {}).await
}

/// [`app_on`], configured further by `configure`.
async fn app_on_with(
    address: SocketAddr,
    secret: &str,
    configure: impl FnOnce(&mut switchboard::config::ServeArgs),
) -> TestApp {
    let secret = secret.to_owned();
    spawn_app_with(move |args| {
        args.ami_host = Some(address.ip().to_string());
        args.ami_port = Some(address.port().to_string());
        args.ami_username = Some("switchboard".into());
        args.ami_secret = Some(secret);
        args.ami_md5 = Some("true".into());
        configure(args);
    })
    .await
}

/// Any free loopback port, for a simulator that binds it itself (port 0).
pub(crate) fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A loopback port for a simulated PBX that starts after the server that
/// connects to it: bound but not listening, so a connection is refused
/// until the simulator listens on this very socket (the port is never
/// released and taken again).
pub(crate) struct Reserved {
    socket: tokio::net::TcpSocket,
    /// The port's address.
    pub address: SocketAddr,
}

impl Reserved {
    /// A loopback port, reserved.
    pub fn new() -> Reserved {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = socket.local_addr().unwrap();
        Reserved { socket, address }
    }

    /// Starts the simulator with `args` on the reserved port.
    pub fn start(self, args: SimArgs, stop: CancellationToken) -> Simulator {
        let listener = self.socket.listen(1024).unwrap();
        Simulator::start_on(listener, args, stop).unwrap()
    }
}

#[tokio::test]
async fn a_wallboard_receives_every_002_event_with_its_documented_shape() {
    // The server starts before the PBX: the wallboard sees it disconnected, then connected.
    let pbx = Reserved::new();
    let address = pbx.address;
    let app = app_on(address, "switchboard").await;
    let supervisor = token(Role::Supervisor, None, None);
    // The watcher ends once it has every event the test needs (calls:active
    // on connect and twice more), or after 60 s.
    let until = "ami:disconnected,ami:connected,call:new,call:answered,call:ended,\
                 calls:active=3,agent:login,agent:logout,agents:status,\
                 queue:caller_joined,queues:stats";
    let watcher = app.start_socket_watcher(&supervisor, &["--until", until, "--seconds", "60"]);
    // Connected, the wallboard sees a failed attempt to reach the PBX; then the PBX starts.
    watcher.wait_for("ami:disconnected", 1).await;
    let stop = CancellationToken::new();
    let _simulator = pbx.start(busy(address), stop.clone());
    let lines = watcher.exited().await;
    stop.cancel();
    assert_lines_match_schemas(&lines);
    let seen: BTreeSet<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    for event in [
        "ami:disconnected",
        "ami:connected",
        "call:new",
        "call:answered",
        "call:ended",
        "calls:active",
        "agent:login",
        "agent:logout",
        "agents:status",
        "queue:caller_joined",
        "queues:stats",
    ] {
        assert!(
            seen.contains(event),
            "{event} was not received; saw {seen:?}"
        );
    }
    // calls:active went to the socket on connect, before any change.
    let position = |name: &str| {
        lines
            .iter()
            .position(|l| l["event"] == name)
            .unwrap_or_else(|| panic!("{name} received"))
    };
    assert!(
        position("calls:active") < position("call:new"),
        "calls:active comes on connect"
    );
    // ... and again, in the gateway's paced rounds, after calls changed.
    let after_first_call = lines[position("call:new")..]
        .iter()
        .filter(|l| l["event"] == "calls:active")
        .count();
    assert!(after_first_call >= 1, "calls:active after a change");
    // Queue statistics carry the seed's fields and the live figures beyond it.
    let stats = lines
        .iter()
        .rev()
        .find(|l| l["event"] == "queues:stats")
        .unwrap();
    let queue = &stats["data"][0];
    for field in ["name", "waiting", "members", "available", "longestWait"] {
        assert!(
            queue.get(field).is_some(),
            "queues:stats item has {field}: {queue}"
        );
    }
    let ended = lines.iter().find(|l| l["event"] == "call:ended").unwrap();
    assert!(ended["data"]["disposition"].is_string(), "{ended}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_sees_the_same_happenings_and_the_rebuild_after_the_pbx_returns() {
    let stop = CancellationToken::new();
    let simulator = Simulator::start(busy(any_port()), stop.clone())
        .await
        .unwrap();
    let address = simulator.address;
    let app = app_on(address, "switchboard").await;
    let supervisor = token(Role::Supervisor, None, None);
    let mut stream = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![
                    EventKind::CallNew as i32,
                    EventKind::CallAnswered as i32,
                    EventKind::CallHangup as i32,
                    EventKind::CallUpdated as i32,
                    EventKind::QueueCallerJoined as i32,
                    EventKind::SourceStatus as i32,
                    EventKind::Resync as i32,
                ],
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let wanted = [
        "EVENT_KIND_CALL_NEW",
        "EVENT_KIND_CALL_ANSWERED",
        "EVENT_KIND_CALL_HANGUP",
        "EVENT_KIND_CALL_UPDATED",
        "EVENT_KIND_QUEUE_CALLER_JOINED",
    ];
    let mut kinds = BTreeSet::new();
    let mut epochs = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !wanted.iter().all(|k| kinds.contains(k)) {
        let Ok(Some(Ok(response))) = tokio::time::timeout_at(deadline, stream.next()).await else {
            break;
        };
        let event = response.event.unwrap();
        epochs.insert(event.epoch.clone());
        if let Some(payload) = event.payload {
            kinds.insert(switchboard::events::kind_of(&payload).as_str_name());
        }
    }
    for kind in wanted {
        assert!(kinds.contains(kind), "{kind} not seen: {kinds:?}");
    }

    // The PBX goes away with calls up, ends them while away, and comes back.
    let before = app.system_state().await.calls.len();
    stop.cancel();
    drop(simulator);
    let mut disconnected = false;
    while !disconnected {
        let response = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("disconnect noticed")
            .unwrap()
            .unwrap();
        if let Some(Payload::SourceStatus(status)) = response.event.unwrap().payload {
            disconnected = status.state() == SourceState::Disconnected;
        }
    }
    // The same port, a different workload: none of the old calls exist any more.
    let back = CancellationToken::new();
    let _simulator = Simulator::start(
        SimArgs {
            rate: 0.0,
            ..busy(address)
        },
        back.clone(),
    )
    .await
    .unwrap();
    let mut rebuilt = None;
    let mut lost = 0;
    while rebuilt.is_none() {
        let response = tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .expect("rebuild happens")
            .unwrap()
            .unwrap();
        let event = response.event.unwrap();
        match event.payload {
            Some(Payload::CallUpdated(update))
                if update.call.as_ref().unwrap().end_reason()
                    == switchboard::proto::v1::CallEndReason::Lost =>
            {
                lost += 1;
            }
            Some(Payload::Resync(resync)) => rebuilt = Some((event.epoch, resync)),
            _ => {}
        }
    }
    let (epoch, resync) = rebuilt.unwrap();
    assert_eq!(
        resync.reason(),
        switchboard::proto::v1::ResyncReason::SourceRebuilt
    );
    assert!(!epochs.contains(&epoch), "the rebuild starts a new epoch");
    assert_eq!(resync.snapshot.unwrap().calls.len(), 0, "no ghost calls");
    assert_eq!(lost, before, "every call of the outage was closed as lost");
    assert_eq!(app.system_state().await.epoch, epoch);
    back.cancel();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_login_says_so_and_retries_with_backoff() {
    let stop = CancellationToken::new();
    let simulator = Simulator::start(busy(any_port()), stop.clone())
        .await
        .unwrap();
    let app = app_on(simulator.address, "wrong-secret").await;
    let supervisor = token(Role::Supervisor, None, None);
    let watcher = app.start_socket_watcher(&supervisor, &["--seconds", "60"]);
    watcher.wait_for("ami:error", 1).await;
    // Backoff: a handful of attempts in the next three seconds, not hundreds.
    let seen_before = watcher.count("ami:error");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lines = watcher.finish().await;
    assert_lines_match_schemas(&lines);
    let errors: Vec<_> = lines.iter().filter(|l| l["event"] == "ami:error").collect();
    let message = errors[0]["data"]["message"].as_str().unwrap();
    assert!(message.contains("Authentication failed"), "{message}");
    let attempts = errors.len() - seen_before;
    assert!(attempts <= 6, "{attempts} login attempts in 3 s");
    stop.cancel();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn supervisors_monitor_whisper_and_barge_and_every_refusal_is_clear() {
    let stop = CancellationToken::new();
    let calm = SimArgs {
        speed: 4.0,
        rate: 12.0,
        ..busy(any_port())
    };
    let simulator = Simulator::start(calm, stop.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("audit.db").display());
    let app_database = database.clone();
    let app = app_on_with(simulator.address, "switchboard", |args| {
        args.database_url = Some(app_database)
    })
    .await;
    // Wait until some agent talks and another is idle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (talking, idle) = loop {
        let agents = app.system_state().await.agents;
        let logged_in = |a: &&switchboard::proto::v1::Agent| {
            a.status() != switchboard::proto::v1::AgentStatus::Offline
        };
        let talking = agents
            .iter()
            .filter(logged_in)
            .find(|a| !a.current_call_ids.is_empty())
            .map(|a| (a.extension.clone(), a.current_call_ids[0].clone()));
        let idle = agents
            .iter()
            .filter(logged_in)
            .find(|a| a.current_call_ids.is_empty())
            .map(|a| a.extension.clone());
        let found = talking.zip(idle);
        if let Some(found) = found {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "no agent on a call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (agent, call_id) = talking;
    let call_unique_id = app
        .system_state()
        .await
        .calls
        .into_iter()
        .find(|c| c.call_id == call_id)
        .and_then(|c| c.ids)
        .map(|ids| ids.ami_uniqueid)
        .expect("the call is in the state");
    let supervisor = token(Role::Supervisor, Some("2001"), None);
    let mut client = SupervisorServiceClient::new(app.channel().await);
    let mut sessions = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![EventKind::SpySession as i32],
                ..Default::default()
            },
            &supervisor,
        )
        .await;

    let response = client
        .monitor(authed(
            MonitorRequest {
                agent_extension: agent.clone(),
                call_unique_id: call_unique_id.clone(),
                supervisor_extension: String::new(),
            },
            &supervisor,
        ))
        .await
        .expect("monitor accepted")
        .into_inner();
    let action = response.action.unwrap();
    assert_eq!(action.status(), SupervisorActionStatus::Accepted);
    assert_eq!(action.supervisor_extension, "2001");
    let session = tokio::time::timeout(Duration::from_secs(5), sessions.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(Payload::SpySession(session)) = session.event.unwrap().payload else {
        panic!("a spy session event")
    };
    assert!(session.active);
    assert_eq!(session.agent_extension, agent);
    assert_eq!(session.call_id, call_id);
    assert_eq!(session.supervisor_extension, "2001");

    // Refusals, each with its own code.
    let refused = |request: MonitorRequest, who: String| {
        let mut client = client.clone();
        async move { client.monitor(authed(request, &who)).await.unwrap_err() }
    };
    let status = refused(
        MonitorRequest {
            agent_extension: "9999".into(),
            ..Default::default()
        },
        supervisor.clone(),
    )
    .await;
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    let status = refused(
        MonitorRequest {
            agent_extension: idle.clone(),
            ..Default::default()
        },
        supervisor.clone(),
    )
    .await;
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("not on a call"), "{status:?}");
    let status = refused(
        MonitorRequest {
            agent_extension: agent.clone(),
            ..Default::default()
        },
        token(Role::Agent, Some("1001"), None),
    )
    .await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    // A line break in the supervisor's phone would inject AMI fields: the
    // order is invalid (AMI is up), and nothing reaches the PBX.
    let status = refused(
        MonitorRequest {
            agent_extension: agent.clone(),
            call_unique_id: call_unique_id.clone(),
            supervisor_extension: "2001\r\nAction: Hangup".into(),
        },
        token(Role::Supervisor, None, None),
    )
    .await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(!status.message().contains("AMI is down"), "{status:?}");

    // Socket.IO: whisper and barge with acknowledgements, the seed's payloads.
    let whisper = format!(r#"{{"agentExtension":"{agent}"}}"#);
    let nobody = r#"{"agentExtension":"9999"}"#;
    let watcher = app.start_socket_watcher(
        &supervisor,
        &[
            "--seconds",
            "60",
            "--emit",
            "supervisor:whisper",
            &whisper,
            "--emit",
            "supervisor:barge",
            nobody,
        ],
    );
    watcher.wait_for("ack:supervisor:whisper", 1).await;
    watcher.wait_for("ack:supervisor:barge", 1).await;
    let lines = watcher.finish().await;
    let ack = |name: &str| {
        lines
            .iter()
            .find(|l| l["event"] == format!("ack:{name}"))
            .unwrap_or_else(|| panic!("ack for {name}: {lines:?}"))["data"]
            .clone()
    };
    assert_eq!(ack("supervisor:whisper")["status"], "accepted");
    assert_eq!(ack("supervisor:whisper")["mode"], "whisper");
    assert_eq!(ack("supervisor:barge")["error"], "not_found");

    // The audit trail holds every one of them, in the database.
    let store = switchboard::store::Store::connect(&database).await.unwrap();
    let audit = store.supervisor_actions(10).await.unwrap();
    let modes: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.mode.as_str(), a.status.as_str()))
        .collect();
    assert!(modes.contains(&("monitor", "accepted")), "{modes:?}");
    assert!(modes.contains(&("whisper", "accepted")), "{modes:?}");
    stop.cancel();
    app.stop().await.unwrap();
}
