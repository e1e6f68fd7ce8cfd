//! The authorization endpoint and the pages it leads through: login and consent (RFC 6749 §4.1,
//! OpenID Connect Core §3.1.2). A pending request lives in the store as an interaction bound to
//! the browser's CSRF secret; it completes once.

use std::net::{IpAddr, SocketAddr};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use wissel_core::flows::authorize::{
    self, AuthorizeError, PageError, Params, ReplyTo, consent_covers, grantable,
};
use wissel_core::grant::{
    AttemptBudget, AuthRequest, CodeRecord, Consent, Grant, Interaction, Reservation, Session,
};
use wissel_core::model::{Client, OIDC_SCOPES, User};
use wissel_core::ports::AuditEvent;
use wissel_core::scope::ScopeSet;
use wissel_core::{ErrorCode, InternalError, OAuthError};
use wissel_crypto::secret;

use crate::browser::{self, chrome, error_page, reply, see_other};
use crate::error::HttpError;
use crate::form::{ParamList, is_form, read_body};
use crate::observe::RequestId;
use crate::pages::{self, ConsentView, ErrorKind, LoginProblem, LoginView, ScopeLine};
use crate::state::AppState;

/// Path of the authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/authorize";
/// Path of the login page.
pub const LOGIN_PATH: &str = "/login";
/// Path of the consent page.
pub const CONSENT_PATH: &str = "/consent";

/// A browser request's headers and parameters (form body or query), parsed and bounded; a 400
/// page when they cannot be read.
pub(super) async fn read_form(
    state: &AppState,
    rid: &RequestId,
    req: Request<Body>,
) -> Result<(HeaderMap, ParamList), Response> {
    let headers = req.headers().clone();
    let parsed = read_raw(state, req).await.and_then(|raw| {
        ParamList::parse(&raw).ok_or("the request has too many or too long parameters")
    });
    match parsed {
        Ok(p) => Ok((headers, p)),
        Err(detail) => Err(error_page(
            state,
            &headers,
            StatusCode::BAD_REQUEST,
            ErrorKind::BadRequest,
            Some(detail),
            &rid.0,
        )),
    }
}

/// The form body or query of a browser request, bounded in size.
async fn read_raw(state: &AppState, req: Request<Body>) -> Result<Bytes, &'static str> {
    if req.method() == Method::POST {
        if !is_form(req.headers()) {
            return Err("the form must be application/x-www-form-urlencoded");
        }
        read_body(req, state.settings()).await.map_err(|e| match e {
            HttpError::BodyTimeout => "the request did not arrive in time",
            _ => "the request is too large",
        })
    } else {
        let q = req.uri().query().unwrap_or("");
        if q.len() > state.settings().max_body_bytes {
            return Err("the request is too large");
        }
        Ok(Bytes::copy_from_slice(q.as_bytes()))
    }
}

/// The parameters of an authorization request. A value longer than any parameter may be is cut
/// to just past that length (never to it), so that `validate` still refuses it as too long: at
/// the client once the redirect URI is known (RFC 6749 §4.1.2.1), rather than always on a page.
fn authorization_params(raw: &[u8]) -> Option<ParamList> {
    ParamList::parse(raw).or_else(|| {
        let mut clipped = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(raw) {
            let end = v.ceil_char_boundary(authorize::MAX_PARAM_LEN + 1);
            clipped.append_pair(&k, v.get(..end).unwrap_or_default());
        }
        ParamList::parse(clipped.finish().as_bytes())
    })
}

fn internal_page(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    e: &InternalError,
) -> Response {
    browser::failure_page(state, headers, &rid.0, e, "page")
}

pub(super) fn reply_error(
    state: &AppState,
    headers: &HeaderMap,
    to: &ReplyTo,
    e: &OAuthError,
) -> Response {
    reply(
        state,
        headers,
        to,
        &[
            ("error", e.code.as_str()),
            ("error_description", &e.description),
        ],
    )
}

