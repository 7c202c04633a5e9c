//! `switchboard load`: the end-to-end load command. It runs, in one process,
//! the simulator (a real AMI server on loopback) at a given call rate, the
//! server connected to it over AMI, and N Socket.IO and M gRPC subscribers
//! watching `call:new` and `call:ended`. It reports offered and delivered
//! events per second, latency from the simulator's write to the
//! subscriber's read (p50, p99, max), and lost events.
//!
//! The simulator stamps the write time of every caller channel's
//! `Newchannel` and `Hangup` in a table indexed by the channel's sequence
//! number (the part of the Uniqueid after the dot); subscribers look their
//! event up there when they read it. Only calls whose events were written
//! inside the measuring window count; the warm-up is not measured. When the
//! window closes the PBX's workload stops (what it already sent is still
//! delivered), and the subscribers read on until every window event has
//! reached each of them (or nothing more comes), so that an event that
//! arrives late is measured late rather than counted lost.
//!
//! With `--nodes N` (N > 1) it runs N server nodes of one cluster in the
//! process, on a Redis and a Postgres of the caller's (`--redis-url`,
//! `--database-url`): the first to take the lease ingests, and the
//! subscribers are spread over the nodes in turn, as a load balancer would.
//! The report then has each node's Socket.IO figures too. The nodes share
//! the machine's cores, so the figures are those of N nodes on one machine.

mod report;

pub use report::{Latency, LoadReport, TransportReport};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::{ServeArgs, Settings};
use crate::devtools::sim::{Observer, SimArgs, Simulator};
use crate::proto::v1::{
    EventKind, SubscribeRequest, event::Payload, event_service_client::EventServiceClient,
};

/// The load command's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// New calls per second offered by the simulator.
    #[arg(long, default_value_t = 200.0)]
    pub calls_per_second: f64,
    /// Socket.IO subscribers (supervisor wallboards).
    #[arg(long, default_value_t = 1000)]
    pub socketio: usize,
    /// gRPC `Subscribe` streams.
    #[arg(long, default_value_t = 10)]
    pub grpc: usize,
    /// Length of the measuring window, in seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Seconds of load before measuring starts: long enough, by default, for
    /// the first calls to have ended (ringing takes up to 8 s and talk up to
    /// 1.5 × `--talk-seconds`), so that the window measures a steady state
    /// in which calls end as fast as they start.
    #[arg(long, default_value_t = 20)]
    pub warmup: u64,
    /// Talk time of an answered call, in seconds (short, so that calls end within the run).
    #[arg(long, default_value_t = 4.0)]
    pub talk_seconds: f64,
    /// The seeds whose events the Socket.IO subscribers ask for (`auth.seeds`,
    /// comma-separated, e.g. `002` for AMI wallboards); all when absent.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<String>,
    /// Server nodes. Above 1, a cluster: it needs `--redis-url` and a
    /// Postgres `--database-url` (a scratch database: the run records its
    /// calls there).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// The Redis of the nodes' log. With one node, its log is kept there
    /// too; without it, in process.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// The database of the nodes' records; without it, SQLite in a
    /// temporary directory (one node only).
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Write times of caller channels' `Newchannel` and `Hangup`, in
/// microseconds since the run's origin (0: not written). A call Asterisk
/// places itself (click-to-dial) starts when the requester's leg answers
/// (its `DialEnd` with no dialling channel), so that is its write time, and
/// one still ringing the requester is none yet; a first channel that never
/// becomes a call (a declined click-to-dial, a colleague dialling a pickup
/// code) is struck out, as switchboard's rules have it (`docs/counting.md`, "How
/// switchboard counts calls").
struct WriteTimes {
    origin: Instant,
    new: Vec<AtomicU64>,
    ended: Vec<AtomicU64>,
    /// Struck out: not a call.
    no_call: Vec<std::sync::atomic::AtomicBool>,
    ami_events: Vec<AtomicU64>,
    /// Window events read so far, by every subscriber together: the run
    /// ends when they are all in, not at a fixed time.
    window_reads: AtomicU64,
}

