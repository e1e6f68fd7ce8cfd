//! The MedMij authorization interface (Afsprakenstelsel 2.2, core.authint.*; `docs/medmij.md`):
//! a PGO's authorization request is checked — its `client_id` on the OCL and the Whitelist and
//! its `redirect_uri` https on that host, else an error page that shows the trace and session
//! ids and never redirects; `state`, `response_type` and the MedMij scope, else an error sent
//! back — then the person logs in (the login page of the code flow) and gives a one-time or a
//! long-lasting consent on a page that names the aanbieder, the gegevensdiensten by their GNL
//! names and the PGO by its OCL name. Every step leaves its chain-log event.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use wissel_core::flows::authorize::{AuthorizeError, PageError, Params, ReplyTo, pkce};
use wissel_core::grant::{
    AuthRequest, CodeRecord, Grant, Interaction, MedmijBinding, MedmijConsent, MedmijRequest,
    ResponseMode, Session,
};
use wissel_core::model::{Client, Profile, User};
use wissel_core::ports::AuditEvent;
use wissel_core::scope::ScopeSet;
use wissel_core::{ErrorCode, InternalError, OAuthError};
use wissel_crypto::secret;
use wissel_medmij::policy::Aanbieder;

use super::authorize::{CONSENT_PATH, expired_page, proceed, reply_error};
use crate::browser::{self, chrome, reply};
use crate::form::ParamList;
use crate::medmij::chainlog::{ChainEvent, ErrorInfo, EventInfo, RequestInfo};
use crate::medmij::{HeaderPolicy, IssuedKind, Lists, Medmij, parse_trace_id};
use crate::observe::RequestId;
use crate::pages::{
    self, ErrorKind, ErrorView, GegevensdienstLine, MedmijConsentView, MedmijProblem,
};
use crate::state::AppState;

/// The tracing parameters (core.authint.208) as sent, bounded and printable, for the error
/// page; and as UUIDs, for everything else.
struct Trace {
    request_id: Option<String>,
    correlation_id: Option<String>,
    shown_request_id: String,
    shown_correlation_id: String,
}

fn shown(raw: Option<&str>) -> String {
    raw.map(|v| v.chars().filter(char::is_ascii_graphic).take(64).collect())
        .unwrap_or_else(|| "-".into())
}

impl Trace {
    fn of(params: &ParamList) -> Self {
        Self {
            request_id: parse_trace_id(params.one("MedMij-Request-ID")),
            correlation_id: parse_trace_id(params.one("X-Correlation-ID")),
            shown_request_id: shown(params.one("MedMij-Request-ID")),
            shown_correlation_id: shown(params.one("X-Correlation-ID")),
        }
    }
}

/// True when an authorization request is for the MedMij interface: it carries a MedMij tracing
/// parameter, or its `client_id` is on the OCL.
pub(super) fn is_medmij_request(m: &Medmij, params: &ParamList) -> bool {
    if params.values("MedMij-Request-ID").next().is_some()
        || params.values("X-Correlation-ID").next().is_some()
    {
        return true;
    }
    let lists = m.lists();
    params.one("client_id").is_some_and(|id| {
        lists.clients.contains_key(id)
            || lists
                .ocl
                .as_deref()
                .is_some_and(|o| o.clients.contains_key(id))
    })
}

fn event(m: &Medmij, state: &AppState, kind: &'static str, trace: &Trace) -> EventInfo {
    m.chain().event(
        kind,
        state.now(),
        trace.request_id.as_deref(),
        trace.correlation_id.as_deref(),
    )
}

fn error_event(
    m: &Medmij,
    state: &AppState,
    kind: &'static str,
    trace: &Trace,
    code: &str,
    description: &str,
) -> ChainEvent {
    ChainEvent {
        error: Some(ErrorInfo {
            code: code.to_owned(),
            description: description.to_owned(),
        }),
        ..ChainEvent::new(event(m, state, kind, trace))
    }
}

