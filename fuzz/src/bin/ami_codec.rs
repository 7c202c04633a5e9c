//! The AMI codec on arbitrary bytes from the PBX's socket, and the client's
//! matching of what it decodes to the actions waiting for an answer.

use bytes::BytesMut;
use switchboard::sources::ami::client::ActionMatcher;
use switchboard::sources::ami::codec::{AmiCodec, AmiFrame};
use tokio_util::codec::Decoder;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut codec = AmiCodec::new(64 * 1024);
        let mut matcher = ActionMatcher::new();
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let mut replies = Vec::new();
        for id in ["sb-1", "sb-2", "1"] {
            let (tx, rx) = tokio::sync::oneshot::channel();
            matcher.await_answer(id.to_owned(), "Command", Some(tx), far);
            replies.push(rx);
        }
        // The bytes arrive in two reads, split where the input says.
        let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
        let mut buffer = BytesMut::from(&data[..cut]);
        for chunk in [&data[cut..], &[][..]] {
            buffer.extend_from_slice(chunk);
            while let Ok(Some(frame)) = codec.decode(&mut buffer) {
                if let AmiFrame::Message(message) = frame {
                    let _ = (message.event(), message.action_id(), message.output());
                    let _ = message.get_many(["Uniqueid", "Linkedid", "Channel"]);
                    let _ = message.get_last("Variable");
                    if let Some(event) = matcher.route(message) {
                        assert!(event.event().is_some());
                    }
                }
            }
        }
        matcher.abandon();
        for mut reply in replies {
            // Every action is answered once: with its reply, or as abandoned.
            assert!(reply.try_recv().is_ok());
        }
    });
}
