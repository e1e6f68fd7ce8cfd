//! The account page: a logged-in user's consents (per client and API) and sessions, each
//! revocable. Withdrawing a consent revokes every grant the client holds from the user for that
//! API (its refresh tokens and access tokens); ending a session ends it everywhere.

use std::net::{IpAddr, SocketAddr};

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use wissel_core::InternalError;
use wissel_core::flows::authorize::Params;
use wissel_core::ports::AuditEvent;

use super::authorize::{account_login, read_form};
use crate::browser::{self, chrome, error_page, see_other};
use crate::form::ParamList;
use crate::observe::RequestId;
use crate::pages::{
    self, AccountNotice, AccountView, ConsentRow, ErrorKind, GegevensdienstLine, MedmijConsentRow,
    MedmijEndView, ScopeLine, SessionRow,
};
use crate::state::AppState;

/// Path of the account page.
pub const ACCOUNT_PATH: &str = "/account";
/// Where a consent is withdrawn.
pub const REVOKE_CONSENT_PATH: &str = "/account/consents/revoke";
/// Where a session is ended.
pub const END_SESSION_PATH: &str = "/account/sessions/end";
/// Where a person ends a MedMij consent (GET: the Beëindigingsverklaring; POST: end it).
pub const END_MEDMIJ_CONSENT_PATH: &str = "/account/medmij/end";

/// A date for people: `2026-11-22 14:05 UTC`.
fn when(t: i64) -> String {
    let c = wissel_core::civil::from_unix(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

#[derive(Deserialize)]
pub(super) struct Notice {
    done: Option<String>,
}

/// GET /account
pub(super) async fn account(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(q): Query<Notice>,
) -> Response {
    let peer = browser::peer(&state, addr.as_ref().map(|a| &a.0), &headers);
    match page(&state, &headers, &rid, peer, q.done.as_deref()).await {
        Ok(r) => r,
        Err(e) => failed(&state, &headers, &rid, &e),
    }
}

fn failed(state: &AppState, headers: &HeaderMap, rid: &RequestId, e: &InternalError) -> Response {
    browser::failure_page(state, headers, &rid.0, e, "account page")
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    peer: Option<IpAddr>,
    done: Option<&str>,
) -> Result<Response, InternalError> {
    let Some((session, user)) = browser::session(state, headers).await? else {
        return account_login(state, headers, rid, peer).await;
    };
    let now = state.now();
    let registry = state.registry();
    let consents = state.store().consents_of(&user.subject, now).await?;
    let sessions = state.store().sessions_of(&user.subject, now).await?;
    let (csrf, new) = browser::csrf_for_page(state, headers);
    // Which consents still have something granted under them (item 14 of issue 10): a consent
    // whose grants were all revoked or ended is marked, not hidden, since it still spares the
    // client a consent page.
    let grants = state
        .store()
        .live_grants(&user.subject, None, None, now)
        .await?;
    let rows: Vec<ConsentRow<'_>> = consents
        .iter()
        .map(|c| ConsentRow {
            client_id: &c.client_id,
            client_name: registry
                .client(&c.client_id)
                .map_or(c.client_id.as_str(), |cl| cl.name.as_str()),
            api: c.api.as_deref(),
            api_name: c
                .api
                .as_deref()
                .map(|a| registry.api(a).map_or(a, |api| api.name.as_str())),
            in_use: grants
                .iter()
                .any(|g| g.client_id == c.client_id && g.api == c.api),
            scopes: c
                .scopes
                .iter()
                .map(|s| ScopeLine {
                    scope: s,
                    description: "",
                })
                .collect(),
            granted: when(c.granted_at),
            expires: when(c.expires_at),
        })
        .collect();
    let session_rows: Vec<SessionRow<'_>> = sessions
        .iter()
        .map(|s| SessionRow {
            sid: &s.sid,
            started: when(s.auth_time),
            last_seen: when(s.last_seen),
            current: s.sid == session.sid,
        })
        .collect();
    let display = user
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or(&user.username);
    let medmij_consents = match state.medmij() {
        Some(_) => Some(state.store().medmij_consents_of(&user.subject, now).await?),
        None => None,
    };
    let lists = state.medmij().map(|m| m.lists());
    let medmij_rows = match (&medmij_consents, &lists) {
        (Some(consents), Some(lists)) => Some(
            consents
                .iter()
                .map(|c| medmij_row(c, lists, &registry))
                .collect(),
        ),
        _ => None,
    };
    let view = AccountView {
        chrome: chrome(state, browser::locale(state, &[], headers)),
        csrf: &csrf,
        user: display,
        consents: rows,
        sessions: session_rows,
        medmij: medmij_rows,
        notice: match done {
            Some("consent") => Some(AccountNotice::ConsentRevoked),
            Some("session") => Some(AccountNotice::SessionEnded),
            Some("medmij") => Some(AccountNotice::MedmijConsentEnded),
            _ => None,
        },
    };
    let mut resp = pages::account(StatusCode::OK, &view);
    if new {
        browser::remember_csrf(&mut resp, state, &csrf);
    }
    Ok(resp)
}

/// A MedMij consent as the person reads it: the PGO and the aanbieder by name, the
/// gegevensdiensten by their GNL names.
fn medmij_row<'a>(
    c: &'a wissel_core::grant::MedmijConsent,
    lists: &'a crate::medmij::Lists,
    registry: &'a wissel_core::model::Registry,
) -> MedmijConsentRow<'a> {
    MedmijConsentRow {
        id: &c.id,
        pgo: registry
            .client(&c.client_id)
            .map_or(c.client_id.as_str(), |cl| cl.name.as_str()),
        aanbieder: lists
            .aanbieder_by_naam(&c.aanbieder)
            .map_or(c.aanbieder.as_str(), |a| a.display_name.as_str()),
        gegevensdiensten: c
            .gegevensdiensten
            .iter()
            .map(|id| GegevensdienstLine {
                id,
                name: lists.gegevensdienst_name(id),
            })
            .collect(),
        granted: when(c.granted_at),
        until: when(c.expires_at),
    }
}

