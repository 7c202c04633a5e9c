//! The chat's live part, beside the stored conversations: who is online
//! (and, in a cluster, the news of it between the nodes), the anonymous
//! starts per address, and how long silence may last.

use std::time::Duration;

use parking_lot::Mutex;

use super::StartLimiter;
use super::presence::AgentPresence;
use crate::error::Error;
use crate::proto::v1 as pb;

/// The chat's live part: who is online, and how long silence may last.
#[derive(Debug)]
pub struct ChatDesk {
    pub(super) presence: Mutex<AgentPresence>,
    /// In a cluster: where this node's presence news goes, for the others.
    shares: Mutex<Option<tokio::sync::mpsc::UnboundedSender<PresenceNews>>>,
    /// Anonymous conversation starts per address, in the current window.
    pub(super) starts: Mutex<StartLimiter>,
    /// An agent silent for longer is taken offline.
    pub heartbeat_timeout: Duration,
    /// Serializes assignment decisions (count, then assign).
    pub(super) assigning: tokio::sync::Mutex<()>,
}

impl ChatDesk {
    /// A desk with nobody online.
    pub fn new(heartbeat_timeout: Duration) -> Self {
        ChatDesk {
            presence: Mutex::new(AgentPresence::default()),
            shares: Mutex::new(None),
            starts: Mutex::new(StartLimiter::default()),
            heartbeat_timeout,
            assigning: tokio::sync::Mutex::new(()),
        }
    }

    /// `connected-agents-update` as it stands.
    pub fn connected_agents(&self) -> pb::ConnectedAgentsUpdate {
        self.presence.lock().update()
    }

    /// Tells the other nodes of a cluster, through `news`, which agents
    /// have a dashboard open here: every node then knows them all.
    pub fn share_with(&self, news: tokio::sync::mpsc::UnboundedSender<PresenceNews>) {
        *self.shares.lock() = Some(news);
    }

    pub(super) fn share(&self, news: PresenceNews) {
        if let Some(shares) = self.shares.lock().as_ref() {
            let _ = shares.send(news);
        }
    }

    /// Takes a node's presence news in (its own included: applying it again
    /// changes nothing). Only the node where it happened acts on it
    /// (announces, reassigns).
    pub fn learn(&self, news: PresenceNews) {
        let mut presence = self.presence.lock();
        match news {
            PresenceNews::Joined {
                agent,
                name,
                socket,
                at,
            } => {
                presence.join(&agent, &name, &socket, at);
            }
            PresenceNews::Touched { agent, at } => {
                presence.touch(&agent, at);
            }
            PresenceNews::Left { socket } => {
                presence.leave(&socket);
            }
            PresenceNews::Expired { agents } => presence.remove(&agents),
        }
    }
}

/// What a node tells the others of its chat agents' presence.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum PresenceNews {
    /// An agent's dashboard joined from `socket`.
    Joined {
        /// The agent.
        agent: String,
        /// Their name.
        name: String,
        /// The socket (ids are unique across nodes).
        socket: String,
        /// When.
        at: crate::time::Instant,
    },
    /// An agent showed activity (a heartbeat, a message).
    Touched {
        /// The agent.
        agent: String,
        /// When.
        at: crate::time::Instant,
    },
    /// A socket disconnected.
    Left {
        /// The socket.
        socket: String,
    },
    /// Agents silent past the heartbeat timeout were taken offline (by the
    /// node that ingests, which alone expires them).
    Expired {
        /// The agents.
        agents: Vec<String>,
    },
}

impl ChatDesk {
    /// Counts an anonymous conversation start from `address`; refused past
    /// [`ANONYMOUS_STARTS_PER_MINUTE`] in the current minute.
    pub fn admit_anonymous_start(&self, address: std::net::IpAddr) -> Result<(), Error> {
        self.starts.lock().admit(address, std::time::Instant::now())
    }
}
