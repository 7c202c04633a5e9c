//! Call flows on a real Asterisk 22 (`../shared/asterisk/`, started by each
//! test on free loopback ports with the PBX configuration of `tests/asterisk/`),
//! watched by the real server over AMI. Every scenario drives real calls with
//! AMI actions and checks what switchboard made of them on all three surfaces:
//! the gRPC `call_updated` stream, the Socket.IO events of seed 002 and the
//! `call_records` row.
//!
//! Each test has its own Asterisk, so scenarios never see each other's calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use switchboard::auth::Role;
use switchboard::proto::v1::{
    Call, CallChange, CallEndReason, CallUpdated, EventKind, SourceState, SubscribeRequest,
    event::Payload,
};
use switchboard::sources::ami::client::{AmiHandle, AmiNotice, AmiSettings, spawn};
use switchboard::store::CallRecordRow;
use tokio_util::sync::CancellationToken;

use crate::helpers::{SocketWatcher, TestApp, authed, repo_root, spawn_app_with, token};

/// Where the shared Asterisk package is: `$SWITCHBOARD_ASTERISK`, else
/// `../shared/asterisk` beside the checkout.
fn asterisk_package() -> PathBuf {
    let root = std::env::var_os("SWITCHBOARD_ASTERISK")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/asterisk"));
    assert!(
        root.join("start.sh").exists(),
        "the Asterisk test peer is not at {}: check out beside ../shared or set SWITCHBOARD_ASTERISK",
        root.display()
    );
    root
}

/// A loopback TCP port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `millis` of silence as a WAV file (8 kHz, 16-bit mono PCM), a prompt
/// Asterisk can play.
fn silence_wav(millis: u32) -> Vec<u8> {
    let data_len = 8 * millis * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(44 + data_len as usize, 0);
    wav
}

/// One running Asterisk, private to a test; stopped and deleted when dropped.
pub struct Pbx {
    dir: tempfile::TempDir,
    /// AMI on 127.0.0.1.
    pub ami_port: u16,
    /// HTTP and ARI on 127.0.0.1.
    pub http_port: u16,
}

impl Pbx {
    /// Unpacks and starts an instance with `tests/asterisk/*.conf` over the
    /// shared configuration. Ports are picked free; a port taken in between
    /// (start.sh exits 4) is retried with others.
    pub async fn start() -> Pbx {
        let package = asterisk_package();
        // start.sh refuses directories over 77 characters (the control
        // socket's path must fit): a short one under /tmp.
        let dir = tempfile::Builder::new()
            .prefix("sbpbx")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let config = dir.path().join("etc/asterisk");
        std::fs::create_dir_all(&config).expect("config dir");
        for entry in std::fs::read_dir(repo_root().join("tests/asterisk")).expect("tests/asterisk")
        {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "conf") {
                std::fs::copy(&path, config.join(path.file_name().expect("name")))
                    .expect("config copied");
            }
        }
        // The transfer features play `pbx-transfer` before reading the target's
        // number, and give up without it; the package ships no prompts.
        let sounds = dir.path().join("var/lib/asterisk/sounds/en");
        std::fs::create_dir_all(&sounds).expect("sounds dir");
        std::fs::write(sounds.join("pbx-transfer.wav"), silence_wav(100)).expect("prompt");
        for _ in 0..3 {
            let (ami_port, http_port) = (free_port(), free_port());
            let output = tokio::process::Command::new(package.join("start.sh"))
                .arg(dir.path())
                .args(["--ami-port", &ami_port.to_string()])
                .args(["--http-port", &http_port.to_string()])
                .output()
                .await
                .expect("start.sh runs");
            match output.status.code() {
                Some(0) => {
                    return Pbx {
                        dir,
                        ami_port,
                        http_port,
                    };
                }
                Some(4) => continue,
                code => panic!(
                    "Asterisk did not start ({code:?}): {}",
                    String::from_utf8_lossy(&output.stderr)
                ),
            }
        }
        panic!("no free ports for Asterisk after three tries");
    }

    /// Asterisk's own log of the instance, for a failing test's message.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("var/log/asterisk/messages.log")
    }
}

impl Pbx {
    /// An AMI connection of the test's own (as `watcher`), until `stop`,
    /// with what it hears.
    pub fn connect_ami(
        &self,
        stop: &CancellationToken,
    ) -> (AmiHandle, tokio::sync::mpsc::Receiver<AmiNotice>) {
        let (notices, heard) = tokio::sync::mpsc::channel(1024);
        let (ami, _task) = spawn(
            AmiSettings::new(
                format!("127.0.0.1:{}", self.ami_port),
                "watcher",
                "watcherpw",
            ),
            notices,
            stop.clone(),
        );
        (ami, heard)
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        let _ = std::process::Command::new(asterisk_package().join("stop.sh"))
            .arg(self.dir.path())
            .output();
    }
}

/// A real Asterisk, the real server watching it over AMI, and the three
/// surfaces read as a dashboard, a service and a report would.
pub struct Bench {
    pub pbx: Pbx,
    pub app: TestApp,
    /// An AMI connection of the test's own, to place and end calls.
    pub ami: AmiHandle,
    /// Every AMI event the test's connection heard (what the PBX sent).
    pub heard: Arc<Mutex<Vec<switchboard::sources::ami::AmiMessage>>>,
    updates: Arc<Mutex<Vec<CallUpdated>>>,
    pub socket: SocketWatcher,
    /// The records database the server writes, opened by the test.
    store: switchboard::store::Store,
    stop: CancellationToken,
}

/// Which of switchboard's sources watch the PBX.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// The AMI source only.
    Ami,
    /// The ARI agent bridge only.
    Ari,
    /// Both, as one PBX.
    Both,
}

/// The agent directory of the ARI scenarios: agents whose phones are the
/// test PBX's Local channels.
const LOCAL_AGENTS: &str = r#"
[[agents]]
agent_id = "agent-1001"
extension = "1001"
name = "Agent 1001"
endpoint = "Local/1001@phones"

[[agents]]
agent_id = "agent-1002"
extension = "1002"
name = "Agent 1002"
endpoint = "Local/1002@phones"
"#;

impl Bench {
    /// Starts Asterisk, the server (its AMI source on it) and the watchers,
    /// and waits until the server is connected and the socket greeted.
    pub async fn start() -> Bench {
        Bench::start_watching(Watching::Ami).await
    }

