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

/// `tinyproto-std`'s, then `tinyproto-tokio`'s.
const PROGRAMS: [Programs; 2] = [
    Programs {
        server: env!("CARGO_BIN_EXE_echo-server"),
        client: env!("CARGO_BIN_EXE_echo-client"),
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
