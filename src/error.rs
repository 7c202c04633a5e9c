//! The one error type of the service, mapped once to gRPC codes, HTTP statuses
//! and Socket.IO acknowledgements. Clients get a clear message, never an
//! internal one and never a dependency's own text (an upstream URL, a
//! transport error): that cause is logged once, by the surface that answers.
//!
//! As in quickwit, every subsystem's error knows its code: it implements
//! [`ServiceError`], and [`ErrorCode`] is the one table from a code to the
//! gRPC code, the HTTP status and the name clients read.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// What kind of failure an error is: the one table from a code to the
/// gRPC code, the HTTP status and the stable name clients read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No credentials, or credentials that do not verify.
    Unauthenticated,
    /// Valid credentials that do not allow this.
    PermissionDenied,
    /// The request is malformed or a field is out of range.
    InvalidArgument,
    /// The thing asked for does not exist.
    NotFound,
    /// What the request would create exists already.
    AlreadyExists,
    /// The state does not allow it.
    FailedPrecondition,
    /// The body or a message is larger than accepted.
    PayloadTooLarge,
    /// Too much too fast (a rate limit).
    ResourceExhausted,
    /// A dependency did not answer in time.
    DeadlineExceeded,
    /// Not built.
    Unimplemented,
    /// Shutting down, or a dependency is unreachable or failed.
    Unavailable,
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::FailedPrecondition,
        ErrorCode::PayloadTooLarge,
        ErrorCode::ResourceExhausted,
        ErrorCode::DeadlineExceeded,
        ErrorCode::Unimplemented,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The HTTP status of the code.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::AlreadyExists | ErrorCode::FailedPrecondition => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code of the code.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
            ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
            ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::PayloadTooLarge | ErrorCode::ResourceExhausted => {
                tonic::Code::ResourceExhausted
            }
            ErrorCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            ErrorCode::Unimplemented => tonic::Code::Unimplemented,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }

    /// A short, stable machine-readable name (`unauthenticated`,
    /// `permission_denied`, …) for JSON bodies, Socket.IO acknowledgements
    /// and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::FailedPrecondition => "failed_precondition",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::ResourceExhausted => "resource_exhausted",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::Unimplemented => "unimplemented",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error that knows its [`ErrorCode`]: every subsystem's error (AMI, ARI,
/// the agent bridge's commands, Twilio, the directory, the service's own).
pub trait ServiceError: std::error::Error {
    /// What kind of failure it is.
    fn error_code(&self) -> ErrorCode;
}

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
    /// What the request would create exists already (another agent holds
    /// the agent id; a message id names another message).
    #[error("already exists: {0}")]
    AlreadyExists(String),
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
    /// A dependency (the phone system, Twilio, Redis, the database) failed
    /// or did not answer in time (`code` says which): the client is told
    /// `message`; `cause`, which may name upstream URLs or carry their
    /// text, is only logged.
    #[error("{}: {message}", code.name().replace('_', " "))]
    DependencyFailed {
        /// Unavailable, or deadline exceeded.
        code: ErrorCode,
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
    /// What kind of failure it is.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Error::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Error::ResourceExhausted(_) => ErrorCode::ResourceExhausted,
            Error::Unimplemented(_) => ErrorCode::Unimplemented,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::DependencyFailed { code, .. } => *code,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status that matches this error.
    pub fn http_status(&self) -> StatusCode {
        self.code().http_status()
    }

    /// The gRPC code that matches this error.
    pub fn grpc_code(&self) -> tonic::Code {
        self.code().grpc_code()
    }

    /// A short, stable machine-readable name (`unauthenticated`, `permission_denied`, …) for
    /// JSON bodies and Socket.IO acknowledgements.
    pub fn code_name(&self) -> &'static str {
        self.code().name()
    }

    /// The JSON body sent to HTTP and Socket.IO clients: `{"error": code, "message": text}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code_name(), "message": self.to_string() })
    }

    /// A dependency's failure, unavailable: the client is told `message`,
    /// the log gets `cause`.
    pub fn dependency(message: impl Into<String>, cause: impl Into<anyhow::Error>) -> Self {
        Error::DependencyFailed {
            code: ErrorCode::Unavailable,
            message: message.into(),
            cause: cause.into(),
        }
    }

    /// A dependency's failure with the code its own error knows (a timeout
    /// is deadline exceeded, anything else unavailable): the client is
    /// told `message`, the log gets the error.
    pub fn from_dependency<E>(message: impl Into<String>, cause: E) -> Self
    where
        E: ServiceError + Send + Sync + 'static,
    {
        let code = match cause.error_code() {
            ErrorCode::DeadlineExceeded => ErrorCode::DeadlineExceeded,
            _ => ErrorCode::Unavailable,
        };
        Error::DependencyFailed {
            code,
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
            Error::DependencyFailed { message, cause, .. } => {
                tracing::error!(surface, error = ?cause, "{message}");
            }
            _ => {}
        }
    }
}

