//! What each page shows. Every view is its own askama template (`templates/*.html`, all
//! extending `base.html`); the small methods here keep decisions (which text, which attribute)
//! out of the templates.

use askama::Template;

use super::i18n::{Locale, Texts};

/// Header common to every page.
pub struct Chrome<'a> {
    /// Language of the page.
    pub locale: Locale,
    /// The server's name as users know it: page titles, header, logout question.
    pub product_name: &'a str,
    /// An operator stylesheet is configured: link `/static/theme.css` after `/static/wissel.css`.
    pub theme_css: bool,
    /// An operator logo is configured: show `/static/logo` (alt text: the product name).
    pub logo: bool,
}

impl Chrome<'_> {
    /// The texts of the page's language.
    pub fn t(&self) -> &'static Texts {
        self.locale.texts()
    }

    /// What the user reads for a scope, in the page's language (see [`ScopeLine::describe`]).
    pub fn describe<'l>(&self, line: &'l ScopeLine<'_>) -> &'l str {
        line.describe(self.locale)
    }
}

/// Why the login form is shown again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginProblem {
    /// Wrong username or password (never says which, nor whether the account exists).
    BadCredentials,
    /// Too many failed attempts; try again later.
    Throttled,
    /// The request took too long; start again.
    Expired,
    /// Too many logins at once (the password-hash queue is full); try again in a moment.
    Busy,
}

/// The login form. It POSTs `i` (interaction), `csrf`, `username` and `password` to `action`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// Form action URL.
    pub action: &'a str,
    /// Interaction id, posted back as `i`.
    pub interaction: &'a str,
    /// CSRF token, posted back as `csrf`.
    pub csrf: &'a str,
    /// Username to prefill (from `login_hint` or the failed attempt).
    pub username: &'a str,
    /// Name of the application the user is logging in to; empty to leave it out.
    pub client_name: &'a str,
    /// Why the form is shown again, if it is.
    pub problem: Option<LoginProblem>,
}

impl LoginView<'_> {
    /// The message for the problem, announced as an alert.
    fn problem_message(&self) -> Option<&'static str> {
        let t = self.chrome.t();
        self.problem.map(|problem| match problem {
            LoginProblem::BadCredentials => t.login_bad_credentials,
            LoginProblem::Throttled => t.login_throttled,
            LoginProblem::Expired => t.login_expired,
            LoginProblem::Busy => t.login_busy,
        })
    }

    /// Stable, language-independent name of the problem for the `data-error` attribute.
    fn problem_code(&self) -> &'static str {
        match self.problem {
            Some(LoginProblem::BadCredentials) => "bad_credentials",
            Some(LoginProblem::Throttled) => "throttled",
            Some(LoginProblem::Expired) => "expired",
            Some(LoginProblem::Busy) => "busy",
            None => "",
        }
    }

    /// Whether the fields themselves are wrong (as opposed to the attempt being refused).
    fn fields_invalid(&self) -> bool {
        self.problem == Some(LoginProblem::BadCredentials)
    }
}

/// One scope of a consent, with its description.
pub struct ScopeLine<'a> {
    /// The scope as requested, e.g. `email`.
    pub scope: &'a str,
    /// The operator's description; empty when there is none.
    pub description: &'a str,
}

impl ScopeLine<'_> {
    /// What the user reads: the operator's description, else the built-in description of a
    /// well-known scope, else the scope's name.
    pub fn describe(&self, locale: Locale) -> &str {
        if !self.description.is_empty() {
            self.description
        } else {
            locale.scope_description(self.scope).unwrap_or(self.scope)
        }
    }
}

/// The consent question. The form POSTs `i`, `csrf` and `decision=allow|deny` to `action`.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// Form action URL.
    pub action: &'a str,
    /// Interaction id, posted back as `i`.
    pub interaction: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Name of the application asking for access.
    pub client_name: &'a str,
    /// The logged-in user, as shown to them.
    pub user: &'a str,
    /// The scopes asked for.
    pub scopes: Vec<ScopeLine<'a>>,
    /// How long an approval is remembered; 0 or less: not remembered.
    pub remember_days: i64,
}

impl ConsentView<'_> {
    fn remembered(&self) -> String {
        self.chrome.locale.consent_remembered(self.remember_days)
    }
}

/// What went wrong, as the error page explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The `client_id` is unknown: the user cannot continue and is not sent back.
    UnknownClient,
    /// The `redirect_uri` is not registered: the user cannot continue and is not sent back.
    BadRedirectUri,
    /// The interaction expired.
    RequestExpired,
    /// The CSRF check of a form failed.
    CsrfFailed,
    /// A malformed request.
    BadRequest,
    /// No such page.
    NotFound,
    /// An internal error.
    ServerError,
    /// The page needs a logged-in user.
    LoginRequired,
    /// The client's address started too many pending requests.
    TooManyRequests,
    /// The server cannot answer for now (its database is unavailable): a 503.
    Unavailable,
}

