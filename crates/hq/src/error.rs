//! `AppError`: every way a request can fail, turned into a status and an
//! [`ErrorBody`] with a stable code. Internal causes are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::store::StoreError;
use crate::wire::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Rejected {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::Rejected {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 that names the offending field by its JSON path.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Rejected {
            code: ErrorCode::BadRequest,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Rejected { code, .. } => *code,
            AppError::Store(StoreError::Revoked) => ErrorCode::TerminalRevoked,
            AppError::Store(StoreError::ReplayedNonce) => ErrorCode::ReplayedNonce,
            AppError::Store(_) => ErrorCode::Internal,
        }
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::AuthMissing
        | ErrorCode::AuthMalformed
        | ErrorCode::BadSignature
        | ErrorCode::StaleTimestamp
        | ErrorCode::ReplayedNonce
        | ErrorCode::AdminAuth => StatusCode::UNAUTHORIZED,
        ErrorCode::ForeignEvent | ErrorCode::TerminalRevoked | ErrorCode::BadEnrollCode => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::TerminalIdTaken => StatusCode::CONFLICT,
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = match self {
            AppError::Rejected { message, field, .. } => ErrorBody {
                code,
                message,
                field,
            },
            AppError::Store(StoreError::Revoked) => ErrorBody {
                code,
                message: "this terminal is revoked".into(),
                field: None,
            },
            AppError::Store(StoreError::ReplayedNonce) => ErrorBody {
                code,
                message: "nonce already used".into(),
                field: None,
            },
            AppError::Store(e) => {
                tracing::error!(error = %e, "request failed in storage");
                ErrorBody {
                    code,
                    message: "internal error; see the server log".into(),
                    field: None,
                }
            }
        };
        let mut response = (status_of(code), Json(body)).into_response();
        // The metrics layer counts rejections by this code.
        response.extensions_mut().insert(code);
        response
    }
}
