//! The console's security over real HTTP, against a running app's admin API: signing in with
//! the token, the session cookie, CSRF refusals that leave the service untouched, the bearer
//! token of the CLI, the DNS rebinding guard of an open loopback API, the security headers,
//! and signing out.

use actix_web::http::header;
use actix_web::http::StatusCode;
use courier::admin::auth::wrong_tokens;
use courier::status::ConnectionState;
use courier_sim::SimEhrOptions;

use crate::support::admin::start_admin;
use crate::support::app::{eventually, spawn_app, TestApp, PATIENCE};
use crate::support::console_session::{client, reply, session_post, sign_in, visit, Reply};
use crate::support::process::Rig;

const TOKEN: &str = "console-token-0123456789";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' \
    data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn quiet_app() -> TestApp {
    let ehr = SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    };
    spawn_app(ehr, |c| c).await
}

/// Signs in with [`TOKEN`].
async fn signed_in(base: &str, name: &str) -> (String, String) {
    crate::support::console_session::signed_in(base, TOKEN, name).await
}

fn paused(test: &TestApp) -> bool {
    test.connection("clinic-a").state == ConnectionState::Paused
}

#[actix_rt::test]
async fn an_unauthenticated_console_visit_is_sent_to_the_sign_in_form() {
    let test = quiet_app().await;
    let admin = start_admin(&test, Some(TOKEN));
    let base = admin.url();
    for path in ["/", "/console", "/console/"] {
        let answer = visit(&base, "GET", path, None, None).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            answer.header(header::LOCATION),
            "/console/sign-in",
            "{path}"
        );
    }
    let form = visit(&base, "GET", "/console/sign-in", None, None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(form
        .text
        .contains(r#"<input id="token" name="token" type="password""#));
    assert!(form.text.contains(r#"name="name""#));
    assert!(!form.text.contains("<script"));
    for style in ["/console/assets/console.css", "/console/assets/sign_in.css"] {
        let answer = visit(&base, "GET", style, None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{style}");
        assert!(form.text.contains(style), "the form links {style}");
    }
    for path in ["/status", "/console/session", "/console/assets/console.js"] {
        let answer = visit(&base, "GET", path, None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(answer.json()["error"].is_string());
    }
    let bogus = visit(
        &base,
        "GET",
        "/status",
        Some("courier_session=made-up"),
        None,
    )
    .await;
    assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);
    admin.stop().await;
}

#[actix_rt::test]
async fn the_right_token_gives_a_strict_cookie_that_opens_the_console_and_the_api() {
    let test = quiet_app().await;
    let admin = start_admin(&test, Some(TOKEN));
    let base = admin.url();
    let wrong = sign_in(&base, "console-token-0123456780", "Ada").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.text.contains("That token is not right."),
        "{}",
        wrong.text
    );
    assert!(wrong.text.contains(r#"value="Ada""#), "the name is kept");
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));

    let right = sign_in(&base, TOKEN, "Ada <ops>").await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.text);
    assert_eq!(right.header(header::LOCATION), "/console/");
    let cookie = right.header(header::SET_COOKIE);
    let id = cookie
        .strip_prefix("courier_session=")
        .and_then(|rest| rest.split(';').next())
        .expect("the session cookie");
    assert_eq!(id.len(), 43, "256 bits in base64url: {cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let pair = format!("courier_session={id}");
    let page = visit(&base, "GET", "/console/", Some(&pair), None).await;
    assert_eq!(page.status, StatusCode::OK);
    let status = visit(&base, "GET", "/status", Some(&pair), None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    assert!(status.json()["connections"]["clinic-a"].is_object());
    let session = visit(&base, "GET", "/console/session", Some(&pair), None)
        .await
        .json();
    assert_eq!(session["signed_in"], true);
    assert_eq!(session["sign_out"], true);
    assert_eq!(
        session["viewer"],
        "\"Ada <ops>\" (signed in, from 127.0.0.1)"
    );
    assert_eq!(session["csrf"].as_str().unwrap().len(), 43);
    admin.stop().await;
}

#[actix_rt::test]
async fn a_cookie_post_needs_the_csrf_header_and_a_cross_site_one_changes_nothing() {
    let test = quiet_app().await;
    let admin = start_admin(&test, Some(TOKEN));
    let base = admin.url();
    let (cookie, csrf) = signed_in(&base, "Ada").await;
    let pause = "/connections/clinic-a/pause";

    let bare = visit(&base, "POST", pause, Some(&cookie), None).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "{}", bare.text);
    assert!(bare.json()["error"]
        .as_str()
        .unwrap()
        .contains("X-Courier-CSRF"));
    let wrong = visit(&base, "POST", pause, Some(&cookie), Some("not-the-token")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross_site = session_post(&base, pause, &cookie, &csrf)
        .insert_header((header::ORIGIN, "https://evil.example"));
    let cross_site = reply(cross_site.send()).await;
    assert_eq!(
        cross_site.status,
        StatusCode::FORBIDDEN,
        "{}",
        cross_site.text
    );
    let fetched =
        session_post(&base, pause, &cookie, &csrf).insert_header(("Sec-Fetch-Site", "cross-site"));
    assert_eq!(reply(fetched.send()).await.status, StatusCode::FORBIDDEN);
    assert!(!paused(&test), "no refused request reached the connection");

    let allowed = session_post(&base, pause, &cookie, &csrf)
        .insert_header((header::ORIGIN, base.as_str()))
        .insert_header(("Sec-Fetch-Site", "same-origin"));
    let allowed = reply(allowed.send()).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
    assert_eq!(allowed.json()["result"], "paused");
    eventually("status shows the pause", PATIENCE, || paused(&test)).await;

    // The CLI's way: a bearer token and none of a browser's headers.
    let cli = client()
        .post(format!("{base}/connections/clinic-a/resume"))
        .bearer_auth(TOKEN);
    let cli = reply(cli.send()).await;
    assert_eq!(cli.status, StatusCode::OK, "{}", cli.text);
    eventually("status shows the resume", PATIENCE, || !paused(&test)).await;
    let forged_sign_in = client()
        .post(format!("{base}/console/sign-in"))
        .insert_header((header::ORIGIN, "https://evil.example"))
        .send_form(&[("token", TOKEN), ("name", "Mallory")]);
    assert_eq!(reply(forged_sign_in).await.status, StatusCode::FORBIDDEN);
    admin.stop().await;
}

#[actix_rt::test]
async fn every_answer_carries_the_security_headers_and_a_csp_without_inline_script() {
    let test = quiet_app().await;
    let admin = start_admin(&test, Some(TOKEN));
    let base = admin.url();
    let (cookie, _) = signed_in(&base, "Ada").await;
    let answers = [
        visit(&base, "GET", "/console/", Some(&cookie), None).await,
        visit(&base, "GET", "/console/", None, None).await,
        visit(&base, "GET", "/console/sign-in", None, None).await,
        visit(&base, "GET", "/status", None, None).await,
        visit(&base, "GET", "/no-such-path", Some(&cookie), None).await,
        visit(
            &base,
            "POST",
            "/connections/clinic-a/poll",
            Some(&cookie),
            None,
        )
        .await,
    ];
    for answer in &answers {
        let csp = answer.header(header::CONTENT_SECURITY_POLICY);
        assert_eq!(csp, CSP, "{}", answer.status);
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(answer.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(answer.header(header::REFERRER_POLICY), "no-referrer");
        assert_eq!(answer.header(header::X_FRAME_OPTIONS), "DENY");
    }
    let statuses: Vec<_> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [200, 303, 200, 401, 404, 403]);
    admin.stop().await;
}

#[actix_rt::test]
async fn an_open_loopback_api_answers_only_loopback_hosts_and_guards_browser_posts() {
    let test = quiet_app().await;
    let admin = start_admin(&test, None);
    let base = admin.url();
    let port = admin.addr().port();
    for host in ["evil.example".to_owned(), format!("evil.example:{port}")] {
        let rebound = client()
            .get(format!("{base}/status"))
            .insert_header((header::HOST, host.as_str()));
        let rebound = reply(rebound.send()).await;
        assert_eq!(
            rebound.status,
            StatusCode::FORBIDDEN,
            "{host}: {}",
            rebound.text
        );
        assert!(rebound.json()["error"]
            .as_str()
            .unwrap()
            .contains("loopback"));
    }
    let named = client()
        .get(format!("{base}/status"))
        .insert_header((header::HOST, format!("localhost:{port}")));
    assert_eq!(reply(named.send()).await.status, StatusCode::OK);
    assert_eq!(
        visit(&base, "GET", "/console/", None, None).await.status,
        StatusCode::OK
    );
    let form = visit(&base, "GET", "/console/sign-in", None, None).await;
    assert_eq!(form.status, StatusCode::SEE_OTHER, "no token, no sign-in");
    assert_eq!(form.header(header::LOCATION), "/console/");

    let session = visit(&base, "GET", "/console/session", None, None)
        .await
        .json();
    assert_eq!(session["signed_in"], false);
    assert_eq!(session["sign_out"], false);
    assert_eq!(session["viewer"], "loopback (from 127.0.0.1)");
    let csrf = session["csrf"].as_str().unwrap();
    let page_post = |csrf: Option<&str>| {
        let request = client()
            .post(format!("{base}/connections/clinic-a/pause"))
            .insert_header((header::ORIGIN, base.as_str()));
        match csrf {
            Some(csrf) => request.insert_header(("X-Courier-CSRF", csrf)),
            None => request,
        }
    };
    assert_eq!(
        reply(page_post(None).send()).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(!paused(&test));
    assert_eq!(
        reply(page_post(Some(csrf)).send()).await.status,
        StatusCode::OK
    );
    eventually("status shows the pause", PATIENCE, || paused(&test)).await;
    let cli = visit(&base, "POST", "/connections/clinic-a/resume", None, None).await;
    assert_eq!(cli.status, StatusCode::OK, "the CLI needs no CSRF token");
    eventually("status shows the resume", PATIENCE, || !paused(&test)).await;
    admin.stop().await;
}

#[actix_rt::test]
async fn signing_out_ends_the_session_and_clears_the_cookie() {
    let test = quiet_app().await;
    let admin = start_admin(&test, Some(TOKEN));
    let base = admin.url();
    let (cookie, csrf) = signed_in(&base, "Ada").await;
    let (other, _) = signed_in(&base, "Grace").await;
    let forged = visit(&base, "POST", "/console/sign-out", Some(&cookie), None).await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "sign-out needs the CSRF header too"
    );

    let out = visit(
        &base,
        "POST",
        "/console/sign-out",
        Some(&cookie),
        Some(&csrf),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.text);
    assert_eq!(out.header(header::LOCATION), "/console/sign-in");
    let cleared = out.header(header::SET_COOKIE);
    assert!(cleared.starts_with("courier_session=;") && cleared.contains("Max-Age=0"));
    let after = visit(&base, "GET", "/status", Some(&cookie), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let page = visit(&base, "GET", "/console/", Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let still = visit(&base, "GET", "/status", Some(&other), None).await;
    assert_eq!(
        still.status,
        StatusCode::OK,
        "another session stays signed in"
    );
    admin.stop().await;
}

/// `GET /status` with `Authorization: Bearer token`, as the CLI sends it.
async fn status_with_bearer(base: &str, token: &str) -> Reply {
    reply(
        client()
            .get(format!("{base}/status"))
            .bearer_auth(token)
            .send(),
    )
    .await
}

/// The `Retry-After` of a throttled answer, in seconds: within the one-minute window.
fn retry_after(answer: &Reply) -> u64 {
    let secs: u64 = answer.header(header::RETRY_AFTER).parse().unwrap();
    assert!((1..=60).contains(&secs), "Retry-After: {secs}");
    secs
}

#[actix_rt::test]
async fn ten_wrong_tokens_hold_off_the_addresss_tokens_but_not_its_signed_in_session() {
    let test = quiet_app().await;
    let admin = start_admin(&test, Some(TOKEN));
    let base = admin.url();
    let (cookie, _) = signed_in(&base, "Ada").await;
    // The form and the bearer header count together: one budget per address.
    for n in 0..5 {
        let wrong = sign_in(&base, &format!("guess-{n}"), "Eve").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "sign-in guess {n}");
        let wrong = status_with_bearer(&base, &format!("guess-{n}")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "bearer guess {n}");
    }

    let form = sign_in(&base, TOKEN, "Eve").await;
    assert_eq!(form.status, StatusCode::TOO_MANY_REQUESTS, "{}", form.text);
    let secs = retry_after(&form);
    assert!(
        form.text.contains(&format!(
            "Too many wrong tokens from your address: try again in {secs} s."
        )),
        "{}",
        form.text
    );
    assert!(!form.headers.contains_key(header::SET_COOKIE));
    let bearer = status_with_bearer(&base, TOKEN).await;
    assert_eq!(
        bearer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        bearer.text
    );
    retry_after(&bearer);
    let error = bearer.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("too many wrong tokens"), "{error}");

    let session = visit(&base, "GET", "/status", Some(&cookie), None).await;
    assert_eq!(
        session.status,
        StatusCode::OK,
        "the operator signed in before keeps working: {}",
        session.text
    );
    admin.stop().await;
}

#[actix_rt::test]
async fn sign_ins_are_logged_with_the_peer_and_never_the_token_or_the_session() {
    const TOKEN_ENV: &str = "COURIER_TEST_ADMIN_TOKEN";
    let mut rig = Rig::new(SimEhrOptions::default(), "");
    let config = rig.dir.path().join("courier.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[admin]\n",
        &format!("[admin]\ntoken_env = {TOKEN_ENV:?}\n"),
    );
    std::fs::write(&config, text).unwrap();
    rig.env.push((TOKEN_ENV, TOKEN.to_owned()));
    rig.log_filter = "info";
    let courier = rig.start();
    let base = rig.admin_url().await;
    let wrong_token = "console-token-9876543210";
    assert_eq!(
        sign_in(&base, wrong_token, "Ada").await.status,
        StatusCode::UNAUTHORIZED
    );
    let (cookie, csrf) = signed_in(&base, "Ada").await;
    let out = visit(
        &base,
        "POST",
        "/console/sign-out",
        Some(&cookie),
        Some(&csrf),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    for _ in 1..wrong_tokens::LIMIT {
        sign_in(&base, wrong_token, "Ada").await;
    }
    courier.stop().await;

    let logs = rig.log_text();
    assert!(
        logs.contains("admin token: 10 wrong tokens from 127.0.0.1 within 60 s"),
        "{logs}"
    );
    assert!(
        logs.contains("console sign-in refused: wrong token from 127.0.0.1"),
        "{logs}"
    );
    assert!(
        logs.contains("console signed in: \"Ada\" (signed in, from 127.0.0.1)"),
        "{logs}"
    );
    assert!(logs.contains("console signed out: \"Ada\""), "{logs}");
    let id = cookie.trim_start_matches("courier_session=");
    for secret in [TOKEN, wrong_token, id, csrf.as_str()] {
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
}
