//! Running the whole harness inside a network namespace of its own, so that its loopback
//! uses a chosen TCP congestion control (a per-namespace setting) without touching the
//! machine's.
//!
//! Why: with BBR (the default on some machines, this one included), loopback TCP is paced by
//! timers, and a lockstep echo then measures pacing more than either program: the floor itself
//! runs about twice as slow and the ratios swing from run to run. Most Linux systems default
//! to CUBIC, which is what the report uses unless told otherwise (`--congestion system`).
//! Some kernels do not let a new namespace choose CUBIC (`tcp_allowed_congestion_control` is
//! then e.g. `reno bbr`): the harness falls back to Reno, also not paced, and the report says
//! so.
//!
//! The echo tables are measured under both: the run's non-paced algorithm and the machine's
//! default (when it differs), switched inside the namespace between tables
//! ([`Network::set`]); a new socket takes the namespace's setting when it is made.

use std::path::Path;

/// Set in the re-executed harness: the name of the namespace it runs in.
const INSIDE: &str = "TINYPROTO_BENCH_NETNS";
/// Set in the re-executed harness: the machine's own congestion control.
const HOST_CC: &str = "TINYPROTO_BENCH_HOST_CC";
const CC_PATH: &str = "/proc/sys/net/ipv4/tcp_congestion_control";
/// The non-paced algorithm every Linux kernel allows, used when CUBIC is refused.
const FALLBACK_CC: &str = "reno";

fn current_cc() -> String {
    std::fs::read_to_string(CC_PATH)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The congestion controls of a run.
#[derive(Clone, Debug)]
pub struct Network {
    /// How the report describes the setting, e.g. "cubic, in a network namespace the harness
    /// created (the machine's default: bbr)".
    pub description: String,
    /// The algorithm in force for the run (the non-paced one, unless asked otherwise).
    pub run: String,
    /// The machine's default, when it differs from `run` and the harness may switch to it.
    pub machine: Option<String>,
}

impl Network {
    /// The algorithms the echo tables are measured under: the run's, then the machine's.
    pub fn echo_ccs(&self) -> Vec<String> {
        std::iter::once(self.run.clone())
            .chain(self.machine.clone())
            .collect()
    }

    /// Makes `cc` the namespace's algorithm for the sockets made from now on.
    pub fn set(&self, cc: &str) -> Result<(), String> {
        if current_cc() == cc {
            return Ok(());
        }
        std::fs::write(CC_PATH, cc).map_err(|e| format!("setting {cc}: {e}"))
    }
}

/// Where the run takes place.
pub enum Place {
    /// In this process, with this setting.
    Here(Network),
    /// Nothing more to run here: end with this exit code (the copy of the harness run in a
    /// namespace has ended, or the namespace could not be set up).
    Done(i32),
}

/// Decides where the run takes place. With `cc` = `system`, here. Otherwise, outside a
/// namespace: creates one, re-runs this harness (`exe args`) inside it and deletes it; inside:
/// sets its congestion control. A machine that cannot make namespaces (not root, no `ip`)
/// runs here with a warning, and the report says so.
pub fn enter(cc: &str, exe: &Path, args: &[String]) -> Place {
    let only = |description: String| Network {
        description,
        run: current_cc(),
        machine: None,
    };
    if cc == "system" {
        return Place::Here(only(format!("{} (the machine's, as asked)", current_cc())));
    }
    if let Ok(name) = std::env::var(INSIDE) {
        let mut note = String::new();
        if let Err(e) = std::fs::write(CC_PATH, cc) {
            if cc != "cubic" || std::fs::write(CC_PATH, FALLBACK_CC).is_err() {
                eprintln!("[bench] cannot set the congestion control to {cc} in {name}: {e}");
                return Place::Done(2);
            }
            let allowed =
                std::fs::read_to_string("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "unknown".into());
            eprintln!(
                "[bench] {cc} is not allowed in {name} ({e}); using {FALLBACK_CC}, also not paced"
            );
            note = format!(
                "; {cc} is not allowed here (allowed: {allowed}), so {FALLBACK_CC}, also not paced"
            );
        }
        let host = std::env::var(HOST_CC).unwrap_or_else(|_| "unknown".into());
        let run = current_cc();
        // The echo tables switch to the machine's default when the namespace allows it.
        let machine =
            (host != run && std::fs::write(CC_PATH, &host).is_ok()).then_some(host.clone());
        let _ = std::fs::write(CC_PATH, &run);
        let also = machine.as_ref().map_or(String::new(), |m| {
            format!("; the echo tables are measured under {m} too")
        });
        return Place::Here(Network {
            description: format!(
                "{run}, in a network namespace the harness created (the machine's default: \
                 {host}{note}){also}"
            ),
            run,
            machine,
        });
    }
    let ns = match tinyproto_testkit::NetNs::create("bench") {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("[bench] WARNING: runs with the machine's congestion control: {why}");
            return Place::Here(only(format!(
                "{} (the machine's: no network namespace could be created for {cc}: {why})",
                current_cc()
            )));
        }
    };
    let status = ns
        .command(exe)
        .args(args)
        .env(INSIDE, ns.name())
        .env(HOST_CC, current_cc())
        .status();
    drop(ns);
    Place::Done(match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("[bench] cannot run the harness in its namespace: {e}");
            1
        }
    })
}
