//! Redis restarting under a cluster: a Redis of the test's own, crashed
//! (SIGKILL) and started again on the same port, first with its data (an
//! append-only file synced on every write, as docs/cluster.md asks), then
//! without it. Either way ingest pauses while it is gone, `/healthz` says
//! so, and one node ingests again afterwards; without its data the new
//! leader writes the log's epoch and a checkpoint again, so that a node
//! started later goes on with the same epoch and numbers.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::auth::Role;
use switchboard::proto::v1::{self as pb, event::Payload};

use crate::cluster::{Pair, health, is_call_start, node, read_until, until_ingest};
use crate::helpers::token;

/// A redis-server of the test's own on a loopback port, its data in a
/// directory of its own.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    server: Option<Child>,
}

impl OwnRedis {
    /// Starts one that keeps every write (`appendfsync always`).
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut redis = OwnRedis {
            port,
            dir: tempfile::tempdir().expect("a directory for Redis"),
            server: None,
        };
        redis.run();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs the server on its port and directory until it answers.
    fn run(&mut self) {
        let server = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (make deps installs it)");
        self.server = Some(server);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: no goodbye, no last save).
    fn crash(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Removes everything the server saved.
    fn forget(&self) {
        remove_contents(self.dir.path());
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.crash();
    }
}

fn remove_contents(dir: &Path) {
    for entry in std::fs::read_dir(dir)
        .expect("Redis's directory reads")
        .flatten()
    {
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// Waits until both nodes say the log is unreachable and nobody ingests.
async fn until_both_told(pair: &Pair) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (a, b) = (health(&pair.a).await, health(&pair.b).await);
        if [&a, &b].iter().all(|h| {
            h["log"] == "unreachable" && h["status"] == "degraded" && h["ingest"] == "standby"
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "never told: {a} {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until exactly one node ingests with its log reachable (never two).
pub(crate) async fn until_one_leader(pair: &Pair) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let leaders = [health(&pair.a).await, health(&pair.b).await]
            .iter()
            .filter(|h| h["ingest"] == "leader" && h["log"] == "ok")
            .count();
        assert!(leaders <= 1, "two leaders");
        if leaders == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nobody ingests after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `Resync` of a rebuild whose snapshot holds no call.
pub(crate) fn rebuilt_without_calls(event: &pb::Event) -> bool {
    matches!(&event.payload, Some(Payload::Resync(r)) if r.reason() == pb::ResyncReason::SourceRebuilt
        && r.snapshot.as_ref().is_some_and(|s| s.calls.is_empty()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarting_with_or_without_its_data_pauses_ingest_says_so_and_is_survived() {
    let mut redis = OwnRedis::start();
    let pair = Pair::start_with(redis.url(), redis.url()).await;
    let sim = &pair.sim;
    let supervisor = token(Role::Supervisor, None, None);
    let mut on_b = pair
        .b
        .subscribe(pb::SubscribeRequest::default(), &supervisor)
        .await;
    let mut read = Vec::new();
    let first = sim.customer_calls("254700000001", "Customer", "8000", &["queue", "8000"]);
    read_until(&mut on_b, &mut read, |e| {
        is_call_start(e, &format!("ari-{first}"))
    })
    .await;

    // Redis crashes and comes back with its data; the caller hung up meanwhile.
    redis.crash();
    until_both_told(&pair).await;
    sim.customer_hangs_up(&first);
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.run();
    until_one_leader(&pair).await;
    read_until(&mut on_b, &mut read, rebuilt_without_calls).await;
    let second = sim.customer_calls("254700000002", "Customer", "8000", &["queue", "8000"]);
    read_until(&mut on_b, &mut read, |e| {
        is_call_start(e, &format!("ari-{second}"))
    })
    .await;

    // Redis crashes and comes back empty: the lease, the stream, the epoch
    // and the checkpoint are gone. The caller hangs up meanwhile.
    redis.crash();
    until_both_told(&pair).await;
    sim.customer_hangs_up(&second);
    redis.forget();
    redis.run();
    until_one_leader(&pair).await;
    read_until(&mut on_b, &mut read, rebuilt_without_calls).await;
    let third = sim.customer_calls("254700000003", "Customer", "8000", &["queue", "8000"]);
    let third_id = format!("ari-{third}");
    read_until(&mut on_b, &mut read, |e| is_call_start(e, &third_id)).await;

    let sequences: Vec<u64> = read.iter().map(|e| e.sequence).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "no gap, no duplicate across both restarts: {sequences:?}"
    );
    let epochs: std::collections::BTreeSet<&str> = read.iter().map(|e| e.epoch.as_str()).collect();
    assert_eq!(epochs.len(), 1, "one epoch throughout: {epochs:?}");

    // The leader wrote the epoch and a checkpoint again: a node started now
    // restores them, and a client resuming on it from just before the
    // rebuild reads exactly what followed, in the same epoch.
    let metrics = format!("{}{}", pair.a.metrics().await, pair.b.metrics().await);
    assert!(
        metrics
            .lines()
            .filter_map(|l| l.strip_prefix("switchboard_journal_rewrites_total "))
            .any(|v| v.trim() == "1"),
        "the new leader counted the journal it wrote again"
    );
    let mut c = node(
        &pair.name,
        "node-c",
        redis.url(),
        &pair.database,
        sim,
        pair.dir.path(),
    )
    .await;
    until_ingest(&c, "standby", Duration::from_secs(5)).await;
    let rebuild = read
        .iter()
        .rposition(rebuilt_without_calls)
        .expect("the second rebuild was read");
    let before = &read[rebuild - 1];
    let mut on_c = c
        .subscribe(
            pb::SubscribeRequest {
                resume_after: before.sequence,
                epoch: before.epoch.clone(),
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let mut resumed = Vec::new();
    read_until(&mut on_c, &mut resumed, |e| is_call_start(e, &third_id)).await;
    assert_eq!(
        resumed,
        read[rebuild..].to_vec(),
        "exactly what followed, from the node started after Redis lost its data"
    );

    drop((on_b, on_c));
    let _ = c.halt().await;
    pair.close().await;
}
