//! The contenders and how to start their servers and clients as separate processes.

use crate::roles::RoleArgs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinyproto_testkit::{workspace_root, Peer, PyVersion};

/// Who is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contender {
    /// This implementation, hooks inline on the I/O thread (`inline_hooks(true)`).
    Ours,
    /// This implementation with its default hook threads.
    OursPool,
    /// This implementation with a thread per connection (`threads_per_connection(true)`).
    OursThreads,
    /// `tinyproto-tokio`: a `Listener` on tokio's multi-threaded runtime, a lockstep client.
    Tokio,
    /// The raw floor: the same bytes with blocking sockets and no library.
    Floor,
    /// The floor's server on io_uring (one system call per hand-off) with the floor's client:
    /// a reference beside the floor, measured in the 16 B lockstep echo only (Linux).
    UringFloor,
    /// The Python package in its venv.
    Python(PyVersion),
}

/// How a client sends: from the connection's own callbacks, or from another thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Send {
    /// One way only (blocking code: the caller's thread is the connection's).
    Direct,
    /// From inside `transmission_received` (bulk: from `pre_loop`).
    Hook,
    /// From the main thread while the connection runs on its own.
    Thread,
}

impl Send {
    pub fn arg(self) -> &'static str {
        match self {
            Send::Direct => "direct",
            Send::Thread => "thread",
            Send::Hook => "hook",
        }
    }
}

impl Contender {
    pub fn name(self) -> String {
        match self {
            Contender::Ours => "ours".into(),
            Contender::OursPool => "ours (hook threads)".into(),
            Contender::OursThreads => "ours (thread per connection)".into(),
            Contender::Tokio => "tinyproto-tokio".into(),
            Contender::Floor => "raw floor".into(),
            Contender::UringFloor => "io_uring floor (wire-level, not a library mode)".into(),
            Contender::Python(v) => format!("Python {}", v.as_str()),
        }
    }

