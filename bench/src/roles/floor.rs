//! The raw floor: the same bytes on the wire as tinyproto (init `ff`, 4-byte header, `ff`
//! status, payload), with blocking std sockets, `TCP_NODELAY` on, one thread per connection,
//! and no library. Nothing can put these bytes on loopback with fewer system calls: every
//! message costs a header write, a status read and a payload write on one side and the
//! mirror on the other.

use super::{print_result, RoleArgs, FILL, SINK_ECHO_BELOW};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

const OK: u8 = 0xff;

pub fn server(a: &RoleArgs) -> io::Result<()> {
    serve_each(a, serve)
}

/// Serves on 127.0.0.1:`a.port`, a thread per connection running `serve(stream, echo_all,
/// max)` (`echo_all`: `a.mode` is echo; `max`: the largest message accepted).
pub(super) fn serve_each(
    a: &RoleArgs,
    serve: fn(TcpStream, bool, usize) -> io::Result<()>,
) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", a.port))?;
    println!("LISTENING {}", listener.local_addr()?.port());
    let echo_all = a.mode == "echo";
    let max = a.max;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // Small stacks: 10,000 connections are 10,000 threads here.
        let _ = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(stream, echo_all, max));
    }
    Ok(())
}

/// A server's opening, blocking: `TCP_NODELAY`, then the init byte each way.
pub(super) fn open(s: &mut TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.write_all(&[OK])?;
    expect_ok(s)
}

fn serve(mut s: TcpStream, echo_all: bool, max: usize) -> io::Result<()> {
    open(&mut s)?;
    let mut buf = Vec::new();
    loop {
        let mut hdr = [0u8; 4];
        if let Err(e) = s.read_exact(&mut hdr) {
            // EOF between messages is the normal close.
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(e)
            };
        }
        let len = u32::from_be_bytes(hdr) as usize;
        if len > max {
            s.write_all(&[0x00])?;
            continue;
        }
        s.write_all(&[OK])?;
        buf.resize(len, 0);
        s.read_exact(&mut buf)?;
        if echo_all || len < SINK_ECHO_BELOW {
            send(&mut s, &buf)?;
        }
    }
}

fn expect_ok(s: &mut TcpStream) -> io::Result<()> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    if b[0] != OK {
        return Err(io::Error::other(format!("status {:#04x}", b[0])));
    }
    Ok(())
}

fn send(s: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    s.write_all(&(msg.len() as u32).to_be_bytes())?;
    expect_ok(s)?;
    s.write_all(msg)
}

fn receive(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut hdr = [0u8; 4];
    s.read_exact(&mut hdr)?;
    s.write_all(&[OK])?;
    buf.resize(u32::from_be_bytes(hdr) as usize, 0);
    s.read_exact(buf)
}

pub fn client(a: &RoleArgs) -> io::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", a.port))?;
    s.set_nodelay(true)?;
    s.write_all(&[OK])?;
    expect_ok(&mut s)?;
    let payload = vec![FILL; a.size];
    let mut back = Vec::with_capacity(if a.task == "echo" { a.size } else { 1 });
    let deadline = a.deadline();
    let start = Instant::now();
    let mut ops = 0;
    while ops < a.count && Instant::now() < deadline {
        send(&mut s, &payload)?;
        if a.task == "echo" {
            receive(&mut s, &mut back)?;
            if back.len() != payload.len() {
                return Err(io::Error::other("echo of the wrong length"));
            }
        }
        ops += 1;
    }
    if a.task == "bulk" {
        send(&mut s, b"E")?;
        receive(&mut s, &mut back)?;
    }
    let elapsed = start.elapsed();
    print_result(ops, ops * a.size as u64, elapsed);
    Ok(())
}
