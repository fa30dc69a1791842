//! The console: a web page served by the admin listener, for operators who would rather look
//! than type. Every asset is embedded in the binary ([`assets`]), so it works offline and
//! needs no CDN; the page is a client of the same JSON API the CLI uses, and its scripts are
//! files (never inline), so the Content-Security-Policy forbids inline scripts.
//!
//! | route | serves |
//! |---|---|
//! | `GET /` | a redirect to `/console/` |
//! | `GET /console/` | the page (`index.html`) |
//! | `GET /console/assets/{file}` | its scripts and styles |
//! | `/console/sign-in`, `/console/sign-out`, `/console/session` | signing in ([`sign_in`]) |

pub mod assets;
pub mod sign_in;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// Adds the console's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_console))
        .route("/console", web::get().to(to_console))
        .route("/console/", web::get().to(page))
        .route("/console/assets/{file}", web::get().to(asset))
        .configure(sign_in::routes);
}

async fn to_console() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

async fn page() -> HttpResponse {
    assets::response("index.html").unwrap_or_else(|| HttpResponse::NotFound().finish())
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    match file.as_str() {
        "index.html" => HttpResponse::NotFound().finish(),
        name => assets::response(name).unwrap_or_else(|| HttpResponse::NotFound().finish()),
    }
}
