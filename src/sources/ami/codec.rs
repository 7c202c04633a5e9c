//! The AMI wire framing as a tokio codec.
//!
//! - The first line is the greeting (`Asterisk Call Manager/11.0.0`).
//! - A message is `Key: Value` lines, each ended by CRLF (LF accepted), and a
//!   blank line ends it. Values may contain colons; only the first `:` splits.
//!   A key may repeat (`Variable: a=1`, `Variable: b=2`).
//! - `Response: Follows` (Asterisk up to 12) carries raw command output after its
//!   headers, up to a `--END COMMAND--` line, and may hold blank lines.
//! - A frame larger than the limit, or a line that is not `Key: Value`, is
//!   skipped up to the next blank line and reported as [`AmiFrame::Skipped`]; the
//!   stream goes on. Only I/O errors end it.
//!
//! Decoding keeps each message as one string plus header ranges: two
//! allocations per message, however many headers it has.

use std::ops::Range;

use bytes::{Buf, BufMut, BytesMut};
use bytestring::ByteString;
use tokio_util::codec::{Decoder, Encoder};

use super::lines::{self, KEY_BYTES};

/// Default largest frame accepted, in bytes.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

const END_COMMAND: &str = "--END COMMAND--";

/// One decoded unit of the AMI stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmiFrame {
    /// The greeting line, without its line ending.
    Greeting(String),
    /// A message: a response or an event.
    Message(AmiMessage),
    /// Bytes that could not be a message, skipped up to the next blank line.
    Skipped {
        /// Why.
        reason: SkipReason,
        /// How many bytes were dropped.
        bytes: usize,
    },
}

/// Why a frame was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Longer than the frame limit.
    Oversized,
    /// A line that is not `Key: Value`.
    Malformed,
}

impl SkipReason {
    /// A stable snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Oversized => "oversized",
            SkipReason::Malformed => "malformed",
        }
    }
}

/// One AMI message: ordered headers (keys may repeat) and, for
/// `Response: Follows`, the command output lines.
#[derive(Clone, PartialEq, Eq)]
pub struct AmiMessage {
    /// The message's bytes, shared with the read buffer they came in (no copy).
    text: ByteString,
    headers: Vec<(Range<usize>, Range<usize>)>,
    output: Vec<Range<usize>>,
}