fn reply_to(req: &AuthRequest) -> ReplyTo {
    ReplyTo {
        redirect_uri: req.redirect_uri.clone(),
        mode: req.response_mode,
        state: req.state.clone(),
    }
}

/// GET and POST /authorize.
pub(super) async fn authorize(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let headers = req.headers().clone();
    let method = req.method().as_str().to_owned();
    let peer = browser::peer(
        &state,
        req.extensions().get::<ConnectInfo<SocketAddr>>(),
        &headers,
    );
    let params = match read_raw(&state, req).await.and_then(|raw| {
        authorization_params(&raw).ok_or("the request has too many or too long parameters")
    }) {
        Ok(p) => p,
        Err(detail) => {
            return error_page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                ErrorKind::BadRequest,
                Some(detail),
                &rid.0,
            );
        }
    };
    if let Some(m) = state.medmij()
        && super::medmij_authorize::is_medmij_request(m, &params)
    {
        return match super::medmij_authorize::authorize(
            &state, &headers, &rid, m, &params, &method, peer,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => internal_page(&state, &headers, &rid, &e),
        };
    }
    let registry = state.registry();
    let (client, request) = match authorize::validate(&registry, &params) {
        Ok(v) => v,
        Err(AuthorizeError::Page(kind, detail)) => {
            tracing::info!(request_id = %rid.0, reason = %detail, "authorization request refused on a page");
            let kind = match kind {
                PageError::UnknownClient => ErrorKind::UnknownClient,
                PageError::BadRedirectUri => ErrorKind::BadRedirectUri,
            };
            return error_page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                kind,
                Some(&detail),
                &rid.0,
            );
        }
        Err(AuthorizeError::Redirect(to, e)) => return reply_error(&state, &headers, &to, &e),
    };
    match proceed(&state, &headers, &rid, &client, request, None, peer).await {
        Ok(r) => r,
        Err(e) => internal_page(&state, &headers, &rid, &e),
    }
}

/// Takes a valid request as far as it can go: to the login page, the consent page, or the
/// client with a code. `interaction` is the pending request when we come from a page; `peer`
/// the client's address, which a new pending request is counted under.
pub(super) async fn proceed(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    client: &Client,
    request: AuthRequest,
    interaction: Option<&Interaction>,
    peer: Option<IpAddr>,
) -> Result<Response, InternalError> {
    let now = state.now();
    let session = browser::session(state, headers).await?;
    let started = interaction.map(|i| i.created_at);
    let to = reply_to(&request);
    if authorize::needs_login(&request, session.as_ref().map(|(s, _)| s), started, now) {
        if request.prompt.none {
            return Ok(reply_error(
                state,
                headers,
                &to,
                &OAuthError::new(ErrorCode::LoginRequired, "the user is not logged in"),
            ));
        }
        return pending(state, headers, rid, request, interaction, LOGIN_PATH, peer).await;
    }
    if request.medmij.is_some() {
        // MedMij: the person consents to every request (core.authint.204/205).
        return pending(
            state,
            headers,
            rid,
            request,
            interaction,
            CONSENT_PATH,
            peer,
        )
        .await;
    }
    let Some((session, user)) = session else {
        return Err(InternalError::new("session vanished"));
    };
    let scopes = grantable_for(state, client, &request, &user).await?;
    if let Err(e) = check_grantable(&request, &scopes) {
        return Ok(reply_error(state, headers, &to, &e));
    }
    if client.require_consent {
        let remembered = state
            .store()
            .get_consent(&user.subject, &client.id, request.api.as_deref(), now)
            .await?;
        if request.prompt.consent || !consent_covers(remembered.as_ref(), &scopes) {
            if request.prompt.none {
                return Ok(reply_error(
                    state,
                    headers,
                    &to,
                    &OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented"),
                ));
            }
            return pending(
                state,
                headers,
                rid,
                request,
                interaction,
                CONSENT_PATH,
                peer,
            )
            .await;
        }
    }
    if let Some(i) = interaction
        && !state.store().take_interaction(&i.id).await?
    {
        // Completed in another tab meanwhile.
        return Ok(error_page(
            state,
            headers,
            StatusCode::BAD_REQUEST,
            ErrorKind::RequestExpired,
            None,
            &rid.0,
        ));
    }
    complete(
        state, headers, rid, client, &request, &session, &user, scopes,
    )
    .await
}

