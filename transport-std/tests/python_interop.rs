//! Interop with the real Python package, 2.0.1 and 3.0, in both roles (peers from
//! `examples/python`, run by `tinyproto-testkit`).

mod common;

use common::*;
use std::sync::mpsc;
use tinyproto_std::core::session::ProtocolError;
use tinyproto_std::{Client, Conn, Error, Handler, Sent, Server, StartError, TcpConnection};
use tinyproto_testkit::{Bang, Peer, PyVersion, Xor5a};

const SIZES: [usize; 4] = [0, 1, 70_000, 5 << 20];
const SIZES_ARG: &str = "0,1,70000,5242880";

fn ok_line(peer: &mut Peer) -> String {
    peer.wait_for_line(
        |l| l.starts_with("OK") || l.contains("MISMATCH") || l.contains("NO REPLY"),
        WAIT,
    )
    .unwrap_or_else(|| "(no verdict)".into())
}

#[test]
fn rust_client_to_python_servers() {
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let mut conn = TcpConnection::connect(("127.0.0.1", port)).unwrap();
        for len in SIZES {
            let msg = message(len, 5);
            assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
            assert_eq!(
                conn.receive().unwrap().message().unwrap(),
                echo(&msg),
                "{version:?}, {len} bytes"
            );
        }
    }
}

#[test]
fn rust_client_with_plugins_to_python_servers_with_plugins() {
    for version in PyVersion::ALL {
        let args = ["--plugin", "xor5a", "--plugin", "bang"];
        let (_server, port) = Peer::python_echo_server(version, &args);
        let mut conn = TcpConnection::builder()
            .plugin(|| Xor5a)
            .plugin(|| Bang)
            .connect(("127.0.0.1", port))
            .unwrap();
        for len in [0, 1, 70_000] {
            let msg = message(len, 6);
            assert_eq!(conn.transmit(&msg).unwrap(), Sent::Written);
            assert_eq!(
                conn.receive().unwrap().message().unwrap(),
                echo(&msg),
                "{version:?}"
            );
        }
    }
}

/// Lockstep transmit/receive of 4 MiB messages inside a Rust client hook, against Python.
#[test]
fn rust_client_hooks_in_lockstep_with_python_servers() {
    struct Lockstep(mpsc::Sender<bool>);
    impl Handler for Lockstep {
        fn pre_loop(&mut self, conn: &mut Conn) {
            let ok = (0..3).all(|i| {
                let msg = message(4 << 20, i);
                conn.transmit(&msg).is_ok() && conn.receive().ok() == Some(echo(&msg))
            });
            let _ = self.0.send(ok);
        }
    }
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let (tx, rx) = mpsc::channel();
        let client = Client::builder()
            .build(move |_| Lockstep(tx.clone()))
            .unwrap();
        client.connect(("127.0.0.1", port)).unwrap();
        assert!(rx.recv_timeout(WAIT).unwrap(), "{version:?}");
    }
}

#[test]
fn python_clients_to_rust_server() {
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Echo);
    let port = server.addr.port().to_string();
    for version in PyVersion::ALL {
        let args = ["--port", &port, "--sizes", SIZES_ARG, "--seed", "11"];
        let mut client = Peer::python(version, "echo_client.py", &args);
        assert_eq!(ok_line(&mut client), "OK 4", "{version:?}");
        assert_eq!(client.wait_exit(WAIT), Some(0));
    }
    server.stop();
}

#[test]
fn python_clients_with_plugins_to_rust_server_with_plugins() {
    let builder = Server::builder()
        .listen("127.0.0.1:0")
        .plugin(|| Xor5a)
        .plugin(|| Bang);
    let server = TestServer::start(builder, |_| Echo);
    let port = server.addr.port().to_string();
    for version in PyVersion::ALL {
        let args = [
            "--port",
            &port,
            "--sizes",
            "0,1,70000",
            "--plugin",
            "xor5a",
            "--plugin",
            "bang",
        ];
        let mut client = Peer::python(version, "echo_client.py", &args);
        assert_eq!(ok_line(&mut client), "OK 3", "{version:?}");
    }
    server.stop();
}

/// The Rust server's hook answers the first message, then receives each next one itself.
#[test]
fn python_clients_to_a_rust_server_hook_in_lockstep() {
    struct Lockstep;
    impl Handler for Lockstep {
        fn transmission_received(&mut self, conn: &mut Conn, first: Vec<u8>) {
            let mut msg = first;
            while conn.transmit(echo(&msg)).is_ok() {
                match conn.receive() {
                    Ok(next) => msg = next,
                    Err(_) => return,
                }
            }
        }
    }
    let server = TestServer::start(Server::builder().listen("127.0.0.1:0"), |_| Lockstep);
    let port = server.addr.port().to_string();
    for version in PyVersion::ALL {
        let args = [
            "--port",
            &port,
            "--sizes",
            "5,4194304,0,4194304",
            "--seed",
            "3",
        ];
        let mut client = Peer::python(version, "echo_client.py", &args);
        assert_eq!(ok_line(&mut client), "OK 4", "{version:?}");
    }
    server.stop();
}

#[test]
fn python_clients_over_the_size_limit_are_refused_and_the_connection_goes_on() {
    let builder = Server::builder()
        .listen("127.0.0.1:0")
        .max_message_size(1000);
    let server = TestServer::start(builder, |_| Echo);
    for version in PyVersion::ALL {
        let mut client = Peer::python_oversize_client(version, server.addr.port());
        let rejected = client.next_line(WAIT).unwrap_or_default();
        assert!(rejected.starts_with("REJECTED"), "{version:?}: {rejected}");
        assert_eq!(client.next_line(WAIT).as_deref(), Some("OK"), "{version:?}");
    }
    server.stop();
}

#[test]
fn connection_limits_across_languages() {
    // A Rust server at its limit: Python clients fail their init and exit non-zero.
    let builder = Server::builder().listen("127.0.0.1:0").max_connections(1);
    let server = TestServer::start(builder, |_| Echo);
    let _first = TcpConnection::connect(server.addr).unwrap();
    for version in PyVersion::ALL {
        let (code, errors) = Peer::python_client_refused_at_init(version, server.addr.port(), WAIT);
        assert!(
            matches!(code, Some(c) if c != 0),
            "{version:?}: exit {code:?}"
        );
        assert!(
            errors.contains("Initialisation error: bytearray(b'\\xfe')"),
            "{version:?}: {errors}"
        );
    }
    // A Python 2.0.1 server at its limit: our client reports the refusal (Q1).
    let (_py, port) = Peer::python_echo_server(PyVersion::V2_0_1, &["--limit", "1"]);
    let _first = TcpConnection::connect(("127.0.0.1", port)).unwrap();
    let err = TcpConnection::connect(("127.0.0.1", port)).err().unwrap();
    let StartError::Handshake(why) = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(
            why.error(),
            Some(Error::Protocol(ProtocolError::InitRefused))
        ),
        "{why}"
    );
}
