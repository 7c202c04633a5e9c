//! The one error type of the service, mapped once to gRPC codes, HTTP statuses
//! and Socket.IO acknowledgements. Clients get a clear message, never an
//! internal one and never a dependency's own text (an upstream URL, a
//! transport error): that cause is logged once, by the surface that answers.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// What can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or credentials that do not verify.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Valid credentials that do not allow this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The request is malformed or a field is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is well formed but the state does not allow it (agent not on a call).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The request's body (or a message) is larger than accepted.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// The caller sent too much too fast (a rate limit).
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The capability exists in the contract but is not built yet.
    #[error("unimplemented: {0}")]
    Unimplemented(String),
    /// The server is shutting down or a dependency is unreachable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A dependency (the phone system, Twilio, Redis, the database) failed:
    /// the client is told `message`; `cause`, which may name upstream URLs
    /// or carry their text, is only logged.
    #[error("unavailable: {message}")]
    DependencyFailed {
        /// What the client is told.
        message: String,
        /// What went wrong, for the log.
        #[source]
        cause: anyhow::Error,
    },
    /// Anything else; the detail is logged, the client sees a generic message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// The HTTP status that matches this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::FailedPrecondition(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Unavailable(_) | Error::DependencyFailed { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code that matches this error.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            Error::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Error::PermissionDenied(_) => tonic::Code::PermissionDenied,
            Error::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Error::NotFound(_) => tonic::Code::NotFound,
            Error::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            Error::PayloadTooLarge(_) | Error::ResourceExhausted(_) => {
                tonic::Code::ResourceExhausted
            }
            Error::Unimplemented(_) => tonic::Code::Unimplemented,
            Error::Unavailable(_) | Error::DependencyFailed { .. } => tonic::Code::Unavailable,
            Error::Internal(_) => tonic::Code::Internal,
        }
    }

    /// A short, stable machine-readable name (`unauthenticated`, `permission_denied`, …) for
    /// JSON bodies and Socket.IO acknowledgements.
    pub fn code_name(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "unauthenticated",
            Error::PermissionDenied(_) => "permission_denied",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::NotFound(_) => "not_found",
            Error::FailedPrecondition(_) => "failed_precondition",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::ResourceExhausted(_) => "resource_exhausted",
            Error::Unimplemented(_) => "unimplemented",
            Error::Unavailable(_) | Error::DependencyFailed { .. } => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The JSON body sent to HTTP and Socket.IO clients: `{"error": code, "message": text}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code_name(), "message": self.to_string() })
    }

    /// A dependency's failure: the client is told `message`, the log gets `cause`.
    pub fn dependency(message: impl Into<String>, cause: impl Into<anyhow::Error>) -> Self {
        Error::DependencyFailed {
            message: message.into(),
            cause: cause.into(),
        }
    }

    /// Logs the cause a client is not told (an internal error's, a
    /// dependency's), at error level; every surface calls it once, as it
    /// answers. `surface` names it (`grpc`, `http`, `socketio`).
    pub fn log_cause(&self, surface: &'static str) {
        match self {
            Error::Internal(cause) => {
                tracing::error!(surface, error = ?cause, "internal error");
            }
            Error::DependencyFailed { message, cause } => {
                tracing::error!(surface, error = ?cause, "{message}");
            }
            _ => {}
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        error.log_cause("grpc");
        tonic::Status::new(error.grpc_code(), error.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_cause("http");
        (self.http_status(), axum::Json(self.to_json())).into_response()
    }
}

impl From<axum::extract::rejection::JsonRejection> for Error {
    /// A JSON body that cannot be read: too large (413), or not the JSON
    /// asked for (400), with axum's own words on what is wrong.
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge(rejection.body_text())
        } else {
            Error::InvalidArgument(rejection.body_text())
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Internal(error.into())
    }
}

/// Result with the service's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependencys_text_reaches_no_client() {
        let cause = anyhow::anyhow!(
            "error sending request for url (http://pbx.internal:8088/ari/channels)"
        );
        let error = Error::dependency("the phone system cannot be reached", cause);
        assert_eq!(error.code_name(), "unavailable");
        assert_eq!(error.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.grpc_code(), tonic::Code::Unavailable);
        let json = error.to_json().to_string();
        assert!(!json.contains("pbx.internal"), "{json}");
        assert!(
            json.contains("the phone system cannot be reached"),
            "{json}"
        );
        let status = tonic::Status::from(error);
        assert!(!status.message().contains("pbx.internal"), "{status:?}");
    }

    #[test]
    fn an_internal_error_says_only_that() {
        let error = Error::Internal(anyhow::anyhow!("disk full at /var/lib/switchboard"));
        assert_eq!(error.to_string(), "internal error");
        assert_eq!(error.to_json()["message"], "internal error");
        assert_eq!(error.http_status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn every_error_maps_to_one_code_status_and_name() {
        let errors = [
            (
                Error::Unauthenticated(String::new()),
                401,
                tonic::Code::Unauthenticated,
            ),
            (
                Error::PermissionDenied(String::new()),
                403,
                tonic::Code::PermissionDenied,
            ),
            (
                Error::InvalidArgument(String::new()),
                400,
                tonic::Code::InvalidArgument,
            ),
            (Error::NotFound(String::new()), 404, tonic::Code::NotFound),
            (
                Error::FailedPrecondition(String::new()),
                409,
                tonic::Code::FailedPrecondition,
            ),
            (
                Error::Unimplemented(String::new()),
                501,
                tonic::Code::Unimplemented,
            ),
            (
                Error::Unavailable(String::new()),
                503,
                tonic::Code::Unavailable,
            ),
        ];
        for (error, status, code) in errors {
            assert_eq!(error.http_status().as_u16(), status, "{error}");
            assert_eq!(error.grpc_code(), code, "{error}");
            assert!(
                error.to_json()["error"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
            );
        }
    }
}
