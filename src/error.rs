//! The one error type of the service, mapped once to gRPC codes, HTTP statuses
//! and Socket.IO acknowledgements. Clients get a clear message, never an internal one.

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
    /// The capability exists in the contract but is not built yet.
    #[error("unimplemented: {0}")]
    Unimplemented(String),
    /// The server is shutting down or a dependency is unreachable.
    #[error("unavailable: {0}")]
    Unavailable(String),
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
            Error::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Error::Unimplemented(_) => tonic::Code::Unimplemented,
            Error::Unavailable(_) => tonic::Code::Unavailable,
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
            Error::Unimplemented(_) => "unimplemented",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The JSON body sent to HTTP and Socket.IO clients: `{"error": code, "message": text}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code_name(), "message": self.to_string() })
    }

    fn log_if_internal(&self) {
        if let Error::Internal(source) = self {
            tracing::error!(error = ?source, "internal error");
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        error.log_if_internal();
        tonic::Status::new(error.grpc_code(), error.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_if_internal();
        (self.http_status(), axum::Json(self.to_json())).into_response()
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Internal(error.into())
    }
}

/// Result with the service's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
