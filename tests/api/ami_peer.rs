//! A PBX on loopback speaking AMI wire framing: greeting, `Login`, `Ping`,
//! the rebuild's event lists (`CoreShowChannels`, `QueueStatus`, `Agents`,
//! answered from what the test gives), `Originate` (recorded, answered
//! Success). Once the rebuild's last list is answered it writes the test's
//! bytes as they are.

use futures::StreamExt;
use switchboard::sources::ami::codec::{
    AmiCodec, AmiFrame, AmiMessage, encode_event_list as event_list, encode_pairs as reply,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
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
}

impl AmiPeer {
    /// The port, for `AMI_PORT`.
    pub fn port(&self) -> String {
        self.address.rsplit(':').next().unwrap().to_owned()
    }
}

/// Starts the peer; it serves one connection at a time, the script on the first.
pub async fn start(script: Script) -> AmiPeer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
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
            let Some(Ok(AmiFrame::Message(action))) = framed.next().await else {
                return;
            };
            let id = action.action_id().unwrap_or_default().to_owned();
            let name = action.get("Action").unwrap_or_default().to_owned();
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
    AmiPeer { address }
}
