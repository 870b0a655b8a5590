//! The live interop matrix: our core against the real Python package (2.0.1 and 3.0) and
//! against itself, each in both roles, over the echo scenarios.

use crate::net::{self, EchoConfig, EchoServer};
use crate::pyrandom::PyRandom;
use crate::role::{play, Behaviour};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;
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

/// The other side of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Other {
    /// The Python package, run from `examples/python`.
    Python(PyVersion),
    /// Our own core (`serve-echo` / our client).
    Rust,
}

/// A row: our role against the other side.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    /// The other implementation.
    pub other: Other,
    /// Whether we are the client (else the server).
    pub rust_client: bool,
}

impl Pair {
    /// Every row: Rust ↔ Python 2.0.1, Rust ↔ Python 3.0 in both roles, and Rust ↔ Rust.
    pub fn all() -> Vec<Pair> {
        let mut rows = Vec::new();
        for v in PyVersion::ALL {
            rows.push(Pair {
                other: Other::Python(v),
                rust_client: true,
            });
            rows.push(Pair {
                other: Other::Python(v),
                rust_client: false,
            });
        }
        rows.push(Pair {
            other: Other::Rust,
            rust_client: true,
        });
        rows
    }

    /// `client ↔ server` label.
    pub fn label(&self) -> String {
        let other = match self.other {
            Other::Python(v) => format!("Python {}", v.as_str()),
            Other::Rust => "Rust".to_string(),
        };
        if self.rust_client {
            format!("Rust client → {other} server")
        } else {
            format!("{other} client → Rust server")
        }
    }

    /// Runs one scenario; `Err` says what went wrong.
    pub fn run(&self, sc: &Scenario) -> Result<(), String> {
        let plugin_args: Vec<&str> = sc.plugins.iter().flat_map(|p| ["--plugin", p]).collect();
        match (self.other, self.rust_client) {
            (Other::Python(v), true) => {
                let (_server, port) = Peer::python_echo_server(v, &plugin_args);
                rust_client(([127, 0, 0, 1], port).into(), sc)
            }
            (Other::Python(v), false) => {
                let server = rust_server(sc)?;
                python_client(v, server.addr(), sc, &plugin_args)
            }
            (Other::Rust, _) => {
                let server = rust_server(sc)?;
                rust_client(server.addr(), sc)
            }
        }
    }
}

fn rust_server(sc: &Scenario) -> Result<EchoServer, String> {
    let config = EchoConfig {
        plugins: sc.plugins.iter().map(|p| p.to_string()).collect(),
        ..EchoConfig::default()
    };
    EchoServer::spawn("127.0.0.1:0", config).map_err(|e| e.to_string())
}

fn messages(sc: &Scenario) -> Vec<Vec<u8>> {
    if sc.hello {
        return vec![b"hello".to_vec()];
    }
    let mut rng = PyRandom::new(sc.sizes.len() as u64);
    sc.sizes.iter().map(|&n| rng.randbytes(n)).collect()
}

fn rust_client(addr: SocketAddr, sc: &Scenario) -> Result<(), String> {
    let plugins: Vec<String> = sc.plugins.iter().map(|p| p.to_string()).collect();
    let mut link =
        net::connect(addr, &plugins, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let sent = messages(sc);
    let plugin_refs: Vec<&str> = sc.plugins.to_vec();
    let outcome = play(&mut link, &Behaviour::client(sent.clone(), &plugin_refs));
    outcome.end.map_err(|e| format!("{e}"))?;
    for (i, (msg, got)) in sent.iter().zip(&outcome.received).enumerate() {
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

/// Runs every row over every scenario and returns the markdown table and whether all passed.
pub fn run() -> (String, bool) {
    let mut table = String::from("| client → server |");
    for sc in &SCENARIOS {
        let _ = write!(table, " {} |", sc.name);
    }
    table.push_str("\n| --- |");
    table.push_str(&" :-: |".repeat(SCENARIOS.len()));
    table.push('\n');
    let mut failures = Vec::new();
    for pair in Pair::all() {
        let _ = write!(table, "| {} |", pair.label());
        for sc in &SCENARIOS {
            match pair.run(sc) {
                Ok(()) => table.push_str(" ✓ |"),
                Err(e) => {
                    table.push_str(" ✕ |");
                    failures.push(format!("{} / {}: {e}", pair.label(), sc.name));
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
