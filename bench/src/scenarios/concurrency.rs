//! Many connections to one server: opened one after another or all at once; what it costs
//! the server at rest and how fast it echoes with every connection active. The client side
//! is the same for every server: the harness's own load generator (`loadgen`).

use super::progress;
use crate::contenders::{Contender, Send};
use crate::loadgen::{Load, Opening};
use crate::measure::{cpu_time, status_kib, Summary};
use crate::results::{Metric, Table};
use crate::Config;
use std::time::{Duration, Instant};

pub fn run(cfg: &Config, contenders: &[Contender]) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut salt = 0;
    for &n in &cfg.conns {
        for how in [Opening::Sequential, Opening::Burst] {
            let mut t = Table::new(
                format!(
                    "{n} connections opened {}",
                    match how {
                        Opening::Sequential => "one after another",
                        Opening::Burst => "all at once (burst)",
                    }
                ),
                vec![
                    Metric::new("established", 0),
                    Metric::new("refused", 0),
                    Metric::new("reset", 0),
                    Metric::new("timed out / other", 0),
                    Metric::new("time to establish s", 2),
                    Metric::new("server RSS KiB/conn", 1),
                    Metric::new("idle server CPU %", 2),
                    Metric::ratio("echoes/s (all active)", 0),
                    Metric::new("server CPU µs per echo (all active)", 1),
                ],
            );
            t.servers_only = true;
            t.notes.push(format!(
                "One server process, one load-generator thread in the harness (mio, 16-byte \
                 messages, source addresses 127.0.0.2–65). RSS per connection = (VmRSS with the \
                 connections open − VmRSS before) / established; idle CPU = server user+system \
                 time over {} s with every connection open and silent; echoes/s = lockstep \
                 echoes completed by all connections together, started within {} s and each \
                 completed, over the time until the last completed (the median of {} such \
                 windows); server CPU per echo = its user+system time over all those windows \
                 over their echoes (a server that spins while it waits counts the spin). Time \
                 limit to establish: {} s. CPU time is counted in clock ticks of 10 ms, so over \
                 {} s one tick shows as {:.2} %. {} repetition(s).",
                cfg.idle_secs,
                cfg.active_secs,
                cfg.active_windows,
                cfg.establish_limit_secs,
                cfg.idle_secs,
                1.0 / cfg.idle_secs,
                cfg.conn_reps
            ));
            for rep in 0..cfg.conn_reps {
                // The load generator is the client: one row per server.
                for &c in contenders {
                    let send = Send::Direct;
                    if matches!(c, Contender::Python(_)) && n > cfg.py_conn_cap {
                        t.note(
                            c,
                            send,
                            format!(
                                "not run: capped at {} connections (one OS thread per connection)",
                                cfg.py_conn_cap
                            ),
                        );
                        continue;
                    }
                    progress(&format!("{} rep {}: {}", t.title, rep + 1, c.name()));
                    salt += 7;
                    match once(cfg, c, n, how, salt) {
                        Ok((v, note)) => {
                            t.record(c, send, &v);
                            if let Some(n) = note {
                                t.note(c, send, n);
                            }
                        }
                        Err(e) => t.note(c, send, e),
                    }
                }
            }
            tables.push(t);
        }
    }
    tables
}

type Outcome = (Vec<f64>, Option<String>);

/// The server with every connection echoing.
struct Active {
    /// The median window's echo rate.
    echoes_per_sec: f64,
    /// The server's CPU time (user and system) over all windows, per echo.
    cpu_us_per_echo: f64,
}

fn once(
    cfg: &Config,
    c: Contender,
    n: usize,
    how: Opening,
    salt: usize,
) -> Result<Outcome, String> {
    let server = c.server("echo", 1 << 20, &[])?;
    server.settle(Duration::from_secs_f64(cfg.settle_secs));
    let rss0 = status_kib(server.pid, "VmRSS").ok_or("server gone")?;
    let (mut load, est) = Load::open(
        n,
        server.port,
        how,
        Duration::from_secs_f64(cfg.establish_limit_secs),
        salt,
    )
    .map_err(|e| format!("load generator: {e}"))?;
    // Let the server finish setting up what it accepted before measuring it at rest.
    server.settle(Duration::from_secs_f64(cfg.settle_secs * 1.5));
    let rss1 = status_kib(server.pid, "VmRSS").ok_or("server died")?;
    let per_conn = if est.ok > 0 {
        (rss1.saturating_sub(rss0)) as f64 / est.ok as f64
    } else {
        f64::NAN
    };
    let cpu0 = cpu_time(server.pid).ok_or("server died")?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(cfg.idle_secs));
    let cpu1 = cpu_time(server.pid).ok_or("server died")?;
    let idle_pct = (cpu1 - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0;
    let windows = (0..cfg.active_windows.max(1))
        .map(|_| load.echo_all(Duration::from_secs_f64(cfg.active_secs)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("load generator: {e}"))?;
    let cpu2 = cpu_time(server.pid).ok_or("server died")?;
    drop(load);
    let rates: Vec<f64> = windows.iter().map(|w| w.rate()).collect();
    let active = Active {
        echoes_per_sec: Summary::of(&rates).map_or(0.0, |s| s.median),
        cpu_us_per_echo: (cpu2 - cpu1).as_secs_f64() * 1e6
            / windows.iter().map(|w| w.echoes).sum::<u64>().max(1) as f64,
    };
    let failed: usize = windows.iter().map(|w| w.failed).sum();
    let notes: Vec<String> = [
        est.first_error
            .clone()
            .map(|e| format!("first failure: {e}")),
        (failed > 0).then(|| format!("{failed} connection(s) failed while all were active")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok((values(&est, per_conn, idle_pct, &active), note))
}

fn values(
    est: &crate::loadgen::Established,
    per_conn: f64,
    idle_pct: f64,
    active: &Active,
) -> Vec<f64> {
    vec![
        est.ok as f64,
        est.refused as f64,
        est.reset as f64,
        (est.timed_out + est.other) as f64,
        est.secs,
        per_conn,
        idle_pct,
        active.echoes_per_sec,
        active.cpu_us_per_echo,
    ]
}
