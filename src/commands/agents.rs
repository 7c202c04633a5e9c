//! The agent directory's admin: listing the agents (supervisors) and
//! adding or changing one (admins). A change is stored, so it outlives a
//! restart, and applied to the ledger, so every dashboard sees it.

use std::sync::Arc;

use crate::auth::{Principal, Role};
use crate::directory::{AgentDirectory, AgentEntry};
use crate::error::Error;
use crate::log::EventLog;
use crate::proto::v1 as pb;
use crate::store::Store;

/// The agent-directory service.
pub struct AgentAdmin {
    directory: Arc<AgentDirectory>,
    store: Store,
    log: Arc<EventLog>,
}

/// The contract's form of a directory entry.
pub fn directory_entry(entry: AgentEntry) -> pb::AgentDirectoryEntry {
    pb::AgentDirectoryEntry {
        endpoint: entry.endpoint(),
        agent_id: entry.agent_id,
        extension: entry.extension,
        name: entry.name,
        max_calls: entry.max_calls,
    }
}

impl AgentAdmin {
    /// The admin of `directory`, storing changes in `store` and applying them to `log`.
    pub fn new(directory: Arc<AgentDirectory>, store: Store, log: Arc<EventLog>) -> Self {
        AgentAdmin {
            directory,
            store,
            log,
        }
    }

    /// Every agent of the directory (supervisors and admins).
    pub fn list(&self, principal: &Principal) -> Result<Vec<pb::AgentDirectoryEntry>, Error> {
        principal.require(&[Role::Supervisor, Role::Admin], "list the agents")?;
        Ok(self
            .directory
            .list()
            .into_iter()
            .map(directory_entry)
            .collect())
    }

    /// Adds or changes an agent (admins): checked, stored, then applied to
    /// the ledger; answers the entry and the agent's live state.
    pub async fn put(
        &self,
        principal: &Principal,
        agent: Option<pb::AgentDirectoryEntry>,
    ) -> Result<pb::PutAgentResponse, Error> {
        principal.require(&[Role::Admin], "change the agent directory")?;
        let agent = agent.ok_or_else(|| Error::InvalidArgument("agent is required".into()))?;
        let entry = AgentEntry {
            agent_id: agent.agent_id,
            extension: agent.extension,
            name: agent.name,
            max_calls: agent.max_calls.max(1),
            endpoint: (!agent.endpoint.trim().is_empty()).then(|| agent.endpoint.trim().to_owned()),
        };
        let entry = self.directory.put(entry)?;
        let now = chrono::Utc::now();
        self.store.put_agent(&entry, now.timestamp_millis()).await?;
        self.log.apply(
            crate::ledger::Input::AgentConfigured {
                agent_id: entry.agent_id.clone(),
                extension: entry.extension.clone(),
                name: entry.name.clone(),
                max_calls: entry.max_calls,
            },
            now,
        );
        let extension = entry.extension.clone();
        let state = self.log.read(|ledger, _| {
            ledger
                .agents
                .get(&extension)
                .map(crate::ledger::views::agent)
        });
        Ok(pb::PutAgentResponse {
            agent: Some(directory_entry(entry)),
            state,
        })
    }
}
