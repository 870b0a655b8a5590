//! Playing one side of a conversation: the scripts of the recorder's Python peers (a lockstep
//! client, an echo server), run on our core through any driver.

use crate::plugins::Chain;
use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tinyproto_core::buffer::{Buffer, VecBuffer};
use tinyproto_core::connection::{Connection, Event, Failure, Received, Sent, Timeouts};
use tinyproto_core::plugin::Plugins;
use tinyproto_core::session::Phase;
use tinyproto_core::transport::Transport;
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::{AsyncConnection, BlockingConnection, Error, TransmitError};

/// An error of any driver, its transport error turned into text.
pub type PeerError = Error<String>;

/// A failed transmit of any driver, its transport error turned into text.
pub type PeerTransmitError = TransmitError<String>;

/// Which end of the TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that connects.
    Client,
    /// The side that accepts.
    Server,
}

impl Role {
    /// Both roles.
    pub const BOTH: [Role; 2] = [Role::Client, Role::Server];
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}

/// How a server answers each message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `b"Echo back: " + m`, the seed README's echo server.
    EchoPrefix,
    /// `m` itself.
    Echo,
    /// No answer.
    Nothing,
}

impl Reply {
    /// The answer to `msg`, if any.
    pub fn answer(self, msg: &[u8]) -> Option<Vec<u8>> {
        match self {
            Reply::EchoPrefix => Some([b"Echo back: ", msg].concat()),
            Reply::Echo => Some(msg.to_vec()),
            Reply::Nothing => None,
        }
    }
}

/// The script of one side, as the recorder's Python peers run it.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Client or server.
    pub role: Role,
    /// Plugin names, in registration order.
    pub plugins: Vec<String>,
    /// Client: messages sent lockstep (each after the previous one's answer).
    pub send: Vec<Vec<u8>>,
    /// Client: messages to receive before closing.
    pub expect: usize,
    /// Client: never close on our own; receive until the peer ends the connection.
    pub hold: bool,
    /// Server: the answer to each message.
    pub reply: Reply,
    /// Server: messages sent right after the handshake.
    pub pre_loop_send: Vec<Vec<u8>>,
}

impl Behaviour {
    /// The seed README's echo server (`b"Echo back: " + m`).
    pub fn echo_server(plugins: &[&str]) -> Self {
        Self {
            role: Role::Server,
            reply: Reply::EchoPrefix,
            ..Self::client(Vec::new(), plugins)
        }
    }

    /// A lockstep client that sends `send` and expects one answer to each.
    pub fn client(send: Vec<Vec<u8>>, plugins: &[&str]) -> Self {
        Self {
            role: Role::Client,
            plugins: plugins.iter().map(|p| p.to_string()).collect(),
            expect: send.len(),
            send,
            hold: false,
            reply: Reply::Nothing,
            pre_loop_send: Vec::new(),
        }
    }
}

/// What playing a [`Behaviour`] gave.
#[derive(Debug)]
pub struct Outcome {
    /// Messages delivered to the application, in order.
    pub received: Vec<Vec<u8>>,
    /// Messages that did not make it on a connection that went on (refusals, rejections),
    /// in order.
    pub failures: Vec<Failure>,
    /// `Ok` when our script ended (a client that closes); otherwise what ended the connection
    /// ([`Error::Closed`]: the peer closed at a message boundary).
    pub end: Result<(), PeerError>,
}

/// One connection as the scripts see it: blocking operations, whichever driver is below.
pub trait Link {
    /// Completes the init handshake.
    fn handshake(&mut self) -> Result<(), PeerError>;
    /// Sends one message.
    fn transmit(&mut self, msg: &[u8]) -> Result<Sent, PeerTransmitError>;
    /// Waits for one message.
    fn receive(&mut self) -> Result<Received<Vec<u8>>, PeerError>;
}

/// Runs `behaviour` on `link` until the script ends or the connection does.
pub fn play(link: &mut dyn Link, behaviour: &Behaviour) -> Outcome {
    let mut outcome = Outcome {
        received: Vec::new(),
        failures: Vec::new(),
        end: Ok(()),
    };
    outcome.end = run_script(link, behaviour, &mut outcome);
    outcome
}

