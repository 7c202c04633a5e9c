//! `switchboard sim`: a real AMI server on loopback in front of the simulated
//! PBX of [`pbx`]. It greets like Asterisk, logs in (plain secret and the MD5
//! challenge; a wrong secret gets `Authentication failed`), answers `Ping`,
//! `CoreShowChannels`, `QueueStatus`, `QueueSummary`, `Agents` and
//! `Originate`, and streams the workload's events to every logged-in session.

pub mod ari;
pub mod ari_workload;
pub mod pbx;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::sources::ami::client::md5_key;
use crate::sources::ami::codec::{
    AmiCodec, AmiFrame, AmiMessage, encode_event_list as event_list, encode_message,
    encode_pairs as reply,
};
pub use pbx::{SimPbx, Workload};

/// The simulator's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5038")]
    pub listen: SocketAddr,
    /// AMI user the simulator accepts.
    #[arg(long, default_value = "switchboard")]
    pub username: String,
    /// Its secret.
    #[arg(long, default_value = "switchboard")]
    pub secret: String,
    /// Agents.
    #[arg(long, default_value_t = 6)]
    pub agents: u32,
    /// Queues.
    #[arg(long, default_value_t = 2)]
    pub queues: u32,
    /// New callers per minute.
    #[arg(long, default_value_t = 12.0)]
    pub rate: f64,
    /// Seed of the random workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second (speeds the workload up).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Shortest talk time of an answered call, in simulated seconds.
    #[arg(long, default_value_t = 20.0)]
    pub talk_min: f64,
    /// Longest talk time of an answered call, in simulated seconds.
    #[arg(long, default_value_t = 150.0)]
    pub talk_max: f64,
    /// Calls per minute beside the queue callers: click-to-dial, pickups by
    /// a colleague, forwards to a mobile (default: a quarter of `--rate`).
    #[arg(long)]
    pub other_rate: Option<f64>,
}

/// Sees every batch of events the simulator writes, just before it writes
/// them (the load command stamps its latency clock here).
pub type Observer = Arc<dyn Fn(&[AmiMessage]) + Send + Sync>;

impl SimArgs {
    /// Defaults on `listen`.
    pub fn on(listen: SocketAddr) -> SimArgs {
        SimArgs {
            listen,
            username: "switchboard".into(),
            secret: "switchboard".into(),
            agents: 6,
            queues: 2,
            rate: 12.0,
            seed: 1,
            speed: 1.0,
            talk_min: 20.0,
            talk_max: 150.0,
            other_rate: None,
        }
    }

    /// The workload these settings describe.
    pub fn workload(&self) -> Workload {
        let talk_min = self.talk_min.max(0.1);
        Workload {
            agents: self.agents,
            queues: self.queues,
            calls_per_minute: self.rate,
            seed: self.seed,
            talk_seconds: talk_min..self.talk_max.max(talk_min + 0.1),
            other_calls_per_minute: self.other_rate.unwrap_or(self.rate / 4.0),
        }
    }
}

/// How often the workload advances. Short, so that events leave spread over
/// time as a real PBX sends them, not in clumps of a tick's worth.
const TICK: Duration = Duration::from_millis(10);
/// What the simulator greets with (Asterisk 22's AMI version).
const GREETING: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// A running simulator.
pub struct Simulator {
    /// The address it listens on.
    pub address: SocketAddr,
    /// The PBX, for tests that look inside.
    pub pbx: Arc<Mutex<SimPbx>>,
    events: broadcast::Sender<Bytes>,
    /// Stops the workload (not the sessions): see [`Simulator::stop_workload`].
    workload: CancellationToken,
}

impl Simulator {
    /// Binds and starts serving and simulating until `shutdown`.
    pub async fn start(args: SimArgs, shutdown: CancellationToken) -> std::io::Result<Simulator> {
        Simulator::start_observed(args, shutdown, None).await
    }

