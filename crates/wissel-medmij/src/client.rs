//! The PGO side of the MedMij token interface (core.tknint.202, .203, .208): a client that
//! builds authorization requests with fresh tracing ids and `state`, accepts the redirect only
//! when it answers that request (`state`, the redirect URI, a code), offers each code at most
//! once, and sends token and refresh requests over mutual TLS with the MedMij headers.
//!
//! ```no_run
//! # async fn f() -> Result<(), wissel_medmij::client::ClientError> {
//! use wissel_medmij::client::{PgoClient, PgoConfig};
//! let pgo = PgoClient::new(PgoConfig {
//!     client_id: "pgo.example.nl".into(),
//!     redirect_uri: "https://pgo.example.nl/medmij/cb".into(),
//!     authorization_endpoint: "https://dva.example.nl/authorize".parse()?,
//!     token_endpoint: "https://dva.example.nl/token".parse()?,
//!     identity_pem: Some(std::fs::read("pgo.pem")?),
//!     roots_pem: None,
//! })?;
//! let pending = pgo.authorization_request("umcexample")?;
//! // … send the person's browser to pending.url; the redirect comes back to the PGO …
//! # let redirect = "";
//! let tokens = pgo.redeem(pending, redirect).await?;
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use base64::Engine;

/// How a PGO client is set up.
#[derive(Debug, Clone)]
pub struct PgoConfig {
    /// The PGO node's hostname: its `client_id`.
    pub client_id: String,
    /// Its redirect URI (https, on its hostname).
    pub redirect_uri: String,
    /// The aanbieder's authorization endpoint (from the ZAL).
    pub authorization_endpoint: url::Url,
    /// The aanbieder's token endpoint (from the ZAL).
    pub token_endpoint: url::Url,
    /// The node's certificate chain and private key, PEM, for mutual TLS.
    pub identity_pem: Option<Vec<u8>>,
    /// Roots to trust instead of the system's (PKIoverheid Private Root CA – G1), PEM.
    pub roots_pem: Option<Vec<u8>>,
}

/// What went wrong on the PGO side.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// The redirect is not the answer to this authorization request (core.tknint.202).
    #[error("the redirect is refused: {0}")]
    Redirect(&'static str),
    /// The authorization server sent the browser back with an error.
    #[error("authorization refused: {error}: {description}")]
    Authorization {
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The token endpoint answered with an OAuth error.
    #[error("token request refused ({status}): {error}: {description}")]
    Token {
        /// HTTP status.
        status: u16,
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The token endpoint could not be reached, or answered something that is not a token
    /// response.
    #[error("token request failed: {0}")]
    Transport(String),
}

impl From<url::ParseError> for ClientError {
    fn from(e: url::ParseError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        Self::Config(e.to_string())
    }
}

/// An authorization request on its way: the URL to send the person to, and what its answer
/// must match. It is spent by [`PgoClient::redeem`], so its code is offered at most once
/// (core.tknint.203).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingAuthorization {
    /// Where to send the person's browser.
    pub url: String,
    /// The `state` sent, which the redirect must carry back.
    pub state: String,
    /// The `X-Correlation-ID` of the flow: sent again with the token request.
    pub correlation_id: String,
    /// The `MedMij-Request-ID` of the authorization request.
    pub request_id: String,
    /// The scope asked for.
    pub scope: String,
}

/// A token response (core.tknint.201).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires (900).
    pub expires_in: i64,
    /// The refresh token of a long-lasting consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted gegevensdiensten, space-separated.
    #[serde(default)]
    pub scope: String,
}

/// A token endpoint's answer as it came: for the conformance check, which judges it.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// The body, parsed as JSON when it is.
    pub body: serde_json::Value,
    /// How long the answer took.
    pub elapsed: Duration,
}

