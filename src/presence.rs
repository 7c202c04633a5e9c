//! Which tenants have clients (`client`-role sockets or streams) connected now,
//! so that `system_stats` scoped to each of them is published while they watch.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Connected tenants and how many connections each has.
#[derive(Debug, Default)]
pub struct TenantPresence {
    connections: Mutex<BTreeMap<String, usize>>,
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

    /// The connected tenants with their connection counts.
    pub fn tenants(&self) -> Vec<(String, usize)> {
        self.connections
            .lock()
            .iter()
            .map(|(tenant, count)| (tenant.clone(), *count))
            .collect()
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
}
