//! The languages of the pages: which one a request gets, and every text shown in it.
//!
//! Texts live in one struct per locale rather than in message files: the compiler then checks
//! that every language has every text, and a template cannot ask for a text that does not exist.

/// A language the pages are available in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// English.
    En,
    /// Dutch.
    Nl,
}

impl Locale {
    /// The BCP 47 tag for `<html lang>`: `"en"` or `"nl"`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Nl => "nl",
        }
    }

    /// The locale of a language tag, by its primary subtag and ignoring case: `nl`, `nl-BE`,
    /// `NL` and `nl_NL` are Dutch; `en-GB` is English. `None` for any other language (and `*`).
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?;
        if primary.eq_ignore_ascii_case("en") {
            Some(Locale::En)
        } else if primary.eq_ignore_ascii_case("nl") {
            Some(Locale::Nl)
        } else {
            None
        }
    }

    /// Every fixed text of the pages in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Locale::En => &EN,
            Locale::Nl => &NL,
        }
    }

    /// The localized description of a well-known OpenID Connect scope, `None` for other scopes.
    pub fn scope_description(self, scope: &str) -> Option<&'static str> {
        let t = self.texts();
        match scope {
            "openid" => Some(t.scope_openid),
            "profile" => Some(t.scope_profile),
            "email" => Some(t.scope_email),
            "offline_access" => Some(t.scope_offline_access),
            _ => None,
        }
    }

    /// The consent page's sentence on how long an approval is remembered.
    pub fn consent_remembered(self, days: i64) -> String {
        match (self, days) {
            (Locale::En, ..=0) => "You will be asked again next time.".to_owned(),
            (Locale::En, 1) => "If you allow access, this is remembered for 1 day.".to_owned(),
            (Locale::En, n) => format!("If you allow access, this is remembered for {n} days."),
            (Locale::Nl, ..=0) => "De volgende keer wordt het u opnieuw gevraagd.".to_owned(),
            (Locale::Nl, 1) => "Als u toegang geeft, wordt dat 1 dag onthouden.".to_owned(),
            (Locale::Nl, n) => format!("Als u toegang geeft, wordt dat {n} dagen onthouden."),
        }
    }
}

/// Longest `Accept-Language` header that is parsed at all; a longer one is ignored whole.
const MAX_ACCEPT_LANGUAGE_BYTES: usize = 1024;
/// Most entries an `Accept-Language` header may have before it is ignored whole.
const MAX_ACCEPT_LANGUAGE_ENTRIES: usize = 32;
/// Most `ui_locales` tags looked at.
const MAX_UI_LOCALES: usize = 32;

/// The locale of a page: the first supported tag of `ui_locales` (each string may itself be a
/// space-separated list, as the parameter arrives), else the supported language the
/// `Accept-Language` header prefers most (by q-value, ties in header order, `q=0` excluded), else
/// `default`.
///
/// An `Accept-Language` header over 1 KiB or with more than 32 entries is ignored, so that a
/// hostile header costs no more than a normal one.
pub fn choose(ui_locales: &[String], accept_language: Option<&str>, default: Locale) -> Locale {
    ui_locales
        .iter()
        .flat_map(|tags| tags.split_whitespace())
        .take(MAX_UI_LOCALES)
        .find_map(Locale::parse)
        .or_else(|| accept_language.and_then(from_accept_language))
        .unwrap_or(default)
}

