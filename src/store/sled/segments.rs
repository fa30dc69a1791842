//! Delivered notifications kept for replay, as append-only segment files beside the sled
//! database: `<dir>/<destination>/<segment start>-<span>-<run>.seg`, one file per destination,
//! per span of delivery time (see [`span_for`]) and per process run.
//!
//! Why files and not sled: retention writes every delivered body once and reads it back only
//! for a replay, which is what an append-only log does best. In sled the same writes cost
//! 6–10 µs of CPU per notification and their pages held ~75 MB of the process's memory under
//! load (BENCHMARKS.md, "Retention as segment files"); an append here is one `write` to the
//! page cache for a whole batch of deliveries, and expiry deletes whole files instead of
//! removing records one by one.
//!
//! Layout of a record (integers little-endian):
//! `<payload length: u32><CRC-32 of payload: u32><payload>`, the payload being
//! `<delivered at, unix ms: i64><sequence: u64>`, then connection, notification id and record
//! key, each as `<length: u32><bytes>`, then the body to the end.
//!
//! Crash safety: records are written (a batch of deliveries in one `write` call) before the
//! containers they copy are forgotten, so a killed process leaves at most the records it was
//! writing torn, at the end of its own file; no run appends to a file of an earlier run (the
//! run number is in the name), so a torn tail is never followed by good records. A reader
//! skips a torn tail, and counts and skips damaged stretches elsewhere (see [`reader`]).
//! Segments are synced with the store's own flushes (see [`SegmentLog::sync`]).

mod reader;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};

use crate::model::Notification;
use crate::store::{Delivered, Retained, RetainedKey, Swept};

pub use reader::{SegmentReader, Skipped};

/// The longest delivery time one segment file spans: a 72-hour retention is 4,320 files.
pub const MAX_SPAN_SECS: i64 = 60;

/// The delivery time one segment file spans for a destination keeping notifications for
/// `retain`: an eighth of it, from 1 second to a minute. A sweep deletes whole segments, so a
/// notification is removed at most one span after its retention ends (and replay never sends
/// one older than the retention).
pub fn span_for(retain: Duration) -> i64 {
    i64::try_from(retain.as_secs() / 8)
        .unwrap_or(MAX_SPAN_SECS)
        .clamp(1, MAX_SPAN_SECS)
}

/// Records longer than this are taken for corruption (a body is far smaller).
const MAX_RECORD: usize = 1 << 30;

/// Bytes of a record before its payload: length and checksum.
const HEADER: usize = 8;

/// The segment files of one store.
pub struct SegmentLog {
    dir: PathBuf,
    /// This process's run number, in the name of every file it writes: its start time in
    /// nanoseconds, so the files of one segment sort in the order they were written.
    run: u64,
    /// The segment each destination appends to, and segments left since the last sync.
    writers: Mutex<Writers>,
    /// Set by every append, cleared by a sync.
    unsynced: AtomicBool,
    /// Keeps a temporary store's directory alive; deleted with the log.
    _temporary: Option<tempfile::TempDir>,
}

#[derive(Default)]
struct Writers {
    open: HashMap<String, Segment>,
    /// Segments rotated away from, to be synced (then closed) by the next sync.
    rotated: Vec<File>,
}

struct Segment {
    start: i64,
    span: i64,
    file: File,
    /// The file's length after its last whole write: a write that fails part-way (a full
    /// disk) is cut back to it, so good records written later never follow a torn one.
    len: u64,
}

/// One segment file, as named.
struct SegmentFile {
    start: i64,
    span: i64,
    run: u64,
    path: PathBuf,
}

impl SegmentFile {
    /// Unix milliseconds just after the last delivery time the file can hold.
    fn end_ms(&self) -> i64 {
        self.start.saturating_add(self.span).saturating_mul(1000)
    }
}

