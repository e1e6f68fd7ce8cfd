use axum::body::to_bytes;
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::i18n::choose;
use super::*;

const LOCALES: [Locale; 2] = [Locale::En, Locale::Nl];

fn chrome(locale: Locale) -> Chrome<'static> {
    Chrome {
        locale,
        product_name: "Wissel",
        theme_css: false,
        logo: false,
    }
}

async fn body(response: Response) -> String {
    let bytes = to_bytes(response.into_body(), 1 << 20).await;
    String::from_utf8(bytes.map(|b| b.to_vec()).unwrap_or_default()).unwrap_or_default()
}

/// The status and headers every page must have, then the page's HTML.
async fn page(response: Response, status: StatusCode, locale: Locale) -> String {
    assert_eq!(response.status(), status);
    let h = response.headers();
    let get = |name| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(get(header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(
        get(header::CONTENT_SECURITY_POLICY),
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(get(header::CACHE_CONTROL), "no-store");
    assert_eq!(get(header::PRAGMA), "no-cache");
    assert_eq!(get(header::REFERRER_POLICY), "no-referrer");
    assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(get(header::X_FRAME_OPTIONS), "DENY");
    let html = body(response).await;
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains(&format!("<html lang=\"{}\">", locale.tag())),
        "{html}"
    );
    assert!(html.contains("<meta name=\"viewport\""));
    assert!(html.contains("<title>"));
    assert!(html.contains("<main") && html.contains("</main>"));
    assert!(html.contains("<h1"), "{html}");
    assert!(html.contains("href=\"/static/wissel.css\""));
    assert!(!html.contains("style="), "no inline styles: {html}");
    html
}

fn scripts(html: &str) -> usize {
    html.matches("<script").count()
}

// --- Locale choice -------------------------------------------------------------------------

#[test]
fn parse_reads_the_primary_subtag() {
    assert_eq!(Locale::parse("nl"), Some(Locale::Nl));
    assert_eq!(Locale::parse("nl-BE"), Some(Locale::Nl));
    assert_eq!(Locale::parse("NL"), Some(Locale::Nl));
    assert_eq!(Locale::parse("nl_NL"), Some(Locale::Nl));
    assert_eq!(Locale::parse("en-GB"), Some(Locale::En));
    assert_eq!(Locale::parse(" en "), Some(Locale::En));
    assert_eq!(Locale::parse("de"), None);
    assert_eq!(Locale::parse("*"), None);
    assert_eq!(Locale::parse("english"), None);
    assert_eq!(Locale::parse(""), None);
    assert_eq!(Locale::En.tag(), "en");
    assert_eq!(Locale::Nl.tag(), "nl");
}

#[test]
fn ui_locales_beat_accept_language() {
    let ui = vec!["de nl-NL en".to_owned()];
    assert_eq!(choose(&ui, Some("en"), Locale::En), Locale::Nl);
    let split = vec!["fr".to_owned(), "nl".to_owned()];
    assert_eq!(choose(&split, Some("en"), Locale::En), Locale::Nl);
    // None supported: Accept-Language decides.
    let unsupported = vec!["de fr".to_owned()];
    assert_eq!(choose(&unsupported, Some("nl"), Locale::En), Locale::Nl);
}

#[test]
fn accept_language_follows_q_values() {
    let none: &[String] = &[];
    assert_eq!(
        choose(none, Some("en;q=0.5, nl;q=0.8"), Locale::En),
        Locale::Nl
    );
    assert_eq!(
        choose(none, Some("de, en-US;q=0.9, nl;q=0.7"), Locale::Nl),
        Locale::En
    );
    // Ties keep header order.
    assert_eq!(
        choose(none, Some("nl;q=0.5, en;q=0.5"), Locale::En),
        Locale::Nl
    );
    assert_eq!(choose(none, Some("en, nl"), Locale::Nl), Locale::En);
    // q=0 means "not this one".
    assert_eq!(
        choose(none, Some("nl;q=0, en;q=0.1"), Locale::Nl),
        Locale::En
    );
    assert_eq!(choose(none, Some("nl;q=0.000"), Locale::En), Locale::En);
    // A malformed q-value drops the entry, not the header.
    assert_eq!(
        choose(none, Some("en;q=2, nl;q=0.3"), Locale::En),
        Locale::Nl
    );
    assert_eq!(
        choose(none, Some("en;q=abc, nl;q=0.3"), Locale::En),
        Locale::Nl
    );
    assert_eq!(choose(none, Some("NL-be;Q=1.0"), Locale::En), Locale::Nl);
}

#[test]
fn unknown_languages_give_the_default() {
    let none: &[String] = &[];
    assert_eq!(choose(none, None, Locale::Nl), Locale::Nl);
    assert_eq!(choose(none, Some(""), Locale::En), Locale::En);
    assert_eq!(
        choose(none, Some("de, fr;q=0.9, *"), Locale::Nl),
        Locale::Nl
    );
    assert_eq!(choose(&["xx".to_owned()], None, Locale::En), Locale::En);
    assert_eq!(choose(none, Some(",,;;=,"), Locale::En), Locale::En);
}

#[test]
fn huge_accept_language_is_ignored() {
    let none: &[String] = &[];
    let long = format!("nl, {}", "x".repeat(2000));
    assert_eq!(choose(none, Some(&long), Locale::En), Locale::En);
    let many = format!("{}, nl", vec!["de"; 40].join(", "));
    assert!(many.len() < 1024);
    assert_eq!(choose(none, Some(&many), Locale::En), Locale::En);
    // Just within both bounds still counts.
    let fits = format!("{}, nl", vec!["de"; 31].join(", "));
    assert_eq!(choose(none, Some(&fits), Locale::En), Locale::Nl);
}

// --- Pages ------------------------------------------------------------------------------------

fn login_view(locale: Locale, problem: Option<LoginProblem>) -> LoginView<'static> {
    LoginView {
        chrome: chrome(locale),
        action: "/login",
        interaction: "int-123",
        csrf: "csrf-456",
        username: "",
        client_name: "Photo App",
        problem,
    }
}

#[tokio::test]
async fn login_renders_in_both_locales() {
    for locale in LOCALES {
        let html = page(
            login(StatusCode::OK, &login_view(locale, None)),
            StatusCode::OK,
            locale,
        )
        .await;
        let t = locale.texts();
        assert!(html.contains(t.login_title));
        assert!(html.contains("action=\"/login\""));
        assert!(html.contains("name=\"i\" value=\"int-123\""));
        assert!(html.contains("name=\"csrf\" value=\"csrf-456\""));
        assert!(html.contains("<label for=\"username\">"));
        assert!(html.contains("<label for=\"password\">"));
        assert!(html.contains("id=\"username\" name=\"username\""));
        assert!(html.contains("autocomplete=\"username\""));
        assert!(html.contains("id=\"password\" name=\"password\" type=\"password\""));
        assert!(html.contains("autocomplete=\"current-password\""));
        assert!(html.contains("id=\"login-submit\""));
        assert!(html.contains("Photo App"));
        assert!(!html.contains("role=\"alert\""));
        assert!(!html.contains("aria-describedby"));
        assert_eq!(scripts(&html), 0);
    }
    let nl = body(login(StatusCode::OK, &login_view(Locale::Nl, None))).await;
    assert!(nl.contains("Inloggen") && nl.contains("Gebruikersnaam") && nl.contains("Wachtwoord"));
}

#[tokio::test]
async fn login_problems_are_announced_and_linked() {
    for locale in LOCALES {
        for (problem, code, text) in [
            (
                LoginProblem::BadCredentials,
                "bad_credentials",
                locale.texts().login_bad_credentials,
            ),
            (
                LoginProblem::Throttled,
                "throttled",
                locale.texts().login_throttled,
            ),
            (
                LoginProblem::Expired,
                "expired",
                locale.texts().login_expired,
            ),
            (LoginProblem::Busy, "busy", locale.texts().login_busy),
        ] {
            let view = login_view(locale, Some(problem));
            let html = page(
                login(StatusCode::UNAUTHORIZED, &view),
                StatusCode::UNAUTHORIZED,
                locale,
            )
            .await;
            assert!(html.contains(&format!(
                "id=\"login-error\" class=\"alert\" role=\"alert\" data-error=\"{code}\">{text}</p>"
            )));
            assert_eq!(html.matches("aria-describedby=\"login-error\"").count(), 2);
        }
    }
    let en = body(login(
        StatusCode::OK,
        &login_view(Locale::En, Some(LoginProblem::BadCredentials)),
    ))
    .await;
    assert!(en.contains("Wrong username or password."));
    let nl = body(login(
        StatusCode::OK,
        &login_view(Locale::Nl, Some(LoginProblem::Throttled)),
    ))
    .await;
    assert!(nl.contains("Te veel mislukte pogingen. Probeer het over enkele minuten opnieuw."));
}

#[tokio::test]
async fn login_escapes_what_it_is_given() {
    let view = LoginView {
        username: "\"><script>alert(1)</script>",
        client_name: "<script>alert('x')</script>",
        ..login_view(Locale::En, None)
    };
    let html = body(login(StatusCode::OK, &view)).await;
    assert_eq!(scripts(&html), 0, "{html}");
    assert!(html.contains("&#60;script&#62;"));
    assert!(!html.contains("value=\"\">"));
}

#[tokio::test]
async fn login_prefills_the_username_and_focuses_the_password() {
    let view = LoginView {
        username: "alice",
        ..login_view(Locale::En, None)
    };
    let html = body(login(StatusCode::OK, &view)).await;
    assert!(html.contains("value=\"alice\""));
    assert_eq!(html.matches("autofocus").count(), 1);
    assert!(html.contains("autocomplete=\"current-password\" required autofocus"));
}

fn consent_view(locale: Locale) -> ConsentView<'static> {
    ConsentView {
        chrome: chrome(locale),
        action: "/consent",
        interaction: "int-1",
        csrf: "tok",
        client_name: "Photo App",
        user: "alice",
        scopes: vec![
            ScopeLine {
                scope: "openid",
                description: "",
            },
            ScopeLine {
                scope: "email",
                description: "",
            },
            ScopeLine {
                scope: "photos:read",
                description: "",
            },
            ScopeLine {
                scope: "calendar",
                description: "Your calendar",
            },
        ],
        remember_days: 90,
    }
}

