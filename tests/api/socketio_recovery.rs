//! Socket.IO connection state recovery on one node, without Redis: a
//! dashboard whose connection drops comes back within the recovery time
//! and gets exactly what its rooms had meanwhile, as the same socket; a
//! client that comes back too late, as someone else, or with an offset the
//! gateway never sent gets today's greeting; with recovery off the wire is
//! as it was. The PBX is an AMI peer on loopback.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::auth::Role;

use crate::ami_peer::{PeerCall, app_with_peer};
use crate::cable::Cable;
use crate::helpers::{TestApp, token, token_for, until};
use crate::raw_socket::RawSocket;

/// Events that are whole pictures, not single happenings: greetings and
/// whole lists, which a recovered socket gets only the newest of.
const PICTURES: &[&str] = &[
    "system_state",
    "calls:active",
    "agents:status",
    "queues:stats",
    "ami:connected",
];

/// The single events of a watcher's lines, as (name, payload), in order.
fn singles(lines: &[Value]) -> Vec<(String, Value)> {
    lines
        .iter()
        .filter(|line| line.get("offset").is_some())
        .filter(|line| !PICTURES.contains(&line["event"].as_str().unwrap_or("")))
        .map(|line| {
            (
                line["event"].as_str().unwrap().to_owned(),
                line["data"].clone(),
            )
        })
        .collect()
}

/// An offset as the gateway writes it, as an ordered pair.
fn offset_of(text: &str) -> (u64, u64) {
    match text.split_once('-') {
        Some((sequence, index)) => (sequence.parse().unwrap(), index.parse().unwrap()),
        None => (text.parse().unwrap(), u64::MAX),
    }
}

