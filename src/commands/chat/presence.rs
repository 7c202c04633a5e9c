//! Which agents have a dashboard open: joined by `join-agent-dashboard`,
//! kept alive by `heartbeat` (every 15 s), gone when their last socket
//! disconnects or they stay silent past the timeout.

use std::collections::BTreeMap;

use crate::proto::v1 as pb;
use crate::time::{Instant, to_timestamp};

/// One agent with a dashboard open.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OnlineAgent {
    name: String,
    sockets: Vec<String>,
    connected_at: Instant,
    last_activity: Instant,
}

/// The online agents, by agent id.
#[derive(Debug, Default)]
pub struct AgentPresence {
    agents: BTreeMap<String, OnlineAgent>,
}

impl AgentPresence {
    /// `agent_id` joined from `socket`; whether the agent just came online.
    pub fn join(&mut self, agent_id: &str, name: &str, socket: &str, now: Instant) -> bool {
        match self.agents.get_mut(agent_id) {
            Some(agent) => {
                if !agent.sockets.iter().any(|s| s == socket) {
                    agent.sockets.push(socket.to_owned());
                }
                agent.last_activity = now;
                false
            }
            None => {
                self.agents.insert(
                    agent_id.to_owned(),
                    OnlineAgent {
                        name: name.to_owned(),
                        sockets: vec![socket.to_owned()],
                        connected_at: now,
                        last_activity: now,
                    },
                );
                true
            }
        }
    }

    /// The agent showed activity (heartbeat, typing, a message); whether it is online.
    pub fn touch(&mut self, agent_id: &str, now: Instant) -> bool {
        match self.agents.get_mut(agent_id) {
            Some(agent) => {
                agent.last_activity = now;
                true
            }
            None => false,
        }
    }

    /// `socket` disconnected; the agents who went offline with it (their last socket).
    pub fn leave(&mut self, socket: &str) -> Vec<String> {
        let mut gone = Vec::new();
        for (id, agent) in &mut self.agents {
            agent.sockets.retain(|s| s != socket);
            if agent.sockets.is_empty() {
                gone.push(id.clone());
            }
        }
        for id in &gone {
            self.agents.remove(id);
        }
        gone
    }

    /// Agents silent since before `cutoff`, taken offline.
    pub fn expire(&mut self, cutoff: Instant) -> Vec<String> {
        let gone: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| a.last_activity < cutoff)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.agents.remove(id);
        }
        gone
    }

    /// Takes `agents` offline (another node expired them).
    pub fn remove(&mut self, agents: &[String]) {
        for agent in agents {
            self.agents.remove(agent);
        }
    }

    /// Whether `agent_id` is online.
    pub fn is_online(&self, agent_id: &str) -> bool {
        self.agents.contains_key(agent_id)
    }

    /// The online agents' ids.
    pub fn online(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }

    /// The agent ids a socket joined as.
    pub fn agents_of(&self, socket: &str) -> Vec<String> {
        self.agents
            .iter()
            .filter(|(_, a)| a.sockets.iter().any(|s| s == socket))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// `connected-agents-update`.
    pub fn update(&self) -> pb::ConnectedAgentsUpdate {
        pb::ConnectedAgentsUpdate {
            agents: self
                .agents
                .iter()
                .map(|(id, a)| pb::ConnectedAgent {
                    agent_id: id.clone(),
                    name: a.name.clone(),
                    status: "online".into(),
                    connected_at: Some(to_timestamp(a.connected_at)),
                    last_activity: Some(to_timestamp(a.last_activity)),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Instant {
        Utc.timestamp_opt(1_705_312_200 + seconds, 0).unwrap()
    }

    #[test]
    fn agents_come_with_their_first_socket_and_go_with_the_last_or_silence() {
        let mut presence = AgentPresence::default();
        assert!(presence.join("agent-1", "Ann", "s1", at(0)));
        assert!(
            !presence.join("agent-1", "Ann", "s2", at(1)),
            "a second tab"
        );
        assert!(presence.join("agent-2", "Bob", "s3", at(2)));
        assert!(presence.leave("s1").is_empty(), "one tab is still open");
        assert_eq!(presence.leave("s2"), ["agent-1"]);
        assert!(presence.touch("agent-2", at(20)));
        assert!(!presence.touch("agent-1", at(20)));
        assert!(presence.expire(at(20)).is_empty(), "active at the cutoff");
        assert_eq!(presence.expire(at(21)), ["agent-2"]);
        assert!(presence.online().is_empty());
    }
}