    /// As [`Bench::start`], with the sources `watching` the PBX (the ARI
    /// agent bridge with the agents of [`LOCAL_AGENTS`]).
    pub async fn start_watching(watching: Watching) -> Bench {
        let pbx = Pbx::start().await;
        let ami_port = pbx.ami_port.to_string();
        // The HTTP server's address, as Node's ari-client is given it
        // (switchboard adds `/ari`).
        let ari_url = format!("http://127.0.0.1:{}", pbx.http_port);
        let agents = pbx.dir.path().join("agents.toml");
        std::fs::write(&agents, LOCAL_AGENTS).expect("agents file");
        let database = format!("sqlite://{}", pbx.dir.path().join("records.db").display());
        let app_database = database.clone();
        let app = spawn_app_with(|args| {
            args.database_url = Some(app_database);
            if watching != Watching::Ari {
                args.ami_host = Some("127.0.0.1".into());
                args.ami_port = Some(ami_port);
                args.ami_username = Some("watcher".into());
                args.ami_secret = Some("watcherpw".into());
            }
            if watching != Watching::Ami {
                args.ari_url = Some(ari_url);
                args.ari_username = Some("ari".into());
                args.ari_password = Some("aripw".into());
                args.agents_file = Some(agents);
            }
        })
        .await;
        let sources = if watching == Watching::Both { 2 } else { 1 };
        let supervisor = token(Role::Supervisor, None, None);
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
        let updates = Arc::new(Mutex::new(Vec::new()));
        let (connected_tx, mut connected) = tokio::sync::watch::channel(0);
        {
            let updates = Arc::clone(&updates);
            tokio::spawn(async move {
                while let Some(Ok(response)) = stream.next().await {
                    match response.event.and_then(|e| e.payload) {
                        Some(Payload::SourceStatus(status))
                            if status.state() == SourceState::Connected =>
                        {
                            connected_tx.send_modify(|n| *n += 1);
                        }
                        Some(Payload::CallUpdated(update)) => updates.lock().push(update),
                        _ => {}
                    }
                }
            });
        }
        tokio::time::timeout(
            Duration::from_secs(20),
            connected.wait_for(|n| *n >= sources),
        )
        .await
        .expect("the server connects to Asterisk")
        .expect("stream open");
        let stop = CancellationToken::new();
        let (ami, mut heard_rx) = pbx.connect_ami(&stop);
        let heard = Arc::new(Mutex::new(Vec::new()));
        {
            let heard = Arc::clone(&heard);
            tokio::spawn(async move {
                while let Some(notice) = heard_rx.recv().await {
                    if let AmiNotice::Event(message) = notice {
                        heard.lock().push(message);
                    }
                }
            });
        }
        let socket = app.start_socket_watcher(&supervisor, &["--seconds", "600"]);
        socket.wait_for("calls:active", 1).await;
        // The records, read as their owner would: from the database.
        let store = switchboard::store::Store::connect(&database)
            .await
            .expect("the records database");
        Bench {
            pbx,
            app,
            ami,
            heard,
            updates,
            socket,
            stop,
            store,
        }
    }

    /// Sends an AMI action, which must succeed.
    pub async fn action(&self, name: &str, fields: &[(&str, &str)]) {
        for _ in 0..50 {
            match self.ami.send(name, fields).await {
                Ok(reply) => {
                    assert!(reply.is_success(), "{name} {fields:?}: {reply:?}");
                    return;
                }
                // The test's own connection may still be logging in.
                Err(switchboard::sources::ami::client::AmiError::NotConnected) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("{name}: {error}"),
            }
        }
        panic!("{name}: the test's AMI connection did not come up");
    }

    /// An AMI `Originate` of `channel` into `exten` of `context`, with
    /// `extra` fields (`CallerID`, `Variable`, `Timeout`).
    pub async fn originate(
        &self,
        channel: &str,
        context: &str,
        exten: &str,
        extra: &[(&str, &str)],
    ) {
        let mut fields = vec![
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Priority", "1"),
            ("Async", "true"),
        ];
        fields.extend_from_slice(extra);
        self.action("Originate", &fields).await;
    }

    /// A customer with `number` calls `exten` of `[internal]`: the
    /// customer's line is up at once, as a trunk's inbound channel is.
    pub async fn customer_calls(&self, number: &str, exten: &str) {
        self.customer_calls_with(number, exten, &[]).await;
    }

    /// [`Bench::customer_calls`] with `extra` fields (`Variable`).
    pub async fn customer_calls_with(&self, number: &str, exten: &str, extra: &[(&str, &str)]) {
        let channel = format!("Local/{number}@customers");
        let caller = format!("\"Customer\" <{number}>");
        let mut fields = vec![("CallerID", caller.as_str())];
        fields.extend_from_slice(extra);
        self.originate(&channel, "internal", exten, &fields).await;
    }

    /// Click-to-dial: Asterisk rings `requester`'s phone first and, when it
    /// answers, dials `exten` from `[internal]`.
    pub async fn click_to_dial(&self, requester: &str, exten: &str) {
        let channel = format!("Local/{requester}@phones");
        self.originate(&channel, "internal", exten, &[]).await;
    }

    /// Hangs up every channel whose name matches the regular expression.
    pub async fn hang_up(&self, pattern: &str) {
        let channel = format!("/{pattern}/");
        // No channel matched is an error answer; the call may have ended already.
        let _ = self.ami.send("Hangup", &[("Channel", &channel)]).await;
    }

