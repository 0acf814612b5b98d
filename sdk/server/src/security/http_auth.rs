//! The shared token on a server's HTTP side (the status page, its JSON and
//! `/metrics` on the same port): every request must carry it, either as
//! `Authorization: Bearer <token>` (scripts, Prometheus' `authorization`
//! setting) or as HTTP Basic with the token as the password and any user
//! name (so a browser asks for it once). Anything else gets
//! `401 Unauthorized` with a `WWW-Authenticate` challenge. Without a token
//! the router is returned unchanged.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::token::{bearer_matches, constant_time_eq};

/// `router` with every route behind the token (unchanged when `token` is `None`).
pub fn require_token(router: Router, token: Option<&str>) -> Router {
    let Some(token) = token else { return router };
    let expected: Arc<[u8]> = Arc::from(token.as_bytes());
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let expected = Arc::clone(&expected);
        async move {
            let presented = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
            if presented.is_some_and(|value| authorized(value, &expected)) {
                return next.run(request).await;
            }
            unauthorized()
        }
    }))
}

/// Whether an `Authorization` value carries `token` as Bearer or as the Basic password.
fn authorized(presented: &[u8], token: &[u8]) -> bool {
    if bearer_matches(presented, token) {
        return true;
    }
    let Some(space) = presented.iter().position(|&b| b == b' ') else { return false };
    let (scheme, encoded) = presented.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return false;
    }
    let Some(decoded) = decode_base64(encoded.trim_ascii()) else { return false };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else { return false };
    constant_time_eq(&decoded[colon + 1..], token)
}

fn unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "missing or wrong token: send `Authorization: Bearer <token>` (or HTTP Basic with the token as password)\n",
    )
        .into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"passer\""));
    response
}

/// Standard base64 (padding optional); `None` on any other byte.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let value = |byte: u8| -> Option<u32> {
        Some(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"=")).unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for &byte in text {
        buffer = (buffer << 6) | value(byte)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64(b"dXNlcjpzM2NyZXQ=").unwrap(), b"user:s3cret");
        assert_eq!(decode_base64(b"dXNlcjpzM2NyZXQ").unwrap(), b"user:s3cret");
        assert_eq!(decode_base64(b"YQ==").unwrap(), b"a");
        assert!(decode_base64(b"not base64!").is_none());
    }

    #[test]
    fn bearer_and_basic_carry_the_token() {
        assert!(authorized(b"Bearer s3cret", b"s3cret"));
        assert!(authorized(b"bearer s3cret", b"s3cret"));
        assert!(authorized(b"Basic dXNlcjpzM2NyZXQ=", b"s3cret"));
        assert!(authorized(b"basic OnMzY3JldA==", b"s3cret"), "empty user name");
        assert!(!authorized(b"Basic dXNlcjp3cm9uZw==", b"s3cret"));
        assert!(!authorized(b"Bearer wrong", b"s3cret"));
        assert!(!authorized(b"s3cret", b"s3cret"));
    }
}
