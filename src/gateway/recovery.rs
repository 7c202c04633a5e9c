//! Socket.IO connection state recovery for the gateway's sockets.
//!
//! Every event the fan-out emits to a room carries an offset as its last
//! argument: `"{sequence}-{index}"`, the log event's sequence number and
//! the emission's place among that event's emissions. A greeting carries
//! `"{head}"`, everything through the log event it was taken at. The npm
//! `socket.io-client` keeps the last offset it read; when its transport
//! drops, the server keeps what it knew of the socket (its rooms, who it
//! was, what it joined) for `SOCKETIO_RECOVERY_SECONDS`, under the socket's private
//! session id. A client that comes back within that time, with the same
//! identity and an offset the replay window still holds, gets its old
//! socket back: the same id, its rooms, and every emission of its rooms
//! after the offset, then the live ones (`socket.recovered` is true).
//! Otherwise it is a new socket and gets today's greeting.
//!
//! In a cluster the nodes tell each other, through Redis (a pub/sub
//! channel, `{name}:sockets`), which sockets they keep and which were
//! restored, so a dashboard whose node died comes back on another one: the
//! offsets are the shared log's sequence numbers, which every node holds.
//!
//! Whole lists (`calls:active`, `agents:status`, `queues:stats`) carry no
//! offset: they go out in paced rounds, so a socket may read one after a
//! newer single event, and their offset would move the client's back. A
//! recovered socket gets the newest of each list emitted after its offset.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::catalog;
use crate::auth::{Claims, Principal};
use crate::log::EventLog;
use crate::socketio::server::SocketIds;

/// Where a client's reading stopped: after emission `index` of log event
/// `sequence`, or (`index` `None`) after the whole event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    /// The log event's sequence number.
    pub sequence: u64,
    /// The last emission of that event read; `None`: all of them.
    pub index: Option<u32>,
}

impl Offset {
    /// The offset of emission `index` of event `sequence`.
    pub fn emission(sequence: u64, index: usize) -> String {
        format!("{sequence}-{index}")
    }

    /// The offset of a greeting taken at log event `head`.
    pub fn through(head: u64) -> String {
        head.to_string()
    }

    /// Reads an offset a client sent back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Offset> {
        let (sequence, index) = match text.split_once('-') {
            Some((sequence, index)) => (sequence, Some(index.parse().ok()?)),
            None => (text, None),
        };
        Some(Offset {
            sequence: sequence.parse().ok()?,
            index,
        })
    }

    /// The last log event read whole: replaying from the event after it
    /// covers this offset.
    pub fn read_through(&self) -> u64 {
        match self.index {
            Some(_) => self.sequence.saturating_sub(1),
            None => self.sequence,
        }
    }

    /// Whether emission `index` of event `sequence` comes after this offset.
    pub fn precedes(&self, sequence: u64, index: usize) -> bool {
        match self.index {
            _ if sequence != self.sequence => sequence > self.sequence,
            Some(read) => index as u64 > u64::from(read),
            None => false,
        }
    }
}

/// What is kept of a socket whose transport dropped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    sid: String,
    /// Who it was; a returning client must be the same.
    claims: Claims,
    rooms: Vec<String>,
    /// The seed whose rooms it joined by that seed's own events.
    dashboard_of: Option<String>,
    /// The chat agent it joined the agent dashboard as.
    dashboard_agent: Option<String>,
    /// When it dropped (or, `live`, when its node last said where it stands), Unix milliseconds.
    left_at_ms: i64,
    /// Still connected to another node when that node said so: if the
    /// client comes back here, that node is gone (or the client lost it).
    #[serde(default)]
    live: bool,
}

/// How long a socket another node said is connected is remembered.
const LIVE_FOR_MS: i64 = 24 * 3600 * 1000;

/// A socket to restore: what its client had, and where its reading stopped.
#[derive(Debug, Clone)]
pub struct Restore {
    /// The ids it keeps.
    pub ids: SocketIds,
    /// The rooms it was in.
    pub rooms: Vec<String>,
    /// The last emission it read.
    pub after: Offset,
    /// The seed whose rooms it joined by that seed's own events.
    pub dashboard_of: Option<&'static str>,
    /// The chat agent it joined the agent dashboard as.
    pub dashboard_agent: Option<String>,
}

/// What a socket joined by its own events, kept for its return.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    /// The seed whose rooms it joined by that seed's own events.
    pub dashboard_of: Option<&'static str>,
    /// The chat agent it joined the agent dashboard as.
    pub dashboard_agent: Option<String>,
}

