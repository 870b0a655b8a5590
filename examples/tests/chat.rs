//! The chat examples: Rust and Python clients on a Rust server, and on Python servers.

mod common;

use common::*;
use tinyproto_testkit::{Peer, PyVersion};

const SERVER: &str = env!("CARGO_BIN_EXE_chat-server");
const TOKIO_SERVER: &str = env!("CARGO_BIN_EXE_tokio-chat-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_chat-client");

/// A chat client: ours on `tinyproto-std` or on `tinyproto-tokio`, or Python's.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Std,
    Tokio,
    Py(PyVersion),
}

fn client(kind: Kind, port: u16) -> Peer {
    let addr = format!("127.0.0.1:{port}");
    match kind {
        Kind::Std => binary(CLIENT, &["--connect", &addr]),
        Kind::Tokio => binary(
            env!("CARGO_BIN_EXE_tokio-chat-client"),
            &["--connect", &addr],
        ),
        Kind::Py(version) => python(version, "chat_client.py", &["--port", &port.to_string()]),
    }
}

fn relayed(line: &str, text: &str) -> bool {
    line.starts_with('[') && line.ends_with(&format!("] {text}"))
}

/// Three chatters join one by one, talk in turn (one sender at a time: tinyproto is
/// half-duplex), and leave.
fn chat(server: &mut Peer, port: u16, kinds: [Kind; 3]) {
    let mut people: Vec<Peer> = Vec::new();
    for kind in kinds {
        people.push(client(kind, port));
        let opened = server.wait_for_line(|l| l.starts_with("[INFO] New connection opened"), WAIT);
        assert!(opened.is_some(), "{kind:?} joined");
        for earlier in people.iter_mut().rev().skip(1) {
            let seen = earlier.wait_for_line(|l| relayed(l, "**joined the chat"), WAIT);
            assert!(seen.is_some(), "join announced");
        }
    }
    for i in 0..people.len() {
        let text = format!("hello from {i}");
        say(&mut people[i], &text);
        for (j, other) in people.iter_mut().enumerate() {
            if j != i {
                let seen = other.wait_for_line(|l| relayed(l, &text), WAIT);
                assert!(seen.is_some(), "{j} heard {i} ({kinds:?})");
            }
        }
    }
    say(&mut people[0], "quit");
    assert_eq!(people[0].wait_exit(WAIT), Some(0));
    for other in &mut people[1..] {
        let seen = other.wait_for_line(|l| relayed(l, "**left the chat"), WAIT);
        assert!(seen.is_some(), "leave announced");
    }
    for person in &mut people[1..] {
        hang_up(person);
        assert_eq!(person.wait_exit(WAIT), Some(0));
    }
}

#[test]
fn rust_servers_with_rust_and_python_clients() {
    for program in [SERVER, TOKIO_SERVER] {
        let start = || server(binary(program, &["--listen", "127.0.0.1:0"]));
        let (mut server, port) = start();
        chat(
            &mut server,
            port,
            [
                Kind::Tokio,
                Kind::Py(PyVersion::V2_0_1),
                Kind::Py(PyVersion::V3_0),
            ],
        );
        let (mut server, port) = start();
        chat(&mut server, port, [Kind::Std, Kind::Tokio, Kind::Std]);
    }
}

#[test]
fn python_servers_with_rust_and_python_clients() {
    for version in PyVersion::ALL {
        let args = ["--host", "127.0.0.1", "--port", "0"];
        let (mut server, port) = server(python(version, "chat_server.py", &args));
        chat(
            &mut server,
            port,
            [Kind::Py(version), Kind::Std, Kind::Tokio],
        );
    }
}

#[test]
fn chat_bind_and_connect_errors_name_the_address() {
    let run = |path: &str, args: &[&str]| {
        std::process::Command::new(path)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(SERVER, &["--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("chat-server: cannot listen on {addr}: address already in use")
    );
    drop(taken);
    let out = run(CLIENT, &["--connect", &addr]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("chat-client: cannot connect to {addr}: connection refused")
    );
}
