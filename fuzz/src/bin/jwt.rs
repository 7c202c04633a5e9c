//! Bearer credentials as every surface reads them.

use switchboard::auth::Authenticator;

fn main() {
    let auth = Authenticator::new(b"fuzz-secret-fuzz-secret-fuzz-secret", false);
    afl::fuzz!(|data: &[u8]| {
        let credential = String::from_utf8_lossy(data);
        let _ = auth.authenticate(Some(&credential));
    });
}
