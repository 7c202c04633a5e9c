//! Bearer tokens: HS256 JWTs signed with `JWT_SECRET`, carrying a role and,
//! for agents and clients, the extension or tenant they may see. Every surface
//! (gRPC metadata, the Socket.IO handshake, HTTP `Authorization`) checks them here.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What a token holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An agent: its own extension and conversations.
    Agent,
    /// A supervisor: everything live, and spy actions.
    Supervisor,
    /// An administrator: everything, and the system mode.
    Admin,
    /// A tenant's client: its own calls, phone numbers masked.
    Client,
    /// A chat customer (the widget): one conversation only. Minted by the
    /// server when the conversation starts, never by `switchboard token`.
    #[value(skip)]
    Customer,
}

impl Role {
    /// The lower-case name used in tokens and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Client => "client",
            Role::Customer => "customer",
        }
    }
}

/// The claims of a switchboard token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who: a user name or id.
    pub sub: String,
    /// What they may do.
    pub role: Role,
    /// The agent's extension (role `agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// The tenant's client id (role `client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The one conversation a chat customer may use (role `customer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
}

/// Who is asking: a verified token, or anyone when auth is disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The verified claims.
    pub claims: Claims,
}

impl Principal {
    /// The principal every request gets when auth is disabled: an admin named `anonymous`.
    pub fn anonymous_admin() -> Self {
        Principal {
            claims: Claims {
                sub: "anonymous".into(),
                role: Role::Admin,
                extension: None,
                client_id: None,
                conversation_id: None,
                exp: u64::MAX,
                iat: 0,
            },
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.claims.role
    }

    /// The tenant this principal is held to (role `client`), if any.
    pub fn forced_tenant(&self) -> Option<&str> {
        match self.claims.role {
            Role::Client => Some(self.claims.client_id.as_deref().unwrap_or("")),
            _ => None,
        }
    }

    /// The conversation a chat customer is held to (role `customer`).
    pub fn customer_conversation(&self) -> Option<&str> {
        match self.claims.role {
            Role::Customer => Some(self.claims.conversation_id.as_deref().unwrap_or("")),
            _ => None,
        }
    }

    /// Refuses chat customers: they see their conversation and nothing else.
    pub fn refuse_customers(&self, what: &str) -> Result<(), Error> {
        if self.claims.role == Role::Customer {
            Err(Error::PermissionDenied(format!(
                "a chat customer may not {what}"
            )))
        } else {
            Ok(())
        }
    }

    /// Whether phone numbers must be masked for this principal.
    pub fn masks_phone_numbers(&self) -> bool {
        self.claims.role == Role::Client
    }

    /// Refuses unless the role is one of `allowed`.
    pub fn require(&self, allowed: &[Role], what: &str) -> Result<(), Error> {
        if allowed.contains(&self.claims.role) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "role {} may not {what}",
                self.claims.role.as_str()
            )))
        }
    }
}

/// Verifies and mints tokens.
#[derive(Clone)]
pub struct Authenticator {
    disabled: bool,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `secret`; with `disabled`, every request is an anonymous admin.
    pub fn new(secret: &[u8], disabled: bool) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        // A token not valid yet (`nbf` ahead, beyond the leeway) is refused.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            disabled,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Whether auth is turned off.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Verifies a bare token.
    pub fn verify(&self, token: &str) -> Result<Principal, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                Error::Unauthenticated(
                    match e.kind() {
                        ErrorKind::ExpiredSignature => "token expired",
                        ErrorKind::ImmatureSignature => "token not valid yet (nbf)",
                        ErrorKind::InvalidSignature => "token signature does not verify",
                        ErrorKind::InvalidAlgorithm => "token algorithm not accepted",
                        _ => "token malformed",
                    }
                    .into(),
                )
            })?;
        let claims = data.claims;
        match claims.role {
            Role::Agent if claims.extension.as_deref().is_none_or(str::is_empty) => Err(
                Error::Unauthenticated("agent token carries no extension".into()),
            ),
            Role::Client if claims.client_id.as_deref().is_none_or(str::is_empty) => Err(
                Error::Unauthenticated("client token carries no client id".into()),
            ),
            Role::Customer if claims.conversation_id.as_deref().is_none_or(str::is_empty) => Err(
                Error::Unauthenticated("customer token carries no conversation".into()),
            ),
            _ => Ok(Principal { claims }),
        }
    }

    /// Verifies an optional credential: a bare token or `Bearer <token>`.
    /// With auth disabled, every request (even without a credential) is an anonymous admin.
    pub fn authenticate(&self, credential: Option<&str>) -> Result<Principal, Error> {
        if self.disabled {
            return Ok(Principal::anonymous_admin());
        }
        let credential = credential
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::Unauthenticated("no bearer token".into()))?;
        let token = match credential.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            Some(_) => {
                return Err(Error::Unauthenticated(
                    "authorization scheme is not Bearer".into(),
                ));
            }
            None => credential,
        };
        self.verify(token)
    }

    /// Signs a token for `claims` fields, valid for `ttl` from `now_unix`.
    pub fn mint(
        &self,
        sub: &str,
        role: Role,
        extension: Option<String>,
        client_id: Option<String>,
        ttl: Duration,
        now_unix: u64,
    ) -> Result<String, Error> {
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            extension,
            client_id,
            conversation_id: None,
            iat: now_unix,
            exp: now_unix.saturating_add(ttl.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(e.into()))
    }
}