impl AmiMessage {
    /// A message built from `(key, value)` pairs (for actions and the simulator).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> AmiMessage {
        let mut text = String::new();
        let mut headers = Vec::new();
        for (key, value) in pairs {
            let key_start = text.len();
            text.push_str(key);
            let key_range = key_start..text.len();
            text.push_str(": ");
            let value_start = text.len();
            text.push_str(value);
            headers.push((key_range, value_start..text.len()));
            text.push('\n');
        }
        AmiMessage {
            text: text.into(),
            headers,
            output: Vec::new(),
        }
    }

    /// Every header in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (&self.text[k.clone()], &self.text[v.clone()]))
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        // Compared as bytes, length and first letter first: the translator
        // asks many times per event, mostly for keys of the same length as
        // others (`Channel`, `Context`).
        let text = self.text.as_bytes();
        let key = key.as_bytes();
        let first = key.first()?.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| {
                k.len() == key.len()
                    && text[k.start].to_ascii_lowercase() == first
                    && text[k.clone()].eq_ignore_ascii_case(key)
            })
            .map(|(_, v)| &self.text[v.clone()])
    }

    /// The last value of `key` (case-insensitive), searched from the end: for
    /// a field Asterisk puts last in an event (a `Newexten`'s `Application`),
    /// found in a step or two instead of a walk past every channel field.
    pub fn get_last(&self, key: &str) -> Option<&str> {
        let text = self.text.as_bytes();
        let key = key.as_bytes();
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.len() == key.len() && text[k.clone()].eq_ignore_ascii_case(key))
            .map(|(_, v)| &self.text[v.clone()])
    }

    /// The first value of each of `keys` (case-insensitive), in one pass over
    /// the headers, for a handler that reads several fields of one event.
    /// Headers of a length no key has are passed over at a glance. `keys`
    /// must not repeat.
    pub fn get_many<const N: usize>(&self, keys: [&str; N]) -> [Option<&str>; N] {
        let mut found = [None; N];
        self.find_each(&keys, &mut found);
        found
    }

    /// The search behind [`AmiMessage::get_many`], one copy for every number
    /// of keys: a copy per handler made the hot code larger than it saved.
    #[inline(never)]
    fn find_each<'a>(&'a self, keys: &[&str], found: &mut [Option<&'a str>]) {
        let text = self.text.as_bytes();
        // Bit `n` set when some key is `n` bytes long (63 stands for longer ones).
        let lengths = keys
            .iter()
            .fold(0u64, |bits, key| bits | (1 << key.len().min(63)));
        let mut missing = keys.len();
        for (k, v) in &self.headers {
            if lengths & (1 << k.len().min(63)) == 0 {
                continue;
            }
            let name = &text[k.clone()];
            let slot = keys
                .iter()
                .zip(found.iter_mut())
                .find(|(key, slot)| slot.is_none() && name.eq_ignore_ascii_case(key.as_bytes()));
            if let Some((_, slot)) = slot {
                *slot = Some(&self.text[v.clone()]);
                missing -= 1;
                if missing == 0 {
                    break;
                }
            }
        }
    }

    /// Every value of `key` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The event name, for events.
    pub fn event(&self) -> Option<&str> {
        // Asked several times of every message on its way in; Asterisk sends
        // `Event` first, so that header is looked at before any search.
        match self.headers.first() {
            Some((k, v)) if &self.text.as_bytes()[k.clone()] == b"Event" => {
                Some(&self.text[v.clone()])
            }
            _ => self.get("Event"),
        }
    }

    /// The response status (`Success`, `Error`, `Follows`, `Goodbye`), for responses.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    /// The ActionID, when the message answers an action.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// Command output: the raw lines of `Response: Follows`, or the `Output:` headers
    /// that Asterisk 13+ sends instead.
    pub fn output(&self) -> Vec<&str> {
        if self.output.is_empty() {
            self.get_all("Output").collect()
        } else {
            self.output.iter().map(|r| &self.text[r.clone()]).collect()
        }
    }

    /// How many headers the message has.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether the message has no headers.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

impl std::fmt::Debug for AmiMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in self.headers() {
            map.entry(&key, &value);
        }
        map.finish()
    }
}

/// An action to send: `Action: Name`, an `ActionID`, then fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiAction {
    /// The action name (`Login`, `Ping`, `Originate`, …).
    pub name: String,
    /// The ActionID that correlates its response.
    pub action_id: String,
    /// Further fields, in order.
    pub fields: Vec<(String, String)>,
}

impl AmiAction {
    /// An action with no fields yet.
    pub fn new(name: impl Into<String>, action_id: impl Into<String>) -> Self {
        AmiAction {
            name: name.into(),
            action_id: action_id.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }
}

/// Errors of the codec: I/O, or an action that would break the framing.
#[derive(Debug, thiserror::Error)]
pub enum AmiCodecError {
    /// The connection failed.
    #[error("ami i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A key or value holds a line break, which would inject lines into the stream.
    #[error("ami action field {0:?} contains a line break")]
    LineBreakInField(String),
}

/// Decodes [`AmiFrame`]s and encodes [`AmiAction`]s.
#[derive(Debug, Clone)]
pub struct AmiCodec {
    max_frame: usize,
    greeted: bool,
    skipping: Option<(SkipReason, usize)>,
    scanned: usize,
    /// Headers of the message being read, found while looking for its end.
    partial: Vec<(Range<usize>, Range<usize>)>,
    /// The message being read has a line that is not `Key: Value`.
    partial_malformed: bool,
}

impl AmiCodec {
    /// A codec for a fresh connection, accepting frames up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        AmiCodec {
            max_frame,
            greeted: false,
            skipping: None,
            scanned: 0,
            partial: Vec::new(),
            partial_malformed: false,
        }
    }

    /// A codec for a stream that starts after the greeting.
    pub fn without_greeting(max_frame: usize) -> Self {
        AmiCodec {
            greeted: true,
            ..AmiCodec::new(max_frame)
        }
    }
}

