//! Recovery: torn tails are truncated, damage in the middle fails closed with its position.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common;

use common::{event, frame_offsets, log_path, stream, write_log};
use ferry_engine::log::{self, Error, Expected, FileStore, Options, Store};

fn reopen_with(bytes: &[u8]) -> (tempfile::TempDir, log::Result<FileStore>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(log_path(dir.path()), bytes).unwrap();
    let store = FileStore::open(dir.path(), Options::default());
    (dir, store)
}

#[test]
fn truncating_inside_the_last_record_drops_only_that_record() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[1, 1, 1, 1, 1]);
    let bytes = std::fs::read(log_path(src.path())).unwrap();
    let last = *frame_offsets(&bytes).last().unwrap();
    let intact = FileStore::open(src.path(), Options::default())
        .unwrap()
        .read_all(1, 4)
        .unwrap();
    for cut in last..bytes.len() {
        let (dir, store) = reopen_with(&bytes[..cut]);
        let store = store.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(store.read_all(1, 10).unwrap(), intact, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(log_path(dir.path())).unwrap().len(),
            last as u64
        );
        // The log is usable again and the chain continues from the last good record.
        store
            .append(&stream("s"), Expected::Exact(4), vec![event(9)])
            .unwrap();
        assert!(matches!(
            log::verify(&store).unwrap(),
            log::Verification::Intact { head: 5, .. }
        ));
    }
}

#[test]
fn a_partly_written_multi_event_append_is_dropped_whole() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[2, 3]);
    let bytes = std::fs::read(log_path(src.path())).unwrap();
    let offsets = frame_offsets(&bytes);
    // Cut just after the 2nd frame of the 3-event append: complete frames, incomplete append.
    let (_dir, store) = reopen_with(&bytes[..offsets[4]]);
    let store = store.unwrap();
    assert_eq!(store.head().unwrap().position, 2);
    assert_eq!(store.stream_version(&stream("s")).unwrap(), 2);
}

#[test]
fn zeros_after_the_last_record_are_a_torn_tail() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[1, 1]);
    let mut bytes = std::fs::read(log_path(src.path())).unwrap();
    let len = bytes.len();
    bytes.extend(std::iter::repeat_n(0u8, 4096));
    let (dir, store) = reopen_with(&bytes);
    assert_eq!(store.unwrap().head().unwrap().position, 2);
    assert_eq!(
        std::fs::metadata(log_path(dir.path())).unwrap().len(),
        len as u64
    );
}

#[test]
fn a_flipped_byte_in_the_middle_refuses_to_open_naming_the_position() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[1, 1, 1, 1, 1, 1]);
    let bytes = std::fs::read(log_path(src.path())).unwrap();
    let offsets = frame_offsets(&bytes);
    // Every byte of records 2..=5: header fields, flags and body.
    for (i, window) in offsets.windows(2).enumerate().skip(1).take(4) {
        let position = i as u64 + 1;
        for at in (window[0]..window[1]).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            let (_dir, store) = reopen_with(&damaged);
            match store {
                Err(Error::Corrupt { position: p, .. }) => {
                    assert_eq!(p, position, "flip at byte {at}")
                }
                Err(other) => panic!("flip at byte {at}: unexpected error {other}"),
                Ok(_) => panic!("flip at byte {at} in record {position} was not detected"),
            }
        }
    }
}

