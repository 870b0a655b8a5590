//! Test support shared by the tinyproto crates: run the real Python `tinyproto` package (2.0.1
//! and 3.0, each in its own venv) as a peer, and the test plugins those peers use
//! ([`Xor5a`], [`Bang`], in [`plugins`]); the soak and fault workload ([`soak`]).
//!
//! The venvs are made by `.ci/setup-python` (the README's test command runs it) under
//! `target/py/venv-<version>`; the variables `TINYPROTO_PYTHON_2_0_1` and
//! `TINYPROTO_PYTHON_3_0` may point at other interpreters. A missing interpreter fails the test
//! with a message saying how to make it: interop tests are never skipped silently.
#![forbid(unsafe_code)]

pub mod plugins;
mod rng;
pub mod soak;

pub use plugins::{Bang, Xor5a};
pub use rng::Rng;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A released version of the Python package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PyVersion {
    /// `tinyproto==2.0.1` (setter-configured API).
    V2_0_1,
    /// `tinyproto==3.0` (constructor-configured API).
    V3_0,
}

impl PyVersion {
    /// Both versions.
    pub const ALL: [PyVersion; 2] = [PyVersion::V2_0_1, PyVersion::V3_0];

    /// The version string, as on PyPI.
    pub fn as_str(self) -> &'static str {
        match self {
            PyVersion::V2_0_1 => "2.0.1",
            PyVersion::V3_0 => "3.0",
        }
    }

    /// The variable that may point at this version's interpreter.
    fn env_var(self) -> &'static str {
        match self {
            PyVersion::V2_0_1 => "TINYPROTO_PYTHON_2_0_1",
            PyVersion::V3_0 => "TINYPROTO_PYTHON_3_0",
        }
    }

    /// The interpreter of this version's venv, if it is installed.
    pub fn find_python(self) -> Option<PathBuf> {
        let path = std::env::var_os(self.env_var())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                workspace_root()
                    .join("target/py")
                    .join(format!("venv-{}", self.as_str()))
                    .join("bin/python")
            });
        path.exists().then_some(path)
    }

    /// The interpreter of this version's venv, or a message that says it is missing and how
    /// to install it.
    pub fn require(self) -> Result<PathBuf, String> {
        self.find_python().ok_or_else(|| {
            format!(
                "Python tinyproto {} not found (set {}, or run `bash .ci/setup-python`)",
                self.as_str(),
                self.env_var()
            )
        })
    }

    /// The interpreter of this version's venv.
    ///
    /// # Panics
    /// When it does not exist: the test cannot run, and says how to fix that.
    pub fn python(self) -> PathBuf {
        self.require().unwrap_or_else(|why| panic!("{why}"))
    }
}

/// The workspace's top folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// The folder of the Python example programs (`echo_server.py`, `echo_client.py`, ...).
pub fn python_examples() -> PathBuf {
    workspace_root().join("examples/python")
}

