//! The server's HTML pages: login, consent, errors, form post, logout, account and the demo
//! relying party, in English and Dutch.
//!
//! Every page is an askama template (`templates/`, one per view, all extending `base.html`)
//! rendered by [`render`], which also sets the security headers. The pages work without
//! JavaScript; the only script is `/static/form_post.js`, which submits the form post page.
//! Styles come from `/static/wissel.css` (built in) and, when the operator configured one,
//! `/static/theme.css`: nothing inline, nothing external.

mod assets;
pub mod i18n;
mod views;

#[cfg(test)]
mod tests;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use assets::{form_post_js, logo, stylesheet, theme_css};
pub use i18n::Locale;
pub use views::{
    AccountNotice, AccountView, Chrome, ConsentRow, ConsentView, DemoBody, DemoView, ErrorKind,
    ErrorView, FormPostView, GegevensdienstLine, LoggedOutView, LoginProblem, LoginView,
    LogoutView, MedmijConsentRow, MedmijConsentView, MedmijEndView, MedmijProblem, ScopeLine,
    SessionRow,
};

/// The pages' Content Security Policy. `form-action` is deliberately not restricted (it does not
/// fall back to `default-src`): the form post page must POST to the client's redirect URI on
/// another origin.
const PAGE_CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page as a response: `status`, the rendered HTML, and the security headers (CSP, no
/// caching, no referrer, no sniffing, no framing). A template that fails to render gives a
/// plain-text 500, logged once here.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            );
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            no_store(&mut response);
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "rendering a page failed");
            let mut response =
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
            no_store(&mut response);
            response
        }
    }
}

/// The headers every dynamic response shares: never cached, never sniffed, no referrer.
fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// The login page.
pub fn login(status: StatusCode, view: &LoginView<'_>) -> Response {
    render(status, view)
}

/// The consent page.
pub fn consent(status: StatusCode, view: &ConsentView<'_>) -> Response {
    render(status, view)
}

/// The MedMij consent page.
pub fn medmij_consent(status: StatusCode, view: &MedmijConsentView<'_>) -> Response {
    render(status, view)
}

/// The page that ends a MedMij consent.
pub fn medmij_end(status: StatusCode, view: &MedmijEndView<'_>) -> Response {
    render(status, view)
}

/// An error page.
pub fn error(status: StatusCode, view: &ErrorView<'_>) -> Response {
    render(status, view)
}

/// The form post (response mode `form_post`) page.
pub fn form_post(status: StatusCode, view: &FormPostView<'_>) -> Response {
    render(status, view)
}

/// The logout confirmation page.
pub fn logout(status: StatusCode, view: &LogoutView<'_>) -> Response {
    render(status, view)
}

/// The page after logging out.
pub fn logged_out(status: StatusCode, view: &LoggedOutView<'_>) -> Response {
    render(status, view)
}

/// The account page.
pub fn account(status: StatusCode, view: &AccountView<'_>) -> Response {
    render(status, view)
}

/// The demo relying party's page.
pub fn demo(status: StatusCode, view: &DemoView<'_>) -> Response {
    render(status, view)
}
