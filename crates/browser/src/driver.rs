//! The `chromedriver` process: started on a free loopback port, asked until it is ready, and
//! killed (and reaped) on drop, so a test that panics leaves no driver behind.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use courier_sim::wait::until;

use crate::{BrowserError, CHROMEDRIVER, CHROMIUM};

/// How long ChromeDriver may take to answer its first `GET /status`.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// How long a session's quit may take on drop (Chromium closing its windows).
const QUIT_WITHIN: Duration = Duration::from_secs(10);

/// A running ChromeDriver.
pub struct Driver {
    /// The process; killed on drop.
    child: Child,
    /// Its loopback port.
    port: u16,
}

impl Driver {
    /// Starts ChromeDriver on a free loopback port and waits until it is ready. Refuses with
    /// [`BrowserError::Missing`] when Chromium or ChromeDriver is not installed.
    pub async fn start() -> Result<Self, BrowserError> {
        for program in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(program).exists() {
                return Err(BrowserError::Missing(program));
            }
        }
        let port = free_port().map_err(BrowserError::Start)?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(BrowserError::Start)?;
        let driver = Self { child, port };
        let client = awc::Client::default();
        let status = format!("{}/status", driver.url());
        let ready = until(READY_WITHIN, Duration::from_millis(20), || async {
            let mut answer = client.get(&status).send().await.ok()?;
            let body = answer.json::<serde_json::Value>().await.ok()?;
            (body["value"]["ready"] == true).then_some(())
        });
        ready.await.ok_or(BrowserError::NotReady(port))?;
        Ok(driver)
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Ends session `id` (Chromium closes) without a runtime: for drop, where nothing can be
    /// awaited. Failures are ignored: the driver is killed next anyway.
    pub fn quit_blocking(&self, id: &str) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&address, QUIT_WITHIN) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(QUIT_WITHIN));
        let request = format!(
            "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on now (the kernel's pick, released for the driver).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
