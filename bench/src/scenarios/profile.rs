//! Why the times differ: system calls per operation, counted with `strace -f -c` around the
//! server and the client of the same workload (when `strace` is installed). Tracing slows
//! the runs down; only the counts are used.

use super::progress;
use crate::contenders::{Contender, Send};
use crate::roles::RoleArgs;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Syscall counts per operation of one process.
#[derive(Clone, Debug)]
pub struct Profile {
    pub who: String,
    pub per_op: BTreeMap<String, f64>,
    pub errors_per_op: f64,
}

impl Profile {
    pub fn total(&self) -> f64 {
        self.per_op.values().sum()
    }
}

/// One workload profiled for several contenders.
#[derive(Clone, Debug)]
pub struct Section {
    pub title: String,
    pub unit: String,
    pub rows: Vec<Profile>,
    pub notes: Vec<String>,
}

pub fn available() -> bool {
    std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Parses the table of `strace -c`.
fn parse(text: &str) -> (BTreeMap<String, u64>, u64) {
    let mut calls = BTreeMap::new();
    let mut errors = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0].parse::<f64>().is_err() {
            continue;
        }
        let name = f[f.len() - 1];
        if name == "total" {
            continue;
        }
        if let Ok(n) = f[3].parse::<u64>() {
            calls.insert(name.to_string(), n);
        }
        if f.len() == 6 {
            errors += f[4].parse::<u64>().unwrap_or(0);
        }
    }
    (calls, errors)
}

fn strace(out: &std::path::Path) -> Vec<String> {
    ["strace", "-f", "-c", "-o"]
        .into_iter()
        .map(String::from)
        .chain([out.display().to_string()])
        .collect()
}

/// Runs one client task against a server, both traced; returns (server, client) profiles.
fn traced(
    c: Contender,
    send: Send,
    mode: &str,
    args: RoleArgs,
    dir: &std::path::Path,
) -> Result<(Profile, Profile), String> {
    let tag = format!("{}-{send:?}-{}", c.key(), args.task);
    let (sfile, cfile) = (
        dir.join(format!("{tag}-server")),
        dir.join(format!("{tag}-client")),
    );
    let server = c.server(mode, args.size.max(1), &strace(&sfile))?;
    let args = RoleArgs {
        port: server.port,
        ..args
    };
    let ops = c
        .client(&args, &strace(&cfile), Duration::from_secs(120))?
        .ops
        .max(1);
    server.terminate(Duration::from_secs(10));
    let read = |f: &PathBuf, who: String| -> Result<Profile, String> {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let (calls, errors) = parse(&text);
        Ok(Profile {
            who,
            per_op: calls
                .into_iter()
                .map(|(k, v)| (k, v as f64 / ops as f64))
                .collect(),
            errors_per_op: errors as f64 / ops as f64,
        })
    };
    let row = crate::results::Row {
        contender: c,
        send,
        samples: Vec::new(),
        notes: Vec::new(),
    };
    Ok((
        read(&sfile, format!("{} server", c.name()))?,
        read(&cfile, format!("client: {}", row.label()))?,
    ))
}

/// The lockstep echoes profiled: (size, echoes in a quick run, echoes in a full run).
const ECHOES: [(usize, u64, u64); 2] = [(16, 500, 20_000), (1 << 20, 10, 500)];

pub fn run(quick: bool, contenders: &[Contender], dir: &std::path::Path) -> Vec<Section> {
    let _ = std::fs::create_dir_all(dir);
    let messages = if quick { 16 } else { 512 };
    let mut echoes: Vec<Section> = ECHOES
        .iter()
        .map(|&(size, q, full)| Section {
            title: format!(
                "Lockstep echo of {} ({} echoes), system calls per echo",
                super::size_label(size),
                if quick { q } else { full }
            ),
            unit: "per echo".into(),
            rows: Vec::new(),
            notes: Vec::new(),
        })
        .collect();
    let mut bulk = Section {
        title: format!("One-way bulk, {messages} × 1 MiB, system calls per message"),
        unit: "per message".into(),
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let ours_floor: Vec<Contender> = contenders
        .iter()
        .copied()
        .filter(|c| c.is_built_here())
        .collect();
    for &c in &ours_floor {
        for (&(size, q, full), echo) in ECHOES.iter().zip(&mut echoes) {
            if !super::echo::measured_at(c, size) {
                continue;
            }
            for &send in c.sends() {
                progress(&format!(
                    "profile: echo {}, {} {send:?}",
                    super::size_label(size),
                    c.name()
                ));
                let args = RoleArgs {
                    task: "echo".into(),
                    size,
                    count: if quick { q } else { full },
                    seconds: 120.0,
                    send: send.arg().into(),
                    ..RoleArgs::parse(&[]).expect("defaults")
                };
                match traced(c, send, "echo", args, dir) {
                    Ok((s, cl)) => {
                        if send == c.sends()[0] {
                            echo.rows.push(s);
                        }
                        // The io_uring floor's client is the floor's, profiled already.
                        if !c.small_echo_only() {
                            echo.rows.push(cl);
                        }
                    }
                    Err(e) => echo.notes.push(format!("{} {send:?}: {e}", c.name())),
                }
            }
        }
        if c.latency_only() {
            continue;
        }
        progress(&format!("profile: bulk, {}", c.name()));
        let send = c.sends()[0];
        let args = RoleArgs {
            task: "bulk".into(),
            size: 1 << 20,
            count: messages,
            seconds: 120.0,
            send: send.arg().into(),
            ..RoleArgs::parse(&[]).expect("defaults")
        };
        match traced(c, send, "sink", args, dir) {
            Ok((s, cl)) => {
                bulk.rows.push(s);
                bulk.rows.push(cl);
            }
            Err(e) => bulk.notes.push(format!("{}: {e}", c.name())),
        }
    }
    echoes.push(bulk);
    echoes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strace_summary() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
------ ----------- ----------- --------- --------- ------------------\n\
 72.83    9.105487          75    121319       635 futex\n\
 14.33    1.791756          25     69056           epoll_wait\n\
------ ----------- ----------- --------- --------- ------------------\n\
100.00    9.999999                190375       635 total\n";
        let (calls, errors) = parse(text);
        assert_eq!(calls["futex"], 121_319);
        assert_eq!(calls["epoll_wait"], 69_056);
        assert_eq!(calls.len(), 2);
        assert_eq!(errors, 635);
    }
}
