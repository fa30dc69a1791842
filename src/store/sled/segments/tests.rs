//! The segment log's file handling: rotation, torn and corrupt records, sweeping.

use super::*;

const FIVE_MINUTES: i64 = 300;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn notification(sequence: u64) -> Notification {
    Notification {
        id: format!("n-{sequence}"),
        connection: "c".into(),
        sequence,
        key: format!("k-{sequence}"),
        body: Bytes::from(format!(r#"{{"seq":{sequence}}}"#)),
    }
}

/// Appends notification `sequence`, alone, as delivered at `when` into segments of `span`.
fn append_at(log: &SegmentLog, when: DateTime<Utc>, span: i64, sequence: u64) {
    let delivered = Delivered {
        notification: &notification(sequence),
        at: when,
    };
    log.append("d", span, &[delivered]).unwrap();
}

/// Appends notification `sequence` as delivered at `time` (RFC 3339) into five-minute segments.
fn append(log: &SegmentLog, time: &str, sequence: u64) {
    append_at(log, at(time), FIVE_MINUTES, sequence);
}

fn sequences(log: &SegmentLog, since: &str, until: Option<&str>) -> Vec<u64> {
    log.read("d", at(since), until.map(at))
        .map(|r| r.unwrap().notification.sequence)
        .collect()
}

fn files(log: &SegmentLog) -> Vec<PathBuf> {
    let mut files: Vec<_> = segments(&log.dir.join("d"))
        .unwrap()
        .into_iter()
        .map(|file| file.path)
        .collect();
    files.sort();
    files
}

#[test]
fn records_read_back_exactly_in_append_order_across_segments() {
    let log = SegmentLog::temporary().unwrap();
    let times = ["10:04:59.999", "10:05:00.000", "10:04:59.500", "10:12:00"];
    for (i, time) in times.iter().enumerate() {
        append_at(
            &log,
            at(&format!("2026-11-26T{time}Z")),
            FIVE_MINUTES,
            i as u64 + 1,
        );
    }
    assert_eq!(files(&log).len(), 3, "one file per 5-minute segment");
    // Segment order first, then the order of appends within a segment.
    assert_eq!(sequences(&log, "2026-11-26T10:00:00Z", None), [1, 3, 2, 4]);
    // The time range is exact, whatever the segment boundaries.
    assert_eq!(
        sequences(
            &log,
            "2026-11-26T10:04:59.600Z",
            Some("2026-11-26T10:12:00Z")
        ),
        [1, 2]
    );
    let read = log
        .read("d", at("2026-11-26T10:12:00Z"), None)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(read.notification.body, notification(4).body);
    assert_eq!(read.notification.id, "n-4");
    assert_eq!(read.key.delivered_at, at("2026-11-26T10:12:00Z"));
    assert!(log
        .read("other", at("2026-11-26T10:00:00Z"), None)
        .next()
        .is_none());
}

#[test]
fn a_torn_last_record_is_skipped_and_the_next_run_writes_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let when = at("2026-11-26T10:00:01Z");
    let log = SegmentLog::open(dir.path().to_owned()).unwrap();
    for sequence in 1..=3 {
        append_at(&log, when, FIVE_MINUTES, sequence);
    }
    drop(log);
    // A process killed in the middle of writing record 3.
    let torn = fs::read_dir(dir.path().join("d"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = fs::metadata(&torn).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&torn)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let log = SegmentLog::open(dir.path().to_owned()).unwrap();
    assert_eq!(
        read_counting_skips(&log),
        (vec![1, 2], 0),
        "a torn tail is no damage"
    );
    append_at(&log, when, FIVE_MINUTES, 3);
    assert_eq!(
        files(&log).len(),
        2,
        "the new run appends to a file of its own"
    );
    assert_eq!(sequences(&log, "2026-11-26T10:00:00Z", None), [1, 2, 3]);
}

#[test]
fn a_corrupt_record_ends_its_file_but_not_the_others() {
    let log = SegmentLog::temporary().unwrap();
    for (sequence, time) in [(1, "10:00:01"), (2, "10:00:02"), (3, "10:06:00")] {
        append_at(
            &log,
            at(&format!("2026-11-26T{time}Z")),
            FIVE_MINUTES,
            sequence,
        );
    }
    let first = files(&log).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0xff; // inside record 2's body
    fs::write(&first, bytes).unwrap();
    assert_eq!(read_counting_skips(&log), (vec![1, 3], 1));
}

/// Every sequence readable from 10:00, and the damaged stretches skipped on the way.
fn read_counting_skips(log: &SegmentLog) -> (Vec<u64>, u64) {
    let reader = log.read("d", at("2026-11-26T10:00:00Z"), None);
    let skipped = reader.skipped();
    let read = reader.map(|r| r.unwrap().notification.sequence).collect();
    (read, skipped.count())
}

#[test]
fn garbage_in_the_middle_of_a_file_costs_only_the_records_it_covers_and_is_counted() {
    let log = SegmentLog::temporary().unwrap();
    for sequence in 1..=9 {
        append(&log, "2026-11-26T10:01:00Z", sequence);
    }
    let file = files(&log).remove(0);
    let mut bytes = fs::read(&file).unwrap();
    let record = bytes.len() / 9;
    // Record 4 overwritten from its header on, as a bad disk block or a stray write would.
    for (i, byte) in bytes[3 * record..4 * record].iter_mut().enumerate() {
        *byte = (i * 37 + 11) as u8;
    }
    // Record 7's body garbled: its checksum fails.
    bytes[7 * record - 3] ^= 0x5a;
    fs::write(&file, bytes).unwrap();
    assert_eq!(
        read_counting_skips(&log),
        (vec![1, 2, 3, 5, 6, 8, 9], 2),
        "read on past each damaged stretch, counting it"
    );
}

#[test]
fn the_sweep_deletes_whole_segments_and_later_appends_start_a_new_one() {
    let log = SegmentLog::temporary().unwrap();
    append(&log, "2026-11-26T10:01:00Z", 1);
    append(&log, "2026-11-26T10:06:00Z", 2);
    // 10:06 is inside the second segment: only the first one ended before it.
    let swept = log.sweep(|_| at("2026-11-26T10:06:00Z")).unwrap();
    assert_eq!(swept.segments, 1);
    assert_eq!(sequences(&log, "2026-11-26T10:00:00Z", None), [2]);
    // Everything swept, including the segment being appended to...
    assert_eq!(
        log.sweep(|_| at("2026-11-26T11:00:00Z")).unwrap().segments,
        1
    );
    assert!(files(&log).is_empty());
    // ...so the next append to that segment creates its file again.
    append(&log, "2026-11-26T10:07:00Z", 3);
    assert_eq!(sequences(&log, "2026-11-26T10:00:00Z", None), [3]);
}

#[test]
fn sync_makes_every_appended_segment_durable_and_is_free_when_nothing_was() {
    let log = SegmentLog::temporary().unwrap();
    log.sync().unwrap();
    append(&log, "2026-11-26T10:01:00Z", 1);
    append(&log, "2026-11-26T10:06:00Z", 2);
    assert!(log.unsynced.load(Ordering::Acquire));
    assert_eq!(
        log.writers().rotated.len(),
        1,
        "the rotated segment waits for a sync"
    );
    log.sync().unwrap();
    assert!(!log.unsynced.load(Ordering::Acquire));
    assert!(log.writers().rotated.is_empty());
}

#[test]
fn segments_are_an_eighth_of_the_retention_from_a_second_to_a_minute() {
    let hours = |h: u64| Duration::from_secs(h * 3600);
    assert_eq!(span_for(hours(72)), 60);
    assert_eq!(span_for(Duration::from_secs(80)), 10);
    assert_eq!(span_for(Duration::from_millis(1800)), 1);
    let log = SegmentLog::temporary().unwrap();
    append_at(&log, at("2026-11-26T10:00:00.5Z"), 1, 1);
    append_at(&log, at("2026-11-26T10:00:01.5Z"), 1, 2);
    assert_eq!(files(&log).len(), 2);
    let swept = log.sweep(|_| at("2026-11-26T10:00:01Z")).unwrap();
    assert_eq!(
        swept.segments, 1,
        "the first second is over, the next is not"
    );
    assert_eq!(sequences(&log, "2026-11-26T10:00:00Z", None), [2]);
}

#[test]
fn a_batch_is_written_to_each_segment_it_falls_in_in_its_order() {
    let log = SegmentLog::temporary().unwrap();
    let batch: Vec<(Notification, DateTime<Utc>)> = [
        (1, "10:04:59.998"),
        (2, "10:04:59.999"),
        (3, "10:05:00.000"),
        (4, "10:05:00.001"),
    ]
    .into_iter()
    .map(|(sequence, time)| (notification(sequence), at(&format!("2026-11-26T{time}Z"))))
    .collect();
    let delivered: Vec<Delivered<'_>> = batch
        .iter()
        .map(|(notification, at)| Delivered {
            notification,
            at: *at,
        })
        .collect();
    log.append("d", FIVE_MINUTES, &delivered).unwrap();
    assert_eq!(files(&log).len(), 2, "split at the segment boundary");
    assert_eq!(sequences(&log, "2026-11-26T10:00:00Z", None), [1, 2, 3, 4]);
    assert_eq!(
        sequences(&log, "2026-11-26T10:05:00Z", None),
        [3, 4],
        "the later segment holds the later half"
    );
}