/// GET (or POST) /authorize of a MedMij client.
pub(super) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    m: &Medmij,
    params: &ParamList,
    method: &str,
    peer: Option<std::net::IpAddr>,
) -> Result<Response, InternalError> {
    let trace = Trace::of(params);
    m.chain().record(ChainEvent {
        request: Some(RequestInfo {
            id: trace.request_id.clone(),
            method: method.to_owned(),
            client_id: params
                .one("client_id")
                .map(|c| c.chars().take(253).collect()),
            server_id: m.chain().location().to_owned(),
            uri: super::AUTHORIZE_PATH.into(),
            grant_type: None,
            initiated_by: "person",
        }),
        ..ChainEvent::new(event(m, state, "receive_authorization_request", &trace))
    });
    let lists = m.lists();
    match validate(m, &lists, &state.registry(), params, &trace) {
        Ok((client, request)) => proceed(state, headers, rid, &client, request, None, peer).await,
        Err(AuthorizeError::Page(kind, detail)) => {
            tracing::info!(target: "wissel::medmij", request_id = %rid.0, reason = %detail, "MedMij authorization request refused on a page");
            m.chain().record(error_event(
                m,
                state,
                "authorization_request_error",
                &trace,
                "invalid_request",
                &detail,
            ));
            m.chain().record(ChainEvent::new(event(
                m,
                state,
                "show_authorization_request_error_page",
                &trace,
            )));
            let view = ErrorView {
                chrome: chrome(state, browser::locale(state, &[], headers)),
                kind: match kind {
                    PageError::UnknownClient => ErrorKind::UnknownClient,
                    PageError::BadRedirectUri => ErrorKind::BadRedirectUri,
                },
                detail: Some(&detail),
                request_id: &rid.0,
                medmij: Some((&trace.shown_request_id, &trace.shown_correlation_id)),
            };
            Ok(pages::error(StatusCode::BAD_REQUEST, &view))
        }
        Err(AuthorizeError::Redirect(to, e)) => {
            m.chain().record(error_event(
                m,
                state,
                "send_authorization_request_error",
                &trace,
                e.code.as_str(),
                &e.description,
            ));
            Ok(reply_error(state, headers, &to, &e))
        }
    }
}

/// `https://` and the client's hostname (no port, user information, query or fragment), then
/// any path: core.authint.200 (the redirect URI is on the PGO node's host).
fn redirect_uri_on_host(uri: &str, host: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return false;
    };
    u.scheme() == "https"
        && u.host_str() == Some(host)
        && u.port().is_none()
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none()
        && u.fragment().is_none()
        // What was sent must be what the URL says: no normalisation hides anything.
        && (u.as_str() == uri || u.as_str() == format!("{uri}/"))
}