#[tokio::test]
async fn consent_renders_in_both_locales() {
    for locale in LOCALES {
        let html = page(
            consent(StatusCode::OK, &consent_view(locale)),
            StatusCode::OK,
            locale,
        )
        .await;
        let t = locale.texts();
        assert!(html.contains(t.scope_openid));
        assert!(html.contains(t.scope_email));
        assert!(html.contains("<li>photos:read</li>"));
        assert!(html.contains("<li>Your calendar</li>"));
        assert!(
            html.contains("id=\"consent-allow\" type=\"submit\" name=\"decision\" value=\"allow\"")
        );
        assert!(
            html.contains("id=\"consent-deny\" type=\"submit\" name=\"decision\" value=\"deny\"")
        );
        assert!(html.contains("name=\"i\" value=\"int-1\""));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains("href=\"/account\""));
        assert!(html.contains("90"));
        assert_eq!(scripts(&html), 0);
    }
    let nl = body(consent(StatusCode::OK, &consent_view(Locale::Nl))).await;
    assert!(nl.contains("Toestaan") && nl.contains("Weigeren"));
    assert!(nl.contains("90 dagen"));
    assert!(nl.contains("Uw identiteit (een vaste identificatie)"));
}

#[tokio::test]
async fn consent_escapes_the_client_name() {
    let view = ConsentView {
        client_name: "<script>alert(1)</script>",
        user: "<b>bob</b>",
        ..consent_view(Locale::En)
    };
    let html = body(consent(StatusCode::OK, &view)).await;
    assert_eq!(scripts(&html), 0);
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!html.contains("<b>bob</b>"));
}

