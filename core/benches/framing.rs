//! The core alone, in memory: what framing costs next to copying the same bytes.
//!
//! `cargo bench -p tinyproto-core --bench framing`. The benchmark harness
//! (`bench`, `scenarios/core_mem.rs`) times the same workloads for BENCHMARKS.md.
//!
//! * 1 MiB received (peer's init byte, header, payload) through [`BlockingConnection`] over a
//!   [`ScriptedPeer`] handing out reads of at most 64 KiB, into a [`SliceBuffer`]; and 1 MiB
//!   sent; both against `memcpy` of 1 MiB (framing includes the one copy of the payload).
//! * 16-byte messages received and sent per second.
//! * Length headers parsed per second by a bare [`Session`].

mod workloads;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use workloads::{headers, receive, send, stream, BATCH, MIB, SMALL};

fn one_mib(c: &mut Criterion) {
    let mut g = c.benchmark_group("1 MiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    let payload = vec![0x5a; MIB];
    let mut storage = vec![0u8; MIB];
    g.bench_function("memcpy", |b| {
        b.iter(|| storage.copy_from_slice(black_box(&payload)))
    });
    let big = stream(MIB, 1);
    let mut answers = [0u8; 2];
    g.bench_function("receive", |b| {
        b.iter(|| receive(black_box(&big), &mut storage, &mut answers, 1))
    });
    let mut sent = vec![0u8; MIB + 16];
    g.bench_function("send", |b| {
        b.iter(|| send(black_box(&payload), 1, &[0xff, 0xff], &mut sent))
    });
    g.finish();
}

fn small(c: &mut Criterion) {
    let mut g = c.benchmark_group("16 B messages");
    g.throughput(Throughput::Elements(BATCH as u64));
    let input = stream(SMALL, BATCH);
    let mut storage = [0u8; SMALL];
    let mut answers = vec![0u8; BATCH + 1];
    g.bench_function("receive", |b| {
        b.iter(|| receive(black_box(&input), &mut storage, &mut answers, BATCH))
    });
    let acks = vec![0xff; BATCH + 1];
    let mut out = vec![0u8; BATCH * (SMALL + 4) + 1];
    let msg = [0x5a; SMALL];
    g.bench_function("send", |b| {
        b.iter(|| send(black_box(&msg), BATCH, &acks, &mut out))
    });
    g.bench_function("headers parsed (Session)", |b| b.iter(|| headers(BATCH)));
    g.finish();
}

criterion_group!(benches, one_mib, small);
criterion_main!(benches);
