//! `wissel medmij check`: a conformance check of a MedMij authorization server against every
//! rule of the token interface (core.tknint.200–210) that can be tested from outside, with
//! codes obtained through the server's own authorization interface by a [`CodeSource`] (a person
//! at a browser, or a script). Each rule passes, fails, warns (a behaviour the Afsprakenstelsel
//! leaves open, where the check expects the RFC's) or is skipped (it needs what the server did
//! not give, such as a refresh token).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::client::{ClientError, PendingAuthorization, PgoClient, RawAnswer, new_trace_id};

/// How a rule came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As the rule requires.
    Pass,
    /// Not as the rule requires, and why.
    Fail(String),
    /// Not as expected where the Afsprakenstelsel leaves the behaviour open.
    Warn(String),
    /// Not checked, and why.
    Skip(String),
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    /// The rule's id (`core.tknint.204`, or `rfc6749` for the generic errors).
    pub rule: &'static str,
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub outcome: Outcome,
}

/// Where the check gets authorization codes: it sends the authorization request's URL and
/// gets back the redirect the browser was sent to (with the code).
#[async_trait]
pub trait CodeSource: Send + Sync {
    /// The redirect URL that answers the authorization request at `url`. `lasting` asks for
    /// a long-lasting consent (so that a refresh token is issued).
    async fn redirect_for(&self, url: &str, lasting: bool) -> Result<String, String>;
}

/// The longest a token may take (core.tknint.206).
const WITHIN: Duration = Duration::from_secs(10);

struct Run<'a> {
    pgo: &'a PgoClient,
    scope: &'a str,
    codes: &'a dyn CodeSource,
    results: Vec<RuleResult>,
    slowest: Duration,
}

fn field<'a>(body: &'a Value, k: &str) -> Option<&'a str> {
    body.get(k).and_then(Value::as_str)
}

fn error_is(a: &RawAnswer, error: &str, status: u16) -> Result<(), String> {
    match field(&a.body, "error") {
        Some(e) if e == error && a.status == status => Ok(()),
        Some(e) => Err(format!(
            "answered {} {e}, expected {status} {error}",
            a.status
        )),
        None => Err(format!(
            "answered {} without an OAuth error, expected {status} {error}",
            a.status
        )),
    }
}

impl Run<'_> {
    fn record(&mut self, rule: &'static str, check: &'static str, outcome: Outcome) {
        self.results.push(RuleResult {
            rule,
            check,
            outcome,
        });
    }

    fn judge(&mut self, rule: &'static str, check: &'static str, r: Result<(), String>) {
        let outcome = match r {
            Ok(()) => Outcome::Pass,
            Err(why) => Outcome::Fail(why),
        };
        self.record(rule, check, outcome);
    }

    /// A fresh code, with its pending request.
    async fn code(&mut self, lasting: bool) -> Result<(PendingAuthorization, String), String> {
        let pending = self
            .pgo
            .authorization_request(self.scope)
            .map_err(|e| e.to_string())?;
        let redirect = self.codes.redirect_for(&pending.url, lasting).await?;
        let code = self
            .pgo
            .code_of(&pending, &redirect)
            .map_err(|e| e.to_string())?;
        Ok((pending, code))
    }

    async fn exchange(
        &mut self,
        pending: &PendingAuthorization,
        form: &[(&str, &str)],
    ) -> Result<RawAnswer, String> {
        let a = self
            .pgo
            .token_request(form, Some(&pending.correlation_id), Some(&new_trace_id()))
            .await
            .map_err(|e| e.to_string())?;
        self.slowest = self.slowest.max(a.elapsed);
        Ok(a)
    }
}

/// An `authorization_code` token request's form.
fn code_form<'f>(
    client_id: &'f str,
    code: &'f str,
    redirect_uri: Option<&'f str>,
) -> Vec<(&'f str, &'f str)> {
    let mut f = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
    ];
    if let Some(r) = redirect_uri {
        f.push(("redirect_uri", r));
    }
    f
}

