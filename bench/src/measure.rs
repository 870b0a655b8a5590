//! What the harness measures about processes (from `/proc`) and how it summarises samples.

use std::time::Duration;

/// A field of `/proc/<pid>/status` in KiB (`VmHWM` = peak RSS, `VmRSS` = current RSS).
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The process's user + system CPU time so far (`/proc/<pid>/stat`, all threads).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    cpu_times(pid).map(|t| t.user + t.system)
}

/// A process's CPU time so far, in user space and in the kernel (all threads; clock ticks of
/// 10 ms on Linux, so a split is only as good as the ticks it holds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    pub user: Duration,
    pub system: Duration,
}

/// The [`CpuTimes`] of process `pid` (`/proc/<pid>/stat`).
pub fn cpu_times(pid: u32) -> Option<CpuTimes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (`state`).
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let secs = |i: usize| -> Option<Duration> {
        let ticks = fields.get(i)?.parse::<u64>().ok()?;
        Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
    };
    Some(CpuTimes {
        user: secs(11)?,
        system: secs(12)?,
    })
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` once (no `unsafe` here); 100 when that fails.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Median and range of repeated samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_odd_and_even() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Summary::of(&[1.0, 4.0]).unwrap().median, 2.5);
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(status_kib(pid, "VmHWM").unwrap() > 0);
        assert!(cpu_time(pid).is_some());
        assert!(cpu_times(pid).is_some());
    }
}