#[test]
fn consent_remembering_reads_well() {
    assert_eq!(
        Locale::En.consent_remembered(1),
        "If you allow access, this is remembered for 1 day."
    );
    assert_eq!(
        Locale::Nl.consent_remembered(30),
        "Als u toegang geeft, wordt dat 30 dagen onthouden."
    );
    assert!(!Locale::En.consent_remembered(0).contains('0'));
}

fn error_view(locale: Locale, kind: ErrorKind) -> ErrorView<'static> {
    ErrorView {
        chrome: chrome(locale),
        kind,
        detail: Some("client_id not registered"),
        request_id: "req-789",
        medmij: None,
    }
}

#[tokio::test]
async fn error_pages_render_in_both_locales() {
    let kinds = [
        ErrorKind::UnknownClient,
        ErrorKind::BadRedirectUri,
        ErrorKind::RequestExpired,
        ErrorKind::CsrfFailed,
        ErrorKind::BadRequest,
        ErrorKind::NotFound,
        ErrorKind::ServerError,
        ErrorKind::LoginRequired,
        ErrorKind::TooManyRequests,
        ErrorKind::Unavailable,
    ];
    for locale in LOCALES {
        for kind in kinds {
            let html = page(
                error(StatusCode::BAD_REQUEST, &error_view(locale, kind)),
                StatusCode::BAD_REQUEST,
                locale,
            )
            .await;
            assert!(html.contains(&format!(
                "<h1 id=\"error-title\" data-kind=\"{}\">",
                kind.code()
            )));
            assert!(html.contains("req-789"));
            assert!(html.contains("<code lang=\"en\">client_id not registered</code>"));
            assert_eq!(scripts(&html), 0);
        }
    }
}