fn run_script(link: &mut dyn Link, b: &Behaviour, out: &mut Outcome) -> Result<(), PeerError> {
    link.handshake()?;
    let mut sent = 0;
    match b.role {
        Role::Server => {
            for msg in &b.pre_loop_send {
                transmit(out, link, msg)?;
            }
            loop {
                if let Some(msg) = receive(out, link)? {
                    let answer = b.reply.answer(&msg);
                    out.received.push(msg);
                    if let Some(answer) = answer {
                        transmit(out, link, &answer)?;
                    }
                }
            }
        }
        Role::Client => loop {
            if sent < b.send.len() && out.received.len() >= sent {
                sent += 1;
                transmit(out, link, &b.send[sent - 1])?;
            } else if sent >= b.send.len() && out.received.len() >= b.expect && !b.hold {
                return Ok(());
            } else if let Some(msg) = receive(out, link)? {
                out.received.push(msg);
            }
        },
    }
}

/// Transmits `msg`, recording a message that did not make it; errors end the connection.
fn transmit(out: &mut Outcome, link: &mut dyn Link, msg: &[u8]) -> Result<(), PeerError> {
    match link.transmit(msg) {
        Ok(Sent::Written) => {}
        Ok(Sent::Rejected { len }) => out.failures.push(Failure::Rejected { len }),
        Err(TransmitError::Send(e)) => out.failures.push(Failure::Send(e)),
        Err(TransmitError::Connection(e)) => return Err(e),
    }
    Ok(())
}

/// Waits for a message, recording one that did not make it; errors end the connection.
fn receive(out: &mut Outcome, link: &mut dyn Link) -> Result<Option<Vec<u8>>, PeerError> {
    Ok(match link.receive()? {
        Received::Message(msg) => Some(msg),
        Received::Refused { len, limit } => {
            out.failures.push(Failure::Refused { len, limit });
            None
        }
        Received::Discarded(e) => {
            out.failures.push(Failure::Discarded(e));
            None
        }
    })
}

fn text<E: Debug>(e: Error<E>) -> PeerError {
    e.map_transport(|e| format!("{e:?}"))
}

fn transmit_text<E: Debug>(e: TransmitError<E>) -> PeerTransmitError {
    match e {
        TransmitError::Send(e) => TransmitError::Send(e),
        TransmitError::Connection(e) => TransmitError::Connection(text(e)),
    }
}

/// The blocking driver is a [`Link`] as it is.
impl<T, B, P> Link for BlockingConnection<T, B, P>
where
    T: embedded_io::Read + embedded_io::Write,
    T::Error: Debug,
    B: Buffer,
    P: Plugins,
{
    fn handshake(&mut self) -> Result<(), PeerError> {
        BlockingConnection::handshake(self).map_err(text)
    }
    fn transmit(&mut self, msg: &[u8]) -> Result<Sent, PeerTransmitError> {
        BlockingConnection::transmit(self, msg).map_err(transmit_text)
    }
    fn receive(&mut self) -> Result<Received<Vec<u8>>, PeerError> {
        BlockingConnection::receive(self)
            .map(|received| received.map(<[u8]>::to_vec))
            .map_err(text)
    }
}

/// The async driver over a transport that is always ready (a scripted peer), as a [`Link`]:
/// each operation's future is polled once and must complete.
pub struct Ready<C>(pub C);

/// Polls `future` once; a transport that is always ready never leaves it waiting, so a future
/// that waits anyway is reported as a transport error rather than spun on.
fn poll_ready<T>(future: impl Future<Output = Result<T, PeerError>>) -> Result<T, PeerError> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::Transport("the transport is not always ready".into())),
    }
}

impl<T, B, P> Link for Ready<AsyncConnection<T, B, P>>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    T::Error: Debug,
    B: Buffer,
    P: Plugins,
{
    fn handshake(&mut self) -> Result<(), PeerError> {
        poll_ready(async { self.0.handshake().await.map_err(text) })
    }
    fn transmit(&mut self, msg: &[u8]) -> Result<Sent, PeerTransmitError> {
        let sent = poll_ready(async { Ok(self.0.transmit(msg).await) })?;
        sent.map_err(transmit_text)
    }
    fn receive(&mut self) -> Result<Received<Vec<u8>>, PeerError> {
        poll_ready(async {
            let received = self.0.receive().await.map_err(text)?;
            Ok(received.map(<[u8]>::to_vec))
        })
    }
}

