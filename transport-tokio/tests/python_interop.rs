//! Interop with the real Python package, 2.0.1 and 3.0, in both roles (peers from
//! `examples/python`, run by `tinyproto-testkit`).

mod common;

use common::*;
use std::process::{Command, Stdio};
use tinyproto_testkit::{Bang, Peer, PyVersion, Xor5a};
use tinyproto_tokio::{ConnectError, ConnectionBuilder, Error, Listener, ProtocolError, Sent};

const SIZES: [usize; 4] = [0, 1, 70_000, 5 << 20];
const SIZES_ARG: &str = "0,1,70000,5242880";

/// The Python echo client's verdict line.
fn verdict(peer: &mut Peer) -> String {
    peer.wait_for_line(
        |l| l.starts_with("OK") || l.contains("MISMATCH") || l.contains("NO REPLY"),
        WAIT,
    )
    .unwrap_or_else(|| "(no verdict)".into())
}

/// Runs the blocking wait `f` off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking wait")
}

#[tokio::test]
async fn tokio_client_to_python_servers() {
    for version in PyVersion::ALL {
        let (_server, port) = Peer::python_echo_server(version, &[]);
        let mut conn = tinyproto_tokio::connect(("127.0.0.1", port)).await.unwrap();
        for len in SIZES {
            let msg = message(len, 5);
            assert_eq!(conn.send(msg.clone()).await.unwrap(), Sent::Written);
            let reply = message_of(conn.recv().await);
            assert!(reply == echo(&msg), "{version:?}, {len} bytes");
        }
        // QUIT: the Python server closes the connection between messages.
        assert_eq!(conn.send("QUIT").await.unwrap(), Sent::Written);
        assert!(conn.recv().await.unwrap().is_none(), "{version:?}");
    }
}

#[tokio::test]
async fn tokio_client_with_plugins_to_python_servers_with_plugins() {
    for version in PyVersion::ALL {
        let args = ["--plugin", "xor5a", "--plugin", "bang"];
        let (_server, port) = Peer::python_echo_server(version, &args);
        let mut conn = ConnectionBuilder::new()
            .plugin(|| Xor5a)
            .plugin(|| Bang)
            .connect(("127.0.0.1", port))
            .await
            .unwrap();
        for len in [0, 1, 70_000] {
            let msg = message(len, 6);
            assert_eq!(conn.send(msg.clone()).await.unwrap(), Sent::Written);
            assert!(message_of(conn.recv().await) == echo(&msg), "{version:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_to_a_tokio_server() {
    let server = EchoServer::start(Listener::builder()).await;
    let port = server.addr.port().to_string();
    for version in PyVersion::ALL {
        let args = ["--port", &port, "--sizes", SIZES_ARG, "--seed", "11"];
        let mut client = Peer::python(version, "echo_client.py", &args);
        let (line, code) = blocking(move || (verdict(&mut client), client.wait_exit(WAIT))).await;
        assert_eq!(line, "OK 4", "{version:?}");
        assert_eq!(code, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_with_plugins_to_a_tokio_server_with_plugins() {
    let builder = Listener::builder().plugin(|| Xor5a).plugin(|| Bang);
    let server = EchoServer::start(builder).await;
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
        let line = blocking(move || verdict(&mut client)).await;
        assert_eq!(line, "OK 3", "{version:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_over_the_size_limit_are_refused_and_the_stream_stays_in_sync() {
    let server = EchoServer::start(Listener::builder().max_message_size(1000)).await;
    for version in PyVersion::ALL {
        let mut client = Peer::python_oversize_client(version, server.addr.port());
        let (rejected, ok) =
            blocking(move || (client.next_line(WAIT), client.next_line(WAIT))).await;
        let rejected = rejected.unwrap_or_default();
        assert!(rejected.starts_with("REJECTED"), "{version:?}: {rejected}");
        assert_eq!(ok.as_deref(), Some("OK"), "{version:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_across_languages() {
    // A tokio server at its limit: Python clients fail their init on the single 0xfe.
    let server = EchoServer::start(Listener::builder().max_connections(1)).await;
    let mut first = tinyproto_tokio::connect(server.addr).await.unwrap();
    for version in PyVersion::ALL {
        let port = server.addr.port();
        let (code, errors) =
            blocking(move || Peer::python_client_refused_at_init(version, port, WAIT)).await;
        assert!(
            matches!(code, Some(c) if c != 0),
            "{version:?}: exit {code:?}"
        );
        assert!(
            errors.contains("Initialisation error: bytearray(b'\\xfe')"),
            "{version:?}: {errors}"
        );
    }
    // Our client at our limit: a typed refusal; the first connection is unharmed.
    let refused = tinyproto_tokio::connect(server.addr).await.err().unwrap();
    assert!(
        matches!(
            refused,
            ConnectError::Handshake(Error::Protocol(ProtocolError::ConnectionLimit))
        ),
        "{refused}"
    );
    assert_eq!(first.send("still here").await.unwrap(), Sent::Written);
    assert!(message_of(first.recv().await) == echo(b"still here"));
    // Closing the first frees its place.
    drop(first);
    let mut again = None;
    for _ in 0..100 {
        match tinyproto_tokio::connect(server.addr).await {
            Ok(conn) => {
                again = Some(conn);
                break;
            }
            // The server notices the close a moment later.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(again.is_some(), "the place was given back");

    // A Python 2.0.1 server at its limit: our client reports the refusal (Q1).
    let (_py, port) = Peer::python_echo_server(PyVersion::V2_0_1, &["--limit", "1"]);
    let _first = tinyproto_tokio::connect(("127.0.0.1", port)).await.unwrap();
    let refused = tinyproto_tokio::connect(("127.0.0.1", port))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            refused,
            ConnectError::Handshake(Error::Protocol(ProtocolError::InitRefused))
        ),
        "{refused}"
    );
}

/// Python's chat client prints what our server pushes from its sending half while the
/// receiving half waits in `recv`, and what it sends reaches that `recv`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_server_pushes_while_it_waits_for_python_clients() {
    for version in PyVersion::ALL {
        let mut listener = Listener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addrs()[0].port().to_string();
        let mut command = Command::new(version.python());
        command
            .args(["-u", "chat_client.py", "--port", &port])
            .current_dir(tinyproto_testkit::python_examples())
            .stdin(Stdio::piped());
        let mut client = Peer::spawn(command);
        let (mut tx, mut rx) = listener.accept().await.unwrap().into_split();
        let waiting = tokio::spawn(async move { rx.recv().await });
        for i in 0..3 {
            assert_eq!(tx.send(format!("push {i}")).await.unwrap(), Sent::Written);
        }
        let mut client = blocking(move || {
            for i in 0..3 {
                let want = format!("push {i}");
                assert_eq!(client.wait_for_line(|l| l == want, WAIT), Some(want));
            }
            let stdin = client.child_mut().stdin.as_mut().unwrap();
            std::io::Write::write_all(stdin, b"hello\n").unwrap();
            client
        })
        .await;
        let got = tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap();
        assert_eq!(&message_of(got)[..], b"hello", "{version:?}");
        drop(client.child_mut().stdin.take());
        blocking(move || client.wait_exit(WAIT)).await;
    }
}
