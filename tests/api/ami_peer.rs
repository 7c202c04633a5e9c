//! A PBX on loopback speaking AMI wire framing: greeting, `Login`, `Ping`,
//! the rebuild's event lists (`CoreShowChannels`, `QueueStatus`, `Agents`,
//! answered from what the test gives), `Originate` (recorded for
//! [`AmiPeer::originates`], answered Success). Once the rebuild's last list is answered it writes the test's
//! bytes as they are, then whatever the test sends it ([`AmiPeer::send`]).
//! [`PeerCall`] writes a customer's call as Asterisk reports one.

use futures::StreamExt;
use switchboard::sources::ami::codec::{
    AmiCodec, AmiFrame, AmiMessage, encode_event_list as event_list, encode_pairs as reply,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

/// What the peer answers and sends.
#[derive(Default)]
pub struct Script {
    /// `CoreShowChannel` items.
    pub channels: Vec<AmiMessage>,
    /// Bytes written once the rebuild is answered.
    pub after_rebuild: Vec<u8>,
}

/// A running peer.
pub struct AmiPeer {
    /// `127.0.0.1:port`.
    pub address: String,
    pushes: mpsc::UnboundedSender<Vec<u8>>,
    originates: std::sync::Arc<parking_lot::Mutex<Vec<AmiMessage>>>,
}

impl AmiPeer {
    /// The port, for `AMI_PORT`.
    pub fn port(&self) -> String {
        self.address.rsplit(':').next().unwrap().to_owned()
    }

    /// Writes `bytes` to the server once its rebuild is answered, after
    /// everything sent before.
    pub fn send(&self, bytes: impl AsRef<[u8]>) {
        self.pushes
            .send(bytes.as_ref().to_vec())
            .expect("the peer runs");
    }

    /// The `Originate` actions the server sent, in order.
    pub fn originates(&self) -> Vec<AmiMessage> {
        self.originates.lock().clone()
    }
}

/// Starts the peer; it serves one connection at a time, the script on the first.
pub async fn start(script: Script) -> AmiPeer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (pushes, mut received) = mpsc::unbounded_channel::<Vec<u8>>();
    let originates: std::sync::Arc<parking_lot::Mutex<Vec<AmiMessage>>> = std::sync::Arc::default();
    let seen = std::sync::Arc::clone(&originates);
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        stream
            .write_all(b"Asterisk Call Manager/5.0.1\r\n")
            .await
            .unwrap();
        let mut framed = Framed::new(stream, AmiCodec::without_greeting(1 << 20));
        let mut after_rebuild = Some(script.after_rebuild);
        loop {
            let action = tokio::select! {
                frame = framed.next() => match frame {
                    Some(Ok(AmiFrame::Message(action))) => action,
                    _ => return,
                },
                Some(bytes) = received.recv(), if after_rebuild.is_none() => {
                    if framed.get_mut().write_all(&bytes).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let id = action.action_id().unwrap_or_default().to_owned();
            let name = action.get("Action").unwrap_or_default().to_owned();
            if name == "Originate" {
                seen.lock().push(action.clone());
            }
            let mut out = match name.as_str() {
                "Login" => reply(&[
                    ("Response", "Success"),
                    ("ActionID", &id),
                    ("Message", "Authentication accepted"),
                ]),
                "Ping" => reply(&[("Response", "Success"), ("ActionID", &id), ("Ping", "Pong")]),
                "CoreShowChannels" => event_list(&id, "CoreShowChannelsComplete", &script.channels),
                "QueueStatus" => event_list(&id, "QueueStatusComplete", &[]),
                "Agents" => event_list(&id, "AgentsComplete", &[]),
                "Originate" => reply(&[
                    ("Response", "Success"),
                    ("ActionID", &id),
                    ("Message", "Originate successfully queued"),
                ]),
                _ => reply(&[
                    ("Response", "Error"),
                    ("ActionID", &id),
                    ("Message", "Invalid/unknown command"),
                ]),
            };
            if name == "Agents"
                && let Some(bytes) = after_rebuild.take()
            {
                out.extend_from_slice(&bytes);
            }
            if framed.get_mut().write_all(&out).await.is_err() {
                return;
            }
        }
    });
    AmiPeer {
        address,
        pushes,
        originates,
    }
}

/// One customer's call from a trunk to phone 1001, as Asterisk 22 reports it
/// over AMI: the trunk's channel rings in and dials the phone, the phone
/// answers, both hang up. Each step's events are written by the test.
pub struct PeerCall {
    trunk: String,
    phone: String,
    number: String,
    name: String,
    tenant: String,
    n: usize,
}

impl PeerCall {
    /// The `n`th call (its channels' ids are unique per `n`), from `number`,
    /// on the route of `tenant` (Asterisk's `Tenantid`; empty for none).
    pub fn new(n: usize, number: &str, tenant: &str) -> PeerCall {
        PeerCall {
            trunk: format!("1700000000.{}", 2 * n),
            phone: format!("1700000000.{}", 2 * n + 1),
            number: number.to_owned(),
            name: "Customer".to_owned(),
            tenant: tenant.to_owned(),
            n,
        }
    }

    /// The same call with the caller's name `name`.
    pub fn named(mut self, name: &str) -> PeerCall {
        self.name = name.to_owned();
        self
    }

    /// The call's id in switchboard (the translator's, from the `Linkedid`).
    pub fn call_id(&self) -> String {
        format!(
            "{}{}",
            switchboard::sources::ami::translate::CALL_ID_PREFIX,
            self.trunk
        )
    }

