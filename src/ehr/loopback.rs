//! Small loopback HTTP servers for unit tests of the EHR side and the pipeline: written with
//! raw sockets, so a test controls every byte and every pause of an answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test server accepts connections, and the longest it holds one: every test
/// server stops by itself.
const SERVER_LIFETIME: Duration = Duration::from_secs(10);

/// A loopback server whose connections are each answered by a handler on its own thread.
pub(crate) struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// When each request arrived, in order.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
    /// The most requests being answered at once.
    pub peak: Arc<AtomicUsize>,
}

/// Starts a server whose `handler` gets the number of the request (from 0) and the socket,
/// after the request's headers were read.
pub(crate) fn serve(handler: impl Fn(usize, &mut TcpStream) + Send + Sync + 'static) -> Server {
    serve_targets(move |number, _, stream| handler(number, stream))
}

/// Starts a server whose `handler` also gets each request's target (its path and query, as
/// sent), for tests of what a client asks for.
pub(crate) fn serve_targets(
    handler: impl Fn(usize, &str, &mut TcpStream) + Send + Sync + 'static,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handler = Arc::new(handler);
    let server = Server {
        addr,
        arrivals: Arc::clone(&arrivals),
        peak: Arc::clone(&peak),
    };
    thread::spawn(move || {
        let deadline = Instant::now() + SERVER_LIFETIME;
        while Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(2));
                continue;
            };
            let (handler, arrivals) = (Arc::clone(&handler), Arc::clone(&arrivals));
            let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
            thread::spawn(move || {
                stream.set_nonblocking(false).unwrap();
                let Some(target) = read_request_head(&mut stream) else {
                    return;
                };
                let number = {
                    let mut arrivals = arrivals.lock().unwrap();
                    arrivals.push(Instant::now());
                    arrivals.len() - 1
                };
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                handler(number, &target, &mut stream);
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    server
}

/// Reads up to the blank line that ends a request's headers, answering the request's target;
/// `None` when the client left.
fn read_request_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let line = head.lines().next().unwrap_or_default();
    Some(line.split(' ').nth(1).unwrap_or_default().to_owned())
}

/// Writes a complete response with a body; every connection is closed after one request, so
/// each request of a test is a connection of its own.
pub(crate) fn respond(stream: &mut TcpStream, status: &str, extra_headers: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