#[tokio::test]
async fn invalid_client_errors_say_the_user_cannot_continue() {
    for kind in [ErrorKind::UnknownClient, ErrorKind::BadRedirectUri] {
        let en = body(error(
            StatusCode::BAD_REQUEST,
            &error_view(Locale::En, kind),
        ))
        .await;
        assert!(en.contains("made an invalid request"));
        assert!(en.contains("You cannot continue"));
        assert!(!en.contains("<a "), "no way back to the client: {en}");
        let nl = body(error(
            StatusCode::BAD_REQUEST,
            &error_view(Locale::Nl, kind),
        ))
        .await;
        assert!(nl.contains("ongeldig verzoek"));
        assert!(nl.contains("U kunt vanaf hier niet verder"));
    }
}

#[tokio::test]
async fn error_escapes_the_detail() {
    let view = ErrorView {
        detail: Some("<script>alert(1)</script>"),
        request_id: "<i>",
        ..error_view(Locale::En, ErrorKind::BadRequest)
    };
    let html = body(error(StatusCode::BAD_REQUEST, &view)).await;
    assert_eq!(scripts(&html), 0);
    assert!(html.contains("&#60;script&#62;"));
    assert!(!html.contains("<i>"));
    let without = ErrorView {
        detail: None,
        request_id: "",
        ..error_view(Locale::En, ErrorKind::NotFound)
    };
    let html = body(error(StatusCode::NOT_FOUND, &without)).await;
    assert!(!html.contains("class=\"detail\""));
    assert!(!html.contains("request-id"));
}

#[tokio::test]
async fn form_post_carries_every_field() {
    let fields = [
        ("code", "abc123"),
        ("state", "s\"tate<&>"),
        ("iss", "https://id.example"),
    ];
    for locale in LOCALES {
        let view = FormPostView {
            chrome: chrome(locale),
            action: "https://client.example/cb?x=1&y=2",
            fields: &fields,
        };
        let html = page(form_post(StatusCode::OK, &view), StatusCode::OK, locale).await;
        assert!(
            html.contains(
                "<form method=\"post\" action=\"https://client.example/cb?x=1&#38;y=2\">"
            )
        );
        assert!(html.contains("<input type=\"hidden\" name=\"code\" value=\"abc123\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"iss\" value=\"https://id.example\">"));
        assert!(
            html.contains("name=\"state\" value=\"s&#34;tate&#60;&#38;&#62;\""),
            "{html}"
        );
        assert_eq!(html.matches("type=\"hidden\"").count(), fields.len());
        assert!(html.contains("id=\"form-post-continue\" type=\"submit\""));
        assert!(html.contains(locale.texts().continue_button));
        assert!(html.contains("<script src=\"/static/form_post.js\"></script>"));
        assert_eq!(scripts(&html), 1);
    }
}

fn logout_view<'a>(
    locale: Locale,
    hidden: &'a [(&'a str, &'a str)],
    client_name: Option<&'a str>,
) -> LogoutView<'a> {
    LogoutView {
        chrome: chrome(locale),
        action: "/logout",
        csrf: "tok",
        hidden,
        client_name,
    }
}

