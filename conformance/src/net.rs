//! TCP for the runner, the matrix and `serve-echo`: the core's [`Transport`](tinyproto_core::transport::Transport) over
//! [`std::net::TcpStream`], and an echo server built on the core (thread per connection).
//!
//! Deliberately independent of `tinyproto-std`, so that the suite judges that crate from the
//! outside rather than through it.

use crate::plugins;
use crate::role::{Link, PeerError, PeerTransmitError, Polled};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tinyproto_core::connection::Timeouts;
use tinyproto_core::refusal::{Refusal, RefusalStep};
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::{Error, Received, Sent, TransmitError};

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
) -> Result<(), PeerTransmitError> {
    let mut link = connect(addr, plugin_names, limit)?;
    link.handshake()?;
    for line in input.lines() {
        let line = line.map_err(|e| Error::Transport(e.to_string()))?;
        let sent = link.transmit(line.as_bytes())?;
        if line == "QUIT" || line == "SRVQUIT" {
            break;
        }
        let reply = match (sent, link.receive()?) {
            (Sent::Written, Received::Message(reply)) => reply,
            // The server refused our line, or we refused its answer: say so, go on.
            (sent, received) => format!("{sent:?} / {received:?}").into_bytes(),
        };
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
    /// Drop a peer that sends nothing between messages for this long (`None`: never, as in
    /// Python). [`EchoConfig::default`] uses the stall limit.
    pub idle: Option<Duration>,
}

impl Default for EchoConfig {
    fn default() -> Self {
        let stall = Duration::from_secs(5);
        Self {
            max_len: MSG_MAX_SIZE,
            plugins: Vec::new(),
            limit: None,
            stall,
            idle: Some(stall),
        }
    }
}

/// The seed README's echo server on our core: each message `m` is answered
/// `b"Echo back: " + m`; `QUIT` closes that connection, `SRVQUIT` stops the server.
///
/// Stopping (dropping the server, or `SRVQUIT`) ends every connection within a read slice and
/// waits for their threads: nothing it started outlives it.
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

/// How long a closing side waits for the peer's close after shutting down its write side.
const LINGER: Duration = Duration::from_secs(1);
/// Pause of the accept loop when nothing is waiting.
const ACCEPT_IDLE: Duration = Duration::from_millis(5);
/// Longest pause after a failed accept (out of descriptors, out of memory): the pause doubles
/// from [`ACCEPT_IDLE`] on each failure in a row, so a persistent failure does not spin.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// A connection refused at the limit (PROTOCOL.md Q1), driven by the core's [`Refusal`]:
/// `0xfe`, our write side shut down, then the peer's bytes dropped until it closes or
/// [`LINGER`] passes.
struct Refusing {
    io: TcpTransport,
    refusal: Refusal,
}

impl Refusing {
    fn start(stream: TcpStream, epoch: Instant) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        let linger = LINGER.as_millis() as u32;
        Ok(Self {
            io: TcpTransport(stream),
            refusal: Refusal::new(millis(epoch), linger),
        })
    }

    /// Moves the refusal on without blocking; `true` once done (the stream may be dropped).
    fn poll(&mut self, epoch: Instant) -> bool {
        match self.refusal.poll(&mut self.io, millis(epoch)) {
            RefusalStep::Answered => {
                let _ = self.io.0.shutdown(Shutdown::Write);
                false
            }
            RefusalStep::Waiting => false,
            RefusalStep::Done { .. } => true,
        }
    }
}

fn millis(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// Closes a connection the way a [`Refusal`] does, blocking (on a connection's own thread)
/// for at most [`LINGER`], or less once `stop` is set.
fn linger_close(stream: &TcpStream, stop: &AtomicBool) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = std::time::Instant::now() + LINGER;
    let _ = stream.set_read_timeout(Some(READ_SLICE));
    let mut sink = [0u8; 256];
    let mut reader = stream;
    while std::time::Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        match reader.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if not_ready(&e) => {}
            Err(_) => break,
        }
    }
}