/// The checks of core.authint.200–203, in order: the client and the redirect URI (a page),
/// then everything else (sent back).
fn validate(
    m: &Medmij,
    lists: &Lists,
    registry: &wissel_core::model::Registry,
    params: &ParamList,
    trace: &Trace,
) -> Result<(Arc<Client>, AuthRequest), AuthorizeError> {
    let page = |e: PageError, d: &'static str| AuthorizeError::Page(e, Cow::Borrowed(d));
    if params.repeated("client_id") {
        return Err(page(PageError::UnknownClient, "client_id is repeated"));
    }
    let client = params
        .one("client_id")
        .and_then(|id| registry.client(id))
        .filter(|c| c.profile == Profile::Medmij && !c.disabled)
        .cloned()
        .ok_or_else(|| {
            page(
                PageError::UnknownClient,
                "client_id is not a MedMij node on both the OAuth Client List and the Whitelist",
            )
        })?;
    if params.repeated("redirect_uri") {
        return Err(page(PageError::BadRedirectUri, "redirect_uri is repeated"));
    }
    let redirect_uri = match params.one("redirect_uri") {
        Some(uri) if redirect_uri_on_host(uri, &client.id) => uri.to_owned(),
        Some(_) => {
            return Err(page(
                PageError::BadRedirectUri,
                "redirect_uri must be https on the client's own hostname, without port, query or fragment",
            ));
        }
        None => return Err(page(PageError::BadRedirectUri, "redirect_uri is required")),
    };
    let state = params.one("state").map(str::to_owned);
    let mut reply = ReplyTo {
        redirect_uri: redirect_uri.clone(),
        mode: ResponseMode::Query,
        state: state.clone(),
    };
    let bad = |reply: &ReplyTo, code: ErrorCode, d: Cow<'static, str>| {
        AuthorizeError::Redirect(reply.clone(), OAuthError::new(code, d))
    };
    if params.repeated("state") || state.as_deref().is_some_and(|s| s.len() > 2048) {
        reply.state = None;
        return Err(bad(
            &reply,
            ErrorCode::InvalidRequest,
            "state is repeated or too long".into(),
        ));
    }
    if let Some(name) = params.repeated_names().first() {
        return Err(bad(
            &reply,
            ErrorCode::InvalidRequest,
            format!("parameter {name} is repeated").into(),
        ));
    }
    match params.one("response_type") {
        Some("code") => {}
        None => {
            return Err(bad(
                &reply,
                ErrorCode::InvalidRequest,
                "response_type is required".into(),
            ));
        }
        Some(_) => {
            return Err(bad(
                &reply,
                ErrorCode::UnsupportedResponseType,
                "the only response_type is code".into(),
            ));
        }
    }
    if state.is_none() {
        return Err(bad(
            &reply,
            ErrorCode::InvalidRequest,
            "state is required (core.authint.200)".into(),
        ));
    }
    if m.settings().headers == HeaderPolicy::Refuse {
        for (name, parsed) in [
            ("MedMij-Request-ID", &trace.request_id),
            ("X-Correlation-ID", &trace.correlation_id),
        ] {
            if parsed.is_none() {
                return Err(bad(
                    &reply,
                    ErrorCode::InvalidRequest,
                    format!("{name} must be given as a UUID (core.authint.208)").into(),
                ));
            }
        }
    }
    let scope = wissel_medmij::scope::parse(params.one("scope"))
        .map_err(|e| bad(&reply, ErrorCode::InvalidScope, e.to_string().into()))?;
    let Some(aanbieder) = lists.aanbieder(&scope.aanbieder) else {
        return Err(bad(
            &reply,
            ErrorCode::InvalidScope,
            "this server does not serve the aanbieder in scope".into(),
        ));
    };
    if let Some(g) = &scope.gegevensdienst
        && !aanbieder.gegevensdiensten.contains(g)
    {
        return Err(bad(
            &reply,
            ErrorCode::InvalidScope,
            "the aanbieder does not offer this gegevensdienst through this server".into(),
        ));
    }
    let (code_challenge, code_challenge_method) =
        pkce(&client, params).map_err(|d| bad(&reply, ErrorCode::InvalidRequest, d.into()))?;
    let ui_locales = params
        .one("ui_locales")
        .map(|v| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .take(16)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let request = AuthRequest {
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_given: true,
        response_mode: ResponseMode::Query,
        state,
        nonce: None,
        scope: ScopeSet::from_tokens([params.one("scope").unwrap_or_default()]),
        api: Some(aanbieder.api.clone()),
        code_challenge,
        code_challenge_method,
        prompt: Default::default(),
        max_age: None,
        login_hint: None,
        ui_locales,
        acr_values: Vec::new(),
        medmij: Some(MedmijRequest {
            aanbieder: aanbieder.naam.clone(),
            delen: scope.gegevensdienst,
            request_id: trace.request_id.clone(),
            correlation_id: trace.correlation_id.clone(),
        }),
    };
    Ok((client, request))
}

/// What the person is asked to consent to: the aanbieder's gegevensdiensten available for them
/// (Verzamelen), or the one of a Delen request if it is.
async fn consentable(
    m: &Medmij,
    aanbieder: &Aanbieder,
    req: &MedmijRequest,
    user: &User,
) -> Result<ScopeSet, InternalError> {
    let available = m
        .availability()
        .available(&user.subject, aanbieder, &aanbieder.gegevensdiensten)
        .await?
        .intersect(&aanbieder.gegevensdiensten);
    Ok(match &req.delen {
        Some(g) => available.intersect(&ScopeSet::from_tokens([g.as_str()])),
        None => available,
    })
}

