//! `switchboard.v1.CustomerService`: the customer-profile cache and the
//! transfers of seed 004, handed to the transfer service.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::principal;
use crate::commands::transfers::{TransferDesk, TransferRequest};
use crate::proto::v1 as pb;

/// `switchboard.v1.CustomerService`: the customer-profile cache of seed 004.
pub struct Customers {
    transfers: Arc<TransferDesk>,
}

impl Customers {
    /// The service over `transfers` (and its profile cache).
    pub fn new(transfers: Arc<TransferDesk>) -> Self {
        Customers { transfers }
    }
}

#[tonic::async_trait]
impl pb::customer_service_server::CustomerService for Customers {
    async fn get_customer_profile(
        &self,
        request: Request<pb::GetCustomerProfileRequest>,
    ) -> Result<Response<pb::GetCustomerProfileResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let (_, profile) = self
            .transfers
            .customer_profile(
                &principal,
                &request.extension,
                &request.call_sid,
                &request.call_id,
            )
            .await?;
        Ok(Response::new(pb::GetCustomerProfileResponse {
            profile: Some(profile.to_proto()),
        }))
    }

    async fn put_customer_profile(
        &self,
        request: Request<pb::PutCustomerProfileRequest>,
    ) -> Result<Response<pb::PutCustomerProfileResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let keys = self
            .transfers
            .cache_profile(&principal, request.profile, request.ttl_seconds)
            .await?;
        Ok(Response::new(pb::PutCustomerProfileResponse { keys }))
    }

    async fn request_transfer(
        &self,
        request: Request<pb::RequestTransferRequest>,
    ) -> Result<Response<pb::RequestTransferResponse>, Status> {
        let principal = principal(&request)?;
        let request = request.into_inner();
        let (transfer, cache_keys) = self
            .transfers
            .request(
                &principal,
                TransferRequest {
                    extension: request.extension,
                    profile: request.profile.unwrap_or_default(),
                    customer_call_sid: request.customer_call_sid,
                    call_id: request.call_id,
                    ttl_seconds: request.ttl_seconds,
                },
            )
            .await?;
        Ok(Response::new(pb::RequestTransferResponse {
            transfer: Some(transfer),
            cache_keys,
        }))
    }
}
