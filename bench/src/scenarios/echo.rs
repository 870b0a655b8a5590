//! Lockstep echo: the client sends a message, waits for its echo, repeats (time-bounded).

use super::{progress, size_label, variants};
use crate::contenders::{pin, Contender, Send};
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

pub fn run(cfg: &Config, contenders: &[Contender]) -> (Vec<Table>, Vec<Point>) {
    let mut tables = Vec::new();
    let mut points = Vec::new();
    for &size in &cfg.echo_sizes {
        let mut pins = vec![Pinning::Split];
        if cfg.unpinned_sizes.contains(&size) {
            pins.extend([Pinning::Same, Pinning::None]);
        }
        for pinning in pins {
            let t = one(cfg, contenders, size, pinning);
            if pinning == Pinning::Split {
                for row in &t.rows {
                    if let Some(s) = crate::measure::Summary::of(&row.samples[1]) {
                        points.push((row.label(), size, s.median));
                    }
                }
            }
            tables.push(t);
        }
    }
    (tables, points)
}

fn one(cfg: &Config, contenders: &[Contender], size: usize, pinning: Pinning) -> Table {
    let mut t = Table::new(
        format!(
            "Lockstep echo, {} messages, {}",
            size_label(size),
            pinning.label()
        ),
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
        for (c, send) in variants(contenders) {
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
