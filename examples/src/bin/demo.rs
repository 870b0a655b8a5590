//! The quick-start demo: the protocol working between Rust peers, and between Rust and the
//! Python package (2.0.1 and 3.0, when `.ci/setup-python` has installed them), on loopback.
//!
//! ```text
//! cargo run -p tinyproto-examples --bin demo
//! ```

use clap::Parser;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tinyproto_std::{Conn, Handler, Received, Sent, Server, ServerHandle, TcpConnection};
use tinyproto_testkit::{Peer, PyVersion};

/// The quick-start demo: an echo server on loopback, a Rust client against it, and the
/// Python package (2.0.1 and 3.0, when `bash .ci/setup-python` has installed them) as client
/// and server. Exits 0 when every step worked.
#[derive(Parser)]
struct Args {}

/// The seed README's echo semantics.
struct Echo;

impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let _ = conn.transmit([b"Echo back: ", &msg[..]].concat());
    }
}

/// Runs one step of the demo and prints its outcome; `false` when it failed.
fn check(what: &str, step: impl FnOnce() -> Result<String, String>) -> bool {
    let started = Instant::now();
    let outcome = step();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match &outcome {
        Ok(detail) => println!("  ✓ {what}: {detail} ({ms:.1} ms)"),
        Err(why) => println!("  ✕ {what}: {why}"),
    }
    outcome.is_ok()
}

/// Deterministic bytes of the given length.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Sends `msg` and checks the echo.
fn echo(conn: &mut TcpConnection, msg: &[u8]) -> Result<String, String> {
    match conn.transmit(msg).map_err(|e| e.to_string())? {
        Sent::Written => {}
        rejected => return Err(format!("{rejected:?}")),
    }
    let reply = match conn.receive().map_err(|e| e.to_string())? {
        Received::Message(reply) => reply,
        other => return Err(format!("no reply: {other:?}")),
    };
    if reply != [b"Echo back: ", msg].concat() {
        return Err(format!("wrong reply of {} bytes", reply.len()));
    }
    Ok(format!(
        "{} bytes sent, {} bytes back",
        msg.len(),
        reply.len()
    ))
}

/// Rust client against the Rust server, with a 1 MiB limit on what the server accepts.
fn rust_to_rust(server: &ServerHandle) -> bool {
    let addr = server.local_addrs()[0];
    println!("Rust client → Rust server (tinyproto-std) on {addr}");
    let Ok(mut conn) = TcpConnection::connect(addr) else {
        println!("  ✕ connect failed");
        return false;
    };
    let mut ok = check("\"hello\"", || echo(&mut conn, b"hello"));
    ok &= check("empty message", || echo(&mut conn, b""));
    ok &= check("5 MiB message", || echo(&mut conn, &pattern(5 << 20)));
    ok &= check("oversize (server limit 8 MiB) refused", || {
        match conn.transmit(pattern(9 << 20)) {
            Ok(Sent::Rejected { len }) => {
                Ok(format!("peer answered 0x00 to a header of {len} bytes"))
            }
            other => Err(format!("expected a rejection, got {other:?}")),
        }
    });
    ok &= check("same connection after the refusal", || {
        echo(&mut conn, b"still in sync")
    });
    ok
}

/// Python clients against the Rust server, and the Rust client against Python servers.
fn python_interop(server: &ServerHandle, version: PyVersion) -> bool {
    let v = version.as_str();
    let port = server.local_addrs()[0].port().to_string();
    println!("Python tinyproto {v} client → Rust server");
    let mut ok = check("messages of 0, 1, 70,000 and 5 MiB bytes", || {
        let args = [
            "--port",
            &port,
            "--sizes",
            "0,1,70000,5242880",
            "--seed",
            "7",
        ];
        let mut client = Peer::python(version, "echo_client.py", &args);
        let line = client.next_line(Duration::from_secs(60));
        match (line, client.wait_exit(Duration::from_secs(30))) {
            (Some(line), Some(0)) => Ok(format!("the Python client says {line:?}")),
            (line, code) => Err(format!("output {line:?}, exit {code:?}")),
        }
    });
    println!("Rust client → Python tinyproto {v} server");
    if version == PyVersion::V3_0 {
        println!("  (a 3.0 server prints a traceback when a client closes: that is how it ends)");
    }
    let (_server, py_port) = Peer::python_echo_server(version, &[]);
    match TcpConnection::connect(("127.0.0.1", py_port)) {
        Ok(mut conn) => {
            ok &= check("\"hello\"", || echo(&mut conn, b"hello"));
            ok &= check("70,000 bytes", || echo(&mut conn, &pattern(70_000)));
        }
        Err(e) => {
            println!("  ✕ connect: {e}");
            ok = false;
        }
    }
    ok
}

fn main() -> ExitCode {
    Args::parse();
    let server = match Server::builder()
        .listen("127.0.0.1:0")
        .max_message_size(8 << 20)
        .bind()
    {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot start the server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run(|_| Echo, ()));

    let mut ok = rust_to_rust(&handle);
    for version in PyVersion::ALL {
        if version.find_python().is_some() {
            ok &= python_interop(&handle, version);
        } else {
            println!(
                "Python tinyproto {}: not installed; `bash .ci/setup-python` adds it to this demo",
                version.as_str()
            );
        }
    }
    handle.shutdown();
    if !matches!(thread.join(), Ok(Ok(()))) {
        println!("the server did not stop cleanly");
        ok = false;
    }
    if ok {
        println!("All good: tinyproto for Rust speaks the Python package's protocol.");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
