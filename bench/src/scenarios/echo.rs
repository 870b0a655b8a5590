//! Lockstep echo: the client sends a message, waits for its echo, repeats (time-bounded).
//!
//! Every table is measured under the run's congestion control (not paced) with every
//! contender; the sizes of the targets (16 B, 1 MiB) in every placement also under the
//! machine's default (BBR here, paced), with only the rows the targets judge, to keep the
//! run short. The 16 B tables also have the io_uring floor, a reference beside the floor
//! (`Contender::UringFloor`), paired with the floor like the judged rows.
//!
//! What a run gets of the machine drifts by ±10 % (16 B) to ±20 % (1 MiB) within seconds on a
//! shared one, whichever program runs (the floor against itself too): a median of 5 runs of each
//! then cannot tell 0.95 from 1.0. So at the sizes the targets judge ([`TARGET_SIZES`]), each
//! repetition runs the floor before, between every two and after the judged rows, and each
//! judged run is also divided by the mean of the floor's runs beside it: the targets judge the
//! median of these run-by-run ratios ([`PAIRED_METRIC`]), in which the drift that both saw
//! cancels out.

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

/// A row measured run by run against the floor: one a target judges, or the io_uring floor
/// (a reference, judged by no target); or the floor itself.
fn is_paired(row: (Contender, Send)) -> bool {
    row == FLOOR || row == URING_FLOOR || target_rows().contains(&row)
}

/// The size of the io_uring floor's table (and of its CPU time and system calls).
pub const SMALL_ECHO: usize = 16;

/// Whether contender `c` is measured with messages of `size`.
pub fn measured_at(c: Contender, size: usize) -> bool {
    !c.small_echo_only() || size == SMALL_ECHO
}

/// The message sizes the targets judge; their judged rows are also measured run by run
/// against the floor's runs beside them.
pub const TARGET_SIZES: [usize; 2] = [16, 1 << 20];
/// The name of the metric of those run-by-run ratios (the targets look for it).
pub const PAIRED_METRIC: &str = "÷ floor run by run";
/// Index of [`PAIRED_METRIC`] in the tables that have it.
const PAIRED: usize = 2;
const FLOOR: (Contender, Send) = (Contender::Floor, Send::Direct);
/// The io_uring floor's row.
pub const URING_FLOOR: (Contender, Send) = (Contender::UringFloor, Send::Direct);

