//! The MedMij token interface (Afsprakenstelsel 2.2, core.tknint.200–210; `docs/medmij.md`):
//! the `authorization_code` and `refresh_token` grants for a PGO that authenticates with its
//! certificate (RFC 8705 `tls_client_auth`, its hostname as `client_id`), with the tracing
//! headers read, checked and logged, single-use codes, the exact `redirect_uri`, opaque 15-minute
//! access tokens unique against all issued before, and the scope of core.tknint.210. Every
//! request leaves `receive_token_request` and then `send_token_response` or
//! `token_request_error` in the chain log.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use wissel_core::flows::code::{check_code, check_refresh};
use wissel_core::grant::{Grant, MedmijBinding, RefreshRecord};
use wissel_core::model::{
    AccessToken, Client, Derivation, Digest, GrantType, Profile, TokenFormat,
};
use wissel_core::scope::ScopeSet;
use wissel_core::{ErrorCode, OAuthError};
use wissel_crypto::{pkce, secret};
use wissel_medmij::policy::granted_gegevensdiensten;

use super::token_user::{audit, keep_refresh, present_refresh, spend_code};
use super::{TOKEN_PATH, finish, no_store_json};
use crate::client_auth::{PeerCertificate, authenticate};
use crate::error::{HttpError, status_of};
use crate::form::OAuthForm;
use crate::medmij::chainlog::{ChainEvent, ErrorInfo, RequestInfo, ResponseInfo};
use crate::medmij::{HeaderPolicy, IssuedKind, Medmij, MismatchPolicy, parse_trace_id};
use crate::observe::{Outcome, RequestId};
use crate::state::AppState;
use crate::tokens;

