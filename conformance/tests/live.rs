//! Live runs over loopback TCP: the runner against both Python echo servers (default tier) and
//! against our echo servers (core, `tinyproto-std`, `tinyproto-tokio`; default + strict), and
//! the interop matrix. The tables are printed;
//! see them with `cargo test -p tinyproto-conformance --test live -- --nocapture`.

use std::net::SocketAddr;
use std::time::Duration;
mod matrix;

use matrix::RustImpl;
use tinyproto_conformance::net::{EchoConfig, EchoServer};
use tinyproto_conformance::runner::{self, Report, Target, Verdict};
use tinyproto_testkit::{Peer, PyVersion};

/// Registers the named test plugins on a builder of either transport (both have the same
/// `plugin` method).
macro_rules! with_plugins {
    ($builder:expr, $names:expr) => {{
        let mut builder = $builder;
        for name in $names {
            builder = match *name {
                "xor5a" => builder.plugin(|| tinyproto_testkit::Xor5a),
                "bang" => builder.plugin(|| tinyproto_testkit::Bang),
                other => panic!("unknown plugin {other}"),
            };
        }
        builder
    }};
}

/// The seed echo server and a lockstep client on `tinyproto-std`.
mod std_echo {
    use crate::matrix::{self, check_replies, messages, Scenario};
    use std::net::SocketAddr;
    use std::thread::JoinHandle;
    use tinyproto_std::{
        Conn, Handler, Received, Sent, Server, ServerBuilder, ServerHandle, TcpConnection,
    };

    struct Echo;

    impl Handler for Echo {
        fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
            if msg == b"QUIT" {
                conn.shutdown();
            } else {
                let _ = conn.transmit([b"Echo back: ", &msg[..]].concat());
            }
        }
    }

    /// A running server, shut down when dropped.
    pub struct Running {
        handle: ServerHandle,
        thread: Option<JoinHandle<()>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.handle.shutdown();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Binds `builder` and serves the echo handler in a thread.
    pub fn start(builder: ServerBuilder) -> Result<(SocketAddr, Running), String> {
        let server = builder.bind().map_err(|e| e.to_string())?;
        let (addr, handle) = (server.local_addrs()[0], server.handle());
        let thread = std::thread::spawn(move || {
            let _ = server.run(|_| Echo, ());
        });
        let running = Running {
            handle,
            thread: Some(thread),
        };
        Ok((addr, running))
    }

    pub fn server(sc: &Scenario) -> Result<matrix::Running, String> {
        let builder = with_plugins!(Server::builder().listen("127.0.0.1:0"), sc.plugins);
        let (addr, running) = start(builder)?;
        Ok((addr, Box::new(running)))
    }

    pub fn client(addr: SocketAddr, sc: &Scenario) -> Result<(), String> {
        let builder = with_plugins!(TcpConnection::builder(), sc.plugins);
        let mut conn = builder.connect(addr).map_err(|e| e.to_string())?;
        let sent = messages(sc);
        let mut received = Vec::new();
        for msg in &sent {
            let sent = conn.transmit(msg).map_err(|e| e.to_string())?;
            match (sent, conn.receive().map_err(|e| e.to_string())?) {
                (Sent::Written, Received::Message(reply)) => received.push(reply),
                other => return Err(format!("{other:?}")),
            }
        }
        check_replies(&sent, &received)
    }
}

const STD: RustImpl = RustImpl {
    name: "tinyproto-std",
    server: std_echo::server,
    client: std_echo::client,
};

/// The seed echo server and a lockstep client on `tinyproto-tokio`, each on a runtime of its
/// own.
mod tokio_echo {
    use crate::matrix::{self, check_replies, messages, Scenario};
    use std::net::SocketAddr;
    use tinyproto_tokio::{ConnectionBuilder, Listener, ListenerBuilder, Received, Sent};

    /// Binds `builder` on a runtime that serves the echo (`QUIT` closes) until dropped.
    pub fn start(
        builder: ListenerBuilder,
    ) -> Result<(SocketAddr, tokio::runtime::Runtime), String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut listener = runtime
            .block_on(builder.listen("127.0.0.1:0").bind())
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addrs()[0];
        runtime.spawn(async move {
            while let Some(mut conn) = listener.accept().await {
                tokio::spawn(async move {
                    loop {
                        match conn.recv().await {
                            Ok(Some(Received::Message(msg))) if &msg[..] == b"QUIT" => break,
                            Ok(Some(Received::Message(msg))) => {
                                let reply = [&b"Echo back: "[..], &msg].concat();
                                if conn.send(reply).await.is_err() {
                                    break;
                                }
                            }
                            Ok(Some(_refused_or_discarded)) => {}
                            _ => break,
                        }
                    }
                });
            }
        });
        Ok((addr, runtime))
    }

    pub fn server(sc: &Scenario) -> Result<matrix::Running, String> {
        let (addr, runtime) = start(with_plugins!(Listener::builder(), sc.plugins))?;
        Ok((addr, Box::new(runtime)))
    }

    pub fn client(addr: SocketAddr, sc: &Scenario) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let builder = with_plugins!(ConnectionBuilder::new(), sc.plugins);
            let mut conn = builder.connect(addr).await.map_err(|e| e.to_string())?;
            let sent = messages(sc);
            let mut received = Vec::new();
            for msg in &sent {
                let sent = conn.send(msg.clone()).await.map_err(|e| e.to_string())?;
                if sent != Sent::Written {
                    return Err(format!("{sent:?}"));
                }
                let reply = conn.recv().await.map_err(|e| e.to_string())?;
                let reply = reply.and_then(|r| r.message()).ok_or("no reply")?;
                received.push(reply.to_vec());
            }
            check_replies(&sent, &received)
        })
    }
}

