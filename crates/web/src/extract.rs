//! Extractors that turn bad input into precise problems: JSON with its position, fields by
//! name, ids by parameter.

use std::str::FromStr;

use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// The largest JSON body the API accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON body, parsed strictly, with its raw bytes (for idempotency hashing).
#[derive(Debug)]
pub struct ApiJson<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        let raw = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                ApiError::too_large(MAX_BODY)
            }
            _ => ApiError::bad_request("the body could not be read"),
        })?;
        let value = parse_json(&raw)?;
        Ok(Self { value, raw })
    }
}

/// Parses `raw` as JSON into `T`: syntax errors are 400 with the position, shape errors 422 with
/// the path of the field.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(raw).map_err(|e| {
        ApiError::malformed_json(format!(
            "{} at line {} column {}",
            syntax_message(&e),
            e.line(),
            e.column()
        ))
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::validation(vec![FieldError {
            field,
            message: shape_message(&e.into_inner().to_string()),
        }])
    })
}

fn syntax_message(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "invalid JSON syntax",
        Category::Io => "the body could not be read",
        Category::Data => "invalid JSON data",
    }
}

/// serde's messages name types and expected values; they never echo input beyond a variant or
/// field name, which the client sent. Trim the position suffix that `Value` adds.
fn shape_message(m: &str) -> String {
    m.split(" at line ").next().unwrap_or(m).to_owned()
}

/// One path parameter that must parse as `T` (an id): 400 naming the parameter otherwise.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

/// Names what a path parameter is, for the error message.
pub trait PathParam: FromStr {
    const PARAM: &'static str;
    const KIND: &'static str;
}

macro_rules! id_path_params {
    ($($id:ty),* $(,)?) => {
        $(
            impl PathParam for $id {
                const PARAM: &'static str = "id";
                const KIND: &'static str = <$id>::KIND;
            }
        )*
    };
}

id_path_params!(
    domain::LeadId,
    domain::ApiKeyId,
    domain::SessionId,
    domain::SupportGrantId,
    domain::SourceId,
    domain::SequenceId,
    domain::EnrolmentId,
    domain::AppointmentId,
    domain::TenantId,
    domain::ReviewId,
);

impl<S: Send + Sync, T: PathParam + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::malformed_id(T::PARAM, T::KIND))?;
        raw.parse::<T>()
            .map(ApiPath)
            .map_err(|_| ApiError::malformed_id(T::PARAM, T::KIND))
    }
}

/// A query string: 400 naming the parameter when it does not parse.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_deserializer(query);
        match de {
            Ok(v) => Ok(ApiQuery(v)),
            Err((field, message)) => {
                let mut e = ApiError::bad_request(format!("query parameter {field}: {message}"));
                e.errors.push(FieldError { field, message });
                Err(e)
            }
        }
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, (String, String)> {
    // Through axum's own Query for the decoding, with serde_path_to_error for the field name.
    let pairs: Vec<(String, String)> = match Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ("query".to_owned(), "is not valid".to_owned()))?,
    ) {
        Ok(Query(pairs)) => pairs,
        Err(_) => return Err(("query".to_owned(), "is not a valid query string".to_owned())),
    };
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err((k, "is given more than once".to_owned()));
        }
        map.insert(k, serde_json::Value::String(v));
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
        let field = e.path().to_string();
        (
            if field == "." {
                "query".to_owned()
            } else {
                field
            },
            shape_message(&e.into_inner().to_string()),
        )
    })
}

/// The request's `Idempotency-Key`, when it has one: 1 to 255 visible characters, else a 422
/// naming the header.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })
}
