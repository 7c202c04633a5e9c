//! Finding an AMI line's end and its header key, 32 bytes at a time.
//!
//! The decoder looks at every line of every message: where it ends, and
//! whether it starts with a header name and a colon. Done byte by byte, the
//! key loop ends at a different length on every line, which the processor
//! mispredicts once per line, and the search for the line end is a call of
//! its own. Most AMI lines are shorter than 32 bytes and every key is, so
//! here one look at the 32 bytes from the line's start classifies them all
//! together (SIMD through the safe `wide` crate) and answers both questions
//! with bit arithmetic. Longer lines, and lines too near the end of the
//! buffer to hold 32 bytes, take the byte-by-byte way; both give the same
//! answer (tested below).

use wide::u8x16;

/// What the line starting at some offset of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Offset of the `\n` that ends the line.
    pub newline: usize,
    /// Length of the header name before the line's colon, when the line
    /// starts with one or more name bytes followed by `:`.
    pub key_length: Option<usize>,
}

/// The line starting at `start` of `buffer`, or `None` when no `\n` ends it yet.
#[inline]
pub fn line_at(buffer: &[u8], start: usize) -> Option<Line> {
    let window: Option<&[u8; 32]> = buffer
        .get(start..)
        .and_then(|rest| rest.first_chunk::<32>());
    match window {
        Some(window) => in_window(buffer, start, window),
        None => byte_by_byte(buffer, start),
    }
}

/// Which bytes a header name may hold: letters, digits, `-`, `_`, `(` and `)`.
pub static KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'(' | b')');
        byte += 1;
    }
    table
};

/// The line from the masks of its first 32 bytes.
#[inline(always)]
fn in_window(buffer: &[u8], start: usize, window: &[u8; 32]) -> Option<Line> {
    let (low, high) = window.split_at(16);
    let low = Masks::of(low);
    let high_bytes = chunk(high);
    let newlines = low.newline | (high_bytes.simd_eq(u8x16::splat(b'\n')).to_bitmask() << 16);
    // Most names end within 16 bytes; only the longer ones (`ConnectedLineName`,
    // `DestChannelStateDesc`) need the second half classified.
    let (not_key, colons) = if low.not_key != 0 {
        (low.not_key, low.colon)
    } else {
        let high = Masks::of(high);
        (
            low.not_key | (high.not_key << 16),
            low.colon | (high.colon << 16),
        )
    };
    let newline = if newlines != 0 {
        start + newlines.trailing_zeros() as usize
    } else {
        start + 32 + memchr::memchr(b'\n', &buffer[start + 32..])?
    };
    // The first byte that cannot be in a name ends the name; a `\n` is one,
    // so within the window it is never past the line's end.
    let key_length = if not_key != 0 {
        let first = not_key.trailing_zeros();
        (first > 0 && colons & (1 << first) != 0).then_some(first as usize)
    } else {
        key_length(&buffer[start..newline])
    };
    Some(Line {
        newline,
        key_length,
    })
}

/// The line, one byte at a time.
fn byte_by_byte(buffer: &[u8], start: usize) -> Option<Line> {
    let newline = start + memchr::memchr(b'\n', &buffer[start..])?;
    Some(Line {
        newline,
        key_length: key_length(&buffer[start..newline]),
    })
}

/// The name before the colon at the start of `line`, if it has one.
fn key_length(line: &[u8]) -> Option<usize> {
    let length = line
        .iter()
        .position(|b| !KEY_BYTES[usize::from(*b)])
        .unwrap_or(line.len());
    (length > 0 && line.get(length) == Some(&b':')).then_some(length)
}

/// 16 bytes as one SIMD vector.
#[inline(always)]
fn chunk(bytes: &[u8]) -> u8x16 {
    let mut array = [0u8; 16];
    array.copy_from_slice(bytes);
    u8x16::new(array)
}

/// Bit `i` set where byte `i` of a 16-byte chunk is a `\n`, a `:`, or a
/// byte a header name may not hold.
struct Masks {
    newline: u32,
    colon: u32,
    not_key: u32,
}

impl Masks {
    #[inline(always)]
    fn of(bytes: &[u8]) -> Masks {
        let bytes = chunk(bytes);
        let splat = u8x16::splat;
        // ASCII letters fold to lower case with 0x20; nothing else lands in a..=z.
        let letter = ((bytes | splat(0x20)) - splat(b'a')).simd_lt(splat(26));
        let digit = (bytes - splat(b'0')).simd_lt(splat(10));
        let mark = bytes.simd_eq(splat(b'-'))
            | bytes.simd_eq(splat(b'_'))
            | bytes.simd_eq(splat(b'('))
            | bytes.simd_eq(splat(b')'));
        Masks {
            newline: bytes.simd_eq(splat(b'\n')).to_bitmask(),
            colon: bytes.simd_eq(splat(b':')).to_bitmask(),
            not_key: !(letter | digit | mark).to_bitmask() & 0xFFFF,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways agree on every line of a real capture and on edge cases:
    /// alone (short lines then go byte by byte), with bytes after them (so
    /// the window is used), and starting partway into a buffer.
    #[test]
    fn the_window_and_the_byte_loop_agree() {
        let mut cases: Vec<Vec<u8>> = [
            &b"Event: Newchannel\r\n"[..],
            b"Key:value\n",
            b":no key\n",
            b"Bad Key: x\n",
            b"\r\n",
            b"   \n",
            b"ChanVariable(FROM_DID): 5551234\r\n",
            b"AVeryLongHeaderNameThatGoesOnAndOn: past the window\r\n",
            b"AVeryLongHeaderNameThatGoesOnAndOnWithoutAnyColonAtAll\r\n",
            b"Value: with: colons: and a long tail that runs past thirty-two bytes\r\n",
            b"Exactly31BytesOfKeyNameHereNow1: v\n",
            b"Exactly32BytesOfKeyNameHereNow12: v\n",
            b"Caf\xc3\xa9: accent\n",
            b"--END COMMAND--\n",
        ]
        .iter()
        .map(|line| line.to_vec())
        .collect();
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/ami/asterisk-22/queue_call.ami");
        if let Ok(capture) = std::fs::read(&fixture) {
            cases.extend(capture.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec));
        }
        assert!(cases.len() > 100, "the capture was read");
        for line in &cases {
            for padding in [0, 1, 40] {
                let mut buffer = line.clone();
                buffer.extend(std::iter::repeat_n(b'x', padding));
                let expected = byte_by_byte(&buffer, 0);
                assert_eq!(
                    line_at(&buffer, 0),
                    expected,
                    "{:?}",
                    String::from_utf8_lossy(line)
                );
                let mut shifted = b"Prefix: p\n".to_vec();
                shifted.extend(&buffer);
                let shifted_line = line_at(&shifted, 10).map(|found| Line {
                    newline: found.newline - 10,
                    ..found
                });
                assert_eq!(shifted_line, expected);
            }
        }
        assert_eq!(
            line_at(b"no end yet, and longer than thirty-two bytes", 0),
            None
        );
        assert_eq!(
            line_at(b"Event: Hangup\r\nChannel: x\r\n", 0),
            Some(Line {
                newline: 14,
                key_length: Some(5)
            })
        );
    }
}
