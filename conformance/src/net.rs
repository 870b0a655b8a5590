//! TCP for the runner, the matrix and `serve-echo`: the core's [`Transport`](tinyproto_core::transport::Transport) over
//! [`std::net::TcpStream`], and an echo server built on the core (thread per connection).
//!
//! Deliberately independent of `tinyproto-std`, so that the suite judges that crate from the
//! outside rather than through it.

use crate::plugins;
use crate::role::{Link, PeerError, Polled};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tinyproto_core::connection::Timeouts;
use tinyproto_core::wire::{MSG_MAX_SIZE, SC_CONLIMIT};
use tinyproto_core::Error;

/// How long one read waits before the driver gets control back (to check its timeouts).
const READ_SLICE: Duration = Duration::from_millis(20);

/// A [`TcpStream`] as a core [`Transport`](tinyproto_core::transport::Transport): a read
/// waits at most a short slice and then reports "not ready", so the polled driver can keep its
/// clock; writes block (with a time limit).
#[derive(Debug)]
pub struct TcpTransport(TcpStream);

impl TcpTransport {
    /// Wraps a connected stream: `TCP_NODELAY` on (Python leaves Nagle on; we do not wait for
    /// it), short read slices, writes bounded by `write_limit`.
    pub fn new(stream: TcpStream, write_limit: Duration) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_SLICE))?;
        stream.set_write_timeout(Some(write_limit))?;
        Ok(Self(stream))
    }

    /// The stream.
    pub fn stream(&self) -> &TcpStream {
        &self.0
    }
}

fn not_ready(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl tinyproto_core::transport::Transport for TcpTransport {
    type Error = io::Error;
    fn read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.0.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if not_ready(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        match self.0.write(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if not_ready(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A client connection through our core: connects to `addr` within `limit`, and bounds every
/// later operation by `limit` too.
pub fn connect(
    addr: SocketAddr,
    plugin_names: &[String],
    limit: Duration,
) -> Result<Polled<TcpTransport>, PeerError> {
    let io_err = |e: io::Error| Error::Transport(e.to_string());
    let stream = TcpStream::connect_timeout(&addr, limit).map_err(io_err)?;
    let io = TcpTransport::new(stream, limit).map_err(io_err)?;
    let chain = plugins::chain(plugin_names).map_err(Error::Transport)?;
    Ok(Polled::new(io, MSG_MAX_SIZE, chain).with_patience(Some(limit)))
}

/// The seed README's echo client on our core: sends each line of `input` as a message, prints
/// `Response from server: <reply>` to `output` for each reply, and closes at the end of input
/// (or after `QUIT`/`SRVQUIT`, which get no reply). `limit` bounds every wait.
pub fn echo_client(
    addr: SocketAddr,
    plugin_names: &[String],
    limit: Duration,
    input: impl io::BufRead,
    mut output: impl Write,
) -> Result<(), PeerError> {
    let mut link = connect(addr, plugin_names, limit)?;
    link.handshake()?;
    for line in input.lines() {
        let line = line.map_err(|e| Error::Transport(e.to_string()))?;
        link.transmit(line.as_bytes())?;
        if line == "QUIT" || line == "SRVQUIT" {
            break;
        }
        let reply = link.receive()?;
        writeln!(
            output,
            "Response from server: {}",
            String::from_utf8_lossy(&reply)
        )
        .map_err(|e| Error::Transport(e.to_string()))?;
    }
    Ok(())
}

/// Settings of [`EchoServer`].
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// Largest message accepted (larger headers are answered `0x00`; the stream stays in
    /// sync). Memory follows the bytes that arrive, so the protocol maximum is safe.
    pub max_len: u32,
    /// Plugin names, in registration order.
    pub plugins: Vec<String>,
    /// Connection limit: a connection beyond it gets the single byte `0xfe` and is closed.
    pub limit: Option<usize>,
    /// Drop a peer that stalls inside the handshake, a header or a payload for this long.
    pub stall: Duration,
}

impl Default for EchoConfig {
    fn default() -> Self {
        Self {
            max_len: MSG_MAX_SIZE,
            plugins: Vec::new(),
            limit: None,
            stall: Duration::from_secs(5),
        }
    }
}

/// The seed README's echo server on our core: each message `m` is answered
/// `b"Echo back: " + m`; `QUIT` closes that connection, `SRVQUIT` stops the server.
pub struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Listens on `addr` (port 0: any) and serves in a background thread.
    pub fn spawn(addr: impl ToSocketAddrs, config: EchoConfig) -> io::Result<EchoServer> {
        plugins::chain(&config.plugins).map_err(io::Error::other)?;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(listener, config, flag));
        Ok(EchoServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server stops (after `SRVQUIT`).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: TcpListener, config: EchoConfig, stop: Arc<AtomicBool>) {
    // Non-blocking accept, so the stop flag is seen within a few milliseconds.
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if not_ready(&e) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        let _ = stream.set_nonblocking(false);
        if config
            .limit
            .is_some_and(|l| active.load(Ordering::SeqCst) >= l)
        {
            // Ours, not Python's 254 zero bytes (PROTOCOL.md Q1): one 0xfe, then close.
            let mut stream = stream;
            let _ = stream.write_all(&[SC_CONLIMIT]);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (config, stop, active) = (config.clone(), stop.clone(), active.clone());
        std::thread::spawn(move || {
            let _ = echo_connection(stream, &config, &stop);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn echo_connection(stream: TcpStream, config: &EchoConfig, stop: &AtomicBool) -> io::Result<()> {
    let stall = config.stall.as_millis().min(u128::from(u32::MAX)) as u32;
    let io = TcpTransport::new(stream, config.stall)?;
    let chain = plugins::chain(&config.plugins).map_err(io::Error::other)?;
    // No limit between messages (as in Python); the core's timeouts bound everything else.
    let mut link = Polled::new(io, config.max_len, chain)
        .with_timeouts(Timeouts::new().handshake(stall).status(stall).stall(stall));
    loop {
        match link.receive() {
            Ok(msg) if msg == b"QUIT" => break,
            Ok(msg) if msg == b"SRVQUIT" => {
                stop.store(true, Ordering::SeqCst);
                break;
            }
            Ok(msg) => match link.transmit(&[b"Echo back: ", &msg[..]].concat()) {
                Err(e) if e.is_fatal() => break,
                _ => {}
            },
            Err(e) if e.is_fatal() => break,
            Err(_) => {}
        }
    }
    link.into_io().stream().shutdown(Shutdown::Both)
}