impl Default for AmiCodec {
    fn default() -> Self {
        AmiCodec::new(DEFAULT_MAX_FRAME)
    }
}

/// The line at `start`: its end (without line ending) and the start of the next line.
/// A line of only spaces or tabs counts as blank (seen in captures; never content).
fn line_at(buffer: &[u8], start: usize) -> Option<(usize, usize)> {
    let newline = memchr::memchr(b'\n', &buffer[start..])? + start;
    let mut end = newline;
    if end > start && buffer[end - 1] == b'\r' {
        end -= 1;
    }
    if buffer[start..end].iter().all(|b| *b == b' ' || *b == b'\t') {
        end = start;
    }
    Some((end, newline + 1))
}

/// Where the message at the start of `buffer` ends: (end of its content, end of
/// the frame including the blank line), or `None` when more bytes are needed.
fn frame_end(buffer: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut start = from;
    let follows = buffer.starts_with(b"Response: Follows");
    loop {
        let (end, next) = line_at(buffer, start)?;
        let line = &buffer[start..end];
        if follows {
            if line.ends_with(END_COMMAND.as_bytes()) {
                // The blank line after `--END COMMAND--`.
                let (blank_end, after) = line_at(buffer, next)?;
                return Some((end, if blank_end == next { after } else { next }));
            }
        } else if line.is_empty() {
            return Some((start, next));
        }
        start = next;
    }
}

impl AmiCodec {
    /// Reads an ordinary message (not `Response: Follows`) in one pass:
    /// finds its lines, its headers and its blank line together, resuming
    /// where the last call stopped. `None` when more bytes are needed (or
    /// the frame outgrew the limit and is now being skipped).
    fn scan_headers(&mut self, buffer: &mut BytesMut) -> Option<AmiFrame> {
        let mut start = self.scanned.min(buffer.len());
        loop {
            let Some(found) = lines::line_at(buffer, start) else {
                if buffer.len() > self.max_frame {
                    self.forget_partial();
                    self.skipping = Some((SkipReason::Oversized, 0));
                } else {
                    self.scanned = start;
                }
                return None;
            };
            let newline = found.newline;
            let mut end = newline;
            if end > start && buffer[end - 1] == b'\r' {
                end -= 1;
            }
            let line = &buffer[start..end];
            if let Some(key_length) = found.key_length {
                let value_start =
                    key_length + 1 + usize::from(line.get(key_length + 1) == Some(&b' '));
                self.partial
                    .push((start..start + key_length, start + value_start..end));
                start = newline + 1;
                continue;
            }
            if !line.iter().all(|b| *b == b' ' || *b == b'\t') {
                self.partial_malformed = true;
                start = newline + 1;
                continue;
            }
            // A blank line: the message is complete.
            let content_end = start;
            let frame_end = newline + 1;
            let headers = std::mem::replace(&mut self.partial, Vec::with_capacity(32));
            let malformed = std::mem::replace(&mut self.partial_malformed, false);
            self.scanned = 0;
            if frame_end > self.max_frame {
                buffer.advance(frame_end);
                return Some(AmiFrame::Skipped {
                    reason: SkipReason::Oversized,
                    bytes: frame_end,
                });
            }
            let frame = buffer.split_to(frame_end).freeze();
            if malformed || headers.is_empty() {
                return Some(AmiFrame::Skipped {
                    reason: SkipReason::Malformed,
                    bytes: frame_end,
                });
            }
            return Some(match ByteString::try_from(frame.slice(..content_end)) {
                Ok(text) => AmiFrame::Message(AmiMessage {
                    text,
                    headers,
                    output: Vec::new(),
                }),
                // Lossy repair moves byte offsets: parse the repaired text afresh.
                Err(_) => match parse_message(&frame[..content_end]) {
                    Some(message) => AmiFrame::Message(message),
                    None => AmiFrame::Skipped {
                        reason: SkipReason::Malformed,
                        bytes: frame_end,
                    },
                },
            });
        }
    }