impl SegmentLog {
    /// The log in `dir` (created when missing).
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self::new(dir, None))
    }

    /// A log in a fresh temporary directory, deleted when the log is dropped.
    pub fn temporary() -> io::Result<Self> {
        let temporary = tempfile::Builder::new()
            .prefix("courier-retained-")
            .tempdir()?;
        Ok(Self::new(temporary.path().to_owned(), Some(temporary)))
    }

    fn new(dir: PathBuf, temporary: Option<tempfile::TempDir>) -> Self {
        let run = Utc::now()
            .timestamp_nanos_opt()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_default();
        Self {
            dir,
            run,
            writers: Mutex::default(),
            unsynced: AtomicBool::new(false),
            _temporary: temporary,
        }
    }

    /// Appends `delivered` to `destination`'s segments of `span` seconds (see [`span_for`]),
    /// with one write per segment they fall in (one, but at a segment's end).
    pub fn append(
        &self,
        destination: &str,
        span: i64,
        delivered: &[Delivered<'_>],
    ) -> io::Result<()> {
        let span = span.max(1);
        let mut writers = self.writers();
        let mut records = Vec::new();
        let mut segment_start = None;
        for delivered in delivered {
            let start = delivered.at.timestamp().max(0).div_euclid(span) * span;
            if let Some(previous) = segment_start.filter(|previous| *previous != start) {
                self.write(&mut writers, destination, previous, span, &records)?;
                records.clear();
            }
            segment_start = Some(start);
            encode_into(&mut records, delivered.at, delivered.notification);
        }
        if let Some(start) = segment_start {
            self.write(&mut writers, destination, start, span, &records)?;
        }
        Ok(())
    }

    /// Writes `records` to `destination`'s segment starting at `start`, opening it (and
    /// rotating away from the previous one) when it is not the open one.
    fn write(
        &self,
        writers: &mut Writers,
        destination: &str,
        start: i64,
        span: i64,
        records: &[u8],
    ) -> io::Result<()> {
        let segment = match writers.open.get_mut(destination) {
            Some(segment) if (segment.start, segment.span) == (start, span) => segment,
            _ => {
                let file = self.create(destination, start, span)?;
                let len = file.metadata()?.len();
                let segment = Segment {
                    start,
                    span,
                    file,
                    len,
                };
                let previous = writers.open.insert(destination.to_owned(), segment);
                if let Some(previous) = previous {
                    writers.rotated.push(previous.file);
                }
                writers.open.get_mut(destination).expect("just inserted")
            }
        };
        if let Err(err) = segment.file.write_all(records) {
            // Cutting back frees space, so it works on a full disk too; if even that fails,
            // a reader stops at the torn record, as after a crash.
            let _ = segment.file.set_len(segment.len);
            return Err(err);
        }
        segment.len += records.len() as u64;
        self.unsynced.store(true, Ordering::Release);
        Ok(())
    }

    fn create(&self, destination: &str, start: i64, span: i64) -> io::Result<File> {
        let dir = self.dir.join(destination);
        fs::create_dir_all(&dir)?;
        let name = format!("{start:012}-{span:05}-{:020}.seg", self.run);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
    }

    /// Makes every record appended so far durable; nothing to do when none was. The files are
    /// synced through handles of their own, so appends are not held up by the disk.
    pub fn sync(&self) -> io::Result<()> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let (open, rotated) = {
            let mut writers = self.writers();
            let open = writers
                .open
                .values()
                .map(|segment| segment.file.try_clone())
                .collect::<io::Result<Vec<_>>>();
            (open, std::mem::take(&mut writers.rotated))
        };
        let result = open.and_then(|open| {
            open.iter()
                .chain(&rotated)
                .try_for_each(|file| file.sync_data())
        });
        if result.is_err() {
            // Synced again next time, rotated files too.
            self.writers().rotated.extend(rotated);
            self.unsynced.store(true, Ordering::Release);
        }
        result
    }

    /// The notifications delivered to `destination` from `since` (and before `until`), in the
    /// order they were appended, read lazily one record at a time. A directory that cannot be
    /// listed is the reader's first (and only) item.
    pub fn read(
        &self,
        destination: &str,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> SegmentReader {
        let (since_ms, until_ms) = (
            since.timestamp_millis(),
            until.map_or(i64::MAX, |u| u.timestamp_millis()),
        );
        let (mut files, failed) = match segments(&self.dir.join(destination)) {
            Ok(files) => (files, None),
            Err(err) => (Vec::new(), Some(err)),
        };
        files.retain(|file| file.end_ms() > since_ms && file.start.saturating_mul(1000) < until_ms);
        files.sort_by_key(|file| (file.start, file.run));
        let files = files.into_iter().map(|file| file.path).collect();
        SegmentReader::new(destination, (since_ms, until_ms), files, failed)
    }

    /// The destinations that have segment files.
    pub fn destinations(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Deletes the segments whose whole span is before `cutoff(destination)`.
    pub fn sweep(&self, cutoff: impl Fn(&str) -> DateTime<Utc>) -> io::Result<Swept> {
        let mut swept = Swept::default();
        for destination in self.destinations()? {
            let cutoff_ms = cutoff(&destination).timestamp_millis();
            for file in segments(&self.dir.join(&destination))? {
                if file.end_ms() > cutoff_ms {
                    continue;
                }
                let bytes = fs::metadata(&file.path).map_or(0, |m| m.len());
                match fs::remove_file(&file.path) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                    Err(err) => return Err(err),
                }
                swept.segments += 1;
                swept.bytes += bytes;
                // Appends to a deleted segment would go nowhere: the next one starts a file.
                let mut writers = self.writers();
                let open = writers.open.get(&destination);
                if open.is_some_and(|s| (s.start, s.span) == (file.start, file.span)) {
                    writers.open.remove(&destination);
                }
            }
        }
        Ok(swept)
    }

    fn writers(&self) -> MutexGuard<'_, Writers> {
        // The map stays consistent whatever panicked while holding it.
        self.writers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The segment files in `dir`; none when `dir` does not exist. Files of another name are not
/// ours and are left alone.
fn segments(dir: &Path) -> io::Result<Vec<SegmentFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let parsed = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".seg"))
            .and_then(parse_segment_name);
        if let Some((start, span, run)) = parsed {
            found.push(SegmentFile {
                start,
                span,
                run,
                path,
            });
        }
    }
    Ok(found)
}