    fn channel(&self, trunk: bool, state: u8, desc: &str) -> Vec<(String, String)> {
        let (name, uniqueid, number, exten, context) = if trunk {
            let name = format!("PJSIP/trunk-{:08x}", 2 * self.n);
            (
                name,
                &self.trunk,
                self.number.as_str(),
                "1001",
                "from-trunk",
            )
        } else {
            let name = format!("PJSIP/1001-{:08x}", 2 * self.n + 1);
            (name, &self.phone, "1001", "s", "phones")
        };
        [
            ("Channel", name.as_str()),
            ("ChannelState", &state.to_string()),
            ("ChannelStateDesc", desc),
            ("CallerIDNum", number),
            ("CallerIDName", if trunk { self.name.as_str() } else { "" }),
            ("Context", context),
            ("Exten", exten),
            ("Uniqueid", uniqueid),
            ("Linkedid", &self.trunk),
            ("Tenantid", &self.tenant),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn event(name: &str, fields: Vec<(String, String)>) -> Vec<u8> {
        let mut pairs = vec![("Event".to_owned(), name.to_owned())];
        pairs.extend(fields);
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        reply(&borrowed).to_vec()
    }

    /// `dest` fields: a channel's fields with the `Dest` prefix.
    fn dest(fields: Vec<(String, String)>) -> Vec<(String, String)> {
        fields
            .into_iter()
            .map(|(k, v)| (format!("Dest{k}"), v))
            .collect()
    }

    /// The trunk's channel comes in and dials the phone, which rings: the
    /// call is announced (`call:new`) and rings 1001.
    pub fn rings(&self) -> Vec<u8> {
        let mut out = Self::event("Newchannel", self.channel(true, 4, "Ring"));
        out.extend(Self::event("Newchannel", self.channel(false, 0, "Down")));
        let mut dial = self.channel(true, 4, "Ring");
        dial.extend(Self::dest(self.channel(false, 0, "Down")));
        dial.push(("DialString".into(), "1001".into()));
        out.extend(Self::event("DialBegin", dial));
        out.extend(Self::event("Newstate", self.channel(false, 5, "Ringing")));
        out
    }

    /// The trunk's channel comes in and is answered by the dialplan itself
    /// (a greeting, an IVR): the call is announced (`call:new`) and nothing
    /// else happens until it [`ends`](PeerCall::ends).
    pub fn announced(&self) -> Vec<u8> {
        let mut out = Self::event("Newchannel", self.channel(true, 4, "Ring"));
        out.extend(Self::event("Newstate", self.channel(true, 6, "Up")));
        out
    }

    /// The phone answers.
    pub fn answered(&self) -> Vec<u8> {
        let mut out = Self::event("Newstate", self.channel(false, 6, "Up"));
        let mut dial = self.channel(true, 4, "Ring");
        dial.extend(Self::dest(self.channel(false, 6, "Up")));
        dial.push(("DialStatus".into(), "ANSWER".into()));
        out.extend(Self::event("DialEnd", dial));
        out.extend(Self::event("Newstate", self.channel(true, 6, "Up")));
        out
    }

    /// Both hang up (normal clearing).
    pub fn ends(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for trunk in [false, true] {
            let mut fields = self.channel(trunk, 6, "Up");
            fields.push(("Cause".into(), "16".into()));
            fields.push(("Cause-txt".into(), "Normal Clearing".into()));
            out.extend(Self::event("Hangup", fields));
        }
        out
    }
}

impl PeerCall {
    /// The trunk channel's `Uniqueid`: the call's `uniqueid` on the wire.
    pub fn uniqueid(&self) -> &str {
        &self.trunk
    }
}

/// The server connected to a peer (configured further by `configure`),
/// once `/healthz` says its AMI source is connected: what the test sends the
/// peer from now on is live traffic.
pub async fn app_with_peer(
    configure: impl FnOnce(&mut switchboard::config::ServeArgs),
) -> (crate::helpers::TestApp, AmiPeer) {
    let peer = start(Script::default()).await;
    let port = peer.port();
    let app = crate::helpers::spawn_app_with(|args| {
        args.ami_host = Some("127.0.0.1".into());
        args.ami_port = Some(port);
        args.ami_username = Some("switchboard".into());
        args.ami_secret = Some("secret".into());
        configure(args);
    })
    .await;
    let client = reqwest::Client::new();
    let health = async || {
        let health: serde_json::Value = client
            .get(format!("{}/healthz", app.url()))
            .send()
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        (health["sources"]["ami"] == "connected").then_some(())
    };
    let within = std::time::Duration::from_secs(10);
    crate::helpers::until("the AMI source connects", within, health).await;
    (app, peer)
}

/// `AgentLogin` (`app_agent_pool`): agent `agent` logs in on a phone whose
/// caller-id name is `name`.
pub fn agent_login(agent: &str, name: &str) -> Vec<u8> {
    let channel = format!("PJSIP/{agent}-00000100");
    reply(&[
        ("Event", "AgentLogin"),
        ("Channel", &channel),
        ("ChannelState", "6"),
        ("ChannelStateDesc", "Up"),
        ("CallerIDNum", agent),
        ("CallerIDName", name),
        ("Context", "agents"),
        ("Exten", "login"),
        ("Uniqueid", "1700000100.1"),
        ("Linkedid", "1700000100.1"),
        ("Agent", agent),
    ])
    .to_vec()
}