#[tokio::test]
async fn logout_renders_in_both_locales() {
    let hidden = [
        ("post_logout_redirect_uri", "https://c.example/bye"),
        ("state", "st"),
    ];
    for locale in LOCALES {
        let view = logout_view(locale, &hidden, Some("Photo App"));
        let html = page(logout(StatusCode::OK, &view), StatusCode::OK, locale).await;
        assert!(html.contains(&format!("{} Wissel?", locale.texts().logout_question)));
        assert!(
            html.contains("id=\"logout-confirm\" type=\"submit\" name=\"confirm\" value=\"yes\"")
        );
        assert!(
            html.contains("id=\"logout-cancel\" type=\"submit\" name=\"confirm\" value=\"no\"")
        );
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains(
            "<input type=\"hidden\" name=\"post_logout_redirect_uri\" value=\"https://c.example/bye\">"
        ));
        assert!(html.contains("<input type=\"hidden\" name=\"state\" value=\"st\">"));
        assert!(html.contains("Photo App"));
        assert_eq!(scripts(&html), 0);
    }
    let nl = body(logout(StatusCode::OK, &logout_view(Locale::Nl, &[], None))).await;
    assert!(nl.contains("Uitloggen") && nl.contains("Annuleren"));
    let evil = body(logout(
        StatusCode::OK,
        &logout_view(Locale::En, &[], Some("<script>x</script>")),
    ))
    .await;
    assert_eq!(scripts(&evil), 0);
}

#[tokio::test]
async fn logged_out_renders_in_both_locales() {
    for locale in LOCALES {
        let view = LoggedOutView {
            chrome: chrome(locale),
        };
        let html = page(logged_out(StatusCode::OK, &view), StatusCode::OK, locale).await;
        assert!(html.contains(locale.texts().logged_out_title));
    }
}

fn account_view(locale: Locale, notice: Option<AccountNotice>) -> AccountView<'static> {
    AccountView {
        chrome: chrome(locale),
        csrf: "tok",
        user: "alice",
        consents: vec![ConsentRow {
            client_id: "photos",
            client_name: "Photo <App>",
            api: Some("albums-api"),
            api_name: Some("Albums <API>"),
            in_use: false,
            scopes: vec![ScopeLine {
                scope: "profile",
                description: "",
            }],
            granted: "2026-01-02".to_owned(),
            expires: "2026-04-02".to_owned(),
        }],
        sessions: vec![
            SessionRow {
                sid: "sid-current",
                started: "2026-01-02 10:00".to_owned(),
                last_seen: "2026-01-02 11:00".to_owned(),
                current: true,
            },
            SessionRow {
                sid: "sid-other",
                started: "2025-12-30 08:00".to_owned(),
                last_seen: "2026-01-01 09:00".to_owned(),
                current: false,
            },
        ],
        medmij: None,
        notice,
    }
}

#[tokio::test]
async fn account_renders_in_both_locales() {
    for locale in LOCALES {
        let t = locale.texts();
        let html = page(
            account(
                StatusCode::OK,
                &account_view(locale, Some(AccountNotice::ConsentRevoked)),
            ),
            StatusCode::OK,
            locale,
        )
        .await;
        assert!(html.contains(t.notice_consent_revoked));
        assert!(html.contains("role=\"status\""));
        assert!(html.contains("action=\"/account/consents/revoke\""));
        assert!(html.contains("name=\"client_id\" value=\"photos\""));
        assert!(html.contains("Photo &#60;App&#62;"));
        // The API the consent is for, posted back with the client; a consent with nothing
        // granted under it is marked.
        assert!(html.contains("Albums &#60;API&#62;"));
        assert!(html.contains("name=\"api\" value=\"albums-api\""));
        assert!(html.contains(t.consent_unused));
        assert!(html.contains(t.scope_profile));
        assert!(html.contains("2026-04-02"));
        assert!(html.contains(t.withdraw));
        assert_eq!(html.matches("action=\"/account/sessions/end\"").count(), 2);
        assert!(html.contains("name=\"sid\" value=\"sid-current\""));
        assert!(html.contains("name=\"sid\" value=\"sid-other\""));
        assert!(html.contains(t.session_end));
        assert!(html.contains(&format!("data-current=\"true\">{}</button>", t.logout)));
        assert!(html.contains("href=\"/logout\""));
        assert_eq!(html.matches("name=\"csrf\" value=\"tok\"").count(), 3);
        assert_eq!(scripts(&html), 0);

        let empty = AccountView {
            consents: Vec::new(),
            sessions: Vec::new(),
            notice: Some(AccountNotice::SessionEnded),
            ..account_view(locale, None)
        };
        let html = page(account(StatusCode::OK, &empty), StatusCode::OK, locale).await;
        assert!(html.contains(t.consents_empty));
        assert!(html.contains(t.sessions_empty));
        assert!(html.contains(t.notice_session_ended));
    }
}