    /// Waits until `count` calls have ended (merged consultations not
    /// counted) and returns them, as the gRPC stream last reported them.
    pub async fn ended(&self, count: usize) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            let ended: Vec<Call> = self
                .updates
                .lock()
                .iter()
                .filter(|u| u.change() == CallChange::Ended)
                .filter_map(|u| u.call.clone())
                .filter(|c| c.end_reason() != CallEndReason::Transferred)
                .collect();
            if ended.len() >= count {
                return ended;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} calls did not end (Asterisk's log: {}): {:#?}",
                self.pbx.log().display(),
                self.updates.lock()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every `call_updated` of `call_id` so far.
    pub fn updates_of(&self, call_id: &str) -> Vec<CallUpdated> {
        self.updates
            .lock()
            .iter()
            .filter(|u| u.call.as_ref().is_some_and(|c| c.call_id == call_id))
            .cloned()
            .collect()
    }

    /// Every `call_updated` so far.
    pub fn updates(&self) -> Vec<CallUpdated> {
        self.updates.lock().clone()
    }

    /// The stored record of `call_id` (waits for the recorder).
    pub async fn record(&self, call_id: &str) -> CallRecordRow {
        for _ in 0..100 {
            let records = self.store.recent_call_records(1000).await.expect("records");
            if let Some(row) = records.into_iter().find(|r| r.call_id == call_id) {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no call_records row for {call_id}");
    }

    /// Every record stored so far.
    pub async fn records(&self) -> Vec<CallRecordRow> {
        self.store.recent_call_records(1000).await.expect("records")
    }

    /// The Socket.IO `event` payloads about the call with AMI `uniqueid`.
    pub fn socket_events(&self, event: &str, uniqueid: &str) -> Vec<serde_json::Value> {
        self.socket
            .lines()
            .into_iter()
            .filter(|l| l["event"] == event && l["data"]["uniqueid"] == uniqueid)
            .map(|l| l["data"].clone())
            .collect()
    }

    /// Waits until the last `calls:active` the socket got is empty.
    pub async fn no_active_calls(&self) {
        self.socket
            .wait_until("an empty calls:active", |lines| {
                lines
                    .iter()
                    .rev()
                    .find(|l| l["event"] == "calls:active")
                    .is_some_and(|l| l["data"].as_array().is_some_and(|a| a.is_empty()))
            })
            .await;
    }

    /// Whether the PBX has no channel up (`CoreShowChannels` lists none).
    pub async fn pbx_idle(&self) -> bool {
        match self.ami.send("CoreShowChannels", &[]).await {
            Ok(reply) => reply
                .events
                .iter()
                .all(|e| e.event() != Some("CoreShowChannel")),
            Err(_) => false,
        }
    }

    /// The AMI events the PBX sent so far, by name.
    pub fn heard(&self, event: &str) -> Vec<switchboard::sources::ami::AmiMessage> {
        self.heard
            .lock()
            .iter()
            .filter(|m| m.event() == Some(event))
            .cloned()
            .collect()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop.cancel();
        // `REAL_PBX_DUMP=DIR`: what the PBX sent in each scenario, in wire
        // framing, to read or to replay (one file per test).
        if let Some(dir) = std::env::var_os("REAL_PBX_DUMP") {
            let mut wire = bytes::BytesMut::new();
            for message in self.heard.lock().iter() {
                switchboard::sources::ami::codec::encode_message(message, &mut wire);
            }
            let name = std::thread::current()
                .name()
                .unwrap_or("scenario")
                .replace("::", "-");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(PathBuf::from(dir).join(format!("{name}.ami")), &wire);
        }
    }
}

/// The one call of a scenario, with what every surface said of it.
pub struct Seen {
    pub call: Call,
    pub updates: Vec<CallUpdated>,
    pub record: CallRecordRow,
    pub socket_new: Vec<serde_json::Value>,
    pub socket_answered: Vec<serde_json::Value>,
    pub socket_ended: Vec<serde_json::Value>,
}

impl Seen {
    /// How often the call changed in `change`.
    pub fn count(&self, change: CallChange) -> usize {
        self.updates.iter().filter(|u| u.change() == change).count()
    }
}

impl Bench {
    /// Waits for the one call of a scenario to end and for every surface to
    /// have told it; checks what all three must agree on.
    pub async fn the_one_call(&self) -> Seen {
        let ended = self.ended(1).await;
        assert_eq!(ended.len(), 1, "one call: {ended:#?}");
        let call = ended[0].clone();
        self.no_active_calls().await;
        // The wallboard's key: the caller channel's PBX id (AMI Uniqueid, or
        // the ARI channel id of a call only the agent bridge reports).
        let uniqueid = call
            .ids
            .as_ref()
            .map(|ids| {
                if ids.ami_uniqueid.is_empty() {
                    ids.ari_channel_id.clone()
                } else {
                    ids.ami_uniqueid.clone()
                }
            })
            .unwrap_or_default();
        self.socket
            .wait_until("call:ended", |lines| {
                lines
                    .iter()
                    .any(|l| l["event"] == "call:ended" && l["data"]["uniqueid"] == uniqueid)
            })
            .await;
        let record = self.record(&call.call_id).await;
        let seen = Seen {
            updates: self.updates_of(&call.call_id),
            socket_new: self.socket_events("call:new", &uniqueid),
            socket_answered: self.socket_events("call:answered", &uniqueid),
            socket_ended: self.socket_events("call:ended", &uniqueid),
            record,
            call,
        };
        assert_eq!(seen.socket_new.len(), 1, "one call:new");
        assert_eq!(seen.socket_ended.len(), 1, "one call:ended");
        assert_eq!(seen.count(CallChange::Started), 1, "one start");
        assert_eq!(seen.record.customer_number, seen.call.customer_number);
        assert_eq!(seen.record.answered_by, seen.call.answered_by);
        assert_eq!(
            seen.record.end_reason,
            seen.call
                .end_reason()
                .as_str_name()
                .trim_start_matches("CALL_END_REASON_")
                .to_lowercase()
        );
        // `call:answered` once for an answered call, never for one nobody
        // answered; and once more for each answer withdrawn (a forward's own).
        assert_eq!(
            seen.socket_answered.len(),
            usize::from(seen.call.answered_at.is_some()) + seen.count(CallChange::AnswerWithdrawn),
            "call:answered once per answer that stood when told"
        );
        seen
    }
}

#[tokio::test]
async fn a_customer_call_to_an_extension_that_answers() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1001").await;
    // The phone answers after a second's ringing; the customer talks, then hangs up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.destination, "1001");
    assert_eq!(seen.call.answered_by, "1001");
    assert_eq!(seen.call.agent_extension, "1001");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(seen.count(CallChange::Dialing), 1, "1001 rang once");
    assert_eq!(seen.count(CallChange::Answered), 1);
    assert_eq!(seen.socket_ended[0]["disposition"], "ANSWERED");
    assert_eq!(seen.record.disposition, "ANSWERED");
}

/// A tenant's inbound route sets Asterisk's own multi-tenant identifier
/// (`CHANNEL(tenantid)`) before it dials: the call is that tenant's, and a
/// `client` token of that tenant sees it (its number masked) while another
/// tenant's does not.
#[tokio::test]
async fn a_call_on_a_tenants_route_belongs_to_that_tenant() {
    let bench = Bench::start().await;
    let channel = "Local/0611111111@customers";
    let caller = "\"Customer\" <0611111111>";
    bench
        .originate(channel, "from-acme", "1001", &[("CallerID", caller)])
        .await;
    let app = &bench.app;
    let state = async |tenant: &str| {
        let token = token(Role::Client, None, Some(tenant));
        app.state()
            .await
            .get_system_state(authed(Default::default(), &token))
            .await
            .expect("state")
            .into_inner()
    };
    let acme = crate::helpers::until(
        "acme sees its answered call",
        Duration::from_secs(10),
        async || {
            let acme = state("acme").await;
            acme.calls
                .iter()
                .any(|c| c.answered_at.is_some())
                .then_some(acme)
        },
    )
    .await;
    assert_eq!(acme.calls.len(), 1, "acme's own call: {:?}", acme.calls);
    assert_eq!(acme.calls[0].customer_number, "******1111");
    assert!(state("globex").await.calls.is_empty(), "not globex's");
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.tenant, "acme");
    assert_eq!(seen.call.answered_by, "1001");
}

/// A customer's call to `exten` that nobody answers, as every surface ends it.
async fn an_unanswered_customer_call(exten: &str) -> Seen {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", exten).await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.destination, exten);
    assert!(seen.call.answered_at.is_none(), "{:?}", seen.call);
    assert_eq!(seen.call.answered_by, "");
    assert_eq!(seen.count(CallChange::Answered), 0);
    assert_eq!(seen.count(CallChange::DialEnded), 1, "one dial, ended");
    seen
}

#[tokio::test]
async fn a_customer_call_to_a_busy_extension() {
    let seen = an_unanswered_customer_call("1005").await;
    assert_eq!(seen.call.end_reason(), CallEndReason::Busy);
    assert_eq!(seen.socket_ended[0]["disposition"], "BUSY");
    assert_eq!(seen.record.disposition, "BUSY");
}

#[tokio::test]
async fn a_customer_call_nobody_answers() {
    // 1004 rings for the ten seconds `[internal]` dials it.
    let seen = an_unanswered_customer_call("1004").await;
    assert_eq!(seen.call.end_reason(), CallEndReason::NoAnswer);
    assert_eq!(seen.count(CallChange::Dialing), 1, "1004 rang");
    assert_eq!(seen.socket_ended[0]["disposition"], "NO ANSWER");
}

#[tokio::test]
async fn a_customer_call_into_congestion() {
    let seen = an_unanswered_customer_call("1006").await;
    assert_eq!(seen.call.end_reason(), CallEndReason::Failed);
    assert_eq!(seen.record.disposition, "FAILED");
}

#[tokio::test]
async fn a_customer_call_the_person_declines() {
    let seen = an_unanswered_customer_call("1007").await;
    assert_eq!(seen.call.end_reason(), CallEndReason::Rejected);
    assert_eq!(seen.count(CallChange::Dialing), 1, "1007 rang first");
}

#[tokio::test]
async fn click_to_dial_an_internal_extension() {
    let bench = Bench::start().await;
    // 1001's phone rings first; when it answers, 1002 is dialled and answers.
    bench.click_to_dial("1001", "1002").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/1002@phones").await;
    let seen = bench.the_one_call().await;
    assert_eq!(
        seen.call.customer_number, "1001",
        "the requester is the caller"
    );
    assert_eq!(seen.call.destination, "1002");
    assert_eq!(seen.call.answered_by, "1002", "answered by the far end");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(
        seen.count(CallChange::Dialing),
        1,
        "only the destination rang as part of the call: {:#?}",
        seen.updates
    );
    assert_eq!(seen.count(CallChange::Answered), 1, "answered once");
    assert_eq!(seen.record.direction, "internal");
    assert_eq!(seen.socket_new[0]["callerid"], "1001");
}

#[tokio::test]
async fn click_to_dial_an_external_number() {
    let bench = Bench::start().await;
    bench.click_to_dial("1001", "0612345678").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/1001@phones").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "1001");
    assert_eq!(seen.call.destination, "0612345678");
    assert_eq!(seen.call.answered_by, "0612345678");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(seen.record.direction, "outbound");
    assert_eq!(seen.count(CallChange::Answered), 1);
}

/// A click-to-dial whose requester does not take their own phone places no
/// call: nothing reaches the wallboard, the stream or the records.
async fn a_click_to_dial_the_requester_does_not_take(requester: &str) {
    let bench = Bench::start().await;
    let phone = format!("Local/{requester}@phones");
    bench
        .originate(&phone, "internal", "1002", &[("Timeout", "3000")])
        .await;
    // Asterisk says the origination failed once the requester's leg is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while bench.heard("OriginateResponse").is_empty() || !bench.pbx_idle().await {
        assert!(tokio::time::Instant::now() < deadline, "the originate ends");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        bench.heard("OriginateResponse")[0].get("Response"),
        Some("Failure")
    );
    // A call placed and ended in between would have reached every surface by
    // now; give them the time a call's end takes anyway.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bench.updates().is_empty(), "{:#?}", bench.updates());
    assert!(bench.records().await.is_empty());
    assert_eq!(bench.socket.count("call:new"), 0);
}

