//! Response bodies that misbehave on the wire: cut off half-way, stalled half-way, or far
//! larger than any client should accept. All are streamed, so a sim serving a huge body never
//! holds more than one chunk of it, and a stalled one holds only its first half.

use std::convert::Infallible;
use std::io;
use std::iter;
use std::time::Duration;

use actix_web::http::header::{ContentLength, ContentType};
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream::{self, StreamExt};

/// Padding of a huge body is served in slices of this static run of spaces: nothing is
/// allocated per chunk, whatever the size of the body.
const PADDING: [u8; 16 * 1024] = [b' '; 16 * 1024];

/// How long a cut-off body waits after its first half before the connection is closed. actix
/// drops whatever it has not written yet when a body fails, so without this pause the client
/// could see the connection close before the headers, a different fault.
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// 200 with the `Content-Length` of `json`, its first half, then a closed connection.
pub fn half_then_close(json: Vec<u8>) -> HttpResponse {
    let (length, half) = first_half(json);
    let cut = async {
        tokio::time::sleep(FLUSH_PAUSE).await;
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the sim EHR breaks the body off half-way (injected fault)",
        ))
    };
    let body = stream::once(async { Ok(half) }).chain(stream::once(cut));
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header(ContentLength(length))
        .streaming(body)
}

/// 200 with the `Content-Length` of `json`, its first half, then silence on an open socket
/// until the client hangs up or the sim stops.
pub fn half_then_stall(json: Vec<u8>) -> HttpResponse {
    let (length, half) = first_half(json);
    let body = stream::once(async { Ok::<_, Infallible>(half) }).chain(stream::pending());
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header(ContentLength(length))
        .streaming(body)
}

/// 200 with `json` padded with whitespace to `bytes` bytes in all (still valid JSON that parses
/// to `json`), chunked, without a `Content-Length`.
pub fn padded(json: Vec<u8>, bytes: u64) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .streaming(stream::iter(
            padded_chunks(json, bytes).map(Ok::<_, Infallible>),
        ))
}

/// The chunks of [`padded`]: the opening bracket, the padding, then the rest of `json`.
/// Whitespace is valid right after an opening bracket; a body that does not start with one is
/// padded in front instead.
fn padded_chunks(json: Vec<u8>, bytes: u64) -> impl Iterator<Item = Bytes> {
    let mut rest = Bytes::from(json);
    let opening = match rest.first() {
        Some(b'[' | b'{') => rest.split_to(1),
        _ => Bytes::new(),
    };
    let padding = bytes.saturating_sub((opening.len() + rest.len()) as u64);
    let chunk = PADDING.len() as u64;
    let full_chunks = padding / chunk;
    let last = (padding % chunk) as usize;
    iter::once(opening)
        .chain((0..full_chunks).map(|_| Bytes::from_static(&PADDING)))
        .chain(iter::once(Bytes::from_static(&PADDING[..last])))
        .chain(iter::once(rest))
        .filter(|chunk| !chunk.is_empty())
}

/// The declared length of `json` and its first half.
fn first_half(json: Vec<u8>) -> (usize, Bytes) {
    let length = json.len();
    let mut half = Bytes::from(json);
    half.truncate(half.len() / 2);
    (length, half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn joined(chunks: impl Iterator<Item = Bytes>) -> Vec<u8> {
        chunks.flat_map(|chunk| chunk.to_vec()).collect()
    }

    #[test]
    fn padding_keeps_the_json_valid_and_reaches_the_size_exactly() {
        let page = json!([{"seq": 1, "id": "appt-1"}]);
        let text = serde_json::to_vec(&page).unwrap();
        let body = joined(padded_chunks(text, 100_000));
        assert_eq!(body.len(), 100_000);
        assert_eq!(body[0], b'[', "it still looks like a feed page");
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), page);
    }

    #[test]
    fn padding_never_shrinks_a_body_and_pads_a_scalar_in_front() {
        let text = serde_json::to_vec(&json!({"id": "a"})).unwrap();
        assert_eq!(joined(padded_chunks(text.clone(), 3)), text);
        let body = joined(padded_chunks(b"42".to_vec(), 10));
        assert_eq!(body, b"        42");
    }

    #[test]
    fn padding_is_served_in_static_chunks() {
        let chunks: Vec<Bytes> = padded_chunks(b"[]".to_vec(), 5 * 16 * 1024).collect();
        assert!(chunks.iter().all(|c| c.len() <= PADDING.len()));
        assert_eq!(
            chunks.len(),
            1 + 4 + 1 + 1,
            "opening, 4 full, 1 partial, rest"
        );
    }

    #[test]
    fn the_first_half_is_declared_with_the_whole_length() {
        let (length, half) = first_half(b"[1,2,3,4]".to_vec());
        assert_eq!((length, &half[..]), (9, &b"[1,2"[..]));
    }
}
