//! `switchboard.v1.EventService`: the event stream, resumable by sequence
//! number, filtered by kind and tenant, with phone numbers masked for
//! client tokens.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::principal;
use crate::error::Error;
use crate::events::{Filter, kind_of};
use crate::log::{EventLog, StartAt};
use crate::metrics::Metrics;
use crate::presence::TenantPresence;
use crate::proto::v1::{self as pb, event::Payload};
use crate::socket_json::masked;
use crate::time::to_timestamp;

/// `switchboard.v1.EventService`.
pub struct Events {
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    presence: Arc<TenantPresence>,
    shutdown: CancellationToken,
}

impl Events {
    /// Streams from `log`; each stream is counted in `metrics` and, for a
    /// client token, in `presence`; every stream ends when `shutdown` fires.
    pub fn new(
        log: Arc<EventLog>,
        metrics: Arc<Metrics>,
        presence: Arc<TenantPresence>,
        shutdown: CancellationToken,
    ) -> Self {
        Events {
            log,
            metrics,
            presence,
            shutdown,
        }
    }
}

/// The stream type of `Subscribe`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

/// Decrements a gauge when the stream it travels with is dropped.
struct GaugeGuard(prometheus_client::metrics::gauge::Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// How long a stream resuming after a number this node has not read back
/// yet waits for it, with a journaled log, before it is told it is ahead.
const RESUME_AHEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[tonic::async_trait]
impl pb::event_service_server::EventService for Events {
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let principal = principal(&request)?;
        principal.refuse_customers("subscribe to the event stream")?;
        let request = request.into_inner();
        if let Some(forced) = principal.forced_tenant()
            && !request.tenant.is_empty()
            && request.tenant != forced
        {
            return Err(Error::PermissionDenied(format!(
                "a client token may not subscribe to tenant {}",
                request.tenant
            ))
            .into());
        }
        if request
            .kinds
            .iter()
            .any(|k| pb::EventKind::try_from(*k).is_err())
        {
            return Err(Error::InvalidArgument("unknown event kind in kinds".into()).into());
        }
        if request.snapshot_first && request.replay_window {
            return Err(Error::InvalidArgument(
                "ask for snapshot_first or replay_window, not both".into(),
            )
            .into());
        }
        let filter = Filter::from_request(&request, principal.forced_tenant());
        let tenant = filter.tenant().map(str::to_owned);
        let start = StartAt {
            resume_after: request.resume_after,
            epoch: (!request.epoch.is_empty()).then(|| request.epoch.clone()),
            snapshot_first: request.snapshot_first,
            replay_window: request.replay_window,
        };
        let log = Arc::clone(&self.log);
        let metrics = Arc::clone(&self.metrics);
        if log.is_journaled() {
            // A number handed out a moment ago (an rpc's answer, another
            // node's event) may not have been read back here yet.
            log.wait_for_head(start.resume_after, RESUME_AHEAD_WAIT)
                .await;
        }
        let subscription = log.subscribe(&start, chrono::Utc::now());
        let mask = principal.masks_phone_numbers();

        let streams = metrics.connections("grpc_stream");
        streams.inc();
        metrics.subscribers.inc();
        let guards = (
            GaugeGuard(streams),
            GaugeGuard(metrics.subscribers.clone()),
            principal
                .forced_tenant()
                .map(|tenant| self.presence.enter(tenant)),
        );
        tracing::debug!(subscriber = %principal.claims.sub, resume_after = start.resume_after, "event stream opened");

        let mut last_sequence = subscription.live_after;
        let epoch = log.epoch().to_owned();
        let lag_metrics = Arc::clone(&metrics);
        let live = BroadcastStream::new(subscription.live).map(move |item| match item {
            Ok(event) => {
                last_sequence = event.sequence;
                event
            }
            Err(BroadcastStreamRecvError::Lagged(lost)) => {
                lag_metrics.dropped("grpc", lost);
                let resumed_at = last_sequence + lost + 1;
                last_sequence += lost;
                Arc::new(pb::Event {
                    sequence: last_sequence,
                    epoch: epoch.clone(),
                    time: Some(to_timestamp(chrono::Utc::now())),
                    tenant: String::new(),
                    payload: Some(Payload::EventsDropped(pb::EventsDropped {
                        count: lost,
                        resumed_at,
                    })),
                })
            }
        });
        let shutdown = self.shutdown.clone().cancelled_owned();
        let events = stream::iter(subscription.backlog)
            .chain(live)
            .filter(move |event| {
                let admitted = event
                    .payload
                    .as_ref()
                    .is_some_and(|p| filter.admits(p, &event.tenant));
                futures::future::ready(admitted)
            })
            .map(move |event| {
                let _alive = &guards;
                let head = log.head();
                metrics
                    .subscriber_lag
                    .observe(head.saturating_sub(event.sequence) as f64);
                if let Some(payload) = &event.payload {
                    metrics.delivered("grpc", kind_of(payload).as_str_name());
                }
                let event = held_to_tenant(event, tenant.as_deref());
                let event = if mask {
                    masked(event.as_ref())
                } else {
                    (*event).clone()
                };
                Ok(pb::SubscribeResponse { event: Some(event) })
            })
            .take_until(shutdown);
        Ok(Response::new(Box::pin(events)))
    }
}

/// The event as a subscriber held to `tenant` may see it: a `Resync`'s
/// snapshot (the whole house's state, in the log) cut down to the tenant's.
fn held_to_tenant(event: Arc<pb::Event>, tenant: Option<&str>) -> Arc<pb::Event> {
    let Some(tenant) = tenant else {
        return event;
    };
    let Some(Payload::Resync(resync)) = &event.payload else {
        return event;
    };
    let mut resync = resync.clone();
    resync.snapshot = resync
        .snapshot
        .as_ref()
        .map(|snapshot| crate::events::snapshot_of_tenant(snapshot, tenant));
    Arc::new(pb::Event {
        sequence: event.sequence,
        epoch: event.epoch.clone(),
        time: event.time,
        tenant: event.tenant.clone(),
        payload: Some(Payload::Resync(resync)),
    })
}