impl ServiceError for Error {
    fn error_code(&self) -> ErrorCode {
        self.code()
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
    fn every_code_has_its_own_name_and_a_status_and_grpc_code_of_its_kind() {
        let names: std::collections::BTreeSet<_> =
            ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let status = code.http_status();
            let client_side = matches!(
                code,
                ErrorCode::Unauthenticated
                    | ErrorCode::PermissionDenied
                    | ErrorCode::InvalidArgument
                    | ErrorCode::NotFound
                    | ErrorCode::AlreadyExists
                    | ErrorCode::FailedPrecondition
                    | ErrorCode::PayloadTooLarge
                    | ErrorCode::ResourceExhausted
            );
            assert_eq!(status.is_client_error(), client_side, "{code:?}");
            assert_eq!(status.is_server_error(), !client_side, "{code:?}");
            assert_ne!(code.grpc_code(), tonic::Code::Ok, "{code:?}");
            assert_ne!(code.grpc_code(), tonic::Code::Unknown, "{code:?}");
        }
        assert_eq!(
            ErrorCode::AlreadyExists.grpc_code(),
            tonic::Code::AlreadyExists
        );
        assert_eq!(
            ErrorCode::DeadlineExceeded.grpc_code(),
            tonic::Code::DeadlineExceeded
        );
        assert_eq!(ErrorCode::DeadlineExceeded.http_status().as_u16(), 504);
    }

    /// A subsystem's own error that knows it timed out.
    #[derive(Debug, thiserror::Error)]
    #[error("the PBX at http://pbx.internal:8088 did not answer within 5s")]
    struct SlowPbx;

    impl ServiceError for SlowPbx {
        fn error_code(&self) -> ErrorCode {
            ErrorCode::DeadlineExceeded
        }
    }

    #[test]
    fn a_dependency_that_timed_out_is_deadline_exceeded_and_its_text_stays_in_the_log() {
        let error = Error::from_dependency("the phone system did not answer in time", SlowPbx);
        assert_eq!(error.code(), ErrorCode::DeadlineExceeded);
        assert_eq!(error.http_status().as_u16(), 504);
        assert_eq!(error.code_name(), "deadline_exceeded");
        let json = error.to_json().to_string();
        assert!(!json.contains("pbx.internal"), "{json}");
        assert_eq!(
            error.to_string(),
            "deadline exceeded: the phone system did not answer in time"
        );
        let status = tonic::Status::from(error);
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(!status.message().contains("pbx.internal"), "{status:?}");
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
                Error::AlreadyExists(String::new()),
                409,
                tonic::Code::AlreadyExists,
            ),
            (
                Error::PayloadTooLarge(String::new()),
                413,
                tonic::Code::ResourceExhausted,
            ),
            (
                Error::ResourceExhausted(String::new()),
                429,
                tonic::Code::ResourceExhausted,
            ),
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
