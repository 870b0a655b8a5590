//! A quick latency measurement, not a test: lockstep echo of 16 B and 1 MiB messages, ours
//! against a raw blocking-socket program moving the same bytes (TCP_NODELAY on both).
//!
//! `cargo test --release -p tinyproto-std --test lockstep_bench -- --ignored --nocapture`
//! (`HOOK_THREADS=1` runs our server's hooks on hook threads instead of inline)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tinyproto_std::{Conn, Handler, Sent, Server, TcpConnection};

/// The floor server: tinyproto framing by hand over a blocking socket, echoing each message.
fn raw_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            s.set_nodelay(true).unwrap();
            std::thread::spawn(move || {
                let mut byte = [0];
                s.write_all(&[0xff]).unwrap();
                s.read_exact(&mut byte).unwrap();
                let mut buf = Vec::new();
                loop {
                    let mut header = [0; 4];
                    if s.read_exact(&mut header).is_err() {
                        return;
                    }
                    s.write_all(&[0xff]).unwrap();
                    buf.resize(u32::from_be_bytes(header) as usize, 0);
                    s.read_exact(&mut buf).unwrap();
                    s.write_all(&header).unwrap();
                    s.read_exact(&mut byte).unwrap();
                    s.write_all(&buf).unwrap();
                }
            });
        }
    });
    addr
}

/// The floor client: one lockstep echo per call.
struct RawClient(TcpStream, Vec<u8>);

impl RawClient {
    fn connect(addr: SocketAddr) -> Self {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(&[0xff]).unwrap();
        s.read_exact(&mut [0]).unwrap();
        Self(s, Vec::new())
    }

    fn echo(&mut self, msg: &[u8]) {
        let s = &mut self.0;
        s.write_all(&(msg.len() as u32).to_be_bytes()).unwrap();
        s.read_exact(&mut [0]).unwrap();
        s.write_all(msg).unwrap();
        let mut header = [0; 4];
        s.read_exact(&mut header).unwrap();
        s.write_all(&[0xff]).unwrap();
        self.1.resize(u32::from_be_bytes(header) as usize, 0);
        s.read_exact(&mut self.1).unwrap();
    }
}

struct Echo;
impl Handler for Echo {
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let _ = conn.transmit(msg);
    }
}

/// Echoes per second of `echo`, over `budget`.
fn rate(echo: &mut dyn FnMut(), budget: Duration) -> f64 {
    for _ in 0..10 {
        echo();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        echo();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a measurement, run by hand in release mode"]
fn lockstep_echo_rates() {
    let floor = raw_server();
    let inline = std::env::var_os("HOOK_THREADS").is_none();
    let server = Server::builder()
        .listen("127.0.0.1:0")
        .inline_hooks(inline)
        .bind()
        .unwrap();
    println!(
        "our server's hooks: {}",
        if inline { "inline" } else { "on hook threads" }
    );
    let ours = server.local_addrs()[0];
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run(|_| Echo, ()));
    for len in [16, 1 << 20] {
        let msg = vec![7u8; len];
        let ours_echo = |addr| {
            let mut client = TcpConnection::connect(addr).unwrap();
            let msg = msg.clone();
            Box::new(move || {
                assert_eq!(client.transmit(&msg).unwrap(), Sent::Written);
                client.receive().unwrap().message().unwrap();
            }) as Box<dyn FnMut()>
        };
        let raw_echo = |addr| {
            let mut raw = RawClient::connect(addr);
            let msg = msg.clone();
            Box::new(move || raw.echo(&msg)) as Box<dyn FnMut()>
        };
        let mut contenders = [
            ("floor", raw_echo(floor)),
            ("ours", ours_echo(ours)),
            ("our client + floor server", ours_echo(floor)),
            ("floor client + our server", raw_echo(ours)),
        ];
        // Rounds in turn, best of each: the machine may be shared.
        let mut best = [0f64; 4];
        for _ in 0..8 {
            for (i, (_, echo)) in contenders.iter_mut().enumerate() {
                best[i] = best[i].max(rate(echo, Duration::from_millis(250)));
            }
        }
        for (i, (name, _)) in contenders.iter().enumerate() {
            println!(
                "{len:>8} B  {name:<26} {:>8.0} echoes/s  {:.2}x floor",
                best[i],
                best[i] / best[0]
            );
        }
    }
    handle.shutdown();
    thread.join().unwrap().unwrap();
}

/// For counting system calls: `strace -f -c` around it, 10,000 lockstep echoes of 16 B from
/// the floor client to our inline server (`SERVER=floor`: to the floor server; `CLIENT=ours`:
/// from our `TcpConnection`).
#[test]
#[ignore = "a measurement, run by hand under strace"]
fn ten_thousand_echoes_for_strace() {
    let addr = if std::env::var("SERVER").as_deref() == Ok("floor") {
        raw_server()
    } else {
        let server = Server::builder()
            .listen("127.0.0.1:0")
            .inline_hooks(true)
            .bind()
            .unwrap();
        let addr = server.local_addrs()[0];
        std::thread::spawn(move || server.run(|_| Echo, ()));
        addr
    };
    if std::env::var("CLIENT").as_deref() == Ok("ours") {
        let mut client = TcpConnection::connect(addr).unwrap();
        for _ in 0..10_000 {
            assert_eq!(client.transmit(&[7; 16]).unwrap(), Sent::Written);
            client.receive().unwrap().message().unwrap();
        }
    } else {
        let mut raw = RawClient::connect(addr);
        for _ in 0..10_000 {
            raw.echo(&[7; 16]);
        }
    }
}
