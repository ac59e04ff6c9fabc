//! Reading [`Credentials`] from a request's headers (gRPC metadata or HTTP headers, the
//! same names): `authorization: Bearer <token>` and the `Impersonate-*` headers of the
//! Kubernetes API. Every size is bounded ([`results_actors::limits`]).

use results_actors::auth::{AuthError, Credentials, Impersonation, MISSING_TOKEN};
use results_actors::limits::{MAX_IMPERSONATION_BYTES, MAX_IMPERSONATION_VALUES, MAX_TOKEN_BYTES};

use crate::error::ApiError;

const AUTHORIZATION: &str = "authorization";
const IMPERSONATE_USER: &str = "impersonate-user";
const IMPERSONATE_GROUP: &str = "impersonate-group";
const IMPERSONATE_UID: &str = "impersonate-uid";
const IMPERSONATE_EXTRA: &str = "impersonate-extra-";

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::from(AuthError::Unauthenticated(message.into()))
}

/// The credentials in `headers`: (lower-case name, value) pairs, as both HTTP/2 (gRPC)
/// and actix hand them over.
pub fn read<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Credentials, ApiError> {
    let mut credentials = Credentials::default();
    let mut tokens = 0;
    let mut impersonation_values = 0;
    for (name, value) in headers {
        if name == AUTHORIZATION {
            tokens += 1;
            if tokens > 1 {
                return Err(unauthenticated(
                    "send one authorization header, not several",
                ));
            }
            credentials.token = Some(bearer(value)?);
            continue;
        }
        let Some(what) = name.strip_prefix("impersonate-") else {
            continue;
        };
        impersonation_values += 1;
        if impersonation_values > MAX_IMPERSONATION_VALUES {
            return Err(ApiError::InvalidArgument(format!(
                "more than {MAX_IMPERSONATION_VALUES} Impersonate-* header values"
            )));
        }
        let text = impersonation_text(name, value)?;
        let imp = &mut credentials.impersonate;
        match name {
            IMPERSONATE_USER if imp.user.is_none() => imp.user = Some(text),
            IMPERSONATE_UID if imp.uid.is_none() => imp.uid = Some(text),
            IMPERSONATE_USER | IMPERSONATE_UID => {
                return Err(ApiError::InvalidArgument(format!(
                    "send one {name} header, not several"
                )))
            }
            IMPERSONATE_GROUP => imp.groups.push(text),
            _ if name.starts_with(IMPERSONATE_EXTRA) => {
                let key = extra_key(&name[IMPERSONATE_EXTRA.len()..])?;
                imp.extra.entry(key).or_default().push(text);
            }
            _ => {
                return Err(ApiError::InvalidArgument(format!(
                    "unknown impersonation header impersonate-{what}"
                )))
            }
        }
    }
    check_impersonation(&credentials.impersonate)?;
    Ok(credentials)
}

/// Refuses `credentials` without a bearer token, as the gate would refuse them: for
/// front-ends that answer such callers before reading the rest of their request.
pub fn require_token(credentials: Credentials) -> Result<Credentials, ApiError> {
    if credentials.token.is_none() {
        return Err(unauthenticated(MISSING_TOKEN));
    }
    Ok(credentials)
}

/// The token of an `authorization: Bearer <token>` value.
fn bearer(value: &[u8]) -> Result<String, ApiError> {
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Err(unauthenticated(format!(
            "the bearer token is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let text = std::str::from_utf8(value)
        .map_err(|_| unauthenticated("the authorization header is not text"))?;
    let (scheme, token) = text.trim().split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthenticated(
            "the authorization header must be 'Bearer <token>'",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(unauthenticated("the bearer token is empty"));
    }
    Ok(token.to_owned())
}

fn impersonation_text(name: &str, value: &[u8]) -> Result<String, ApiError> {
    if value.len() > MAX_IMPERSONATION_BYTES {
        return Err(ApiError::InvalidArgument(format!(
            "{name} is {} bytes long; the limit is {MAX_IMPERSONATION_BYTES} bytes",
            value.len()
        )));
    }
    let text = std::str::from_utf8(value)
        .map_err(|_| ApiError::InvalidArgument(format!("{name} is not UTF-8 text")))?;
    if text.is_empty() {
        return Err(ApiError::InvalidArgument(format!("{name} is empty")));
    }
    Ok(text.to_owned())
}

/// An extra key as the Kubernetes API reads it from a header name: percent-decoded.
fn extra_key(encoded: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::InvalidArgument(format!(
            "impersonate-extra-{encoded}: the key is not valid percent-encoded UTF-8"
        ))
    };
    if encoded.is_empty() {
        return Err(invalid());
    }
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3).ok_or_else(invalid)?;
            decoded.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| invalid())
}