    /// Its name on the command line (`--contenders`).
    pub fn key(self) -> &'static str {
        match self {
            Contender::Ours => "ours",
            Contender::OursPool => "ours-pool",
            Contender::OursThreads => "ours-threads",
            Contender::Tokio => "tokio",
            Contender::Floor => "floor",
            Contender::UringFloor => "uring",
            Contender::Python(PyVersion::V2_0_1) => "py2",
            Contender::Python(PyVersion::V3_0) => "py3",
        }
    }

    /// A program of this repository (ours in any mode, tinyproto-tokio, the floors), not the
    /// Python package: one that failing to run means a broken harness.
    pub fn is_built_here(self) -> bool {
        !matches!(self, Contender::Python(_))
    }

    /// This implementation, in either mode.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            Contender::Ours | Contender::OursPool | Contender::OursThreads
        )
    }

    /// Measured for latency only (lockstep echo and its profile): the thread-per-connection
    /// mode is for a few connections, not for bulk or thousands of connections; the io_uring
    /// floor answers one question about small echoes.
    pub fn latency_only(self) -> bool {
        self == Contender::OursThreads || self.small_echo_only()
    }

    /// Measured in the 16 B lockstep echo only (its tables, CPU time and system calls): the
    /// io_uring floor, a reference for what a completion-based server can do per hand-off.
    pub fn small_echo_only(self) -> bool {
        self == Contender::UringFloor
    }

    /// The ways its users send.
    pub fn sends(self) -> &'static [Send] {
        match self {
            Contender::Ours => crate::OURS_SENDS,
            Contender::OursPool => &[Send::Hook, Send::Thread],
            Contender::OursThreads => &[Send::Direct, Send::Hook],
            Contender::Tokio | Contender::Floor | Contender::UringFloor => &[Send::Direct],
            Contender::Python(_) => &[Send::Hook, Send::Thread],
        }
    }

    /// The contenders that can run here (the io_uring floor only where the kernel lets this
    /// process use io_uring, Python only where its venv exists), and why the others cannot.
    pub fn available() -> (Vec<Contender>, Vec<String>) {
        let mut v = vec![
            Contender::Ours,
            Contender::OursPool,
            Contender::OursThreads,
            Contender::Tokio,
            Contender::Floor,
        ];
        let mut missing = Vec::new();
        match uring_available() {
            Ok(()) => v.push(Contender::UringFloor),
            Err(e) => missing.push(format!("{}: {e}", Contender::UringFloor.name())),
        }
        for py in PyVersion::ALL {
            if python(py).exists() {
                v.push(Contender::Python(py));
            } else {
                missing.push(format!(
                    "Python {} not installed at {} (run `bash .ci/setup-python`)",
                    py.as_str(),
                    python(py).display()
                ));
            }
        }
        (v, missing)
    }

    /// The command line of its server or client, run under `wrapper` (e.g. `taskset -c 0`,
    /// `strace -f -c -o FILE`) when that is not empty.
    fn command(self, server: bool, args: &RoleArgs, wrapper: &[String]) -> Command {
        let program = match self {
            Contender::Python(py) => python(py),
            _ => self_exe(),
        };
        let mut c = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        let side = if server { "server" } else { "client" };
        match self {
            Contender::Python(_) => {
                let script = if server {
                    "tp_server.py"
                } else {
                    "tp_client.py"
                };
                c.arg("-u").arg(bench_dir().join("python").join(script));
            }
            Contender::Ours | Contender::OursPool | Contender::OursThreads => {
                c.args(["role", &format!("ours-{side}")]);
            }
            Contender::Tokio => {
                c.args(["role", &format!("tokio-{side}")]);
            }
            Contender::Floor => {
                c.args(["role", &format!("floor-{side}")]);
            }
            // Its own server, the floor's client.
            Contender::UringFloor => {
                c.args([
                    "role",
                    if server {
                        "uring-server"
                    } else {
                        "floor-client"
                    },
                ]);
            }
        }
        let args = RoleArgs {
            hooks: match self {
                Contender::OursPool => "pool",
                Contender::OursThreads => "threads",
                _ => "inline",
            }
            .into(),
            ..args.clone()
        };
        c.args(args.to_args());
        c.stdin(Stdio::null());
        if std::env::var_os("TINYPROTO_BENCH_VERBOSE").is_none() {
            c.stderr(Stdio::null());
        }
        c
    }

    /// Starts a server (`mode` echo or sink) and waits for its port.
    pub fn server(self, mode: &str, max: usize, wrapper: &[String]) -> Result<Server, String> {
        let args = RoleArgs {
            mode: mode.into(),
            max,
            ..RoleArgs::parse(&[]).expect("defaults parse")
        };
        let mut peer = Peer::spawn(self.command(true, &args, wrapper));
        let line = peer
            .wait_for_line(|l| l.starts_with("LISTENING "), Duration::from_secs(20))
            .ok_or_else(|| format!("{} server did not start", self.name()))?;
        let port = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or("bad LISTENING line")?;
        let mut pid = peer.child_mut().id();
        if !wrapper.is_empty() && wrapper[0] != "taskset" {
            // Under a tracer the server is the tracer's child.
            pid = child_of(pid).ok_or("no server process under the wrapper")?;
        }
        Ok(Server { peer, port, pid })
    }

    /// Runs a client to completion (killed after `limit`) and returns its `RESULT`.
    pub fn client(
        self,
        args: &RoleArgs,
        wrapper: &[String],
        limit: Duration,
    ) -> Result<ClientResult, String> {
        let mut peer = Peer::spawn(self.command(false, args, wrapper));
        let line = peer
            .wait_for_line(
                |l| l.starts_with("RESULT ") || l.starts_with("MISMATCH"),
                limit,
            )
            .ok_or_else(|| match peer.wait_exit(Duration::from_millis(300)) {
                Some(code) => format!("client exited (code {code}) without a result"),
                None => format!("client gave no result within {limit:?}"),
            })?;
        // Let it exit by itself (a tracer around it writes its summary then).
        let _ = peer.wait_exit(Duration::from_secs(10));
        ClientResult::parse(&line)
    }
}