    /// Like [`Simulator::start`], with `observer` shown every batch of events before it is written.
    pub async fn start_observed(
        args: SimArgs,
        shutdown: CancellationToken,
        observer: Option<Observer>,
    ) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(args.listen).await?;
        Simulator::serve(listener, args, shutdown, observer)
    }

    /// Like [`Simulator::start`], on a socket already bound (`args.listen`
    /// is not used): a port reserved before the server that connects to it
    /// started, so that the port is never released and taken again.
    pub fn start_on(
        listener: TcpListener,
        args: SimArgs,
        shutdown: CancellationToken,
    ) -> std::io::Result<Simulator> {
        Simulator::serve(listener, args, shutdown, None)
    }

    fn serve(
        listener: TcpListener,
        args: SimArgs,
        shutdown: CancellationToken,
        observer: Option<Observer>,
    ) -> std::io::Result<Simulator> {
        let address = listener.local_addr()?;
        let pbx = Arc::new(Mutex::new(SimPbx::new(args.workload())));
        let (events, _) = broadcast::channel(16_384);
        let workload = shutdown.child_token();
        let simulator = Simulator {
            address,
            pbx: Arc::clone(&pbx),
            events: events.clone(),
            workload: workload.clone(),
        };
        tokio::spawn(drive(
            Arc::clone(&pbx),
            events.clone(),
            args.speed,
            observer,
            workload,
        ));
        let credentials = Arc::new((args.username, args.secret));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = shutdown.cancelled() => return,
                };
                let Ok((stream, _)) = accepted else {
                    continue;
                };
                tokio::spawn(session(
                    stream,
                    Arc::clone(&pbx),
                    events.clone(),
                    Arc::clone(&credentials),
                    shutdown.clone(),
                ));
            }
        });
        Ok(simulator)
    }

    /// Stops the workload: nothing more happens on the PBX, while its
    /// sessions stay up and still deliver what it already sent.
    pub fn stop_workload(&self) {
        self.workload.cancel();
    }

    /// Sends events to every session as if the PBX had emitted them.
    pub fn emit(&self, messages: &[AmiMessage]) {
        let _ = self.events.send(encode_all(messages));
    }
}

fn encode_all(messages: &[AmiMessage]) -> Bytes {
    let mut buffer = BytesMut::new();
    for message in messages {
        encode_message(message, &mut buffer);
    }
    buffer.freeze()
}

/// Advances the workload every tick and broadcasts what happened.
async fn drive(
    pbx: Arc<Mutex<SimPbx>>,
    events: broadcast::Sender<Bytes>,
    speed: f64,
    observer: Option<Observer>,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        // The time that really passed: a busy machine delays ticks, and the
        // workload keeps its rate rather than slowing down with them.
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(last).min(Duration::from_secs(1));
        last = now;
        let happened = pbx.lock().tick(elapsed.as_secs_f64() * speed);
        if !happened.is_empty() {
            if let Some(observer) = &observer {
                observer(&happened);
            }
            let _ = events.send(encode_all(&happened));
        }
    }
}