/// A child process that is killed when dropped, with its stdout readable line by line with a
/// time limit.
pub struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    /// Starts `command` with stdout piped (stdin is null unless the command set it).
    pub fn spawn(mut command: Command) -> Peer {
        command.stdout(Stdio::piped());
        let mut child = command.spawn().expect("spawn peer process");
        let stdout = child.stdout.take().expect("piped stdout");
        Peer {
            child,
            lines: forward_lines(stdout),
        }
    }

    /// Runs `script` (a file in [`python_examples`]) with `args` on the given version.
    pub fn python(version: PyVersion, script: &str, args: &[&str]) -> Peer {
        Peer::python_script(Command::new(version.python()), script, args)
    }

    /// Starts `python` (a command that runs an interpreter) on `script` in
    /// [`python_examples`] with `args`: unbuffered, stdin null.
    fn python_script(mut python: Command, script: &str, args: &[&str]) -> Peer {
        python
            .arg("-u")
            .arg(script)
            .args(args)
            .current_dir(python_examples())
            .stdin(Stdio::null());
        Peer::spawn(python)
    }

    /// Starts the Python echo server on an ephemeral loopback port and returns it with the
    /// port, once it listens. `extra` is passed on (`--limit N`, `--plugin NAME`).
    pub fn python_echo_server(version: PyVersion, extra: &[&str]) -> (Peer, u16) {
        let mut args = vec!["--host", "127.0.0.1", "--port", "0"];
        args.extend_from_slice(extra);
        let mut peer = Peer::python(version, "echo_server.py", &args);
        let line = peer
            .wait_for_line(|l| l.starts_with("LISTENING "), Duration::from_secs(20))
            .expect("Python echo server did not start listening");
        let port = line
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .expect("LISTENING <port>");
        (peer, port)
    }

    /// Runs `examples/python/oversize_client.py` against a server on `port` (whose limit must
    /// be below 2000 bytes): it prints `REJECTED ...` for the refused message, then `OK` when the
    /// next one on the same connection is echoed.
    pub fn python_oversize_client(version: PyVersion, port: u16) -> Peer {
        Peer::python(
            version,
            "oversize_client.py",
            &["--port", &port.to_string()],
        )
    }

    /// Runs the Python echo client against a server on `port` that refuses it during init (at
    /// its connection limit), waits at most `limit`, and returns its exit code and stderr.
    pub fn python_client_refused_at_init(
        version: PyVersion,
        port: u16,
        limit: Duration,
    ) -> (Option<i32>, String) {
        Peer::client_refused_at_init(Command::new(version.python()), "127.0.0.1", port, limit)
    }

    /// [`Peer::python_client_refused_at_init`] with `python` (a command that runs an
    /// interpreter, e.g. inside a namespace) against `host`.
    fn client_refused_at_init(
        mut python: Command,
        host: &str,
        port: u16,
        limit: Duration,
    ) -> (Option<i32>, String) {
        let port = port.to_string();
        python
            .args(["-u", "echo_client.py", "--host", host, "--port", &port])
            .args(["--sizes", "1", "--wait", "5"])
            .current_dir(python_examples())
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let mut client = Peer::spawn(python);
        let mut stderr = client.child_mut().stderr.take().expect("piped stderr");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let code = client.wait_exit(limit);
        drop(client);
        (code, errors.join().unwrap_or_default())
    }

    /// Waits at most `limit` for a line that starts with `prefix` and returns it; panics
    /// naming `what` when none comes.
    pub fn expect_line(&mut self, prefix: &str, limit: Duration, what: &str) -> String {
        self.wait_for_line(|l| l.starts_with(prefix), limit)
            .unwrap_or_else(|| panic!("{what}: no `{prefix}` line in time"))
    }

    /// The next line of stdout, waiting at most `limit`; `None` at end of output or time out.
    pub fn next_line(&mut self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Skips lines until one satisfies `want`, within `limit` in all.
    pub fn wait_for_line(
        &mut self,
        mut want: impl FnMut(&str) -> bool,
        limit: Duration,
    ) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let line = self.next_line(left)?;
            if want(&line) {
                return Some(line);
            }
        }
    }

    /// Waits at most `limit` for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The process, e.g. to write to its stdin.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The TAP device of [`NetNs::with_tap_or_skip`].
pub const TAP: &str = "tap0";
/// The kernel's address on [`TAP`] (a /24), where its TCP stack and the Python peers are.
pub const TAP_KERNEL_IP: &str = "192.168.69.100";
/// The address the user-space stack on [`TAP`] takes (in the same /24).
pub const TAP_STACK_IP: &str = "192.168.69.1";