/// Checks a token response's fields (core.tknint.201): the token, `Bearer`, `expires_in` 900,
/// `scope` as gegevensdienst ids, `Cache-Control: no-store`.
fn response_fields(a: &RawAnswer) -> Result<(), String> {
    if a.status != 200 {
        return Err(format!("status {}: {}", a.status, a.body));
    }
    if field(&a.body, "access_token").is_none_or(str::is_empty) {
        return Err("no access_token".into());
    }
    if field(&a.body, "token_type").is_none_or(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err("token_type is not Bearer".into());
    }
    match a.body.get("expires_in").and_then(Value::as_i64) {
        Some(900) => {}
        other => return Err(format!("expires_in is {other:?}, not 900 (15 minutes)")),
    }
    match field(&a.body, "scope") {
        Some(s) if !s.is_empty() && s.split(' ').all(|id| !id.is_empty() && !id.contains('~')) => {}
        other => return Err(format!("scope is {other:?}, not gegevensdienst ids")),
    }
    if a.cache_control
        .as_deref()
        .is_none_or(|c| !c.contains("no-store"))
    {
        return Err("no Cache-Control: no-store".into());
    }
    Ok(())
}

/// Runs every check against the server `pgo` talks to, for `scope`; `no_cert` is an HTTP
/// client without the PGO's certificate (for the mutual-TLS check).
pub async fn run(
    pgo: &PgoClient,
    scope: &str,
    codes: &dyn CodeSource,
    no_cert: &reqwest::Client,
) -> Vec<RuleResult> {
    let mut r = Run {
        pgo,
        scope,
        codes,
        results: Vec::new(),
        slowest: Duration::ZERO,
    };
    let redirect_uri = pgo.config().redirect_uri.clone();
    let client_id = pgo.config().client_id.clone();

    // A long-lasting consent: the response, the tokens' uniqueness, the refresh.
    let first = match r.code(true).await {
        Ok(c) => Some(c),
        Err(e) => {
            r.record(
                "core.tknint.201",
                "a token response for a code",
                Outcome::Fail(format!("no code to start with: {e}")),
            );
            None
        }
    };
    let mut first_tokens: Option<Value> = None;
    if let Some((pending, code)) = &first {
        let form = code_form(&client_id, code, Some(&redirect_uri));
        let mut with_extra = form.clone();
        with_extra.push(("unknown_parameter", "ignored"));
        match r.exchange(pending, &with_extra).await {
            Ok(a) => {
                let fields = response_fields(&a);
                r.judge("core.tknint.201", "access_token, token_type Bearer, expires_in 900, scope of gegevensdienst ids, no-store", fields.clone());
                r.judge(
                    "core.tknint.200",
                    "unknown parameters are ignored",
                    if a.status == 200 {
                        Ok(())
                    } else {
                        Err(format!("status {} with an unknown parameter", a.status))
                    },
                );
                first_tokens = (a.status == 200).then_some(a.body);
            }
            Err(e) => r.record(
                "core.tknint.201",
                "a token response for a code",
                Outcome::Fail(e),
            ),
        }
        // core.tknint.204: the second presentation fails; what the first gave is revoked.
        match r.exchange(pending, &form).await {
            Ok(a) => r.judge(
                "core.tknint.204",
                "a code presented a second time is refused (invalid_grant)",
                error_is(&a, "invalid_grant", 400),
            ),
            Err(e) => r.record(
                "core.tknint.204",
                "a code presented a second time is refused (invalid_grant)",
                Outcome::Fail(e),
            ),
        }
        match first_tokens
            .as_ref()
            .and_then(|t| field(t, "refresh_token"))
        {
            Some(rt) => {
                let a = pgo.refresh(rt).await;
                r.judge(
                    "core.tknint.204",
                    "after a replay, the refresh token of the first exchange is refused",
                    match a {
                        Err(ClientError::Token { error, .. }) if error == "invalid_grant" => Ok(()),
                        Err(e) => Err(format!("refused, but not with invalid_grant: {e}")),
                        Ok(_) => Err("the refresh token still works".into()),
                    },
                );
            }
            None => r.record(
                "core.tknint.204",
                "after a replay, the refresh token of the first exchange is refused",
                Outcome::Skip("no refresh token was issued".into()),
            ),
        }
    }

    // core.tknint.209: a refresh without redirect_uri, with a new correlation id.
    match r.code(true).await {
        Ok((pending, code)) => {
            let form = code_form(&client_id, &code, Some(&redirect_uri));
            match r.exchange(&pending, &form).await {
                Ok(a) if a.status == 200 => {
                    let second_access = field(&a.body, "access_token").map(str::to_owned);
                    let distinct = match (&first_tokens, &second_access) {
                        (Some(t), Some(s)) => field(t, "access_token") != Some(s.as_str()),
                        _ => true,
                    };
                    r.judge(
                        "uniqueness",
                        "access tokens of different codes differ",
                        if distinct {
                            Ok(())
                        } else {
                            Err("the same access token twice".into())
                        },
                    );
                    match field(&a.body, "refresh_token") {
                        Some(rt) => {
                            let started = std::time::Instant::now();
                            let refreshed = pgo
                                .token_request(
                                    &[
                                        ("grant_type", "refresh_token"),
                                        ("refresh_token", rt),
                                        ("client_id", &pgo.config().client_id),
                                    ],
                                    Some(&new_trace_id()),
                                    Some(&new_trace_id()),
                                )
                                .await;
                            r.slowest = r.slowest.max(started.elapsed());
                            match refreshed {
                                Ok(b) => {
                                    r.judge(
                                        "core.tknint.209",
                                        "a refresh without redirect_uri gives a token response",
                                        response_fields(&b),
                                    );
                                    let new_access = field(&b.body, "access_token");
                                    r.judge(
                                        "uniqueness",
                                        "a refresh gives a new access token",
                                        if new_access.is_some()
                                            && new_access != second_access.as_deref()
                                        {
                                            Ok(())
                                        } else {
                                            Err("no new access token".into())
                                        },
                                    );
                                }
                                Err(e) => r.record(
                                    "core.tknint.209",
                                    "a refresh without redirect_uri gives a token response",
                                    Outcome::Fail(e.to_string()),
                                ),
                            }
                        }
                        None => r.record(
                            "core.tknint.209",
                            "a refresh without redirect_uri gives a token response",
                            Outcome::Skip("no refresh token for a long-lasting consent".into()),
                        ),
                    }
                }
                Ok(a) => r.record(
                    "core.tknint.209",
                    "a refresh without redirect_uri gives a token response",
                    Outcome::Fail(format!("the code exchange failed: {} {}", a.status, a.body)),
                ),
                Err(e) => r.record(
                    "core.tknint.209",
                    "a refresh without redirect_uri gives a token response",
                    Outcome::Fail(e),
                ),
            }
        }
        Err(e) => r.record(
            "core.tknint.209",
            "a refresh without redirect_uri gives a token response",
            Outcome::Fail(format!("no code: {e}")),
        ),
    }

    // core.tknint.205: redirect_uri missing, different, double-encoded; and (204) the code is
    // spent by the failed attempt.
    let encoded_once: String =
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect();
    let double: String = url::form_urlencoded::byte_serialize(encoded_once.as_bytes()).collect();
    let different = format!("{}/other", redirect_uri.trim_end_matches('/'));
    for (check, how) in [
        ("without redirect_uri, no token (invalid_request)", 0),
        ("with a different redirect_uri, no token (invalid_grant)", 1),
        (
            "with a double-encoded redirect_uri, no token (invalid_grant)",
            2,
        ),
    ] {
        let (pending, code) = match r.code(false).await {
            Ok(c) => c,
            Err(e) => {
                r.record(
                    "core.tknint.205",
                    check,
                    Outcome::Fail(format!("no code: {e}")),
                );
                continue;
            }
        };
        let answer = match how {
            0 => {
                r.exchange(&pending, &code_form(&client_id, &code, None))
                    .await
            }
            1 => {
                r.exchange(&pending, &code_form(&client_id, &code, Some(&different)))
                    .await
            }
            _ => {
                let body = format!(
                    "grant_type=authorization_code&code={}&client_id={}&redirect_uri={double}",
                    url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>(),
                    url::form_urlencoded::byte_serialize(pgo.config().client_id.as_bytes())
                        .collect::<String>(),
                );
                pgo.send(
                    pgo.config().token_endpoint.clone(),
                    body,
                    Some(&pending.correlation_id),
                    Some(&new_trace_id()),
                )
                .await
                .map_err(|e| e.to_string())
            }
        };
        let verdict = match &answer {
            Ok(a) if a.status == 200 => Err("a token was issued".to_owned()),
            Ok(a) => match how {
                0 => error_is(a, "invalid_request", 400).or_else(|e| {
                    // invalid_grant also refuses; the exact code is the RFC's reading.
                    error_is(a, "invalid_grant", 400).map_err(|_| e)
                }),
                _ => error_is(a, "invalid_grant", 400),
            },
            Err(e) => Err(e.clone()),
        };
        r.judge("core.tknint.205", check, verdict);
        if how == 0 {
            let retry = r
                .exchange(&pending, &code_form(&client_id, &code, Some(&redirect_uri)))
                .await;
            r.judge(
                "core.tknint.204",
                "a code whose exchange failed is spent: a correct retry is refused",
                match retry {
                    Ok(a) if a.status == 200 => Err("the retry got a token".into()),
                    Ok(a) => error_is(&a, "invalid_grant", 400),
                    Err(e) => Err(e),
                },
            );
        }
    }

    // core.tknint.208: the tracing headers. Rejection of requests without them is not
    // prescribed: a server that accepts them warns.
    let (cid, rid) = (new_trace_id(), new_trace_id());
    for (check, correlation, request) in [
        (
            "a token request without MedMij-Request-ID is refused",
            Some(cid.as_str()),
            None,
        ),
        (
            "a token request with a malformed X-Correlation-ID is refused",
            Some("not-a-uuid"),
            Some(rid.as_str()),
        ),
    ] {
        let a = pgo
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("client_id", &pgo.config().client_id),
                    ("redirect_uri", &redirect_uri),
                ],
                correlation,
                request,
            )
            .await;
        let outcome = match a {
            Ok(a) if field(&a.body, "error") == Some("invalid_request") => Outcome::Pass,
            Ok(a) => Outcome::Warn(format!(
                "answered {} {}",
                a.status,
                field(&a.body, "error").unwrap_or("without an error")
            )),
            Err(e) => Outcome::Fail(e.to_string()),
        };
        r.record("core.tknint.208", check, outcome);
    }

    // core.tknint.207 and RFC 6749 §5.2: the errors.
    for (check, form, error) in [
        (
            "an unsupported grant_type: unsupported_grant_type",
            vec![
                ("grant_type", "password"),
                ("client_id", client_id.as_str()),
            ],
            "unsupported_grant_type",
        ),
        (
            "an unknown code: invalid_grant",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
            ],
            "invalid_grant",
        ),
        (
            "a missing code: invalid_request",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
            ],
            "invalid_request",
        ),
        (
            "an unknown refresh token: invalid_grant",
            vec![
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
                ("client_id", client_id.as_str()),
            ],
            "invalid_grant",
        ),
    ] {
        let a = pgo
            .token_request(&form, Some(&new_trace_id()), Some(&new_trace_id()))
            .await;
        r.judge(
            "core.tknint.207",
            check,
            match a {
                Ok(a) => error_is(&a, error, 400).and_then(|()| {
                    if a.cache_control
                        .as_deref()
                        .is_some_and(|c| c.contains("no-store"))
                    {
                        Ok(())
                    } else {
                        Err("no Cache-Control: no-store".into())
                    }
                }),
                Err(e) => Err(e.to_string()),
            },
        );
    }

    // RFC 8705: a token request without the client certificate is refused.
    let form = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        ("client_id", client_id.as_str()),
    ];
    let plain = no_cert
        .post(pgo.config().token_endpoint.clone())
        .header("X-Correlation-ID", new_trace_id())
        .header("MedMij-Request-ID", new_trace_id())
        .form(&form)
        .send()
        .await;
    r.judge(
        "core.tls",
        "a token request without a client certificate is refused",
        match plain {
            Err(_) => Ok(()),
            Ok(resp) if resp.status().as_u16() == 401 || resp.status().as_u16() == 400 => {
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                match field(&body, "error") {
                    Some("invalid_client") => Ok(()),
                    other => Err(format!("refused with {other:?}, not invalid_client")),
                }
            }
            Ok(resp) => Err(format!("answered {}", resp.status())),
        },
    );

    // core.tknint.206: within 10 seconds, every one.
    let slowest = r.slowest;
    r.judge(
        "core.tknint.206",
        "every token request answered within 10 s",
        if slowest <= WITHIN {
            Ok(())
        } else {
            Err(format!("the slowest took {slowest:?}"))
        },
    );
    r.results
}

/// The results as a table, one rule per line, and whether none failed.
pub fn table(results: &[RuleResult]) -> (String, bool) {
    use std::fmt::Write;
    let mut out = String::new();
    let mut ok = true;
    let _ = writeln!(out, "{:<17} {:<6} check", "rule", "result");
    for r in results {
        let (word, why) = match &r.outcome {
            Outcome::Pass => ("pass", String::new()),
            Outcome::Fail(w) => {
                ok = false;
                ("FAIL", format!(" — {w}"))
            }
            Outcome::Warn(w) => ("warn", format!(" — {w}")),
            Outcome::Skip(w) => ("skip", format!(" — {w}")),
        };
        let _ = writeln!(out, "{:<17} {:<6} {}{why}", r.rule, word, r.check);
    }
    (out, ok)
}
