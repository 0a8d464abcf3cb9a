//! The `hs_token` check every request passes before reaching a handler.
//!
//! The token comes from `Authorization: Bearer <token>` (current spec) or, for older
//! homeservers, the `access_token` query parameter. Missing → 401 `M_UNAUTHORIZED`,
//! wrong → 403 `M_FORBIDDEN`. The comparison takes time that depends only on the length of
//! our own token, never on where the given one differs.

use axum::{
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

use super::{ApiState, errors::MatrixError};

/// Middleware: rejects the request unless it carries our `hs_token`.
pub(crate) async fn require_hs_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let given = match presented_token(&request) {
        Ok(Some(token)) => token,
        Ok(None) => {
            tracing::warn!("rejected: no hs_token");
            return MatrixError::unauthorized(
                "missing hs_token: send Authorization: Bearer <hs_token>",
            )
            .into_response();
        }
        Err(err) => {
            tracing::warn!("rejected: {}", err.message);
            return err.into_response();
        }
    };
    if !tokens_match(state.hs_token.as_bytes(), given.as_bytes()) {
        tracing::warn!("rejected: wrong hs_token");
        return MatrixError::forbidden("invalid hs_token").into_response();
    }
    next.run(request).await
}

/// The token the request presents: the `Authorization` header wins over the query parameter.
fn presented_token(request: &Request) -> Result<Option<String>, MatrixError> {
    if let Some(value) = request.headers().get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| MatrixError::unauthorized("Authorization header is not valid ASCII"))?;
        return match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(Some(token.trim().to_owned()))
            }
            _ => Err(MatrixError::unauthorized(
                "Authorization header must be `Bearer <hs_token>`",
            )),
        };
    }
    let query = request.uri().query().unwrap_or_default();
    Ok(url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "access_token")
        .map(|(_, value)| value.into_owned()))
}

/// Constant-time equality. A length mismatch is folded into the result instead of returning
/// early, and the loop always runs over `expected`, so timing reveals at most our own length.
pub(crate) fn tokens_match(expected: &[u8], given: &[u8]) -> bool {
    let same_len = (expected.len() as u64).ct_eq(&(given.len() as u64));
    let mut same_bytes = subtle::Choice::from(1u8);
    for (i, byte) in expected.iter().enumerate() {
        let other = given.get(i).copied().unwrap_or(!byte);
        same_bytes &= byte.ct_eq(&other);
    }
    (same_len & same_bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(tokens_match(b"secret", b"secret"));
        assert!(!tokens_match(b"secret", b"secreT"));
        assert!(!tokens_match(b"secret", b"secret2"));
        assert!(!tokens_match(b"secret", b"secre"));
        assert!(!tokens_match(b"secret", b""));
        assert!(!tokens_match(b"", b"x"));
    }

    fn request(uri: &str, authorization: Option<&str>) -> Request {
        let mut builder = Request::builder().uri(uri);
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn finds_the_token() {
        let found = |uri, auth| presented_token(&request(uri, auth)).unwrap();
        assert_eq!(found("/ping", Some("Bearer abc")), Some("abc".into()));
        assert_eq!(found("/ping", Some("bearer abc")), Some("abc".into()));
        assert_eq!(found("/ping?access_token=a%2Bb", None), Some("a+b".into()));
        assert_eq!(
            found("/ping?x=1&access_token=q", Some("Bearer h")),
            Some("h".into())
        );
        assert_eq!(found("/ping?x=1", None), None);
        assert!(presented_token(&request("/ping", Some("Basic abc"))).is_err());
    }
}