/// The most preferred supported locale of an `Accept-Language` header (RFC 9110, 12.5.4).
fn from_accept_language(header: &str) -> Option<Locale> {
    if header.len() > MAX_ACCEPT_LANGUAGE_BYTES
        || header.split(',').count() > MAX_ACCEPT_LANGUAGE_ENTRIES
    {
        return None;
    }
    header
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let locale = Locale::parse(parts.next()?)?;
            let weight = match parts.find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then_some(value)
            }) {
                Some(value) => parse_qvalue(value.trim())?,
                None => 1000,
            };
            (weight > 0).then_some((weight, locale))
        })
        // Only a strictly higher weight replaces the best so far: ties keep header order.
        .fold(None, |best: Option<(u16, Locale)>, candidate| match best {
            Some((weight, _)) if weight >= candidate.0 => best,
            _ => Some(candidate),
        })
        .map(|(_, locale)| locale)
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`, …) in thousandths; `None` when malformed.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, digit| acc * 10 + u16::from(digit - b'0'));
    let weight = whole + thousandths;
    (weight <= 1000).then_some(weight)
}

/// The fixed texts of the pages in one language. Field names say where a text is shown; the
/// English values in [`EN`] are the reference wording.
#[derive(Debug)]
pub struct Texts {
    // Login page.
    /// Heading and button of the login page.
    pub login_title: &'static str,
    /// Before the client's name under the login heading.
    pub login_continue_to: &'static str,
    /// Label of the username field.
    pub username: &'static str,
    /// Label of the password field.
    pub password: &'static str,
    /// Wrong username or password; must not tell which one, nor whether the account exists.
    pub login_bad_credentials: &'static str,
    /// Too many failed attempts.
    pub login_throttled: &'static str,
    /// The login request timed out.
    pub login_expired: &'static str,
    /// Too many logins at once: the server refused this one rather than make it wait.
    pub login_busy: &'static str,

    // Consent page.
    /// After the client's name in the consent heading.
    pub consent_wants_access: &'static str,
    /// Before the user's name.
    pub logged_in_as: &'static str,
    /// Heading of the list of requested scopes.
    pub consent_will_receive: &'static str,
    /// Shown when no scope needs describing.
    pub consent_no_scopes: &'static str,
    /// Before the link to the account page.
    pub consent_withdraw: &'static str,
    /// The link to the account page.
    pub consent_account_link: &'static str,
    /// Approve button.
    pub allow: &'static str,
    /// Refuse button.
    pub deny: &'static str,

    // Scope descriptions.
    /// `openid`.
    pub scope_openid: &'static str,
    /// `profile`.
    pub scope_profile: &'static str,
    /// `email`.
    pub scope_email: &'static str,
    /// `offline_access`.
    pub scope_offline_access: &'static str,

    // Error page.
    /// Title for an unknown client or a bad redirect URI.
    pub error_invalid_client_title: &'static str,
    /// Explanation for an unknown client or a bad redirect URI: the user cannot continue.
    pub error_invalid_client_text: &'static str,
    /// Title when the request expired.
    pub error_expired_title: &'static str,
    /// Explanation when the request expired.
    pub error_expired_text: &'static str,
    /// Title when the CSRF check failed.
    pub error_csrf_title: &'static str,
    /// Explanation when the CSRF check failed.
    pub error_csrf_text: &'static str,
    /// Title for a malformed request.
    pub error_bad_request_title: &'static str,
    /// Explanation for a malformed request.
    pub error_bad_request_text: &'static str,
    /// Title for an unknown page.
    pub error_not_found_title: &'static str,
    /// Explanation for an unknown page.
    pub error_not_found_text: &'static str,
    /// Title for an internal error.
    pub error_server_title: &'static str,
    /// Explanation for an internal error.
    pub error_server_text: &'static str,
    /// Title when the user must log in first.
    pub error_login_required_title: &'static str,
    /// Explanation when the user must log in first.
    pub error_login_required_text: &'static str,
    /// Title when an address started too many pending requests.
    pub error_too_many_title: &'static str,
    /// Explanation when an address started too many pending requests.
    pub error_too_many_text: &'static str,
    /// Title when the server cannot answer for now (its database is unavailable).
    pub error_unavailable_title: &'static str,
    /// Explanation when the server cannot answer for now.
    pub error_unavailable_text: &'static str,
    /// Label of the technical detail.
    pub error_detail: &'static str,
    /// Label of the request id.
    pub request_id: &'static str,
    /// Why the request id is shown.
    pub request_id_hint: &'static str,

    // Form post page.
    /// Heading of the form post page.
    pub form_post_title: &'static str,
    /// What to do when the page does not move on by itself.
    pub form_post_hint: &'static str,
    /// The form post button.
    pub continue_button: &'static str,

    // Logout pages.
    /// Before the product name in the logout question.
    pub logout_question: &'static str,
    /// After the client's name when a client asked for the logout.
    pub logout_requested_by: &'static str,
    /// What logging out does.
    pub logout_explain: &'static str,
    /// Log out button and link.
    pub logout: &'static str,
    /// Cancel button.
    pub cancel: &'static str,
    /// Heading after logging out.
    pub logged_out_title: &'static str,
    /// Text after logging out.
    pub logged_out_text: &'static str,

    // Account page.
    /// Heading of the account page.
    pub account_title: &'static str,
    /// Notice after withdrawing a consent.
    pub notice_consent_revoked: &'static str,
    /// Notice after ending a session.
    pub notice_session_ended: &'static str,
    /// Heading of the consents.
    pub consents_heading: &'static str,
    /// When there are no consents.
    pub consents_empty: &'static str,
    /// Label before a consent's scopes.
    pub access_to: &'static str,
    /// Label before the API a consent is for.
    pub for_api: &'static str,
    /// Said of a remembered consent under which nothing is granted now.
    pub consent_unused: &'static str,
    /// When a consent was given.
    pub granted: &'static str,
    /// When a consent expires.
    pub expires: &'static str,
    /// Withdraw-consent button.
    pub withdraw: &'static str,
    /// Hidden rest of the withdraw button's name, before the client's name.
    pub withdraw_for: &'static str,
    /// Heading of the sessions.
    pub sessions_heading: &'static str,
    /// When there are no sessions.
    pub sessions_empty: &'static str,
    /// Name of the session the page was requested with.
    pub session_current: &'static str,
    /// Name of any other session.
    pub session_other: &'static str,
    /// When a session started.
    pub session_started: &'static str,
    /// When a session was last used.
    pub session_last_seen: &'static str,
    /// End-session button.
    pub session_end: &'static str,
    /// Hidden rest of the end-session button's name, before the start time.
    pub session_end_started: &'static str,

    // Demo relying party.
    /// Heading of the demo page.
    pub demo_title: &'static str,
    /// Introduction, before the product name.
    pub demo_intro_before: &'static str,
    /// Introduction, after the product name.
    pub demo_intro_after: &'static str,
    /// Login button, before the product name.
    pub demo_login: &'static str,
    /// Status after a successful login.
    pub demo_logged_in: &'static str,
    /// Heading of the ID token claims.
    pub demo_id_claims: &'static str,
    /// Heading of the UserInfo response.
    pub demo_userinfo: &'static str,
    /// Heading of the tokens.
    pub demo_tokens: &'static str,
    /// The access token.
    pub access_token: &'static str,
    /// The refresh token.
    pub refresh_token: &'static str,
    /// The ID token.
    pub id_token: &'static str,
    /// Heading when the login failed.
    pub demo_failed: &'static str,
    /// Label of the OAuth error code.
    pub demo_error_code: &'static str,
}

/// English texts.
pub static EN: Texts = Texts {
    login_title: "Log in",
    login_continue_to: "Log in to continue to",
    username: "Username",
    password: "Password",
    login_bad_credentials: "Wrong username or password.",
    login_throttled: "Too many failed attempts. Try again in a few minutes.",
    login_expired: "Logging in took too long. Go back to the application and start again.",
    login_busy: "Too many people are logging in right now. Try again in a moment.",

    consent_wants_access: "wants access to your account",
    logged_in_as: "Logged in as",
    consent_will_receive: "The application will receive",
    consent_no_scopes: "Only the fact that you are logged in.",
    consent_withdraw: "You can withdraw your permission at any time on",
    consent_account_link: "your account page",
    allow: "Allow",
    deny: "Deny",

    scope_openid: "Your identity (a stable identifier)",
    scope_profile: "Your name and profile",
    scope_email: "Your e-mail address",
    scope_offline_access: "Access while you are away (stays valid after you log out)",

    error_invalid_client_title: "Invalid request from the application",
    error_invalid_client_text: "The application that sent you here made an invalid request. \
        You cannot continue from here. Please report this to the application's administrator.",
    error_expired_title: "Request expired",
    error_expired_text: "This page was open for too long. \
        Go back to the application and try again.",
    error_csrf_title: "Form expired",
    error_csrf_text: "We could not verify the form you sent; it may have been open for too long. \
        Go back and try again.",
    error_bad_request_title: "Invalid request",
    error_bad_request_text: "The request could not be processed.",
    error_not_found_title: "Page not found",
    error_not_found_text: "This page does not exist.",
    error_server_title: "Something went wrong",
    error_server_text: "An error occurred on our side. Please try again later.",
    error_login_required_title: "Login required",
    error_login_required_text: "You are not logged in. \
        Log in through the application you want to use, then try again.",
    error_too_many_title: "Too many requests",
    error_too_many_text: "Too many login requests came from your network. \
        Wait a few minutes, then try again.",
    error_unavailable_title: "Temporarily unavailable",
    error_unavailable_text: "The service cannot handle your request right now. \
        Please try again in a moment.",
    error_detail: "Technical detail",
    request_id: "Request ID",
    request_id_hint: "Mention it when you contact support.",

    form_post_title: "Returning to the application",
    form_post_hint: "If nothing happens, press Continue.",
    continue_button: "Continue",

    logout_question: "Log out of",
    logout_requested_by: "asks to log you out.",
    logout_explain: "This ends your session in this browser.",
    logout: "Log out",
    cancel: "Cancel",
    logged_out_title: "You are logged out",
    logged_out_text: "You can close this window now.",

    account_title: "Your account",
    notice_consent_revoked: "Access withdrawn.",
    notice_session_ended: "Session ended.",
    consents_heading: "Applications with access",
    consents_empty: "No application has access to your account.",
    access_to: "Access to",
    for_api: "At",
    consent_unused: "Remembered, but nothing is granted under it now: the application has no \
                     access until you sign in to it again.",
    granted: "Granted",
    expires: "Expires",
    withdraw: "Withdraw",
    withdraw_for: "access for",
    sessions_heading: "Sessions",
    sessions_empty: "No active sessions.",
    session_current: "This session",
    session_other: "Other session",
    session_started: "Started",
    session_last_seen: "Last active",
    session_end: "End",
    session_end_started: "session started",

    demo_title: "Demo application",
    demo_intro_before: "This small demo application logs in through",
    demo_intro_after: "using OpenID Connect.",
    demo_login: "Log in with",
    demo_logged_in: "You are logged in.",
    demo_id_claims: "ID token claims",
    demo_userinfo: "UserInfo response",
    demo_tokens: "Tokens",
    access_token: "Access token",
    refresh_token: "Refresh token",
    id_token: "ID token",
    demo_failed: "Login failed",
    demo_error_code: "Error",
};

/// Dutch texts.
pub static NL: Texts = Texts {
    login_title: "Inloggen",
    login_continue_to: "Log in om verder te gaan naar",
    username: "Gebruikersnaam",
    password: "Wachtwoord",
    login_bad_credentials: "Gebruikersnaam of wachtwoord onjuist.",
    login_throttled: "Te veel mislukte pogingen. Probeer het over enkele minuten opnieuw.",
    login_expired: "Het inloggen duurde te lang. Ga terug naar de toepassing en begin opnieuw.",
    login_busy: "Er loggen nu te veel mensen tegelijk in. Probeer het zo opnieuw.",

    consent_wants_access: "vraagt toegang tot uw account",
    logged_in_as: "Ingelogd als",
    consent_will_receive: "De toepassing krijgt",
    consent_no_scopes: "Alleen het gegeven dat u bent ingelogd.",
    consent_withdraw: "U kunt uw toestemming altijd intrekken op",
    consent_account_link: "uw accountpagina",
    allow: "Toestaan",
    deny: "Weigeren",

    scope_openid: "Uw identiteit (een vaste identificatie)",
    scope_profile: "Uw naam en profielgegevens",
    scope_email: "Uw e-mailadres",
    scope_offline_access: "Toegang wanneer u er niet bent (blijft geldig nadat u bent uitgelogd)",

    error_invalid_client_title: "Ongeldig verzoek van de toepassing",
    error_invalid_client_text: "De toepassing die u hierheen stuurde, deed een ongeldig verzoek. \
        U kunt vanaf hier niet verder. Meld dit bij de beheerder van de toepassing.",
    error_expired_title: "Verzoek verlopen",
    error_expired_text: "Deze pagina stond te lang open. \
        Ga terug naar de toepassing en probeer het opnieuw.",
    error_csrf_title: "Formulier verlopen",
    error_csrf_text: "We konden het verstuurde formulier niet controleren; \
        misschien stond het te lang open. Ga terug en probeer het opnieuw.",
    error_bad_request_title: "Ongeldig verzoek",
    error_bad_request_text: "Het verzoek kon niet worden verwerkt.",
    error_not_found_title: "Pagina niet gevonden",
    error_not_found_text: "Deze pagina bestaat niet.",
    error_server_title: "Er ging iets mis",
    error_server_text: "Er ging aan onze kant iets mis. Probeer het later opnieuw.",
    error_login_required_title: "Inloggen vereist",
    error_login_required_text: "U bent niet ingelogd. \
        Log in via de toepassing die u wilt gebruiken en probeer het daarna opnieuw.",
    error_too_many_title: "Te veel verzoeken",
    error_too_many_text: "Er kwamen te veel inlogverzoeken van uw netwerk. \
        Wacht enkele minuten en probeer het daarna opnieuw.",
    error_unavailable_title: "Tijdelijk niet beschikbaar",
    error_unavailable_text: "De dienst kan uw verzoek op dit moment niet verwerken. \
        Probeer het zo opnieuw.",
    error_detail: "Technische details",
    request_id: "Verzoek-ID",
    request_id_hint: "Vermeld dit als u contact opneemt met de helpdesk.",

    form_post_title: "Terug naar de toepassing",
    form_post_hint: "Gebeurt er niets? Kies dan Doorgaan.",
    continue_button: "Doorgaan",

    logout_question: "Wilt u uitloggen bij",
    logout_requested_by: "vraagt u uit te loggen.",
    logout_explain: "Hiermee beëindigt u uw sessie in deze browser.",
    logout: "Uitloggen",
    cancel: "Annuleren",
    logged_out_title: "U bent uitgelogd",
    logged_out_text: "U kunt dit venster nu sluiten.",

    account_title: "Uw account",
    notice_consent_revoked: "Toegang ingetrokken.",
    notice_session_ended: "Sessie beëindigd.",
    consents_heading: "Toepassingen met toegang",
    consents_empty: "Geen enkele toepassing heeft toegang tot uw account.",
    access_to: "Toegang tot",
    for_api: "Bij",
    consent_unused: "Onthouden, maar er is nu niets onder toegestaan: de toepassing heeft geen \
                     toegang tot u er weer bij inlogt.",
    granted: "Toegestaan op",
    expires: "Verloopt op",
    withdraw: "Intrekken",
    withdraw_for: "toegang voor",
    sessions_heading: "Sessies",
    sessions_empty: "Geen actieve sessies.",
    session_current: "Deze sessie",
    session_other: "Andere sessie",
    session_started: "Gestart",
    session_last_seen: "Laatst actief",
    session_end: "Beëindigen",
    session_end_started: "sessie gestart",

    demo_title: "Demotoepassing",
    demo_intro_before: "Deze kleine demotoepassing logt in via",
    demo_intro_after: "met OpenID Connect.",
    demo_login: "Inloggen met",
    demo_logged_in: "U bent ingelogd.",
    demo_id_claims: "Claims in het ID-token",
    demo_userinfo: "Antwoord van UserInfo",
    demo_tokens: "Tokens",
    access_token: "Toegangstoken",
    refresh_token: "Vernieuwingstoken",
    id_token: "ID-token",
    demo_failed: "Inloggen mislukt",
    demo_error_code: "Foutcode",
};

impl Locale {
    /// The texts of the MedMij pages.
    pub fn medmij(self) -> &'static MedmijTexts {
        match self {
            Locale::En => &MEDMIJ_EN,
            Locale::Nl => &MEDMIJ_NL,
        }
    }

    /// The consent page's note on the longest duration a person may choose.
    pub fn medmij_days_at_most(self, days: i64) -> String {
        match self {
            Locale::En => format!("days (at most {days})"),
            Locale::Nl => format!("dagen (hoogstens {days})"),
        }
    }
}

/// The texts of the MedMij pages: the consent (Toestemmingsverklaring, Bevestigingsverklaring)
/// of the authorization interface, its error page, and the management of consents.
#[derive(Debug)]
pub struct MedmijTexts {
    /// Label of the MedMij-Request-ID on error pages.
    pub trace_id: &'static str,
    /// Label of the X-Correlation-ID on error pages.
    pub session_id: &'static str,
    /// Between the PGO's and the aanbieder's name, Verzamelen.
    pub collect: &'static str,
    /// Between the PGO's and the aanbieder's name, Delen.
    pub share: &'static str,
    /// Above the gegevensdiensten.
    pub data_heading: &'static str,
    /// When nothing is available for the person.
    pub none_available: &'static str,
    /// The question of the duration.
    pub duration_legend: &'static str,
    /// A one-time consent.
    pub once: &'static str,
    /// A long-lasting consent.
    pub lasting: &'static str,
    /// A duration that is not allowed.
    pub bad_duration: &'static str,
    /// Heading of the consents on the account page.
    pub consents_heading: &'static str,
    /// No consents.
    pub consents_empty: &'static str,
    /// Between the PGO's and the aanbieder's name on the account page.
    pub collects_from: &'static str,
    /// Until when.
    pub until: &'static str,
    /// The button that leads to ending a consent.
    pub end: &'static str,
    /// Title of the Beëindigingsverklaring.
    pub end_title: &'static str,
    /// Between the PGO's and the aanbieder's name on it.
    pub end_text: &'static str,
    /// Its confirm button.
    pub end_confirm: &'static str,
    /// Its cancel link.
    pub cancel: &'static str,
    /// Confirmation on the account page.
    pub notice_ended: &'static str,
}

/// English.
pub static MEDMIJ_EN: MedmijTexts = MedmijTexts {
    trace_id: "Trace ID",
    session_id: "Session ID",
    collect: "wants to collect your data from",
    share: "wants to share your data with",
    data_heading: "It concerns",
    none_available: "No data is available for you at this care provider.",
    duration_legend: "How long may it do so?",
    once: "Only this once",
    lasting: "For a number of days, until you end it:",
    bad_duration: "Choose how long, within the number of days shown.",
    consents_heading: "Permissions for personal health environments",
    consents_empty: "You have given no personal health environment a lasting permission.",
    collects_from: "collects your data from",
    until: "Until",
    end: "End this permission",
    end_title: "End your permission",
    end_text: "will then no longer receive your data from",
    end_confirm: "End the permission",
    cancel: "Cancel",
    notice_ended: "The permission has been ended.",
};

/// Dutch.
pub static MEDMIJ_NL: MedmijTexts = MedmijTexts {
    trace_id: "Trace-ID",
    session_id: "Sessie-ID",
    collect: "wil uw gegevens ophalen bij",
    share: "wil uw gegevens delen met",
    data_heading: "Het gaat om",
    none_available: "Er zijn bij deze zorgaanbieder geen gegevens voor u beschikbaar.",
    duration_legend: "Hoe lang mag dat?",
    once: "Alleen deze keer",
    lasting: "Een aantal dagen, tot u de toestemming beëindigt:",
    bad_duration: "Kies hoe lang, binnen het getoonde aantal dagen.",
    consents_heading: "Toestemmingen voor persoonlijke gezondheidsomgevingen",
    consents_empty: "U hebt geen persoonlijke gezondheidsomgeving langdurig toestemming gegeven.",
    collects_from: "haalt uw gegevens op bij",
    until: "Tot",
    end: "Deze toestemming beëindigen",
    end_title: "Toestemming beëindigen",
    end_text: "ontvangt dan geen gegevens meer van",
    end_confirm: "Toestemming beëindigen",
    cancel: "Annuleren",
    notice_ended: "De toestemming is beëindigd.",
};
