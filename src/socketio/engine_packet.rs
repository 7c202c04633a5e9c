//! Engine.IO v4 packets, the transport under Socket.IO: one packet per
//! WebSocket text frame, or several per HTTP long-polling body, separated by
//! the record separator (0x1e).
//!
//! A packet is one type digit and its data: `0` open (the handshake JSON),
//! `1` close, `2` ping, `3` pong (both with optional data, `probe` during an
//! upgrade), `4` message, `5` upgrade, `6` noop. In a polling body a binary
//! message travels as `b` and its base64; on WebSocket it is a binary frame
//! with no prefix.

use serde::Serialize;

/// Separates packets in a long-polling body.
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// An Engine.IO packet, borrowing its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    /// `0`: the handshake (server to client only).
    Open(&'a str),
    /// `1`: the session ends.
    Close,
    /// `2`: a heartbeat (server to client), or `2probe` to test a WebSocket.
    Ping(&'a str),
    /// `3`: the answer to a ping, with its data.
    Pong(&'a str),
    /// `4`: a text message (a Socket.IO packet).
    Message(&'a str),
    /// `5`: the client switches to the WebSocket it probed.
    Upgrade,
    /// `6`: nothing; ends a pending poll during an upgrade.
    Noop,
    /// `b…`: a binary message, base64-encoded, in a polling body.
    Binary64(&'a str),
}

/// Why a text is not an Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnginePacketError {
    /// An empty text (no type).
    #[error("an empty engine.io packet")]
    Empty,
    /// A type that is not `0`–`6` or `b`.
    #[error("unknown engine.io packet type {0:?}")]
    UnknownType(char),
}

impl<'a> EnginePacket<'a> {
    /// Reads one packet (a WebSocket text frame, or one record of a polling body).
    pub fn decode(text: &'a str) -> Result<Self, EnginePacketError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(EnginePacketError::Empty)?;
        let data = chars.as_str();
        Ok(match kind {
            '0' => Self::Open(data),
            '1' => Self::Close,
            '2' => Self::Ping(data),
            '3' => Self::Pong(data),
            '4' => Self::Message(data),
            '5' => Self::Upgrade,
            '6' => Self::Noop,
            'b' => Self::Binary64(data),
            other => return Err(EnginePacketError::UnknownType(other)),
        })
    }

    /// Appends the packet's text to `out`.
    pub fn encode_into(&self, out: &mut String) {
        let (kind, data) = match *self {
            Self::Open(data) => ('0', data),
            Self::Close => ('1', ""),
            Self::Ping(data) => ('2', data),
            Self::Pong(data) => ('3', data),
            Self::Message(data) => ('4', data),
            Self::Upgrade => ('5', ""),
            Self::Noop => ('6', ""),
            Self::Binary64(data) => ('b', data),
        };
        out.push(kind);
        out.push_str(data);
    }

    /// The packet's text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }
}

/// The packets of a long-polling body, in order.
pub fn split_payload(body: &str) -> impl Iterator<Item = &str> {
    body.split(RECORD_SEPARATOR)
}

/// Joins framed packets (each with its type) into a long-polling body.
pub fn join_payload<S: AsRef<str>>(packets: impl IntoIterator<Item = S>, out: &mut String) {
    for (index, packet) in packets.into_iter().enumerate() {
        if index > 0 {
            out.push(RECORD_SEPARATOR);
        }
        out.push_str(packet.as_ref());
    }
}

/// What the open packet tells a client about its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The session id the client names in every later request.
    pub sid: String,
    /// Transports the client may upgrade to (`websocket` from polling, none on WebSocket).
    pub upgrades: Vec<&'static str>,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong before it closes the session.
    pub ping_timeout: u64,
    /// The largest polling body the server accepts, in bytes.
    pub max_payload: u64,
}

impl Handshake {
    /// The open packet (`0{…}`).
    pub fn open_packet(&self) -> String {
        let mut out = String::from("0");
        // A struct of strings and integers always serializes.
        out.push_str(&serde_json::to_string(self).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_packet_type_reads_back_as_written() {
        let packets = [
            EnginePacket::Open("{}"),
            EnginePacket::Close,
            EnginePacket::Ping(""),
            EnginePacket::Ping("probe"),
            EnginePacket::Pong("probe"),
            EnginePacket::Message("2[\"hello\",1]"),
            EnginePacket::Upgrade,
            EnginePacket::Noop,
            EnginePacket::Binary64("AQIDBA=="),
        ];
        for packet in packets {
            let text = packet.encode();
            assert_eq!(EnginePacket::decode(&text), Ok(packet), "{text}");
        }
        assert_eq!(EnginePacket::Message("x").encode(), "4x");
        assert_eq!(EnginePacket::Ping("probe").encode(), "2probe");
    }

    #[test]
    fn a_packet_with_no_type_or_an_unknown_one_is_refused() {
        assert_eq!(EnginePacket::decode(""), Err(EnginePacketError::Empty));
        assert_eq!(
            EnginePacket::decode("7"),
            Err(EnginePacketError::UnknownType('7'))
        );
        assert_eq!(
            EnginePacket::decode("é"),
            Err(EnginePacketError::UnknownType('é'))
        );
    }

    #[test]
    fn a_polling_body_splits_and_joins_on_the_record_separator() {
        let body = "4hello\u{1e}2\u{1e}4€uro";
        let packets: Vec<_> = split_payload(body).collect();
        assert_eq!(packets, ["4hello", "2", "4€uro"]);
        let mut joined = String::new();
        join_payload(&packets, &mut joined);
        assert_eq!(joined, body);
        assert_eq!(split_payload("6").collect::<Vec<_>>(), ["6"]);
    }

    #[test]
    fn the_open_packet_carries_the_handshake_in_camel_case() {
        let handshake = Handshake {
            sid: "abc".into(),
            upgrades: vec!["websocket"],
            ping_interval: 25_000,
            ping_timeout: 20_000,
            max_payload: 1_000_000,
        };
        let text = handshake.open_packet();
        let EnginePacket::Open(json) = EnginePacket::decode(&text).unwrap() else {
            panic!("{text}");
        };
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "sid": "abc",
                "upgrades": ["websocket"],
                "pingInterval": 25000,
                "pingTimeout": 20000,
                "maxPayload": 1000000
            })
        );
    }
}