    fn forget_partial(&mut self) {
        self.partial.clear();
        self.partial_malformed = false;
        self.scanned = 0;
    }
}

impl Decoder for AmiCodec {
    type Item = AmiFrame;
    type Error = AmiCodecError;

    fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<AmiFrame>, AmiCodecError> {
        loop {
            if let Some((reason, dropped)) = self.skipping {
                // Drop whole lines until a blank one ends the bad frame.
                let mut start = 0;
                loop {
                    match line_at(buffer, start) {
                        Some((end, next)) if end == start => {
                            buffer.advance(next);
                            self.skipping = None;
                            self.scanned = 0;
                            return Ok(Some(AmiFrame::Skipped {
                                reason,
                                bytes: dropped + next,
                            }));
                        }
                        Some((_, next)) => start = next,
                        None => {
                            let keep_from = start;
                            buffer.advance(keep_from);
                            self.skipping = Some((reason, dropped + keep_from));
                            return Ok(None);
                        }
                    }
                }
            }
            if !self.greeted {
                let Some((end, next)) = line_at(buffer, 0) else {
                    return Ok(None);
                };
                self.greeted = true;
                let line = &buffer[..end];
                // A stream without a greeting starts straight with a message.
                if !line.contains(&b':') || line.starts_with(b"Asterisk Call Manager") {
                    let greeting = String::from_utf8_lossy(line).into_owned();
                    buffer.advance(next);
                    return Ok(Some(AmiFrame::Greeting(greeting)));
                }
            }
            // Blank lines between messages are noise, not messages.
            while let Some((end, next)) = line_at(buffer, 0) {
                if end != 0 {
                    break;
                }
                buffer.advance(next);
            }
            if !buffer.starts_with(b"Response: Follows") {
                match self.scan_headers(buffer) {
                    Some(frame) => return Ok(Some(frame)),
                    None if self.skipping.is_some() => continue,
                    None => return Ok(None),
                }
            }
            let Some((content_end, frame_end)) = frame_end(buffer, self.scanned.min(buffer.len()))
            else {
                if buffer.len() > self.max_frame {
                    self.skipping = Some((SkipReason::Oversized, 0));
                    continue;
                }
                // Next time, rescan from the last complete line rather than from the start
                // (command output may hold blank lines, so it is always rescanned whole).
                self.scanned = if buffer.starts_with(b"Response: Follows") {
                    0
                } else {
                    memchr::memrchr(b'\n', buffer).map_or(0, |i| i + 1)
                };
                return Ok(None);
            };
            self.scanned = 0;
            if frame_end > self.max_frame {
                buffer.advance(frame_end);
                return Ok(Some(AmiFrame::Skipped {
                    reason: SkipReason::Oversized,
                    bytes: frame_end,
                }));
            }
            let frame = buffer.split_to(frame_end);
            return Ok(Some(match parse_message(&frame[..content_end]) {
                Some(message) => AmiFrame::Message(message),
                None => AmiFrame::Skipped {
                    reason: SkipReason::Malformed,
                    bytes: frame_end,
                },
            }));
        }
    }

    fn decode_eof(&mut self, buffer: &mut BytesMut) -> Result<Option<AmiFrame>, AmiCodecError> {
        match self.decode(buffer)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                // A half message at the end of the stream is dropped; nothing follows it.
                buffer.clear();
                Ok(None)
            }
        }
    }
}