const TOKIO: RustImpl = RustImpl {
    name: "tinyproto-tokio",
    server: tokio_echo::server,
    client: tokio_echo::client,
};

fn print_and_check(report: &Report, title: &str) {
    println!("{}", report.table(title));
    assert!(report.passed(), "{title} fails the suite");
}

#[test]
fn runner_default_tier_passes_against_both_python_echo_servers() {
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let report = runner::run(&Target::new(([127, 0, 0, 1], port).into()), false).unwrap();
        let title = format!("Python tinyproto {} echo server", version.as_str());
        print_and_check(&report, &title);
    }
}

/// Our servers are configured with a connection limit of 8 and short stall timeouts.
fn strict_target(addr: SocketAddr) -> Target {
    Target {
        stall_limit: Duration::from_secs(2),
        conlimit: Some(8),
        ..Target::new(addr)
    }
}

#[test]
fn runner_default_and_strict_tiers_pass_against_serve_echo() {
    let config = EchoConfig {
        limit: Some(8),
        stall: Duration::from_secs(1),
        idle: Some(Duration::from_secs(1)),
        ..EchoConfig::default()
    };
    let server = EchoServer::spawn("127.0.0.1:0", config).unwrap();
    let report = runner::run(&strict_target(server.addr()), true).unwrap();
    print_and_check(&report, "tinyproto-conformance serve-echo (our core)");
    assert!(report.results.iter().all(|r| r.verdict == Verdict::Pass));
}

#[test]
fn runner_default_and_strict_tiers_pass_against_tinyproto_std() {
    let timeouts = tinyproto_std::Timeouts::new()
        .handshake(1_000)
        .status(1_000)
        .stall(1_000);
    let builder = tinyproto_std::Server::builder()
        .listen("127.0.0.1:0")
        .max_connections(8)
        .timeouts(timeouts);
    let (addr, _running) = std_echo::start(builder).unwrap();
    let report = runner::run(&strict_target(addr), true).unwrap();
    print_and_check(&report, "tinyproto-std echo server");
}

#[test]
fn runner_default_and_strict_tiers_pass_against_tinyproto_tokio() {
    let timeouts = tinyproto_tokio::Timeouts::new()
        .handshake(1_000)
        .status(1_000)
        .stall(1_000);
    let builder = tinyproto_tokio::Listener::builder()
        .max_connections(8)
        .timeouts(timeouts);
    let (addr, _running) = tokio_echo::start(builder).unwrap();
    let report = runner::run(&strict_target(addr), true).unwrap();
    print_and_check(&report, "tinyproto-tokio echo server");
}

/// A client-mode target for `command`.
fn client_target(command: Vec<String>) -> Target {
    Target {
        command,
        stall_limit: Duration::from_secs(3),
        ..Target::new(([127, 0, 0, 1], 0).into())
    }
}

#[test]
fn client_suite_default_tier_passes_against_both_python_echo_clients() {
    let script = tinyproto_testkit::python_examples().join("echo_client.py");
    for version in PyVersion::ALL {
        let command = [
            version.python().display().to_string(),
            script.display().to_string(),
            "--port".into(),
            "{port}".into(),
            "--wait".into(),
            "3".into(),
        ];
        let report = runner::run_client(&client_target(command.to_vec()), false).unwrap();
        let title = format!("Python tinyproto {} echo client", version.as_str());
        print_and_check(&report, &title);
    }
}

#[test]
fn client_suite_default_and_strict_tiers_pass_against_our_echo_client() {
    let command = [
        env!("CARGO_BIN_EXE_tinyproto-conformance"),
        "echo-client",
        "--connect",
        "127.0.0.1:{port}",
        "--timeout",
        "2",
    ];
    let command = command.iter().map(|s| s.to_string()).collect();
    let report = runner::run_client(&client_target(command), true).unwrap();
    print_and_check(&report, "tinyproto-conformance echo-client (our core)");
    assert!(report.results.iter().all(|r| r.verdict == Verdict::Pass));
}

#[test]
fn the_runner_stops_at_a_closed_port_with_one_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    match runner::run(&Target::new(addr), true) {
        Err(runner::RunError::Connect {
            case: "handshake/1",
            judged: 0,
            source,
            ..
        }) => assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected one connect error, got {other:?}"),
    }
}

#[test]
fn the_default_stall_limit_is_tinyproto_std_s_stall_timeout() {
    assert_eq!(
        u32::try_from(runner::DEFAULT_STALL_LIMIT.as_millis()).ok(),
        tinyproto_std::DEFAULT_TIMEOUTS.stall_ms()
    );
}

#[test]
fn interop_matrix() {
    let (table, ok) = matrix::run(&[matrix::CORE, STD, TOKIO]);
    println!("Interop matrix (each cell: one connection, every reply checked)\n\n{table}");
    assert!(ok, "some interop cells failed");
}