impl WriteTimes {
    fn new(capacity: usize, seconds: usize) -> Self {
        let table = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        WriteTimes {
            origin: Instant::now(),
            new: table(capacity),
            ended: table(capacity),
            no_call: (0..capacity)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
            ami_events: table(seconds),
            window_reads: AtomicU64::new(0),
        }
    }

    fn micros(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64 + 1
    }

    fn observe(&self, batch: &[crate::sources::ami::AmiMessage]) {
        let now = self.micros();
        let second = (now / 1_000_000) as usize;
        if let Some(counter) = self.ami_events.get(second) {
            counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        for message in batch {
            let event = message.event();
            const CHANNEL: [&str; 2] = ["Uniqueid", "Linkedid"];
            const DEST: [&str; 2] = ["DestUniqueid", "DestLinkedid"];
            let (keys, table) = match event {
                Some("Newchannel") => (CHANNEL, &self.new),
                Some("Hangup") => (CHANNEL, &self.ended),
                Some("DialBegin" | "DialEnd") if message.get("Uniqueid").is_none() => {
                    (DEST, &self.new)
                }
                Some("Newexten") if message.get_last("Application") == Some("Pickup") => {
                    (CHANNEL, &self.new)
                }
                _ => continue,
            };
            let [Some(uniqueid), Some(linkedid)] = message.get_many(keys) else {
                continue;
            };
            let Some(n) = sequence_of(uniqueid).filter(|_| uniqueid == linkedid) else {
                continue;
            };
            let (Some(slot), Some(no_call)) = (table.get(n), self.no_call.get(n)) else {
                continue;
            };
            match (event, message.get("DialStatus")) {
                // The requester's leg rings: not a call (yet).
                (Some("DialBegin"), _) => slot.store(0, Ordering::Relaxed),
                (Some("Newexten"), _) => {
                    no_call.store(true, Ordering::Relaxed);
                    slot.store(0, Ordering::Relaxed);
                }
                (Some("DialEnd"), status) if status != Some("ANSWER") => {
                    no_call.store(true, Ordering::Relaxed);
                }
                _ if !no_call.load(Ordering::Relaxed) => slot.store(now, Ordering::Relaxed),
                _ => {}
            }
        }
    }

    /// Microseconds since the caller's `Newchannel` (or, `ended`, its
    /// `Hangup`) was written, if that was inside `window`.
    fn since_written(&self, window: Window, ended: bool, uniqueid: &str) -> Option<u32> {
        let table = if ended { &self.ended } else { &self.new };
        let written = sequence_of(uniqueid)
            .and_then(|n| table.get(n))
            .map(|slot| slot.load(Ordering::Relaxed))?;
        window
            .contains(written)
            .then(|| u32::try_from(self.micros().saturating_sub(written)).unwrap_or(u32::MAX))
    }
}

/// `1795270123.42` → 42.
fn sequence_of(uniqueid: &str) -> Option<usize> {
    uniqueid.rsplit_once('.')?.1.parse().ok()
}

/// One subscriber's reads: latencies (µs) of window events, and every message read.
#[derive(Default)]
struct Reads {
    /// The node it read from (0 with one).
    node: usize,
    latencies: Vec<u32>,
    messages: u64,
    bytes: u64,
    /// Messages and bytes per event name, read during the measuring window
    /// (kept by one Socket.IO subscriber only).
    by_event: std::collections::BTreeMap<String, (u64, u64)>,
    /// Events the server reported dropped.
    reported_dropped: u64,
}

/// The measuring window, in microseconds since the origin.
#[derive(Clone, Copy)]
struct Window {
    from: u64,
    to: u64,
}

impl Window {
    fn contains(&self, micros: u64) -> bool {
        (self.from..self.to).contains(&micros)
    }
}

impl Reads {
    fn record(&mut self, times: &WriteTimes, window: Window, ended: bool, uniqueid: &str) {
        if let Some(latency) = times.since_written(window, ended, uniqueid) {
            times.window_reads.fetch_add(1, Ordering::Relaxed);
            self.latencies.push(latency);
        }
    }
}

/// Times window calls from the simulator's write to their `CallNew` and
/// `CallHangup` in the server's log, until `stop`: the latencies, and how
/// many log events it missed by falling behind.
async fn ingest_tap(
    mut feed: tokio::sync::broadcast::Receiver<Arc<crate::proto::v1::Event>>,
    times: Arc<WriteTimes>,
    window: Window,
    stop: CancellationToken,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut unseen = 0;
    loop {
        let event = tokio::select! {
            event = feed.recv() => event,
            () = stop.cancelled() => break,
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                unseen += missed;
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let (ended, uniqueid) = match &event.payload {
            Some(Payload::CallNew(call)) => (false, &call.uniqueid),
            Some(Payload::CallHangup(call)) => (true, &call.uniqueid),
            _ => continue,
        };
        latencies.extend(times.since_written(window, ended, uniqueid));
    }
    (latencies, unseen)
}

/// How long the subscribers may go without reading a window event, after
/// the window, before what they have not read counts as lost.
const DRAIN_QUIET: Duration = Duration::from_secs(3);
/// The longest the subscribers read on after the window.
const DRAIN_MAX: Duration = Duration::from_secs(30);

/// Waits until `expected` window events have been read, or none came for
/// [`DRAIN_QUIET`], or [`DRAIN_MAX`] passed.
async fn drain(times: &WriteTimes, expected: u64) {
    let started = Instant::now();
    let mut last = (times.window_reads.load(Ordering::Relaxed), Instant::now());
    loop {
        let read = times.window_reads.load(Ordering::Relaxed);
        if read >= expected || started.elapsed() > DRAIN_MAX {
            return;
        }
        if read != last.0 {
            last = (read, Instant::now());
        } else if last.1.elapsed() > DRAIN_QUIET {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the load and returns what it measured.
pub async fn run(args: LoadArgs) -> anyhow::Result<LoadReport> {
    let stop = CancellationToken::new();
    let total_seconds = args.warmup + args.seconds + 10;
    let capacity = (args.calls_per_second * total_seconds as f64 * 4.0) as usize + 4096;
    let times = Arc::new(WriteTimes::new(capacity, total_seconds as usize + 60));

    // The PBX: enough agents that most callers are answered quickly.
    let mut sim = SimArgs::on("127.0.0.1:0".parse()?);
    // Four in five calls are queue callers; the fifth a click-to-dial, a
    // colleague's pickup or a forward to a mobile.
    sim.rate = args.calls_per_second * 60.0 * 0.8;
    sim.other_rate = Some(args.calls_per_second * 60.0 * 0.2);
    // Ringing takes 2–8 s in the simulator, talk about `talk_seconds`.
    sim.agents = ((args.calls_per_second * (args.talk_seconds + 5.0) * 1.1) as u32).max(6);
    sim.queues = 4;
    sim.talk_min = (args.talk_seconds * 0.5).max(0.5);
    sim.talk_max = args.talk_seconds * 1.5;
    let observer: Observer = {
        let times = Arc::clone(&times);
        Arc::new(move |batch| times.observe(batch))
    };
    let directory = std::env::temp_dir().join(format!("switchboard-load-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let nodes = args.nodes.max(1);
    if nodes > 1 && (args.redis_url.is_none() || args.database_url.is_none()) {
        anyhow::bail!("--nodes {nodes} needs --redis-url and a Postgres --database-url");
    }
    let cluster_name = format!("switchboard-load-{}", std::process::id());
    let serve_node = |node: usize| ServeArgs {
        socket_port: Some("0".into()),
        auth_disabled: Some("true".into()),
        database_url: Some(
            args.database_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", directory.join("load.db").display())),
        ),
        stats_interval_seconds: Some("5".into()),
        redis_url: args.redis_url.clone(),
        cluster: (nodes > 1).then(|| "true".into()),
        cluster_name: args.redis_url.as_ref().map(|_| cluster_name.clone()),
        node_name: Some(format!("load-{}", node + 1)),
        ..ServeArgs::default()
    };
    let server_stop = CancellationToken::new();
    // Calls flow from the start; the warm-up lets the server and the
    // subscribers connect before the measuring window opens.
    let credentials = (sim.username.clone(), sim.secret.clone());
    // The PBX and the log tap run on a runtime of their own, as a PBX on
    // another machine would: the server's busy runtime must not delay the
    // simulator's writes, nor the tap's reads, and so bend the timings.
    let measuring = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load-pbx")
        .enable_all()
        .build()?;
    let simulator = measuring
        .spawn(Simulator::start_observed(
            sim,
            stop.child_token(),
            Some(observer),
        ))
        .await?
        .context("the simulator could not start")?;
    let pbx_address = simulator.address;
    let mut servers = Vec::new();
    let mut urls = Vec::new();
    let mut log_feed = None;
    for node in 0..nodes {
        let mut settings = Settings::resolve(&serve_node(node))?;
        settings.ami = Some(crate::config::AmiConfig {
            host: pbx_address.ip().to_string(),
            port: pbx_address.port(),
            username: credentials.0.clone(),
            secret: credentials.1.clone(),
            md5: true,
        });
        let application = Application::build(settings).await?;
        let address = application.local_addr()?;
        // The tap reads the first node's log: in a cluster, what it read
        // back from Redis.
        log_feed.get_or_insert_with(|| application.internals().log.subscribe_live());
        servers.push(tokio::spawn(
            application.run_until_stopped(server_stop.clone()),
        ));
        urls.push(format!("127.0.0.1:{}", address.port()));
    }
    let log_feed = log_feed.context("no node")?;

    let window = {
        let from = (args.warmup * 1_000_000) + times.micros();
        Window {
            from,
            to: from + args.seconds * 1_000_000,
        }
    };
    let ingest = measuring.spawn(ingest_tap(
        log_feed,
        Arc::clone(&times),
        window,
        stop.clone(),
    ));
    let mut subscribers = JoinSet::new();
    let connect_packet = if args.seeds.is_empty() {
        "40".to_owned()
    } else {
        format!("40{}", serde_json::json!({ "seeds": args.seeds }))
    };
    for index in 0..args.socketio {
        subscribers.spawn(socketio_subscriber(
            index % nodes,
            urls[index % nodes].clone(),
            connect_packet.clone(),
            Arc::clone(&times),
            window,
            stop.clone(),
            index == 0,
        ));
    }
    for index in 0..args.grpc {
        subscribers.spawn(grpc_subscriber(
            index % nodes,
            urls[index % nodes].clone(),
            Arc::clone(&times),
            window,
            stop.clone(),
        ));
    }
    tracing::info!(pbx = %pbx_address, nodes = ?urls, "load running");
    let in_window = |table: &[AtomicU64]| {
        table
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|t| window.contains(*t))
            .count() as u64
    };

    tokio::time::sleep(Duration::from_micros(
        window.to.saturating_sub(times.micros()),
    ))
    .await;
    // The window is over: the PBX's workload stops (its AMI session still
    // delivers what it already sent), and the subscribers read on until
    // every window event has reached every one of them, or nothing more
    // comes. A late event is then measured late, not counted lost.
    simulator.stop_workload();
    let expected =
        (in_window(&times.new) + in_window(&times.ended)) * (args.socketio + args.grpc) as u64;
    drain(&times, expected).await;
    let run_until = times.micros();
    stop.cancel();
    let mut socketio = Vec::new();
    let mut grpc = Vec::new();
    while let Some(result) = subscribers.join_next().await {
        match result? {
            (Transport::SocketIo, reads) => socketio.push(reads),
            (Transport::Grpc, reads) => grpc.push(reads),
        }
    }
    let (mut ingest, ingest_unseen) = ingest.await?;
    server_stop.cancel();
    for server in servers {
        let _ = server.await;
    }
    let _ = std::fs::remove_dir_all(&directory);
    measuring.shutdown_background();

    let started = in_window(&times.new);
    let ended = in_window(&times.ended);
    let offered = started + ended;
    let seconds = args.seconds as f64;
    let first = (window.from / 1_000_000) as usize;
    let ami_events: u64 = times.ami_events[first..first + args.seconds as usize]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    let run_seconds = run_until as f64 / 1e6;
    Ok(LoadReport {
        calls_per_second: started as f64 / seconds,
        calls_ended_per_second: ended as f64 / seconds,
        ami_events_per_second: ami_events as f64 / seconds,
        ingest: Latency::of(&mut ingest),
        ingest_unseen,
        socketio_by_node: if nodes > 1 {
            (0..nodes)
                .map(|node| {
                    let on_node: Vec<&Reads> = socketio.iter().filter(|r| r.node == node).collect();
                    summarize(&on_node, offered, seconds, run_seconds)
                })
                .collect()
        } else {
            Vec::new()
        },
        socketio: summarize(
            &socketio.iter().collect::<Vec<_>>(),
            offered,
            seconds,
            run_seconds,
        ),
        grpc: summarize(
            &grpc.iter().collect::<Vec<_>>(),
            offered,
            seconds,
            run_seconds,
        ),
    })
}

fn summarize(reads: &[&Reads], offered: u64, seconds: f64, run_seconds: f64) -> TransportReport {
    let subscribers = reads.len();
    let messages: u64 = reads.iter().map(|r| r.messages).sum();
    let bytes: u64 = reads.iter().map(|r| r.bytes).sum();
    let reported_dropped: u64 = reads.iter().map(|r| r.reported_dropped).sum();
    let one_subscriber = reads
        .iter()
        .find(|r| !r.by_event.is_empty())
        .map(|r| {
            r.by_event
                .iter()
                .map(|(name, (messages, bytes))| {
                    (
                        name.clone(),
                        *messages as f64 / seconds,
                        *bytes as f64 / seconds,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut latencies: Vec<u32> = reads
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    let delivered = latencies.len() as u64;
    let offered_total = offered * subscribers as u64;
    let latency = Latency::of(&mut latencies);
    TransportReport {
        subscribers,
        offered_per_second: offered_total as f64 / seconds,
        delivered_per_second: delivered as f64 / seconds,
        lost: offered_total.saturating_sub(delivered),
        reported_dropped,
        latency,
        all_messages_per_second: messages as f64 / run_seconds,
        all_bytes_per_second: bytes as f64 / run_seconds,
        one_subscriber,
    }
}

enum Transport {
    SocketIo,
    Grpc,
}

/// A wallboard on Socket.IO (Engine.IO v4 over WebSocket): reads every
/// message, answers pings, and times `call:new` and `call:ended`. The one
/// with `tallies` also counts what it reads in the window event by event
/// (the report shows one wallboard's reads; the others skip the clock read
/// and the count per message).
async fn socketio_subscriber(
    node: usize,
    address: String,
    connect_packet: String,
    times: Arc<WriteTimes>,
    window: Window,
    stop: CancellationToken,
    tallies: bool,
) -> (Transport, Reads) {
    let mut reads = Reads {
        node,
        ..Reads::default()
    };
    let url = format!("ws://{address}/socket.io/?EIO=4&transport=websocket");
    // tungstenite zeroes its whole read buffer before every read (128 KiB by
    // default); a small one keeps a thousand readers from spending the
    // machine on memset, which would be the load tool measuring itself.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024);
    let Ok((mut socket, _)) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), false).await
    else {
        tracing::warn!("a socket.io subscriber could not connect");
        return (Transport::SocketIo, reads);
    };
    // One wait on the stop for the whole run, not a new one per message; looked
    // at only when the socket has nothing ready (registering its waker on every
    // message cost the subscribers a few percent).
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let message = tokio::select! {
            biased;
            message = socket.next() => message,
            () = &mut stopped => break,
        };
        let Some(Ok(Message::Text(text))) = message else {
            if matches!(message, None | Some(Err(_))) {
                break;
            }
            continue;
        };
        let text = text.as_str();
        match text.as_bytes().first() {
            // Engine.IO open: connect to the default namespace.
            Some(b'0') => {
                let _ = socket.send(Message::text(connect_packet.as_str())).await;
            }
            Some(b'2') => {
                let _ = socket.send(Message::text("3")).await;
            }
            Some(b'4') => {
                reads.messages += 1;
                reads.bytes += text.len() as u64;
                let name = text
                    .get(4..)
                    .and_then(|rest| rest.split_once('"'))
                    .map_or("?", |(name, _)| name);
                if tallies && window.contains(times.micros()) {
                    let entry = match reads.by_event.get_mut(name) {
                        Some(entry) => entry,
                        None => reads.by_event.entry(name.to_owned()).or_default(),
                    };
                    entry.0 += 1;
                    entry.1 += text.len() as u64;
                }
                if text.starts_with("42[\"events-dropped\",")
                    && let Ok((_, report)) =
                        serde_json::from_str::<(String, serde_json::Value)>(&text[2..])
                {
                    reads.reported_dropped += report["count"].as_u64().unwrap_or(0);
                }
                let ended = name == "call:ended";
                if (ended || name == "call:new")
                    && let Some(uniqueid) = uniqueid_of(text)
                {
                    reads.record(&times, window, ended, uniqueid);
                }
            }
            _ => {}
        }
    }
    (Transport::SocketIo, reads)
}

/// The `uniqueid` of an Active Call packet (`42["call:new",{…,"uniqueid":"…",…}]`),
/// found without parsing the rest: the subscriber reads a thousand sockets'
/// worth of them on the machine it measures, so it must cost little. An
/// Active Call has no nested object with a `uniqueid`, and uniqueids need no
/// JSON escapes (`1705312200.42`).
fn uniqueid_of(packet: &str) -> Option<&str> {
    const KEY: &str = "\"uniqueid\":\"";
    let start = memchr::memmem::find(packet.as_bytes(), KEY.as_bytes())? + KEY.len();
    let length = memchr::memchr(b'"', &packet.as_bytes()[start..])?;
    packet.get(start..start + length)
}

/// A gRPC `Subscribe` stream of `call:new` and `call:ended`.
async fn grpc_subscriber(
    node: usize,
    address: String,
    times: Arc<WriteTimes>,
    window: Window,
    stop: CancellationToken,
) -> (Transport, Reads) {
    let mut reads = Reads {
        node,
        ..Reads::default()
    };
    let channel = match tonic::transport::Channel::from_shared(format!("http://{address}")) {
        Ok(endpoint) => endpoint.connect().await,
        Err(_) => return (Transport::Grpc, reads),
    };
    let Ok(channel) = channel else {
        tracing::warn!("a grpc subscriber could not connect");
        return (Transport::Grpc, reads);
    };
    let mut client = EventServiceClient::new(channel);
    let request = SubscribeRequest {
        kinds: vec![EventKind::CallNew as i32, EventKind::CallHangup as i32],
        ..Default::default()
    };
    let response = match client.subscribe(request).await {
        Ok(response) => response,
        Err(status) => {
            tracing::warn!(%status, "a grpc subscriber could not subscribe");
            return (Transport::Grpc, reads);
        }
    };
    let mut stream = response.into_inner();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = stop.cancelled() => break,
        };
        let response = match item {
            Some(Ok(response)) => response,
            Some(Err(status)) => {
                tracing::warn!(%status, "a grpc subscriber's stream failed");
                break;
            }
            None => break,
        };
        reads.messages += 1;
        reads.bytes += prost::Message::encoded_len(&response) as u64;
        match response.event.and_then(|e| e.payload) {
            Some(Payload::CallNew(call)) => reads.record(&times, window, false, &call.uniqueid),
            Some(Payload::CallHangup(call)) => reads.record(&times, window, true, &call.uniqueid),
            Some(Payload::EventsDropped(dropped)) => reads.reported_dropped += dropped.count,
            _ => {}
        }
    }
    (Transport::Grpc, reads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;

    #[test]
    fn the_uniqueid_is_read_from_an_active_call_packet_as_the_gateway_writes_it() {
        let call = pb::ActiveCall {
            uniqueid: "1705312200.42".into(),
            channel: "PJSIP/trunk-00000001".into(),
            callerid: "\"Ann \\\"uniqueid\\\"\" <+15551234567>".into(),
            destination: "8000".into(),
            ..Default::default()
        };
        let packet = format!("42[\"call:new\",{}]", crate::socket_json::to_json(&call));
        assert_eq!(uniqueid_of(&packet), Some("1705312200.42"), "{packet}");
        assert_eq!(sequence_of("1705312200.42"), Some(42));
        assert_eq!(uniqueid_of("42[\"call:new\",{\"channel\":\"x\"}]"), None);
    }
}