/// Whether `key` can be a header name.
fn is_key(key: &[u8]) -> bool {
    !key.is_empty() && key.iter().all(|b| KEY_BYTES[usize::from(*b)])
}

/// Parses one message's content (no trailing blank line).
fn parse_message(bytes: &[u8]) -> Option<AmiMessage> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    if text.starts_with("Response: Follows") {
        parse_follows(text)
    } else {
        parse_headers(text)
    }
}

/// The common case, every event and most responses: `Key: Value` lines only.
/// One pass over the bytes, finding line ends and colons with memchr.
fn parse_headers(text: String) -> Option<AmiMessage> {
    let bytes = text.as_bytes();
    let mut headers = Vec::with_capacity(32);
    let mut start = 0;
    while start < bytes.len() {
        let newline = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut end = newline;
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &bytes[start..end];
        if !line.iter().all(|b| *b == b' ' || *b == b'\t') {
            let colon = memchr::memchr(b':', line)?;
            if !is_key(&line[..colon]) {
                return None;
            }
            let value_start = colon + 1 + usize::from(line.get(colon + 1) == Some(&b' '));
            headers.push((start..start + colon, start + value_start..end));
        }
        start = newline + 1;
    }
    if headers.is_empty() {
        return None;
    }
    Some(AmiMessage {
        text: text.into(),
        headers,
        output: Vec::new(),
    })
}

/// `Response: Follows`: a few headers, then raw command output up to `--END COMMAND--`.
fn parse_follows(text: String) -> Option<AmiMessage> {
    let mut headers = Vec::with_capacity(8);
    let mut output = Vec::new();
    let mut offset = 0;
    for raw_line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\r', '\n']);
        let header = line
            .find(':')
            .filter(|colon| is_key(&line.as_bytes()[..*colon]))
            .filter(|colon| {
                matches!(
                    line[..*colon].to_ascii_lowercase().as_str(),
                    "response" | "privilege" | "actionid" | "message"
                )
            });
        match header {
            Some(colon) if output.is_empty() => {
                let value_start = colon + 1 + usize::from(line[colon + 1..].starts_with(' '));
                headers.push((
                    line_start..line_start + colon,
                    line_start + value_start..line_start + line.len(),
                ));
            }
            _ => {
                let content = line.strip_suffix(END_COMMAND).unwrap_or(line);
                if !(content.is_empty() && line.ends_with(END_COMMAND)) {
                    output.push(line_start..line_start + content.len());
                }
            }
        }
    }
    if headers.is_empty() {
        return None;
    }
    Some(AmiMessage {
        text: text.into(),
        headers,
        output,
    })
}

impl Encoder<AmiAction> for AmiCodec {
    type Error = AmiCodecError;

    fn encode(&mut self, action: AmiAction, buffer: &mut BytesMut) -> Result<(), AmiCodecError> {
        let fields = [
            ("Action", action.name.as_str()),
            ("ActionID", action.action_id.as_str()),
        ]
        .into_iter()
        .chain(action.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let start = buffer.len();
        for (key, value) in fields {
            if key.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
                buffer.truncate(start);
                return Err(AmiCodecError::LineBreakInField(key.to_owned()));
            }
            buffer.put_slice(key.as_bytes());
            buffer.put_slice(b": ");
            buffer.put_slice(value.as_bytes());
            buffer.put_slice(b"\r\n");
        }
        buffer.put_slice(b"\r\n");
        Ok(())
    }
}

/// Encodes a message (the simulator's side of the wire): headers, then a blank line.
pub fn encode_message(message: &AmiMessage, buffer: &mut BytesMut) {
    for (key, value) in message.headers() {
        buffer.put_slice(key.as_bytes());
        buffer.put_slice(b": ");
        buffer.put_slice(value.as_bytes());
        buffer.put_slice(b"\r\n");
    }
    buffer.put_slice(b"\r\n");
}