pub fn run(cfg: &Config, contenders: &[Contender], network: &Network) -> (Vec<Table>, Vec<Point>) {
    let mut tables = Vec::new();
    let mut points = Vec::new();
    let all = variants(contenders);
    let paired: Vec<(Contender, Send)> = all.iter().copied().filter(|&r| is_paired(r)).collect();
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
            let rows: Vec<(Contender, Send)> = (if i == 0 { &all } else { &paired })
                .iter()
                .copied()
                .filter(|&(c, _)| measured_at(c, size))
                .collect();
            for pinning in pins {
                let t = one(cfg, &rows, size, pinning, cc);
                if pinning == Pinning::Split && i == 0 {
                    // The plot's lines span every size.
                    for row in t.rows.iter().filter(|r| !r.contender.small_echo_only()) {
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
    let paired = TARGET_SIZES.contains(&size) && rows.contains(&FLOOR);
    let mut metrics = vec![
        Metric::ratio("echoes/s", 0),
        Metric::new("MB/s (one way)", 1),
    ];
    if paired {
        metrics.push(Metric::new(PAIRED_METRIC, 2));
    }
    let mut t = Table::new(title(&size_label(size), pinning, cc), metrics);
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
    if paired {
        let uring = if rows.contains(&URING_FLOOR) {
            " and the io_uring floor"
        } else {
            ""
        };
        t.notes.push(format!(
            "The floor runs before, between every two and after the rows the targets judge\
             {uring} (in turn); {PAIRED_METRIC}: each of their runs divided by the mean of the \
             floor's runs beside it, which the targets judge (it cancels the machine's drift)."
        ));
    }
    let (server_cpu, client_cpu) = pinning.cpus();
    for rep in 0..reps {
        let mut rates = Vec::new();
        for (c, send) in order(rows, paired, rep) {
            progress(&format!("{} rep {}: {}", t.title, rep + 1, label(c, send)));
            match run_once(cfg, c, send, size, server_cpu, client_cpu) {
                Ok((ops, secs)) => {
                    let rate = ops as f64 / secs;
                    t.record(c, send, &[rate, rate * size as f64 / 1e6]);
                    rates.push(((c, send), Some(rate)));
                }
                Err(e) => {
                    t.note(c, send, e);
                    rates.push(((c, send), None));
                }
            }
        }
        if paired {
            for ((c, send), ratio) in ratios_to_floor(&rates) {
                t.row(c, send).samples[PAIRED].push(ratio);
            }
        }
    }
    t
}

/// The runs of repetition `rep`: `rows` as they are, or when `paired`, the floor before,
/// between every two and after the paired rows (which take turns at going first), then the
/// others.
fn order(rows: &[(Contender, Send)], paired: bool, rep: usize) -> Vec<(Contender, Send)> {
    if !paired {
        return rows.to_vec();
    }
    let mut judged: Vec<_> = (rows.iter().copied())
        .filter(|&r| r != FLOOR && is_paired(r))
        .collect();
    if !judged.is_empty() {
        let turn = rep % judged.len();
        judged.rotate_left(turn);
    }
    let mut runs = vec![FLOOR];
    for two in judged.chunks(2) {
        runs.extend_from_slice(two);
        runs.push(FLOOR);
    }
    runs.extend(rows.iter().copied().filter(|&r| !is_paired(r)));
    runs
}

/// A run of one repetition: its row, and its rate (`None`: it failed).
type Run = ((Contender, Send), Option<f64>);

/// Each paired run's rate divided by the mean rate of the floor's nearest runs before and
/// after it (one of them when the other failed), in one repetition's `runs`.
fn ratios_to_floor(runs: &[Run]) -> Vec<((Contender, Send), f64)> {
    let floor_at = |i: usize| match runs[i] {
        (FLOOR, rate) => Some(rate),
        _ => None,
    };
    let mut out = Vec::new();
    for (i, &(row, rate)) in runs.iter().enumerate() {
        let Some(rate) = rate.filter(|_| row != FLOOR && is_paired(row)) else {
            continue;
        };
        let before = (0..i).rev().find_map(floor_at).flatten();
        let after = (i + 1..runs.len()).find_map(floor_at).flatten();
        let floors: Vec<f64> = [before, after].into_iter().flatten().collect();
        if !floors.is_empty() {
            let floor = floors.iter().sum::<f64>() / floors.len() as f64;
            out.push((row, rate / floor));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    const TOKIO: (Contender, Send) = (Contender::Tokio, Send::Direct);

    #[test]
    fn paired_runs_put_the_floor_around_every_two_judged_rows_in_turn() {
        let [a, b, c, d] = target_rows();
        let rows = [a, b, TOKIO, c, d, FLOOR];
        assert_eq!(order(&rows, false, 1), rows);
        assert_eq!(
            order(&rows, true, 0),
            [FLOOR, a, b, FLOOR, c, d, FLOOR, TOKIO]
        );
        assert_eq!(
            order(&rows, true, 1),
            [FLOOR, b, c, FLOOR, d, a, FLOOR, TOKIO]
        );
        // The io_uring floor, judged by no target, is paired with the floor all the same.
        let rows = [a, b, TOKIO, c, d, FLOOR, URING_FLOOR];
        assert_eq!(
            order(&rows, true, 0),
            [FLOOR, a, b, FLOOR, c, d, FLOOR, URING_FLOOR, FLOOR, TOKIO]
        );
    }

    #[test]
    fn the_io_uring_floor_is_measured_at_16_bytes_only() {
        assert!(measured_at(Contender::UringFloor, 16));
        assert!(!measured_at(Contender::UringFloor, 1 << 20));
        assert!(measured_at(Contender::Floor, 1 << 20));
        assert!(!target_rows().contains(&URING_FLOOR));
    }

    #[test]
    fn each_judged_run_is_divided_by_the_floor_runs_beside_it() {
        let [a, b, c, _] = target_rows();
        let runs = [
            (FLOOR, Some(100.0)),
            (a, Some(90.0)),
            (b, Some(150.0)),
            (FLOOR, Some(200.0)),
            (c, Some(80.0)),
            (TOKIO, Some(10.0)),
            (FLOOR, None),
        ];
        // `c`: the floor after it failed, so only the one before counts; tokio is not paired.
        assert_eq!(ratios_to_floor(&runs), [(a, 0.6), (b, 1.0), (c, 0.4)]);
        assert!(ratios_to_floor(&[(a, Some(1.0)), (FLOOR, None)]).is_empty());
    }
}
