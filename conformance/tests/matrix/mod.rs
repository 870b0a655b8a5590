//! The live interop matrix: our core against the real Python package (2.0.1 and 3.0) and
//! against itself, each in both roles, over the echo scenarios.

use std::any::Any;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
use tinyproto_conformance::net::{self, EchoConfig, EchoServer};
use tinyproto_conformance::pyrandom::PyRandom;
use tinyproto_conformance::role::{play, Behaviour};
use tinyproto_testkit::{python_examples, Peer, PyVersion};

/// One column of the matrix: what the client sends (each answered by the echo server).
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Name, as in the transcripts.
    pub name: &'static str,
    /// Send the text line `hello` (else binary messages of `sizes`).
    pub hello: bool,
    /// Sizes of binary messages.
    pub sizes: &'static [usize],
    /// Plugins on both sides.
    pub plugins: &'static [&'static str],
}

const MANY: [usize; 50] = {
    let mut sizes = [0; 50];
    let mut i = 1;
    while i < 50 {
        sizes[i] = (i * 977) % 2001;
        i += 1;
    }
    sizes
};

/// The scenarios, in column order.
pub const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "handshake",
        hello: false,
        sizes: &[],
        plugins: &[],
    },
    Scenario {
        name: "hello",
        hello: true,
        sizes: &[],
        plugins: &[],
    },
    Scenario {
        name: "empty",
        hello: false,
        sizes: &[0],
        plugins: &[],
    },
    Scenario {
        name: "large-70000",
        hello: false,
        sizes: &[70_000],
        plugins: &[],
    },
    Scenario {
        name: "many",
        hello: false,
        sizes: &MANY,
        plugins: &[],
    },
    Scenario {
        name: "plugin",
        hello: true,
        sizes: &[],
        plugins: &["xor5a", "bang"],
    },
];

/// A running echo server: its address, and a guard that stops it when dropped.
pub type Running = (SocketAddr, Box<dyn Any>);

/// A Rust implementation in the matrix: how to start its echo server and run its client.
#[derive(Clone, Copy)]
pub struct RustImpl {
    /// Short name for the table.
    pub name: &'static str,
    /// Starts an echo server (`b"Echo back: " + m`) with the scenario's plugins on a loopback
    /// port; returns its address and a guard that stops it when dropped.
    pub server: fn(&Scenario) -> Result<Running, String>,
    /// Connects to `addr` with the scenario's plugins, sends [`messages`] lockstep and checks
    /// every reply.
    pub client: fn(SocketAddr, &Scenario) -> Result<(), String>,
}

/// Our core: `serve-echo` as the server, the polled driver over `TcpStream` as the client.
pub const CORE: RustImpl = RustImpl {
    name: "core",
    server: core_server,
    client: core_client,
};

/// One row of the matrix: a client against a server.
#[derive(Clone, Copy)]
enum Row {
    /// A Rust client against the Python echo server.
    RustToPython(RustImpl, PyVersion),
    /// The Python echo client against a Rust server.
    PythonToRust(PyVersion, RustImpl),
    /// A Rust client against a Rust server.
    RustToRust(RustImpl, RustImpl),
}

impl Row {
    /// Every row for `impls`: each against Python 2.0.1 and 3.0 in both roles, and each client
    /// against each server.
    fn all(impls: &[RustImpl]) -> Vec<Row> {
        let mut rows = Vec::new();
        for &r in impls {
            for v in PyVersion::ALL {
                rows.push(Row::RustToPython(r, v));
                rows.push(Row::PythonToRust(v, r));
            }
        }
        for &c in impls {
            for &s in impls {
                rows.push(Row::RustToRust(c, s));
            }
        }
        rows
    }

    fn label(&self) -> String {
        let py = |v: PyVersion| format!("Python {}", v.as_str());
        let rust = |r: RustImpl| format!("Rust ({})", r.name);
        match *self {
            Row::RustToPython(r, v) => format!("{} client → {} server", rust(r), py(v)),
            Row::PythonToRust(v, r) => format!("{} client → {} server", py(v), rust(r)),
            Row::RustToRust(c, s) => format!("{} client → {} server", rust(c), rust(s)),
        }
    }

    fn run(&self, sc: &Scenario) -> Result<(), String> {
        let plugin_args: Vec<&str> = sc.plugins.iter().flat_map(|p| ["--plugin", p]).collect();
        match *self {
            Row::RustToPython(r, v) => {
                let (_server, port) = Peer::python_echo_server(v, &plugin_args);
                (r.client)(([127, 0, 0, 1], port).into(), sc)
            }
            Row::PythonToRust(v, r) => {
                let (addr, _server) = (r.server)(sc)?;
                python_client(v, addr, sc, &plugin_args)
            }
            Row::RustToRust(c, s) => {
                let (addr, _server) = (s.server)(sc)?;
                (c.client)(addr, sc)
            }
        }
    }
}

