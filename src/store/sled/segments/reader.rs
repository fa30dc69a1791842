//! Reading segment files back, one record at a time, past damage.
//!
//! Only a torn tail is expected: the records a killed process was writing, cut short at the
//! end of its own file (their containers were not forgotten, so they were delivered and
//! retained again). Anything else that does not read as a record (flipped bits, garbage in the
//! middle of a file) is damage: the reader looks for the next whole record after it, reads on
//! from there, and counts the damaged stretch in [`Skipped`], so a replay can say that
//! notifications are missing instead of reporting a clean run. It logs where, never what.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::web::Bytes;

use super::{decode, HEADER, MAX_RECORD};
use crate::store::Retained;

/// Damaged stretches a reader skipped, each one record or more; shared, so whoever drives the
/// reader through iterator adapters can still read it afterwards.
#[derive(Debug, Clone, Default)]
pub struct Skipped(Arc<AtomicU64>);

impl Skipped {
    /// The stretches skipped so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads segment files one record at a time; see [`super::SegmentLog::read`].
pub struct SegmentReader {
    destination: String,
    since_ms: i64,
    until_ms: i64,
    /// Why the segments could not be listed, answered once.
    failed: Option<io::Error>,
    files: VecDeque<PathBuf>,
    current: Option<OpenSegment>,
    skipped: Skipped,
}

impl SegmentReader {
    /// A reader of `files`, in order, keeping the records delivered in `[since, until)` (unix
    /// milliseconds); `failed` is answered first.
    pub(super) fn new(
        destination: &str,
        (since_ms, until_ms): (i64, i64),
        files: VecDeque<PathBuf>,
        failed: Option<io::Error>,
    ) -> Self {
        Self {
            destination: destination.to_owned(),
            since_ms,
            until_ms,
            failed,
            files,
            current: None,
            skipped: Skipped::default(),
        }
    }

    /// The count of damaged stretches this reader skips, readable after it is consumed.
    pub fn skipped(&self) -> Skipped {
        self.skipped.clone()
    }
}

/// What the bytes at a segment's offset hold.
enum Found {
    Record(Retained),
    /// The file ends here.
    End,
    /// A record that runs past the end of the file.
    Cut,
    /// Not a record, for this reason.
    Damaged(&'static str),
}

struct OpenSegment {
    path: PathBuf,
    reader: BufReader<File>,
    /// Where `reader` is in the file.
    offset: u64,
    /// The file's length when last looked at (the current run may still append to it).
    len: u64,
}

impl OpenSegment {
    fn open(path: PathBuf) -> io::Result<Self> {
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path,
            reader: BufReader::with_capacity(256 * 1024, file),
            offset: 0,
            len,
        })
    }

    /// The next record, past any damage (counted in `skipped`); `None` at the end of the file.
    fn next_record(
        &mut self,
        destination: &str,
        skipped: &Skipped,
    ) -> io::Result<Option<Retained>> {
        let start = self.offset;
        let mut found = self.read_here(destination)?;
        if matches!(found, Found::Cut | Found::End) {
            // Appended since the file was opened, perhaps.
            self.len = self.reader.get_ref().metadata()?.len();
            self.seek(start)?;
            found = self.read_here(destination)?;
        }
        let damage = match found {
            Found::Record(record) => return Ok(Some(record)),
            Found::End => return Ok(None),
            Found::Cut => None,
            Found::Damaged(what) => Some(what),
        };
        for candidate in start + 1..self.len {
            self.seek(candidate)?;
            if let Found::Record(record) = self.read_here(destination)? {
                skipped.add();
                let what = damage.unwrap_or("a record cut short");
                self.warn(
                    start,
                    &format!("{what}; skipped {} bytes, reading on", candidate - start),
                );
                return Ok(Some(record));
            }
        }
        match damage {
            None => self.warn(
                start,
                "a torn last record (written when the process stopped); skipped",
            ),
            Some(what) => {
                skipped.add();
                self.warn(
                    start,
                    &format!(
                        "{what}, and nothing readable after it; the rest of that file is skipped"
                    ),
                );
            }
        }
        self.seek(self.len)?;
        Ok(None)
    }

    /// Reads the record at the current offset, moving past what it read.
    fn read_here(&mut self, destination: &str) -> io::Result<Found> {
        let rest = self.len.saturating_sub(self.offset);
        if rest == 0 {
            return Ok(Found::End);
        }
        if rest < HEADER as u64 {
            return Ok(Found::Cut);
        }
        let mut header = [0u8; HEADER];
        self.read_exact(&mut header)?;
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            return Ok(Found::Damaged("a record length out of range"));
        }
        if len as u64 > rest - HEADER as u64 {
            return Ok(Found::Cut);
        }
        let mut payload = vec![0; len];
        self.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != crc {
            return Ok(Found::Damaged("a record that fails its checksum"));
        }
        Ok(decode(destination, Bytes::from(payload))
            .map_or(Found::Damaged("a record of another layout"), Found::Record))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.reader.read_exact(buf)?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Moves to `to`, within the buffer when it can.
    fn seek(&mut self, to: u64) -> io::Result<()> {
        let by =
            i64::try_from(to).unwrap_or(i64::MAX) - i64::try_from(self.offset).unwrap_or(i64::MAX);
        self.reader.seek_relative(by)?;
        self.offset = to;
        Ok(())
    }

    fn warn(&self, at: u64, what: &str) {
        log::warn!(
            "retained notifications: {} at byte {at}: {what}",
            self.path.display()
        );
    }
}

impl Iterator for SegmentReader {
    type Item = io::Result<Retained>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.failed.take() {
            return Some(Err(err));
        }
        loop {
            let segment = match &mut self.current {
                Some(segment) => segment,
                None => {
                    let path = self.files.pop_front()?;
                    match OpenSegment::open(path) {
                        Ok(segment) => self.current.insert(segment),
                        // Swept since it was listed.
                        Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                        Err(err) => return Some(Err(err)),
                    }
                }
            };
            let retained = match segment.next_record(&self.destination, &self.skipped) {
                Ok(Some(retained)) => retained,
                Ok(None) => {
                    self.current = None;
                    continue;
                }
                Err(err) => {
                    self.current = None;
                    return Some(Err(err));
                }
            };
            let at = retained.key.delivered_at.timestamp_millis();
            if (self.since_ms..self.until_ms).contains(&at) {
                return Some(Ok(retained));
            }
        }
    }
}