/// The consent page of a pending MedMij request.
#[allow(clippy::too_many_arguments)]
pub(super) async fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    i: &Interaction,
    request: &AuthRequest,
    client: &Client,
    user: &User,
    problem: Option<MedmijProblem>,
) -> Result<Response, InternalError> {
    let (Some(m), Some(req)) = (state.medmij(), &request.medmij) else {
        return Ok(expired_page(state, headers, rid));
    };
    let lists = m.lists();
    let Some(aanbieder) = lists.aanbieder_by_naam(&req.aanbieder) else {
        return Ok(expired_page(state, headers, rid));
    };
    let scope = consentable(m, aanbieder, req, user).await?;
    let csrf = browser::csrf_cookie(state, headers).unwrap_or("");
    let action = state.settings().endpoint(CONSENT_PATH);
    let display = user
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or(&user.username);
    let s = m.settings();
    let view = MedmijConsentView {
        chrome: chrome(state, browser::locale(state, &request.ui_locales, headers)),
        action: &action,
        interaction: &i.id,
        csrf,
        pgo: &client.name,
        aanbieder: &aanbieder.display_name,
        delen: req.delen.is_some(),
        user: display,
        gegevensdiensten: scope
            .iter()
            .map(|id| GegevensdienstLine {
                id,
                name: lists.gegevensdienst_name(id),
            })
            .collect(),
        default_days: s.consent_default_days.min(s.consent_max_days),
        max_days: s.consent_max_days,
        problem,
    };
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(pages::medmij_consent(status, &view))
}

/// What a person chose on the consent page.
enum Choice {
    Deny,
    Once,
    Lasting(i64),
}

fn choice(form: &ParamList, max_days: i64) -> Option<Choice> {
    match form.one("decision")? {
        "deny" => Some(Choice::Deny),
        "allow" => match form.one("duration").unwrap_or("once") {
            "once" => Some(Choice::Once),
            "lasting" => {
                let days = form.one("days")?.trim().parse::<i64>().ok()?;
                (1..=max_days)
                    .contains(&days)
                    .then_some(Choice::Lasting(days))
            }
            _ => None,
        },
        _ => None,
    }
}

