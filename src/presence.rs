//! Which tenants have clients (`client`-role sockets or streams) connected now,
//! so that `system_stats` scoped to each of them is published while they watch.
//! In a cluster each node also hears the other nodes' tenants
//! ([`TenantPresence::learn`]), so that the node that publishes the figures
//! publishes them for a tenant watching on any node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Connected tenants and how many connections each has.
#[derive(Debug, Default)]
pub struct TenantPresence {
    connections: Mutex<BTreeMap<String, usize>>,
    /// What the other nodes of a cluster last said, by node, until when it holds.
    elsewhere: Mutex<HashMap<String, (NodeTenants, Instant)>>,
}

/// What one node of a cluster says of its clients, every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTenants {
    /// The node (`NODE_NAME`).
    pub node: String,
    /// Its connected tenants and their connection counts.
    pub tenants: Vec<(String, usize)>,
    /// All its streaming connections (Socket.IO and gRPC), for the house-wide figures.
    pub connections: i64,
}

/// One connection's presence; the tenant is forgotten when its last guard drops.
#[derive(Debug)]
pub struct PresenceGuard {
    presence: Arc<TenantPresence>,
    tenant: String,
}

impl TenantPresence {
    /// Records one more connection of `tenant` until the guard drops.
    pub fn enter(self: &Arc<Self>, tenant: &str) -> PresenceGuard {
        *self
            .connections
            .lock()
            .entry(tenant.to_owned())
            .or_default() += 1;
        PresenceGuard {
            presence: Arc::clone(self),
            tenant: tenant.to_owned(),
        }
    }

    /// The tenants connected to this node, with their connection counts.
    pub fn here(&self) -> Vec<(String, usize)> {
        self.connections
            .lock()
            .iter()
            .map(|(tenant, count)| (tenant.clone(), *count))
            .collect()
    }

    /// The connected tenants with their connection counts: this node's, and
    /// in a cluster the other nodes' as they last said.
    pub fn tenants(&self) -> Vec<(String, usize)> {
        let mut all = self.connections.lock().clone();
        for (said, _) in self.heard() {
            for (tenant, count) in said.tenants {
                *all.entry(tenant).or_default() += count;
            }
        }
        all.into_iter().collect()
    }

    /// The streaming connections the other nodes of a cluster last reported.
    pub fn connections_elsewhere(&self) -> i64 {
        self.heard().iter().map(|(said, _)| said.connections).sum()
    }

    /// Takes in what another node said; it holds for `holds` (a node that
    /// stops saying anything is forgotten then).
    pub fn learn(&self, said: NodeTenants, holds: Duration) {
        let until = Instant::now() + holds;
        self.elsewhere
            .lock()
            .insert(said.node.clone(), (said, until));
    }

    /// What the other nodes said that still holds.
    fn heard(&self) -> Vec<(NodeTenants, Instant)> {
        let now = Instant::now();
        let mut elsewhere = self.elsewhere.lock();
        elsewhere.retain(|_, (_, until)| *until > now);
        elsewhere.values().cloned().collect()
    }
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let mut connections = self.presence.connections.lock();
        if let Some(count) = connections.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                connections.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_is_present_while_any_of_its_connections_is() {
        let presence = Arc::new(TenantPresence::default());
        let first = presence.enter("acme");
        let second = presence.enter("acme");
        let other = presence.enter("globex");
        assert_eq!(
            presence.tenants(),
            [("acme".to_owned(), 2), ("globex".to_owned(), 1)]
        );
        drop(first);
        drop(other);
        assert_eq!(presence.tenants(), [("acme".to_owned(), 1)]);
        drop(second);
        assert!(presence.tenants().is_empty());
    }

    #[test]
    fn the_other_nodes_tenants_count_while_what_they_said_holds() {
        let presence = Arc::new(TenantPresence::default());
        let _here = presence.enter("acme");
        presence.learn(
            NodeTenants {
                node: "b".into(),
                tenants: vec![("acme".into(), 2), ("globex".into(), 1)],
                connections: 5,
            },
            Duration::from_secs(60),
        );
        presence.learn(
            NodeTenants {
                node: "c".into(),
                tenants: vec![("initech".into(), 1)],
                connections: 1,
            },
            Duration::ZERO,
        );
        assert_eq!(
            presence.tenants(),
            [("acme".to_owned(), 3), ("globex".to_owned(), 1)]
        );
        assert_eq!(presence.here(), [("acme".to_owned(), 1)]);
        assert_eq!(presence.connections_elsewhere(), 5);
        // A node's newer word replaces its older one.
        presence.learn(
            NodeTenants {
                node: "b".into(),
                tenants: vec![],
                connections: 0,
            },
            Duration::from_secs(60),
        );
        assert_eq!(presence.tenants(), [("acme".to_owned(), 1)]);
    }
}
