//! Where the CPU goes with both processes on one CPU: user and system CPU time per 16 B echo
//! of the server and the client, for the rows the echo targets judge, the floor and the
//! io_uring floor.
//!
//! On one CPU every hand-off is a context switch and nothing overlaps, so the echo rate is the
//! inverse of the CPU the two processes spend per echo; this table splits that CPU between
//! user space (the library's own work) and the kernel (system calls, wake-ups, TCP).

use super::echo::{target_rows, SMALL_ECHO, URING_FLOOR};
use super::{progress, size_label};
use crate::contenders::{pin, Contender, Send};
use crate::measure::cpu_times;
use crate::results::{Metric, Table};
use crate::roles::RoleArgs;
use std::time::Duration;

/// The CPU both processes are pinned to (as in the echo tables' "pinned together").
const CPU: usize = 1;
/// Message size.
const SIZE: usize = SMALL_ECHO;

/// Echoes per run: (quick, full). A full run lasts about 6 s: 600 clock ticks to split.
const ECHOES: (u64, u64) = (2_000, 100_000);

/// One table: the floor, each judged row and the io_uring floor, `reps` runs each,
/// alternating.
pub fn run(quick: bool, contenders: &[Contender]) -> Table {
    let echoes = if quick { ECHOES.0 } else { ECHOES.1 };
    let reps = if quick { 1 } else { 3 };
    let mut t = Table::new(
        format!(
            "Lockstep echo of {}, server and client on CPU {CPU}, CPU time per echo",
            size_label(SIZE)
        ),
        vec![
            Metric::new("server user µs", 2),
            Metric::new("server system µs", 2),
            Metric::new("client user µs", 2),
            Metric::new("client system µs", 2),
            Metric::new("both µs (user + system)", 1),
        ],
    );
    t.notes.push(format!(
        "Each run: a fresh server, one client connection, {echoes} echoes; {reps} repetition(s). \
         CPU time from `/proc/<pid>/stat` (clock ticks of 10 ms): the server's over the \
         client's run, the client's whole process (its start-up is under a millisecond)."
    ));
    let rows: Vec<(Contender, Send)> = std::iter::once((Contender::Floor, Send::Direct))
        .chain(target_rows())
        .chain([URING_FLOOR])
        .filter(|(c, _)| contenders.contains(c))
        .collect();
    for rep in 0..reps {
        for &(c, send) in &rows {
            progress(&format!("cpu per echo rep {}: {}", rep + 1, c.name()));
            match run_once(c, send, echoes) {
                Ok(v) => t.record(c, send, &v),
                Err(e) => t.note(c, send, e),
            }
        }
    }
    t
}

/// One run: µs per echo of server user, server system, client user, client system, and all.
fn run_once(c: Contender, send: Send, echoes: u64) -> Result<[f64; 5], String> {
    let server = c.server("echo", SIZE, &pin(Some(CPU)))?;
    let before = cpu_times(server.pid).ok_or("server died")?;
    let args = RoleArgs {
        port: server.port,
        task: "echo".into(),
        size: SIZE,
        count: echoes,
        seconds: 60.0,
        send: send.arg().into(),
        ..RoleArgs::parse(&[]).expect("defaults")
    };
    let r = c.client(&args, &pin(Some(CPU)), Duration::from_secs(120));
    let after = cpu_times(server.pid).ok_or("server died");
    server.terminate(Duration::from_secs(10));
    let (r, after) = (r?, after?);
    if r.ops != echoes {
        return Err(format!("{} of {echoes} echoes", r.ops));
    }
    let (cu, cs) = r.cpu_s.ok_or("the client reported no CPU time")?;
    let per = |secs: f64| secs * 1e6 / echoes as f64;
    let su = per(after.user.saturating_sub(before.user).as_secs_f64());
    let ss = per(after.system.saturating_sub(before.system).as_secs_f64());
    let (cu, cs) = (per(cu), per(cs));
    Ok([su, ss, cu, cs, su + ss + cu + cs])
}