#[tokio::test]
async fn demo_renders_in_both_locales() {
    for locale in LOCALES {
        let start = DemoView {
            chrome: chrome(locale),
            body: DemoBody::Start {
                login_url: "/authorize?client_id=demo&scope=openid",
            },
        };
        let html = page(demo(StatusCode::OK, &start), StatusCode::OK, locale).await;
        assert!(html.contains("id=\"demo-login\""));
        assert!(html.contains(&format!("{} Wissel", locale.texts().demo_login)));

        let result = DemoView {
            chrome: chrome(locale),
            body: DemoBody::Result {
                access_token: "at.at.at",
                refresh_token: Some("rt-1"),
                id_token: "id.id.id",
                id_claims_json: "{\n  \"sub\": \"<alice>\"\n}",
                userinfo_json: "{\n  \"email\": \"a@example.org\"\n}",
                logout_url: "/logout?id_token_hint=id.id.id",
            },
        };
        let html = page(demo(StatusCode::OK, &result), StatusCode::OK, locale).await;
        assert!(html.contains("at.at.at") && html.contains("rt-1") && html.contains("id.id.id"));
        assert!(html.contains("a@example.org"));
        assert!(!html.contains("<alice>"));
        assert!(html.contains("id=\"demo-logout\""));

        let failed = DemoView {
            chrome: chrome(locale),
            body: DemoBody::Error {
                error: "access_denied",
                description: "<script>alert(1)</script>",
            },
        };
        let html = page(demo(StatusCode::OK, &failed), StatusCode::OK, locale).await;
        assert!(html.contains("access_denied"));
        assert!(html.contains(locale.texts().demo_failed));
        assert_eq!(scripts(&html), 0);
    }
}

#[tokio::test]
async fn chrome_links_the_theme_and_the_logo() {
    let view = LoggedOutView {
        chrome: Chrome {
            locale: Locale::En,
            product_name: "Acme <ID>",
            theme_css: true,
            logo: true,
        },
    };
    let html = body(logged_out(StatusCode::OK, &view)).await;
    let wissel = html.find("/static/wissel.css").unwrap_or(usize::MAX);
    let theme = html.find("/static/theme.css").unwrap_or(0);
    assert!(
        wissel < theme,
        "theme after the built-in stylesheet: {html}"
    );
    assert!(html.contains("src=\"/static/logo\""));
    assert!(html.contains("alt=\"Acme &#60;ID&#62;\""));

    let plain = body(logged_out(
        StatusCode::OK,
        &LoggedOutView {
            chrome: chrome(Locale::En),
        },
    ))
    .await;
    assert!(!plain.contains("theme.css"));
    assert!(!plain.contains("/static/logo"));
}

// --- Static assets ----------------------------------------------------------------------------

