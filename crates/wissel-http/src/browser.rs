//! What the pages share: cookies (the SSO session and the CSRF secret), the session lookup with
//! its idle timeout, the language choice, error pages, and the authorization response to the
//! client (query, fragment or form post, always with `iss`, RFC 9207).

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wissel_core::InternalError;
use wissel_core::flows::authorize::ReplyTo;
use wissel_core::grant::{ResponseMode, Session};
use wissel_core::model::{Digest, User};
use wissel_crypto::secret;

use crate::pages::{self, Chrome, ErrorKind, ErrorView, FormPostView, Locale};
use crate::state::AppState;

/// Longest cookie header looked at.
const MAX_COOKIE_HEADER: usize = 8 * 1024;
/// A session's last use is written at most this often.
const TOUCH_EVERY: i64 = 60;

/// The cookie names: with the `__Host-` prefix (Secure, no Domain, Path=/) when cookies are
/// secure, so that no sibling host can plant them.
pub(crate) fn names(secure: bool) -> (&'static str, &'static str) {
    if secure {
        ("__Host-wissel-session", "__Host-wissel-csrf")
    } else {
        ("wissel-session", "wissel-csrf")
    }
}

/// The value of a cookie in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.len() <= MAX_COOKIE_HEADER)
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn set_cookie(resp: &mut Response, state: &AppState, name: &str, value: &str, max_age: i64) {
    let secure = if state.settings().login.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let line = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(v) = HeaderValue::from_str(&line) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The browser's CSRF secret, if it has one.
pub fn csrf_cookie<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    cookie(headers, names(state.settings().login.secure_cookies).1)
}

/// The CSRF secret to use for a page: the browser's, or a new one that `remember_csrf` sets.
pub fn csrf_for_page(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match csrf_cookie(state, headers) {
        Some(v) if v.len() == 43 => (v.to_owned(), false),
        _ => (secret::generate_secret(), true),
    }
}

/// Sets the CSRF cookie on a response (for a session's lifetime).
pub fn remember_csrf(resp: &mut Response, state: &AppState, value: &str) {
    let max_age = state.settings().login.session_max_age;
    set_cookie(
        resp,
        state,
        names(state.settings().login.secure_cookies).1,
        value,
        max_age,
    );
}

/// True when a posted CSRF token equals the browser's cookie (compared in constant time).
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, posted: Option<&str>) -> bool {
    match (csrf_cookie(state, headers), posted) {
        (Some(c), Some(p)) => secret::ct_str_eq(c, p),
        _ => false,
    }
}

/// The 403 page for a form whose CSRF token is missing or wrong; `None` when it is right.
pub fn csrf_refusal(
    state: &AppState,
    headers: &HeaderMap,
    posted: Option<&str>,
    request_id: &str,
) -> Option<Response> {
    if csrf_ok(state, headers, posted) {
        return None;
    }
    Some(error_page(
        state,
        headers,
        StatusCode::FORBIDDEN,
        ErrorKind::CsrfFailed,
        None,
        request_id,
    ))
}

/// Starts a session: a new cookie value (never the old one: no fixation).
pub fn start_session(resp: &mut Response, state: &AppState, value: &str) {
    let max_age = state.settings().login.session_max_age;
    set_cookie(
        resp,
        state,
        names(state.settings().login.secure_cookies).0,
        value,
        max_age,
    );
}

/// Removes the session cookie.
pub fn clear_session(resp: &mut Response, state: &AppState) {
    set_cookie(
        resp,
        state,
        names(state.settings().login.secure_cookies).0,
        "",
        0,
    );
}

/// The browser's live session and its user: within the absolute and idle limits, the user
/// still enabled. An idle session is ended.
pub async fn session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, InternalError> {
    let Some(value) = cookie(headers, names(state.settings().login.secure_cookies).0) else {
        return Ok(None);
    };
    let digest = secret::digest(value.as_bytes());
    let now = state.now();
    let Some(s) = state.store().get_session(&digest, now).await? else {
        return Ok(None);
    };
    if now.saturating_sub(s.last_seen) > state.settings().login.session_idle {
        state.store().end_session(&digest).await?;
        return Ok(None);
    }
    let Some(user) = state.store().user_by_subject(&s.subject).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    if now.saturating_sub(s.last_seen) >= TOUCH_EVERY {
        state.store().touch_session(&digest, now).await?;
    }
    Ok(Some((s, user)))
}