/// POST /consent of a pending MedMij request: deny (the client hears `access_denied`), or allow
/// once or for a number of days (a long-lasting consent, with refresh tokens until it ends).
#[allow(clippy::too_many_arguments)]
pub(super) async fn consent_submit(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    i: &Interaction,
    request: &AuthRequest,
    client: &Client,
    session: &Session,
    user: &User,
    form: &ParamList,
) -> Result<Response, InternalError> {
    let (Some(m), Some(req)) = (state.medmij(), &request.medmij) else {
        return Ok(expired_page(state, headers, rid));
    };
    let to = ReplyTo {
        redirect_uri: request.redirect_uri.clone(),
        mode: request.response_mode,
        state: request.state.clone(),
    };
    let trace = Trace {
        request_id: req.request_id.clone(),
        correlation_id: req.correlation_id.clone(),
        shown_request_id: String::new(),
        shown_correlation_id: String::new(),
    };
    let Some(choice) = choice(form, m.settings().consent_max_days) else {
        return consent_page(
            state,
            headers,
            rid,
            i,
            request,
            client,
            user,
            Some(MedmijProblem::BadDuration),
        )
        .await;
    };
    if !state.store().take_interaction(&i.id).await? {
        return Ok(expired_page(state, headers, rid));
    }
    let lists = m.lists();
    let refuse = |e: OAuthError| {
        m.chain().record(error_event(
            m,
            state,
            "send_authorization_request_error",
            &trace,
            e.code.as_str(),
            &e.description,
        ));
        reply_error(state, headers, &to, &e)
    };
    let Some(aanbieder) = lists.aanbieder_by_naam(&req.aanbieder) else {
        return Ok(refuse(OAuthError::invalid_scope(
            "this server no longer serves the aanbieder",
        )));
    };
    let days = match choice {
        Choice::Deny => {
            audit(state, rid, "denied", client, user, None);
            return Ok(refuse(OAuthError::new(
                ErrorCode::AccessDenied,
                "the person did not consent",
            )));
        }
        Choice::Once => None,
        Choice::Lasting(d) => Some(d),
    };
    let consented = consentable(m, aanbieder, req, user).await?;
    if consented.is_empty() {
        return Ok(refuse(OAuthError::invalid_scope(
            "nothing is available for the person at this aanbieder",
        )));
    }
    let now = state.now();
    let s = m.settings();
    let expires_at = match days {
        Some(d) => now.saturating_add(d.saturating_mul(86_400)),
        None => now
            .saturating_add(s.code_lifetime)
            .saturating_add(s.access_token_lifetime),
    };
    let grant = Grant {
        id: secret::generate_id(),
        client_id: client.id.clone(),
        subject: user.subject.clone(),
        api: Some(aanbieder.api.clone()),
        scope: consented.clone(),
        auth_time: session.auth_time,
        sid: Some(session.sid.clone()),
        offline: days.is_some(),
        parent: None,
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    let consent_id = days.map(|_| secret::generate_id());
    if grant.id.is_empty() || consent_id.as_ref().is_some_and(String::is_empty) {
        return Err(InternalError::new("random source failed"));
    }
    let (code, digest) = m
        .unique_secret(state.store(), IssuedKind::Code, now)
        .await?;
    let record = CodeRecord {
        grant_id: grant.id.clone(),
        client_id: client.id.clone(),
        subject: user.subject.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_given: true,
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge_method,
        nonce: None,
        scope: consented.clone(),
        api: Some(aanbieder.api.clone()),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        sid: Some(session.sid.clone()),
        issued_at: now,
        expires_at: now.saturating_add(s.code_lifetime),
        medmij: Some(MedmijBinding {
            aanbieder: aanbieder.naam.clone(),
            consented: consented.clone(),
            correlation_id: req.correlation_id.clone(),
            consent_id: consent_id.clone(),
        }),
    };
    state.store().issue_code(&grant, &digest, &record).await?;
    if let Some(id) = consent_id {
        state
            .store()
            .put_medmij_consent(&MedmijConsent {
                id,
                subject: user.subject.clone(),
                client_id: client.id.clone(),
                aanbieder: aanbieder.naam.clone(),
                gegevensdiensten: consented,
                grant_id: grant.id.clone(),
                granted_at: now,
                expires_at,
                ended_at: None,
            })
            .await?;
    }
    audit(
        state,
        rid,
        if days.is_some() {
            "given_lasting"
        } else {
            "given_once"
        },
        client,
        user,
        Some(&grant.id),
    );
    Ok(reply(state, headers, &to, &[("code", &code)]))
}

fn audit(
    state: &AppState,
    rid: &RequestId,
    outcome: &str,
    client: &Client,
    user: &User,
    grant: Option<&str>,
) {
    state.audit(&AuditEvent {
        kind: "medmij_consent",
        outcome: outcome.to_owned(),
        actor: None,
        client: Some(client.id.clone()),
        api: None,
        subject: Some(user.subject.clone()),
        grant: grant.map(str::to_owned),
        jti: None,
        request_id: Some(rid.0.clone()),
    });
}

#[cfg(test)]
mod tests {
    use super::redirect_uri_on_host;

    #[test]
    fn redirect_uris_must_be_https_on_the_clients_own_host() {
        let host = "pgo.example.nl";
        for good in [
            "https://pgo.example.nl",
            "https://pgo.example.nl/",
            "https://pgo.example.nl/medmij/cb",
        ] {
            assert!(redirect_uri_on_host(good, host), "{good}");
        }
        for bad in [
            "http://pgo.example.nl/cb",
            "https://pgo.example.nl:8443/cb",
            "https://pgo.example.nl.evil.nl/cb",
            "https://evil.nl/pgo.example.nl",
            "https://user@pgo.example.nl/cb",
            "https://pgo.example.nl/cb?x=1",
            "https://pgo.example.nl/cb#f",
            "https://PGO.example.nl/cb",
            "https://pgo.example.nl/a/../cb",
            "pgo.example.nl/cb",
            "",
        ] {
            assert!(!redirect_uri_on_host(bad, host), "{bad}");
        }
    }
}