fn serve(listener: TcpListener, config: EchoConfig, stop: Arc<AtomicBool>) {
    // Non-blocking accept, so the stop flag is seen within a few milliseconds.
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let active = Arc::new(AtomicUsize::new(0));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut refusing: Vec<Refusing> = Vec::new();
    let epoch = Instant::now();
    let mut backoff = ACCEPT_IDLE;
    while !stop.load(Ordering::SeqCst) {
        refusing.retain_mut(|r| !r.poll(epoch));
        threads.retain(|t| !t.is_finished());
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                backoff = ACCEPT_IDLE;
                stream
            }
            Err(e) if not_ready(&e) => {
                std::thread::sleep(ACCEPT_IDLE);
                continue;
            }
            Err(_) => {
                // EMFILE, ENFILE, ENOMEM, ...: what waits is accepted once this clears.
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        if config
            .limit
            .is_some_and(|l| active.load(Ordering::SeqCst) >= l)
        {
            // Ours, not Python's 254 zero bytes (PROTOCOL.md Q1): one 0xfe, then close.
            if let Ok(mut refused) = Refusing::start(stream, epoch) {
                if !refused.poll(epoch) {
                    refusing.push(refused);
                }
            }
            continue;
        }
        let _ = stream.set_nonblocking(false);
        active.fetch_add(1, Ordering::SeqCst);
        let (config, stop, active) = (config.clone(), stop.clone(), active.clone());
        threads.push(std::thread::spawn(move || {
            let _ = echo_connection(stream, &config, &stop);
            active.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    // Stopping: every connection sees the flag within a read slice.
    for thread in threads {
        let _ = thread.join();
    }
}

fn echo_connection(
    stream: TcpStream,
    config: &EchoConfig,
    stop: &Arc<AtomicBool>,
) -> io::Result<()> {
    let stall = config.stall.as_millis().min(u128::from(u32::MAX)) as u32;
    let io = TcpTransport::new(stream, config.stall)?;
    let chain = plugins::chain(&config.plugins).map_err(io::Error::other)?;
    // Between messages the idle limit applies; the core's timeouts bound everything else.
    let mut link = Polled::new(io, config.max_len, chain)
        .with_timeouts(Timeouts::new().handshake(stall).status(stall).stall(stall))
        .with_idle_limit(config.idle)
        .with_stop(stop.clone());
    loop {
        // A refused message gets no answer; a rejected answer is dropped; errors end it.
        match link.receive() {
            Ok(Received::Message(msg)) if msg == b"QUIT" => break,
            Ok(Received::Message(msg)) if msg == b"SRVQUIT" => {
                stop.store(true, Ordering::SeqCst);
                break;
            }
            Ok(Received::Message(msg)) => {
                match link.transmit(&[b"Echo back: ", &msg[..]].concat()) {
                    Err(TransmitError::Connection(_)) => break,
                    Ok(_) | Err(TransmitError::Send(_)) => {}
                }
            }
            Ok(Received::Refused { .. } | Received::Discarded(_)) => {}
            Err(_) => break,
        }
    }
    linger_close(link.into_io().stream(), stop);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinyproto_core::wire::SC_CONLIMIT;

    /// A raw client that completed the init handshake.
    fn handshaken(addr: SocketAddr) -> TcpStream {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(&[0xff]).unwrap();
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).unwrap();
        assert_eq!(b, [0xff]);
        stream
    }

    /// Everything the server sends until its close; a reset is an error.
    fn read_to_close(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        stream.read_to_end(&mut all)?;
        Ok(all)
    }

    #[test]
    fn refusal_at_the_limit_is_fe_then_a_clean_close_even_with_unread_input() {
        let config = EchoConfig {
            limit: Some(1),
            ..EchoConfig::default()
        };
        let server = EchoServer::spawn("127.0.0.1:0", config).unwrap();
        let _first = handshaken(server.addr());
        for _ in 0..20 {
            let mut stream = TcpStream::connect(server.addr()).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            // Our init byte and a whole message the server never reads.
            stream.write_all(&[0xff, 0, 0, 0, 2, b'h', b'i']).unwrap();
            let got = read_to_close(&mut stream).expect("a close, not a reset");
            assert_eq!(got, [SC_CONLIMIT]);
            // The server drains our input before it closes: no reset follows its FIN (a
            // reset may destroy the fe on a peer that has not read it yet).
            // (Linux reads EOF after a FIN even when a reset followed; a write sees it.)
            std::thread::sleep(Duration::from_millis(20));
            stream.write_all(&[0]).expect("no reset after the close");
        }
    }

    #[test]
    fn stopping_the_server_ends_its_connections_and_their_threads() {
        let config = EchoConfig {
            idle: None,
            ..EchoConfig::default()
        };
        let server = EchoServer::spawn("127.0.0.1:0", config).unwrap();
        let mut idle = handshaken(server.addr());
        let start = Instant::now();
        drop(server);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "drop waited {:?}",
            start.elapsed()
        );
        // The connection's thread closed its side before the server's drop returned.
        idle.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        assert_eq!(read_to_close(&mut idle).unwrap(), b"");
    }

    #[test]
    fn a_peer_idle_between_messages_is_dropped_after_the_idle_limit() {
        let config = EchoConfig {
            idle: Some(Duration::from_millis(200)),
            ..EchoConfig::default()
        };
        let server = EchoServer::spawn("127.0.0.1:0", config).unwrap();
        let mut stream = handshaken(server.addr());
        let start = Instant::now();
        assert_eq!(read_to_close(&mut stream).unwrap(), b"");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "dropped after {waited:?}"
        );
    }
}
