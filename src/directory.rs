//! The agent directory: who the agents are (id, extension, name), how many
//! calls each may hold at once, and which endpoint rings their phone. Read
//! from the configuration (`[[agents]]` in the TOML file, or `AGENTS_FILE`),
//! changed at run time by an admin; the ledger hears of every entry as an
//! `AgentConfigured` input, and its values win over what a PBX login says.

use std::collections::BTreeMap;
use std::path::Path;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, ServiceError};

/// Why a directory entry, or a directory file, is refused: one line naming
/// the agent (or the file) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The entry (or the file) is not valid.
    #[error("{0}")]
    Invalid(String),
    /// Another agent holds the entry's agent id.
    #[error("{0}")]
    Taken(String),
}

impl ServiceError for DirectoryError {
    fn error_code(&self) -> ErrorCode {
        match self {
            DirectoryError::Invalid(_) => ErrorCode::InvalidArgument,
            DirectoryError::Taken(_) => ErrorCode::AlreadyExists,
        }
    }
}

/// A refused entry is the request's fault.
impl From<DirectoryError> for Error {
    fn from(error: DirectoryError) -> Self {
        match error {
            DirectoryError::Invalid(text) => Error::InvalidArgument(text),
            DirectoryError::Taken(text) => Error::AlreadyExists(text),
        }
    }
}

/// The most concurrent calls an agent may be configured for.
pub const MAX_CALLS_LIMIT: u32 = 20;

/// One agent of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    /// The agent's id (`agent_uuid_789`); the extension when not given.
    #[serde(default)]
    pub agent_id: String,
    /// The agent's extension (`1001`).
    pub extension: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The most calls the agent may hold at once (1 when not given).
    #[serde(default = "one")]
    pub max_calls: u32,
    /// The endpoint that rings the agent's phone; `PJSIP/{extension}` when not given.
    #[serde(default)]
    pub endpoint: Option<String>,
}

fn one() -> u32 {
    1
}

impl AgentEntry {
    /// The endpoint to ring.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("PJSIP/{}", self.extension))
    }

    /// Fills the defaults and checks the entry: an extension of digits (and
    /// `*#+`), a capacity from 1 to [`MAX_CALLS_LIMIT`].
    pub fn validated(mut self) -> Result<AgentEntry, DirectoryError> {
        self.extension = self.extension.trim().to_owned();
        if self.extension.is_empty()
            || !self
                .extension
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "*#+-_".contains(c))
        {
            return Err(DirectoryError::Invalid(format!(
                "agent extension {:?} is not a dialable extension",
                self.extension
            )));
        }
        if self.max_calls == 0 || self.max_calls > MAX_CALLS_LIMIT {
            return Err(DirectoryError::Invalid(format!(
                "agent {}: max_calls must be from 1 to {MAX_CALLS_LIMIT}, got {}",
                self.extension, self.max_calls
            )));
        }
        if self.agent_id.trim().is_empty() {
            self.agent_id.clone_from(&self.extension);
        }
        if self.name.trim().is_empty() {
            self.name = format!("Agent {}", self.extension);
        }
        if let Some(endpoint) = &self.endpoint
            && !endpoint.contains('/')
        {
            return Err(DirectoryError::Invalid(format!(
                "agent {}: endpoint {endpoint:?} is not TECH/resource (PJSIP/1001)",
                self.extension
            )));
        }
        Ok(self)
    }
}

/// Checks a whole list: every entry valid, no extension twice.
pub fn validate(entries: Vec<AgentEntry>) -> Result<Vec<AgentEntry>, DirectoryError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut ids = std::collections::BTreeMap::new();
    entries
        .into_iter()
        .map(|entry| {
            let entry = entry.validated()?;
            if !seen.insert(entry.extension.clone()) {
                return Err(DirectoryError::Invalid(format!(
                    "agent extension {} is configured twice",
                    entry.extension
                )));
            }
            if let Some(other) = ids.insert(entry.agent_id.clone(), entry.extension.clone()) {
                return Err(DirectoryError::Taken(format!(
                    "agent id {} is configured for extensions {other} and {}",
                    entry.agent_id, entry.extension
                )));
            }
            Ok(entry)
        })
        .collect()
}

/// An agents file: `[[agents]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsFile {
    #[serde(default)]
    agents: Vec<AgentEntry>,
}

/// Reads and checks an agents file (TOML, `[[agents]]` tables).
pub fn read(path: &Path) -> Result<Vec<AgentEntry>, DirectoryError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DirectoryError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let file: AgentsFile = toml::from_str(&text).map_err(|e| {
        DirectoryError::Invalid(format!(
            "{}: {}",
            path.display(),
            e.message().lines().next().unwrap_or("invalid TOML")
        ))
    })?;
    validate(file.agents)
}