#[test]
fn an_edited_record_with_a_valid_checksum_breaks_the_hash_chain() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[1, 1, 1]);
    let bytes = std::fs::read(log_path(src.path())).unwrap();
    let offsets = frame_offsets(&bytes);
    // Rewrite record 2's payload and recompute its CRC, as a forger would.
    let (start, end) = (offsets[1], offsets[2]);
    let body = String::from_utf8(bytes[start + 13..end].to_vec()).unwrap();
    let forged = body.replacen("\"n\":2", "\"n\":7", 1);
    assert_ne!(forged, body);
    let mut frame = Vec::new();
    frame.extend_from_slice(b"FRY1");
    frame.extend_from_slice(&(forged.len() as u32).to_le_bytes());
    let crc = crc32fast_hash(&[bytes[start + 12]], forged.as_bytes());
    frame.extend_from_slice(&crc.to_le_bytes());
    frame.push(bytes[start + 12]);
    frame.extend_from_slice(forged.as_bytes());
    let mut damaged = bytes[..start].to_vec();
    damaged.extend_from_slice(&frame);
    damaged.extend_from_slice(&bytes[end..]);
    match reopen_with(&damaged).1 {
        Err(Error::Corrupt {
            position: 3,
            reason,
            ..
        }) => assert!(reason.contains("hash chain")),
        other => panic!("forged record was not detected: {:?}", other.map(|_| ())),
    }
}

fn crc32fast_hash(flags: &[u8], body: &[u8]) -> u32 {
    // CRC-32 (IEEE), bitwise: independent of the store's implementation.
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in flags.iter().chain(body) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_file_that_is_not_a_log_fails_closed() {
    let mut bytes = b"this is not a ferry log".to_vec();
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[1]);
    bytes.extend(std::fs::read(log_path(src.path())).unwrap());
    assert!(matches!(
        reopen_with(&bytes).1,
        Err(Error::Corrupt {
            position: 1,
            offset: 0,
            ..
        })
    ));
}

#[test]
fn damage_followed_by_a_record_beyond_the_scan_chunk_is_still_found() {
    let src = tempfile::tempdir().unwrap();
    {
        let store = FileStore::open(src.path(), Options::default()).unwrap();
        let mut big = event(2);
        big.payload = serde_json::json!("x".repeat(3 << 20));
        for e in [event(1), big, event(3)] {
            store.append(&stream("s"), Expected::Any, vec![e]).unwrap();
        }
    }
    let mut bytes = std::fs::read(log_path(src.path())).unwrap();
    let offsets = frame_offsets(&bytes);
    assert!(
        offsets[2] - offsets[1] > 2 << 20,
        "record 3 must lie past the first scan chunk"
    );
    bytes[offsets[1] + 100] ^= 0x01;
    match reopen_with(&bytes).1 {
        Err(Error::Corrupt { position: 2, .. }) => {}
        other => panic!(
            "expected corruption at position 2, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[test]
fn a_scan_reads_every_batch_in_order_and_stops_at_damage_in_a_later_one() {
    // 1,700 records in appends of 100: the scan decodes them in several batches on other
    // threads and must still check and visit them in log order.
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &[100; 17]);
    let path = log_path(src.path());
    let bytes = std::fs::read(&path).unwrap();
    let offsets = frame_offsets(&bytes);
    assert_eq!(offsets.len(), 1700);
    let mut visited = Vec::new();
    let clean = log::scan::scan(&path, |head, _| visited.push(head.position)).unwrap();
    assert_eq!(visited, (1..=1700).collect::<Vec<_>>());
    assert_eq!((clean.head, clean.problem), (1700, None));
    let last = &bytes[offsets[1699] + 13..];
    assert_eq!(clean.digest, ferry_schemas::Digest::of(last));

    // A flipped byte in record 1,234 (the third batch): everything before it checks out.
    let mut damaged = bytes.clone();
    damaged[offsets[1233] + 40] ^= 0x01;
    std::fs::write(&path, &damaged).unwrap();
    let mut visited = 0;
    let found = log::scan::scan(&path, |_, _| visited += 1).unwrap();
    assert_eq!((found.head, visited), (1233, 1233));
    let problem = found.problem.unwrap();
    assert_eq!(
        (problem.position, problem.offset),
        (1234, offsets[1233] as u64)
    );

    // Cut inside an append that ends past the first batch: a torn tail at its last record.
    std::fs::write(&path, &bytes[..offsets[650]]).unwrap();
    let torn = log::scan::scan(&path, |_, _| {}).unwrap();
    assert_eq!(torn.head, 650);
    assert!(torn
        .problem
        .unwrap()
        .reason
        .contains("ends inside an append"));
}
