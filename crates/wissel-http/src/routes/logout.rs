//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `id_token_hint` optional,
//! `post_logout_redirect_uri` only when registered for the client, `state` echoed. The user
//! confirms unless the hint names the browser's own session.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use wissel_core::InternalError;
use wissel_core::flows::authorize::Params;
use wissel_core::ports::AuditEvent;

use super::authorize::read_form;
use crate::browser::{self, chrome, error_page, see_other};
use crate::form::ParamList;
use crate::observe::RequestId;
use crate::oidc::ID_TOKEN_TYP;
use crate::pages::{self, ErrorKind, LoggedOutView, LogoutView};
use crate::state::AppState;

/// Path of the end-session endpoint.
pub const LOGOUT_PATH: &str = "/logout";

/// The part of an ID token hint that matters here. Its expiry does not: an expired ID token is
/// a fine hint.
#[derive(Deserialize)]
struct Hint {
    iss: String,
    sub: String,
    aud: String,
    #[serde(default)]
    sid: Option<String>,
}

/// What a valid logout request asks for.
struct Request_ {
    client: Option<std::sync::Arc<wissel_core::model::Client>>,
    hint: Option<Hint>,
    redirect: Option<String>,
    state: Option<String>,
    ui_locales: Vec<String>,
}

fn check(state: &AppState, p: &ParamList) -> Result<Request_, &'static str> {
    for name in [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client_id",
        "ui_locales",
        "logout_hint",
    ] {
        if p.repeated(name) {
            return Err("a parameter is repeated");
        }
        if p.one(name).is_some_and(|v| v.len() > 4096) {
            return Err("a parameter is too long");
        }
    }
    let hint = match p.one("id_token_hint") {
        None => None,
        Some(t) => {
            let h = state
                .keys()
                .verify::<Hint>(t, ID_TOKEN_TYP)
                .filter(|h| h.iss == state.settings().issuer)
                .ok_or("id_token_hint is not an ID token issued here")?;
            Some(h)
        }
    };
    let registry = state.registry();
    let client_id = match (p.one("client_id"), hint.as_ref().map(|h| h.aud.as_str())) {
        (Some(a), Some(b)) if a != b => return Err("client_id differs from the hint's audience"),
        (Some(a), _) | (None, Some(a)) => Some(a.to_owned()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => Some(registry.client(id).cloned().ok_or("unknown client_id")?),
        None => None,
    };
    let redirect = match p.one("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let c = client
                .as_ref()
                .ok_or("post_logout_redirect_uri needs id_token_hint or client_id")?;
            // The same matching as redirect URIs: exact, with any port for loopback IPs only
            // for a native app.
            if !wissel_core::flows::authorize::redirect_uri_matches(
                &c.post_logout_redirect_uris,
                uri,
                c.application_type(),
            ) {
                return Err("post_logout_redirect_uri is not registered for this client");
            }
            Some(uri.to_owned())
        }
    };
    Ok(Request_ {
        client,
        hint,
        redirect,
        state: p.one("state").map(str::to_owned),
        ui_locales: p
            .one("ui_locales")
            .map(|v| v.split(' ').take(8).map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

fn back(state: &AppState, headers: &HeaderMap, r: &Request_) -> Response {
    match &r.redirect {
        Some(uri) => {
            let mut target = uri.clone();
            if let Some(s) = &r.state {
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", s)
                    .finish();
                target.push(if target.contains('?') { '&' } else { '?' });
                target.push_str(&q);
            }
            see_other(&target)
        }
        None => pages::logged_out(
            StatusCode::OK,
            &LoggedOutView {
                chrome: chrome(state, browser::locale(state, &r.ui_locales, headers)),
            },
        ),
    }
}

/// Ends the browser's session: the session row, the grants of that session that did not get
/// `offline_access`, and the cookie.
pub(super) async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    resp: &mut Response,
) -> Result<(), InternalError> {
    if let Some(digest) = browser::session_digest(state, headers)
        && let Some(s) = state.store().end_session(&digest).await?
    {
        let now = state.now();
        for g in state
            .store()
            .live_grants(&s.subject, None, Some(&s.sid), now)
            .await?
        {
            state.revoke_client_grant(&g.id, &g.client_id).await?;
        }
        state.audit(&AuditEvent {
            kind: "logout",
            outcome: "success".into(),
            actor: None,
            client: None,
            api: None,
            subject: Some(s.subject.clone()),
            grant: None,
            jti: None,
            request_id: None,
        });
    }
    browser::clear_session(resp, state);
    Ok(())
}

/// GET and POST /logout.
pub(super) async fn logout(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let is_post = req.method() == Method::POST;
    let (headers, p) = match read_form(&state, &rid, req).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match run(&state, &headers, &rid, &p, is_post).await {
        Ok(r) => r,
        Err(e) => browser::failure_page(&state, &headers, &rid.0, &e, "logout"),
    }
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    p: &ParamList,
    is_post: bool,
) -> Result<Response, InternalError> {
    let r = match check(state, p) {
        Ok(r) => r,
        Err(d) => {
            return Ok(error_page(
                state,
                headers,
                StatusCode::BAD_REQUEST,
                ErrorKind::BadRequest,
                Some(d),
                &rid.0,
            ));
        }
    };
    let session = browser::session(state, headers).await?;
    let Some((s, user)) = session else {
        // Nothing to end.
        let mut resp = back(state, headers, &r);
        browser::clear_session(&mut resp, state);
        return Ok(resp);
    };
    let confirmed = if is_post && p.one("confirm").is_some() {
        if let Some(page) = browser::csrf_refusal(state, headers, p.one("csrf"), &rid.0) {
            return Ok(page);
        }
        if p.one("confirm") != Some("yes") {
            // Cancelled: stay logged in.
            return Ok(see_other(
                &state.settings().endpoint(super::account::ACCOUNT_PATH),
            ));
        }
        true
    } else {
        // The relying party's own session ending needs no question.
        r.hint
            .as_ref()
            .is_some_and(|h| h.sub == user.subject && h.sid.as_deref() == Some(s.sid.as_str()))
    };
    if confirmed {
        let mut resp = back(state, headers, &r);
        end_session(state, headers, &mut resp).await?;
        return Ok(resp);
    }
    let (csrf, new) = browser::csrf_for_page(state, headers);
    let mut hidden: Vec<(&str, &str)> = Vec::new();
    for name in [
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client_id",
        "ui_locales",
    ] {
        if let Some(v) = p.one(name) {
            hidden.push((name, v));
        }
    }
    let action = state.settings().endpoint(LOGOUT_PATH);
    let view = LogoutView {
        chrome: chrome(state, browser::locale(state, &r.ui_locales, headers)),
        action: &action,
        csrf: &csrf,
        hidden: &hidden,
        client_name: r.client.as_ref().map(|c| c.name.as_str()),
    };
    let mut resp = pages::logout(StatusCode::OK, &view);
    if new {
        browser::remember_csrf(&mut resp, state, &csrf);
    }
    Ok(resp)
}