#[tokio::test]
async fn click_to_dial_declined_by_the_requester_places_no_call() {
    a_click_to_dial_the_requester_does_not_take("1005").await;
}

#[tokio::test]
async fn click_to_dial_unanswered_by_the_requester_places_no_call() {
    a_click_to_dial_the_requester_does_not_take("1004").await;
}

#[tokio::test]
async fn call_me_now_rings_the_customer_then_the_agent() {
    let bench = Bench::start().await;
    // The customer's mobile rings first; once they answer, agent 1001 is dialled.
    bench
        .originate("Local/0612345678@phones", "internal", "1001", &[])
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    bench.hang_up("^Local/1001@phones").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0612345678");
    assert_eq!(seen.call.destination, "1001");
    assert_eq!(seen.call.answered_by, "1001");
    assert_eq!(seen.call.agent_extension, "1001");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(seen.count(CallChange::Dialing), 1, "only the agent rang");
}

#[tokio::test]
async fn a_ring_all_group_answered_by_one() {
    let bench = Bench::start().await;
    // 1001 answers after one second of ringing, 1002 after two: 1001 takes it.
    bench.customer_calls("0611111111", "600").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.destination, "600");
    assert_eq!(seen.count(CallChange::Dialing), 2, "both phones rang");
    assert_eq!(seen.count(CallChange::Answered), 1, "one answer");
    assert_eq!(seen.call.answered_by, "1001");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
}