impl Authenticator {
    /// Signs a chat customer's token for `conversation_id`, valid for `ttl` from `now_unix`.
    pub fn mint_customer(
        &self,
        conversation_id: &str,
        ttl: Duration,
        now_unix: u64,
    ) -> Result<String, Error> {
        let claims = Claims {
            sub: format!("customer:{conversation_id}"),
            role: Role::Customer,
            extension: None,
            client_id: None,
            conversation_id: Some(conversation_id.to_owned()),
            iat: now_unix,
            exp: now_unix.saturating_add(ttl.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(e.into()))
    }
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A surface's check of credentials: the authenticator, and where the
/// refusals are counted (under the surface's name, `http` or `grpc`).
#[derive(Clone)]
pub struct Gatekeeper {
    auth: Authenticator,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    surface: &'static str,
}

impl Gatekeeper {
    /// Checks tokens with `auth` for `surface`; counts refusals in `metrics`.
    pub fn new(
        auth: Authenticator,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        surface: &'static str,
    ) -> Self {
        Gatekeeper {
            auth,
            metrics,
            surface,
        }
    }

    /// The verified principal of `credential` (an `Authorization` value);
    /// a refusal is counted.
    pub fn principal(&self, credential: Option<&str>) -> Result<Principal, Error> {
        self.auth
            .authenticate(credential)
            .inspect_err(|e| self.refused(e))
    }

    /// Counts a refusal on this surface.
    pub fn refused(&self, error: &Error) {
        self.metrics.refuse(self.surface, error.code_name());
    }

    /// Whether auth is off (everyone an admin).
    pub fn is_disabled(&self) -> bool {
        self.auth.is_disabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(b"test-secret-test-secret-test-secret", false)
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let auth = auth();
        let token = auth
            .mint(
                "ann",
                Role::Agent,
                Some("1001".into()),
                None,
                Duration::from_secs(60),
                unix_now(),
            )
            .unwrap();
        let principal = auth.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(principal.claims.extension.as_deref(), Some("1001"));
        assert_eq!(principal.role(), Role::Agent);
    }

    #[test]
    fn refusals_say_why() {
        let auth = auth();
        let reason = |r: Result<Principal, Error>| r.unwrap_err().to_string();
        assert!(reason(auth.authenticate(None)).contains("no bearer token"));
        assert!(reason(auth.authenticate(Some("Basic abc"))).contains("not Bearer"));
        assert!(reason(auth.authenticate(Some("Bearer x.y.z"))).contains("malformed"));
        let other = Authenticator::new(b"another-secret-another-secret-xx", false);
        let foreign = other
            .mint(
                "eve",
                Role::Admin,
                None,
                None,
                Duration::from_secs(60),
                unix_now(),
            )
            .unwrap();
        assert!(reason(auth.authenticate(Some(&foreign))).contains("signature"));
        let expired = auth
            .mint(
                "old",
                Role::Admin,
                None,
                None,
                Duration::from_secs(1),
                unix_now() - 3600,
            )
            .unwrap();
        assert!(reason(auth.authenticate(Some(&expired))).contains("expired"));
        let no_ext = auth
            .mint(
                "a",
                Role::Agent,
                None,
                None,
                Duration::from_secs(60),
                unix_now(),
            )
            .unwrap();
        assert!(reason(auth.authenticate(Some(&no_ext))).contains("extension"));
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let auth = auth();
        let sign = |nbf: u64| {
            let claims = serde_json::json!({
                "sub": "ann", "role": "admin", "iat": unix_now(),
                "exp": unix_now() + 7200, "nbf": nbf,
            });
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
            )
            .unwrap()
        };
        let later = auth.authenticate(Some(&sign(unix_now() + 3600)));
        assert!(later.unwrap_err().to_string().contains("not valid yet"));
        assert!(auth.authenticate(Some(&sign(unix_now() - 10))).is_ok());
    }

    #[test]
    fn disabled_auth_lets_everyone_in_as_admin() {
        let auth = Authenticator::new(b"", true);
        assert_eq!(auth.authenticate(None).unwrap().role(), Role::Admin);
    }
}
