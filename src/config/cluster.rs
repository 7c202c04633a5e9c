//! The deployment's settings: its name (the prefix of its keys in Redis),
//! this node's name, and, with `CLUSTER`, the ingest lease of several nodes.

use std::time::Duration;

use super::{ConfigError, ServeArgs, parse, parse_bool};

/// The deployment's settings in the configuration file.
pub(super) struct FromFile {
    pub(super) name: Option<String>,
    pub(super) cluster: Option<bool>,
    pub(super) node: Option<String>,
    pub(super) lease_seconds: Option<u64>,
}

/// Which deployment this node belongs to, and how.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The prefix of the deployment's keys in Redis (`CLUSTER_NAME`).
    pub name: String,
    /// One node of several: the lease decides which ingests.
    pub cluster: bool,
    /// This node's name (`NODE_NAME`).
    pub node: String,
    /// How long the ingest lease lasts unrenewed.
    pub lease: Duration,
}

impl Deployment {
    /// The settings of `args` and `file`; a cluster needs Redis and Postgres.
    pub(super) fn resolve(
        args: &ServeArgs,
        file: FromFile,
        database_url: &str,
        redis_url: &Option<String>,
    ) -> Result<Deployment, ConfigError> {
        let name = args
            .cluster_name
            .clone()
            .or(file.name)
            .unwrap_or_else(|| "switchboard".into());
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || !name.chars().all(valid) {
            return Err(ConfigError(format!(
                "CLUSTER_NAME={name:?} must be letters, digits, '-', '_' or '.'"
            )));
        }
        let cluster = match &args.cluster {
            Some(v) => parse_bool("CLUSTER", v)?,
            None => file.cluster.unwrap_or(false),
        };
        if cluster && database_url.starts_with("sqlite:") {
            return Err(ConfigError(
                "CLUSTER needs a Postgres DATABASE_URL: the nodes share the records, and SQLite is one file on one machine".into(),
            ));
        }
        if cluster && redis_url.is_none() {
            return Err(ConfigError(
                "CLUSTER needs REDIS_URL: the nodes share the log and the lease there".into(),
            ));
        }
        let node = args
            .node_name
            .clone()
            .or(file.node)
            .filter(|node| !node.trim().is_empty())
            .unwrap_or_else(default_node_name);
        let lease_seconds = match &args.lease_seconds {
            Some(v) => parse::<u64>("LEASE_SECONDS", v)?,
            None => file.lease_seconds.unwrap_or(5),
        };
        if lease_seconds == 0 {
            return Err(ConfigError("LEASE_SECONDS must be at least 1".into()));
        }
        Ok(Deployment {
            name,
            cluster,
            node,
            lease: Duration::from_secs(lease_seconds),
        })
    }
}

/// A node's name when none is set: the host's name and a random suffix.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{:04x}", rand::random::<u16>())
}
