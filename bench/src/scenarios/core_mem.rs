//! The core alone, in memory: the same workloads as `core/benches/framing.rs` (criterion),
//! timed here by an in-process loop so that the report needs no second tool. Each workload
//! runs in batches for a fixed time; the median batch gives the cost per operation.
//!
//! The workloads take turns, one short batch each per repetition, and a 1 MiB workload is
//! compared with the memcpy batch of the same repetition (the median of those ratios): a
//! change in the machine's load during the run (other processes, frequency) weighs on both
//! sides of a ratio alike, instead of on whichever ran at that moment.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../../../core/benches/workloads.rs"]
mod workloads;
pub use workloads::CHUNK;
use workloads::{headers, receive, send, stream, BATCH, MIB, SMALL};

/// Result of one workload: nanoseconds per operation (median, min, max), and for a 1 MiB
/// workload the median ratio to the memcpy of 1 MiB timed in the same repetitions.
#[derive(Clone, Debug)]
pub struct Timing {
    pub name: &'static str,
    pub unit: &'static str,
    pub ns: [f64; 3],
    pub vs_memcpy: Option<f64>,
}

/// A workload: its name and unit, the operations one call of `op` does, and `op`.
struct Workload {
    name: &'static str,
    unit: &'static str,
    per: usize,
    op: Box<dyn FnMut()>,
}

impl Workload {
    fn new(name: &'static str, unit: &'static str, per: usize, op: impl FnMut() + 'static) -> Self {
        Self {
            name,
            unit,
            per,
            op: Box::new(op),
        }
    }

    /// Runs `op` for `time` (at least once); nanoseconds per operation.
    fn batch(&mut self, time: Duration) -> f64 {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < time || n == 0 {
            (self.op)();
            n += self.per;
        }
        start.elapsed().as_nanos() as f64 / n as f64
    }
}

/// Runs every workload `reps` times for `time`, taking turns; the first one is the memcpy
/// of 1 MiB that the other `ns/MiB` workloads are compared with.
fn time_all(mut workloads: Vec<Workload>, reps: usize, time: Duration) -> Vec<Timing> {
    let mut samples = vec![Vec::with_capacity(reps); workloads.len()];
    for _ in 0..reps {
        for (w, s) in workloads.iter_mut().zip(&mut samples) {
            s.push(w.batch(time));
        }
    }
    let median = |v: &[f64]| crate::measure::Summary::of(v).expect("samples").median;
    workloads
        .iter()
        .zip(&samples)
        .map(|(w, s)| {
            let ratios: Vec<f64> = s.iter().zip(&samples[0]).map(|(a, m)| a / m).collect();
            let summary = crate::measure::Summary::of(s).expect("samples");
            Timing {
                name: w.name,
                unit: w.unit,
                ns: [summary.median, summary.min, summary.max],
                vs_memcpy: (w.unit == "ns/MiB").then(|| median(&ratios)),
            }
        })
        .collect()
}

pub fn run(reps: usize, time: Duration) -> Vec<Timing> {
    let big = stream(MIB, 1);
    let payload: std::rc::Rc<[u8]> = vec![0x5a; MIB].into();
    let mut answers = vec![0u8; BATCH + 1];
    let mut storage = vec![0u8; MIB];
    let mut copy = vec![0u8; MIB];
    let from = payload.clone();
    let memcpy = Workload::new("memcpy 1 MiB", "ns/MiB", 1, move || {
        copy.copy_from_slice(black_box(&from));
        black_box(&copy);
    });
    let receive_big = Workload::new(
        "receive 1 MiB message (BlockingConnection, SliceBuffer)",
        "ns/MiB",
        1,
        move || {
            black_box(receive(black_box(&big), &mut storage, &mut answers, 1));
        },
    );
    // The send workload's payload lands 5 bytes into the peer's buffer (init byte + header):
    // the same copy, unaligned, for comparison.
    let mut shifted = vec![0u8; MIB + 16];
    let from = payload.clone();
    let memcpy_shifted = Workload::new(
        "memcpy 1 MiB to a destination 5 bytes off alignment (where send's payload lands)",
        "ns/MiB",
        1,
        move || {
            shifted[5..5 + MIB].copy_from_slice(black_box(&from));
            black_box(&shifted);
        },
    );
    let acks = [0xff, 0xff];
    let mut sent = vec![0u8; MIB + 16];
    let send_big = Workload::new(
        "send 1 MiB message (BlockingConnection)",
        "ns/MiB",
        1,
        move || {
            black_box(send(black_box(&payload), 1, &acks, &mut sent));
        },
    );
    let small = stream(SMALL, BATCH);
    let mut small_storage = [0u8; SMALL];
    let mut small_answers = vec![0u8; BATCH + 1];
    let receive_small = Workload::new("receive 16 B messages", "ns/msg", BATCH, move || {
        black_box(receive(
            black_box(&small),
            &mut small_storage,
            &mut small_answers,
            BATCH,
        ));
    });
    let many_acks = vec![0xff; BATCH + 1];
    let mut small_out = vec![0u8; BATCH * (SMALL + 4) + 1];
    let msg = [0x5a; SMALL];
    let send_small = Workload::new("send 16 B messages", "ns/msg", BATCH, move || {
        black_box(send(black_box(&msg), BATCH, &many_acks, &mut small_out));
    });
    let parse = Workload::new(
        "parse headers (Session fed 4-byte headers)",
        "ns/header",
        BATCH,
        || {
            black_box(headers(BATCH));
        },
    );
    time_all(
        vec![
            memcpy,
            receive_big,
            memcpy_shifted,
            send_big,
            receive_small,
            send_small,
            parse,
        ],
        reps,
        time,
    )
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
