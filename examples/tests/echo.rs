//! The echo examples against each other and against the Python package's echo programs.

mod common;

use common::*;
use tinyproto_testkit::{Peer, PyVersion};

const SERVER: &str = env!("CARGO_BIN_EXE_echo-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_echo-client");

fn rust_server(extra: &[&str]) -> (Peer, u16) {
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    server(binary(SERVER, &args))
}

/// Sends `hello` and `QUIT` through an echo client and checks the reply and a clean exit.
fn converse(client: &mut Peer) {
    say(client, "hello");
    expect_line(client, "Response from server: Echo back: hello");
    say(client, "QUIT");
    assert_eq!(client.wait_exit(WAIT), Some(0));
}

#[test]
fn rust_client_and_rust_server_then_srvquit() {
    let (mut server, port) = rust_server(&[]);
    let addr = format!("127.0.0.1:{port}");
    let mut client = binary(CLIENT, &["--connect", &addr]);
    converse(&mut client);
    let opened = server.wait_for_line(|l| l.starts_with("Connection opened from: "), WAIT);
    assert!(opened.is_some());
    let closed = server.wait_for_line(|l| l.starts_with("Connection closed from: "), WAIT);
    assert!(closed.is_some());
    // End of input closes too.
    let mut client = binary(CLIENT, &["--connect", &addr]);
    say(&mut client, "once");
    expect_line(&mut client, "Response from server: Echo back: once");
    hang_up(&mut client);
    assert_eq!(client.wait_exit(WAIT), Some(0));
    // SRVQUIT stops the server, which exits 0.
    let mut client = binary(CLIENT, &["--connect", &addr]);
    say(&mut client, "SRVQUIT");
    assert_eq!(client.wait_exit(WAIT), Some(0));
    assert_eq!(server.wait_exit(WAIT), Some(0));
}

#[test]
fn rust_client_against_python_servers() {
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let addr = format!("127.0.0.1:{port}");
        let mut client = binary(CLIENT, &["--connect", &addr]);
        converse(&mut client);
    }
}

#[test]
fn python_clients_against_the_rust_server() {
    let (mut server, port) = rust_server(&["--max-connections", "10"]);
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
    assert_eq!(server.wait_exit(WAIT), Some(0));
}

#[test]
fn the_connection_limit_turns_a_second_client_away() {
    let (_server, port) = rust_server(&["--max-connections", "1"]);
    let addr = format!("127.0.0.1:{port}");
    let mut first = binary(CLIENT, &["--connect", &addr]);
    say(&mut first, "hi");
    expect_line(&mut first, "Response from server: Echo back: hi");
    let mut second = binary(CLIENT, &["--connect", &addr]);
    assert_eq!(second.wait_exit(WAIT), Some(1));
    say(&mut first, "QUIT");
    assert_eq!(first.wait_exit(WAIT), Some(0));
}
