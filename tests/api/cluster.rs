//! Several nodes on one Redis and one Postgres (`--cluster`), fed by the
//! ARI simulator: one node ingests under the lease, the other stands by and
//! serves the same events; when the leader is cut off from Redis it stops
//! ingesting before its lease can expire, and the standby takes over,
//! rebuilds from the PBX and carries on, its clients seeing no gap and no
//! duplicate, only the rebuild's explicit `Resync`.

use std::time::{Duration, Instant};

use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, event::Payload};
use tokio_util::sync::CancellationToken;
use tonic::Streaming;

use crate::agent_bridge::{start_sim, uses_sim};
use crate::cable::Cable;
use crate::events::next;
use crate::helpers::{
    Postgres, TestApp, spawn_app_with, test_redis_url, token, unique_cluster_name,
};

/// A node of deployment `name`, reaching Redis at `redis` and the PBX `sim`.
pub(crate) async fn node(
    name: &str,
    node: &str,
    redis: String,
    database: &str,
    sim: &switchboard::devtools::sim::ari::AriSim,
    dir: &std::path::Path,
) -> TestApp {
    node_with(name, node, redis, database, sim, dir, |_| {}).await
}

/// As [`node`], with settings of the test's own (`extra`).
pub(crate) async fn node_with(
    name: &str,
    node: &str,
    redis: String,
    database: &str,
    sim: &switchboard::devtools::sim::ari::AriSim,
    dir: &std::path::Path,
    extra: impl FnOnce(&mut switchboard::config::ServeArgs),
) -> TestApp {
    let (name, node, database) = (name.to_owned(), node.to_owned(), database.to_owned());
    spawn_app_with(move |args| {
        extra(args);
        uses_sim(args, sim, dir);
        args.redis_url = Some(redis);
        args.cluster_name = Some(name);
        args.cluster = Some("true".into());
        args.node_name = Some(node);
        args.lease_seconds = Some("2".into());
        args.database_url = Some(database);
    })
    .await
}

pub(crate) async fn health(app: &TestApp) -> serde_json::Value {
    reqwest::get(format!("{}/healthz", app.url()))
        .await
        .expect("healthz answers")
        .json()
        .await
        .expect("healthz is JSON")
}