/// A fresh UUID (version 4) for `MedMij-Request-ID` and `X-Correlation-ID`.
pub fn new_trace_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A fresh `state`: 256 random bits, base64url.
fn new_state() -> Result<String, ClientError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| ClientError::Config("the random source failed".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A PGO node's client of one aanbieder's authorization server.
#[derive(Debug, Clone)]
pub struct PgoClient {
    config: PgoConfig,
    http: reqwest::Client,
}

impl PgoClient {
    /// A client with this configuration.
    pub fn new(config: PgoConfig) -> Result<Self, ClientError> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &config.identity_pem {
            b = b.identity(
                reqwest::Identity::from_pem(pem)
                    .map_err(|e| ClientError::Config(format!("the client certificate: {e}")))?,
            );
        }
        if let Some(pem) = &config.roots_pem {
            b = b.tls_certs_only(
                reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| ClientError::Config(format!("the roots: {e}")))?,
            );
        }
        let http = b.build().map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self { config, http })
    }

    /// Its configuration.
    pub fn config(&self) -> &PgoConfig {
        &self.config
    }

    /// The HTTP client, with the node's certificate.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An authorization request (core.authint.200, .208) for a scope (the aanbieder's name, or
    /// `aanbieder~gegevensdienst`), with a fresh `state`, `MedMij-Request-ID` and
    /// `X-Correlation-ID`.
    pub fn authorization_request(&self, scope: &str) -> Result<PendingAuthorization, ClientError> {
        let state = new_state()?;
        let correlation_id = new_trace_id();
        let request_id = new_trace_id();
        let mut url = self.config.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("MedMij-Request-ID", &request_id)
            .append_pair("X-Correlation-ID", &correlation_id);
        Ok(PendingAuthorization {
            url: url.to_string(),
            state,
            correlation_id,
            request_id,
            scope: scope.to_owned(),
        })
    }

    /// The code of the redirect that answers `pending` (core.tknint.202): it arrived on the
    /// redirect URI, carries the `state` sent (compared in constant time), and a code, not an
    /// error.
    pub fn code_of(
        &self,
        pending: &PendingAuthorization,
        redirect: &str,
    ) -> Result<String, ClientError> {
        let url = url::Url::parse(redirect).map_err(|_| ClientError::Redirect("not a URL"))?;
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        let expected = url::Url::parse(&self.config.redirect_uri)
            .map_err(|_| ClientError::Config("redirect_uri is not a URL".into()))?;
        if base != expected {
            return Err(ClientError::Redirect(
                "it did not arrive on the redirect URI",
            ));
        }
        let mut state = None;
        let mut code = None;
        let mut error = None;
        let mut description = None;
        for (k, v) in url.query_pairs() {
            let slot = match k.as_ref() {
                "state" => &mut state,
                "code" => &mut code,
                "error" => &mut error,
                "error_description" => &mut description,
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(ClientError::Redirect("a parameter is repeated"));
            }
        }
        let same_state = state.as_deref().is_some_and(|s| {
            subtle::ConstantTimeEq::ct_eq(s.as_bytes(), pending.state.as_bytes()).into()
        });
        if !same_state {
            return Err(ClientError::Redirect("its state is not this request's"));
        }
        if let Some(error) = error {
            return Err(ClientError::Authorization {
                error,
                description: description.unwrap_or_default(),
            });
        }
        code.filter(|c| !c.is_empty())
            .ok_or(ClientError::Redirect("it carries no code"))
    }

    /// Redeems the code of the redirect that answers `pending`, once: the pending request is
    /// spent whatever the outcome (core.tknint.203).
    pub async fn redeem(
        &self,
        pending: PendingAuthorization,
        redirect: &str,
    ) -> Result<TokenResponse, ClientError> {
        let code = self.code_of(&pending, redirect)?;
        let answer = self
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_id", &self.config.client_id),
                    ("redirect_uri", &self.config.redirect_uri),
                ],
                Some(&pending.correlation_id),
                Some(&new_trace_id()),
            )
            .await?;
        token_response(answer)
    }

    /// A refresh request (core.tknint.209): a new `X-Correlation-ID`, no `redirect_uri`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ClientError> {
        let answer = self
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                    ("client_id", &self.config.client_id),
                ],
                Some(&new_trace_id()),
                Some(&new_trace_id()),
            )
            .await?;
        token_response(answer)
    }

    /// One token request with exactly this form and these headers (`None` leaves a header out),
    /// answered as it came.
    pub async fn token_request(
        &self,
        form: &[(&str, &str)],
        correlation_id: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<RawAnswer, ClientError> {
        // Built before the await: the serializer is not Send, the future must be.
        let body = {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in form {
                s.append_pair(k, v);
            }
            s.finish()
        };
        self.send(
            self.config.token_endpoint.clone(),
            body,
            correlation_id,
            request_id,
        )
        .await
    }

    /// A token request with a body written as given (for the checks of a double-encoded
    /// `redirect_uri`).
    pub async fn send(
        &self,
        url: url::Url,
        body: String,
        correlation_id: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<RawAnswer, ClientError> {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = correlation_id {
            req = req.header("X-Correlation-ID", c);
        }
        if let Some(r) = request_id {
            req = req.header("MedMij-Request-ID", r);
        }
        let started = Instant::now();
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(format!("{e}")))?;
        let status = resp.status().as_u16();
        let cache_control = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(RawAnswer {
            status,
            cache_control,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            elapsed: started.elapsed(),
        })
    }
}

