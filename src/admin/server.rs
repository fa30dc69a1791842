//! Starting and stopping the admin server: an actix-web server on its own worker thread,
//! bound before `start` returns so its real address (port 0 in tests) is known.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, HttpServer};

use super::{auth, error, routes, security_headers, AdminState};

/// A running admin server.
pub struct AdminServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl AdminServer {
    /// Binds `listen` and starts serving [`routes`] with `state`. Must be called inside a
    /// running actix `System`. One worker thread is plenty for an operator's API and keeps it
    /// off the delivery workers.
    pub fn start(listen: SocketAddr, state: AdminState) -> std::io::Result<Self> {
        Self::start_on(TcpListener::bind(listen)?, state)
    }

    /// Serves on an already bound `listener`, so `courier run` can refuse a taken address
    /// before it starts polling.
    pub fn start_on(listener: TcpListener, state: AdminState) -> std::io::Result<Self> {
        let state = web::Data::new(state);
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .wrap(middleware::from_fn(auth::admit_or_refuse))
                .wrap(middleware::from_fn(error::json_errors))
                .wrap(middleware::from_fn(security_headers::add))
                .configure(error::extractors)
                .configure(routes)
                .default_service(web::to(error::not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(Self { addr, handle })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for clients and tests.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets running requests finish (at most a second), and returns.
    pub async fn stop(self) {
        let stopping = self.handle.stop(true);
        let _ = actix_rt::time::timeout(Duration::from_secs(2), stopping).await;
    }
}