impl Kept {
    fn of(
        sid: String,
        claims: &Claims,
        rooms: Vec<String>,
        joined: Joined,
        at_ms: i64,
        live: bool,
    ) -> Kept {
        Kept {
            sid,
            claims: claims.clone(),
            rooms,
            dashboard_of: joined.dashboard_of.map(str::to_owned),
            dashboard_agent: joined.dashboard_agent,
            left_at_ms: at_ms,
            live,
        }
    }

    /// Whether its client may still come back for it at `now`.
    fn valid_at(&self, now: i64, lasts: i64) -> bool {
        let since = now - self.left_at_ms;
        if self.live {
            since < LIVE_FOR_MS
        } else {
            since < lasts
        }
    }
}

/// Why a returning client was not restored, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// No kept socket has its `pid` (never, expired, or restored already).
    Unknown,
    /// The kept socket was someone else's.
    OtherIdentity,
    /// Its offset is not one the gateway sends.
    BadOffset,
    /// The replay window no longer holds what it missed.
    TooOld,
}

impl Missed {
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown_session",
            Self::OtherIdentity => "other_identity",
            Self::BadOffset => "bad_offset",
            Self::TooOld => "outside_replay_window",
        }
    }
}

/// The gateway's kept sockets.
pub struct Recovery {
    /// How long a dropped socket is kept.
    lasts: Duration,
    log: Arc<EventLog>,
    kept: Mutex<KeptSockets>,
    /// In a cluster: where this node's news of kept and restored sockets
    /// goes, for the other nodes.
    shares: Mutex<Option<tokio::sync::mpsc::UnboundedSender<News>>>,
}

/// What a node tells the others of its kept sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum News {
    /// A socket dropped here; it is kept under `pid`.
    Kept {
        /// Its private session id.
        pid: String,
        /// What is kept.
        kept: Kept,
    },
    /// A socket connected here stands as `kept` says (its rooms joined).
    Live {
        /// Its private session id.
        pid: String,
        /// Where it stands.
        kept: Kept,
    },
    /// The socket kept under `pid` was restored (or taken) here.
    Taken {
        /// Its private session id.
        pid: String,
    },
}

#[derive(Default)]
struct KeptSockets {
    by_pid: HashMap<String, Kept>,
    /// When expired entries were last cleared, Unix milliseconds.
    swept_at_ms: i64,
}

impl Recovery {
    /// Kept sockets last `lasts`; offsets are checked against `log`'s window.
    pub fn new(log: Arc<EventLog>, lasts: Duration) -> Self {
        Recovery {
            lasts,
            log,
            kept: Mutex::new(KeptSockets::default()),
            shares: Mutex::new(None),
        }
    }

    /// Tells the other nodes of a cluster, through `news`, which sockets
    /// this node keeps and restores.
    pub fn share_with(&self, news: tokio::sync::mpsc::UnboundedSender<News>) {
        *self.shares.lock() = Some(news);
    }

    /// Whether this node tells other nodes of its sockets (in a cluster).
    pub fn is_shared(&self) -> bool {
        self.shares.lock().is_some()
    }

    fn share(&self, news: News) {
        if let Some(shares) = self.shares.lock().as_ref() {
            let _ = shares.send(news);
        }
    }

    /// Tells the other nodes of a cluster where a connected socket stands
    /// (after it joined its rooms), so that its client can come back to
    /// any of them should this node go.
    pub fn live(&self, ids: SocketIds, claims: &Claims, rooms: Vec<String>, joined: Joined) {
        let now = chrono::Utc::now().timestamp_millis();
        let kept = Kept::of(ids.sid, claims, rooms, joined, now, true);
        self.share(News::Live { pid: ids.pid, kept });
    }

    /// A socket left for good (its client or this server ended it): the
    /// other nodes forget where it stood.
    pub fn forget(&self, pid: &str) {
        self.share(News::Taken {
            pid: pid.to_owned(),
        });
    }

    /// Takes another node's news in.
    pub fn learn(&self, news: News) {
        let mut kept_sockets = self.kept.lock();
        match news {
            News::Kept { pid, kept } | News::Live { pid, kept } => {
                kept_sockets.by_pid.insert(pid, kept);
            }
            News::Taken { pid } => {
                kept_sockets.by_pid.remove(&pid);
            }
        }
    }

    fn lasts_ms(&self) -> i64 {
        i64::try_from(self.lasts.as_millis()).unwrap_or(i64::MAX)
    }

