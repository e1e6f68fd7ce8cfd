//! Reading the bearer token from the `Authorization` header (RFC 6750 §2.1).

use axum::http::{HeaderMap, header::AUTHORIZATION};

use crate::ValidationError;

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The token of `Authorization: Bearer <token>`.
///
/// Parsed strictly: exactly one `Authorization` header; the scheme compared case-insensitively;
/// exactly one space; a non-empty `b64token` of at most [`MAX_TOKEN_LEN`] bytes. No header, or
/// another scheme, is [`ValidationError::Missing`]; anything else off is
/// [`ValidationError::Malformed`].
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ValidationError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ValidationError::Missing);
    };
    if values.next().is_some() {
        return Err(ValidationError::Malformed);
    }
    let value = value.to_str().map_err(|_| ValidationError::Malformed)?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ValidationError::Missing);
    }
    if is_b64token(token) {
        Ok(token)
    } else {
        Err(ValidationError::Malformed)
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, bounded.
pub(crate) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    token.len() <= MAX_TOKEN_LEN
        && !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn parse(values: &[&str]) -> Result<String, ValidationError> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        bearer_token(&headers).map(str::to_owned)
    }

    #[test]
    fn accepts_a_well_formed_bearer_token() {
        assert_eq!(
            parse(&["Bearer abc.DEF-_~+/9=="]).unwrap(),
            "abc.DEF-_~+/9=="
        );
        assert_eq!(parse(&["bEaReR x"]).unwrap(), "x");
        let longest = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(parse(&[&format!("Bearer {longest}")]).unwrap(), longest);
    }

    #[test]
    fn no_bearer_is_missing() {
        assert_eq!(parse(&[]), Err(ValidationError::Missing));
        assert_eq!(parse(&["Basic YTpi"]), Err(ValidationError::Missing));
        assert_eq!(parse(&["Bearerx abc"]), Err(ValidationError::Missing));
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer  abc",
            "Bearer abc def",
            "Bearer abc\tdef",
            "Bearer ===",
            "Bearer a=b",
            "Bearer a,b",
            "Bearer \"abc\"",
        ] {
            assert_eq!(parse(&[bad]), Err(ValidationError::Malformed), "{bad:?}");
        }
        let too_long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            parse(&[&format!("Bearer {too_long}")]),
            Err(ValidationError::Malformed)
        );
        assert_eq!(
            parse(&["Bearer a", "Bearer b"]),
            Err(ValidationError::Malformed)
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xc3\xa9").unwrap(),
        );
        assert_eq!(bearer_token(&headers), Err(ValidationError::Malformed));
    }
}
