//! Memory the release echo-server commits for messages that stall half way (issue 12, defect 1):
//! its RSS growth must stay within 1.25 × the bytes it received plus a constant, whatever the
//! announced sizes. A measurement, so ignored by default; run it in release:
//!
//! ```text
//! cargo test --release -p tinyproto-examples --test memory_follows_bytes -- --ignored --nocapture
//! ```

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;
use tinyproto_testkit::{Peer, Rng};

const SERVER: &str = env!("CARGO_BIN_EXE_echo-server");
const MIB: usize = 1 << 20;
/// What the server may commit beyond 1.25 × the bytes received, for all connections together.
const SLACK: usize = 8 * MIB;

/// A field of `/proc/PID/status`, in bytes.
fn status_bytes(pid: u32, key: &str) -> usize {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = text.lines().find(|l| l.starts_with(key)).expect("field");
    let kb: usize = line[key.len()..]
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("a number of kB");
    kb * 1024
}

/// Bytes waiting in the receive queues of the connections accepted on `port`, from
/// `/proc/net/tcp` (state 01, established).
fn unread_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()?;
            let rx = usize::from_str_radix(f[4].split(':').nth(1)?, 16).ok()?;
            (local_port == port && f[3] == "01").then_some(rx)
        })
        .sum()
}

/// Opens one connection per `(announced, sent)` pair, announces each message, sends its first
/// `sent` bytes and stalls; returns the server's RSS growth once it has read every byte.
fn growth(plan: &[(usize, usize)]) -> usize {
    let (mut server, port): (Peer, u16) = server(binary(SERVER, &["--listen", "127.0.0.1:0"]));
    let pid = server.child_mut().id();
    let mut conns: Vec<TcpStream> = plan
        .iter()
        .map(|&(announced, _)| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            c.set_read_timeout(Some(WAIT)).unwrap();
            c.write_all(&[0xff]).unwrap();
            let mut byte = [0];
            c.read_exact(&mut byte).unwrap();
            assert_eq!(byte, [0xff], "init byte");
            c.write_all(&(announced as u32).to_be_bytes()).unwrap();
            c.read_exact(&mut byte).unwrap();
            assert_eq!(byte, [0xff], "{announced} bytes accepted");
            c
        })
        .collect();
    let before = status_bytes(pid, "VmRSS:");
    let payload = vec![0x5a; plan.iter().map(|p| p.1).max().unwrap_or(0)];
    for (c, &(_, sent)) in conns.iter_mut().zip(plan) {
        c.write_all(&payload[..sent]).unwrap();
    }
    let start = Instant::now();
    while unread_on(port) > 0 {
        assert!(start.elapsed() < WAIT, "the server stopped reading");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let after = status_bytes(pid, "VmRSS:");
    drop(conns);
    after.saturating_sub(before)
}

/// Measures `plan`, prints the figures and returns whether the growth is within bounds.
fn within_bounds(name: &str, plan: &[(usize, usize)]) -> bool {
    let received: usize = plan.iter().map(|p| p.1).sum();
    let announced: usize = plan.iter().map(|p| p.0).sum();
    let grown = growth(plan);
    println!(
        "{name}: {} connections, {} MiB announced, {} MiB received: RSS +{} MiB ({:.2} × received)",
        plan.len(),
        announced / MIB,
        received / MIB,
        grown / MIB,
        grown as f64 / received as f64
    );
    grown <= received + received / 4 + SLACK
}

#[test]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
fn stalled_messages_commit_memory_near_the_bytes_received() {
    // The issue's case: ten connections announce 60 MiB, send 32 MiB and stall.
    let issue = within_bounds("60 MiB announced, 32 MiB sent", &[(60 * MIB, 32 * MIB); 10]);
    // A mix: announced sizes up to the 64 MiB limit, each delivered up to a random length.
    let mut rng = Rng(12);
    let mix: Vec<(usize, usize)> = (0..10)
        .map(|_| {
            let announced = 1 + rng.below(64 * MIB);
            (announced, rng.below(announced))
        })
        .collect();
    let mixed = within_bounds("random mix", &mix);
    assert!(
        issue && mixed,
        "RSS grew more than 1.25 × received + {} MiB",
        SLACK / MIB
    );
}