fn header_of(response: &Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn static_assets_have_types_and_caching() {
    let css = stylesheet().await;
    assert_eq!(
        header_of(&css, header::CONTENT_TYPE),
        "text/css; charset=utf-8"
    );
    assert_eq!(
        header_of(&css, header::CACHE_CONTROL),
        "public, max-age=3600"
    );
    assert_eq!(header_of(&css, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(body(css).await.contains(":focus-visible"));

    let js = form_post_js().await;
    assert_eq!(
        header_of(&js, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header_of(&js, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(body(js).await.contains("submit()"));

    let theme = theme_css("body { color: red }");
    assert_eq!(
        header_of(&theme, header::CONTENT_TYPE),
        "text/css; charset=utf-8"
    );
    assert_eq!(body(theme).await, "body { color: red }");

    let png = logo(b"\x89PNG", "image/png");
    assert_eq!(header_of(&png, header::CONTENT_TYPE), "image/png");
    assert_eq!(header_of(&png, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(header_of(&png, header::CONTENT_SECURITY_POLICY).contains("sandbox"));
    let bad = logo(b"x", "image/png\n");
    assert_eq!(
        header_of(&bad, header::CONTENT_TYPE),
        "application/octet-stream"
    );
}

fn medmij_consent_view(locale: Locale, delen: bool) -> MedmijConsentView<'static> {
    MedmijConsentView {
        chrome: chrome(locale),
        action: "https://dva.example/consent",
        interaction: "int-1",
        csrf: "tok",
        pgo: "De <PGO>",
        aanbieder: "UMC & zo",
        delen,
        user: "alice",
        gegevensdiensten: vec![
            GegevensdienstLine {
                id: "48",
                name: "Basisgegevens zorg",
            },
            GegevensdienstLine {
                id: "49",
                name: "<Huisarts>",
            },
        ],
        default_days: 90,
        max_days: 365,
        problem: None,
    }
}

#[tokio::test]
async fn medmij_consent_names_the_pgo_the_aanbieder_and_the_gegevensdiensten() {
    for locale in [Locale::En, Locale::Nl] {
        let m = locale.medmij();
        let html = page(
            medmij_consent(StatusCode::OK, &medmij_consent_view(locale, false)),
            StatusCode::OK,
            locale,
        )
        .await;
        assert!(
            html.contains(&format!("De &#60;PGO&#62; {} UMC &#38; zo", m.collect)),
            "{html}"
        );
        assert!(html.contains("data-kind=\"verzamelen\""));
        assert!(html.contains("Basisgegevens zorg") && html.contains("&#60;Huisarts&#62;"));
        assert!(html.contains(m.once) && html.contains(m.lasting));
        assert!(html.contains("max=\"365\"") && html.contains("value=\"90\""));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert_eq!(scripts(&html), 0);
        let delen = page(
            medmij_consent(StatusCode::OK, &medmij_consent_view(locale, true)),
            StatusCode::OK,
            locale,
        )
        .await;
        assert!(delen.contains(m.share) && delen.contains("data-kind=\"delen\""));
    }
    // Nothing available: no duration to choose, no allow button.
    let view = MedmijConsentView {
        gegevensdiensten: vec![],
        problem: Some(MedmijProblem::BadDuration),
        ..medmij_consent_view(Locale::Nl, false)
    };
    let html = page(
        medmij_consent(StatusCode::BAD_REQUEST, &view),
        StatusCode::BAD_REQUEST,
        Locale::Nl,
    )
    .await;
    assert!(html.contains(Locale::Nl.medmij().none_available));
    assert!(!html.contains("consent-allow") && html.contains("consent-deny"));
    assert!(html.contains("data-error=\"bad_duration\""));
}

#[tokio::test]
async fn medmij_error_pages_show_the_trace_and_session_ids() {
    let view = ErrorView {
        medmij: Some(("57510be1-73e6-4a75-9db8-ee005cced48f", "<x>")),
        ..error_view(Locale::En, ErrorKind::UnknownClient)
    };
    let html = body(error(StatusCode::BAD_REQUEST, &view)).await;
    assert!(html.contains("Trace ID") && html.contains("57510be1-73e6-4a75-9db8-ee005cced48f"));
    assert!(html.contains("Session ID") && html.contains("&#60;x&#62;"));
    let plain = body(error(
        StatusCode::BAD_REQUEST,
        &error_view(Locale::En, ErrorKind::UnknownClient),
    ))
    .await;
    assert!(!plain.contains("medmij-ids"));
}

#[tokio::test]
async fn medmij_consents_on_the_account_page_and_their_end() {
    let row = || MedmijConsentRow {
        id: "c-1",
        pgo: "De Test PGO",
        aanbieder: "UMC",
        gegevensdiensten: vec![GegevensdienstLine {
            id: "48",
            name: "Basisgegevens zorg",
        }],
        granted: "2026-01-02".to_owned(),
        until: "2026-04-02".to_owned(),
    };
    for locale in [Locale::En, Locale::Nl] {
        let view = AccountView {
            medmij: Some(vec![row()]),
            ..account_view(locale, Some(AccountNotice::MedmijConsentEnded))
        };
        let html = page(account(StatusCode::OK, &view), StatusCode::OK, locale).await;
        let m = locale.medmij();
        assert!(html.contains(m.consents_heading) && html.contains(m.notice_ended));
        assert!(html.contains("/account/medmij/end?id=c-1"));
        let end = MedmijEndView {
            chrome: chrome(locale),
            action: "/account/medmij/end",
            csrf: "tok",
            consent: row(),
        };
        let html = page(medmij_end(StatusCode::OK, &end), StatusCode::OK, locale).await;
        assert!(html.contains(m.end_title) && html.contains("name=\"id\" value=\"c-1\""));
        assert!(html.contains("Basisgegevens zorg"));
    }
    let none = AccountView {
        medmij: Some(vec![]),
        ..account_view(Locale::En, None)
    };
    let html = body(account(StatusCode::OK, &none)).await;
    assert!(html.contains(Locale::En.medmij().consents_empty));
    let off = body(account(StatusCode::OK, &account_view(Locale::En, None))).await;
    assert!(
        !off.contains("medmij-heading"),
        "the section is absent without the profile"
    );
}
