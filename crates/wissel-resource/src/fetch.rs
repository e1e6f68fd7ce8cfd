//! The HTTP client every validator uses to reach the authorization server.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::ConfigError;

/// The most a response from the authorization server may hold.
const MAX_RESPONSE_LEN: usize = 1024 * 1024;

/// One client per validator: pooled connections, a whole-request timeout, no redirects (the
/// credentials and tokens we send are for the configured endpoint only).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::Http(e.to_string()))
}

/// Reads a JSON body of bounded size.
pub(crate) async fn read_json<T: DeserializeOwned>(
    mut response: reqwest::Response,
) -> Result<T, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the response: {e}"))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_LEN {
            return Err("response too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("malformed JSON response: {e}"))
}
