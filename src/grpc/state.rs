//! `switchboard.v1.StateService`: the system state and figures as they
//! stand, and the system mode.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::principal;
use crate::commands::chat::Chat;
use crate::log::EventLog;
use crate::metrics::Metrics;
use crate::presence::TenantPresence;
use crate::proto::v1 as pb;
use crate::socket_json::masked;
use crate::stats::StatsSampler;
use crate::time::to_timestamp;

/// `switchboard.v1.StateService`.
pub struct StateQueries {
    log: Arc<EventLog>,
    metrics: Arc<Metrics>,
    presence: Arc<TenantPresence>,
    stats: Arc<StatsSampler>,
    chat: Arc<Chat>,
}

impl StateQueries {
    /// Answers from `log` (the state), `stats`, `metrics` and `presence`
    /// (the figures); `chat` sets the system mode.
    pub fn new(
        log: Arc<EventLog>,
        metrics: Arc<Metrics>,
        presence: Arc<TenantPresence>,
        stats: Arc<StatsSampler>,
        chat: Arc<Chat>,
    ) -> Self {
        StateQueries {
            log,
            metrics,
            presence,
            stats,
            chat,
        }
    }
}

#[tonic::async_trait]
impl pb::state_service_server::StateService for StateQueries {
    async fn get_system_state(
        &self,
        request: Request<pb::GetSystemStateRequest>,
    ) -> Result<Response<pb::GetSystemStateResponse>, Status> {
        let principal = principal(&request)?;
        principal.refuse_customers("read the system state")?;
        let request = request.into_inner();
        let tenant = principal
            .forced_tenant()
            .map(str::to_owned)
            .or_else(|| (!request.tenant.is_empty()).then_some(request.tenant));
        let now = chrono::Utc::now();
        let response = self.log.read(|ledger, sequence| {
            let snapshot = ledger.snapshot(now);
            let keep = |t: &str| tenant.as_deref().is_none_or(|wanted| wanted == t);
            pb::GetSystemStateResponse {
                calls: snapshot
                    .calls
                    .into_iter()
                    .filter(|c| keep(&c.tenant))
                    .collect(),
                agents: snapshot
                    .agents
                    .into_iter()
                    .filter(|a| keep(&a.tenant))
                    .collect(),
                queues: snapshot
                    .queues
                    .into_iter()
                    .filter(|q| keep(&q.tenant))
                    .collect(),
                now: Some(to_timestamp(now)),
                sequence,
                epoch: self.log.epoch().to_owned(),
                system_mode: snapshot.system_mode,
            }
        });
        let response = if principal.masks_phone_numbers() {
            masked(&response)
        } else {
            response
        };
        Ok(Response::new(response))
    }

    async fn get_system_stats(
        &self,
        request: Request<pb::GetSystemStatsRequest>,
    ) -> Result<Response<pb::GetSystemStatsResponse>, Status> {
        let principal = principal(&request)?;
        principal.refuse_customers("read the system figures")?;
        let stats = self.stats.sample(
            &self.log,
            &self.metrics,
            &self.presence,
            chrono::Utc::now(),
            principal.forced_tenant(),
        );
        Ok(Response::new(pb::GetSystemStatsResponse {
            stats: Some(stats),
        }))
    }

    async fn set_system_mode(
        &self,
        request: Request<pb::SetSystemModeRequest>,
    ) -> Result<Response<pb::SetSystemModeResponse>, Status> {
        let principal = principal(&request)?;
        let answer = self.chat.set_mode(&principal, request.into_inner()).await?;
        Ok(Response::new(answer))
    }
}