/// A network namespace made for one test and deleted when dropped, so that real traffic (a
/// TAP device, the kernel's TCP stack, Python peers) stays inside it: no address outside the
/// namespace is ever used.
///
/// Needs root (or `CAP_SYS_ADMIN`) and `ip` from iproute2. See [`NetNs::create_or_skip`].
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace named `tp-<tag>-<pid>-<n>` with its loopback up.
    pub fn create(tag: &str) -> Result<NetNs, String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("tp-{tag}-{}-{n}", std::process::id());
        run_ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Creates a namespace, or — where this machine cannot (not root, no `ip`, no namespace
    /// support) — says so loudly on stderr and returns `None` so the test can end. Under CI
    /// (`CI` set in the environment) a namespace is required and this panics instead.
    pub fn create_or_skip(tag: &str) -> Option<NetNs> {
        match NetNs::create(tag) {
            Ok(ns) => Some(ns),
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("CI must run the network-namespace tests, but: {why}")
            }
            Err(why) => {
                eprintln!("\n{}", "!".repeat(78));
                eprintln!("!! NOT RUN: this machine cannot create a network namespace: {why}");
                eprintln!("!! The real-traffic test `{tag}` needs root and iproute2 (`ip netns`).");
                eprintln!("{}\n", "!".repeat(78));
                None
            }
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> <args>` (a configuration step inside the namespace).
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// Creates a TAP device `tap` inside the namespace, brings it up and gives the kernel's
    /// side the address `kernel_cidr` (e.g. `192.168.69.100/24`) on it.
    pub fn add_tap(&self, tap: &str, kernel_cidr: &str) -> Result<(), String> {
        self.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
        self.ip(&["link", "set", tap, "up"])?;
        self.ip(&["addr", "add", kernel_cidr, "dev", tap])
    }

    /// Creates a namespace for a user-space TCP stack (smoltcp, embassy-net) on a TAP device:
    /// [`TAP`] inside it, up, with the kernel's side at [`TAP_KERNEL_IP`]/24; the stack opens
    /// [`TAP`] and takes [`TAP_STACK_IP`]. `None` where no namespace can be made (see
    /// [`NetNs::create_or_skip`]).
    pub fn with_tap_or_skip(tag: &str) -> Option<NetNs> {
        let ns = NetNs::create_or_skip(tag)?;
        ns.add_tap(TAP, &format!("{TAP_KERNEL_IP}/24"))
            .expect("TAP device inside the namespace");
        Some(ns)
    }

    /// Runs the Python echo client of `version` inside the namespace against `host:port`, a
    /// server at its connection limit, as [`Peer::python_client_refused_at_init`] does.
    pub fn python_client_refused_at_init(
        &self,
        version: PyVersion,
        host: &str,
        port: u16,
        limit: Duration,
    ) -> (Option<i32>, String) {
        Peer::client_refused_at_init(self.command(version.python()), host, port, limit)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec <ns> <program>`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs a Python example `script` of `version` with `args` inside the namespace.
    pub fn python(&self, version: PyVersion, script: &str, args: &[&str]) -> Peer {
        Peer::python_script(self.command(version.python()), script, args)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(why) = run_ip(&["netns", "delete", &self.name]) {
            eprintln!(
                "warning: could not delete network namespace {}: {why}",
                self.name
            );
        }
    }
}

fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip` (install iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One `#[test]` per Python version for a scenario `fn(PyVersion)`: names the 2.0.1 test and
/// the 3.0 test.
///
/// ```ignore
/// fn client_talks_to_server(version: PyVersion) { /* … */ }
/// tinyproto_testkit::per_python_version!(client_talks_to_server:
///     client_talks_to_python_2_0_1_server, client_talks_to_python_3_0_server);
/// ```
#[macro_export]
macro_rules! per_python_version {
    ($scenario:ident: $v2_0_1:ident, $v3_0:ident) => {
        #[test]
        fn $v2_0_1() {
            $scenario($crate::PyVersion::V2_0_1);
        }

        #[test]
        fn $v3_0() {
            $scenario($crate::PyVersion::V3_0);
        }
    };
}
