//! The OAuth form: `application/x-www-form-urlencoded` only, bounded in size, each parameter at
//! most once (RFC 6749 §3.1) except those defined as repeatable (`audience`, `resource`), and
//! empty values treated as absent.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use wissel_core::OAuthError;

use crate::error::HttpError;
use crate::state::{AppState, Settings};

/// Parameters that may appear more than once (RFC 8693 §2.1, RFC 8707 §2).
const REPEATABLE: &[&str] = &["audience", "resource"];
/// Longest parameter value accepted, in bytes (a JWT with a large key fits easily).
pub const MAX_VALUE_LEN: usize = 16 * 1024;
/// Most parameters accepted in one body.
pub const MAX_PARAMS: usize = 64;

/// A parsed OAuth form body.
#[derive(Debug, Default, Clone)]
pub struct OAuthForm {
    single: HashMap<String, String>,
    repeated: HashMap<String, Vec<String>>,
}

impl OAuthForm {
    /// Parses a body. Errors are `invalid_request` with the reason.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut form = Self::default();
        let mut seen = 0usize;
        for (k, v) in form_urlencoded::parse(body) {
            seen += 1;
            if seen > MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if v.len() > MAX_VALUE_LEN {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is too long",
                    printable(&k)
                )));
            }
            if v.is_empty() {
                // RFC 6749 §3.1: a parameter without a value is treated as omitted.
                continue;
            }
            if REPEATABLE.contains(&k.as_ref()) {
                form.repeated
                    .entry(k.into_owned())
                    .or_default()
                    .push(v.into_owned());
            } else if form.single.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(&k)
                )));
            }
        }
        Ok(form)
    }

    /// A single-valued parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }

    /// A required single-valued parameter.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is required")))
    }

    /// All values of a repeatable parameter.
    pub fn all(&self, name: &str) -> &[String] {
        self.repeated.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The parameters of both (a body and a query string): a parameter in both is repeated.
    pub fn merge(mut self, other: OAuthForm) -> Result<Self, OAuthError> {
        for (k, v) in other.single {
            if self.single.insert(k.clone(), v).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(&k)
                )));
            }
        }
        for (k, v) in other.repeated {
            self.repeated.entry(k).or_default().extend(v);
        }
        Ok(self)
    }
}

/// A parameter name as it may appear in an error description: bounded and printable.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = HttpError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(OAuthError::invalid_request(
                "content type must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let bytes = read_body(req, state.settings()).await?;
        Ok(Self::parse(&bytes)?)
    }
}

/// True when the request's content type is `application/x-www-form-urlencoded` (any
/// parameters, such as a charset, allowed).
pub fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads a request body of at most `settings.max_body_bytes` bytes (413 beyond it) that arrives
/// whole within `settings.body_timeout` (408 after it): a client that sends its headers and then
/// trickles or withholds the body never holds a handler longer than that.
pub async fn read_body(
    req: Request<Body>,
    settings: &Settings,
) -> Result<axum::body::Bytes, HttpError> {
    let limit = settings.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(HttpError::TooLarge);
    }
    let read = axum::body::to_bytes(req.into_body(), limit);
    let Ok(read) = tokio::time::timeout(settings.body_timeout, read).await else {
        metrics::counter!("wissel_connections_timed_out_total", "phase" => "body").increment(1);
        tracing::debug!("request body timed out");
        return Err(HttpError::BodyTimeout);
    };
    let bytes = match read {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            return Err(if too_large {
                HttpError::TooLarge
            } else {
                OAuthError::invalid_request("the request body could not be read").into()
            });
        }
    };
    Ok(bytes)
}

/// The parameters of a browser request (the query, or a form body), in order, repeats kept:
/// the authorization endpoint must tell a repeated `client_id` (an error page) from a repeated
/// `scope` (an error sent to the client). Empty values count as absent.
#[derive(Debug, Default, Clone)]
pub struct ParamList {
    pairs: Vec<(String, String)>,
}

