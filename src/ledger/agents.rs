//! The ledger's agents logging in and out, and their sessions.

use super::*;

impl Ledger {
    /// Applies an input about agents logging in and out, and their sessions;
    /// an input of another concern changes nothing here.
    pub(super) fn apply_agent(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::AgentLoggedIn {
                extension,
                agent_id,
                name,
                max_calls,
                queues,
            } => {
                let agent = self
                    .agents
                    .entry(extension.clone())
                    .or_insert_with(|| AgentRecord {
                        agent_id: agent_id.clone(),
                        extension: extension.clone(),
                        name: name.clone(),
                        logged_in: false,
                        max_calls,
                        call_ids: Vec::new(),
                        ringing: Vec::new(),
                        configured: false,
                        calls_today: 0,
                        queues: queues.clone(),
                        login_time: None,
                        status_changed_at: now,
                        last_update: now,
                        tenant: String::new(),
                    });
                if agent.logged_in {
                    return Vec::new();
                }
                let previous = agent.availability();
                agent.logged_in = true;
                // The agent directory's id, name and capacity win over what a PBX login says.
                if !agent.configured {
                    agent.agent_id = agent_id;
                    agent.name = name;
                    agent.max_calls = max_calls.max(1);
                }
                agent.queues = queues;
                agent.login_time = Some(now);
                agent.status_changed_at = now;
                agent.last_update = now;
                let agent = agent.clone();
                self.stale.agents_status.mark();
                vec![
                    Emitted::house(Payload::AgentLogin(views::wallboard_agent(self, &agent))),
                    Emitted::house(Payload::AgentStatusUpdated(views::agent_status_updated(
                        self, &agent, previous,
                    ))),
                    self.agent_session(
                        &agent.extension,
                        pb::AgentSessionChangeKind::LoggedIn,
                        "",
                        String::new(),
                        now,
                    ),
                ]
            }
            Input::AgentLoggedOut { extension } => {
                let Some(agent) = self.agents.get_mut(&extension) else {
                    return Vec::new();
                };
                if !agent.logged_in {
                    return Vec::new();
                }
                let previous = agent.availability();
                agent.logged_in = false;
                agent.login_time = None;
                agent.status_changed_at = now;
                agent.last_update = now;
                let agent = agent.clone();
                self.stale.agents_status.mark();
                vec![
                    Emitted::house(Payload::AgentLogout(views::wallboard_agent(self, &agent))),
                    Emitted::house(Payload::AgentStatusUpdated(views::agent_status_updated(
                        self, &agent, previous,
                    ))),
                    self.agent_session(
                        &agent.extension,
                        pb::AgentSessionChangeKind::LoggedOut,
                        "",
                        String::new(),
                        now,
                    ),
                ]
            }
            // Another concern's input.
            _ => Vec::new(),
        }
    }

    /// An `agent_session` event for the agent at `extension` (its id when known).
    pub(super) fn agent_session(
        &self,
        extension: &str,
        kind: pb::AgentSessionChangeKind,
        queue: &str,
        reason: String,
        now: Instant,
    ) -> Emitted {
        let agent_id = self
            .agents
            .get(extension)
            .map_or_else(|| extension.to_owned(), |agent| agent.agent_id.clone());
        Emitted::house(Payload::AgentSession(pb::AgentSessionChange {
            extension: extension.to_owned(),
            agent_id,
            kind: kind as i32,
            queue: queue.to_owned(),
            reason,
            at: Some(crate::time::to_timestamp(now)),
        }))
    }

    pub(super) fn agents_status(&self) -> Emitted {
        Emitted::house(Payload::AgentsStatus(pb::WallboardAgentList {
            agents: self
                .agents
                .values()
                .map(|agent| views::wallboard_agent(self, agent))
                .collect(),
        }))
    }
}
