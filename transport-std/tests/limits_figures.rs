//! Figures for the server's limits, measured over real sockets — not tests (they print, and
//! assert nothing about time): how long a peer that stops reading mid-echo is kept, and how
//! much memory stalled half-sent messages take.
//!
//! `cargo test --release -p tinyproto-std --test limits_figures -- --ignored --nocapture --test-threads 1`
//! (`STALL_SECS=30` for the default stall limit; 3 s otherwise).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tinyproto_std::{CloseReason, Server, DEFAULT_TIMEOUTS};

fn stall() -> Duration {
    let secs = std::env::var("STALL_SECS").map_or(3, |s| s.parse().expect("STALL_SECS"));
    Duration::from_secs(secs)
}

/// A peer sends a 32 MiB message (more than loopback buffers take), lets the echo start (answers its header) and stops reading.
#[test]
#[ignore = "a measurement: run by hand"]
fn a_peer_that_stops_reading_an_echo_is_closed_after() {
    const LEN: usize = 32 << 20;
    let timeouts = DEFAULT_TIMEOUTS.stall(stall().as_millis() as u32);
    let builder = Server::builder().listen("127.0.0.1:0").timeouts(timeouts);
    let server = TestServer::start(builder, |_| Echo);
    let mut peer = TcpStream::connect(server.addr).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.write_all(&[0xff]).unwrap();
    peer.read_exact(&mut [0]).unwrap();
    peer.write_all(&(LEN as u32).to_be_bytes()).unwrap();
    peer.read_exact(&mut [0]).unwrap();
    peer.write_all(&message(LEN, 1)).unwrap();
    let mut header = [0; 4];
    peer.read_exact(&mut header).unwrap();
    peer.write_all(&[0xff]).unwrap();
    let stopped = Instant::now();
    let why = loop {
        match server.seen.recv_timeout(Duration::from_secs(600)).unwrap() {
            Seen::Shutdown(_, why) => break why,
            _ => continue,
        }
    };
    let kept = stopped.elapsed();
    assert!(matches!(why, CloseReason::Failed(_)), "{why}");
    println!(
        "stall limit {:?}: a peer that stopped reading a {} MiB echo was closed after {:.2} s ({why})",
        stall(),
        LEN >> 20,
        kept.as_secs_f64()
    );
    server.stop();
}

/// Forty peers each announce a 60 MiB message, send 8 MiB of it and stall.
#[test]
#[ignore = "a measurement: run by hand"]
fn memory_of_stalled_half_sent_messages() {
    const PEERS: usize = 40;
    const ANNOUNCED: usize = 60 << 20;
    const SENT: usize = 8 << 20;
    let builder = Server::builder().listen("127.0.0.1:0");
    let server = TestServer::start(builder, |_| ());
    let chunk = message(SENT, 3);
    let before = status_bytes("VmRSS:");
    let mut accepted = 0;
    let peers: Vec<TcpStream> = (0..PEERS)
        .map(|_| {
            let mut peer = TcpStream::connect(server.addr).unwrap();
            peer.set_read_timeout(Some(WAIT)).unwrap();
            peer.write_all(&[0xff]).unwrap();
            peer.read_exact(&mut [0]).unwrap();
            peer.write_all(&(ANNOUNCED as u32).to_be_bytes()).unwrap();
            let mut status = [0];
            peer.read_exact(&mut status).unwrap();
            if status == [0xff] {
                accepted += 1;
                peer.write_all(&chunk).unwrap();
            }
            peer
        })
        .collect();
    // The last chunk written is in the server's memory once the server answers a header on a
    // fresh connection (the I/O thread handles events in order; this bounds the wait).
    let mut probe = TcpStream::connect(server.addr).unwrap();
    probe.set_read_timeout(Some(WAIT)).unwrap();
    probe.write_all(&[0xff, 0, 0, 0, 1, 7]).unwrap();
    probe.read_exact(&mut [0, 0]).unwrap();
    std::thread::sleep(Duration::from_millis(500)); // let the last reads finish (a measurement)
    let grown = status_bytes("VmRSS:").saturating_sub(before);
    println!(
        "{PEERS} peers announcing {} MiB and sending {} MiB: {accepted} accepted, \
         {} refused, server RSS +{} MiB (received {} MiB)",
        ANNOUNCED >> 20,
        SENT >> 20,
        PEERS - accepted,
        grown >> 20,
        (accepted * SENT) >> 20
    );
    drop(peers);
    server.stop();
}
