//! The core alone, in memory: the same workloads as `core/benches/framing.rs` (criterion),
//! timed here by an in-process loop so that the report needs no second tool. Each workload
//! runs in batches for a fixed time; the median batch gives the cost per operation.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../../../core/benches/workloads.rs"]
mod workloads;
pub use workloads::CHUNK;
use workloads::{headers, receive, send, stream, BATCH, MIB, SMALL};

/// Result of one workload: nanoseconds per operation (median, min, max).
#[derive(Clone, Debug)]
pub struct Timing {
    pub name: &'static str,
    pub unit: &'static str,
    pub ns: [f64; 3],
}

/// Runs `op` (which does `per` operations) in batches for `time`, `reps` times.
fn time_it(
    name: &'static str,
    unit: &'static str,
    reps: usize,
    time: Duration,
    per: usize,
    mut op: impl FnMut(),
) -> Timing {
    let mut samples = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < time || n == 0 {
            op();
            n += per;
        }
        samples.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    let s = crate::measure::Summary::of(&samples).expect("samples");
    Timing {
        name,
        unit,
        ns: [s.median, s.min, s.max],
    }
}

pub fn run(reps: usize, time: Duration) -> Vec<Timing> {
    let mut out = Vec::new();
    let big = stream(MIB, 1);
    let mut answers = vec![0u8; BATCH + 1];
    let payload = vec![0x5a; MIB];
    let mut storage = vec![0u8; MIB];
    out.push(time_it("memcpy 1 MiB", "ns/MiB", reps, time, 1, || {
        storage.copy_from_slice(black_box(&payload));
        black_box(&storage);
    }));
    out.push(time_it(
        "receive 1 MiB message (BlockingConnection, SliceBuffer)",
        "ns/MiB",
        reps,
        time,
        1,
        || {
            black_box(receive(black_box(&big), &mut storage, &mut answers, 1));
        },
    ));
    let mut sent = vec![0u8; MIB + 16];
    // The send workload's payload lands 5 bytes into the peer's buffer (init byte + header):
    // the same copy, unaligned, for comparison.
    out.push(time_it(
        "memcpy 1 MiB to a destination 5 bytes off alignment (where send's payload lands)",
        "ns/MiB",
        reps,
        time,
        1,
        || {
            sent[5..5 + MIB].copy_from_slice(black_box(&payload));
            black_box(&sent);
        },
    ));
    let acks = [0xff, 0xff];
    out.push(time_it(
        "send 1 MiB message (BlockingConnection)",
        "ns/MiB",
        reps,
        time,
        1,
        || {
            black_box(send(black_box(&payload), 1, &acks, &mut sent));
        },
    ));
    let small = stream(SMALL, BATCH);
    let mut small_storage = [0u8; SMALL];
    out.push(time_it(
        "receive 16 B messages",
        "ns/msg",
        reps,
        time,
        BATCH,
        || {
            black_box(receive(
                black_box(&small),
                &mut small_storage,
                &mut answers,
                BATCH,
            ));
        },
    ));
    let many_acks = vec![0xff; BATCH + 1];
    let mut small_out = vec![0u8; BATCH * (SMALL + 4) + 1];
    let msg = [0x5a; SMALL];
    out.push(time_it(
        "send 16 B messages",
        "ns/msg",
        reps,
        time,
        BATCH,
        || {
            black_box(send(black_box(&msg), BATCH, &many_acks, &mut small_out));
        },
    ));
    out.push(time_it(
        "parse headers (Session fed 4-byte headers)",
        "ns/header",
        reps,
        time,
        BATCH,
        || {
            black_box(headers(BATCH));
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_move_what_they_should() {
        let mut storage = vec![0u8; 100];
        let mut answers = [0u8; 4];
        assert_eq!(receive(&stream(100, 1), &mut storage, &mut answers, 1), 100);
        let mut small = [0u8; 16];
        assert_eq!(receive(&stream(16, 3), &mut small, &mut answers, 3), 48);
        let mut out = vec![0u8; 64];
        // Our init byte, then header + payload.
        assert_eq!(send(&[1; 16], 1, &[0xff, 0xff], &mut out), 1 + 4 + 16);
        assert_eq!(headers(5), 5);
    }
}
