//! The console's files, compiled into the binary: one table of name, content type and bytes.
//! Each is served with a strong `ETag` (the hash of its text), so a browser revalidates
//! instead of downloading again.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::HttpResponse;

use crate::delivery::order::key_hash;

/// Every file of the console: its name under `/console/assets/` (`index.html` is the page
/// itself), its content type, and its bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "sign_in.css",
        "text/css; charset=utf-8",
        include_str!("assets/sign_in.css"),
    ),
];

/// The file `name` as a response, or `None` when there is no such file.
pub fn response(name: &str) -> Option<HttpResponse> {
    let (index, (_, content_type, body)) = FILES
        .iter()
        .enumerate()
        .find(|(_, (file, _, _))| *file == name)?;
    Some(
        HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((header::ETAG, etags()[index].as_str()))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(*body),
    )
}

/// The `ETag` of each file, in [`FILES`]' order, computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, body)| format!("\"{:016x}\"", key_hash(body)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_its_type_and_unknown_names_are_not() {
        for (name, content_type, _) in FILES {
            let response = response(name).expect("a listed file");
            let served = response.headers().get(header::CONTENT_TYPE).unwrap();
            assert_eq!(served, content_type, "{name}");
            assert!(response.headers().contains_key(header::ETAG), "{name}");
        }
        assert!(response("../Cargo.toml").is_none());
        assert!(response("missing.js").is_none());
    }
}