#[tokio::test]
async fn a_queue_call_answered_by_an_agent() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "8000").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.queue, "sales");
    assert_eq!(seen.call.answered_by, "1001", "the first to answer");
    assert_eq!(seen.call.agent_extension, "1001");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(seen.count(CallChange::Answered), 1);
    assert_eq!(seen.record.queue.as_deref(), Some("sales"));
    assert!(
        bench
            .socket
            .lines()
            .iter()
            .any(|l| l["event"] == "queue:caller_joined" && l["data"]["queue"] == "sales"),
        "queue:caller_joined"
    );
}

#[tokio::test]
async fn a_queue_call_the_customer_abandons() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "8001").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.queue, "support");
    assert!(seen.call.answered_at.is_none());
    assert_eq!(seen.call.end_reason(), CallEndReason::Abandoned);
    assert_eq!(seen.record.end_reason, "abandoned");
}

#[tokio::test]
async fn a_queue_call_one_agent_lets_ring_and_another_answers() {
    let bench = Bench::start().await;
    // `service` hunts linearly: 1004 rings 3 s without answering, then 1001 answers.
    bench.customer_calls("0611111111", "8002").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.queue, "service");
    assert_eq!(seen.call.answered_by, "1001");
    assert_eq!(seen.call.agent_extension, "1001");
    assert_eq!(seen.count(CallChange::Answered), 1);
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    let rang: Vec<String> = seen
        .updates
        .iter()
        .filter(|u| u.change() == CallChange::Dialing)
        .map(|u| u.target.clone())
        .collect();
    assert_eq!(rang.first().map(String::as_str), Some("1004"), "{rang:?}");
    assert!(rang.contains(&"1001".to_owned()), "{rang:?}");
}

impl Bench {
    /// Phone `extension` goes off-hook and dials `exten` of `[internal]`.
    pub async fn phone_dials(&self, extension: &str, exten: &str) {
        let phone = format!("Local/{extension}@offhook");
        self.originate(&phone, "internal", exten, &[]).await;
    }
}

/// A customer's call rings 1004, which never answers; 1002 picks it up by
/// dialling `code`: one call, rung at 1004, answered by 1002.
async fn a_call_picked_up_with(code: &str) {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1004").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bench.phone_dials("1002", code).await;
    crate::helpers::eventually(
        "Asterisk reports the pickup",
        Duration::from_secs(10),
        || !bench.heard("Pickup").is_empty(),
    )
    .await;
    assert_eq!(
        bench.heard("Pickup").len(),
        1,
        "Asterisk reported the pickup"
    );
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.destination, "1004");
    assert_eq!(seen.call.answered_by, "1002", "the phone that took it");
    assert_eq!(seen.call.agent_extension, "1002");
    assert_eq!(seen.count(CallChange::Answered), 1, "{:#?}", seen.updates);
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    let rang: Vec<String> = seen
        .updates
        .iter()
        .filter(|u| u.change() == CallChange::Dialing)
        .map(|u| u.target.clone())
        .collect();
    assert_eq!(rang, ["1004"]);
    // The picker's dialling of the code is not a call of its own.
    assert_eq!(
        bench.records().await.len(),
        1,
        "{:#?}",
        bench.records().await
    );
    assert_eq!(bench.socket.count("call:new"), 1, "{:#?}", bench.updates());
}

#[tokio::test]
async fn a_directed_pickup_is_one_call_answered_by_the_picker() {
    a_call_picked_up_with("**1004").await;
}

#[tokio::test]
async fn a_group_pickup_is_one_call_answered_by_the_picker() {
    a_call_picked_up_with("*8").await;
}

impl Bench {
    /// The name of the live channel starting with `prefix` (say
    /// `Local/1003@phones-` and `;1`: the agent's leg in the caller's bridge).
    pub async fn channel(&self, prefix: &str, suffix: &str) -> String {
        for _ in 0..50 {
            let reply = self
                .ami
                .send("CoreShowChannels", &[])
                .await
                .expect("CoreShowChannels");
            if let Some(name) = reply
                .events
                .iter()
                .filter_map(|e| e.get("Channel"))
                .find(|n| n.starts_with(prefix) && n.ends_with(suffix))
            {
                return name.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no channel {prefix}…{suffix}");
    }

    /// The agent at `extension` transfers its call blindly to `exten`.
    pub async fn blind_transfer(&self, extension: &str, exten: &str) {
        let agent = self
            .channel(&format!("Local/{extension}@phones-"), ";1")
            .await;
        self.action(
            "BlindTransfer",
            &[
                ("Channel", &agent),
                ("Context", "internal"),
                ("Exten", exten),
            ],
        )
        .await;
    }

    /// The agent at `extension` starts an attended transfer to `exten` with
    /// the feature code (the customer is held while the agent consults);
    /// returns the agent's channel, whose hang-up completes the transfer.
    pub async fn attended_transfer(&self, extension: &str, exten: &str) -> String {
        let agent = self
            .channel(&format!("Local/{extension}@phones-"), ";1")
            .await;
        self.action(
            "Atxfer",
            &[
                ("Channel", &agent),
                ("Context", "internal"),
                ("Exten", exten),
            ],
        )
        .await;
        agent
    }

    /// The transfers on the record of `seen`, as `kind target` strings.
    pub fn transfers(seen: &Seen) -> Vec<String> {
        seen.call
            .transfers
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    t.kind()
                        .as_str_name()
                        .trim_start_matches("TRANSFER_KIND_")
                        .to_lowercase(),
                    t.target
                )
            })
            .collect()
    }
}

/// A customer's call answered by 1003, blindly transferred to `exten`,
/// where 1001 or 1002 answers; the customer hangs up after.
async fn a_blind_transfer_to(exten: &str) -> Seen {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1003").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.blind_transfer("1003", exten).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(Bench::transfers(&seen), [format!("blind {exten}")]);
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(
        seen.socket_answered.len(),
        1,
        "call:answered once, for the first answer"
    );
    assert_eq!(bench.records().await.len(), 1, "one record");
    seen
}