    /// Keeps what a socket had when its transport dropped: its ids, whose
    /// it was, its rooms, and what it joined (see [`Restore`]).
    pub fn keep(&self, ids: SocketIds, claims: &Claims, rooms: Vec<String>, joined: Joined) {
        let now = chrono::Utc::now().timestamp_millis();
        let kept = Kept::of(ids.sid, claims, rooms, joined, now, false);
        let lasts = self.lasts_ms();
        let mut kept_sockets = self.kept.lock();
        if now - kept_sockets.swept_at_ms >= 1_000 {
            kept_sockets
                .by_pid
                .retain(|_, kept| kept.valid_at(now, lasts));
            kept_sockets.swept_at_ms = now;
        }
        kept_sockets.by_pid.insert(ids.pid.clone(), kept.clone());
        drop(kept_sockets);
        self.share(News::Kept { pid: ids.pid, kept });
    }

    /// The socket a returning client restores: its auth holds `pid` and
    /// `offset`, and it is `principal` again. The kept socket is taken
    /// (a `pid` restores once); `Ok(None)` when the auth asks for no recovery.
    pub fn restore(&self, auth: &Json, principal: &Principal) -> Result<Option<Restore>, Missed> {
        let (Some(pid), Some(offset)) = (
            auth.get("pid").and_then(Json::as_str),
            auth.get("offset").and_then(Json::as_str),
        ) else {
            return Ok(None);
        };
        // An offset the gateway never sent, or someone else's session id,
        // is refused, and the session stays for its owner.
        let after = Offset::parse(offset).ok_or(Missed::BadOffset)?;
        let now = chrono::Utc::now().timestamp_millis();
        let kept = {
            let mut kept_sockets = self.kept.lock();
            let kept = kept_sockets
                .by_pid
                .get(pid)
                .filter(|kept| kept.valid_at(now, self.lasts_ms()))
                .ok_or(Missed::Unknown)?;
            if !same_identity(&kept.claims, &principal.claims) {
                return Err(Missed::OtherIdentity);
            }
            kept_sockets.by_pid.remove(pid).ok_or(Missed::Unknown)?
        };
        self.share(News::Taken {
            pid: pid.to_owned(),
        });
        // The window only moves on: a socket it cannot restore now never will be.
        if !self.log.holds_after(after.read_through()) {
            return Err(Missed::TooOld);
        }
        Ok(Some(Restore {
            ids: SocketIds {
                sid: kept.sid,
                pid: pid.to_owned(),
            },
            rooms: kept.rooms,
            after,
            dashboard_of: kept.dashboard_of.as_deref().and_then(catalog::seed_named),
            dashboard_agent: kept.dashboard_agent,
        }))
    }
}

/// Shares this node's kept sockets with the other nodes of deployment
/// `name` and learns theirs, through the Redis at `url`, until `shutdown`.
/// A node's own news comes back to it too, and changes nothing.
pub async fn share_kept_sockets(
    url: String,
    name: String,
    recovery: Arc<Recovery>,
    news: tokio::sync::mpsc::UnboundedReceiver<News>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let channel = format!("{name}:sockets");
    crate::cluster::news::relay(url, channel, news, |news| recovery.learn(news), shutdown).await;
}

/// Whether two tokens name the same caller with the same rights (their
/// times may differ: a client may have renewed its token meanwhile).
fn same_identity(kept: &Claims, now: &Claims) -> bool {
    kept.sub == now.sub
        && kept.role == now.role
        && kept.extension == now.extension
        && kept.client_id == now.client_id
        && kept.conversation_id == now.conversation_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_back_and_order_emissions() {
        assert_eq!(
            Offset::parse(&Offset::emission(42, 1)),
            Some(Offset {
                sequence: 42,
                index: Some(1)
            })
        );
        let through = Offset::parse(&Offset::through(42)).unwrap();
        assert_eq!(through.index, None);
        for bad in ["", "x", "4-", "-1", "4-x", "1.5"] {
            assert_eq!(Offset::parse(bad), None, "{bad:?}");
        }
        let after = Offset::parse("42-1").unwrap();
        assert!(!after.precedes(42, 0));
        assert!(!after.precedes(42, 1));
        assert!(after.precedes(42, 2));
        assert!(after.precedes(43, 0));
        assert!(!after.precedes(41, 5));
        assert!(!through.precedes(42, 9));
        assert!(through.precedes(43, 0));
    }
}
