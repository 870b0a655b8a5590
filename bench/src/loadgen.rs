//! The concurrency load generator: many tinyproto client connections on one thread (mio),
//! the same for every server measured. It speaks the raw protocol with 16-byte messages.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

const OK: u8 = 0xff;
const PAYLOAD: [u8; 16] = [0x5a; 16];
const HEADER: [u8; 4] = [0, 0, 0, 16];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Write(&'static [u8]),
    /// Read this many bytes; when `ok` the first must be `0xff`.
    Read(usize, bool),
}

const HANDSHAKE: &[Op] = &[Op::Write(&[OK]), Op::Read(1, true)];
const ECHO: &[Op] = &[
    Op::Write(&HEADER),
    Op::Read(1, true),
    Op::Write(&PAYLOAD),
    Op::Read(4, false),
    Op::Write(&[OK]),
    Op::Read(16, false),
];

/// How a connection failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Failure {
    Refused,
    Reset,
    TimedOut,
    Other,
}

impl Failure {
    fn of(e: &io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Failure::Reset,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::TimedOut,
            _ => Failure::Other,
        }
    }
}

struct Conn {
    stream: TcpStream,
    program: &'static [Op],
    op: usize,
    pos: usize,
    scratch: [u8; 16],
    failed: Option<Failure>,
    error: Option<String>,
    /// Stop after the current echo instead of starting the next one.
    active: bool,
}

enum Progress {
    Blocked,
    Finished,
    Failed,
}

impl Conn {
    fn new(stream: TcpStream, program: &'static [Op]) -> Conn {
        Conn {
            stream,
            program,
            op: 0,
            pos: 0,
            scratch: [0; 16],
            failed: None,
            error: None,
            active: false,
        }
    }

    fn idle(&self) -> bool {
        self.op >= self.program.len()
    }

    fn start(&mut self, program: &'static [Op]) {
        self.program = program;
        self.op = 0;
        self.pos = 0;
    }

    /// Moves bytes until the program finishes, the socket would block, or it fails.
    fn advance(&mut self) -> Progress {
        if self.failed.is_some() {
            return Progress::Failed;
        }
        while let Some(&op) = self.program.get(self.op) {
            let r = match op {
                Op::Write(bytes) => self
                    .stream
                    .write(&bytes[self.pos..])
                    .map(|n| (n, bytes.len())),
                Op::Read(want, _) => self
                    .stream
                    .read(&mut self.scratch[self.pos..want])
                    .map(|n| (n, want)),
            };
            match r {
                Ok((0, _)) => {
                    self.error = Some(format!(
                        "end of stream in step {} of the {}",
                        self.op,
                        self.name()
                    ));
                    return self.fail(Failure::Reset);
                }
                Ok((n, len)) => {
                    self.pos += n;
                    if self.pos == len {
                        if let Op::Read(_, true) = op {
                            if self.scratch[0] != OK {
                                return self.fail(Failure::Other);
                            }
                        }
                        self.op += 1;
                        self.pos = 0;
                        // In the lockstep echo nothing is left unread once we write, and the
                        // answer comes only after the write: it cannot be there yet. Its
                        // arrival wakes the connection (edge-triggered readiness), so a read
                        // now would only cost a system call that finds nothing. Not so in the
                        // handshake, where both sides write first.
                        if self.program == ECHO
                            && matches!(op, Op::Write(_))
                            && self.op < self.program.len()
                        {
                            return Progress::Blocked;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A non-blocking connect still in progress reports NotConnected on write.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    return match self.stream.take_error() {
                        Ok(Some(e)) => {
                            self.error = Some(format!("connect: {e}"));
                            self.fail(Failure::of(&e))
                        }
                        _ => Progress::Blocked,
                    }
                }
                Err(e) => {
                    self.error = Some(format!("{e} in step {} of the {}", self.op, self.name()));
                    return self.fail(Failure::of(&e));
                }
            }
        }
        Progress::Finished
    }

    fn name(&self) -> &'static str {
        if self.program == HANDSHAKE {
            "handshake"
        } else {
            "echo"
        }
    }

    fn fail(&mut self, f: Failure) -> Progress {
        self.failed = Some(f);
        Progress::Failed
    }
}

/// How connections are opened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Opening {
    /// One after another, each handshake done before the next connect.
    Sequential,
    /// All connects started at once, then handled as they complete.
    Burst,
}

/// The outcome of opening connections.
#[derive(Clone, Debug, Default)]
pub struct Established {
    pub ok: usize,
    pub refused: usize,
    pub reset: usize,
    pub timed_out: usize,
    pub other: usize,
    pub secs: f64,
    /// The first failure seen, for the report.
    pub first_error: Option<String>,
}

/// A set of client connections to one server.
pub struct Load {
    poll: Poll,
    conns: Vec<Conn>,
}

/// Source address of connection `i`: spread over 127.0.0.2..=127.0.0.65 (loopback only), so
/// that repeated runs never exhaust one address's ephemeral ports.
fn source(i: usize, salt: usize) -> SocketAddr {
    let host = 2 + ((i + salt) % 64) as u8;
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, host), 0))
}

fn socket(i: usize, salt: usize) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_tcp_nodelay(true)?;
    s.bind(&source(i, salt).into())?;
    Ok(s)
}

