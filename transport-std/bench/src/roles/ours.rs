//! Our contender. Until `tinyproto-std` has a server and a client, this is the core's
//! [`BlockingConnection`] over a blocking `TcpStream` (`TCP_NODELAY` on), one thread per
//! connection.

use super::{print_result, RoleArgs, FILL, SINK_ECHO_BELOW};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;
use tinyproto_core::buffer::VecBuffer;
use tinyproto_core::{BlockingConnection, Error};

/// `embedded-io` over a std stream.
struct Io(TcpStream);

impl embedded_io::ErrorType for Io {
    type Error = io::Error;
}
impl embedded_io::Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.0, buf)
    }
}
impl embedded_io::Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.0, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn err(e: Error<io::Error>) -> io::Error {
    io::Error::other(e.to_string())
}

pub fn server(a: &RoleArgs) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", a.port))?;
    println!("LISTENING {}", listener.local_addr()?.port());
    let echo_all = a.mode == "echo";
    let max = a.max;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(stream, echo_all, max));
    }
    Ok(())
}

fn serve(s: TcpStream, echo_all: bool, max: usize) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut conn = BlockingConnection::new(Io(s), VecBuffer::new(max));
    let mut echo = Vec::new();
    loop {
        match conn.receive() {
            Ok(msg) if echo_all || msg.len() < SINK_ECHO_BELOW => {
                // The blocking driver has one buffer for both directions: copy out to answer.
                echo.clear();
                echo.extend_from_slice(msg);
                conn.transmit(&echo).map_err(err)?;
            }
            Ok(_) => {}
            Err(Error::Closed) => return Ok(()),
            Err(e) => return Err(err(e)),
        }
    }
}

pub fn client(a: &RoleArgs) -> io::Result<()> {
    let s = TcpStream::connect(("127.0.0.1", a.port))?;
    s.set_nodelay(true)?;
    let mut conn = BlockingConnection::new(Io(s), VecBuffer::new(a.size.max(1)));
    conn.handshake().map_err(err)?;
    let payload = vec![FILL; a.size];
    let deadline = a.deadline();
    let start = Instant::now();
    let mut ops = 0;
    while ops < a.count && Instant::now() < deadline {
        conn.transmit(&payload).map_err(err)?;
        if a.task == "echo" && conn.receive().map_err(err)?.len() != payload.len() {
            return Err(io::Error::other("echo of the wrong length"));
        }
        ops += 1;
    }
    if a.task == "bulk" {
        conn.transmit(b"E").map_err(err)?;
        conn.receive().map_err(err)?;
    }
    print_result(ops, ops * a.size as u64, start.elapsed());
    Ok(())
}
