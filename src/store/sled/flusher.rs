//! Group commit: one thread makes the store durable for every writer waiting on it.
//!
//! Each committed page waits for a flush (sled's, and the retained notifications' segments).
//! Flushed one caller at a time, concurrent connections each sealed one of sled's 512 KiB I/O
//! buffers and paid for an fsync of their own: with 16 connections busy, sled held ~55 MB of
//! sealed buffers waiting to be written (BENCHMARKS.md, "Group commit"). Here a request that
//! arrives while a flush runs waits for the next one, which covers every request queued
//! behind it: at most one flush runs, and one more is due.
//!
//! It also keeps the store's high-water marks ([`super::marks`]): it knows when a flush
//! succeeded, and so what is durable.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;

use tokio::sync::oneshot;

use super::marks::MarksFile;
use super::segments::SegmentLog;

/// What a flush answers: the error is text, since every waiter gets a copy.
type Flushed = Result<(), String>;

/// A caller waiting for the next flush.
type Request = oneshot::Sender<Flushed>;

/// Hands flush requests to the store's flushing thread. Dropping it (with the last clone of
/// the store) ends the thread and waits for it, so the database is closed, and its directory
/// lock released, by the time the drop returns: the next open of the same store (a restart in
/// the same process, a CLI command after a test) finds it free.
pub struct Flusher {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Flusher {
    /// Starts the flushing thread for `db` and `retained`, keeping `marks` (if any) after
    /// each flush.
    pub fn start(
        db: sled::Db,
        retained: Arc<SegmentLog>,
        mut marks: Option<MarksFile>,
    ) -> std::io::Result<Self> {
        let (requests, queue) = mpsc::channel::<Request>();
        let thread = thread::Builder::new()
            .name("store flusher".into())
            .spawn(move || {
                while let Some(first) = next_request(&queue, &mut marks) {
                    let mut waiting = vec![first];
                    waiting.extend(queue.try_iter());
                    let flushed = flush_marked(&db, &retained, marks.as_mut());
                    for waiter in waiting {
                        // A waiter that went away (its actor stopped) needs no answer.
                        let _ = waiter.send(flushed.clone());
                    }
                }
                if let Some(marks) = marks.as_mut() {
                    marks.finish();
                }
            })?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Waits until everything written before the call is on disk.
    pub async fn flush(&self) -> Flushed {
        let (answer, answered) = oneshot::channel();
        self.requests
            .as_ref()
            .expect("only taken by drop")
            .send(answer)
            .map_err(|_| "the flushing thread stopped".to_owned())?;
        answered
            .await
            .map_err(|_| "the flushing thread stopped".to_owned())?
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Ends the thread's queue; a flush in progress finishes first.
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The next flush request, or `None` once the store is dropped; meanwhile writes marks that
/// wait to be written when they are due.
fn next_request(queue: &mpsc::Receiver<Request>, marks: &mut Option<MarksFile>) -> Option<Request> {
    loop {
        let Some(wait) = marks.as_ref().and_then(MarksFile::due_in) else {
            return queue.recv().ok();
        };
        match queue.recv_timeout(wait) {
            Ok(request) => return Some(request),
            Err(RecvTimeoutError::Timeout) => marks.as_mut()?.write_if_due(),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Flushes, and then moves the marks up to the commits recorded before the flush started:
/// those are on disk now.
fn flush_marked(db: &sled::Db, retained: &SegmentLog, marks: Option<&mut MarksFile>) -> Flushed {
    let staged = marks.as_ref().map(|marks| marks.stage());
    flush(db, retained)?;
    if let (Some(marks), Some(staged)) = (marks, staged) {
        marks.flushed(staged);
    }
    Ok(())
}

/// Segments first: a retained copy is on disk no later than the removal of its container.
fn flush(db: &sled::Db, retained: &SegmentLog) -> Flushed {
    retained.sync().map_err(|err| err.to_string())?;
    db.flush().map(drop).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn concurrent_requests_are_all_answered_after_a_flush() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let retained = Arc::new(SegmentLog::temporary().unwrap());
        let flusher = Flusher::start(db.clone(), retained, None).unwrap();
        db.insert("k", "v").unwrap();
        let answers = futures_util::future::join_all((0..32).map(|_| flusher.flush())).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(db.flush().unwrap(), 0, "nothing was left to flush");
    }

    #[actix_rt::test]
    async fn a_dropped_store_can_be_opened_again_at_once() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..3 {
            let store = crate::store::Store::open(dir.path()).unwrap();
            store.flush().await.unwrap();
        }
    }
}