/// The digest of the browser's session cookie, if any.
pub fn session_digest(state: &AppState, headers: &HeaderMap) -> Option<Digest> {
    cookie(headers, names(state.settings().login.secure_cookies).0)
        .map(|v| secret::digest(v.as_bytes()))
}

/// The language of a page: `ui_locales`, then `Accept-Language`, then the configured default.
pub fn locale(state: &AppState, ui_locales: &[String], headers: &HeaderMap) -> Locale {
    let default = Locale::parse(&state.settings().ui.default_locale).unwrap_or(Locale::En);
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    pages::i18n::choose(ui_locales, accept, default)
}

/// The frame of every page.
pub fn chrome(state: &AppState, locale: Locale) -> Chrome<'_> {
    let ui = &state.settings().ui;
    Chrome {
        locale,
        product_name: &ui.product_name,
        theme_css: ui.stylesheet.is_some(),
        logo: ui.logo.is_some(),
    }
}

/// An error page.
pub fn error_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    kind: ErrorKind,
    detail: Option<&str>,
    request_id: &str,
) -> Response {
    let view = ErrorView {
        chrome: chrome(state, locale(state, &[], headers)),
        kind,
        detail,
        request_id,
        medmij: None,
    };
    pages::error(status, &view)
}

/// The page for a failure of a port while serving a browser: `503` with `Retry-After` and the
/// "temporarily unavailable" page when the store is unavailable (down, hung, over its deadline),
/// else `500` and the "something went wrong" page. The cause goes to the log, never the page.
pub fn failure_page(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
    e: &InternalError,
    what: &str,
) -> Response {
    if e.is_unavailable() {
        tracing::warn!(request_id, cause = %e.0, "{what} unavailable");
        let mut r = error_page(
            state,
            headers,
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            None,
            request_id,
        );
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(crate::error::RETRY_AFTER_SECS),
        );
        r
    } else {
        tracing::error!(request_id, cause = %e.0, "{what} failed");
        error_page(
            state,
            headers,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ServerError,
            None,
            request_id,
        )
    }
}

/// An address range: an IP address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `address` or `address/prefix`. `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// True when `ip` is in the range (IPv4 addresses sit in the top 32 bits of the comparison).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        let prefix = u32::from(self.prefix);
        if prefix == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - prefix);
        bits(self.addr) & mask == bits(ip) & mask
    }
}

/// How long a browser stays known to an account after a login from it.
const DEVICE_MAX_AGE: i64 = 180 * 86_400;
/// Binds a device cookie's sealed content to its purpose.
const DEVICE_PURPOSE: &str = "wissel device cookie v1";

fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-wissel-device"
    } else {
        "wissel-device"
    }
}

/// Marks this browser as one that logged in to `account` (the lower-cased username): a cookie
/// sealed with the master key (so only wissel makes one) holding a digest of the account and
/// when it was issued. With it the owner passes a lock on their account (decision 0010).
pub fn remember_device(resp: &mut Response, state: &AppState, account: &str) {
    let mut plain = secret::digest(account.as_bytes()).0[..16].to_vec();
    plain.extend_from_slice(&state.now().to_be_bytes());
    let Ok(sealed) = state.master().seal(DEVICE_PURPOSE, &plain) else {
        return;
    };
    use base64::Engine;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed);
    set_cookie(
        resp,
        state,
        device_cookie_name(state.settings().login.secure_cookies),
        &value,
        DEVICE_MAX_AGE,
    );
}