/// The polled driver ([`Connection::poll`]) over any [`Transport`], as a [`Link`]: each
/// operation polls until its event, for at most `patience` (then [`Error::Timeout`]).
///
/// Receive buffers are [`VecBuffer`]s, which grow only with the bytes that really arrive.
pub struct Polled<T, P = Chain> {
    io: T,
    conn: Connection<VecBuffer, VecBuffer, P>,
    epoch: Instant,
    patience: Option<Duration>,
    idle: Option<Duration>,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: Transport, P: Plugins> Polled<T, P>
where
    T::Error: Debug,
{
    /// A connection over `io` that accepts messages of up to `max_len` bytes, with `plugins`.
    pub fn new(io: T, max_len: u32, plugins: P) -> Self {
        let buffer = || VecBuffer::new(max_len.min(MSG_MAX_SIZE) as usize);
        Self {
            io,
            conn: Connection::with_plugins(buffer(), buffer(), plugins),
            epoch: Instant::now(),
            patience: None,
            idle: None,
            stop: None,
        }
    }

    /// Sets the core's timeouts (handshake, status, stall).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.conn.set_timeouts(timeouts);
        self
    }

    /// Bounds every operation (`None`: wait as long as the core's timeouts allow).
    pub fn with_patience(mut self, patience: Option<Duration>) -> Self {
        self.patience = patience;
        self
    }

    /// Bounds the wait between messages: an operation that finds the connection idle (no
    /// message in flight, no header byte yet) for longer than `idle` closes it with
    /// [`Error::Timeout`] in [`Phase::Idle`] (`None`: wait for the next message forever, as
    /// Python does). Inside a message the core's timeouts apply.
    pub fn with_idle_limit(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle;
        self
    }

    /// Ends every operation soon (within one read slice of the transport) after `stop` is
    /// set: the connection is closed and the operation returns [`Error::Transport`] saying so.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The transport.
    pub fn io(&self) -> &T {
        &self.io
    }

    /// Gives the transport back.
    pub fn into_io(self) -> T {
        self.io
    }

    /// Polls until an event that `want`s, and returns it.
    fn until(&mut self, want: impl Fn(&Event) -> bool) -> Result<Event, PeerError> {
        let deadline = self.patience.map(|p| Instant::now() + p);
        let mut idle_since = None;
        loop {
            let phase = self.conn.session().phase();
            if phase == Phase::Closed {
                return Err(Error::Closed);
            }
            if self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                self.conn.close();
                return Err(Error::Transport("stopped".into()));
            }
            if phase == Phase::Idle {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if self.idle.is_some_and(|limit| since.elapsed() > limit) {
                    self.conn.close();
                    return Err(Error::Timeout { phase });
                }
            } else {
                idle_since = None;
            }
            let now = self.epoch.elapsed().as_millis() as u64;
            match self.conn.poll(&mut self.io, now).map_err(text)? {
                Some(event) if want(&event) => return Ok(event),
                Some(_) => {}
                None if deadline.is_some_and(|d| Instant::now() > d) => {
                    self.conn.close();
                    return Err(Error::Timeout { phase });
                }
                None => {}
            }
        }
    }
}

impl<T: Transport, P: Plugins> Link for Polled<T, P>
where
    T::Error: Debug,
{
    fn handshake(&mut self) -> Result<(), PeerError> {
        if self.conn.session().phase() != Phase::Handshake {
            return Ok(());
        }
        self.until(|e| *e == Event::HandshakeDone).map(drop)
    }
    fn transmit(&mut self, msg: &[u8]) -> Result<Sent, PeerTransmitError> {
        self.handshake()?;
        self.conn.send(msg)?;
        match self.until(|e| matches!(e, Event::Sent | Event::Rejected { .. }))? {
            Event::Rejected { len } => Ok(Sent::Rejected { len }),
            _ => Ok(Sent::Written),
        }
    }
    fn receive(&mut self) -> Result<Received<Vec<u8>>, PeerError> {
        self.handshake()?;
        let arrived = |e: &Event| {
            matches!(
                e,
                Event::Received | Event::Refused { .. } | Event::Discarded(_)
            )
        };
        Ok(match self.until(arrived)? {
            Event::Refused { len, limit } => Received::Refused { len, limit },
            Event::Discarded(e) => Received::Discarded(e),
            _ => Received::Message(self.conn.message().to_vec()),
        })
    }
}