/// The scopes this user may grant this client for this request.
async fn grantable_for(
    state: &AppState,
    client: &Client,
    request: &AuthRequest,
    user: &User,
) -> Result<ScopeSet, InternalError> {
    let authorized = match &request.api {
        Some(api) => Some(
            state
                .store()
                .authorized_scopes(&user.username, &user.groups, api)
                .await?
                .unwrap_or_default(),
        ),
        None => None,
    };
    Ok(grantable(
        &state.registry(),
        client,
        request,
        authorized.as_ref(),
    ))
}

/// A request naming an API the user holds no scope of is refused; so is one with nothing left.
fn check_grantable(request: &AuthRequest, scopes: &ScopeSet) -> Result<(), OAuthError> {
    if request.api.is_some() && scopes.iter().all(|s| OIDC_SCOPES.contains(&s)) {
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user is not authorized for any requested scope of this API",
        ));
    }
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes may be granted to this client",
        ));
    }
    Ok(())
}

/// Stores the request (if not yet) and sends the browser to a page of ours for it.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    request: AuthRequest,
    interaction: Option<&Interaction>,
    page: &str,
    peer: Option<IpAddr>,
) -> Result<Response, InternalError> {
    let (csrf, new) = browser::csrf_for_page(state, headers);
    let id = match interaction {
        Some(i) if !new && i.csrf == secret::digest(csrf.as_bytes()) => i.id.clone(),
        _ => match start_interaction(state, Some(request), &csrf, peer).await? {
            Some(id) => id,
            None => return Ok(too_many_pending(state, headers, rid)),
        },
    };
    let mut r = see_other(&format!("{}{page}?i={id}", state.settings().issuer));
    if new {
        browser::remember_csrf(&mut r, state, &csrf);
    }
    Ok(r)
}

/// Stores a new pending request bound to this CSRF secret, counted against the client
/// address's budget of `login.pending_per_address` per `login.interaction_lifetime` (one
/// conditional statement): what an anonymous caller can make the server store is bounded per
/// address. `None`, with nothing stored, when the budget is spent.
async fn start_interaction(
    state: &AppState,
    request: Option<AuthRequest>,
    csrf: &str,
    peer: Option<IpAddr>,
) -> Result<Option<String>, InternalError> {
    let now = state.now();
    let login = &state.settings().login;
    if let Some(ip) = peer {
        let budget = AttemptBudget {
            key: format!("pending:{}", browser::address_key(ip)),
            limit: login.pending_per_address,
        };
        let since = now.saturating_sub(login.interaction_lifetime);
        let reserved = state
            .store()
            .reserve_attempts(std::slice::from_ref(&budget), since, now)
            .await?;
        if reserved != Reservation::Granted {
            metrics::counter!("wissel_login_refused_total", "reason" => "pending_per_address")
                .increment(1);
            tracing::warn!(
                key = %budget.key,
                "an address started more than login.pending_per_address pending requests"
            );
            return Ok(None);
        }
    }
    let i = Interaction {
        id: secret::generate_secret(),
        request,
        csrf: secret::digest(csrf.as_bytes()),
        created_at: now,
        expires_at: now.saturating_add(login.interaction_lifetime),
    };
    state.store().put_interaction(&i).await?;
    Ok(Some(i.id))
}