impl ErrorKind {
    /// Stable, language-independent name for the `data-kind` attribute.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::UnknownClient => "unknown_client",
            ErrorKind::BadRedirectUri => "bad_redirect_uri",
            ErrorKind::RequestExpired => "request_expired",
            ErrorKind::CsrfFailed => "csrf_failed",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::ServerError => "server_error",
            ErrorKind::LoginRequired => "login_required",
            ErrorKind::TooManyRequests => "too_many_requests",
            ErrorKind::Unavailable => "temporarily_unavailable",
        }
    }
}

/// An error page for the user (OAuth errors that can go back to the client do not use it).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// What went wrong.
    pub kind: ErrorKind,
    /// Technical detail, in English, shown small.
    pub detail: Option<&'a str>,
    /// Request id, shown for support; empty to leave it out.
    pub request_id: &'a str,
    /// A MedMij request's `MedMij-Request-ID` and `X-Correlation-ID`, shown for support
    /// (core.authint.207); `None` for other requests.
    pub medmij: Option<(&'a str, &'a str)>,
}

impl ErrorView<'_> {
    fn title(&self) -> &'static str {
        let t = self.chrome.t();
        match self.kind {
            ErrorKind::UnknownClient | ErrorKind::BadRedirectUri => t.error_invalid_client_title,
            ErrorKind::RequestExpired => t.error_expired_title,
            ErrorKind::CsrfFailed => t.error_csrf_title,
            ErrorKind::BadRequest => t.error_bad_request_title,
            ErrorKind::NotFound => t.error_not_found_title,
            ErrorKind::ServerError => t.error_server_title,
            ErrorKind::LoginRequired => t.error_login_required_title,
            ErrorKind::TooManyRequests => t.error_too_many_title,
            ErrorKind::Unavailable => t.error_unavailable_title,
        }
    }

    fn explanation(&self) -> &'static str {
        let t = self.chrome.t();
        match self.kind {
            ErrorKind::UnknownClient | ErrorKind::BadRedirectUri => t.error_invalid_client_text,
            ErrorKind::RequestExpired => t.error_expired_text,
            ErrorKind::CsrfFailed => t.error_csrf_text,
            ErrorKind::BadRequest => t.error_bad_request_text,
            ErrorKind::NotFound => t.error_not_found_text,
            ErrorKind::ServerError => t.error_server_text,
            ErrorKind::LoginRequired => t.error_login_required_text,
            ErrorKind::TooManyRequests => t.error_too_many_text,
            ErrorKind::Unavailable => t.error_unavailable_text,
        }
    }
}

/// One gegevensdienst on a MedMij page: its id and its GNL name.
pub struct GegevensdienstLine<'a> {
    /// The id.
    pub id: &'a str,
    /// The `Weergavenaam`, or the id when the GNL has none.
    pub name: &'a str,
}

/// Why the MedMij consent form is shown again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedmijProblem {
    /// The chosen duration is not allowed.
    BadDuration,
}

/// The MedMij consent (Toestemmingsverklaring for Verzamelen, Bevestigingsverklaring for
/// Delen). The form POSTs `i`, `csrf`, `decision=allow|deny`, `duration=once|lasting` and
/// `days` to `action`.
#[derive(Template)]
#[template(path = "medmij_consent.html")]
pub struct MedmijConsentView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// Form action URL.
    pub action: &'a str,
    /// Interaction id, posted back as `i`.
    pub interaction: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// The PGO's `OAuthclientOrganisatienaam`.
    pub pgo: &'a str,
    /// The aanbieder's name.
    pub aanbieder: &'a str,
    /// Delen rather than Verzamelen.
    pub delen: bool,
    /// The logged-in person, as shown to them.
    pub user: &'a str,
    /// What the consent covers.
    pub gegevensdiensten: Vec<GegevensdienstLine<'a>>,
    /// The duration offered first, in days.
    pub default_days: i64,
    /// The longest duration, in days.
    pub max_days: i64,
    /// Why the form is shown again.
    pub problem: Option<MedmijProblem>,
}

impl MedmijConsentView<'_> {
    fn days_note(&self) -> String {
        self.chrome.locale.medmij_days_at_most(self.max_days)
    }
}

/// One long-lasting MedMij consent on the account page.
pub struct MedmijConsentRow<'a> {
    /// Its id, for the link that ends it.
    pub id: &'a str,
    /// The PGO's name.
    pub pgo: &'a str,
    /// The aanbieder's name.
    pub aanbieder: &'a str,
    /// What it covers.
    pub gegevensdiensten: Vec<GegevensdienstLine<'a>>,
    /// When given, formatted.
    pub granted: String,
    /// Until when, formatted.
    pub until: String,
}