/// The tracing headers of one token request, each `None` when missing or not a UUID.
struct Trace {
    request_id: Option<String>,
    correlation_id: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// True when a token request is for the MedMij interface: it carries a `MedMij-Request-ID`, or
/// its `client_id` (in the body, or in the query when those are accepted) is a MedMij client.
/// (`X-Correlation-ID` alone is not enough: gateways add it to every request.)
pub(super) fn is_medmij_request(
    m: &Medmij,
    headers: &HeaderMap,
    form: Option<&OAuthForm>,
    query: Option<&str>,
) -> bool {
    if headers.contains_key("medmij-request-id") {
        return true;
    }
    let lists = m.lists();
    if let Some(id) = form.and_then(|f| f.get("client_id")) {
        return lists.clients.contains_key(id);
    }
    query
        .filter(|_| m.settings().token_query_parameters)
        .and_then(|q| OAuthForm::parse(q.as_bytes()).ok())
        .is_some_and(|f| {
            f.get("client_id")
                .is_some_and(|id| lists.clients.contains_key(id))
        })
}

/// The request's parameters: the form body, and the query string's when
/// `medmij.token_query_parameters` is on (core.tknint.200's example puts them there; a
/// parameter given in both is repeated). A request without a form body is then read from its
/// query alone.
pub(super) fn medmij_form(
    m: &Medmij,
    form: Result<OAuthForm, HttpError>,
    query: Option<&str>,
) -> Result<OAuthForm, HttpError> {
    let Some(query) = query.filter(|q| !q.is_empty() && m.settings().token_query_parameters) else {
        return form;
    };
    let from_query = OAuthForm::parse(query.as_bytes())?;
    match form {
        Ok(body) => Ok(body.merge(from_query)?),
        Err(_) => Ok(from_query),
    }
}

/// A token request of a MedMij client.
pub(super) async fn token(
    state: &AppState,
    rid: &RequestId,
    m: &Medmij,
    headers: &HeaderMap,
    parsed: Result<OAuthForm, HttpError>,
    cert: Option<&PeerCertificate>,
) -> Response {
    let unreadable = OAuthForm::default();
    let form = parsed.as_ref().unwrap_or(&unreadable);
    let trace = Trace {
        request_id: parse_trace_id(header(headers, "medmij-request-id")),
        correlation_id: parse_trace_id(header(headers, "x-correlation-id")),
    };
    let grant_type = form
        .get("grant_type")
        .map(|g| g.chars().take(64).collect::<String>());
    let event = |kind: &'static str| {
        m.chain().event(
            kind,
            state.now(),
            trace.request_id.as_deref(),
            trace.correlation_id.as_deref(),
        )
    };
    m.chain().record(ChainEvent {
        request: Some(RequestInfo {
            id: trace.request_id.clone(),
            method: "POST".into(),
            client_id: form.get("client_id").map(|c| c.chars().take(253).collect()),
            server_id: m.chain().location().to_owned(),
            uri: TOKEN_PATH.into(),
            grant_type: grant_type.clone(),
            initiated_by: "machine",
        }),
        ..ChainEvent::new(event("receive_token_request"))
    });
    let mut outcome = Outcome::default();
    let result = match parsed {
        Ok(ref form) => handle(state, rid, m, headers, form, cert, &trace, &mut outcome).await,
        Err(e) => Err(e),
    };
    match &result {
        Ok(r) => m.chain().record(ChainEvent {
            response: Some(ResponseInfo {
                request_id: trace.request_id.clone(),
                status: r.status().as_u16(),
            }),
            ..ChainEvent::new(event("send_token_response"))
        }),
        Err(e) => {
            let (code, description, status) = match e {
                HttpError::OAuth { error, .. } => (
                    error.code.as_str(),
                    error.description.to_string(),
                    status_of(error.code).as_u16(),
                ),
                HttpError::TooLarge => ("invalid_request", "request body is too large".into(), 413),
                HttpError::BodyTimeout => (
                    "invalid_request",
                    "the request body did not arrive in time".into(),
                    408,
                ),
                HttpError::NotFound | HttpError::MethodNotAllowed => {
                    ("invalid_request", "not a token request".into(), 400)
                }
            };
            m.chain().record(ChainEvent {
                response: Some(ResponseInfo {
                    request_id: trace.request_id.clone(),
                    status,
                }),
                error: Some(ErrorInfo {
                    code: code.to_owned(),
                    description,
                }),
                ..ChainEvent::new(event("token_request_error"))
            });
        }
    }
    finish(result, outcome)
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    state: &AppState,
    rid: &RequestId,
    m: &Medmij,
    headers: &HeaderMap,
    form: &OAuthForm,
    cert: Option<&PeerCertificate>,
    trace: &Trace,
    outcome: &mut Outcome,
) -> Result<Response, HttpError> {
    // core.tknint.208: both headers, each a UUID.
    if m.settings().headers == HeaderPolicy::Refuse {
        for (name, raw, parsed) in [
            (
                "MedMij-Request-ID",
                header(headers, "medmij-request-id"),
                &trace.request_id,
            ),
            (
                "X-Correlation-ID",
                header(headers, "x-correlation-id"),
                &trace.correlation_id,
            ),
        ] {
            if parsed.is_none() {
                let why = if raw.is_some() {
                    "is not a UUID"
                } else {
                    "is missing"
                };
                return Err(OAuthError::invalid_request(format!(
                    "the {name} header {why} (core.tknint.208)"
                ))
                .into());
            }
        }
    }
    let auth = authenticate(
        state,
        headers,
        form,
        &state.settings().endpoint(TOKEN_PATH),
        cert,
    )
    .await?;
    outcome.client = Some(auth.principal.id().to_owned());
    let wissel_core::model::Principal::Client(client) = auth.principal else {
        return Err(OAuthError::invalid_client("an API cannot obtain tokens").into());
    };
    if client.profile != Profile::Medmij {
        return Err(OAuthError::invalid_client("not a MedMij client").into());
    }
    // RFC 6749 §5.2: a grant wissel implements but this client may not use is
    // `unauthorized_client`; only a grant wissel does not implement is `unsupported_grant_type`.
    let grant = GrantType::parse(form.require("grant_type")?).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "a MedMij client uses authorization_code or refresh_token",
        )
    })?;
    outcome.grant_type = Some(grant.as_str());
    match grant {
        GrantType::AuthorizationCode if client.allows(grant) => {
            authorization_code(state, rid, m, form, &client, trace).await
        }
        GrantType::RefreshToken if client.allows(grant) => {
            refresh(state, rid, m, form, &client).await
        }
        _ => Err(OAuthError::unauthorized_client(format!(
            "a MedMij client may not use the {} grant; it uses authorization_code or \
             refresh_token",
            grant.as_str()
        ))
        .into()),
    }
}

/// `grant_type=authorization_code` (core.tknint.200, 204, 205, 210).
async fn authorization_code(
    state: &AppState,
    rid: &RequestId,
    m: &Medmij,
    form: &OAuthForm,
    client: &Arc<Client>,
    trace: &Trace,
) -> Result<Response, HttpError> {
    // core.tknint.204: spent at its first presentation, whatever happens next; a replay
    // revokes what was issued with it.
    let rec = spend_code(state, rid, form, client).await?;
    let now = state.now();
    // core.tknint.205: redirect_uri present and identical (the request always carried one).
    if form.get("redirect_uri").is_none() {
        return Err(
            OAuthError::invalid_request("redirect_uri is required (core.tknint.205)").into(),
        );
    }
    check_code(
        &rec,
        client,
        form.get("redirect_uri"),
        form.get("code_verifier"),
        now,
        pkce::verify,
    )?;
    let Some(binding) = rec.medmij.clone() else {
        return Err(OAuthError::invalid_grant("the code is not of a MedMij authorization").into());
    };
    if binding.correlation_id.is_some() && binding.correlation_id != trace.correlation_id {
        match m.settings().correlation_mismatch {
            MismatchPolicy::Refuse => {
                return Err(OAuthError::invalid_grant(
                    "X-Correlation-ID differs from the authorization request's (core.tknint.208)",
                )
                .into());
            }
            MismatchPolicy::Log => {
                tracing::warn!(target: "wissel::medmij", client = %client.id, "X-Correlation-ID differs from the authorization request's");
            }
        }
    }
    let Some(grant) = state.store().get_grant(&rec.grant_id).await? else {
        return Err(OAuthError::invalid_grant("the grant is gone").into());
    };
    let refresh = binding.consent_id.is_some().then(|| RefreshRecord {
        grant_id: rec.grant_id.clone(),
        client_id: client.id.clone(),
        subject: rec.subject.clone(),
        scope: binding.consented.clone(),
        api: rec.api.clone(),
        auth_time: rec.auth_time,
        amr: rec.amr.clone(),
        acr: rec.acr.clone(),
        sid: None,
        issued_at: now,
        expires_at: grant.expires_at,
        medmij: Some(binding.clone()),
    });
    let body = issue(
        state,
        m,
        client,
        &grant,
        &binding,
        refresh.map(|r| (r, None)),
    )
    .await?;
    audit(
        state,
        "token_issued",
        "success",
        client,
        &rec.grant_id,
        Some(&rec.subject),
        rid,
    );
    Ok(no_store_json(&body))
}