impl ParamList {
    /// Parses `application/x-www-form-urlencoded` text; `None` when it has more than
    /// [`MAX_PARAMS`] parameters or a value longer than [`MAX_VALUE_LEN`].
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(raw) {
            if pairs.len() >= MAX_PARAMS || v.len() > MAX_VALUE_LEN || k.len() > 128 {
                return None;
            }
            if !v.is_empty() {
                pairs.push((k.into_owned(), v.into_owned()));
            }
        }
        Some(Self { pairs })
    }

    /// Every value of a parameter.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_owned();
        self.pairs
            .iter()
            .filter(move |(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

impl wissel_core::flows::authorize::Params for ParamList {
    fn one(&self, name: &str) -> Option<&str> {
        let mut it = self.values(name);
        let first = it.next();
        if it.next().is_some() { None } else { first }
    }
    fn repeated(&self, name: &str) -> bool {
        self.values(name).nth(1).is_some()
    }
    fn repeated_names(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (k, _) in &self.pairs {
            if !seen.insert(k.as_str()) && !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wissel_core::ErrorCode;

    #[test]
    fn parses_and_refuses_duplicates() {
        let f = OAuthForm::parse(
            b"grant_type=client_credentials&scope=a+b&resource=x&resource=y&empty=",
        )
        .unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("scope"), Some("a b"));
        assert_eq!(f.all("resource"), ["x", "y"]);
        assert_eq!(f.get("empty"), None);
        let e = OAuthForm::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.contains("scope"));
    }

    use proptest::prelude::*;

    /// Bytes that stress the parser: separators, percent signs, `+`, multi-byte and invalid
    /// UTF-8, control characters.
    fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'&'),
                Just(b'='),
                Just(b'%'),
                Just(b'+'),
                Just(b';'),
                Just(0xff_u8),
                Just(0xc3_u8),
                Just(0_u8),
                b'0'..=b'9',
                b'a'..=b'f',
                any::<u8>(),
            ],
            0..512,
        )
    }

    /// A parameter name: short, any characters (a repeatable one now and then).
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("resource".to_owned()),
            Just("audience".to_owned()),
            Just("scope".to_owned()),
            "\\PC{1,12}",
        ]
    }

    fn encode(pairs: &[(String, String)]) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = OAuthForm::parse(&body);
            let _ = ParamList::parse(&body);
        }

        /// Malformed bodies (bad percent-encoding, invalid UTF-8, stray separators) give a
        /// form or an `invalid_request` whose description is short and printable: a
        /// parameter name is never echoed whole.
        #[test]
        fn malformed_bodies_get_invalid_request_with_a_bounded_printable_description(
            body in hostile_bytes(),
        ) {
            if let Err(e) = OAuthForm::parse(&body) {
                prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
                prop_assert!(e.description.len() <= 80, "{}", e.description);
                prop_assert!(e.description.chars().all(|c| c.is_ascii_graphic() || c == ' '));
            }
            if let Some(list) = ParamList::parse(&body) {
                prop_assert!(list.pairs().len() <= MAX_PARAMS);
                prop_assert!(list.pairs().iter().all(|(_, v)| !v.is_empty()));
            }
        }

        /// What a client encodes is what the endpoint reads: every single parameter once,
        /// every repeatable one in order, and a second occurrence of a single parameter is
        /// `invalid_request` naming it.
        #[test]
        fn encoded_parameters_read_back_exactly_and_repeats_are_refused(
            pairs in proptest::collection::vec((name(), "\\PC{0,40}"), 0..12),
        ) {
            let body = encode(&pairs);
            let mut singles: HashMap<&str, &str> = HashMap::new();
            let mut repeated_single = false;
            for (k, v) in &pairs {
                if !v.is_empty() && !REPEATABLE.contains(&k.as_str())
                    && singles.insert(k, v).is_some()
                {
                    repeated_single = true;
                }
            }
            match OAuthForm::parse(body.as_bytes()) {
                Ok(form) => {
                    prop_assert!(!repeated_single);
                    for (k, v) in &singles {
                        prop_assert_eq!(form.get(k), Some(*v));
                    }
                    for r in REPEATABLE {
                        let sent: Vec<&str> = pairs.iter()
                            .filter(|(k, v)| k == r && !v.is_empty())
                            .map(|(_, v)| v.as_str())
                            .collect();
                        prop_assert_eq!(form.all(r), sent.as_slice());
                    }
                }
                Err(e) => {
                    prop_assert!(repeated_single, "{}", e.description);
                    prop_assert!(e.description.contains("is repeated"));
                }
            }
            let list = ParamList::parse(body.as_bytes());
            prop_assert!(list.is_some());
            let sent: Vec<(String, String)> =
                pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            prop_assert_eq!(list.map(|l| l.pairs().to_vec()), Some(sent));
        }
    }
}