fn core_server(sc: &Scenario) -> Result<Running, String> {
    let config = EchoConfig {
        plugins: sc.plugins.iter().map(|p| p.to_string()).collect(),
        ..EchoConfig::default()
    };
    let server = EchoServer::spawn("127.0.0.1:0", config).map_err(|e| e.to_string())?;
    Ok((server.addr(), Box::new(server)))
}

/// The messages a client sends in `sc` (each is answered `b"Echo back: " + m`).
pub fn messages(sc: &Scenario) -> Vec<Vec<u8>> {
    if sc.hello {
        return vec![b"hello".to_vec()];
    }
    let mut rng = PyRandom::new(sc.sizes.len() as u64);
    sc.sizes.iter().map(|&n| rng.randbytes(n)).collect()
}

fn core_client(addr: SocketAddr, sc: &Scenario) -> Result<(), String> {
    let plugins: Vec<String> = sc.plugins.iter().map(|p| p.to_string()).collect();
    let mut link =
        net::connect(addr, &plugins, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let sent = messages(sc);
    let plugin_refs: Vec<&str> = sc.plugins.to_vec();
    let outcome = play(&mut link, &Behaviour::client(sent.clone(), &plugin_refs));
    outcome.end.map_err(|e| format!("{e}"))?;
    check_replies(&sent, &outcome.received)
}

/// Checks that `received` answers `sent` one for one with `b"Echo back: " + m`.
pub fn check_replies(sent: &[Vec<u8>], received: &[Vec<u8>]) -> Result<(), String> {
    if sent.len() != received.len() {
        return Err(format!(
            "{} replies to {} messages",
            received.len(),
            sent.len()
        ));
    }
    for (i, (msg, got)) in sent.iter().zip(received).enumerate() {
        if *got != [b"Echo back: ", &msg[..]].concat() {
            return Err(format!("reply {i} differs ({} bytes)", got.len()));
        }
    }
    Ok(())
}

fn python_client(
    v: PyVersion,
    addr: SocketAddr,
    sc: &Scenario,
    plugin_args: &[&str],
) -> Result<(), String> {
    let port = addr.port().to_string();
    let sizes = sc
        .sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut command = Command::new(v.python());
    command
        .args([
            "-u",
            "echo_client.py",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--wait",
            "10",
        ])
        .args(plugin_args)
        .current_dir(python_examples())
        .stdin(Stdio::piped());
    if !sc.hello {
        command.args(["--sizes", &sizes]);
    }
    let mut peer = Peer::spawn(command);
    let mut stdin = peer.child_mut().stdin.take().ok_or("no stdin")?;
    if sc.hello {
        stdin.write_all(b"hello\n").map_err(|e| e.to_string())?;
    }
    drop(stdin);
    let want = if sc.hello {
        "Response from server: Echo back: hello".to_string()
    } else {
        format!("OK {}", sc.sizes.len())
    };
    let limit = Duration::from_secs(30);
    if peer.wait_for_line(|l| l == want, limit).is_none() {
        return Err(format!("the Python client never printed {want:?}"));
    }
    match peer.wait_exit(limit) {
        Some(0) => Ok(()),
        other => Err(format!("the Python client exited with {other:?}")),
    }
}

/// Runs every row for `impls` over every scenario and returns the markdown table and whether
/// all cells passed.
pub fn run(impls: &[RustImpl]) -> (String, bool) {
    let mut table = String::from("| client → server |");
    for sc in &SCENARIOS {
        let _ = write!(table, " {} |", sc.name);
    }
    table.push_str("\n| --- |");
    table.push_str(&" :-: |".repeat(SCENARIOS.len()));
    table.push('\n');
    let mut failures = Vec::new();
    for row in Row::all(impls) {
        let _ = write!(table, "| {} |", row.label());
        for sc in &SCENARIOS {
            match row.run(sc) {
                Ok(()) => table.push_str(" ✓ |"),
                Err(e) => {
                    table.push_str(" ✕ |");
                    failures.push(format!("{} / {}: {e}", row.label(), sc.name));
                }
            }
        }
        table.push('\n');
    }
    for f in &failures {
        let _ = writeln!(table, "\n✕ {f}");
    }
    (table, failures.is_empty())
}