/// One manager session.
async fn session(
    mut stream: TcpStream,
    pbx: Arc<Mutex<SimPbx>>,
    events: broadcast::Sender<Bytes>,
    credentials: Arc<(String, String)>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    if stream.write_all(GREETING).await.is_err() {
        return;
    }
    let mut framed = Framed::new(stream, AmiCodec::without_greeting(64 * 1024));
    let challenge = format!("{:09}", rand::random::<u32>() % 1_000_000_000);
    let mut feed: Option<broadcast::Receiver<Bytes>> = None;
    loop {
        let frame = tokio::select! {
            frame = framed.next() => frame,
            bytes = next_event(&mut feed) => {
                match bytes {
                    Ok(bytes) => {
                        if framed.get_mut().write_all(&bytes).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // Asterisk drops a manager session that cannot keep up.
                    Err(_) => return,
                }
            }
            () = shutdown.cancelled() => return,
        };
        let Some(Ok(frame)) = frame else {
            return;
        };
        let AmiFrame::Message(action) = frame else {
            continue;
        };
        let id = action.action_id().unwrap_or_default().to_owned();
        let name = action
            .get("Action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let logged_in = feed.is_some();
        let out = match name.as_str() {
            "challenge" => reply(&[
                ("Response", "Success"),
                ("ActionID", &id),
                ("Challenge", &challenge),
            ]),
            "login" => {
                let key = md5_key(&challenge, &credentials.1);
                let accepted = action.get("Username") == Some(credentials.0.as_str())
                    && (action.get("Secret") == Some(credentials.1.as_str())
                        || action.get("Key") == Some(key.as_str()));
                if accepted {
                    let mut out = reply(&[
                        ("Response", "Success"),
                        ("ActionID", &id),
                        ("Message", "Authentication accepted"),
                    ]);
                    out.extend_from_slice(&reply(&[
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", "2"),
                        ("LastReload", "2"),
                        ("Status", "Fully Booted"),
                    ]));
                    feed = Some(events.subscribe());
                    out
                } else {
                    reply(&[
                        ("Response", "Error"),
                        ("ActionID", &id),
                        ("Message", "Authentication failed"),
                    ])
                }
            }
            _ if !logged_in => reply(&[
                ("Response", "Error"),
                ("ActionID", &id),
                ("Message", "Permission denied"),
            ]),
            "ping" => reply(&[
                ("Response", "Success"),
                ("ActionID", &id),
                ("Ping", "Pong"),
                ("Timestamp", "0.000000"),
            ]),
            "coreshowchannels" => {
                event_list(&id, "CoreShowChannelsComplete", &pbx.lock().show_channels())
            }
            "queuestatus" => event_list(&id, "QueueStatusComplete", &pbx.lock().queue_status()),
            "queuesummary" => event_list(&id, "QueueSummaryComplete", &pbx.lock().queue_summary()),
            "agents" => event_list(&id, "AgentsComplete", &[]),
            "originate" => originate(&action, &id, &pbx, &events),
            "logoff" => {
                let _ = framed
                    .get_mut()
                    .write_all(&reply(&[
                        ("Response", "Goodbye"),
                        ("ActionID", &id),
                        ("Message", "Thanks for all the fish."),
                    ]))
                    .await;
                return;
            }
            _ => reply(&[
                ("Response", "Error"),
                ("ActionID", &id),
                ("Message", "Invalid/unknown command"),
            ]),
        };
        if framed.get_mut().write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The next event for a logged-in session; never ready before login.
async fn next_event(
    feed: &mut Option<broadcast::Receiver<Bytes>>,
) -> Result<Bytes, broadcast::error::RecvError> {
    match feed {
        Some(feed) => feed.recv().await,
        None => std::future::pending().await,
    }
}

/// `Originate` into a spy context: answered at once, the spy's events follow.
fn originate(
    action: &AmiMessage,
    id: &str,
    pbx: &Mutex<SimPbx>,
    events: &broadcast::Sender<Bytes>,
) -> BytesMut {
    let channel = action.get("Channel").unwrap_or_default();
    let context = action.get("Context").unwrap_or_default();
    let exten = action.get("Exten").unwrap_or_default();
    if channel.is_empty() || !context.starts_with("spy-") {
        return reply(&[
            ("Response", "Error"),
            ("ActionID", id),
            ("Message", "Originate failed"),
        ]);
    }
    let mut happened = Vec::new();
    match pbx
        .lock()
        .originate_spy(channel, context, exten, &mut happened)
    {
        Ok(()) => {
            let _ = events.send(encode_all(&happened));
            reply(&[
                ("Response", "Success"),
                ("ActionID", id),
                ("Message", "Originate successfully queued"),
            ])
        }
        Err(message) => reply(&[
            ("Response", "Error"),
            ("ActionID", id),
            ("Message", &message),
        ]),
    }
}
