//! Lockstep echo: the client sends a message, waits for its echo, repeats (time-bounded).
//!
//! Every table is measured under the run's congestion control (not paced) with every
//! contender; the sizes of the targets (16 B, 1 MiB) in every placement also under the
//! machine's default (BBR here, paced), with only the rows the targets judge, to keep the
//! run short.

use super::{progress, size_label, variants};
use crate::contenders::{pin, Contender, Send};
use crate::netns::Network;
use crate::results::{Metric, Table};
use crate::roles::RoleArgs;
use crate::Config;
use std::time::Duration;

/// Where the server and the client run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinning {
    /// Server on CPU 0, client on CPU 1.
    Split,
    /// Both on CPU 1 (every hand-off is a context switch on one core).
    Same,
    /// Wherever the scheduler puts them.
    None,
}

impl Pinning {
    fn cpus(self) -> (Option<usize>, Option<usize>) {
        match self {
            Pinning::Split => (Some(0), Some(1)),
            Pinning::Same => (Some(1), Some(1)),
            Pinning::None => (None, None),
        }
    }

    /// How tables name it (the targets look for these words).
    pub fn label(self) -> &'static str {
        match self {
            Pinning::Split => "pinned (server CPU 0, client CPU 1)",
            Pinning::Same => "pinned together (server and client on CPU 1)",
            Pinning::None => "unpinned",
        }
    }
}

/// One point of the plot: (variant label, message size, MB/s median).
pub type Point = (String, usize, f64);

/// The placements every target size is measured in.
pub const PLACEMENTS: [Pinning; 3] = [Pinning::Split, Pinning::Same, Pinning::None];

/// The title of the echo table of `size` (as [`size_label`] names it), `pinning` and
/// congestion control `cc`; the targets find their tables by it.
pub fn title(size: &str, pinning: Pinning, cc: &str) -> String {
    format!("Lockstep echo, {size} messages, {}, {cc}", pinning.label())
}

/// The rows the echo targets judge: our server with our blocking client and with our
/// hook-sending client, in the reactor mode (inline hooks) and the thread-per-connection mode,
/// against the floor.
pub fn target_rows() -> [(Contender, Send); 4] {
    [
        (Contender::Ours, Send::Direct),
        (Contender::Ours, Send::Hook),
        (Contender::OursThreads, Send::Direct),
        (Contender::OursThreads, Send::Hook),
    ]
}

pub fn run(cfg: &Config, contenders: &[Contender], network: &Network) -> (Vec<Table>, Vec<Point>) {
    let mut tables = Vec::new();
    let mut points = Vec::new();
    let all = variants(contenders);
    let judged: Vec<(Contender, Send)> = all
        .iter()
        .copied()
        .filter(|&(c, s)| c == Contender::Floor || target_rows().contains(&(c, s)))
        .collect();
    for (i, cc) in network.echo_ccs().iter().enumerate() {
        if let Err(e) = network.set(cc) {
            eprintln!("[bench] echo under {cc} skipped: {e}");
            continue;
        }
        for &size in &cfg.echo_sizes {
            let mut pins = vec![Pinning::Split];
            if cfg.unpinned_sizes.contains(&size) {
                pins.extend([Pinning::Same, Pinning::None]);
            } else if i > 0 {
                continue;
            }
            let rows = if i == 0 { &all } else { &judged };
            for pinning in pins {
                let t = one(cfg, rows, size, pinning, cc);
                if pinning == Pinning::Split && i == 0 {
                    for row in &t.rows {
                        if let Some(s) = crate::measure::Summary::of(&row.samples[1]) {
                            points.push((row.label(), size, s.median));
                        }
                    }
                }
                tables.push(t);
            }
        }
    }
    let _ = network.set(&network.run);
    (tables, points)
}

fn one(cfg: &Config, rows: &[(Contender, Send)], size: usize, pinning: Pinning, cc: &str) -> Table {
    let mut t = Table::new(
        title(&size_label(size), pinning, cc),
        vec![
            Metric::ratio("echoes/s", 0),
            Metric::new("MB/s (one way)", 1),
        ],
    );
    // Unpinned runs land wherever the scheduler puts the threads: twice the repetitions for a
    // steadier median.
    let reps = if pinning == Pinning::None {
        2 * cfg.reps
    } else {
        cfg.reps
    };
    t.notes.push(format!(
        "Each run: a fresh server, one client connection, echoes for {} s; {reps} repetition(s).",
        cfg.echo_secs
    ));
    let (server_cpu, client_cpu) = pinning.cpus();
    for rep in 0..reps {
        for &(c, send) in rows {
            progress(&format!("{} rep {}: {}", t.title, rep + 1, label(c, send)));
            match run_once(cfg, c, send, size, server_cpu, client_cpu) {
                Ok((ops, secs)) => t.record(
                    c,
                    send,
                    &[ops as f64 / secs, ops as f64 * size as f64 / secs / 1e6],
                ),
                Err(e) => t.note(c, send, e),
            }
        }
    }
    t
}

fn label(c: Contender, send: Send) -> String {
    format!("{} ({send:?})", c.name())
}

fn run_once(
    cfg: &Config,
    c: Contender,
    send: Send,
    size: usize,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
) -> Result<(u64, f64), String> {
    let server = c.server("echo", size.max(1), &pin(server_cpu))?;
    let args = RoleArgs {
        port: server.port,
        task: "echo".into(),
        size,
        seconds: cfg.echo_secs,
        send: send.arg().into(),
        ..RoleArgs::parse(&[]).expect("defaults")
    };
    let r = c.client(
        &args,
        &pin(client_cpu),
        Duration::from_secs_f64(cfg.echo_secs + 60.0),
    )?;
    if r.ops == 0 || r.secs <= 0.0 {
        return Err("no echo completed".into());
    }
    Ok((r.ops, r.secs))
}