/// The directory the running server consults, by extension.
#[derive(Debug, Default)]
pub struct AgentDirectory {
    entries: RwLock<BTreeMap<String, AgentEntry>>,
}

impl AgentDirectory {
    /// A directory holding `entries` (already validated).
    pub fn new(entries: Vec<AgentEntry>) -> Self {
        AgentDirectory {
            entries: RwLock::new(
                entries
                    .into_iter()
                    .map(|e| (e.extension.clone(), e))
                    .collect(),
            ),
        }
    }

    /// The agent at `extension`.
    pub fn get(&self, extension: &str) -> Option<AgentEntry> {
        self.entries.read().get(extension).cloned()
    }

    /// Every agent, by extension.
    pub fn list(&self) -> Vec<AgentEntry> {
        self.entries.read().values().cloned().collect()
    }

    /// Adds or replaces the agent at an extension (validated first); an
    /// agent id that another extension holds is refused as taken.
    pub fn put(&self, entry: AgentEntry) -> Result<AgentEntry, DirectoryError> {
        let entry = entry.validated()?;
        let mut entries = self.entries.write();
        if let Some(other) = entries
            .values()
            .find(|e| e.agent_id == entry.agent_id && e.extension != entry.extension)
        {
            return Err(DirectoryError::Taken(format!(
                "agent id {} is already extension {}",
                entry.agent_id, other.extension
            )));
        }
        entries.insert(entry.extension.clone(), entry.clone());
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(extension: &str, max_calls: u32) -> AgentEntry {
        AgentEntry {
            agent_id: String::new(),
            extension: extension.into(),
            name: String::new(),
            max_calls,
            endpoint: None,
        }
    }

    #[test]
    fn defaults_fill_in_and_bad_entries_say_why() {
        let filled = entry("1001", 3).validated().unwrap();
        assert_eq!(
            (
                filled.agent_id.as_str(),
                filled.name.as_str(),
                filled.endpoint().as_str()
            ),
            ("1001", "Agent 1001", "PJSIP/1001")
        );
        for (bad, why) in [
            (entry("", 1), "not a dialable extension"),
            (entry("10 01", 1), "not a dialable extension"),
            (entry("1001", 0), "max_calls must be from 1 to 20"),
            (entry("1001", 21), "max_calls must be from 1 to 20"),
            (
                AgentEntry {
                    endpoint: Some("1001".into()),
                    ..entry("1001", 1)
                },
                "is not TECH/resource",
            ),
        ] {
            let error = bad.validated().unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
        let twice = validate(vec![entry("1001", 1), entry("1001", 2)]).unwrap_err();
        assert!(twice.to_string().contains("configured twice"));
    }

    #[test]
    fn an_agents_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agents.toml");
        std::fs::write(
            &path,
            "[[agents]]\nagent_id = \"agent_uuid_789\"\nextension = \"1001\"\nname = \"John Doe\"\nmax_calls = 3\n\n[[agents]]\nextension = \"1002\"\nendpoint = \"PJSIP/desk-1002\"\n",
        )
        .unwrap();
        let agents = read(&path).unwrap();
        assert_eq!(agents.len(), 2);
        assert_eq!(agents[0].max_calls, 3);
        assert_eq!(agents[1].endpoint(), "PJSIP/desk-1002");
        std::fs::write(&path, "[[agents]]\nextension = \"1001\"\nmaxcalls = 3\n").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("maxcalls"));
    }

    #[test]
    fn an_agent_id_belongs_to_one_extension() {
        let directory = AgentDirectory::new(vec![entry("1001", 1).validated().unwrap()]);
        let mut taken = entry("1002", 1);
        taken.agent_id = "1001".into();
        let refused = directory.put(taken.clone()).unwrap_err();
        assert!(matches!(refused, DirectoryError::Taken(_)), "{refused:?}");
        assert_eq!(refused.error_code(), ErrorCode::AlreadyExists);
        assert_eq!(Error::from(refused).grpc_code(), tonic::Code::AlreadyExists);
        // The same extension may change its own entry.
        let mut renamed = entry("1001", 2);
        renamed.name = "Ann".into();
        assert_eq!(directory.put(renamed).unwrap().max_calls, 2);
        // And a list may not give one id to two extensions.
        let mut second = entry("1002", 1);
        second.agent_id = "agent-7".into();
        let mut third = entry("1003", 1);
        third.agent_id = "agent-7".into();
        assert!(matches!(
            validate(vec![second, third]),
            Err(DirectoryError::Taken(_))
        ));
    }
}
