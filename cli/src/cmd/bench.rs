//! `tinyproto bench HOST:PORT`: lockstep latency and throughput against a server that answers
//! every message (`tinyproto echo`, the `echo-server` example, the Python echo server).
//!
//! For every size and connection count, each connection sends a message and waits for the
//! answer, again and again, for `--duration` (or `--messages` times); the summary table has
//! the round-trip latency (p50, p99, max) and the throughput.

use crate::addr::HostPort;
use crate::error::Error;
use crate::exchange;
use crate::opts::{parse_secs, parse_size, ConnOpts};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tinyproto_std::TcpConnection;

/// Flags of `bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The server.
    #[arg(value_name = "HOST:PORT")]
    pub addr: HostPort,
    /// Message sizes, comma-separated (suffixes K, M: KiB, MiB).
    #[arg(long, value_name = "LIST", default_value = "16,1K,64K,1M", value_delimiter = ',', value_parser = parse_size)]
    pub sizes: Vec<usize>,
    /// Connection counts, comma-separated: each size runs with each count.
    #[arg(long, value_name = "LIST", default_value = "1", value_delimiter = ',', value_parser = parse_count)]
    pub connections: Vec<usize>,
    /// Seconds each run lasts.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_secs, conflicts_with = "messages")]
    pub duration: Duration,
    /// Messages each connection sends per run, instead of --duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: ConnOpts,
}

fn parse_count(s: &str) -> Result<usize, String> {
    match s.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a count above 0")),
    }
}

/// The figures of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunStats {
    /// Message size, bytes.
    pub size: usize,
    /// Connections.
    pub connections: usize,
    /// Round trips completed.
    pub messages: u64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// Median round trip, microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: f64,
    /// Longest round trip, microseconds.
    pub max_us: f64,
    /// Round trips per second, all connections together.
    pub messages_per_s: f64,
    /// Payload bytes per second, both directions together, in MiB/s.
    pub mib_per_s: f64,
}

/// When a run ends.
#[derive(Clone, Copy, Debug)]
enum Until {
    Deadline(Instant),
    Count(u64),
}

/// Runs `bench`.
///
/// # Errors
/// When a connection cannot be made or a round trip fails.
pub fn run(args: Args) -> Result<bool, Error> {
    let addrs = args.addr.resolve()?;
    let mut results = Vec::new();
    for &connections in &args.connections {
        for &size in &args.sizes {
            results.push(run_one(&args, &addrs, size, connections)?);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).expect("figures serialise")
        );
    } else {
        println!("{}", table(&args.addr, &results));
    }
    Ok(true)
}

/// One size with one connection count.
fn run_one(
    args: &Args,
    addrs: &[SocketAddr],
    size: usize,
    connections: usize,
) -> Result<RunStats, Error> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        let conn = args
            .conn
            .client()
            .connect(addrs)
            .map_err(|e| Error::connecting(&args.addr, e))?;
        conns.push(conn);
    }
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let done = AtomicU64::new(0);
    let bar = progress(args, size, connections);
    let started = Instant::now();
    let until = match args.messages {
        Some(n) => Until::Count(n),
        None => Until::Deadline(started + args.duration),
    };
    let outcomes: Vec<Result<Lockstep, Error>> = std::thread::scope(|scope| {
        let workers: Vec<_> = conns
            .into_iter()
            .map(|conn| {
                let (payload, done) = (&payload, &done);
                let timeout = args.conn.timeout.timeout;
                scope.spawn(move || lockstep(conn, payload, until, done, &args.addr, timeout))
            })
            .collect();
        let mut shown = false;
        while !workers.iter().all(|w| w.is_finished()) {
            if !shown && started.elapsed() >= Duration::from_secs(1) {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                shown = true;
            }
            bar.set_position(match until {
                Until::Count(_) => done.load(Ordering::Relaxed),
                Until::Deadline(_) => started.elapsed().as_millis() as u64,
            });
            std::thread::sleep(Duration::from_millis(50));
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("a benchmark thread does not panic"))
            .collect()
    });
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let mut latencies = Vec::new();
    let mut bytes = 0u64;
    for outcome in outcomes {
        let lockstep = outcome?;
        latencies.extend(lockstep.latencies);
        bytes += lockstep.bytes;
    }
    Ok(stats(size, connections, elapsed, latencies, bytes))
}