/// The 429 page for an address that started too many pending requests.
fn too_many_pending(state: &AppState, headers: &HeaderMap, rid: &RequestId) -> Response {
    let mut r = error_page(
        state,
        headers,
        StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::TooManyRequests,
        None,
        &rid.0,
    );
    if let Ok(v) =
        header::HeaderValue::from_str(&state.settings().login.interaction_lifetime.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Issues the code and sends it to the client.
#[allow(clippy::too_many_arguments)]
async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    client: &Client,
    request: &AuthRequest,
    session: &Session,
    user: &User,
    scope: ScopeSet,
) -> Result<Response, InternalError> {
    let now = state.now();
    let lt = &client.lifetimes;
    let offline = scope.contains("offline_access");
    let refresh = wissel_core::flows::code::issues_refresh(client, &scope);
    let grant = Grant {
        id: secret::generate_id(),
        client_id: client.id.clone(),
        subject: user.subject.clone(),
        api: request.api.clone(),
        scope: scope.clone(),
        auth_time: session.auth_time,
        sid: Some(session.sid.clone()),
        offline,
        parent: None,
        created_at: now,
        expires_at: now.saturating_add(if refresh {
            lt.refresh_absolute
        } else {
            lt.code + wissel_core::flows::code::longest_access_lifetime(&state.registry(), client)
        }),
        revoked_at: None,
    };
    let code = secret::generate_secret();
    if code.len() != 43 || grant.id.is_empty() {
        return Err(InternalError::new("random source failed"));
    }
    let record = CodeRecord {
        grant_id: grant.id.clone(),
        client_id: client.id.clone(),
        subject: user.subject.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_given: request.redirect_uri_given,
        code_challenge: request.code_challenge.clone(),
        code_challenge_method: request.code_challenge_method,
        nonce: request.nonce.clone(),
        scope,
        api: request.api.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        sid: Some(session.sid.clone()),
        issued_at: now,
        expires_at: now.saturating_add(lt.code),
        medmij: None,
    };
    state
        .store()
        .issue_code(&grant, &secret::digest(code.as_bytes()), &record)
        .await?;
    state.audit(&AuditEvent {
        kind: "code_issued",
        outcome: "success".into(),
        actor: Some(client.id.clone()),
        client: Some(client.id.clone()),
        api: request.api.clone(),
        subject: Some(user.subject.clone()),
        grant: Some(grant.id.clone()),
        jti: None,
        request_id: Some(rid.0.clone()),
    });
    Ok(reply(
        state,
        headers,
        &reply_to(request),
        &[("code", &code)],
    ))
}

/// The `?i=` of the login and consent pages.
#[derive(Deserialize)]
pub(super) struct InteractionQuery {
    i: Option<String>,
}

/// A pending request by id, checked against this browser's CSRF cookie.
async fn interaction(
    state: &AppState,
    headers: &HeaderMap,
    id: Option<&str>,
) -> Result<Option<Interaction>, InternalError> {
    let Some(id) = id.filter(|i| i.len() == 43) else {
        return Ok(None);
    };
    let Some(i) = state.store().get_interaction(id, state.now()).await? else {
        return Ok(None);
    };
    let bound = browser::csrf_cookie(state, headers)
        .is_some_and(|c| secret::digest(c.as_bytes()) == i.csrf);
    Ok(bound.then_some(i))
}

pub(super) fn expired_page(state: &AppState, headers: &HeaderMap, rid: &RequestId) -> Response {
    error_page(
        state,
        headers,
        StatusCode::BAD_REQUEST,
        ErrorKind::RequestExpired,
        None,
        &rid.0,
    )
}

fn client_name(client: Option<&std::sync::Arc<Client>>) -> &str {
    client.map_or("", |c| c.name.as_str())
}

/// GET /login?i=…
pub(super) async fn login_page(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<InteractionQuery>,
) -> Response {
    let i = match interaction(&state, &headers, q.i.as_deref()).await {
        Ok(Some(i)) => i,
        Ok(None) => return expired_page(&state, &headers, &rid),
        Err(e) => return internal_page(&state, &headers, &rid, &e),
    };
    render_login(&state, &headers, &i, "", None, StatusCode::OK)
}

fn render_login(
    state: &AppState,
    headers: &HeaderMap,
    i: &Interaction,
    username: &str,
    problem: Option<LoginProblem>,
    status: StatusCode,
) -> Response {
    let registry = state.registry();
    let (ui_locales, hint, client) = match &i.request {
        Some(r) => (
            r.ui_locales.as_slice(),
            r.login_hint.as_deref().unwrap_or(""),
            registry.client(&r.client_id),
        ),
        None => (&[][..], "", None),
    };
    let csrf = browser::csrf_cookie(state, headers).unwrap_or("");
    let action = state.settings().endpoint(LOGIN_PATH);
    let view = LoginView {
        chrome: chrome(state, browser::locale(state, ui_locales, headers)),
        action: &action,
        interaction: &i.id,
        csrf,
        username: if username.is_empty() { hint } else { username },
        client_name: client_name(client),
        problem,
    };
    pages::login(status, &view)
}

/// POST /login
pub(super) async fn login_submit(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let addr = req.extensions().get::<ConnectInfo<SocketAddr>>().cloned();
    let (headers, form) = match read_form(&state, &rid, req).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match login(&state, &headers, &rid, addr.as_ref(), &form).await {
        Ok(r) => r,
        Err(e) => internal_page(&state, &headers, &rid, &e),
    }
}

async fn login(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    addr: Option<&ConnectInfo<SocketAddr>>,
    form: &ParamList,
) -> Result<Response, InternalError> {
    let Some(i) = interaction(state, headers, form.one("i")).await? else {
        return Ok(expired_page(state, headers, rid));
    };
    if let Some(page) = browser::csrf_refusal(state, headers, form.one("csrf"), &rid.0) {
        return Ok(page);
    }
    let username = form.one("username").unwrap_or("").trim();
    let password = form.one("password").unwrap_or("");
    if username.is_empty() || password.is_empty() || username.len() > 256 || password.len() > 1024 {
        return Ok(render_login(
            state,
            headers,
            &i,
            username.get(..256).unwrap_or(""),
            Some(LoginProblem::BadCredentials),
            StatusCode::BAD_REQUEST,
        ));
    }
    let login = &state.settings().login;
    let now = state.now();
    let since = now.saturating_sub(login.failure_window);
    let account = username.to_lowercase();
    // The owner's browser (it logged in to this account before) is counted under its own key
    // instead of the account's, so a lock on the account does not lock the owner out
    // (decision 0010); its own budget is as strict.
    let owner_key = match browser::known_device(state, headers, &account) {
        Some(device) => device,
        None => format!("account:{account}"),
    };
    let mut budgets = vec![AttemptBudget {
        key: owner_key.clone(),
        limit: login.account_failures,
    }];
    let address_key = browser::peer(state, addr, headers).map(browser::address_key);
    if let Some(key) = &address_key {
        budgets.push(AttemptBudget {
            key: key.clone(),
            limit: login.address_failures,
        });
    }
    let interaction_budget = budgets.len();
    budgets.push(AttemptBudget {
        key: format!("interaction:{}", i.id),
        limit: login.interaction_failures,
    });
    // A place in the bounded hash queue first, so that a refusal for load spends no attempt.
    let Some(slot) = state.hash_slot() else {
        audit_login(state, rid, "busy", None);
        let mut r = render_login(
            state,
            headers,
            &i,
            username,
            Some(LoginProblem::Busy),
            StatusCode::SERVICE_UNAVAILABLE,
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Ok(r);
    };
    // Reserve the attempt before the password is checked: parallel guesses cannot all pass.
    match state.store().reserve_attempts(&budgets, since, now).await? {
        Reservation::Granted => {}
        Reservation::Refused(k) if k == interaction_budget => {
            // This pending request has had its password checks: it is spent.
            state.store().take_interaction(&i.id).await?;
            metrics::counter!("wissel_login_refused_total", "reason" => "interaction_spent")
                .increment(1);
            audit_login(state, rid, "interaction_spent", None);
            return Ok(expired_page(state, headers, rid));
        }
        Reservation::Refused(_) => {
            metrics::counter!("wissel_login_refused_total", "reason" => "throttled").increment(1);
            audit_login(state, rid, "throttled", None);
            return Ok(render_login(
                state,
                headers,
                &i,
                username,
                Some(LoginProblem::Throttled),
                StatusCode::TOO_MANY_REQUESTS,
            ));
        }
    }
    let user = state.store().find_user(username).await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .map(|u| u.password_hash.clone());
    let (ok, fresh) = state
        .check_password(slot, password.to_owned(), hash)
        .await?;
    let user = match user {
        Some(u) if ok => u,
        _ => {
            // The reserved attempt stays counted: it was a failure.
            audit_login(state, rid, "bad_credentials", None);
            return Ok(render_login(
                state,
                headers,
                &i,
                username,
                Some(LoginProblem::BadCredentials),
                StatusCode::UNAUTHORIZED,
            ));
        }
    };
    if let Some(fresh) = fresh {
        state
            .store()
            .rehash_password(&user.subject, &user.password_hash, &fresh)
            .await?;
    }
    // A success clears its owner's count (never the account's when it came through a known
    // browser: the attacker's failures still count) and gives the address its attempt back.
    state.store().clear_login_failures(&owner_key).await?;
    if let Some(key) = address_key {
        state.store().release_attempts(&[key]).await?;
    }
    let value = secret::generate_secret();
    let session = Session {
        digest: secret::digest(value.as_bytes()),
        sid: secret::generate_id(),
        subject: user.subject.clone(),
        auth_time: now,
        amr: vec!["pwd".into()],
        acr: None,
        created_at: now,
        last_seen: now,
        expires_at: now.saturating_add(login.session_max_age),
    };
    if value.len() != 43 || session.sid.is_empty() {
        return Err(InternalError::new("random source failed"));
    }
    state.store().create_session(&session).await?;
    // A previous session of this browser ends: one browser, one session.
    if let Some(old) = browser::session_digest(state, headers) {
        state.store().end_session(&old).await?;
    }
    audit_login(state, rid, "success", Some(&user.subject));
    // Carry on with the request, now with the new session cookie.
    let mut headers = headers.clone();
    let csrf = browser::csrf_cookie(state, &headers)
        .unwrap_or("")
        .to_owned();
    set_request_cookies(state, &mut headers, &value, &csrf);
    let mut resp = match &i.request {
        None => {
            if !state.store().take_interaction(&i.id).await? {
                return Ok(expired_page(state, &headers, rid));
            }
            see_other(&state.settings().endpoint(super::account::ACCOUNT_PATH))
        }
        Some(request) => {
            let registry = state.registry();
            match registry.client(&request.client_id).filter(|c| !c.disabled) {
                Some(client) => {
                    let peer = browser::peer(state, addr, &headers);
                    proceed(
                        state,
                        &headers,
                        rid,
                        client,
                        request.clone(),
                        Some(&i),
                        peer,
                    )
                    .await?
                }
                None => error_page(
                    state,
                    &headers,
                    StatusCode::BAD_REQUEST,
                    ErrorKind::UnknownClient,
                    None,
                    &rid.0,
                ),
            }
        }
    };
    browser::start_session(&mut resp, state, &value);
    browser::remember_device(&mut resp, state, &account);
    Ok(resp)
}

/// Makes the request's headers carry the new session cookie, so that what follows in this
/// request sees the session just started.
fn set_request_cookies(state: &AppState, headers: &mut HeaderMap, session: &str, csrf: &str) {
    let (s, c) = browser::names(state.settings().login.secure_cookies);
    headers.remove(header::COOKIE);
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{s}={session}; {c}={csrf}")) {
        headers.insert(header::COOKIE, v);
    }
}

fn audit_login(state: &AppState, rid: &RequestId, outcome: &str, subject: Option<&str>) {
    state.audit(&AuditEvent {
        kind: "login",
        outcome: outcome.to_owned(),
        actor: None,
        client: None,
        api: None,
        subject: subject.map(str::to_owned),
        grant: None,
        jti: None,
        request_id: Some(rid.0.clone()),
    });
}

/// GET /consent?i=…
pub(super) async fn consent_page(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    Query(q): Query<InteractionQuery>,
) -> Response {
    match consent_view(&state, &headers, &rid, q.i.as_deref()).await {
        Ok(r) => r,
        Err(e) => internal_page(&state, &headers, &rid, &e),
    }
}

/// What the consent step works on: the pending request, its (enabled) client, and the logged-in
/// user; otherwise the page to show instead (expired, or the login page when the session ended).
#[allow(clippy::type_complexity)]
async fn consent_step(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    i: &Interaction,
) -> Result<Result<(AuthRequest, std::sync::Arc<Client>, Session, User), Response>, InternalError> {
    let Some(request) = i.request.clone() else {
        return Ok(Err(expired_page(state, headers, rid)));
    };
    let Some(client) = state
        .registry()
        .client(&request.client_id)
        .filter(|c| !c.disabled)
        .cloned()
    else {
        return Ok(Err(expired_page(state, headers, rid)));
    };
    let Some((session, user)) = browser::session(state, headers).await? else {
        // Logged out meanwhile: log in again for this request.
        return Ok(Err(see_other(&format!(
            "{}?i={}",
            state.settings().endpoint(LOGIN_PATH),
            i.id
        ))));
    };
    Ok(Ok((request, client, session, user)))
}

async fn consent_view(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    id: Option<&str>,
) -> Result<Response, InternalError> {
    let Some(i) = interaction(state, headers, id).await? else {
        return Ok(expired_page(state, headers, rid));
    };
    let (request, client, _, user) = match consent_step(state, headers, rid, &i).await? {
        Ok(parts) => parts,
        Err(page) => return Ok(page),
    };
    if request.medmij.is_some() {
        return super::medmij_authorize::consent_page(
            state, headers, rid, &i, &request, &client, &user, None,
        )
        .await;
    }
    let request = &request;
    let client = &client;
    let registry = state.registry();
    let scopes = grantable_for(state, client, request, &user).await?;
    let api = request.api.as_deref().and_then(|a| registry.api(a));
    let lines: Vec<ScopeLine<'_>> = scopes
        .iter()
        .map(|s| ScopeLine {
            scope: s,
            description: api.and_then(|a| a.scopes.get(s)).map_or("", String::as_str),
        })
        .collect();
    let csrf = browser::csrf_cookie(state, headers).unwrap_or("");
    let action = state.settings().endpoint(CONSENT_PATH);
    let display = user
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or(&user.username);
    let view = ConsentView {
        chrome: chrome(state, browser::locale(state, &request.ui_locales, headers)),
        action: &action,
        interaction: &i.id,
        csrf,
        client_name: &client.name,
        user: display,
        scopes: lines,
        remember_days: client.lifetimes.consent / 86_400,
    };
    Ok(pages::consent(StatusCode::OK, &view))
}

/// POST /consent
pub(super) async fn consent_submit(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let (headers, form) = match read_form(&state, &rid, req).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match consent(&state, &headers, &rid, &form).await {
        Ok(r) => r,
        Err(e) => internal_page(&state, &headers, &rid, &e),
    }
}

async fn consent(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    form: &ParamList,
) -> Result<Response, InternalError> {
    let Some(i) = interaction(state, headers, form.one("i")).await? else {
        return Ok(expired_page(state, headers, rid));
    };
    if let Some(page) = browser::csrf_refusal(state, headers, form.one("csrf"), &rid.0) {
        return Ok(page);
    }
    let (request, client, session, user) = match consent_step(state, headers, rid, &i).await? {
        Ok(parts) => parts,
        Err(page) => return Ok(page),
    };
    if request.medmij.is_some() {
        return super::medmij_authorize::consent_submit(
            state, headers, rid, &i, &request, &client, &session, &user, form,
        )
        .await;
    }
    let client = &client;
    let to = reply_to(&request);
    let decision = form.one("decision");
    if decision != Some("allow") {
        if decision != Some("deny") {
            return Ok(error_page(
                state,
                headers,
                StatusCode::BAD_REQUEST,
                ErrorKind::BadRequest,
                Some("decision must be allow or deny"),
                &rid.0,
            ));
        }
        if !state.store().take_interaction(&i.id).await? {
            return Ok(expired_page(state, headers, rid));
        }
        state.audit(&AuditEvent {
            kind: "consent",
            outcome: "denied".into(),
            actor: None,
            client: Some(client.id.clone()),
            api: request.api.clone(),
            subject: Some(user.subject.clone()),
            grant: None,
            jti: None,
            request_id: Some(rid.0.clone()),
        });
        return Ok(reply_error(
            state,
            headers,
            &to,
            &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        ));
    }
    let scopes = grantable_for(state, client, &request, &user).await?;
    if let Err(e) = check_grantable(&request, &scopes) {
        return Ok(reply_error(state, headers, &to, &e));
    }
    let now = state.now();
    if !state.store().take_interaction(&i.id).await? {
        return Ok(expired_page(state, headers, rid));
    }
    // Remember what was consented to, with what is still remembered for this client and API.
    let remembered = state
        .store()
        .get_consent(&user.subject, &client.id, request.api.as_deref(), now)
        .await?
        .map(|c| c.scopes)
        .unwrap_or_default();
    state
        .store()
        .put_consent(&Consent {
            subject: user.subject.clone(),
            client_id: client.id.clone(),
            api: request.api.clone(),
            scopes: remembered.union(&scopes),
            granted_at: now,
            expires_at: now.saturating_add(client.lifetimes.consent),
        })
        .await?;
    state.audit(&AuditEvent {
        kind: "consent",
        outcome: "given".into(),
        actor: None,
        client: Some(client.id.clone()),
        api: request.api.clone(),
        subject: Some(user.subject.clone()),
        grant: None,
        jti: None,
        request_id: Some(rid.0.clone()),
    });
    complete(
        state, headers, rid, client, &request, &session, &user, scopes,
    )
    .await
}

/// Starts a login for the account page (no authorization request).
pub(super) async fn account_login(
    state: &AppState,
    headers: &HeaderMap,
    rid: &RequestId,
    peer: Option<IpAddr>,
) -> Result<Response, InternalError> {
    let (csrf, new) = browser::csrf_for_page(state, headers);
    let Some(id) = start_interaction(state, None, &csrf, peer).await? else {
        return Ok(too_many_pending(state, headers, rid));
    };
    let mut r = see_other(&format!(
        "{}?i={}",
        state.settings().endpoint(LOGIN_PATH),
        id
    ));
    if new {
        browser::remember_csrf(&mut r, state, &csrf);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_for_an_api_needs_an_api_scope() {
        let mut req = AuthRequest {
            client_id: "c".into(),
            redirect_uri: "https://c/cb".into(),
            redirect_uri_given: true,
            response_mode: Default::default(),
            state: None,
            nonce: None,
            scope: ScopeSet::parse("openid r").unwrap_or_default(),
            api: Some("api".into()),
            code_challenge: None,
            code_challenge_method: None,
            prompt: Default::default(),
            max_age: None,
            login_hint: None,
            ui_locales: vec![],
            acr_values: vec![],
            medmij: None,
        };
        let openid = ScopeSet::parse("openid").unwrap_or_default();
        assert_eq!(
            check_grantable(&req, &openid).map_err(|e| e.code),
            Err(ErrorCode::AccessDenied)
        );
        assert!(check_grantable(&req, &ScopeSet::parse("openid r").unwrap_or_default()).is_ok());
        req.api = None;
        assert!(check_grantable(&req, &openid).is_ok());
        assert_eq!(
            check_grantable(&req, &ScopeSet::new()).map_err(|e| e.code),
            Err(ErrorCode::InvalidScope)
        );
    }
}
