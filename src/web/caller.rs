//! Who is calling an HTTP route: the [`Caller`] extractor verifies the
//! request's bearer token once, and refuses (401) a request without a
//! verified principal; every refusal is counted on the `http` surface.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

pub use crate::auth::Gatekeeper;
use crate::auth::Principal;
use crate::error::Error;

/// The principal of a request with these headers (its `Authorization`).
fn principal_of(gate: &Gatekeeper, headers: &http::HeaderMap) -> Result<Principal, Error> {
    let credential = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    gate.principal(credential)
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
        principal_of(&Gatekeeper::from_ref(state), &parts.headers).map(Caller)
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
        principal_of(&Gatekeeper::from_ref(state), &parts.headers).map(|p| Some(Caller(p)))
    }
}
