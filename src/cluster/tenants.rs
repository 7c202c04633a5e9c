//! The tenants watching on each node of a cluster: every node says, on the
//! pub/sub channel `{CLUSTER_NAME}:tenants`, which tenants' clients it
//! serves, so that the node that publishes `system_stats` publishes each
//! tenant's own figures wherever its dashboards are connected, and counts
//! every node's connections in the house-wide ones.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::presence::{NodeTenants, TenantPresence};

/// How many of its intervals what a node said holds, when it says nothing more.
const HOLDS_FOR: u32 = 3;

/// Says this node's tenants every `every` on the Redis at `url`, and takes
/// in the other nodes', until `shutdown`.
pub async fn share_tenants(
    url: String,
    cluster: String,
    node: String,
    presence: Arc<TenantPresence>,
    metrics: Arc<Metrics>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let (say, outgoing) = tokio::sync::mpsc::unbounded_channel();
    let speaker = {
        let (node, presence, shutdown) = (node.clone(), Arc::clone(&presence), shutdown.clone());
        async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                let said = NodeTenants {
                    node: node.clone(),
                    tenants: presence.here(),
                    connections: metrics.connections("socketio").get()
                        + metrics.connections("grpc_stream").get(),
                };
                if say.send(said).is_err() {
                    return;
                }
            }
        }
    };
    let listener = super::news::relay(
        url,
        format!("{cluster}:tenants"),
        outgoing,
        move |said: NodeTenants| {
            if said.node != node {
                presence.learn(said, every * HOLDS_FOR);
            }
        },
        shutdown,
    );
    tokio::join!(speaker, listener);
}
