//! One tinyproto connection over a tokio stream: the core's [`Connection`](CoreConnection)
//! driven from the futures of [`send`](Connection::send) and [`recv`](Connection::recv).
//!
//! # Design
//! The protocol state, the stream and one received message waiting to be taken (the inbox)
//! sit behind one mutex, shared by the two halves. Whichever future is polled drives the
//! core's non-blocking `poll` with a [`PollIo`]: `Pending` from tokio is "not ready now", and
//! tokio registers the waker.
//!
//! A whole [`Connection`] is polled by one future at a time (its methods take `&mut self`), so
//! tokio is handed that future's own waker: a wake-up costs tokio nothing more than for its own
//! sockets. Once split, the waker tokio holds is the connection's own, which wakes both halves
//! (tokio keeps one waker per direction of a stream, and either half may need either
//! direction: the sender reads the status byte, the receiver writes its answer). What one
//! half's poll finds for the other (a message for the receiver, the outcome of a send for the
//! sender) is left in the state and that half is woken.
//!
//! No task and no thread of our own: a message costs no hand-off, and an idle connection is
//! its state and its buffers' spare memory. The mutex is held only inside a poll, never across
//! an await, and is uncontended unless both halves are polled at the same instant.
//!
//! Reading is paced by the receiver: once a message waits in the inbox, no new message is
//! read until it is taken (a sender still finishes its own message), so memory stays bounded
//! by one message waiting and one arriving.

use crate::buffer::MessageBuffer;
use crate::config::ConnSettings;
use crate::io::PollIo;
use crate::{Error, TransmitError};
use bytes::Bytes;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use tinyproto_core::connection::{Connection as CoreConnection, Event, Received, Sent};
use tinyproto_core::session::Phase;
use tinyproto_core::transport::ReadAhead;
use tinyproto_core::wire::MSG_MAX_SIZE;
use tinyproto_core::Plugin;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// The core connection with this crate's buffers and plugins.
type Core = CoreConnection<MessageBuffer, MessageBuffer, Vec<Box<dyn Plugin + Send>>>;

/// Index of each half among the wakers.
const RECV: usize = 0;
const SEND: usize = 1;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wakers of the task waiting in each half; woken together by the stream's readiness.
#[derive(Default)]
struct Wakers(Mutex<[Option<Waker>; 2]>);

