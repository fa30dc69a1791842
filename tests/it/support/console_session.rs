//! A browser's side of the console over HTTP (awc): the sign-in form, the session cookie and
//! the CSRF token, with redirects not followed so a test sees each 303 and `Set-Cookie`.

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use serde_json::Value;

/// An answer: status, headers, body text.
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// Header `name`; panics (showing the headers) when it is missing.
    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// A client that follows no redirect, so each 303 and its `Set-Cookie` are seen as sent.
pub fn client() -> awc::Client {
    awc::Client::builder().disable_redirects().finish()
}

/// Waits for the answer of `sent` and reads it whole.
pub async fn reply(sent: awc::SendClientRequest) -> Reply {
    let mut response = sent.await.expect("the admin API answers");
    let body = response.body().limit(1 << 20).await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        text: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A browser's visit: `method path`, with the session `cookie` and `csrf` header when given.
pub async fn visit(
    base: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
) -> Reply {
    let url = format!("{base}{path}");
    let mut request = match method {
        "GET" => client().get(url),
        "POST" => client().post(url),
        other => panic!("unsupported method {other}"),
    };
    if let Some(cookie) = cookie {
        request = request.insert_header((header::COOKIE, cookie));
    }
    if let Some(csrf) = csrf {
        request = request.insert_header(("X-Courier-CSRF", csrf));
    }
    reply(request.send()).await
}

/// A browser's POST to `path` with its session `cookie` and `csrf` header, for a test to add
/// the headers a browser would (`Origin`, `Sec-Fetch-Site`) and send.
pub fn session_post(base: &str, path: &str, cookie: &str, csrf: &str) -> awc::ClientRequest {
    client()
        .post(format!("{base}{path}"))
        .insert_header((header::COOKIE, cookie))
        .insert_header(("X-Courier-CSRF", csrf))
}

/// Posts the sign-in form as a browser on the console's own page does.
pub async fn sign_in(base: &str, token: &str, name: &str) -> Reply {
    let request = client()
        .post(format!("{base}/console/sign-in"))
        .insert_header((header::ORIGIN, base))
        .insert_header(("Sec-Fetch-Site", "same-origin"));
    reply(request.send_form(&[("token", token), ("name", name)])).await
}

/// Signs in as `name` with `token`, which must be right; the `Cookie` value that carries the
/// session, and the session's CSRF token.
pub async fn signed_in(base: &str, token: &str, name: &str) -> (String, String) {
    let answer = sign_in(base, token, name).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let cookie = answer.header(header::SET_COOKIE);
    let pair = cookie.split(';').next().unwrap().to_owned();
    let session = visit(base, "GET", "/console/session", Some(&pair), None).await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
    let csrf = session.json()["csrf"].as_str().unwrap().to_owned();
    (pair, csrf)
}
