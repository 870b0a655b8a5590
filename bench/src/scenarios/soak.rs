//! Soak and faults: many clients echo checksummed messages of random sizes (0 to 256 KiB)
//! through a proxy that splits, delays and resets at random (`tinyproto_testkit::soak`, the
//! workload of `tinyproto-std`'s soak test), against our server (default hook threads) in its
//! own process. After a warm-up round and after the soak, the server must be back to its
//! listener as its only socket, with the same descriptors and a flat RSS.

use crate::contenders::{Contender, Server};
use crate::measure::status_kib;
use crate::Config;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyproto_std::{Received, Sent, TcpConnection};
use tinyproto_testkit::soak::{self, Faults, Tally};

/// The proxy resets about one chunk in this many.
const RESET_ONE_IN: usize = 400;
/// Longest wait for the server to close every connection after a round.
const SETTLE: Duration = Duration::from_secs(60);
/// Longest wait for an echo to begin arriving.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// RSS allowed above the warm-up's: a quarter, plus the 8 MiB our server keeps for reuse.
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// What one soak run gave.
#[derive(Debug, Default)]
pub struct Figures {
    pub clients: usize,
    pub messages: usize,
    pub warmup: usize,
    pub secs: f64,
    pub echoed: usize,
    pub bytes: usize,
    pub broken: usize,
    pub corrupted: usize,
    pub lost: usize,
    pub splits: usize,
    pub delays: usize,
    pub resets: usize,
    /// Server RSS (KiB) after the warm-up, after the soak, and its peak.
    pub rss_kib: [u64; 3],
    /// Server descriptors (all, sockets) after the warm-up and after the soak.
    pub fds: [(usize, usize); 2],
    /// Why the run did not complete, if it did not.
    pub error: Option<String>,
}

impl Figures {
    /// Whether nothing was lost or corrupted and the server came back to its listener, its
    /// descriptors and (within the slack) its RSS.
    pub fn flat(&self) -> bool {
        let [warm, after, _] = self.rss_kib;
        self.error.is_none()
            && self.lost == 0
            && self.corrupted == 0
            && self.fds[1] == self.fds[0]
            && self.fds[1].1 == 1
            && after <= warm + warm / 4 + RSS_SLACK_KIB
    }
}

/// One echo, bounded in time: the transmit by the connection's stall timeout, the answer by
/// [`ANSWER_WITHIN`] (then the stall timeout once it began).
fn echo(conn: &mut TcpConnection, msg: &[u8]) -> Result<Vec<u8>, String> {
    if conn.transmit(msg).map_err(|e| e.to_string())? != Sent::Written {
        return Err("message rejected".into());
    }
    match conn
        .receive_timeout(ANSWER_WITHIN)
        .map_err(|e| e.to_string())?
    {
        Some(Received::Message(back)) => Ok(back),
        Some(other) => Err(format!("{other:?}")),
        None => Err("no answer in time".into()),
    }
}

fn clients(via: SocketAddr, clients: usize, messages: usize, seed: u64) -> Tally {
    let connect = || TcpConnection::connect(via).map_err(|e| e.to_string());
    soak::run_clients(clients, messages, seed, connect, echo)
}

pub fn run(cfg: &Config) -> Figures {
    crate::scenarios::progress(&format!(
        "soak: {} clients x {} messages through a faulty proxy",
        cfg.soak_clients, cfg.soak_messages
    ));
    let mut f = Figures {
        clients: cfg.soak_clients,
        messages: cfg.soak_messages,
        warmup: cfg.soak_messages / 10 + 1,
        ..Figures::default()
    };
    let server = match Contender::OursPool.server("echo", 1 << 20, &[]) {
        Ok(server) => server,
        Err(e) => {
            f.error = Some(e);
            return f;
        }
    };
    if let Err(e) = soak_rounds(&server, &mut f) {
        f.error = Some(e);
    }
    server.terminate(Duration::from_secs(5));
    f
}

fn soak_rounds(server: &Server, f: &mut Figures) -> Result<(), String> {
    let faults = Arc::new(Faults::default());
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    let seed = 12;
    let proxy = soak::faulty_proxy(addr, seed, RESET_ONE_IN, faults.clone())
        .map_err(|e| format!("proxy: {e}"))?;
    let rss = || status_kib(server.pid, "VmRSS").ok_or("no server RSS");
    let fds = || soak::settled_fds(server.pid, SETTLE).map_err(|e| format!("fds: {e}"));

    // A warm-up round brings the server to its working size (hook threads, spares, arenas).
    let warm = clients(proxy, f.clients, f.warmup, seed);
    f.fds[0] = fds()?;
    f.rss_kib[0] = rss()?;
    let start = Instant::now();
    let tally = clients(proxy, f.clients, f.messages, seed + 1_000);
    f.secs = start.elapsed().as_secs_f64();
    f.fds[1] = fds()?;
    f.rss_kib[1] = rss()?;
    f.rss_kib[2] = status_kib(server.pid, "VmHWM").ok_or("no server peak RSS")?;
    let n = |a: &std::sync::atomic::AtomicUsize| a.load(Ordering::Relaxed);
    f.echoed = n(&tally.echoed);
    f.bytes = n(&tally.bytes);
    f.broken = n(&tally.broken) + n(&warm.broken);
    f.corrupted = n(&tally.corrupted) + n(&warm.corrupted);
    f.lost = n(&tally.lost) + n(&warm.lost);
    f.splits = n(&faults.splits);
    f.delays = n(&faults.delays);
    f.resets = n(&faults.resets);
    Ok(())
}