fn token_response(answer: RawAnswer) -> Result<TokenResponse, ClientError> {
    if answer.status != 200 {
        let field = |k: &str| {
            answer
                .body
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        return Err(ClientError::Token {
            status: answer.status,
            error: field("error"),
            description: field("error_description"),
        });
    }
    serde_json::from_value(answer.body)
        .map_err(|e| ClientError::Transport(format!("not a token response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pgo() -> PgoClient {
        PgoClient::new(PgoConfig {
            client_id: "pgo.example.nl".into(),
            redirect_uri: "https://pgo.example.nl/cb".into(),
            authorization_endpoint: url::Url::parse("https://dva.example.nl/authorize")
                .unwrap_or_else(|_| unreachable!()),
            token_endpoint: url::Url::parse("https://dva.example.nl/token")
                .unwrap_or_else(|_| unreachable!()),
            identity_pem: None,
            roots_pem: None,
        })
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// The client's futures can be spawned.
    #[test]
    fn its_futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let p = pgo();
        let a = p
            .authorization_request("umcx")
            .unwrap_or_else(|e| unreachable!("{e}"));
        send(&p.redeem(a, "https://pgo.example.nl/cb"));
        send(&p.refresh("t"));
        send(&p.token_request(&[], None, None));
    }

    #[test]
    fn authorization_requests_carry_fresh_ids_and_state() {
        let p = pgo();
        let a = p
            .authorization_request("umcx")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let b = p
            .authorization_request("umcx")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_ne!(a.state, b.state);
        assert_ne!(a.correlation_id, b.correlation_id);
        assert_ne!(a.request_id, a.correlation_id);
        assert!(uuid::Uuid::try_parse(&a.request_id).is_ok());
        let url = url::Url::parse(&a.url).unwrap_or_else(|_| unreachable!());
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "pgo.example.nl");
        assert_eq!(q["redirect_uri"], "https://pgo.example.nl/cb");
        assert_eq!(q["scope"], "umcx");
        assert_eq!(q["state"], a.state);
        assert_eq!(q["X-Correlation-ID"], a.correlation_id);
    }

    #[test]
    fn only_the_answer_to_the_request_is_accepted() {
        let p = pgo();
        let a = p
            .authorization_request("umcx")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let ok = format!("https://pgo.example.nl/cb?code=abc&state={}", a.state);
        assert_eq!(p.code_of(&a, &ok).ok().as_deref(), Some("abc"));
        for bad in [
            "https://pgo.example.nl/cb?code=abc&state=other".to_owned(),
            "https://pgo.example.nl/cb?code=abc".to_owned(),
            format!("https://evil.example.nl/cb?code=abc&state={}", a.state),
            format!("https://pgo.example.nl/other?code=abc&state={}", a.state),
            format!("https://pgo.example.nl/cb?state={}", a.state),
            format!("https://pgo.example.nl/cb?code=a&code=b&state={}", a.state),
            "not a url".to_owned(),
        ] {
            assert!(
                matches!(p.code_of(&a, &bad), Err(ClientError::Redirect(_))),
                "{bad}"
            );
        }
        let err = format!(
            "https://pgo.example.nl/cb?error=access_denied&error_description=no&state={}",
            a.state
        );
        assert!(matches!(
            p.code_of(&a, &err),
            Err(ClientError::Authorization { error, .. }) if error == "access_denied"
        ));
    }
}