#[cfg(target_os = "linux")]
fn uring_available() -> Result<(), String> {
    crate::roles::uring::probe()
}

#[cfg(not(target_os = "linux"))]
fn uring_available() -> Result<(), String> {
    Err("io_uring is Linux only".into())
}

/// The first child of process `pid`.
fn child_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `taskset -c CPU`, or nothing.
pub fn pin(cpu: Option<usize>) -> Vec<String> {
    cpu.map_or_else(Vec::new, |cpu| {
        vec!["taskset".into(), "-c".into(), cpu.to_string()]
    })
}

/// A running server, killed when dropped.
pub struct Server {
    peer: Peer,
    pub port: u16,
    pub pid: u32,
}

impl Server {
    /// Ends the server with SIGTERM (so that a tracer around it writes its summary) and waits
    /// for its wrapper to exit.
    pub fn terminate(mut self, limit: Duration) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let _ = self.peer.wait_exit(limit);
    }

    /// Waits until the server's CPU time stops growing (its threads have settled), at most
    /// `limit`.
    pub fn settle(&self, limit: Duration) {
        let end = Instant::now() + limit;
        let mut last = crate::measure::cpu_time(self.pid);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            let now = crate::measure::cpu_time(self.pid);
            if now == last {
                return;
            }
            last = now;
        }
    }
}

/// What a client printed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClientResult {
    pub ops: u64,
    pub bytes: u64,
    pub secs: f64,
    pub hwm_kib: u64,
    /// The client process's CPU time (user, system) in seconds, when it reports it.
    pub cpu_s: Option<(f64, f64)>,
}

impl ClientResult {
    pub fn parse(line: &str) -> Result<ClientResult, String> {
        let mut r = ClientResult::default();
        if !line.starts_with("RESULT ") {
            return Err(line.to_string());
        }
        for kv in line.split_whitespace().skip(1) {
            let (k, v) = kv.split_once('=').ok_or("bad RESULT")?;
            match k {
                "ops" => r.ops = v.parse().map_err(|_| "ops")?,
                "bytes" => r.bytes = v.parse().map_err(|_| "bytes")?,
                "secs" => r.secs = v.parse().map_err(|_| "secs")?,
                "hwm_kib" => r.hwm_kib = v.parse().map_err(|_| "hwm")?,
                "user_s" => r.cpu_s.get_or_insert_default().0 = v.parse().map_err(|_| "user_s")?,
                "sys_s" => r.cpu_s.get_or_insert_default().1 = v.parse().map_err(|_| "sys_s")?,
                _ => {}
            }
        }
        Ok(r)
    }
}

fn python(py: PyVersion) -> PathBuf {
    let var = match py {
        PyVersion::V2_0_1 => "TINYPROTO_PYTHON_2_0_1",
        PyVersion::V3_0 => "TINYPROTO_PYTHON_3_0",
    };
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        workspace_root()
            .join("target/py")
            .join(format!("venv-{}", py.as_str()))
            .join("bin/python")
    })
}

fn self_exe() -> PathBuf {
    std::env::current_exe().expect("path of the running harness")
}

fn bench_dir() -> PathBuf {
    workspace_root().join("bench")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result() {
        let r = ClientResult::parse("RESULT ops=3 bytes=48 secs=0.5 hwm_kib=2000").unwrap();
        assert_eq!((r.ops, r.bytes, r.secs, r.hwm_kib), (3, 48, 0.5, 2000));
        assert_eq!(r.cpu_s, None);
        let r =
            ClientResult::parse("RESULT ops=3 bytes=48 secs=0.5 hwm_kib=9 user_s=0.25 sys_s=1.5");
        assert_eq!(r.unwrap().cpu_s, Some((0.25, 1.5)));
        assert!(ClientResult::parse("MISMATCH").is_err());
    }
}
