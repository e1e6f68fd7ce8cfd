//! What the browser flows leave behind (DESIGN.md §3): pending authorization requests, SSO
//! sessions, consents, grants and the codes and refresh tokens that hang off them.

use serde::{Deserialize, Serialize};

use crate::model::Digest;
use crate::scope::ScopeSet;

/// How the authorization response reaches the client (OAuth 2.0 Multiple Response Types, Form
/// Post Response Mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// In the redirect URI's query (the default for `response_type=code`).
    #[default]
    Query,
    /// In the redirect URI's fragment.
    Fragment,
    /// As an HTML form posted to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// Parses a `response_mode` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "query" => Some(Self::Query),
            "fragment" => Some(Self::Fragment),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }
}

/// A PKCE challenge method (RFC 7636 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    /// `S256`.
    S256,
    /// `plain`.
    #[serde(rename = "plain")]
    Plain,
}

/// The `prompt` values of a request (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Show nothing; fail with `login_required` or `consent_required`.
    pub none: bool,
    /// Log in again even with a session.
    pub login: bool,
    /// Show the consent page even when consent is remembered.
    pub consent: bool,
}

/// A validated authorization request, kept while the user logs in and consents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// The client.
    pub client_id: String,
    /// Where the response goes: registered, exactly matched.
    pub redirect_uri: String,
    /// True when the request carried `redirect_uri` (then the token request must repeat it).
    pub redirect_uri_given: bool,
    /// How the response goes.
    pub response_mode: ResponseMode,
    /// The client's `state`, echoed.
    pub state: Option<String>,
    /// The client's `nonce`, put in the ID token.
    pub nonce: Option<String>,
    /// The requested scopes.
    pub scope: ScopeSet,
    /// The API named by `resource` (RFC 8707) or `audience`; `None` for a token for the client
    /// itself (userinfo, token exchange).
    pub api: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method.
    pub code_challenge_method: Option<PkceMethod>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`, prefilled in the login form.
    pub login_hint: Option<String>,
    /// `ui_locales`, most preferred first.
    pub ui_locales: Vec<String>,
    /// `acr_values`, recorded.
    pub acr_values: Vec<String>,
    /// What a request of a MedMij client adds; `None` for every other client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medmij: Option<MedmijRequest>,
}

/// The MedMij parts of an authorization request (core.authint.200, .208).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedmijRequest {
    /// The aanbieder's `Zorgaanbiedernaam` (`…@medmij`).
    pub aanbieder: String,
    /// The one gegevensdienst of a Delen request; `None` for Verzamelen.
    pub delen: Option<String>,
    /// `MedMij-Request-ID` of the request, when it carried a valid one.
    pub request_id: Option<String>,
    /// `X-Correlation-ID`: the session id of the whole flow, repeated by the token request.
    pub correlation_id: Option<String>,
}

/// What a MedMij authorization binds its code and refresh tokens to: the consent, and the
/// correlation id the token request must repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedmijBinding {
    /// The aanbieder's `Zorgaanbiedernaam`.
    pub aanbieder: String,
    /// The gegevensdiensten the person consented to.
    pub consented: ScopeSet,
    /// `X-Correlation-ID` of the authorization request.
    pub correlation_id: Option<String>,
    /// The long-lasting consent, when the person gave one (then refresh tokens are issued).
    pub consent_id: Option<String>,
}

/// A person's long-lasting MedMij consent (langdurige toestemming): listable and endable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedmijConsent {
    /// Random id.
    pub id: String,
    /// The person.
    pub subject: String,
    /// The PGO (its hostname).
    pub client_id: String,
    /// The aanbieder's `Zorgaanbiedernaam`.
    pub aanbieder: String,
    /// The gegevensdiensten consented to.
    pub gegevensdiensten: ScopeSet,
    /// The grant its tokens hang off; ending the consent revokes it.
    pub grant_id: String,
    /// When given.
    pub granted_at: i64,
    /// When it ends by itself.
    pub expires_at: i64,
    /// When the person ended it.
    pub ended_at: Option<i64>,
}

/// The last valid copy of a central MedMij list, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredList {
    /// `ocl`, `whitelist`, `gnl` or `zal`.
    pub kind: String,
    /// Its `Volgnummer`.
    pub volgnummer: i64,
    /// Its `Tijdstempel` as written.
    pub tijdstempel: String,
    /// The document.
    pub document: Vec<u8>,
    /// When it was accepted, Unix seconds.
    pub loaded_at: i64,
}

/// A pending authorization request, bound to the browser that made it by a CSRF secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Random id, in the login and consent URLs.
    pub id: String,
    /// The authorization request; `None` for a login to the account page.
    pub request: Option<AuthRequest>,
    /// SHA-256 of the CSRF secret held in the browser's cookie.
    pub csrf: Digest,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// The request must be completed before this.
    pub expires_at: i64,
}

/// An SSO session: a logged-in browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 of the cookie value (the value itself is never stored).
    pub digest: Digest,
    /// Public session id (`sid` in ID tokens), random.
    pub sid: String,
    /// The user's subject.
    pub subject: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods (`pwd`).
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Last request that used it.
    pub last_seen: i64,
    /// Absolute end.
    pub expires_at: i64,
}

/// A user's remembered consent for a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    /// The user.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// The API the request named; `None` for a request that named none (then only OpenID
    /// Connect scopes).
    pub api: Option<String>,
    /// What was consented to.
    pub scopes: ScopeSet,
    /// When.
    pub granted_at: i64,
    /// Until when.
    pub expires_at: i64,
}

/// The root of a token family: what a user granted a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Random id; carried by every token of the family.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The API, if one was named.
    pub api: Option<String>,
    /// The granted scopes (a refresh can narrow them, never widen them).
    pub scope: ScopeSet,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The session it was granted in.
    pub sid: Option<String>,
    /// `offline_access` was granted: it outlives the session.
    pub offline: bool,
    /// The grant it was derived from (token exchange).
    pub parent: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Nothing of it is valid after this.
    pub expires_at: i64,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// What an authorization code stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Its grant.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The redirect URI of the request.
    pub redirect_uri: String,
    /// Whether the request carried it.
    pub redirect_uri_given: bool,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method.
    pub code_challenge_method: Option<PkceMethod>,
    /// For the ID token.
    pub nonce: Option<String>,
    /// The granted scopes.
    pub scope: ScopeSet,
    /// The API, if one was named.
    pub api: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Issued.
    pub issued_at: i64,
    /// Expires.
    pub expires_at: i64,
    /// A MedMij authorization's consent and correlation id; `None` for other clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medmij: Option<MedmijBinding>,
}

/// What a refresh token stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Its grant (the family).
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The grant's scopes.
    pub scope: ScopeSet,
    /// The API, if one was named.
    pub api: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Issued.
    pub issued_at: i64,
    /// Expires: the idle limit, never past the grant's end.
    pub expires_at: i64,
    /// A MedMij authorization's consent; `None` for other clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medmij: Option<MedmijBinding>,
}

/// What presenting an authorization code did.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeOutcome {
    /// First presentation: the code is now spent.
    Consumed(Box<CodeRecord>),
    /// It had been presented before: a replay.
    Replayed {
        /// The grant to revoke.
        grant_id: String,
    },
    /// No such code.
    NotFound,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// It was current: it is now spent and the new one is stored.
    Rotated,
    /// It had been rotated already: a reuse; the caller revokes the family.
    ReuseDetected {
        /// The family.
        grant_id: String,
    },
    /// No such token (or expired and purged).
    NotFound,
}

/// A budget an attempt is reserved against: at most `limit` attempts counted under `key` in the
/// current window (a login's account, device, address and pending request; an address's
/// pending requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptBudget {
    /// What is counted, e.g. `account:alice` or `address:192.0.2.1`.
    pub key: String,
    /// Most attempts in one window.
    pub limit: i64,
}

/// What reserving an attempt against several budgets did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Every budget had room: the attempt is counted under every key.
    Granted,
    /// The budget at this index (in the order given) was spent: nothing was counted.
    Refused(usize),
}

/// Failed logins counted under one key (an account or an address) within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    /// Failures in the window.
    pub failures: i64,
    /// When the window started.
    pub window_start: i64,
}
