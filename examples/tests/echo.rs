//! The echo examples (on `tinyproto-std` and on `tinyproto-tokio`) against each other and
//! against the Python package's echo programs.

mod common;

use common::*;
use tinyproto_testkit::{Peer, PyVersion};

/// The echo programs of each Rust transport.
#[derive(Clone, Copy, Debug)]
struct Programs {
    server: &'static str,
    client: &'static str,
}

/// The std echo pair, whose error messages the tests below check.
const SERVER: &str = env!("CARGO_BIN_EXE_echo-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_echo-client");

/// `tinyproto-std`'s, then `tinyproto-tokio`'s.
const PROGRAMS: [Programs; 2] = [
    Programs {
        server: SERVER,
        client: CLIENT,
    },
    Programs {
        server: env!("CARGO_BIN_EXE_tokio-echo-server"),
        client: env!("CARGO_BIN_EXE_tokio-echo-client"),
    },
];

fn rust_server(program: &str, extra: &[&str]) -> (Peer, u16) {
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    server(binary(program, &args))
}

/// Sends `hello` and `QUIT` through an echo client and checks the reply and a clean exit.
fn converse(client: &mut Peer) {
    say(client, "hello");
    expect_line(client, "Response from server: Echo back: hello");
    say(client, "QUIT");
    assert_eq!(client.wait_exit(WAIT), Some(0));
}

/// Every Rust echo client with every Rust echo server (std and tokio, mixed too).
#[test]
fn rust_clients_and_rust_servers_then_srvquit() {
    for server_side in PROGRAMS {
        for client_side in PROGRAMS {
            let (mut server, port) = rust_server(server_side.server, &[]);
            let addr = format!("127.0.0.1:{port}");
            let mut client = binary(client_side.client, &["--connect", &addr]);
            converse(&mut client);
            let opened = server.wait_for_line(|l| l.starts_with("Connection opened from: "), WAIT);
            assert!(opened.is_some());
            let closed = server.wait_for_line(|l| l.starts_with("Connection closed from: "), WAIT);
            assert!(closed.is_some());
            // End of input closes too.
            let mut client = binary(client_side.client, &["--connect", &addr]);
            say(&mut client, "once");
            expect_line(&mut client, "Response from server: Echo back: once");
            hang_up(&mut client);
            assert_eq!(client.wait_exit(WAIT), Some(0));
            // SRVQUIT stops the server, which exits 0.
            let mut client = binary(client_side.client, &["--connect", &addr]);
            say(&mut client, "SRVQUIT");
            assert_eq!(client.wait_exit(WAIT), Some(0));
            assert_eq!(
                server.wait_exit(WAIT),
                Some(0),
                "{server_side:?} {client_side:?}"
            );
        }
    }
}

#[test]
fn rust_clients_against_python_servers() {
    for programs in PROGRAMS {
        for version in PyVersion::ALL {
            let (_server, port) = Peer::python_echo_server(version, &[]);
            let addr = format!("127.0.0.1:{port}");
            let mut client = binary(programs.client, &["--connect", &addr]);
            converse(&mut client);
        }
    }
}

#[test]
fn python_clients_against_the_rust_servers() {
    for programs in PROGRAMS {
        let (mut server, port) = rust_server(programs.server, &["--max-connections", "10"]);
        let port = port.to_string();
        for version in PyVersion::ALL {
            let mut client = python(version, "echo_client.py", &["--port", &port]);
            say(&mut client, "hello");
            expect_line(&mut client, "Response from server: Echo back: hello");
            say(&mut client, "QUIT");
            assert_eq!(client.wait_exit(WAIT), Some(0), "{version:?}");
        }
        let mut client = python(PyVersion::V3_0, "echo_client.py", &["--port", &port]);
        say(&mut client, "SRVQUIT");
        assert_eq!(client.wait_exit(WAIT), Some(0));
        assert_eq!(server.wait_exit(WAIT), Some(0), "{programs:?}");
    }
}

#[test]
fn the_connection_limit_turns_a_second_client_away() {
    for programs in PROGRAMS {
        let (_server, port) = rust_server(programs.server, &["--max-connections", "1"]);
        let addr = format!("127.0.0.1:{port}");
        let mut first = binary(programs.client, &["--connect", &addr]);
        say(&mut first, "hi");
        expect_line(&mut first, "Response from server: Echo back: hi");
        let mut second = binary(programs.client, &["--connect", &addr]);
        assert_eq!(second.wait_exit(WAIT), Some(1), "{programs:?}");
        say(&mut first, "QUIT");
        assert_eq!(first.wait_exit(WAIT), Some(0));
    }
}

/// Runs an example binary to completion with no input.
fn run_to_end(path: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn echo_client_gives_up_on_a_server_that_never_replies() {
    // A server that completes the handshake and reads, but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let silent = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut stream, &[0xff]).unwrap();
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut sink);
    });
    let mut client = binary(CLIENT, &["--connect", &addr, "--timeout", "1"]);
    say(&mut client, "hello");
    assert_eq!(client.wait_exit(WAIT), Some(1));
    drop(client);
    silent.join().unwrap();
}

#[test]
fn bind_and_connect_errors_name_the_address() {
    let (_server, port) = rust_server(SERVER, &[]);
    let taken = format!("127.0.0.1:{port}");
    let out = run_to_end(SERVER, &["--listen", &taken]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("echo-server: cannot listen on {taken}: address already in use")
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run_to_end(CLIENT, &["--connect", &closed.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("echo-client: cannot connect to {closed}: connection refused")
    );

    let out = run_to_end(SERVER, &["--listen", "nonsense"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the port is missing"), "{err}");
}

#[test]
fn demo_help_prints_usage_and_runs_nothing() {
    let out = run_to_end(env!("CARGO_BIN_EXE_demo"), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage: demo"), "{text}");
    assert!(!text.contains("→"), "the demo ran: {text}");
}