/// `<start>-<span>-<run>` as numbers.
fn parse_segment_name(stem: &str) -> Option<(i64, i64, u64)> {
    let mut parts = stem.split('-');
    let start = parts.next()?.parse().ok()?;
    let span = parts.next()?.parse::<i64>().ok()?.max(1);
    let run = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((start, span, run))
}

/// Appends `notification`'s record to `out`.
fn encode_into(out: &mut Vec<u8>, delivered_at: DateTime<Utc>, notification: &Notification) {
    let parts = [
        notification.connection.as_bytes(),
        notification.id.as_bytes(),
        notification.key.as_bytes(),
    ];
    let payload_len =
        16 + parts.iter().map(|p| 4 + p.len()).sum::<usize>() + notification.body.len();
    let begin = out.len();
    out.reserve(HEADER + payload_len);
    out.extend_from_slice(&u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&delivered_at.timestamp_millis().to_le_bytes());
    out.extend_from_slice(&notification.sequence.to_le_bytes());
    for part in parts {
        let len = u32::try_from(part.len()).expect("ids and keys are far below 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&notification.body);
    let crc = crc32fast::hash(&out[begin + HEADER..]);
    out[begin + 4..begin + HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// A payload read back; `None` when its layout is not a record's.
fn decode(destination: &str, payload: Bytes) -> Option<Retained> {
    let delivered_ms = i64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let sequence = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    let mut at = 16;
    let mut text = || -> Option<String> {
        let len = u32::from_le_bytes(payload.get(at..at + 4)?.try_into().ok()?) as usize;
        let bytes = payload.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        String::from_utf8(bytes.to_vec()).ok()
    };
    let (connection, id, key) = (text()?, text()?, text()?);
    Some(Retained {
        key: RetainedKey {
            destination: destination.to_owned(),
            delivered_at: DateTime::from_timestamp_millis(delivered_ms)?,
            connection: connection.clone(),
            sequence,
        },
        notification: Notification {
            id,
            connection,
            sequence,
            key,
            body: payload.slice(at..),
        },
    })
}

#[cfg(test)]
mod tests;
