//! The static files the pages load from `/static/`: the built-in stylesheet and form post
//! script, and the operator's optional stylesheet and logo.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The built-in stylesheet, compiled in so the binary needs no files beside it.
const WISSEL_CSS: &str = include_str!("../../static/wissel.css");
/// The script that submits the form post page.
const FORM_POST_JS: &str = include_str!("../../static/form_post.js");

/// Static files may be cached for an hour: long enough to spare requests, short enough that an
/// upgrade or a new operator theme shows soon without versioned URLs.
const STATIC_CACHE: &str = "public, max-age=3600";

/// A logo may be SVG: should someone open it directly, it runs no script and loads nothing.
const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// `GET /static/wissel.css`.
pub async fn stylesheet() -> Response {
    asset(WISSEL_CSS, "text/css; charset=utf-8")
}

/// `GET /static/form_post.js`.
pub async fn form_post_js() -> Response {
    asset(FORM_POST_JS, "text/javascript; charset=utf-8")
}

/// `GET /static/theme.css`: the operator's stylesheet.
pub fn theme_css(css: &str) -> Response {
    asset(css.to_owned(), "text/css; charset=utf-8")
}

/// `GET /static/logo`: the operator's logo, of the given content type.
pub fn logo(bytes: &[u8], content_type: &'static str) -> Response {
    let mut response = asset(bytes.to_vec(), content_type);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(LOGO_CSP),
    );
    response
}

fn asset(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    // An invalid operator-given content type must not fail the request: serve it as bytes.
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(STATIC_CACHE),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
