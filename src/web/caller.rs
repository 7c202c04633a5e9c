//! Who is calling an HTTP route: the [`Caller`] extractor verifies the
//! request's bearer token once, and refuses (401) a request without a
//! verified principal; every refusal is counted on the `http` surface.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::auth::{Authenticator, Principal};
use crate::error::Error;
use crate::metrics::Metrics;

/// What checks a request's token: the authenticator, and where refusals are counted.
#[derive(Clone)]
pub struct Gatekeeper {
    auth: Authenticator,
    metrics: Arc<Metrics>,
}

impl Gatekeeper {
    /// Checks tokens with `auth`; counts refusals in `metrics`.
    pub fn new(auth: Authenticator, metrics: Arc<Metrics>) -> Self {
        Gatekeeper { auth, metrics }
    }

    /// The verified principal of a request with these headers.
    pub fn principal(&self, headers: &http::HeaderMap) -> Result<Principal, Error> {
        let credential = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.auth
            .authenticate(credential)
            .inspect_err(|e| self.refused(e))
    }

    /// Counts a refusal of an HTTP request.
    pub fn refused(&self, error: &Error) {
        self.metrics.refuse("http", error.code_name());
    }
}

/// The verified principal of the request: a route that takes it answers
/// 401 to a request with no token or a bad one, before its handler runs.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    Gatekeeper: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Gatekeeper::from_ref(state)
            .principal(&parts.headers)
            .map(Caller)
    }
}

/// A route open to anyone takes `Option<Caller>`: no `Authorization`
/// header is `None`, but a token that is there must be valid (a bad one is
/// refused, never read as no token).
impl<S> OptionalFromRequestParts<S> for Caller
where
    Gatekeeper: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(http::header::AUTHORIZATION) {
            return Ok(None);
        }
        Gatekeeper::from_ref(state)
            .principal(&parts.headers)
            .map(|p| Some(Caller(p)))
    }
}