#[derive(Deserialize)]
pub(super) struct ConsentId {
    id: Option<String>,
}

/// GET /account/medmij/end?id=…: the Beëindigingsverklaring of one of the person's consents.
pub(super) async fn medmij_end_page(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(q): Query<ConsentId>,
) -> Response {
    let peer = browser::peer(&state, addr.as_ref().map(|a| &a.0), &headers);
    let result: Result<Response, InternalError> = async {
        let Some((_, user)) = browser::session(&state, &headers).await? else {
            return account_login(&state, &headers, &rid, peer).await;
        };
        let (Some(m), Some(id)) = (state.medmij(), q.id.as_deref()) else {
            return Ok(error_page(
                &state,
                &headers,
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                None,
                &rid.0,
            ));
        };
        let consents = state
            .store()
            .medmij_consents_of(&user.subject, state.now())
            .await?;
        let Some(consent) = consents.iter().find(|c| c.id == id) else {
            return Ok(error_page(
                &state,
                &headers,
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                Some("no such consent"),
                &rid.0,
            ));
        };
        let lists = m.lists();
        let registry = state.registry();
        let (csrf, new) = browser::csrf_for_page(&state, &headers);
        let action = state.settings().endpoint(END_MEDMIJ_CONSENT_PATH);
        let view = MedmijEndView {
            chrome: chrome(&state, browser::locale(&state, &[], &headers)),
            action: &action,
            csrf: &csrf,
            consent: medmij_row(consent, &lists, &registry),
        };
        let mut resp = pages::medmij_end(StatusCode::OK, &view);
        if new {
            browser::remember_csrf(&mut resp, &state, &csrf);
        }
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(|e| failed(&state, &headers, &rid, &e))
}

/// POST /account/medmij/end: ends the consent and revokes its grant, so that its refresh token
/// fails (`invalid_grant`) and its access tokens go inactive on every node.
pub(super) async fn end_medmij_consent(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let (headers, form, _, user) = match action(&state, &rid, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Some(m), Some(id)) = (state.medmij(), form.one("id")) else {
        return error_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            ErrorKind::BadRequest,
            Some("id is required"),
            &rid.0,
        );
    };
    let result: Result<(), InternalError> = async {
        if let Some(ended) = state
            .store()
            .end_medmij_consent(&user.subject, id, state.now())
            .await?
        {
            state
                .revoke_grant(&ended.grant_id, m.settings().access_token_lifetime)
                .await?;
            tracing::info!(target: "wissel::medmij", client = %ended.client_id, aanbieder = %ended.aanbieder, grant = %ended.grant_id, "consent ended by the person");
            state.audit(&AuditEvent {
                kind: "medmij_consent_ended",
                outcome: "success".into(),
                actor: None,
                client: Some(ended.client_id.clone()),
                api: None,
                subject: Some(user.subject.clone()),
                grant: Some(ended.grant_id.clone()),
                jti: None,
                request_id: Some(rid.0.clone()),
            });
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => see_other(&format!(
            "{}?done=medmij",
            state.settings().endpoint(ACCOUNT_PATH)
        )),
        Err(e) => failed(&state, &headers, &rid, &e),
    }
}

/// Checks the form of an account action: parsed, CSRF-protected, from a logged-in browser.
async fn action(
    state: &AppState,
    rid: &RequestId,
    req: Request<Body>,
) -> Result<
    (
        HeaderMap,
        ParamList,
        wissel_core::grant::Session,
        wissel_core::model::User,
    ),
    Response,
> {
    let (headers, form) = read_form(state, rid, req).await?;
    if let Some(page) = browser::csrf_refusal(state, &headers, form.one("csrf"), &rid.0) {
        return Err(page);
    }
    match browser::session(state, &headers).await {
        Ok(Some((s, u))) => Ok((headers, form, s, u)),
        Ok(None) => Err(see_other(&state.settings().endpoint(ACCOUNT_PATH))),
        Err(e) => Err(failed(state, &headers, rid, &e)),
    }
}

/// POST /account/consents/revoke
pub(super) async fn revoke_consent(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let (headers, form, _, user) = match action(&state, &rid, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(client_id) = form.one("client_id") else {
        return error_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            ErrorKind::BadRequest,
            Some("client_id is required"),
            &rid.0,
        );
    };
    let api = form.one("api");
    let result: Result<(), InternalError> = async {
        state
            .store()
            .delete_consent(&user.subject, client_id, api)
            .await?;
        let now = state.now();
        for g in state
            .store()
            .live_grants(&user.subject, Some(client_id), None, now)
            .await?
            .into_iter()
            .filter(|g| g.api.as_deref() == api)
        {
            state.revoke_client_grant(&g.id, &g.client_id).await?;
        }
        state.audit(&AuditEvent {
            kind: "consent_revoked",
            outcome: "success".into(),
            actor: None,
            client: Some(client_id.to_owned()),
            api: api.map(str::to_owned),
            subject: Some(user.subject.clone()),
            grant: None,
            jti: None,
            request_id: Some(rid.0.clone()),
        });
        Ok(())
    }
    .await;
    match result {
        Ok(()) => see_other(&format!(
            "{}?done=consent",
            state.settings().endpoint(ACCOUNT_PATH)
        )),
        Err(e) => failed(&state, &headers, &rid, &e),
    }
}

/// POST /account/sessions/end
pub(super) async fn end_session(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let (headers, form, current, user) = match action(&state, &rid, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(sid) = form.one("sid") else {
        return error_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            ErrorKind::BadRequest,
            Some("sid is required"),
            &rid.0,
        );
    };
    if sid == current.sid {
        // Ending this browser's own session is a logout.
        let mut done = pages::logged_out(
            StatusCode::OK,
            &pages::LoggedOutView {
                chrome: chrome(&state, browser::locale(&state, &[], &headers)),
            },
        );
        return match super::logout::end_session(&state, &headers, &mut done).await {
            Ok(()) => done,
            Err(e) => failed(&state, &headers, &rid, &e),
        };
    }
    let result: Result<(), InternalError> = async {
        if state.store().end_session_by_sid(&user.subject, sid).await? {
            let now = state.now();
            for g in state
                .store()
                .live_grants(&user.subject, None, Some(sid), now)
                .await?
            {
                state.revoke_client_grant(&g.id, &g.client_id).await?;
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => see_other(&format!(
            "{}?done=session",
            state.settings().endpoint(ACCOUNT_PATH)
        )),
        Err(e) => failed(&state, &headers, &rid, &e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_795_350_300), "2026-11-22 12:25 UTC");
        assert_eq!(super::when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