/// One message from `(key, value)` pairs, encoded: a PBX's response in one call.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> BytesMut {
    let mut buffer = BytesMut::new();
    encode_message(&AmiMessage::from_pairs(pairs.iter().copied()), &mut buffer);
    buffer
}

/// An event-list answer to action `id`: the `Success` response, each item
/// with the `ActionID`, then the `complete` event with `ListItems`.
pub fn encode_event_list(id: &str, complete: &str, items: &[AmiMessage]) -> BytesMut {
    let mut out = encode_pairs(&[
        ("Response", "Success"),
        ("ActionID", id),
        ("EventList", "start"),
        ("Message", "List will follow"),
    ]);
    for item in items {
        let mut pairs: Vec<(&str, &str)> = item.headers().collect();
        pairs.push(("ActionID", id));
        encode_message(&AmiMessage::from_pairs(pairs), &mut out);
    }
    let count = items.len().to_string();
    out.extend_from_slice(&encode_pairs(&[
        ("Event", complete),
        ("ActionID", id),
        ("EventList", "Complete"),
        ("ListItems", &count),
    ]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut AmiCodec, bytes: &[u8], chunk: usize) -> Vec<AmiFrame> {
        let mut buffer = BytesMut::new();
        let mut frames = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            buffer.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buffer).unwrap() {
                frames.push(frame);
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buffer).unwrap() {
            frames.push(frame);
        }
        frames
    }

    fn messages(frames: &[AmiFrame]) -> Vec<&AmiMessage> {
        frames
            .iter()
            .filter_map(|f| match f {
                AmiFrame::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn greeting_messages_colons_and_repeated_keys() {
        let wire = b"Asterisk Call Manager/11.0.0\r\n\
Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted\r\n\r\n\
Event: VarSet\r\nChannel: PJSIP/3001-00000024\r\nValue: sip:3001@10.0.0.1:5060\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n";
        let frames = decode_all(&mut AmiCodec::default(), wire, 4096);
        assert_eq!(
            frames[0],
            AmiFrame::Greeting("Asterisk Call Manager/11.0.0".into())
        );
        let messages = messages(&frames);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].response(), Some("Success"));
        assert_eq!(messages[0].action_id(), Some("login-1"));
        assert_eq!(messages[1].get("value"), Some("sip:3001@10.0.0.1:5060"));
        assert_eq!(
            messages[1].get_all("Variable").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
    }

    #[test]
    fn get_many_answers_as_get_does_for_every_key_of_a_real_capture() {
        let capture = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/ami/asterisk-22/queue_call.ami"),
        )
        .expect("the Asterisk 22 capture");
        let frames = decode_all(&mut AmiCodec::default(), &capture, capture.len());
        let messages = messages(&frames);
        assert!(messages.len() > 50, "the capture decoded");
        let long_key = "K".repeat(70);
        for message in &messages {
            let mut keys: Vec<String> = message.headers().map(|(k, _)| k.to_owned()).collect();
            keys.sort();
            keys.dedup();
            // Three at a time, in another case than sent, with keys no header has.
            for names in keys.chunks(3) {
                let asked = [
                    names[0].to_lowercase(),
                    names.get(1).cloned().unwrap_or_else(|| "NoSuchKey".into()),
                    names.get(2).cloned().unwrap_or_else(|| long_key.clone()),
                ];
                let [a, b, c] = message.get_many([&asked[0], &asked[1], &asked[2]]);
                assert_eq!([a, b, c], asked.each_ref().map(|k| message.get(k)));
                assert!(a.is_some());
            }
        }
        let repeated = AmiMessage::from_pairs([("Variable", "a=1"), ("Variable", "b=2")]);
        assert_eq!(
            repeated.get_many(["variable", "Value"]),
            [Some("a=1"), None]
        );
    }

    #[test]
    fn the_event_name_is_found_first_or_anywhere_in_any_case() {
        let first = AmiMessage::from_pairs([("Event", "Hangup"), ("Uniqueid", "1.1")]);
        let later = AmiMessage::from_pairs([("Privilege", "call,all"), ("Event", "Hangup")]);
        let lower = AmiMessage::from_pairs([("event", "Hangup")]);
        let none = AmiMessage::from_pairs([("Response", "Success")]);
        assert_eq!(
            [first.event(), later.event(), lower.event(), none.event()],
            [Some("Hangup"), Some("Hangup"), Some("Hangup"), None]
        );
    }

    #[test]
    fn any_chunking_gives_the_same_frames() {
        let wire = b"Asterisk Call Manager/11.0.0\r\nEvent: Newchannel\r\nUniqueid: 1.1\r\n\r\nEvent: Hangup\r\nUniqueid: 1.1\r\nCause-txt: Normal Clearing\r\n\r\n";
        let whole = decode_all(&mut AmiCodec::default(), wire, wire.len());
        for chunk in [1, 2, 3, 5, 7, 13] {
            assert_eq!(
                decode_all(&mut AmiCodec::default(), wire, chunk),
                whole,
                "chunk {chunk}"
            );
        }
        assert_eq!(
            messages(&whole)[1].get("Cause-txt"),
            Some("Normal Clearing")
        );
    }

    #[test]
    fn follows_output_keeps_blank_lines_and_ends_at_end_command() {
        let wire = b"Response: Follows\nPrivilege: Command\nActionID: a1\nName: value-like line\n\nline after blank\n--END COMMAND--\n\nResponse: Success\nActionID: a2\n\n";
        let frames = decode_all(&mut AmiCodec::without_greeting(4096), wire, 3);
        let messages = messages(&frames);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].action_id(), Some("a1"));
        assert_eq!(
            messages[0].output(),
            ["Name: value-like line", "", "line after blank"]
        );
        assert_eq!(messages[1].action_id(), Some("a2"));
    }

    #[test]
    fn oversized_and_malformed_frames_are_skipped_and_the_stream_goes_on() {
        let mut wire = b"Event: Big\r\n".to_vec();
        for n in 0..200 {
            wire.extend_from_slice(format!("Key{n}: {}\r\n", "x".repeat(50)).as_bytes());
        }
        wire.extend_from_slice(
            b"\r\nthis line has no colon\r\nEvent: Bad\r\n\r\nEvent: Good\r\nUniqueid: 2.2\r\n\r\n",
        );
        for chunk in [1, 64, 100_000] {
            let frames = decode_all(&mut AmiCodec::without_greeting(1024), &wire, chunk);
            let skipped: Vec<SkipReason> = frames
                .iter()
                .filter_map(|f| match f {
                    AmiFrame::Skipped { reason, .. } => Some(*reason),
                    _ => None,
                })
                .collect();
            assert_eq!(
                skipped,
                [SkipReason::Oversized, SkipReason::Malformed],
                "chunk {chunk}"
            );
            let good = messages(&frames);
            assert_eq!(good.len(), 1, "chunk {chunk}");
            assert_eq!(good[0].get("Uniqueid"), Some("2.2"));
        }
    }

    #[test]
    fn actions_encode_with_crlf_and_refuse_injected_lines() {
        let mut buffer = BytesMut::new();
        let action = AmiAction::new("Originate", "sb-7")
            .field("Channel", "PJSIP/2001")
            .field("Context", "spy-monitor");
        AmiCodec::default().encode(action, &mut buffer).unwrap();
        assert_eq!(
            &buffer[..],
            b"Action: Originate\r\nActionID: sb-7\r\nChannel: PJSIP/2001\r\nContext: spy-monitor\r\n\r\n"
        );
        let evil =
            AmiAction::new("Originate", "sb-8").field("Channel", "PJSIP/2001\r\nAction: Logoff");
        let mut buffer = BytesMut::new();
        assert!(AmiCodec::default().encode(evil, &mut buffer).is_err());
        assert!(buffer.is_empty(), "nothing half-written");
    }
}
