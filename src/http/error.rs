//! The one JSON error shape: `{"error":{"code":"…","message":"…"}}` with a fitting status.

use std::collections::BTreeMap;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;

/// An error answer of the JSON API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Per-field problems (settings, forms).
    pub fields: Option<BTreeMap<String, String>>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            fields: None,
        }
    }

    /// 401: no valid session.
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }

    /// 403: signed in but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match &e {
            AuthError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AuthError::Locked => StatusCode::LOCKED,
            AuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            AuthError::InvalidInput(_) => StatusCode::BAD_REQUEST,
            AuthError::Conflict(_) | AuthError::FieldConflict(_) => StatusCode::CONFLICT,
            AuthError::InvalidField(_) => StatusCode::BAD_REQUEST,
            AuthError::NotFound => StatusCode::NOT_FOUND,
            AuthError::Forbidden(_) | AuthError::AdminOnlySettings(_) => StatusCode::FORBIDDEN,
            AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Plex(p) => plex_status(p),
            AuthError::PlexNotAllowed(_) => StatusCode::FORBIDDEN,
            AuthError::PlexNotConfigured(_) | AuthError::StoreDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AuthError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            AuthError::StorageReadOnly => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::PlexAdminTokenInvalid => StatusCode::BAD_GATEWAY,
            AuthError::PinNotFound => StatusCode::NOT_FOUND,
            AuthError::PinExpired | AuthError::PinUsed => StatusCode::GONE,
            AuthError::TwoFactorRequired => StatusCode::UNPROCESSABLE_ENTITY,
            AuthError::WrongTwoFactorCode => StatusCode::UNAUTHORIZED,
        };
        let retry_after = match e {
            AuthError::Throttled(s) => Some(s),
            _ => None,
        };
        let fields = match &e {
            AuthError::InvalidField(f) | AuthError::FieldConflict(f) => {
                Some(BTreeMap::from([(f.field.to_string(), f.reason.clone())]))
            }
            AuthError::AdminOnlySettings(keys) => Some(
                keys.iter()
                    .map(|k| {
                        (
                            k.clone(),
                            "only the Admin (group 0) may change this".to_string(),
                        )
                    })
                    .collect(),
            ),
            AuthError::Conflict(field) => Some(BTreeMap::from([(
                field.to_string(),
                "is already taken".to_string(),
            )])),
            _ => None,
        };
        ApiError {
            status,
            code: e.code(),
            message: e.to_string(),
            retry_after,
            fields,
        }
    }
}

/// The answer for a plex.tv failure: the person's fault (401/422/429) or plex.tv's (502/504).
fn plex_status(e: &crate::plex::PlexError) -> StatusCode {
    use crate::plex::PlexError as P;
    match e {
        P::BadCredentials | P::WrongTwoFactorCode | P::TokenInvalid => StatusCode::UNAUTHORIZED,
        P::TwoFactorRequired => StatusCode::UNPROCESSABLE_ENTITY,
        P::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        P::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        P::Unreachable { .. } | P::Unexpected { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is too large",
                )
            }
            JsonRejection::JsonSyntaxError(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "the body is not valid JSON",
            ),
            JsonRejection::JsonDataError(e) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text())
            }
            other => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                other.body_text(),
            ),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        let code = if r.status().is_server_error() {
            "internal"
        } else {
            "invalid_request"
        };
        Self::new(r.status(), code, r.body_text())
    }
}

/// Marks an answer refused because the store cannot write (full or read-only), so that
/// [`log_storage_trouble`] can name the data dir: the error itself does not know where it is.
#[derive(Debug, Clone, Copy)]
pub struct StorageTrouble(&'static str);

/// Logs "data dir full / read-only: PATH" for every answer marked [`StorageTrouble`].
pub async fn log_storage_trouble(
    axum::extract::State(core): axum::extract::State<std::sync::Arc<crate::core::Core>>,
    resp: Response,
) -> Response {
    if let Some(StorageTrouble(code)) = resp.extensions().get::<StorageTrouble>() {
        tracing::error!(
            code,
            "data dir full / read-only: {}: nothing can be saved until it is writable again",
            core.storage_location()
        );
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let trouble = matches!(self.code, "storage_full" | "storage_read_only")
            .then_some(StorageTrouble(self.code));
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(fields) = self.fields {
            body["error"]["fields"] = json!(fields);
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(t) = trouble {
            resp.extensions_mut().insert(t);
        }
        resp
    }
}