pub(crate) async fn until_ingest(app: &TestApp, role: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let health = health(app).await;
        if health["ingest"] == role {
            return;
        }
        assert!(Instant::now() < deadline, "never {role}: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn leader_gauge(app: &TestApp) -> i64 {
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_cluster_leader "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A cable to the test Redis, and the URL that goes through it.
async fn redis_cable() -> (Cable, String) {
    let address: std::net::SocketAddr = test_redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("TEST_REDIS_URL is redis://host:port");
    let cable = Cable::to(address).await;
    let url = format!("redis://{}", cable.address);
    (cable, url)
}

/// Two nodes of one deployment on the ARI simulator: `a` ingests, `b` stands by.
pub(crate) struct Pair {
    stop: CancellationToken,
    pub(crate) sim: switchboard::devtools::sim::ari::AriSim,
    postgres: Postgres,
    /// The deployment's name, and its Postgres URL, for a third node.
    pub(crate) name: String,
    pub(crate) database: String,
    pub(crate) a: TestApp,
    pub(crate) b: TestApp,
    pub(crate) dir: tempfile::TempDir,
}

impl Pair {
    /// The pair, node a reaching Redis at `redis_a` and b at `redis_b`.
    pub(crate) async fn start_with(redis_a: String, redis_b: String) -> Pair {
        Pair::start_configured(redis_a, redis_b, |_| {}).await
    }

    /// As [`Pair::start_with`], both nodes with settings of the test's own (`extra`).
    pub(crate) async fn start_configured(
        redis_a: String,
        redis_b: String,
        extra: impl Fn(&mut switchboard::config::ServeArgs),
    ) -> Pair {
        let stop = CancellationToken::new();
        let sim = start_sim(&stop).await;
        let dir = tempfile::tempdir().unwrap();
        let (postgres, database) = Postgres::create().await;
        let name = unique_cluster_name();
        let a = node_with(
            &name,
            "node-a",
            redis_a,
            &database,
            &sim,
            dir.path(),
            &extra,
        )
        .await;
        until_ingest(&a, "leader", Duration::from_secs(10)).await;
        let b = node_with(
            &name,
            "node-b",
            redis_b,
            &database,
            &sim,
            dir.path(),
            &extra,
        )
        .await;
        until_ingest(&b, "standby", Duration::from_secs(5)).await;
        wait_for_listeners(&sim, 1).await;
        Pair {
            stop,
            sim,
            postgres,
            name,
            database,
            a,
            b,
            dir,
        }
    }

    async fn start() -> Pair {
        Pair::start_with(test_redis_url(), test_redis_url()).await
    }

    pub(crate) async fn close(mut self) {
        self.stop.cancel();
        let _ = self.b.halt().await;
        let _ = self.a.halt().await;
        self.postgres.drop_database().await;
    }
}

/// Reads `stream` until `found` picks an event; every event read.
pub(crate) async fn read_until(
    stream: &mut Streaming<pb::SubscribeResponse>,
    read: &mut Vec<pb::Event>,
    found: impl Fn(&pb::Event) -> bool,
) {
    loop {
        let event = next(stream).await;
        let done = found(&event);
        read.push(event);
        if done {
            return;
        }
    }
}

/// Waits until `count` ARI clients listen to the simulator's events.
async fn wait_for_listeners(sim: &switchboard::devtools::sim::ari::AriSim, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.listeners() < count {
        assert!(Instant::now() < deadline, "the ARI source never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn is_call_start(event: &pb::Event, call: &str) -> bool {
    matches!(&event.payload, Some(Payload::IncomingQueueCall(c)) if c.session_id == call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_redis_steps_down_and_the_standby_takes_over_without_a_gap() {
    let (cable, through_cable) = redis_cable().await;
    let pair = Pair::start_with(through_cable, test_redis_url()).await;
    let (sim, a, b) = (&pair.sim, &pair.a, &pair.b);
    assert_eq!(health(b).await["node"], "node-b");

    let supervisor = token(Role::Supervisor, None, None);
    let mut on_b = b
        .subscribe(pb::SubscribeRequest::default(), &supervisor)
        .await;
    let first = sim.customer_calls("254700000001", "Customer", "8000", &["queue", "8000"]);
    let first_id = format!("ari-{first}");
    let mut read = Vec::new();
    read_until(&mut on_b, &mut read, |e| is_call_start(e, &first_id)).await;

    // The leader loses Redis. Watch that the two never ingest at once.
    cable.cut();
    let cut_at = Instant::now();
    let mut leaders_at_once = 0;
    let took_over = loop {
        let (on_a, on_b_now) = (leader_gauge(a).await, leader_gauge(b).await);
        if on_a == 1 && on_b_now == 1 {
            leaders_at_once += 1;
        }
        if on_b_now == 1 {
            break cut_at.elapsed();
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(15),
            "the standby never took over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(leaders_at_once, 0, "two nodes ingested at once");
    assert_eq!(health(a).await["ingest"], "standby");
    assert!(
        took_over < Duration::from_secs(6),
        "took over {took_over:?} after the cut (lease 2 s)"
    );

    // The new leader rebuilt from the PBX: the call goes on, then ends.
    read_until(&mut on_b, &mut read, |e| {
        matches!(&e.payload, Some(Payload::Resync(r)) if r.reason() == pb::ResyncReason::SourceRebuilt)
    })
    .await;
    let Some(Payload::Resync(resync)) = &read.last().unwrap().payload else {
        unreachable!()
    };
    let calls: Vec<&str> = resync
        .snapshot
        .as_ref()
        .unwrap()
        .calls
        .iter()
        .map(|c| c.call_id.as_str())
        .collect();
    assert_eq!(calls, [first_id.as_str()], "the call in progress, no ghost");
    sim.customer_hangs_up(&first);
    read_until(
        &mut on_b,
        &mut read,
        |e| matches!(&e.payload, Some(Payload::StasisCallEnded(c)) if c.session_id == first_id),
    )
    .await;
    let second = sim.customer_calls("254700000002", "Customer", "8000", &["queue", "8000"]);
    read_until(&mut on_b, &mut read, |e| {
        is_call_start(e, &format!("ari-{second}"))
    })
    .await;

    let sequences: Vec<u64> = read.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "no gap, no duplicate: {sequences:?}"
    );
    let epochs: std::collections::BTreeSet<&str> = read.iter().map(|e| e.epoch.as_str()).collect();
    assert_eq!(epochs.len(), 1, "one epoch across the failover");

    drop(on_b);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_sent_to_a_standby_reaches_the_pbx_and_is_answered_as_on_one_node() {
    use switchboard::proto::v1::call_control_service_client::CallControlServiceClient;
    let pair = Pair::start().await;
    let (sim, a, b) = (&pair.sim, &pair.a, &pair.b);

    let supervisor = token(Role::Supervisor, None, None);
    let mut on_b = b
        .subscribe(pb::SubscribeRequest::default(), &supervisor)
        .await;
    let waiting = sim.customer_calls("254700000001", "Customer", "8000", &["queue", "8000"]);
    let call_id = format!("ari-{waiting}");
    let mut read = Vec::new();
    read_until(&mut on_b, &mut read, |e| is_call_start(e, &call_id)).await;

    let mut control = CallControlServiceClient::new(b.channel().await);
    let assigned = control
        .assign_queue_call(crate::helpers::authed(
            pb::AssignQueueCallRequest {
                session_id: call_id.clone(),
                extension: "1001".into(),
            },
            &supervisor,
        ))
        .await
        .expect("the standby's command is carried out by the leader")
        .into_inner();
    assert_eq!(assigned.call.unwrap().queue, "8000");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.ringing_at("PJSIP/1001").is_none() {
        assert!(Instant::now() < deadline, "the agent's phone never rang");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A refusal comes back as the one node gives it.
    let refused = control
        .assign_queue_call(crate::helpers::authed(
            pb::AssignQueueCallRequest {
                session_id: "ari-no-such-call".into(),
                extension: "1002".into(),
            },
            &supervisor,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
    let agent = token(Role::Agent, Some("1002"), None);
    let not_theirs = control
        .hangup_call(crate::helpers::authed(
            pb::HangupCallRequest {
                session_id: call_id.clone(),
            },
            &agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        not_theirs.code(),
        tonic::Code::PermissionDenied,
        "{not_theirs:?}"
    );

    // An admin's change on the standby is numbered once, by the leader.
    b.set_system_mode("from-the-standby").await;
    read_until(&mut on_b, &mut read, |e| {
        matches!(&e.payload, Some(Payload::SystemModeUpdate(u)) if u.mode == "from-the-standby")
    })
    .await;
    assert_eq!(a.system_state().await.system_mode, "from-the-standby");

    drop(on_b);
    pair.close().await;
}

/// Reads a raw socket's events until `name`; its arguments, and every event name read.
async fn raw_until(
    socket: &mut crate::raw_socket::RawSocket,
    name: &str,
    read: &mut Vec<String>,
) -> Vec<serde_json::Value> {
    let wait = async {
        loop {
            let (event, args) = socket.next_event_args().await.expect("connected");
            read.push(event.clone());
            if event == name {
                return args;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("{name} did not come: {read:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dashboard_whose_node_went_recovers_on_another_node() {
    use crate::raw_socket::RawSocket;
    let mut pair = Pair::start().await;
    let (sim, a, b) = (&pair.sim, &pair.a, &pair.b);

    let admin = token(Role::Admin, None, None);
    let mut socket = RawSocket::connect(b.address, &admin).await;
    let (sid, pid) = (
        socket.answer["sid"].as_str().unwrap().to_owned(),
        socket.answer["pid"].as_str().unwrap().to_owned(),
    );
    // An npm dashboard behind a load balancer, on b too.
    let balancer = Cable::to(b.address).await;
    let helper = TestApp::detached(a.address);
    let balanced_url = balancer.url();
    let moved =
        helper.start_socket_watcher(&admin, &[&balanced_url, "--reconnect", "--seconds", "60"]);
    moved.wait_for("system_state", 1).await;
    let mut read = Vec::new();
    raw_until(&mut socket, "system_state", &mut read).await;
    sim.customer_calls("254700000001", "Customer", "8000", &["queue", "8000"]);
    let first = raw_until(&mut socket, "incoming_queue_call", &mut read).await;
    let offset = first.last().and_then(|o| o.as_str()).unwrap().to_owned();
    moved.wait_for("incoming_queue_call", 1).await;

    // The dashboards' node stops (a rolling restart): it closes their
    // transports without telling them they were disconnected, so that they
    // come back by themselves; the balancer sends them to the other node.
    balancer.redirect(a.address);
    let _ = pair.b.halt().await;
    let last_words = socket.until_closed().await;
    assert!(
        !last_words.iter().any(|packet| packet.starts_with("41")),
        "no namespace disconnect: {last_words:?}"
    );
    sim.customer_calls("254700000002", "Customer", "8000", &["queue", "8000"]);

    // The raw one comes back with its pid and offset.
    let auth = serde_json::json!({ "token": admin, "pid": pid, "offset": offset });
    let mut back = RawSocket::connect_with(a.address, auth).await.unwrap();
    assert_eq!(
        back.answer["sid"],
        sid.as_str(),
        "the same socket, on the other node"
    );
    let mut missed = Vec::new();
    let second = raw_until(&mut back, "incoming_queue_call", &mut missed).await;
    assert_eq!(second[0]["customerNumber"], "254700000002", "{second:?}");
    assert!(
        !missed.contains(&"system_state".to_owned()),
        "what it missed, not a greeting: {missed:?}"
    );

    // The npm one reconnected by itself ("transport close") and recovered.
    moved.wait_for("incoming_queue_call", 2).await;
    let lines = moved.lines();
    let disconnects: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"] == "disconnect")
        .collect();
    assert_eq!(
        disconnects.first().map(|l| &l["data"]["reason"]),
        Some(&serde_json::json!("transport close")),
        "{lines:?}"
    );
    let connects: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "connect").collect();
    assert_eq!(
        connects.last().map(|l| &l["data"]["recovered"]),
        Some(&serde_json::json!(true)),
        "{connects:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["event"] == "system_state")
            .count(),
        1,
        "recovered, not greeted again: {lines:?}"
    );

    drop(moved);
    pair.close().await;
}

/// A node as its own process (`switchboard serve --cluster`), so that a test
/// can kill it with SIGKILL.
struct NodeProcess {
    child: tokio::process::Child,
    address: std::net::SocketAddr,
    _log: tokio::task::JoinHandle<String>,
}

impl NodeProcess {
    async fn start(
        name: &str,
        node: &str,
        database: &str,
        sim: &switchboard::devtools::sim::ari::AriSim,
        dir: &std::path::Path,
    ) -> NodeProcess {
        let agents = dir.join("agents.toml");
        std::fs::write(&agents, crate::agent_bridge::AGENTS).unwrap();
        let mut child = crate::cli::binary()
            .arg("serve")
            .arg("--cluster")
            .env("SOCKET_PORT", "0")
            .env("DATABASE_URL", database)
            .env("REDIS_URL", test_redis_url())
            .env("CLUSTER_NAME", name)
            .env("NODE_NAME", node)
            .env("LEASE_SECONDS", "2")
            .env("JWT_SECRET", crate::helpers::SECRET)
            .env("ARI_URL", sim.url())
            .env("ARI_USERNAME", "switchboard")
            .env("ARI_PASSWORD", "secret")
            .env("AGENTS_FILE", &agents)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("a node starts");
        let (address, log) = crate::cli::reported_address(&mut child).await;
        NodeProcess {
            child,
            address,
            _log: log,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    async fn health(&self) -> serde_json::Value {
        match reqwest::get(format!("{}/healthz", self.url())).await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    }

    async fn subscribe(&self, request: pb::SubscribeRequest) -> Streaming<pb::SubscribeResponse> {
        let channel = tonic::transport::Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .expect("grpc connects");
        pb::event_service_client::EventServiceClient::new(channel)
            .subscribe(crate::helpers::authed(
                request,
                &token(Role::Supervisor, None, None),
            ))
            .await
            .expect("subscribed")
            .into_inner()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_lose_nothing_when_the_leader_is_killed_mid_call() {
    let stop = CancellationToken::new();
    let sim = start_sim(&stop).await;
    let dir = tempfile::tempdir().unwrap();
    let (postgres, database) = Postgres::create().await;
    let name = unique_cluster_name();
    let first = NodeProcess::start(&name, "n1", &database, &sim, dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while first.health().await["ingest"] != "leader" {
        assert!(Instant::now() < deadline, "n1 never ingested");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = NodeProcess::start(&name, "n2", &database, &sim, dir.path()).await;
    let third = NodeProcess::start(&name, "n3", &database, &sim, dir.path()).await;
    assert_eq!(second.health().await["ingest"], "standby");
    assert_eq!(third.health().await["ingest"], "standby");
    wait_for_listeners(&sim, 1).await;

    // A dashboard on the leader, behind a load balancer; a steady one on n3.
    let balancer = Cable::to(first.address).await;
    let admin = token(Role::Admin, None, None);
    let helper = crate::helpers::TestApp::detached(third.address);
    let balanced_url = balancer.url();
    let moved =
        helper.start_socket_watcher(&admin, &[&balanced_url, "--reconnect", "--seconds", "90"]);
    let steady = helper.start_socket_watcher(&admin, &["--reconnect", "--seconds", "90"]);
    for watcher in [&moved, &steady] {
        watcher.wait_for("system_state", 1).await;
    }
    let mut on_leader = first.subscribe(pb::SubscribeRequest::default()).await;
    let mut on_standby = second.subscribe(pb::SubscribeRequest::default()).await;
    let call = sim.customer_calls("254700000001", "Customer", "8000", &["queue", "8000"]);
    let call_id = format!("ari-{call}");
    let (mut leader_read, mut standby_read) = (Vec::new(), Vec::new());
    read_until(&mut on_leader, &mut leader_read, |e| {
        is_call_start(e, &call_id)
    })
    .await;
    read_until(&mut on_standby, &mut standby_read, |e| {
        is_call_start(e, &call_id)
    })
    .await;
    for watcher in [&moved, &steady] {
        watcher.wait_for("incoming_queue_call", 1).await;
    }

    // kill -9 the leader mid-call; the balancer sends its clients to n2.
    let mut killed = first;
    killed.child.start_kill().expect("SIGKILL");
    let _ = killed.child.wait().await;
    let killed_at = Instant::now();
    balancer.redirect(second.address);
    let took_over = loop {
        let (h2, h3) = (second.health().await, third.health().await);
        let leaders = [&h2, &h3]
            .iter()
            .filter(|h| h["ingest"] == "leader")
            .count();
        assert!(leaders <= 1, "two leaders: {h2} {h3}");
        if leaders == 1 {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(15),
            "nobody took over"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    eprintln!("failover: another node ingests {took_over:?} after the kill (lease 2 s)");
    assert!(took_over < Duration::from_secs(5), "{took_over:?}");

    // The call goes on under the new leader, then ends; a new one comes.
    read_until(&mut on_standby, &mut standby_read, |e| {
        matches!(&e.payload, Some(Payload::Resync(r)) if r.reason() == pb::ResyncReason::SourceRebuilt)
    })
    .await;
    sim.customer_hangs_up(&call);
    read_until(
        &mut on_standby,
        &mut standby_read,
        |e| matches!(&e.payload, Some(Payload::StasisCallEnded(c)) if c.session_id == call_id),
    )
    .await;
    let next = sim.customer_calls("254700000002", "Customer", "8000", &["queue", "8000"]);
    let next_id = format!("ari-{next}");
    read_until(&mut on_standby, &mut standby_read, |e| {
        is_call_start(e, &next_id)
    })
    .await;
    let sequences: Vec<u64> = standby_read.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "a surviving node's client: no gap, no duplicate: {sequences:?}"
    );

    // The killed node's gRPC client resumes on a survivor with no gap.
    let last = leader_read.last().unwrap();
    let mut resumed = second
        .subscribe(pb::SubscribeRequest {
            resume_after: last.sequence,
            epoch: last.epoch.clone(),
            ..Default::default()
        })
        .await;
    let mut resumed_read = Vec::new();
    read_until(&mut resumed, &mut resumed_read, |e| {
        is_call_start(e, &next_id)
    })
    .await;
    let after_last: Vec<&pb::Event> = standby_read
        .iter()
        .filter(|e| e.sequence > last.sequence)
        .collect();
    assert_eq!(
        resumed_read.iter().collect::<Vec<_>>(),
        after_last,
        "exactly what it missed"
    );

    // The killed node's Socket.IO client came back on n2 as the same socket.
    for watcher in [&moved, &steady] {
        watcher.wait_for("incoming_queue_call", 2).await;
    }
    let moved_lines = moved.lines();
    let connects: Vec<&serde_json::Value> = moved_lines
        .iter()
        .filter(|l| l["event"] == "connect")
        .collect();
    assert!(connects.len() >= 2, "{moved_lines:?}");
    assert_eq!(
        connects.last().unwrap()["data"]["recovered"],
        true,
        "{connects:?}"
    );
    let singles = |lines: &[serde_json::Value]| -> Vec<(String, serde_json::Value)> {
        lines
            .iter()
            .filter(|l| l.get("offset").is_some())
            .filter(|l| {
                ![
                    "system_state",
                    "calls:active",
                    "agents:status",
                    "queues:stats",
                ]
                .contains(&l["event"].as_str().unwrap_or(""))
            })
            .map(|l| (l["event"].as_str().unwrap().to_owned(), l["data"].clone()))
            .collect()
    };
    assert_eq!(
        singles(&moved_lines),
        singles(&steady.lines()),
        "the moved dashboard read every event the steady one did, once, in order"
    );

    stop.cancel();
    drop((second, third));
    postgres.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_of_redis_pauses_ingest_says_so_and_is_survived() {
    let ((to_a, via_a), (to_b, via_b)) = (redis_cable().await, redis_cable().await);
    let pair = Pair::start_with(via_a, via_b).await;
    let (sim, a, b) = (&pair.sim, &pair.a, &pair.b);

    let supervisor = token(Role::Supervisor, None, None);
    let mut on_b = b
        .subscribe(pb::SubscribeRequest::default(), &supervisor)
        .await;
    let call = sim.customer_calls("254700000001", "Customer", "8000", &["queue", "8000"]);
    let call_id = format!("ari-{call}");
    let mut read = Vec::new();
    read_until(&mut on_b, &mut read, |e| is_call_start(e, &call_id)).await;

    // Redis goes for everyone: nobody ingests, and each node says so.
    to_a.cut();
    to_b.cut();
    until_ingest(a, "standby", Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ha, hb) = (health(a).await, health(b).await);
        if ha["log"] == "unreachable" && hb["log"] == "unreachable" {
            assert_eq!(ha["status"], "degraded");
            assert_eq!(hb["ingest"], "standby");
            break;
        }
        assert!(Instant::now() < deadline, "never told: {ha} {hb}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Meanwhile the caller hangs up.
    sim.customer_hangs_up(&call);
    tokio::time::sleep(Duration::from_secs(2)).await;
    to_a.mend();
    to_b.mend();

    // One node ingests again, rebuilds: the call that ended meanwhile is gone.
    crate::redis_restart::until_one_leader(&pair).await;
    read_until(
        &mut on_b,
        &mut read,
        crate::redis_restart::rebuilt_without_calls,
    )
    .await;
    let next = sim.customer_calls("254700000002", "Customer", "8000", &["queue", "8000"]);
    read_until(&mut on_b, &mut read, |e| {
        is_call_start(e, &format!("ari-{next}"))
    })
    .await;
    let sequences: Vec<u64> = read.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "no gap, no duplicate: {sequences:?}"
    );

    drop(on_b);
    pair.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervisor_s_ami_barge_on_a_standby_reaches_the_pbx_through_the_leader() {
    use crate::ami_peer::{PeerCall, Script};
    use switchboard::proto::v1::supervisor_service_client::SupervisorServiceClient;
    let peer = crate::ami_peer::start(Script::default()).await;
    let (postgres, database) = Postgres::create().await;
    let name = unique_cluster_name();
    let redis = test_redis_url();
    let ami_node = |node: &'static str| {
        let (name, redis, database, port) =
            (name.clone(), redis.clone(), database.clone(), peer.port());
        spawn_app_with(move |args| {
            args.ami_host = Some("127.0.0.1".into());
            args.ami_port = Some(port);
            args.ami_username = Some("switchboard".into());
            args.ami_secret = Some("secret".into());
            args.redis_url = Some(redis);
            args.cluster_name = Some(name);
            args.cluster = Some("true".into());
            args.node_name = Some(node.into());
            args.lease_seconds = Some("2".into());
            args.database_url = Some(database);
        })
    };
    let a = ami_node("node-a").await;
    until_ingest(&a, "leader", Duration::from_secs(10)).await;
    let b = ami_node("node-b").await;
    until_ingest(&b, "standby", Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(&a).await["sources"]["ami"] != "connected" {
        assert!(
            Instant::now() < deadline,
            "the leader's AMI source never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peer.send(crate::ami_peer::agent_login("1001", "Agent One"));
    let call = PeerCall::new(1, "254700000001", "");
    peer.send(call.rings());
    peer.send(call.answered());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b
        .system_state()
        .await
        .calls
        .iter()
        .any(|c| c.agent_extension == "1001")
    {
        assert!(
            Instant::now() < deadline,
            "the standby never saw the answered call"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let supervisor = token(Role::Supervisor, Some("2001"), None);
    let mut client = SupervisorServiceClient::new(b.channel().await);
    let response = client
        .barge(crate::helpers::authed(
            pb::BargeRequest {
                agent_extension: "1001".into(),
                supervisor_extension: String::new(),
            },
            &supervisor,
        ))
        .await
        .expect("the standby's barge is carried out by the leader")
        .into_inner();
    assert_eq!(
        response.action.unwrap().status(),
        pb::SupervisorActionStatus::Accepted
    );
    let originate = crate::helpers::until(
        "the barge's Originate",
        Duration::from_secs(5),
        async || peer.originates().into_iter().next(),
    )
    .await;
    assert_eq!(originate.get("Channel"), Some("PJSIP/2001"));
    assert_eq!(originate.get("Context"), Some("spy-barge"));

    let _ = b.stop().await;
    let _ = a.stop().await;
    postgres.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_widget_on_one_node_talks_with_an_agent_on_another() {
    use crate::chat::{http, online};
    let (postgres, a, b) = chat_pair("30").await;

    // The agent's dashboard is on node A; node B knows the agent is online.
    let agent = crate::helpers::token_for(Role::Agent, "agent-123", Some("1001"));
    let dashboard = agent_dashboard(&a, "agent-123", "1001");
    online(&b, &["agent-123"]).await;

    // The widget talks to node B: its conversation goes to the agent online on A.
    let (conversation, customer) = widget_starts_a_conversation(&b, "Ann", "agent-123").await;
    for n in 1..=3 {
        let (status, sent) = http(
            &b,
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            Some(&customer),
            Some(serde_json::json!({"content": format!("message {n}"), "messageId": format!("w-{n}")})),
        )
        .await;
        assert_eq!(status, 201, "{sent}");
    }
    dashboard
        .wait_until("the widget's messages on the other node", |lines| {
            lines
                .iter()
                .filter(|l| l["event"] == "new-message" && l["data"]["senderType"] == "customer")
                .count()
                >= 4
        })
        .await;
    let heard: Vec<String> = dashboard
        .lines()
        .iter()
        .filter(|l| l["event"] == "new-message" && l["data"]["senderType"] == "customer")
        .map(|l| l["data"]["content"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        heard,
        ["Hello", "message 1", "message 2", "message 3"],
        "in order, once"
    );
    let (status, history) = http(
        &a,
        reqwest::Method::GET,
        &format!("/api/conversations/{conversation}"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(status, 200, "{history}");
    let stored: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        stored,
        ["Hello", "message 1", "message 2", "message 3"],
        "stored once"
    );

    drop(dashboard);
    let _ = b.stop().await;
    let _ = a.stop().await;
    postgres.drop_database().await;
}

/// Two nodes of one deployment with no PBX, for the chat: `a` ingests (and
/// expires agents silent for `heartbeat_timeout` seconds), `b` stands by.
async fn chat_pair(heartbeat_timeout: &str) -> (Postgres, TestApp, TestApp) {
    let (postgres, database) = Postgres::create().await;
    let name = unique_cluster_name();
    let chat_node = |node: &'static str| {
        let (name, database) = (name.clone(), database.clone());
        let heartbeat_timeout = heartbeat_timeout.to_owned();
        spawn_app_with(move |args| {
            args.redis_url = Some(test_redis_url());
            args.cluster_name = Some(name);
            args.cluster = Some("true".into());
            args.node_name = Some(node.into());
            args.lease_seconds = Some("2".into());
            args.database_url = Some(database);
            args.chat_heartbeat_timeout_seconds = Some(heartbeat_timeout);
        })
    };
    let a = chat_node("node-a").await;
    until_ingest(&a, "leader", Duration::from_secs(10)).await;
    let b = chat_node("node-b").await;
    until_ingest(&b, "standby", Duration::from_secs(5)).await;
    (postgres, a, b)
}

/// A widget starts a conversation on `node` as `customer_name`, which goes
/// to `agent_id`; its id and the customer's token.
async fn widget_starts_a_conversation(
    node: &TestApp,
    customer_name: &str,
    agent_id: &str,
) -> (String, String) {
    let (status, started) = crate::chat::http(
        node,
        reqwest::Method::POST,
        "/api/conversations",
        None,
        Some(serde_json::json!({"customerName": customer_name, "firstMessage": "Hello"})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["conversation"]["assignedAgentId"], agent_id);
    (
        started["conversation"]["id"].as_str().unwrap().to_owned(),
        started["customerToken"].as_str().unwrap().to_owned(),
    )
}

/// An agent's chat dashboard on `node`: it joins as `agent_id` and
/// heartbeats every half second (until told `["quiet"]`).
fn agent_dashboard(
    node: &TestApp,
    agent_id: &str,
    extension: &str,
) -> crate::helpers::SocketWatcher {
    let join = format!("\"{agent_id}\"");
    node.start_socket_watcher(
        &crate::helpers::token_for(Role::Agent, agent_id, Some(extension)),
        &[
            "--seconds",
            "60",
            "--emit",
            "join-agent-dashboard",
            &join,
            "--every",
            "500",
            "heartbeat",
            r#"{"timestamp": 1705312200000}"#,
        ],
    )
}

/// Typing and reassignment across nodes: a widget on node B and its agent
/// on node A see each other type; when the agent falls silent, the leader
/// hands the conversation to an agent whose dashboard is on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typing_and_reassignment_work_across_nodes() {
    use crate::chat::online;
    let (postgres, a, b) = chat_pair("2").await;
    let mut ann = agent_dashboard(&a, "agent-ann", "1001");
    online(&b, &["agent-ann"]).await;
    let (conversation, customer) = widget_starts_a_conversation(&b, "Cleo", "agent-ann").await;
    let bob = agent_dashboard(&b, "agent-bob", "1002");
    online(&a, &["agent-ann", "agent-bob"]).await;

    // The widget, on B, types; Ann, on A, sees it, types back; the widget sees that.
    let typing = serde_json::json!({"conversationId": conversation, "isTyping": true});
    let join = format!("\"{conversation}\"");
    let widget = b.start_socket_watcher(
        &customer,
        &[
            "--seconds",
            "60",
            "--emit",
            "join-conversation",
            &join,
            "--emit-at",
            "300",
            "customer-typing",
            &typing.to_string(),
        ],
    );
    widget.wait_for("ack:join-conversation", 1).await;
    ann.wait_for("customer-typing-status", 1).await;
    ann.command(serde_json::json!(["emit", "agent-typing", typing]))
        .await;
    widget.wait_for("agent-typing-status", 1).await;

    // Ann falls silent: the leader hands her conversation to Bob, on B.
    ann.command(serde_json::json!(["quiet"])).await;
    bob.wait_until("the conversation handed to Bob", |lines| {
        lines.iter().any(|l| {
            l["event"] == "tickets-reassigned"
                && l["data"]["reassignments"].as_array().is_some_and(|moved| {
                    moved.iter().any(|m| {
                        m["conversationId"] == conversation.as_str()
                            && m["fromAgentId"] == "agent-ann"
                            && m["toAgentId"] == "agent-bob"
                    })
                })
        })
    })
    .await;

    drop((ann, bob, widget));
    let _ = b.stop().await;
    let _ = a.stop().await;
    postgres.drop_database().await;
}

/// A transfer started on one node is followed on the other: Twilio's
/// status callbacks for its agent leg reach node b (as a load balancer may
/// send them), which finds the transfer in the shared store and streams its
/// progress; each update is numbered once, in the one log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_started_on_one_node_is_followed_on_another() {
    use crate::webhooks::{TwilioPeer, agent_leg_rings_answers_and_completes, uses_twilio_peer};
    let peer = TwilioPeer::default();
    let address = peer.clone().start().await;
    let pair = Pair::start_configured(test_redis_url(), test_redis_url(), move |args| {
        uses_twilio_peer(args, address)
    })
    .await;
    let (a, b) = (&pair.a, &pair.b);
    let watch = pb::SubscribeRequest {
        kinds: vec![pb::EventKind::TransferUpdate as i32],
        ..Default::default()
    };
    let supervisor = token(Role::Supervisor, None, None);
    let mut on_a = a.subscribe(watch.clone(), &supervisor).await;
    let mut on_b = b.subscribe(watch, &supervisor).await;

    // Started on b, the standby.
    let response = reqwest::Client::new()
        .post(format!("{}/api/transfers", b.url()))
        .bearer_auth(token(Role::Admin, None, None))
        .json(&serde_json::json!({
            "extension": "2001",
            "customer_call_sid": "CAcustomer42",
            "profile": {"name": "Ann", "email": "", "phone": "+254712345678",
                        "conversation_history": [], "activities": []}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    // Its agent leg's callbacks reach a, the leader.
    agent_leg_rings_answers_and_completes(a).await;
    for stream in [&mut on_a, &mut on_b] {
        let mut states = Vec::new();
        let mut sequences = Vec::new();
        while states.len() < 4 {
            let event = next(stream).await;
            if let Some(Payload::TransferUpdate(update)) = &event.payload {
                states.push(update.status());
                sequences.push(event.sequence);
            }
        }
        assert_eq!(
            states,
            [
                pb::TransferStatus::Initiated,
                pb::TransferStatus::Ringing,
                pb::TransferStatus::Answered,
                pb::TransferStatus::Completed
            ]
        );
        assert!(
            sequences.windows(2).all(|pair| pair[0] < pair[1]),
            "{sequences:?}"
        );
    }
    drop((on_a, on_b));
    pair.close().await;
}

/// A tenant's dashboard on the standby gets its tenant's `system_stats`,
/// which the leader publishes: the nodes tell each other which tenants
/// watch on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_watching_on_a_standby_gets_its_figures_from_the_leader() {
    let pair = Pair::start_configured(test_redis_url(), test_redis_url(), |args| {
        args.stats_interval_seconds = Some("1".into());
    })
    .await;
    let client = token(Role::Client, None, Some("acme"));
    let lines = pair.b.watch_socket(&client, &["--seconds", "5"]).await;
    let stats: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"] == "system_stats")
        .collect();
    assert!(
        !stats.is_empty(),
        "the tenant's figures reach its dashboard on the standby: {lines:?}"
    );
    assert!(
        stats
            .iter()
            .all(|l| l["data"]["systemHealth"]["activeConnections"] == 1),
        "its own one connection, counted on the node it is on: {stats:?}"
    );
    pair.close().await;
}
