//! Signing in to the console with the admin token, and out again: a server-rendered form (no
//! script), the session cookie it sets, and `GET /console/session`, where the console's script
//! reads who is signed in and the CSRF token its unsafe requests must carry.
//!
//! | route | does |
//! |---|---|
//! | `GET /console/sign-in` | the form (a redirect to the console when no token is configured) |
//! | `POST /console/sign-in` | checks the token; 303 to the console with the cookie, or the form again |
//! | `POST /console/sign-out` | forgets the session, clears the cookie, 303 to the form |
//! | `GET /console/session` | `{"viewer", "signed_in", "csrf", "sign_out"}` |

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::json;

use crate::admin::auth::wrong_tokens::Checked;
use crate::admin::auth::{cookie, retry_after_secs};
use crate::admin::session::SignedIn;
use crate::admin::viewer::{peer_ip, Viewer};
use crate::admin::{AdminState, ApiError};

/// Where the form is served and posted.
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// The stylesheets the form links, open to all like the form itself.
pub const STYLESHEETS: &[&str] = &["/console/assets/console.css", "/console/assets/sign_in.css"];

/// The longest name accepted for the audit log, in characters.
const NAME_MAX_CHARS: usize = 64;

/// Adds the sign-in, sign-out and session routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(SIGN_IN_PATH, web::get().to(form))
        .route(SIGN_IN_PATH, web::post().to(submit))
        .route("/console/sign-out", web::post().to(sign_out))
        .route("/console/session", web::get().to(session));
}

/// The posted form. Deliberately not `Debug`: it holds the token.
#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
}

async fn form(state: web::Data<AdminState>) -> HttpResponse {
    if state.token.is_none() {
        return to_console();
    }
    page(StatusCode::OK, None, "")
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AdminState>,
    posted: web::Form<SignInForm>,
) -> HttpResponse {
    let Some(token) = &state.token else {
        return to_console();
    };
    let peer = peer_ip(&req);
    let sent = posted.token.as_bytes();
    match state
        .wrong_tokens
        .check(&peer, sent, token.expose().as_bytes())
    {
        Checked::Right => {}
        Checked::Wrong => {
            log::warn!("console sign-in refused: wrong token from {peer}");
            return page(
                StatusCode::UNAUTHORIZED,
                Some("That token is not right."),
                &posted.name,
            );
        }
        Checked::Throttled(wait) => {
            let secs = retry_after_secs(wait);
            let message =
                format!("Too many wrong tokens from your address: try again in {secs} s.");
            let mut answer = page(StatusCode::TOO_MANY_REQUESTS, Some(&message), &posted.name);
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
            return answer;
        }
    }
    let name = match audit_name(&posted.name) {
        Ok(name) => name,
        Err(problem) => return page(StatusCode::BAD_REQUEST, Some(problem), &posted.name),
    };
    let session = match state.sessions.create(name) {
        Ok(session) => session,
        Err(err) => {
            log::error!("console sign-in failed: {err}");
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
                .error_response();
        }
    };
    let viewer = Viewer::Session {
        name: session.name.clone(),
        peer,
    };
    log::info!("console signed in: {viewer}");
    let mut answer = to_console();
    let set = cookie::set(&session.id, state.sessions.lifetime());
    if let Ok(value) = header::HeaderValue::from_str(&set) {
        answer.headers_mut().insert(header::SET_COOKIE, value);
    }
    answer
}

async fn sign_out(req: HttpRequest, viewer: Viewer, state: web::Data<AdminState>) -> HttpResponse {
    let session = req.extensions().get::<SignedIn>().cloned();
    if let Some(session) = session {
        state.sessions.end(&session.id);
        log::info!("console signed out: {viewer}");
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, SIGN_IN_PATH))
        .insert_header((header::SET_COOKIE, cookie::clear()))
        .finish()
}

async fn session(req: HttpRequest, viewer: Viewer, state: web::Data<AdminState>) -> HttpResponse {
    let session = req.extensions().get::<SignedIn>().cloned();
    let csrf = session
        .as_ref()
        .map_or(state.sessions.loopback_csrf(), |s| &s.csrf);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "viewer": viewer.to_string(),
            "signed_in": session.is_some(),
            "csrf": csrf,
            "sign_out": session.is_some(),
        }))
}

fn to_console() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

/// The name to write in the audit log: `posted` without surrounding spaces, required,
/// printable (no control characters: a log line stays one line) and at most 64 characters.
fn audit_name(posted: &str) -> Result<&str, &'static str> {
    let name = posted.trim();
    if name.is_empty()
        || name.chars().count() > NAME_MAX_CHARS
        || name.chars().any(char::is_control)
    {
        return Err("Give your name for the audit log: 1 to 64 printable characters.");
    }
    Ok(name)
}

/// The form page with `status`, an optional `message` above the fields, and `name` filled
/// in again (the token never is).
fn page(status: StatusCode, message: Option<&str>, name: &str) -> HttpResponse {
    let message = message
        .map(|text| {
            format!(
                "<p class=\"sign-in-error\" role=\"alert\" data-test=\"sign-in-error\">{}</p>\n",
                escape(text)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Courier console</title>
<link rel="stylesheet" href="{}">
<link rel="stylesheet" href="{}">
</head>
<body class="sign-in">
<main>
<h1>Courier console</h1>
<form id="sign-in" data-test="sign-in-form" method="post" action="{SIGN_IN_PATH}">
{message}<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<label for="name">Your name, for the audit log</label>
<input id="name" name="name" type="text" maxlength="{NAME_MAX_CHARS}" required value="{}">
<button id="sign-in-submit" data-test="sign-in-submit" type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"#,
        STYLESHEETS[0],
        STYLESHEETS[1],
        escape(name)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `text` safe inside HTML text and quoted attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_required_printable_and_short() {
        assert_eq!(audit_name("  Ada Lovelace "), Ok("Ada Lovelace"));
        assert_eq!(audit_name(&"é".repeat(64)), Ok("é".repeat(64).as_str()));
        for bad in ["", "   ", "line\nbreak", "bell\u{7}", &"x".repeat(65)] {
            assert!(audit_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn what_the_page_echoes_is_escaped() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[actix_rt::test]
    async fn the_form_echoes_the_name_escaped_and_never_holds_a_script() {
        let answer = page(
            StatusCode::UNAUTHORIZED,
            Some("That token is not right."),
            "\"><script>",
        );
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        let body = actix_web::body::to_bytes(answer.into_body()).await.unwrap();
        let html = std::str::from_utf8(&body).unwrap();
        assert!(
            html.contains("value=\"&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("style="), "{html}");
        assert!(html.contains("That token is not right."));
        assert!(html.contains(r#"name="token" type="password""#));
    }
}