/// The Beëindigingsverklaring: the person confirms ending a consent (POST `csrf`, `id`).
#[derive(Template)]
#[template(path = "medmij_end.html")]
pub struct MedmijEndView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// Form action URL.
    pub action: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// The consent.
    pub consent: MedmijConsentRow<'a>,
}

/// OAuth 2.0 Form Post Response Mode: the response parameters as hidden fields, posted to the
/// client by `/static/form_post.js`, or by the user's "Continue" when scripts are off.
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// The client's redirect URI.
    pub action: &'a str,
    /// The response parameters, as name and value.
    pub fields: &'a [(&'a str, &'a str)],
}

/// The logout confirmation. The form POSTs `csrf`, the carried parameters and
/// `confirm=yes|no` to `action`.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// Form action URL.
    pub action: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Parameters carried through the confirmation, as hidden fields.
    pub hidden: &'a [(&'a str, &'a str)],
    /// The application that asked for the logout, if known.
    pub client_name: Option<&'a str>,
}

/// The page after logging out.
#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
}

/// One consent on the account page.
pub struct ConsentRow<'a> {
    /// The client, posted back to withdraw the consent.
    pub client_id: &'a str,
    /// The client's display name.
    pub client_name: &'a str,
    /// The API the consent is for (posted back with the client), when the request named one.
    pub api: Option<&'a str>,
    /// The API's display name.
    pub api_name: Option<&'a str>,
    /// True when a live grant still stands under the consent; false when its grants were
    /// revoked (a replayed code, a reused refresh token, policy) or have ended.
    pub in_use: bool,
    /// The granted scopes.
    pub scopes: Vec<ScopeLine<'a>>,
    /// When the consent was given, formatted.
    pub granted: String,
    /// When the consent expires, formatted.
    pub expires: String,
}

/// One session on the account page.
pub struct SessionRow<'a> {
    /// The session id, posted back to end the session.
    pub sid: &'a str,
    /// When the session started, formatted.
    pub started: String,
    /// When the session was last used, formatted.
    pub last_seen: String,
    /// Whether this is the session the page was requested with.
    pub current: bool,
}

/// A confirmation shown at the top of the account page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountNotice {
    /// A consent was withdrawn.
    ConsentRevoked,
    /// A session was ended.
    SessionEnded,
    /// A MedMij consent was ended.
    MedmijConsentEnded,
}

/// The account page: consents to withdraw (POST `/account/consents/revoke` with `csrf`,
/// `client_id`) and sessions to end (POST `/account/sessions/end` with `csrf`, `sid`).
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// CSRF token for every form of the page.
    pub csrf: &'a str,
    /// The logged-in user, as shown to them.
    pub user: &'a str,
    /// The user's consents.
    pub consents: Vec<ConsentRow<'a>>,
    /// The user's sessions.
    pub sessions: Vec<SessionRow<'a>>,
    /// The person's long-lasting MedMij consents; `None` when the profile is off.
    pub medmij: Option<Vec<MedmijConsentRow<'a>>>,
    /// Confirmation of the previous action, if any.
    pub notice: Option<AccountNotice>,
}

impl AccountView<'_> {
    fn notice_text(&self) -> Option<&'static str> {
        let t = self.chrome.t();
        self.notice.map(|notice| match notice {
            AccountNotice::ConsentRevoked => t.notice_consent_revoked,
            AccountNotice::SessionEnded => t.notice_session_ended,
            AccountNotice::MedmijConsentEnded => self.chrome.locale.medmij().notice_ended,
        })
    }
}

/// The demo relying party's page.
#[derive(Template)]
#[template(path = "demo.html")]
pub struct DemoView<'a> {
    /// Page header.
    pub chrome: Chrome<'a>,
    /// What the demo shows.
    pub body: DemoBody<'a>,
}

/// The states of the demo relying party.
pub enum DemoBody<'a> {
    /// Not logged in: a "Log in with …" button.
    Start {
        /// The authorization request URL.
        login_url: &'a str,
    },
    /// Logged in: the tokens and claims.
    Result {
        /// The access token.
        access_token: &'a str,
        /// The refresh token, if one was issued.
        refresh_token: Option<&'a str>,
        /// The ID token.
        id_token: &'a str,
        /// The ID token's claims, pretty JSON.
        id_claims_json: &'a str,
        /// The UserInfo response, pretty JSON.
        userinfo_json: &'a str,
        /// Where "Log out" goes (RP-initiated logout).
        logout_url: &'a str,
    },
    /// The authorization server answered with an error.
    Error {
        /// The OAuth error code.
        error: &'a str,
        /// The error description; may be empty.
        description: &'a str,
    },
}