async fn socketio_connections(app: &TestApp) -> i64 {
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_connections{transport=\"socketio\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

async fn recoveries(app: &TestApp, outcome: &str) -> u64 {
    let prefix = format!("switchboard_socketio_recoveries_total{{outcome=\"{outcome}\"}} ");
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the server has `count` Socket.IO clients connected.
async fn sockets_become(app: &TestApp, count: i64) {
    until(
        &format!("{count} sockets connected"),
        Duration::from_secs(20),
        async || (socketio_connections(app).await == count).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_dropped_for_a_few_seconds_recovers_every_missed_event() {
    let (app, peer) = app_with_peer(|_| {}).await;
    let cable = Cable::to(app.address).await;
    let admin = token(Role::Admin, None, None);
    let args = ["--reconnect", "--seconds", "90"];
    let steady = app.start_socket_watcher(&admin, &args);
    let cable_url = cable.url();
    let dropped = app.start_socket_watcher(&admin, &[&cable_url, "--reconnect", "--seconds", "90"]);
    for watcher in [&steady, &dropped] {
        watcher.wait_for("system_state", 1).await;
    }
    sockets_become(&app, 2).await;

    let first = PeerCall::new(1, "254700000001", "");
    peer.send(first.rings());
    for watcher in [&steady, &dropped] {
        watcher.wait_for("call:new", 1).await;
    }

    // The network between the dashboard and the server goes.
    cable.cut();
    dropped.wait_for("disconnect", 1).await;
    sockets_become(&app, 1).await;
    for n in 2..=4 {
        peer.send(PeerCall::new(n, &format!("25470000000{n}"), "").rings());
    }
    peer.send(PeerCall::new(3, "254700000003", "").answered());
    peer.send(first.ends());
    steady
        .wait_until("the gap's events", |lines| {
            let count = |name: &str| lines.iter().filter(|l| l["event"] == name).count();
            count("call:new") == 4 && count("call:ended") == 1 && count("call:answered") == 1
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cable.mend();

    dropped.wait_for("connect", 2).await;
    dropped
        .wait_until("the missed events", |lines| {
            let count = |name: &str| lines.iter().filter(|l| l["event"] == name).count();
            count("call:new") == 4 && count("call:ended") == 1 && count("call:answered") == 1
        })
        .await;
    // Live events follow the missed ones.
    peer.send(PeerCall::new(5, "254700000005", "").rings());
    for watcher in [&steady, &dropped] {
        watcher.wait_for("call:new", 5).await;
    }
    let (steady_lines, dropped_lines) = (steady.lines(), dropped.lines());

    let connects: Vec<&Value> = dropped_lines
        .iter()
        .filter(|l| l["event"] == "connect")
        .collect();
    assert_eq!(connects[0]["data"]["recovered"], false, "{connects:?}");
    assert_eq!(connects[1]["data"]["recovered"], true, "{connects:?}");
    assert_eq!(
        connects[0]["data"]["id"], connects[1]["data"]["id"],
        "the recovered socket keeps its id"
    );
    let after_return = dropped_lines
        .iter()
        .skip_while(|l| *l != connects[1])
        .map(|l| l["event"].as_str().unwrap_or(""))
        .collect::<Vec<_>>();
    assert!(
        !after_return.contains(&"system_state"),
        "a recovered socket is not greeted again: {after_return:?}"
    );
    assert!(!singles(&steady_lines).is_empty());
    assert_eq!(
        singles(&dropped_lines),
        singles(&steady_lines),
        "the dropped dashboard read every event the steady one did, once, in order"
    );
    let offsets: Vec<(u64, u64)> = dropped_lines
        .iter()
        .filter_map(|l| l["offset"].as_str())
        .map(offset_of)
        .collect();
    assert!(
        offsets.windows(2).all(|pair| pair[0] <= pair[1]),
        "offsets never go back: {offsets:?}"
    );
    let emissions: Vec<&(u64, u64)> = offsets.iter().filter(|o| o.1 != u64::MAX).collect();
    assert!(
        emissions.windows(2).all(|pair| pair[0] < pair[1]),
        "each emission once: {offsets:?}"
    );
    assert_eq!(recoveries(&app, "recovered").await, 1);
}

/// Reads events until `name`; returns its arguments.
async fn read_until(socket: &mut RawSocket, name: &str) -> Vec<Value> {
    let read = async {
        loop {
            let (event, args) = socket.next_event_args().await.expect("connected");
            if event == name {
                return args;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("{name} did not come"))
}

/// The first event a socket reads, within a second; `None` when quiet.
async fn first_event(socket: &mut RawSocket) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(1), socket.next_event_args())
        .await
        .ok()
        .flatten()
        .map(|(name, _)| name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_comes_back_only_as_itself_with_a_sent_offset_and_in_time() {
    let (app, peer) = app_with_peer(|args| args.socketio_recovery_seconds = Some("3".into())).await;
    let admin = token(Role::Admin, None, None);
    let mut socket = RawSocket::connect(app.address, &admin).await;
    let (sid, pid) = (
        socket.answer["sid"].as_str().unwrap().to_owned(),
        socket.answer["pid"]
            .as_str()
            .expect("recovery is offered")
            .to_owned(),
    );
    let greeting = read_until(&mut socket, "system_state").await;
    assert!(
        greeting.last().and_then(Value::as_str).is_some(),
        "the greeting carries an offset: {greeting:?}"
    );
    peer.send(PeerCall::new(1, "254700000001", "").rings());
    let call = read_until(&mut socket, "call:new").await;
    let offset = call.last().and_then(Value::as_str).unwrap().to_owned();
    socket.drop_transport();
    sockets_become(&app, 0).await;
    peer.send(PeerCall::new(2, "254700000002", "").rings());

    // Someone else with that session id is a new socket, greeted; the
    // session stays for its owner.
    let supervisor = token_for(Role::Supervisor, "someone-else", None);
    let auth = json!({ "token": supervisor, "pid": pid, "offset": offset });
    let mut other = RawSocket::connect_with(app.address, auth).await.unwrap();
    assert_ne!(other.answer["sid"], sid.as_str());
    assert_ne!(other.answer["pid"], pid.as_str());
    assert_eq!(
        first_event(&mut other).await.as_deref(),
        Some("system_state")
    );
    assert_eq!(recoveries(&app, "other_identity").await, 1);

    // An offset the gateway never sent: greeted, and the session stays.
    let auth = json!({ "token": admin, "pid": pid, "offset": "yesterday" });
    let mut odd = RawSocket::connect_with(app.address, auth).await.unwrap();
    assert_ne!(odd.answer["sid"], sid.as_str());
    assert_eq!(first_event(&mut odd).await.as_deref(), Some("system_state"));
    assert_eq!(recoveries(&app, "bad_offset").await, 1);

    // Its owner comes back: the same socket, and the call it missed.
    let auth = json!({ "token": admin, "pid": pid, "offset": offset });
    let mut back = RawSocket::connect_with(app.address, auth).await.unwrap();
    assert_eq!(back.answer, json!({ "sid": sid, "pid": pid }));
    let mut missed = Vec::new();
    let call = loop {
        let (name, args) = back.next_event_args().await.expect("connected");
        missed.push(name.clone());
        if name == "call:new" {
            break args;
        }
    };
    assert!(
        !missed.contains(&"system_state".to_owned()),
        "what it missed, no greeting: {missed:?}"
    );
    assert_eq!(call[0]["callerid"], "254700000002", "{call:?}");
    assert_eq!(recoveries(&app, "recovered").await, 1);

    // A session restores once; and one kept past its time is gone.
    let auth = json!({ "token": admin, "pid": pid, "offset": offset });
    let mut again = RawSocket::connect_with(app.address, auth).await.unwrap();
    assert_ne!(again.answer["sid"], sid.as_str());
    assert_eq!(
        first_event(&mut again).await.as_deref(),
        Some("system_state")
    );
    back.drop_transport();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let auth = json!({ "token": admin, "pid": pid, "offset": offset });
    let mut late = RawSocket::connect_with(app.address, auth).await.unwrap();
    assert_ne!(late.answer["sid"], sid.as_str());
    assert_eq!(
        first_event(&mut late).await.as_deref(),
        Some("system_state")
    );
    assert!(recoveries(&app, "unknown_session").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_recovery_off_the_wire_is_as_before() {
    let (app, peer) = app_with_peer(|args| args.socketio_recovery_seconds = Some("0".into())).await;
    let admin = token(Role::Admin, None, None);
    let mut socket = RawSocket::connect(app.address, &admin).await;
    assert!(socket.answer.get("pid").is_none(), "{}", socket.answer);
    assert_eq!(read_until(&mut socket, "system_state").await.len(), 1);
    peer.send(PeerCall::new(1, "254700000001", "").rings());
    let call = read_until(&mut socket, "call:new").await;
    assert_eq!(call.len(), 1, "one argument, no offset: {call:?}");
}
