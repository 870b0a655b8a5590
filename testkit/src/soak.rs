//! The soak and fault workload, shared by `tinyproto-std`'s soak test (`tests/soak.rs`) and the
//! benchmark harness's `soak` scenario: many clients echo checksummed messages of random sizes
//! through a proxy that splits, delays and resets at random, and the server's process is
//! measured before and after (open descriptors, RSS).
//!
//! The clients are generic over the connection (any `connect` and `echo`), so that this crate
//! needs no transport of ours.

use crate::Rng;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Largest message: spans many socket reads and the proxy's splits.
pub const MAX_LEN: usize = 256 * 1024;

/// FNV-1a: the checksum carried in a message's last 4 bytes.
fn checksum(bytes: &[u8]) -> [u8; 4] {
    let hash = bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.to_be_bytes()
}

/// A message of random length (spread over every order of magnitude up to [`MAX_LEN`]) whose
/// last 4 bytes are the checksum of the others.
///
/// ```
/// use tinyproto_testkit::{soak, Rng};
/// let mut rng = Rng(3);
/// let mut msg = soak::checksummed(&mut rng);
/// assert!(soak::intact(&msg));
/// msg[0] ^= 1;
/// assert!(!soak::intact(&msg));
/// ```
pub fn checksummed(rng: &mut Rng) -> Vec<u8> {
    let bits = rng.below(19);
    let len = rng.below(1 << bits).min(MAX_LEN - 4);
    let mut msg = rng.bytes(len);
    let sum = checksum(&msg);
    msg.extend_from_slice(&sum);
    msg
}

/// Whether `msg` ends with the checksum of the rest (see [`checksummed`]).
pub fn intact(msg: &[u8]) -> bool {
    msg.len() >= 4 && checksum(&msg[..msg.len() - 4]) == msg[msg.len() - 4..]
}

/// Faults a [`faulty_proxy`] injected.
#[derive(Debug, Default)]
pub struct Faults {
    /// Chunks forwarded in more than one piece (counted per extra cut).
    pub splits: AtomicUsize,
    /// Pieces forwarded after a pause of up to 5 ms.
    pub delays: AtomicUsize,
    /// Connection pairs reset (RST both ways).
    pub resets: AtomicUsize,
}

/// A proxy on loopback in front of `server`: every chunk read is forwarded in random pieces,
/// one piece in 16 after a pause of up to 5 ms, and about one chunk in `reset_one_in` resets
/// both connections (RST). Runs until the process ends; returns its address.
pub fn faulty_proxy(
    server: SocketAddr,
    seed: u64,
    reset_one_in: usize,
    faults: Arc<Faults>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
                continue;
            };
            for (i, (from, to)) in [(client2, upstream2), (upstream, client)]
                .into_iter()
                .enumerate()
            {
                let rng = Rng(seed ^ ((n as u64) << 1 | i as u64).wrapping_mul(0x9e37_79b9));
                let faults = faults.clone();
                thread::spawn(move || forward(from, to, rng, reset_one_in, &faults));
            }
        }
    });
    Ok(addr)
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

/// What the clients of [`run_clients`] saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages echoed intact.
    pub echoed: AtomicUsize,
    /// Their bytes.
    pub bytes: AtomicUsize,
    /// Connections that failed (and were replaced).
    pub broken: AtomicUsize,
    /// Echoes that came back different from the message sent.
    pub corrupted: AtomicUsize,
    /// Messages never echoed: a client gives up after 20 failures per message on average.
    pub lost: AtomicUsize,
}

/// `clients` threads each get `messages` echoes of [`checksummed`] messages: `connect` opens a
/// connection, `echo` sends one message on it and returns the answer. A failed connection is
/// replaced and the next message tried on the new one; an echo different from the message is
/// counted as corrupted (and its connection replaced).
pub fn run_clients<C>(
    clients: usize,
    messages: usize,
    seed: u64,
    connect: impl Fn() -> Result<C, String> + Sync,
    echo: impl Fn(&mut C, &[u8]) -> Result<Vec<u8>, String> + Sync,
) -> Tally {
    let tally = Tally::default();
    thread::scope(|s| {
        for c in 0..clients {
            let (tally, connect, echo) = (&tally, &connect, &echo);
            s.spawn(move || {
                let mut rng = Rng(seed.wrapping_add(c as u64 + 1).wrapping_mul(0x2545_f491));
                let mut conn = None;
                let (mut done, mut attempts) = (0, 0);
                while done < messages && attempts < messages * 20 {
                    attempts += 1;
                    let msg = checksummed(&mut rng);
                    let result = match conn.as_mut() {
                        Some(conn) => echo(conn, &msg),
                        None => connect().and_then(|fresh| echo(conn.insert(fresh), &msg)),
                    };
                    match result {
                        Ok(back) if back == msg => {
                            tally.echoed.fetch_add(1, Ordering::Relaxed);
                            tally.bytes.fetch_add(msg.len(), Ordering::Relaxed);
                            done += 1;
                        }
                        Ok(_) => {
                            tally.corrupted.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                        Err(_) => {
                            tally.broken.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
                tally.lost.fetch_add(messages - done, Ordering::Relaxed);
            });
        }
    });
    tally
}

/// Open descriptors of process `pid`: all of them, and the sockets among them.
pub fn open_fds(pid: u32) -> std::io::Result<(usize, usize)> {
    let links: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect();
    let sockets = links
        .iter()
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count();
    Ok((links.len(), sockets))
}

/// Waits (at most `limit`) until the listener is process `pid`'s only socket (every
/// connection is closed on its side); its descriptors then (see [`open_fds`]).
pub fn settled_fds(pid: u32, limit: Duration) -> std::io::Result<(usize, usize)> {
    let start = Instant::now();
    while open_fds(pid)?.1 > 1 && start.elapsed() < limit {
        thread::sleep(Duration::from_millis(50));
    }
    open_fds(pid)
}