impl Load {
    /// Opens `n` connections to `port` and completes their handshakes within `limit`.
    pub fn open(
        n: usize,
        port: u16,
        how: Opening,
        limit: Duration,
        salt: usize,
    ) -> io::Result<(Load, Established)> {
        let poll = Poll::new()?;
        let server: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
        let mut load = Load {
            poll,
            conns: Vec::with_capacity(n),
        };
        let mut est = Established::default();
        let start = Instant::now();
        let deadline = start + limit;
        match how {
            Opening::Sequential => {
                for i in 0..n {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        est.timed_out += n - i;
                        break;
                    }
                    match handshake_blocking(i, salt, server, left.min(Duration::from_secs(5))) {
                        Ok(stream) => {
                            let mut c = Conn::new(TcpStream::from_std(stream), HANDSHAKE);
                            c.op = HANDSHAKE.len();
                            load.register(c)?;
                            est.ok += 1;
                        }
                        Err((f, e)) => {
                            est.count(f);
                            est.first_error.get_or_insert(e);
                        }
                    }
                }
            }
            Opening::Burst => {
                for i in 0..n {
                    let s = socket(i, salt)?;
                    s.set_nonblocking(true)?;
                    match s.connect(&server.into()) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(115) /* EINPROGRESS */ => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            est.count(Failure::of(&e));
                            continue;
                        }
                    }
                    let stream = TcpStream::from_std(std::net::TcpStream::from(s));
                    load.register(Conn::new(stream, HANDSHAKE))?;
                }
                let mut pending = load.conns.len();
                let mut events = Events::with_capacity(1024);
                while pending > 0 {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    load.poll.poll(&mut events, Some(left))?;
                    for ev in events.iter() {
                        let c = &mut load.conns[ev.token().0];
                        if c.idle() || c.failed.is_some() {
                            continue;
                        }
                        match c.advance() {
                            Progress::Blocked => {}
                            Progress::Finished => {
                                est.ok += 1;
                                pending -= 1;
                            }
                            Progress::Failed => {
                                est.count(c.failed.unwrap_or(Failure::Other));
                                if est.first_error.is_none() {
                                    est.first_error = c.error.clone();
                                }
                                pending -= 1;
                            }
                        }
                    }
                }
                est.timed_out += pending;
            }
        }
        est.secs = start.elapsed().as_secs_f64();
        Ok((load, est))
    }

    fn register(&mut self, mut c: Conn) -> io::Result<()> {
        let token = Token(self.conns.len());
        self.poll.registry().register(
            &mut c.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.conns.push(c);
        Ok(())
    }

    /// Every established connection echoes 16-byte messages in lockstep, starting new echoes
    /// for `secs`. Echoes still in flight at the end are completed and counted, and the
    /// window lasts until the last of them completed: with n connections in lockstep, counting
    /// only whole echoes inside `secs` would move the rate in steps of n / `secs`.
    pub fn echo_all(&mut self, secs: Duration) -> io::Result<Window> {
        let start = Instant::now();
        let end = start + secs;
        let mut tally = Tally::default();
        for c in &mut self.conns {
            if c.failed.is_none() && c.idle() {
                c.active = true;
                c.start(ECHO);
                step(c, &mut tally, true);
            }
        }
        let mut events = Events::with_capacity(1024);
        // Echoes in flight at the end get a moment to complete; any still open then is dropped.
        let grace = end + Duration::from_secs(2);
        loop {
            let now = Instant::now();
            if now >= grace
                || (now >= end && self.conns.iter().all(|c| c.idle() || c.failed.is_some()))
            {
                break;
            }
            self.poll
                .poll(&mut events, Some(Duration::from_millis(20)))?;
            let go_on = Instant::now() < end;
            for ev in events.iter() {
                let c = &mut self.conns[ev.token().0];
                if c.active {
                    step(c, &mut tally, go_on);
                }
            }
        }
        Ok(Window {
            echoes: tally.done,
            secs: tally.last.map_or(0.0, |last| (last - start).as_secs_f64()),
            failed: tally.failed,
        })
    }
}

/// What one `echo_all` window measured.
pub struct Window {
    /// Echoes completed.
    pub echoes: u64,
    /// From the start until the last echo completed.
    pub secs: f64,
    /// Connections that failed during the window.
    pub failed: usize,
}

impl Window {
    /// Echoes per second (0 when none completed).
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.echoes as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Echoes completed so far in `echo_all`, and when the last one completed.
#[derive(Default)]
struct Tally {
    done: u64,
    last: Option<Instant>,
    failed: usize,
}

fn step(c: &mut Conn, tally: &mut Tally, go_on: bool) {
    loop {
        match c.advance() {
            Progress::Blocked => return,
            Progress::Failed => {
                tally.failed += 1;
                c.active = false;
                return;
            }
            Progress::Finished => {
                tally.done += 1;
                tally.last = Some(Instant::now());
                if go_on {
                    c.start(ECHO);
                } else {
                    c.active = false;
                    return;
                }
            }
        }
    }
}

impl Established {
    fn count(&mut self, f: Failure) {
        match f {
            Failure::Refused => self.refused += 1,
            Failure::Reset => self.reset += 1,
            Failure::TimedOut => self.timed_out += 1,
            Failure::Other => self.other += 1,
        }
    }
}

fn handshake_blocking(
    i: usize,
    salt: usize,
    server: SocketAddr,
    limit: Duration,
) -> Result<std::net::TcpStream, (Failure, String)> {
    handshake_inner(i, salt, server, limit).map_err(|e| {
        (
            Failure::of(&e),
            format!("sequential connect/handshake: {e}"),
        )
    })
}

fn handshake_inner(
    i: usize,
    salt: usize,
    server: SocketAddr,
    limit: Duration,
) -> io::Result<std::net::TcpStream> {
    let s = socket(i, salt)?;
    s.connect_timeout(&server.into(), limit)?;
    let mut s = std::net::TcpStream::from(s);
    s.set_read_timeout(Some(limit))?;
    s.write_all(&[OK])?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    if b[0] != OK {
        return Err(io::Error::other(format!("init byte {:#04x}", b[0])));
    }
    s.set_read_timeout(None)?;
    s.set_nonblocking(true)?;
    Ok(s)
}
