//! A steady stream of requests against a running app, from a background thread, that
//! records every failure and the slowest response.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http_request;

/// One request of the stream and the status it must get.
#[derive(Debug, Clone)]
pub struct Expect {
    /// HTTP method.
    pub method: &'static str,
    /// Path.
    pub path: &'static str,
    /// The status every response must have.
    pub status: u16,
}

/// What the stream saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (connection error or unexpected status), described.
    pub failures: Vec<String>,
    /// The slowest response.
    pub slowest: Duration,
}

/// A running stream of requests; [`Load::finish`] stops it and returns the report.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    worker: Option<JoinHandle<LoadReport>>,
}

impl Load {
    /// Sends the `requests` in turn, one after the other, to `127.0.0.1:port` until
    /// stopped.
    pub fn start(port: u16, requests: Vec<Expect>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let worker = {
            let stop = Arc::clone(&stop);
            let sent = Arc::clone(&sent);
            std::thread::spawn(move || {
                let mut report = LoadReport::default();
                while !stop.load(Ordering::Relaxed) {
                    for expect in &requests {
                        report.requests += 1;
                        sent.fetch_add(1, Ordering::Relaxed);
                        match http_request(port, expect.method, expect.path, &[]) {
                            Ok(response) => {
                                report.slowest = report.slowest.max(response.elapsed);
                                if response.status != expect.status {
                                    report.failures.push(format!(
                                        "{} {}: status {} (expected {}): {}",
                                        expect.method,
                                        expect.path,
                                        response.status,
                                        expect.status,
                                        response.body
                                    ));
                                }
                            }
                            Err(err) => report
                                .failures
                                .push(format!("{} {}: {err}", expect.method, expect.path)),
                        }
                    }
                }
                report
            })
        };
        Load {
            stop,
            sent,
            worker: Some(worker),
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits until at least `more` further requests have been sent (so a phase of a test
    /// is really under load), at most the e2e deadline.
    pub fn wait_for_more(&self, more: u64) {
        let target = self.sent() + more;
        crate::poll(&format!("{more} more requests under load"), || {
            (self.sent() >= target).then_some(())
        });
    }

    /// Stops the stream and returns what it saw.
    pub fn finish(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.worker
            .take()
            .map(|worker| worker.join().expect("the load thread does not panic"))
            .unwrap_or_default()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The steady stream of the outage tests: the demo's health check (never faulted) and
/// `items` (faulted with a 503 before the outage; the last snapshot must keep applying
/// it), to the demo app on `port`.
pub fn steady_stream(port: u16) -> Load {
    Load::start(
        port,
        vec![
            Expect {
                method: "GET",
                path: "/health",
                status: 200,
            },
            Expect {
                method: "GET",
                path: "/items",
                status: 503,
            },
        ],
    )
}
