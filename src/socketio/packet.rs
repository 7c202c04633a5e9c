//! Socket.IO v5 packets, carried as Engine.IO messages:
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`.
//!
//! Types: `0` connect (data: the client's auth object; the server answers
//! with `{"sid": …}`), `1` disconnect, `2` event (data: an array, the event
//! name first), `3` ack (data: the answer's arguments), `4` connect error
//! (data: `{"message": …}`), `5` and `6` binary event and ack (the JSON holds
//! placeholders for attachments that follow as binary messages). The
//! namespace is written only when it is not `/`.

use serde_json::value::RawValue;

/// The namespace a packet belongs to when it names none.
pub const DEFAULT_NAMESPACE: &str = "/";

/// Event names Socket.IO keeps for itself: a client cannot send them as events.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// What a Socket.IO packet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// `0`: join a namespace (client), or the answer to that (server).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event with arguments.
    Event,
    /// `3`: the answer to an event that asked for one.
    Ack,
    /// `4`: the server refused to connect the client to a namespace.
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an answer with binary attachments.
    BinaryAck,
}

impl PacketKind {
    fn from_digit(digit: u8) -> Option<Self> {
        Some(match digit {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    fn digit(self) -> char {
        match self {
            Self::Connect => '0',
            Self::Disconnect => '1',
            Self::Event => '2',
            Self::Ack => '3',
            Self::ConnectError => '4',
            Self::BinaryEvent => '5',
            Self::BinaryAck => '6',
        }
    }

    fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// Why a text is not a valid Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The first character is not a packet type `0`–`6`.
    #[error("unknown socket.io packet type")]
    UnknownType,
    /// A binary packet without a well-formed attachment count.
    #[error("a binary socket.io packet without its attachment count")]
    BadAttachments,
    /// An acknowledgement id too large for 64 bits.
    #[error("a socket.io ack id out of range")]
    BadAckId,
    /// The data is not JSON.
    #[error("socket.io packet data is not JSON: {0}")]
    NotJson(String),
    /// The data does not have the shape its type requires.
    #[error("socket.io {0:?} packet with data of the wrong shape")]
    WrongShape(PacketKind),
    /// An event packet whose name is reserved by Socket.IO.
    #[error("socket.io event name {0:?} is reserved")]
    ReservedEvent(String),
}

/// A Socket.IO packet, borrowing its text.
#[derive(Debug, Clone, Copy)]
pub struct SocketPacket<'a> {
    /// What the packet does.
    pub kind: PacketKind,
    /// How many binary attachments follow (binary packets only).
    pub attachments: usize,
    /// The namespace, `/` unless the packet names another.
    pub namespace: &'a str,
    /// The acknowledgement id: the sender wants an answer carrying it.
    pub id: Option<u64>,
    /// The JSON data, checked to have the shape the kind requires.
    pub data: Option<&'a RawValue>,
}

/// An event's name and arguments.
#[derive(Debug, Clone)]
pub struct EventCall<'a> {
    /// The event name (unescaped).
    pub name: String,
    /// The arguments after the name, as JSON.
    pub args: Vec<&'a RawValue>,
}

impl<'a> SocketPacket<'a> {
    /// Reads a packet from the text of an Engine.IO message (without its `4`).
    pub fn decode(text: &'a str) -> Result<Self, PacketError> {
        let bytes = text.as_bytes();
        let kind = bytes
            .first()
            .and_then(|&digit| PacketKind::from_digit(digit))
            .ok_or(PacketError::UnknownType)?;
        let mut at = 1;

        let mut attachments = 0;
        if kind.is_binary() {
            let dash = text[at..].find('-').ok_or(PacketError::BadAttachments)?;
            attachments = text[at..at + dash]
                .parse()
                .map_err(|_| PacketError::BadAttachments)?;
            at += dash + 1;
        }

        let mut namespace = DEFAULT_NAMESPACE;
        if bytes.get(at) == Some(&b'/') {
            let end = text[at..].find(',').map_or(text.len(), |comma| at + comma);
            namespace = &text[at..end];
            at = (end + 1).min(text.len());
        }

        let digits = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let id = if digits > 0 {
            let id = text[at..at + digits]
                .parse()
                .map_err(|_| PacketError::BadAckId)?;
            at += digits;
            Some(id)
        } else {
            None
        };

        let rest = &text[at..];
        let data = if rest.is_empty() {
            None
        } else {
            let raw: &RawValue = serde_json::from_str(rest)
                .map_err(|error| PacketError::NotJson(error.to_string()))?;
            Some(raw)
        };
        let packet = Self {
            kind,
            attachments,
            namespace,
            id,
            data,
        };
        packet.check_shape()?;
        Ok(packet)
    }

    /// Whether the data has the shape the kind requires.
    fn check_shape(&self) -> Result<(), PacketError> {
        let first = self
            .data
            .and_then(|raw| raw.get().trim_start().bytes().next());
        let fits = match self.kind {
            PacketKind::Connect => matches!(first, None | Some(b'{')),
            PacketKind::Disconnect => first.is_none(),
            PacketKind::ConnectError => matches!(first, Some(b'{' | b'"')),
            // An event's name is read (and checked) as well.
            PacketKind::Event | PacketKind::BinaryEvent => return self.event().map(drop),
            PacketKind::Ack | PacketKind::BinaryAck => first == Some(b'['),
        };
        if fits {
            Ok(())
        } else {
            Err(PacketError::WrongShape(self.kind))
        }
    }

    /// The name and arguments of an event packet.
    pub fn event(&self) -> Result<EventCall<'a>, PacketError> {
        let wrong = PacketError::WrongShape(self.kind);
        let data = self.data.ok_or_else(|| wrong.clone())?;
        let mut items: Vec<&'a RawValue> =
            serde_json::from_str(data.get()).map_err(|_| wrong.clone())?;
        if items.is_empty() {
            return Err(wrong);
        }
        let name: String = serde_json::from_str(items[0].get()).map_err(|_| wrong)?;
        if RESERVED_EVENTS.contains(&name.as_str()) {
            return Err(PacketError::ReservedEvent(name));
        }
        items.remove(0);
        Ok(EventCall { name, args: items })
    }
}

/// Appends the namespace prefix (`/admin,`), nothing for the default one.
fn push_namespace(out: &mut String, namespace: &str) {
    if namespace != DEFAULT_NAMESPACE {
        out.push_str(namespace);
        out.push(',');
    }
}

/// Appends the Engine.IO message of an event: `42["name",data]` for the
/// default namespace. `data` is one JSON value, written as is.
pub fn push_event_message(out: &mut String, namespace: &str, name: &str, data: &str) {
    out.push('4');
    out.push(PacketKind::Event.digit());
    push_namespace(out, namespace);
    out.push('[');
    // A string always serializes.
    out.push_str(&serde_json::to_string(name).unwrap_or_default());
    out.push(',');
    out.push_str(data);
    out.push(']');
}

/// The Engine.IO message that accepts a client into `namespace` as socket
/// `sid`, with the private session id `pid` it may recover with.
pub fn connect_message(namespace: &str, sid: &str, pid: Option<&str>) -> String {
    let mut out = String::from("40");
    push_namespace(&mut out, namespace);
    let quoted = |id: &str| serde_json::to_string(id).unwrap_or_default();
    out.push_str("{\"sid\":");
    out.push_str(&quoted(sid));
    if let Some(pid) = pid {
        out.push_str(",\"pid\":");
        out.push_str(&quoted(pid));
    }
    out.push('}');
    out
}

/// As [`push_event_message`], with `offset` as the event's last argument:
/// the offset a client that recovers its connection state sends back.
pub fn push_event_message_at(
    out: &mut String,
    namespace: &str,
    name: &str,
    data: &str,
    offset: &str,
) {
    push_event_message(out, namespace, name, data);
    out.pop();
    out.push(',');
    out.push_str(&serde_json::to_string(offset).unwrap_or_default());
    out.push(']');
}

/// The Engine.IO message that refuses a client `namespace`, saying why.
pub fn connect_error_message(namespace: &str, message: &str) -> String {
    let mut out = String::from("44");
    push_namespace(&mut out, namespace);
    out.push_str(&serde_json::json!({ "message": message }).to_string());
    out
}

/// The Engine.IO message that answers event `id` with `args` (JSON values).
pub fn ack_message(namespace: &str, id: u64, args: &[&str]) -> String {
    let mut out = String::from("43");
    push_namespace(&mut out, namespace);
    out.push_str(&id.to_string());
    out.push('[');
    out.push_str(&args.join(","));
    out.push(']');
    out
}

/// The Engine.IO message that tells a client it left `namespace`.
pub fn disconnect_message(namespace: &str) -> String {
    let mut out = String::from("41");
    push_namespace(&mut out, namespace);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> PacketError {
        SocketPacket::decode(text).expect_err(text)
    }

    fn decode(text: &str) -> SocketPacket<'_> {
        SocketPacket::decode(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn the_connect_packets_of_the_protocol_read_with_their_namespace_and_auth() {
        let plain = decode("0");
        assert_eq!(plain.kind, PacketKind::Connect);
        assert_eq!(plain.namespace, "/");
        assert!(plain.data.is_none());

        let with_auth = decode("0{\"token\":\"abc\"}");
        assert_eq!(
            with_auth.data.map(RawValue::get),
            Some("{\"token\":\"abc\"}")
        );

        let admin = decode("0/admin,{\"token\":\"abc\"}");
        assert_eq!(admin.namespace, "/admin");
        assert_eq!(admin.data.map(RawValue::get), Some("{\"token\":\"abc\"}"));

        let admin_bare = decode("0/admin,");
        assert_eq!(admin_bare.namespace, "/admin");
        assert!(admin_bare.data.is_none());
        assert_eq!(decode("0/admin").namespace, "/admin");
    }

    #[test]
    fn events_read_with_name_arguments_and_ack_id() {
        let packet = decode("2[\"supervisor:monitor\",{\"agentExtension\":\"1001\"}]");
        assert_eq!(packet.kind, PacketKind::Event);
        assert_eq!(packet.id, None);
        let call = packet.event().unwrap();
        assert_eq!(call.name, "supervisor:monitor");
        assert_eq!(call.args.len(), 1);
        assert_eq!(call.args[0].get(), "{\"agentExtension\":\"1001\"}");

        let asking = decode("2/chat,12[\"join\",\"conv-1\",2]");
        assert_eq!(asking.namespace, "/chat");
        assert_eq!(asking.id, Some(12));
        let call = asking.event().unwrap();
        assert_eq!(call.name, "join");
        assert_eq!(
            call.args.iter().map(|arg| arg.get()).collect::<Vec<_>>(),
            ["\"conv-1\"", "2"]
        );

        let escaped = decode("2[\"a\\\"b\"]");
        assert_eq!(escaped.event().unwrap().name, "a\"b");
    }

    #[test]
    fn acks_disconnects_and_binary_packets_read() {
        let ack = decode("3/admin,7[\"ok\"]");
        assert_eq!(
            (ack.kind, ack.namespace, ack.id),
            (PacketKind::Ack, "/admin", Some(7))
        );
        assert_eq!(decode("1").kind, PacketKind::Disconnect);
        assert_eq!(decode("1/admin,").namespace, "/admin");

        let binary = decode("51-[\"upload\",{\"_placeholder\":true,\"num\":0}]");
        assert_eq!(binary.kind, PacketKind::BinaryEvent);
        assert_eq!(binary.attachments, 1);
        assert_eq!(binary.event().unwrap().name, "upload");
        let binary_ack = decode("61-/admin,3[{\"_placeholder\":true,\"num\":0}]");
        assert_eq!(
            (binary_ack.attachments, binary_ack.namespace, binary_ack.id),
            (1, "/admin", Some(3))
        );
    }

    #[test]
    fn malformed_packets_are_refused_with_the_reason() {
        assert_eq!(refused(""), PacketError::UnknownType);
        assert_eq!(refused("9"), PacketError::UnknownType);
        assert_eq!(refused("5[\"x\"]"), PacketError::BadAttachments);
        assert_eq!(refused("5a-[\"x\"]"), PacketError::BadAttachments);
        assert_eq!(
            refused("299999999999999999999[\"x\"]"),
            PacketError::BadAckId
        );
        assert!(matches!(refused("2[\"x\""), PacketError::NotJson(_)));
        assert!(matches!(
            refused("2[\"x\"] trailing"),
            PacketError::NotJson(_)
        ));
        for wrong in [
            "2{\"a\":1}",
            "2[]",
            "2[1,2]",
            "2",
            "0[1]",
            "1{}",
            "3{}",
            "4",
        ] {
            assert!(
                matches!(refused(wrong), PacketError::WrongShape(_)),
                "{wrong}"
            );
        }
        assert_eq!(
            refused("2[\"disconnect\"]"),
            PacketError::ReservedEvent("disconnect".into())
        );
    }

    #[test]
    fn the_server_messages_are_framed_for_engine_io_and_read_back() {
        let mut event = String::new();
        push_event_message(&mut event, "/", "call:new", "{\"uniqueid\":\"1.2\"}");
        assert_eq!(event, "42[\"call:new\",{\"uniqueid\":\"1.2\"}]");
        let mut at = String::new();
        push_event_message_at(&mut at, "/", "call:new", "{}", "7-1");
        assert_eq!(at, "42[\"call:new\",{},\"7-1\"]");
        let call = decode(&event[1..]).event().unwrap();
        assert_eq!(
            (call.name.as_str(), call.args[0].get()),
            ("call:new", "{\"uniqueid\":\"1.2\"}")
        );

        let mut quoted = String::new();
        push_event_message(&mut quoted, "/admin", "say \"hi\"", "1");
        assert_eq!(quoted, "42/admin,[\"say \\\"hi\\\"\",1]");
        assert_eq!(decode(&quoted[1..]).event().unwrap().name, "say \"hi\"");

        assert_eq!(connect_message("/", "s1", None), "40{\"sid\":\"s1\"}");
        assert_eq!(
            connect_message("/admin", "s1", None),
            "40/admin,{\"sid\":\"s1\"}"
        );
        assert_eq!(
            connect_message("/", "s1", Some("p1")),
            "40{\"sid\":\"s1\",\"pid\":\"p1\"}"
        );
        let refused = connect_error_message("/", "invalid \"token\"");
        assert_eq!(refused, "44{\"message\":\"invalid \\\"token\\\"\"}");
        assert_eq!(decode(&refused[1..]).kind, PacketKind::ConnectError);
        assert_eq!(
            ack_message("/", 4, &["{\"ok\":true}", "2"]),
            "434[{\"ok\":true},2]"
        );
        assert_eq!(decode(&ack_message("/admin", 4, &[])[1..]).id, Some(4));
        assert_eq!(disconnect_message("/"), "41");
        assert_eq!(disconnect_message("/admin"), "41/admin,");
    }
}