/// The throttling key of this browser's device cookie, when it has one that wissel issued for
/// `account` less than `DEVICE_MAX_AGE` ago.
pub fn known_device(state: &AppState, headers: &HeaderMap, account: &str) -> Option<String> {
    use base64::Engine;
    let value = cookie(
        headers,
        device_cookie_name(state.settings().login.secure_cookies),
    )?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    let plain = state.master().open(DEVICE_PURPOSE, &sealed).ok()?;
    let (who, issued) = plain.split_at_checked(16)?;
    let issued = i64::from_be_bytes(issued.try_into().ok()?);
    let now = state.now();
    let fresh = issued <= now.saturating_add(60) && now.saturating_sub(issued) < DEVICE_MAX_AGE;
    // The content is authenticated: only wissel could have sealed it, so no secret is compared.
    let ours = who == &secret::digest(account.as_bytes()).0[..16];
    (fresh && ours).then(|| {
        let id = secret::digest(value.as_bytes());
        format!(
            "device:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&id.0[..16])
        )
    })
}

/// What throttling counts a client address under: an IPv4 address, or the /64 network of an
/// IPv6 address (one subscriber usually holds a whole /64, so single addresses would be free).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("address:{v4}"),
            None => {
                let net = u128::from(v6) & (u128::MAX << 64);
                format!("address:{}/64", std::net::Ipv6Addr::from(net))
            }
        },
    }
}

/// The client's address, for throttling: the TCP peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy (the rightmost such entry:
/// anything left of it the client could have written itself).
pub fn peer(
    state: &AppState,
    addr: Option<&axum::extract::ConnectInfo<std::net::SocketAddr>>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = addr.map(|a| a.0.ip())?;
    Some(client_ip(
        peer,
        headers,
        &state.settings().login.trusted_proxies,
    ))
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for").iter() {
        let Ok(v) = v.to_str() else {
            return peer;
        };
        for part in v.split(',').take(32) {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A malformed hop: nothing left of it can be trusted; stop at the proxy.
                Err(_) => hops.clear(),
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// Sends the authorization response (or error) to the client, with `iss` (RFC 9207).
pub fn reply(
    state: &AppState,
    headers: &HeaderMap,
    to: &ReplyTo,
    params: &[(&str, &str)],
) -> Response {
    let issuer = state.settings().issuer.as_str();
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(s) = to.state.as_deref() {
        all.push(("state", s));
    }
    all.push(("iss", issuer));
    match to.mode {
        ResponseMode::FormPost => {
            let view = FormPostView {
                chrome: chrome(state, locale(state, &[], headers)),
                action: &to.redirect_uri,
                fields: &all,
            };
            pages::form_post(StatusCode::OK, &view)
        }
        ResponseMode::Query | ResponseMode::Fragment => {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(all.iter())
                .finish();
            let sep = match to.mode {
                ResponseMode::Fragment => "#",
                _ if to.redirect_uri.contains('?') => "&",
                _ => "?",
            };
            see_other(&format!("{}{sep}{encoded}", to.redirect_uri))
        }
    }
}

/// A `303 See Other` to `location`, not cached.
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_behind_trusted_proxies() {
        let trusted = [
            IpNet::parse("10.0.0.0/8").unwrap(),
            IpNet::parse("::1").unwrap(),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.1.2.3"),
        );
        // From a trusted proxy: the rightmost untrusted hop, not the spoofable leftmost one.
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("203.0.113.7"));
        assert_eq!(client_ip(ip("::1"), &h, &trusted), ip("203.0.113.7"));
        // From anyone else the header is ignored.
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        // No header, or only proxies in it: the proxy itself.
        assert_eq!(
            client_ip(ip("10.9.9.9"), &HeaderMap::new(), &trusted),
            ip("10.9.9.9")
        );
        let mut only = HeaderMap::new();
        only.insert("x-forwarded-for", HeaderValue::from_static("10.1.1.1"));
        assert_eq!(client_ip(ip("10.9.9.9"), &only, &trusted), ip("10.9.9.9"));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("nope").is_none());
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        assert!(!IpNet::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(
            IpNet::parse("10.0.0.0/8")
                .unwrap()
                .contains(ip("::ffff:10.0.0.1"))
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; wissel-session=abc; wissel-session-x=no"),
        );
        assert_eq!(cookie(&h, "wissel-session"), Some("abc"));
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