fn check_impersonation(imp: &Impersonation) -> Result<(), ApiError> {
    if imp.user.is_none() && !imp.is_empty() {
        return Err(ApiError::InvalidArgument(
            "Impersonate-Group, Impersonate-Uid and Impersonate-Extra-* need Impersonate-User"
                .into(),
        ));
    }
    Ok(())
}

/// The credentials of a gRPC request's metadata (binary entries are not credentials).
pub fn from_metadata(metadata: &tonic::metadata::MetadataMap) -> Result<Credentials, ApiError> {
    use tonic::metadata::KeyAndValueRef;
    read(metadata.iter().filter_map(|entry| match entry {
        KeyAndValueRef::Ascii(key, value) => Some((key.as_str(), value.as_bytes())),
        KeyAndValueRef::Binary(..) => None,
    }))
}

/// The credentials of an HTTP request's headers.
pub fn from_headers(headers: &actix_web::http::header::HeaderMap) -> Result<Credentials, ApiError> {
    read(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use results_actors::ErrorCode;

    fn creds(headers: &[(&str, &str)]) -> Result<Credentials, ApiError> {
        read(headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    fn code(headers: &[(&str, &str)]) -> ErrorCode {
        creds(headers).unwrap_err().code()
    }

    #[test]
    fn bearer_tokens_and_impersonation_are_read() {
        let c = creds(&[
            ("authorization", "Bearer  abc.def "),
            ("impersonate-user", "alice"),
            ("impersonate-group", "dev"),
            ("impersonate-group", "ops"),
            ("impersonate-uid", "42"),
            ("impersonate-extra-scopes%2Fv1", "view"),
            ("content-type", "application/grpc"),
        ])
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("abc.def"));
        assert_eq!(c.impersonate.user.as_deref(), Some("alice"));
        assert_eq!(c.impersonate.groups, ["dev", "ops"]);
        assert_eq!(c.impersonate.uid.as_deref(), Some("42"));
        assert_eq!(c.impersonate.extra["scopes/v1"], ["view"]);
        assert_eq!(
            creds(&[("authorization", "bearer t")])
                .unwrap()
                .token
                .as_deref(),
            Some("t")
        );
        assert_eq!(creds(&[]).unwrap(), Credentials::default());
        let token = creds(&[("authorization", "Bearer t")]).unwrap();
        assert_eq!(require_token(token.clone()).unwrap(), token);
        let error = require_token(Credentials::default()).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Unauthenticated);
    }

    #[test]
    fn malformed_credentials_are_refused_with_the_right_code() {
        for headers in [
            &[("authorization", "Basic dXNlcjpwYXNz")][..],
            &[("authorization", "Bearer")],
            &[("authorization", "Bearer ")],
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
        ] {
            assert_eq!(code(headers), ErrorCode::Unauthenticated, "{headers:?}");
        }
        let long = format!("Bearer {}", "x".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(
            code(&[("authorization", &long)]),
            ErrorCode::Unauthenticated
        );
        let ok = format!("Bearer {}", "x".repeat(MAX_TOKEN_BYTES));
        assert!(creds(&[("authorization", &ok)]).is_ok());

        let huge = "u".repeat(MAX_IMPERSONATION_BYTES + 1);
        let many: Vec<(&str, &str)> = std::iter::once(("impersonate-user", "a"))
            .chain(std::iter::repeat_n(
                ("impersonate-group", "g"),
                MAX_IMPERSONATION_VALUES,
            ))
            .collect();
        for headers in [
            &[("impersonate-group", "dev")][..],
            &[("impersonate-user", "a"), ("impersonate-user", "b")],
            &[("impersonate-user", "")],
            &[("impersonate-user", &huge)],
            &[("impersonate-user", "a"), ("impersonate-extra-%zz", "v")],
            &[("impersonate-user", "a"), ("impersonate-nobody", "v")],
            &many,
        ] {
            assert_eq!(code(headers), ErrorCode::InvalidArgument, "{headers:?}");
        }
    }
}