/// A progress bar for one run, drawn only once the run has lasted a second (and only on a
/// terminal).
fn progress(args: &Args, size: usize, connections: usize) -> ProgressBar {
    let len = match args.messages {
        Some(n) => n * connections as u64,
        None => args.duration.as_millis() as u64,
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {percent}% {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{} × {connections}", bytes_label(size)));
    bar
}

/// What one connection measured.
struct Lockstep {
    latencies: Vec<Duration>,
    bytes: u64,
}

/// Sends `payload` and waits for the answer (at most `timeout`), until `until`.
fn lockstep(
    mut conn: TcpConnection,
    payload: &[u8],
    until: Until,
    done: &AtomicU64,
    addr: &HostPort,
    timeout: Duration,
) -> Result<Lockstep, Error> {
    let mut latencies = Vec::new();
    let mut bytes = 0u64;
    loop {
        match until {
            Until::Count(n) if latencies.len() as u64 >= n => break,
            Until::Deadline(at) if Instant::now() >= at => break,
            _ => {}
        }
        let n = latencies.len() + 1;
        let doing = || format!("round trip {n}");
        let start = Instant::now();
        // A fresh copy on purpose: moved into `transmit`, its memory is kept by the connection
        // once sent (from 64 KiB on) and the reply is received into it. Sending the last
        // reply's memory instead (no allocation per round trip) made 1 MiB round trips slower
        // (p50 1.7 and 2.0 ms against 1.2 and 1.5 ms, two A/B series); one shared `Arc<[u8]>`
        // leaves the connection nothing to receive into (6 allocations per 1 MiB round trip,
        // not 2).
        exchange::send(&mut conn, addr, payload.to_vec(), doing)?;
        // `receive_into` has no time limit, and a server that never answers must end the run.
        let reply = exchange::receive(&mut conn, addr, timeout, doing)?;
        latencies.push(start.elapsed());
        bytes += (payload.len() + reply.len()) as u64;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Lockstep { latencies, bytes })
}

/// The figures of a run from its round trips.
fn stats(
    size: usize,
    connections: usize,
    elapsed: Duration,
    mut latencies: Vec<Duration>,
    bytes: u64,
) -> RunStats {
    latencies.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let percentile = |p: f64| {
        // Nearest rank: the smallest value with at least p % of the values at or below it.
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies
            .get(rank.saturating_sub(1))
            .map_or(0.0, |&d| micros(d))
    };
    let seconds = elapsed.as_secs_f64();
    RunStats {
        size,
        connections,
        messages: latencies.len() as u64,
        seconds,
        p50_us: percentile(50.0),
        p99_us: percentile(99.0),
        max_us: latencies.last().map_or(0.0, |&d| micros(d)),
        messages_per_s: latencies.len() as f64 / seconds,
        mib_per_s: bytes as f64 / seconds / f64::from(1 << 20),
    }
}

/// `16 B`, `64 KiB`, `1 MiB`.
fn bytes_label(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// `45.2 µs`, `1.25 ms`.
fn time_label(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// The summary as a markdown table.
fn table(addr: &HostPort, results: &[RunStats]) -> String {
    let mut out = format!(
        "tinyproto bench {addr} (lockstep: each connection sends a message and waits for the answer)\n\n\
         | size | connections | round trips | p50 | p99 | max | round trips/s | MiB/s (both ways) |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.1} |",
            bytes_label(r.size),
            r.connections,
            r.messages,
            time_label(r.p50_us),
            time_label(r.p99_us),
            time_label(r.max_us),
            r.messages_per_s,
            r.mib_per_s
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let latencies = (1..=100).map(Duration::from_micros).collect();
        let s = stats(16, 1, Duration::from_secs(1), latencies, 3200);
        assert_eq!((s.p50_us, s.p99_us, s.max_us), (50.0, 99.0, 100.0));
        assert_eq!(s.messages, 100);
        assert!((s.messages_per_s - 100.0).abs() < 1e-9);
    }

    #[test]
    fn labels() {
        assert_eq!(bytes_label(16), "16 B");
        assert_eq!(bytes_label(64 << 10), "64 KiB");
        assert_eq!(bytes_label(1 << 20), "1 MiB");
        assert_eq!(time_label(45.25), "45.2 µs");
        assert_eq!(time_label(1250.0), "1.25 ms");
    }
}
