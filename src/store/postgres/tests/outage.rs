//! A database outage: while the server cannot be reached, calls fail with
//! [`StoreError::Database`] and the store's health shows the fault; the first call that
//! reaches it again clears it. The outage is a proxy in front of the test's database that
//! closes its port and cuts its connections.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{config_for, fresh, server_addr};
use crate::store::contract::{commit, item};
use crate::store::postgres::FencePolicy;
use crate::store::{Store, StoreError};

/// A TCP proxy to the database server on a port of its own.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accepting: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).expect("the proxy's port is free");
        let addr = listener.local_addr().unwrap();
        let (open, streams) = (Arc::new(AtomicBool::new(true)), Arc::default());
        let accepting = {
            let (open, streams) = (Arc::clone(&open), Arc::clone(&streams));
            std::thread::spawn(move || accept(listener, open, streams))
        };
        Self {
            addr,
            open,
            streams,
            accepting: Some(accepting),
        }
    }

    /// Closes the port and cuts every connection through it.
    fn stop(&mut self) {
        self.open.store(false, Ordering::Release);
        // Wakes the accepting thread, which then sees it must stop.
        let _ = TcpStream::connect(self.addr);
        if let Some(accepting) = self.accepting.take() {
            accepting.join().unwrap();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept(listener: TcpListener, open: Arc<AtomicBool>, streams: Arc<Mutex<Vec<TcpStream>>>) {
    for client in listener.incoming() {
        if !open.load(Ordering::Acquire) {
            return;
        }
        match client {
            Ok(client) => {
                let server = TcpStream::connect(server_addr()).unwrap();
                let mut all = streams.lock().unwrap();
                all.extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
            Err(err) => panic!("the proxy cannot accept: {err}"),
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// A free port on the loopback interface.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[actix_rt::test]
async fn an_outage_fails_commits_and_shows_in_health_until_the_database_answers() {
    let database = fresh("outage");
    let mut proxy = Proxy::start(free_port());
    let url = format!(
        "postgres://postgres@{}/{}?sslmode=disable",
        proxy.addr, database.name
    );
    let (store, _) = Store::postgres(&config_for(&url), FencePolicy::SingleWriter).unwrap();
    commit(&store, "a", &[item("x", 1)]).await.unwrap();
    assert!(store.health().is_ok());

    proxy.stop();
    let err = commit(&store, "a", &[item("y", 2)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    let fault = store.health().fault.expect("the outage shows");
    assert!(!fault.error.is_empty());
    assert!(store.check().await.is_err(), "readiness sees it too");

    let _proxy = Proxy::start(proxy.addr);
    store.check().await.expect("the database answers again");
    assert!(store.health().is_ok());
    assert_eq!(store.health().faults_total, 1);
    let state = store.connection_state("a", "0").await.unwrap();
    assert_eq!(state.next_sequence, 2, "the page that failed wrote nothing");
}