#[tokio::test]
async fn a_blind_transfer_to_an_extension() {
    let seen = a_blind_transfer_to("1002").await;
    assert_eq!(seen.call.answered_by, "1002");
    assert_eq!(seen.call.agent_extension, "1002");
    assert_eq!(seen.record.transfers.matches("\"kind\"").count(), 1);
}

#[tokio::test]
async fn a_blind_transfer_to_a_ring_group() {
    let seen = a_blind_transfer_to("600").await;
    assert_eq!(seen.call.answered_by, "1001", "the group's first to answer");
}

#[tokio::test]
async fn a_blind_transfer_to_a_queue() {
    let seen = a_blind_transfer_to("8000").await;
    assert_eq!(seen.call.answered_by, "1001");
    assert_eq!(seen.call.queue, "sales");
}

#[tokio::test]
async fn a_blind_transfer_nobody_takes() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1003").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // 1004 rings for the ten seconds `[internal]` gives it, then the customer is gone.
    bench.blind_transfer("1003", "1004").await;
    let seen = bench.the_one_call().await;
    assert_eq!(Bench::transfers(&seen), ["blind 1004"]);
    assert_eq!(seen.call.end_reason(), CallEndReason::NoAnswer);
}

#[tokio::test]
async fn an_attended_transfer_to_an_extension() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1003").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // 1003 consults 1002 (rings two seconds), then hangs up: the customer is with 1002.
    let agent = bench.attended_transfer("1003", "1002").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during: Vec<CallChange> = bench.updates().iter().map(|u| u.change()).collect();
    assert_eq!(
        during
            .iter()
            .filter(|c| **c == CallChange::Answered)
            .count(),
        1,
        "the consultation does not answer the customer's call: {during:?}"
    );
    bench.hang_up(&format!("^{}$", regex_escape(&agent))).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(Bench::transfers(&seen), ["attended 1002"]);
    assert_eq!(seen.call.agent_extension, "1002");
    assert_eq!(
        seen.call.answered_by, "1002",
        "the party that answered last"
    );
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(bench.records().await.len(), 1, "one record");
}

#[tokio::test]
async fn a_blonde_transfer_to_an_extension() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1001").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // 1001 consults 1003 (rings three seconds) and hangs up while it rings.
    let agent = bench.attended_transfer("1001", "1003").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bench.hang_up(&format!("^{}$", regex_escape(&agent))).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(Bench::transfers(&seen), ["blonde 1003"]);
    assert_eq!(seen.call.answered_by, "1003", "the target answered after");
    assert_eq!(seen.call.agent_extension, "1003");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
}

/// `name` with the characters a POSIX regular expression treats specially escaped.
fn regex_escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let special = "\\.^$|?*+()[]{}".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// A supervisor (phone 1009) listens in on agent 1001's call in `mode`:
/// a spy session, never a call; the customer's call stays one call.
async fn a_supervisor_listens_in(mode: &str) {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1001").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let context = format!("spy-{mode}");
    bench
        .originate("Local/1009@offhook", &context, "1001", &[])
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bench.heard("ChanSpyStart").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "ChanSpy started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    bench.hang_up("^Local/1009@offhook").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.answered_by, "1001");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(
        bench.socket.count("call:new"),
        1,
        "the supervisor's leg is no call"
    );
    assert_eq!(bench.records().await.len(), 1);
}

#[tokio::test]
async fn a_supervisor_monitoring_a_live_call_is_no_call() {
    a_supervisor_listens_in("monitor").await;
}

#[tokio::test]
async fn a_supervisor_whispering_to_an_agent_is_no_call() {
    a_supervisor_listens_in("whisper").await;
}

#[tokio::test]
async fn a_supervisor_barging_into_a_call_is_no_call() {
    a_supervisor_listens_in("barge").await;
}

/// A customer calls agent 1001 through the agent bridge: Stasis, the agent's
/// Local phone rung through ARI, answered, bridged, the customer hangs up.
/// Returns the bench once every surface has told the call's end.
async fn a_stasis_call_to_agent_1001(watching: Watching) -> (Bench, Seen) {
    let bench = Bench::start_watching(watching).await;
    bench.customer_calls("0611111111", "7001").await;
    // 1001 rings a second, answers; they talk.
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    (bench, seen)
}

#[tokio::test]
async fn a_stasis_call_through_the_agent_bridge_to_a_local_agent() {
    let (bench, seen) = a_stasis_call_to_agent_1001(Watching::Ari).await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.agent_extension, "1001");
    assert!(seen.call.answered_at.is_some(), "{:?}", seen.call);
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    let lines = bench.socket.lines();
    for event in [
        "call_incoming",
        "call_bridged_successfully",
        "customer_left_bridge",
    ] {
        assert!(
            lines.iter().any(|l| l["event"] == event),
            "{event}: {lines:#?}"
        );
    }
}

#[tokio::test]
async fn a_stasis_call_watched_over_ami_and_ari_is_one_call_with_both_ids() {
    let (bench, seen) = a_stasis_call_to_agent_1001(Watching::Both).await;
    // Both sources have had their say by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ended = bench.ended(1).await;
    assert_eq!(ended.len(), 1, "one call, not one per source: {ended:#?}");
    let ids = seen.call.ids.clone().unwrap_or_default();
    assert!(!ids.ari_channel_id.is_empty(), "{ids:?}");
    assert_eq!(
        ids.ami_uniqueid, ids.ari_channel_id,
        "the PBX's own channel id"
    );
    assert!(!ids.ami_linkedid.is_empty(), "{ids:?}");
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.agent_extension, "1001");
    assert_eq!(bench.records().await.len(), 1, "one record");
    assert_eq!(bench.socket.count("call:new"), 1);
}

/// A customer calls 1008, a forward that answers at once with a greeting and
/// then rings a mobile (`mobile`): its own answer is no person's.
async fn a_call_through_a_forward(mobile: &str) -> Seen {
    let bench = Bench::start().await;
    let variable = format!("__MOBILE={mobile}");
    bench
        .customer_calls_with("0611111111", "1008", &[("Variable", &variable)])
        .await;
    if mobile == "0612345678" {
        tokio::time::sleep(Duration::from_secs(5)).await;
        bench.hang_up("^Local/0611111111@customers").await;
    }
    let seen = bench.the_one_call().await;
    assert_eq!(
        seen.count(CallChange::AnswerWithdrawn),
        1,
        "the forward's own answer is withdrawn: {:#?}",
        seen.updates
    );
    seen
}

