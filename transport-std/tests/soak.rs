//! Soak and fault suite (issue 12): many clients send many checksummed messages of random
//! sizes to an echo server through a proxy that splits, delays and resets at random; no
//! message may come back wrong, and afterwards the server's RSS and open descriptors must be
//! back where they were. Not run by default (a minute or more of load); run by hand:
//!
//! `cargo test --release -p tinyproto-std --test soak -- --ignored --nocapture soak_through_a_faulty_proxy`
//!
//! Sizes: `SOAK_CLIENTS` (default 50), `SOAK_MESSAGES` per client (default 200), `SOAK_SEED`.
//! The server runs in a child process (this test binary again, test `soak_server`), so that
//! its RSS and descriptors are its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tinyproto_std::{Conn, Handler, Sent, Server, TcpConnection, DEFAULT_TIMEOUTS};
use tinyproto_testkit::Rng;

/// Set in the child process that runs the server.
const SERVER_ENV: &str = "TINYPROTO_SOAK_SERVER";
/// Largest message: spans many socket reads and the proxy's splits.
const MAX_LEN: usize = 256 * 1024;
/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

/// FNV-1a: the checksum carried in a message's last 4 bytes.
fn checksum(bytes: &[u8]) -> [u8; 4] {
    let hash = bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.to_be_bytes()
}

fn checksummed(rng: &mut Rng) -> Vec<u8> {
    // Sizes spread over every order of magnitude up to MAX_LEN.
    let bits = rng.below(19);
    let len = rng.below(1 << bits).min(MAX_LEN - 4);
    let mut msg = rng.bytes(len);
    let sum = checksum(&msg);
    msg.extend_from_slice(&sum);
    msg
}

fn intact(msg: &[u8]) -> bool {
    msg.len() >= 4 && checksum(&msg[..msg.len() - 4]) == msg[msg.len() - 4..]
}

/// Echoes an intact message; answers a damaged one with an empty message (never intact).
struct CheckedEcho;

impl Handler for CheckedEcho {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let answer = if intact(&msg) { msg } else { Vec::new() };
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

    /// Open descriptors: all of them, and the sockets among them.
    fn fds(&self) -> (usize, usize) {
        let links: Vec<_> = std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .collect();
        let sockets = links
            .iter()
            .filter(|l| l.to_string_lossy().starts_with("socket:"))
            .count();
        (links.len(), sockets)
    }

    /// Waits (bounded) until the listener is the server's only socket again (every
    /// connection the proxy opened is closed on the server's side); the descriptors then.
    fn settle(&self) -> (usize, usize) {
        let start = Instant::now();
        while self.fds().1 > 1 && start.elapsed() < WAIT {
            thread::sleep(Duration::from_millis(50));
        }
        self.fds()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Faults the proxy injected.
#[derive(Default)]
struct Faults {
    splits: AtomicUsize,
    delays: AtomicUsize,
    resets: AtomicUsize,
}

/// A proxy in front of `server`: every chunk is forwarded in random pieces, some after a
/// short delay, and about one chunk in `reset_one_in` resets both connections.
fn faulty_proxy(
    server: SocketAddr,
    seed: u64,
    reset_one_in: usize,
    faults: Arc<Faults>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            for (i, (from, to)) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ]
            .into_iter()
            .enumerate()
            {
                let rng = Rng(seed ^ ((n as u64) << 1 | i as u64).wrapping_mul(0x9e37_79b9));
                let faults = faults.clone();
                thread::spawn(move || forward(from, to, rng, reset_one_in, &faults));
            }
        }
    });
    addr
}

fn forward(
    mut from: TcpStream,
    mut to: TcpStream,
    mut rng: Rng,
    reset_one_in: usize,
    faults: &Faults,
) {
    let _ = to.set_nodelay(true);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if rng.below(reset_one_in) == 0 {
            faults.resets.fetch_add(1, Ordering::Relaxed);
            for s in [&from, &to] {
                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                let _ = s.shutdown(Shutdown::Both);
            }
            return;
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let piece = 1 + rng.below(rest.len());
            if piece < rest.len() {
                faults.splits.fetch_add(1, Ordering::Relaxed);
            }
            if rng.below(16) == 0 {
                faults.delays.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(rng.below(5) as u64));
            }
            if to.write_all(&rest[..piece]).is_err() {
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            rest = &rest[piece..];
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    echoed: AtomicUsize,
    bytes: AtomicUsize,
    broken: AtomicUsize,
}

/// `clients` clients each get `messages` echoes of checksummed messages through `via`,
/// reconnecting after each failure; a wrong echo fails the test.
fn run_clients(via: SocketAddr, clients: usize, messages: usize, seed: u64) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let tally = tally.clone();
            thread::spawn(move || {
                let mut rng = Rng(seed.wrapping_add(c as u64 + 1).wrapping_mul(0x2545_f491));
                let mut conn = None;
                let (mut done, mut attempts) = (0, 0);
                while done < messages {
                    attempts += 1;
                    assert!(attempts < messages * 20, "client {c}: too many failures");
                    let msg = checksummed(&mut rng);
                    let result = match conn.as_mut() {
                        Some(conn) => echo(conn, &msg),
                        None => TcpConnection::connect(via)
                            .map_err(|e| e.to_string())
                            .and_then(|mut fresh| {
                                let r = echo(&mut fresh, &msg);
                                conn = Some(fresh);
                                r
                            }),
                    };
                    match result {
                        Ok(back) => {
                            assert_eq!(back, msg, "client {c}: a wrong echo");
                            tally.echoed.fetch_add(1, Ordering::Relaxed);
                            tally.bytes.fetch_add(msg.len(), Ordering::Relaxed);
                            done += 1;
                        }
                        Err(_) => {
                            tally.broken.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client failed");
    }
    tally
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

#[test]
#[ignore = "a soak: a minute or more of load; run by hand"]
fn soak_through_a_faulty_proxy() {
    let clients = env("SOAK_CLIENTS", 50);
    let messages = env("SOAK_MESSAGES", 200);
    let seed = env("SOAK_SEED", 12) as u64;
    let server = ServerProcess::start();
    let faults = Arc::new(Faults::default());
    let proxy = faulty_proxy(server.addr, seed, 400, faults.clone());

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
