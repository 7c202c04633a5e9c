//! The ledger's supervisors' spy sessions (monitor, whisper, barge).

use super::*;

impl Ledger {
    /// Applies an input about supervisors' spy sessions (monitor, whisper, barge);
    /// an input of another concern changes nothing here.
    pub(super) fn apply_spy(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::SpyStarted { mut session } => {
                session.since = now;
                let update = views::spy_session(&session, None);
                self.spy_sessions
                    .insert(session.supervisor_extension.clone(), session);
                vec![Emitted::house(Payload::SpySession(update))]
            }
            Input::SpyEnded {
                supervisor_extension,
            } => match self.spy_sessions.remove(&supervisor_extension) {
                Some(session) => vec![Emitted::house(Payload::SpySession(views::spy_session(
                    &session,
                    Some(now),
                )))],
                None => Vec::new(),
            },
            // Another concern's input.
            _ => Vec::new(),
        }
    }
}