#[tokio::test]
async fn a_forward_whose_mobile_never_answers_is_not_answered() {
    let seen = a_call_through_a_forward("0687654321").await;
    assert!(seen.call.answered_at.is_none(), "{:?}", seen.call);
    assert_eq!(seen.call.answered_by, "");
    assert_eq!(seen.call.agent_extension, "");
    assert_eq!(seen.call.end_reason(), CallEndReason::NoAnswer);
    assert_eq!(seen.record.disposition, "NO ANSWER");
    assert_eq!(seen.record.answered_at_ms, None);
}

#[tokio::test]
async fn a_forward_whose_mobile_answers_is_answered_by_the_mobile() {
    let seen = a_call_through_a_forward("0612345678").await;
    assert!(seen.call.answered_at.is_some());
    assert_eq!(seen.call.answered_by, "0612345678");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
}

/// A customer's call answered by 1003, transferred with the feature code to
/// `exten`; the agent hangs up `after` the consultation began (before anyone
/// answered it: blonde; after: attended). The customer hangs up once
/// `answered_by` has the call.
async fn a_feature_code_transfer_to(exten: &str, after: Duration, answered_by: &str) -> Seen {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1003").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let agent = bench.attended_transfer("1003", exten).await;
    tokio::time::sleep(after).await;
    bench.hang_up(&format!("^{}$", regex_escape(&agent))).await;
    // Wait until the transfer is done and the party taking the call answered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let taken = || {
        let answered = bench
            .updates()
            .last()
            .and_then(|u| u.call.clone())
            .is_some_and(|c| c.answered_at.is_some() && c.answered_by == answered_by);
        answered && !bench.heard("AttendedTransfer").is_empty()
    };
    while !taken() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{answered_by} took the call: {:#?}",
            bench.updates()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.customer_number, "0611111111");
    assert_eq!(seen.call.answered_by, answered_by);
    assert_eq!(seen.call.agent_extension, answered_by);
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(bench.records().await.len(), 1, "one record");
    seen
}

#[tokio::test]
async fn an_attended_transfer_to_a_ring_group() {
    let seen = a_feature_code_transfer_to("600", Duration::from_secs(4), "1001").await;
    assert_eq!(Bench::transfers(&seen), ["attended 1001"]);
}

#[tokio::test]
async fn an_attended_transfer_to_a_queue() {
    let seen = a_feature_code_transfer_to("8000", Duration::from_secs(4), "1001").await;
    assert_eq!(Bench::transfers(&seen), ["attended 1001"]);
    assert_eq!(
        seen.call.queue, "",
        "the customer never waited in the queue"
    );
}

#[tokio::test]
async fn a_blonde_transfer_to_a_ring_group() {
    // 1002 answers two seconds into ringing, 1003 three: the agent hangs up before.
    let seen = a_feature_code_transfer_to("601", Duration::from_millis(1200), "1002").await;
    assert_eq!(Bench::transfers(&seen), ["blonde 601"]);
}

#[tokio::test]
async fn a_blonde_transfer_to_a_queue() {
    // `service` rings 1004 for three seconds first, then 1001.
    let seen = a_feature_code_transfer_to("8002", Duration::from_millis(1200), "1001").await;
    assert_eq!(Bench::transfers(&seen), ["blonde 8002"]);
}

#[tokio::test]
async fn a_click_to_dial_call_the_agent_transfers_blindly() {
    let bench = Bench::start().await;
    // 1001 calls a customer with click-to-dial, then hands them to 1002.
    bench.click_to_dial("1001", "0612345678").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.blind_transfer("1001", "1002").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/0612345678@phones").await;
    let seen = bench.the_one_call().await;
    assert_eq!(Bench::transfers(&seen), ["blind 1002"]);
    assert_eq!(
        seen.call.customer_number, "0612345678",
        "the transferee is the calling party now"
    );
    assert_eq!(seen.call.answered_by, "1002");
    assert_eq!(seen.call.agent_extension, "1002");
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
    assert_eq!(bench.records().await.len(), 1);
}

