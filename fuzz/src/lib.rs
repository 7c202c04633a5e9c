//! What the fuzz targets share: splitting one fuzzer input into the parts a
//! request has (a header and a body, a URL and a body).

/// `input` cut at its first `\n`: (before, after); all of it after when
/// there is none.
pub fn split_once_newline(input: &[u8]) -> (&[u8], &[u8]) {
    match input.iter().position(|&b| b == b'\n') {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (&[], input),
    }
}