/// `grant_type=refresh_token` (core.tknint.209): no `redirect_uri`; the scope is computed anew.
async fn refresh(
    state: &AppState,
    rid: &RequestId,
    m: &Medmij,
    form: &OAuthForm,
    client: &Arc<Client>,
) -> Result<Response, HttpError> {
    let (rec, old) = present_refresh(state, rid, form, client).await?;
    let now = state.now();
    let Some(binding) = rec.medmij.clone() else {
        return Err(OAuthError::invalid_grant("not a MedMij refresh token").into());
    };
    let grant = state.store().get_grant(&rec.grant_id).await?;
    let user = state.store().user_by_subject(&rec.subject).await?;
    check_refresh(&rec, grant.as_ref(), user.as_ref(), client, now)?;
    let Some(grant) = grant else {
        return Err(OAuthError::invalid_grant("the grant is gone").into());
    };
    let next = RefreshRecord {
        issued_at: now,
        expires_at: grant.expires_at,
        ..rec.clone()
    };
    let body = issue(state, m, client, &grant, &binding, Some((next, Some(old)))).await?;
    audit(
        state,
        "token_refreshed",
        "success",
        client,
        &rec.grant_id,
        Some(&rec.subject),
        rid,
    );
    Ok(no_store_json(&body))
}

/// The scope (core.tknint.210), then the refresh token (stored, or rotated from `old`), then the
/// access token; nothing is returned before what it depends on is committed.
async fn issue(
    state: &AppState,
    m: &Medmij,
    client: &Client,
    grant: &Grant,
    binding: &MedmijBinding,
    refresh: Option<(RefreshRecord, Option<Digest>)>,
) -> Result<Value, HttpError> {
    let (grant_id, subject) = (grant.id.as_str(), grant.subject.as_str());
    let now = state.now();
    let lists = m.lists();
    let Some(aanbieder) = lists.aanbieder_by_naam(&binding.aanbieder) else {
        return Err(OAuthError::invalid_grant("this server no longer serves the aanbieder").into());
    };
    let on_ocl = lists.on_ocl(&client.id, &m.settings().interface_version);
    let available = m
        .availability()
        .available(subject, aanbieder, &aanbieder.gegevensdiensten)
        .await?;
    let scope: ScopeSet = granted_gegevensdiensten(
        &binding.consented,
        &aanbieder.gegevensdiensten,
        &on_ocl,
        &available,
    );
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the consented gegevensdiensten may be given to this client: each is not \
             offered, not on the client's OCL entry, or not available for the person \
             (core.tknint.210)",
        )
        .into());
    }
    let refresh_value = match refresh {
        None => None,
        Some((rec, old)) => {
            let (value, new) = m
                .unique_secret(state.store(), IssuedKind::RefreshToken, now)
                .await?;
            keep_refresh(state, client, &new, &rec, old.as_ref()).await?;
            Some(value)
        }
    };
    let token = AccessToken {
        jti: secret::generate_id(),
        grant_id: grant_id.to_owned(),
        client_id: client.id.clone(),
        subject: subject.to_owned(),
        api: aanbieder.api.clone(),
        scope,
        issued_at: now,
        // Never past the consent (a long-lasting one ends on its day).
        expires_at: now
            .saturating_add(m.settings().access_token_lifetime)
            .min(grant.expires_at),
        format: TokenFormat::Opaque,
        derivation: Derivation {
            claims: BTreeMap::from([(
                "aanbieder".to_owned(),
                Value::String(aanbieder.naam.clone()),
            )]),
            ..Derivation::default()
        },
    };
    let (value, digest) = m
        .unique_secret(state.store(), IssuedKind::AccessToken, now)
        .await?;
    tokens::store_opaque(state, &digest, &token).await?;
    let mut body = json!({
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": token.expires_at - token.issued_at,
        "scope": token.scope.to_string(),
    });
    if let Some(r) = refresh_value {
        body["refresh_token"] = Value::String(r);
    }
    Ok(body)
}