/// The simulator's click-to-dial, pickup and forward (section 5 of issue
/// 24) speak as the real Asterisk spoke in the same flows: every event the
/// simulator sends in them carries a set of fields the real one sent for
/// that event.
#[tokio::test]
async fn the_simulators_flows_carry_the_fields_the_real_asterisk_sent() {
    use std::collections::{BTreeMap, BTreeSet};
    use switchboard::devtools::sim::pbx::{SimPbx, Workload};

    let bench = Bench::start().await;
    bench.click_to_dial("1001", "0612345678").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/1001@phones").await;
    bench.click_to_dial("1005", "1002").await;
    bench.customer_calls("0611111111", "1004").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bench.phone_dials("1002", "**1004").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    bench.customer_calls("0622222222", "1008").await;
    bench.ended(3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut real: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for message in bench.heard.lock().iter() {
        let name = message.event().unwrap_or_default().to_owned();
        real.entry(name)
            .or_default()
            .insert(message.headers().map(|(k, _)| k.to_owned()).collect());
    }
    let mut pbx = SimPbx::new(Workload {
        agents: 6,
        queues: 1,
        calls_per_minute: 0.0,
        other_calls_per_minute: 20.0,
        seed: 9,
        talk_seconds: 5.0..30.0,
    });
    let names = [
        "Newchannel",
        "Newstate",
        "DialBegin",
        "DialEnd",
        "OriginateResponse",
        "Pickup",
        "LocalBridge",
        "BridgeCreate",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeDestroy",
        "Hangup",
    ];
    let mut differences = BTreeSet::new();
    let mut compared = BTreeSet::new();
    for _ in 0..7_200 {
        for message in pbx.tick(0.5) {
            let name = message.event().unwrap_or_default();
            if !names.contains(&name) {
                continue;
            }
            let fields: BTreeSet<String> = message.headers().map(|(k, _)| k.to_owned()).collect();
            let sets = real
                .get(name)
                .unwrap_or_else(|| panic!("the real PBX sent no {name}"));
            compared.insert(name.to_owned());
            if !sets.contains(&fields) {
                let nearest = sets
                    .iter()
                    .min_by_key(|set| set.symmetric_difference(&fields).count())
                    .unwrap();
                differences.insert(format!(
                    "{name}: missing {:?}, extra {:?}",
                    nearest.difference(&fields).collect::<Vec<_>>(),
                    fields.difference(nearest).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(compared.len(), names.len(), "compared {compared:?}");
}

#[tokio::test]
async fn a_call_redirected_to_another_extension() {
    let bench = Bench::start().await;
    bench.customer_calls("0611111111", "1003").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // A desktop sends the customer elsewhere with AMI Redirect: no transfer
    // event, the customer's channel just leaves the bridge and dials 1002.
    let customer = bench.channel("Local/0611111111@customers-", ";1").await;
    bench
        .action(
            "Redirect",
            &[
                ("Channel", &customer),
                ("Context", "internal"),
                ("Exten", "1002"),
                ("Priority", "1"),
            ],
        )
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    assert_eq!(seen.call.answered_by, "1002", "{:#?}", seen.updates);
    assert_eq!(seen.call.agent_extension, "1002");
    assert_eq!(Bench::transfers(&seen), ["blind 1002"]);
    assert_eq!(seen.call.end_reason(), CallEndReason::Completed);
}

/// A switchboard that connects while a click-to-dial still rings the
/// requester's own phone (a restart, a reconnect) rebuilds it from the PBX as
/// what it is: no call yet; and when the requester answers, one call from
/// them, answered by the destination.
#[tokio::test]
async fn a_click_to_dial_ringing_the_requester_at_a_reconnect_is_no_call_yet() {
    let bench = Bench::start().await;
    // 1003 rings three seconds before answering; then 1002 is dialled.
    bench.click_to_dial("1003", "1002").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let port = bench.pbx.ami_port.to_string();
    let late = spawn_app_with(|args| {
        args.ami_host = Some("127.0.0.1".into());
        args.ami_port = Some(port);
        args.ami_username = Some("watcher".into());
        args.ami_secret = Some("watcherpw".into());
    })
    .await;
    let mut stream = late
        .subscribe(
            SubscribeRequest {
                kinds: vec![EventKind::CallUpdated as i32],
                ..Default::default()
            },
            &token(Role::Supervisor, None, None),
        )
        .await;
    let mut updates = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while let Ok(Some(Ok(response))) = tokio::time::timeout_at(deadline, stream.next()).await {
        if let Some(Payload::CallUpdated(update)) = response.event.and_then(|e| e.payload) {
            updates.push(update);
        }
    }
    bench.hang_up("^Local/1002@phones").await;
    let seen = bench.the_one_call().await;
    while let Ok(Some(Ok(response))) =
        tokio::time::timeout(Duration::from_secs(3), stream.next()).await
    {
        if let Some(Payload::CallUpdated(update)) = response.event.and_then(|e| e.payload) {
            updates.push(update);
        }
    }
    let started: Vec<&Call> = updates
        .iter()
        .filter(|u| u.change() == CallChange::Started)
        .filter_map(|u| u.call.as_ref())
        .collect();
    assert_eq!(started.len(), 1, "{updates:#?}");
    assert_eq!(started[0].customer_number, "1003", "the requester");
    let ended = updates
        .iter()
        .rev()
        .find(|u| u.change() == CallChange::Ended)
        .and_then(|u| u.call.clone())
        .expect("the call ended");
    assert_eq!(ended.answered_by, "1002");
    assert_eq!(ended.answered_by, seen.call.answered_by);
    assert_eq!(ended.end_reason(), CallEndReason::Completed);
}

#[tokio::test]
async fn a_call_announced_over_ami_before_it_enters_stasis_stays_one_call_on_the_wallboard() {
    let bench = Bench::start_watching(Watching::Both).await;
    // Two seconds in a queue (an AMI call by then), then the agent bridge.
    bench.customer_calls("0611111111", "7003").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    bench.hang_up("^Local/0611111111@customers").await;
    let seen = bench.the_one_call().await;
    let ids = seen.call.ids.clone().unwrap_or_default();
    assert!(
        seen.call.call_id.starts_with("ari-"),
        "the bridge's: {ids:?}"
    );
    assert_eq!(ids.ami_uniqueid, ids.ari_channel_id);
    assert_eq!(seen.call.agent_extension, "1001");
    assert_eq!(
        bench.socket.count("call:new"),
        1,
        "one row on the wallboard"
    );
    assert_eq!(bench.socket.count("call:ended"), 1);
    assert_eq!(bench.records().await.len(), 1, "one record");
    // gRPC tells the queue part as a call merged into the bridge's.
    let merged = bench
        .updates()
        .iter()
        .filter(|u| u.change() == CallChange::Ended)
        .filter_map(|u| u.call.clone())
        .filter(|c| c.end_reason() == CallEndReason::Transferred)
        .count();
    assert_eq!(merged, 1);
}

/// An `ARI_URL` that is no ARI base: the source says so, naming the URL it
/// tried (without the credentials), instead of retrying a bare 404.
#[tokio::test]
async fn a_wrong_ari_base_is_reported_with_the_url_tried() {
    let pbx = Pbx::start().await;
    let base = format!("http://127.0.0.1:{}/nowhere", pbx.http_port);
    let app = spawn_app_with(|args| {
        args.ari_url = Some(base.clone());
        args.ari_username = Some("ari".into());
        args.ari_password = Some("aripw".into());
    })
    .await;
    // The source retries (and reports) until ARI answers: a subscriber that
    // comes after the first report hears the next.
    let supervisor = token(Role::Supervisor, None, None);
    let mut statuses = app
        .subscribe(
            SubscribeRequest {
                kinds: vec![EventKind::SourceStatus as i32],
                ..Default::default()
            },
            &supervisor,
        )
        .await;
    let status = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = statuses
                .next()
                .await
                .expect("open")
                .expect("ok")
                .event
                .expect("set");
            if let Some(Payload::SourceStatus(status)) = event.payload
                && status.source() == switchboard::proto::v1::SourceKind::Ari
            {
                return status;
            }
        }
    })
    .await
    .expect("the ARI source reports");
    assert_eq!(status.state(), SourceState::Disconnected, "{status:?}");
    let tried = format!("{base}/ari/events?app=callcenter");
    assert!(
        status.message.contains(&format!("{tried} answered 404")),
        "{}",
        status.message
    );
    assert!(status.message.contains("ARI_URL"), "{}", status.message);
    assert!(!status.message.contains("aripw"), "{}", status.message);
}