impl Wakers {
    fn register(&self, side: usize, waker: &Waker) {
        let mut slots = lock(&self.0);
        match &mut slots[side] {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    fn wake_side(&self, side: usize) {
        let waker = lock(&self.0)[side].take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *lock(&self.0));
        wakers.into_iter().flatten().for_each(Waker::wake);
    }
}

/// What both halves share.
struct Shared<S> {
    state: Mutex<State<S>>,
    /// Set by [`Connection::into_split`]: from then on two tasks may wait at once.
    split: AtomicBool,
    /// The wakers of the halves' tasks, once split.
    wakers: Arc<Wakers>,
    /// Wakes both halves, once split: the waker tokio registers for the stream and the timer.
    io_waker: Waker,
    /// A place under the listener's connection limit, given back when both halves are gone.
    _permit: Option<OwnedSemaphorePermit>,
}

/// The protocol state, the stream, and what one half found for the other.
struct State<S> {
    io: S,
    core: Core,
    /// Zero of the core's millisecond clock, when the core has timeouts. Without, it needs
    /// no clock (its only deadline is "again now", after a poll's byte budget), and every poll
    /// is at 0: no clock read per poll.
    clock: Option<Instant>,
    /// The core's next deadline, when it has timeouts; armed lazily (see [`State::timer_due`]).
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<u64>,
    unflushed: bool,
    ahead: ReadAhead,
    /// What arrived (a message, or one refused or discarded), not yet handed to `recv`.
    inbox: Option<Received<Bytes>>,
    /// The ticket of the message of ours in the core (its send future may be gone).
    in_flight: Option<u64>,
    /// How the message with this ticket ended, for its send future.
    outcome: Option<(u64, Sent)>,
    tickets: u64,
    /// The error that ended the connection.
    failed: Option<Error>,
    reuse_limit: usize,
}

/// Which halves have news after [`State::drive`].
type News = [bool; 2];

impl<S: AsyncRead + AsyncWrite + Unpin> State<S> {
    fn now_ms(&self) -> u64 {
        self.clock.map_or(0, |clock| {
            u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    /// Moves what can be moved now, until the stream is not ready (tokio then holds the
    /// waker), the inbox is full, the connection fails, or half `until` has news.
    ///
    /// Stopping at the caller's news is for a whole connection only: its one future drives
    /// again on its next poll, while the other half of a split one may be waiting for what
    /// only a drive to the end would read.
    fn drive(&mut self, io_waker: &Waker, until: Option<usize>) -> News {
        let mut cx = Context::from_waker(io_waker);
        let mut news = [false; 2];
        while self.failed.is_none() {
            if self.inbox.is_some() && self.in_flight.is_none()
                || until.is_some_and(|side| news[side])
            {
                break;
            }
            let now = self.now_ms();
            let mut io = PollIo {
                io: &mut self.io,
                cx: &mut cx,
                unflushed: &mut self.unflushed,
                ahead: &mut self.ahead,
            };
            match self.core.poll(&mut io, now) {
                Ok(None) => {
                    if !self.timer_due(&mut cx, now) {
                        break;
                    }
                }
                Ok(Some(Event::HandshakeDone)) => news = [true; 2],
                Ok(Some(Event::Received)) => {
                    let msg = self.core.rx_buffer_mut().take();
                    self.inbox = Some(Received::Message(msg));
                    news[RECV] = true;
                }
                Ok(Some(Event::Refused { len, limit })) => {
                    self.inbox = Some(Received::Refused { len, limit });
                    news[RECV] = true;
                }
                Ok(Some(Event::Discarded(e))) => {
                    self.inbox = Some(Received::Discarded(e));
                    news[RECV] = true;
                }
                Ok(Some(Event::Sent)) => {
                    self.finish_send(Sent::Written);
                    news[SEND] = true;
                }
                Ok(Some(Event::Rejected { len })) => {
                    self.finish_send(Sent::Rejected { len });
                    news[SEND] = true;
                }
                Err(e) => {
                    self.failed = Some(e);
                    news = [true; 2];
                }
            }
        }
        if self.unflushed && self.failed.is_none() {
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_flush(&mut cx) {
                self.failed = Some(Error::Transport(e));
                news = [true; 2];
            } else {
                // Flushed, or tokio wakes us when it can be.
                self.unflushed = false;
            }
        }
        news
    }

    /// Whether the core wants to be polled again now; otherwise the timer is armed for its
    /// deadline (if any) and will wake the halves.
    ///
    /// The timer is armed lazily: while progress pushes the deadline later, a timer armed for
    /// an earlier one is kept, and when it fires the core is polled and the timer re-armed. So
    /// a busy connection touches tokio's timer about once per timeout period, not per message.
    fn timer_due(&mut self, cx: &mut Context<'_>, now: u64) -> bool {
        let Some(at) = self.core.poll_at() else {
            return false;
        };
        if at <= now {
            // The core's byte budget per poll is used up (or a deadline falls in this very
            // millisecond): give other tasks their turn, then come back.
            cx.waker().wake_by_ref();
            return false;
        }
        let Some(clock) = self.clock else {
            // Without timeouts the core has no deadline later than now.
            return false;
        };
        if self.timer_at.is_none_or(|armed| armed > at) {
            // One millisecond past the deadline: the core times out only after it.
            let deadline = clock + std::time::Duration::from_millis(at + 1);
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.timer_at = Some(at);
        }
        let fired = self
            .timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        if fired {
            self.timer_at = None;
        }
        fired
    }

    /// Our message ended: its outcome waits for its send future, its memory receives the
    /// next messages.
    fn finish_send(&mut self, result: Sent) {
        if let Some(ticket) = self.in_flight.take() {
            self.outcome = Some((ticket, result));
        }
        let memory = self.core.tx_buffer_mut().take_memory();
        if memory.len() <= self.reuse_limit {
            self.core.rx_buffer_mut().reuse(memory);
        }
    }

    /// Hands `msg` to the core (plugins run now); its ticket.
    fn start_send(&mut self, msg: Bytes) -> Result<u64, TransmitError> {
        // A send future dropped after its message started leaves an outcome nobody claims.
        self.outcome = None;
        self.core.tx_buffer_mut().load(msg);
        if let Err(e) = self.core.send_buffered() {
            self.core.tx_buffer_mut().take_memory();
            return Err(TransmitError::Send(e));
        }
        self.tickets += 1;
        self.in_flight = Some(self.tickets);
        Ok(self.tickets)
    }

    fn take_outcome(&mut self, ticket: u64) -> Option<Sent> {
        match self.outcome.take() {
            Some((t, result)) if t == ticket => Some(result),
            other => {
                self.outcome = other;
                None
            }
        }
    }

    /// The error that ended the connection, for a later call.
    fn failure(&self) -> Option<Error> {
        self.failed.as_ref().map(replay)
    }
}

/// A copy of a connection's final error for every later call (an `io::Error` is not `Clone`:
/// its kind and text are kept).
fn replay(e: &Error) -> Error {
    match e {
        Error::Transport(e) => Error::Transport(io::Error::new(e.kind(), e.to_string())),
        Error::WriteZero => Error::WriteZero,
        Error::Protocol(p) => Error::Protocol(*p),
        Error::Closed => Error::Closed,
        Error::Timeout { phase } => Error::Timeout { phase: *phase },
        Error::Capacity(c) => Error::Capacity(*c),
        Error::Cancelled => Error::Cancelled,
        other => Error::Transport(io::Error::other(other.to_string())),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    fn new(io: S, settings: &ConnSettings, permit: Option<OwnedSemaphorePermit>) -> Self {
        let mut core = Core::with_plugins(
            MessageBuffer::new(settings.max_message_size),
            MessageBuffer::new(MSG_MAX_SIZE as usize),
            settings.plugins(),
        );
        let timeouts = crate::config::core_timeouts(&settings.timeouts);
        if let Some(timeouts) = timeouts {
            core.set_timeouts(timeouts);
        }
        let wakers = Arc::new(Wakers::default());
        Self {
            state: Mutex::new(State {
                io,
                core,
                clock: timeouts.map(|_| Instant::now()),
                timer: None,
                timer_at: None,
                unflushed: false,
                ahead: ReadAhead::default(),
                inbox: None,
                in_flight: None,
                outcome: None,
                tickets: 0,
                failed: None,
                reuse_limit: settings.reuse_limit,
            }),
            split: AtomicBool::new(false),
            io_waker: Waker::from(wakers.clone()),
            wakers,
            _permit: permit,
        }
    }

    /// Notes the task of half `me` as waiting, when split (whole, the task's own waker is the
    /// one [`Shared::drive`] hands to tokio).
    fn register(&self, me: usize, cx: &Context<'_>) {
        if self.split.load(Ordering::Relaxed) {
            self.wakers.register(me, cx.waker());
        }
    }

    /// Drives with the waker tokio should hold, and wakes the other half if it has news.
    fn drive(&self, state: &mut State<S>, me: usize, cx: &Context<'_>) {
        if !self.split.load(Ordering::Relaxed) {
            state.drive(cx.waker(), Some(me));
            return;
        }
        let news = state.drive(&self.io_waker, None);
        if news[1 - me] {
            self.wakers.wake_side(1 - me);
        }
    }

    fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut state = lock(&self.state);
        if state.core.session().phase() == Phase::Handshake {
            self.drive(&mut state, RECV, cx);
        }
        if let Some(e) = state.failed.take() {
            state.failed = Some(replay(&e));
            return Poll::Ready(Err(e));
        }
        if state.core.session().phase() == Phase::Handshake {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Result<Option<Received<Bytes>>, Error>> {
        self.register(RECV, cx);
        let mut state = lock(&self.state);
        if state.inbox.is_none() {
            self.drive(&mut state, RECV, cx);
        }
        if let Some(got) = state.inbox.take() {
            return Poll::Ready(Ok(Some(got)));
        }
        match state.failure() {
            Some(Error::Closed) => Poll::Ready(Ok(None)),
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Pending,
        }
    }

    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        msg: &mut Option<Bytes>,
        ticket: &mut Option<u64>,
    ) -> Poll<Result<Sent, TransmitError>> {
        self.register(SEND, cx);
        let mut state = lock(&self.state);
        let mut drives = 0;
        loop {
            let mut started = false;
            if ticket.is_none() {
                if let Some(e) = state.failure() {
                    return Poll::Ready(Err(TransmitError::Connection(e)));
                }
                if state.in_flight.is_none() && state.core.can_send() {
                    if let Some(msg) = msg.take() {
                        *ticket = Some(state.start_send(msg)?);
                        started = true;
                    }
                }
            }
            if let Some(ticket) = *ticket {
                if let Some(sent) = state.take_outcome(ticket) {
                    return Poll::Ready(Ok(sent));
                }
                if let Some(e) = state.failure() {
                    return Poll::Ready(Err(TransmitError::Connection(e)));
                }
            }
            // Drive once, and once more when the first drive let our message start (a
            // message arriving was completed, or an abandoned send of ours finished).
            if drives > 0 && !started {
                return Poll::Pending;
            }
            self.drive(&mut state, SEND, cx);
            drives += 1;
        }
    }

    async fn send(&self, msg: Bytes) -> Result<Sent, TransmitError> {
        let (mut msg, mut ticket) = (Some(msg), None);
        poll_fn(|cx| self.poll_send(cx, &mut msg, &mut ticket)).await
    }

    async fn recv(&self) -> Result<Option<Received<Bytes>>, Error> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    async fn shutdown(&self) -> io::Result<()> {
        poll_fn(|cx| Pin::new(&mut lock(&self.state).io).poll_shutdown(cx)).await
    }
}

/// A tinyproto connection over a tokio stream, after the init handshake.
///
/// Made by [`connect`](crate::connect), [`Listener::accept`](crate::Listener::accept) or
/// [`ConnectionBuilder::handshake`](crate::ConnectionBuilder::handshake) over any
/// `AsyncRead + AsyncWrite + Unpin` stream. [`into_split`](Connection::into_split) gives a
/// sending and a receiving half for two tasks (or one `select!`).
///
/// The protocol timeouts ([`Timeouts`](crate::Timeouts)) are applied with tokio's timer, so the
/// runtime needs its time driver (`#[tokio::main]` has it) unless they are all `None`.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tinyproto_tokio::{Received, Sent};
/// let mut conn = tinyproto_tokio::connect("localhost:9123").await?;
/// if conn.send("hello").await? == Sent::Written {
///     if let Some(Received::Message(reply)) = conn.recv().await? {
///         println!("Response from server: {}", String::from_utf8_lossy(&reply));
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Connection<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Completes the init handshake over `io` (the handshake timeout applies).
    pub(crate) async fn handshake(
        io: S,
        settings: &ConnSettings,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Self, Error> {
        let shared = Arc::new(Shared::new(io, settings, permit));
        poll_fn(|cx| shared.poll_handshake(cx)).await?;
        Ok(Self { shared })
    }

    /// Sends one message and returns once it is written whole: [`Sent::Written`], or
    /// [`Sent::Rejected`] when the peer refused its size (nothing was sent; the connection goes
    /// on). Owned bytes are sent without a copy: a `Vec<u8>`, a `String`, a `Bytes` (shared
    /// ones too: a broadcast sends every connection's copy from one allocation).
    ///
    /// Errors: [`TransmitError::Send`] (a plugin refused the message, or it is longer than the
    /// protocol allows: nothing was sent, the connection goes on); [`TransmitError::Connection`]
    /// means the connection is closed.
    ///
    /// While a message of the peer is arriving, the send waits for it to be complete
    /// (tinyproto moves one message at a time) and leaves it for `recv`.
    ///
    /// # Cancel safety
    /// Dropping the future undoes nothing: if it is dropped after its message started (the
    /// first poll, unless another message was in flight), the message is still sent whole by
    /// the connection's later polls (any `send` or `recv`), so the stream stays in sync; only
    /// its outcome is lost. Dropped before it started, nothing is sent.
    pub async fn send(&mut self, msg: impl Into<Bytes>) -> Result<Sent, TransmitError> {
        self.shared.send(msg.into()).await
    }

    /// Receives what the peer sends next: [`Received::Message`], or a message that did not
    /// make it and that the connection survives ([`Received::Refused`]: above
    /// [`max_message_size`](crate::ConnectionBuilder::max_message_size), answered `0x00`, no
    /// payload read; [`Received::Discarded`]: a receive plugin refused it). `Ok(None)` when the
    /// peer closed the connection between two messages (a normal end).
    ///
    /// Every error means the connection is closed; a message cut short by the peer is
    /// [`Error::Protocol`] with `ProtocolError::UnexpectedEof`, and nothing of it is delivered.
    ///
    /// Waiting for a message has no time limit: use `tokio::time::timeout`.
    ///
    /// # Cancel safety
    /// Cancel safe: dropped at any point (a timeout, a `select!` branch not taken), it loses
    /// nothing. A message partly read stays in the connection and the next `recv` goes on with
    /// it.
    pub async fn recv(&mut self) -> Result<Option<Received<Bytes>>, Error> {
        self.shared.recv().await
    }

    /// A sending and a receiving half, usable at the same time from different tasks. The
    /// stream closes when both are dropped.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use tinyproto_tokio::Received;
    /// let conn = tinyproto_tokio::connect("localhost:9123").await?;
    /// let (mut tx, mut rx) = conn.into_split();
    /// let reader = tokio::spawn(async move {
    ///     while let Ok(Some(received)) = rx.recv().await {
    ///         if let Received::Message(msg) = received {
    ///             println!("{}", String::from_utf8_lossy(&msg));
    ///         }
    ///     }
    /// });
    /// let _sent = tx.send("hello").await?;
    /// # reader.await?; Ok(()) }
    /// ```
    pub fn into_split(self) -> (SendHalf<S>, RecvHalf<S>) {
        // Nothing waits now (waiting takes `&mut self`); the halves' first polls hand tokio
        // the connection's own waker.
        self.shared.split.store(true, Ordering::Relaxed);
        let send = SendHalf {
            shared: self.shared.clone(),
        };
        (
            send,
            RecvHalf {
                shared: self.shared,
            },
        )
    }

    /// Closes our direction of the stream (a FIN on TCP) and drops the connection. What the
    /// peer sends afterwards is not read.
    pub async fn close(self) -> io::Result<()> {
        self.shared.shutdown().await
    }

    /// Calls `f` with the stream (for its addresses or socket options; reading or writing
    /// through it breaks the protocol).
    pub fn with_stream<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&lock(&self.shared.state).io)
    }
}

impl Connection<tokio::net::TcpStream> {
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.with_stream(|s| s.peer_addr())
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.with_stream(|s| s.local_addr())
    }
}

impl<S> std::fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// The sending half of a [`Connection`] ([`Connection::into_split`]).
pub struct SendHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SendHalf<S> {
    /// Sends one message; see [`Connection::send`].
    pub async fn send(&mut self, msg: impl Into<Bytes>) -> Result<Sent, TransmitError> {
        self.shared.send(msg.into()).await
    }
}

/// The receiving half of a [`Connection`] ([`Connection::into_split`]).
pub struct RecvHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RecvHalf<S> {
    /// Receives the next message; see [`Connection::recv`] (cancel safe).
    pub async fn recv(&mut self) -> Result<Option<Received<Bytes>>, Error> {
        self.shared.recv().await
    }
}
