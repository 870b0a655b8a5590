//! Soak and fault suite (issue 12): many clients send many checksummed messages of random
//! sizes to an echo server through a proxy that splits, delays and resets at random (the
//! workload is `tinyproto_testkit::soak`, which the benchmark's `soak` scenario runs too); no
//! message may come back wrong or be lost, and afterwards the server's RSS and open descriptors must be
//! back where they were. Not run by default (a minute or more of load); run by hand:
//!
//! `cargo test --release -p tinyproto-std --test soak -- --ignored --nocapture soak_through_a_faulty_proxy`
//!
//! Sizes: `SOAK_CLIENTS` (default 50), `SOAK_MESSAGES` per client (default 200), `SOAK_SEED`.
//! The server runs in a child process (this test binary again, test `soak_server`), so that
//! its RSS and descriptors are its own.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tinyproto_std::{Conn, Handler, Sent, Server, TcpConnection, DEFAULT_TIMEOUTS};
use tinyproto_testkit::soak;

/// Set in the child process that runs the server.
const SERVER_ENV: &str = "TINYPROTO_SOAK_SERVER";
/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

/// Echoes an intact message; answers a damaged one with an empty message (never intact).
struct CheckedEcho;

impl Handler for CheckedEcho {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let answer = if soak::intact(&msg) { msg } else { Vec::new() };
        let _ = conn.transmit(answer);
    }
}

/// The child process: an echo server on loopback that prints its address and runs until its
/// stdin closes. Does nothing in a normal test run.
#[test]
#[ignore = "the soak's server process"]
fn soak_server() {
    if std::env::var_os(SERVER_ENV).is_none() {
        return;
    }
    let timeouts = DEFAULT_TIMEOUTS.stall(2_000).status(2_000);
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .timeouts(timeouts)
        .bind()
        .unwrap();
    println!("ADDR {}", server.local_addrs()[0]);
    let handle = server.handle();
    thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        handle.shutdown();
    });
    server.run(|_| CheckedEcho, ()).unwrap();
}

/// The server's process: started, measured, stopped by closing its stdin.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "soak_server", "--nocapture"])
            .env(SERVER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = (&mut lines)
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("ADDR ").map(|a| a.parse().unwrap()))
            .expect("the server's address");
        // The rest of its output is read (and dropped), so that it never writes into a
        // closed pipe.
        thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    fn status_kib(&self, key: &str) -> usize {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        line[key.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Waits (bounded) until every connection the proxy opened is closed on the server's
    /// side; its descriptors then (all, sockets).
    fn settle(&self) -> (usize, usize) {
        soak::settled_fds(self.child.id(), WAIT).unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn echo(conn: &mut TcpConnection, msg: &[u8]) -> Result<Vec<u8>, String> {
    match conn.transmit(msg).map_err(|e| e.to_string())? {
        Sent::Written => {}
        rejected => return Err(format!("{rejected:?}")),
    }
    let received = conn.receive().map_err(|e| e.to_string())?;
    received
        .message()
        .ok_or_else(|| "refused or discarded".into())
}

/// Every client's echoes through the proxy at `via`.
fn run_clients(via: SocketAddr, clients: usize, messages: usize, seed: u64) -> soak::Tally {
    let connect = || TcpConnection::connect(via).map_err(|e| e.to_string());
    soak::run_clients(clients, messages, seed, connect, echo)
}

#[test]
#[ignore = "a soak: a minute or more of load; run by hand"]
fn soak_through_a_faulty_proxy() {
    let clients = env("SOAK_CLIENTS", 50);
    let messages = env("SOAK_MESSAGES", 200);
    let seed = env("SOAK_SEED", 12) as u64;
    let server = ServerProcess::start();
    let faults = Arc::new(soak::Faults::default());
    let proxy = soak::faulty_proxy(server.addr, seed, 400, faults.clone()).unwrap();

    // A warm-up round brings the server to its working size (hook threads, spares, arenas).
    let start = Instant::now();
    run_clients(proxy, clients, messages / 10 + 1, seed);
    let warm_fds = server.settle();
    let warm_rss = server.status_kib("VmRSS:");

    let tally = run_clients(proxy, clients, messages, seed.wrapping_add(1_000));
    let elapsed = start.elapsed();
    let after_fds = server.settle();
    let after_rss = server.status_kib("VmRSS:");
    let peak_rss = server.status_kib("VmHWM:");
    println!(
        "soak: {clients} clients x {messages} messages (+ warm-up) in {:.1} s: {} echoed \
         ({} MiB), {} broken connections; proxy faults: {} splits, {} delays, {} resets",
        elapsed.as_secs_f64(),
        tally.echoed.load(Ordering::Relaxed),
        tally.bytes.load(Ordering::Relaxed) >> 20,
        tally.broken.load(Ordering::Relaxed),
        faults.splits.load(Ordering::Relaxed),
        faults.delays.load(Ordering::Relaxed),
        faults.resets.load(Ordering::Relaxed),
    );
    println!(
        "server: descriptors (all, sockets) after warm-up {warm_fds:?}, after soak {after_fds:?}; \
         RSS after warm-up {} MiB, after soak {} MiB, peak {} MiB",
        warm_rss >> 10,
        after_rss >> 10,
        peak_rss >> 10
    );
    assert_eq!(tally.corrupted.load(Ordering::Relaxed), 0, "wrong echoes");
    assert_eq!(
        tally.lost.load(Ordering::Relaxed),
        0,
        "messages never echoed"
    );
    assert!(
        faults.resets.load(Ordering::Relaxed) > 0,
        "no reset was injected"
    );
    assert_eq!(after_fds, warm_fds, "descriptors leaked");
    assert_eq!(after_fds.1, 1, "connections left open");
    assert!(
        after_rss <= warm_rss + warm_rss / 4 + 8 * 1024,
        "RSS grew from {warm_rss} KiB to {after_rss} KiB"
    );
}
