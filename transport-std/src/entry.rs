//! One connection with hooks, as a sans-IO state machine: its lifecycle ([`Life`]), protocol
//! state, queues and hook state.
//!
//! An [`Entry`] does no I/O of its own choosing and reads no clock: its driver (the reactor)
//! hands it the time and drives it when its stream is ready, and it moves bytes only through
//! its [`Stream`] (a non-blocking `mio` socket, or a script in the unit tests below). Hook
//! calls come out of [`Entry::next_call`] and their end goes back in through
//! [`Entry::hook_done`]: the reactor runs them on hook threads or inline, the tests run them
//! directly.

use crate::budget::Budget;
use crate::error::{CloseReason, ConnError, StartError};
use crate::handle::ConnectionHandle;
use crate::hooks::{Conn, Handler};
use crate::mailbox::{ConnectReply, SendReply};
use crate::message::Message;
use crate::protocol::{shrink_tx, ProtoConnection};
use crate::reply::HookAnswer;
use crate::transport::{ReadAhead, SocketIo};
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Duration;
use tinyproto_core::buffer::Buffer;
use tinyproto_core::connection::Event;
use tinyproto_core::session::Phase;

/// Most protocol events (messages, refusals, sends) one drive handles before the other
/// connections get their turn: a peer streaming refused headers cannot hold the I/O thread.
const EVENTS_PER_DRIVE: usize = 32;

/// A hook call waiting for its turn.
pub(crate) enum Call {
    PreLoop,
    Received(Vec<u8>),
    LoopPass,
    PostLoop,
    /// A send nobody waits for failed and the connection goes on.
    TransmissionFailed(ConnError),
}

impl Call {
    pub(crate) fn run(self, handler: &mut dyn Handler, conn: &mut Conn) {
        match self {
            Call::PreLoop => handler.pre_loop(conn),
            Call::Received(msg) => handler.transmission_received(conn, msg),
            Call::LoopPass => handler.loop_pass(conn),
            Call::PostLoop => handler.post_loop(conn),
            Call::TransmissionFailed(e) => handler.transmission_failed(conn, e),
        }
    }
}

/// Where a connection is in its life. The stream exists only while it is open, a message
/// flies and a hook waits in `receive` only once the handshake is done, and a closed
/// connection keeps only why it closed.
///
/// An explicit tag (not one hidden in a niche of the stream's fields): a drive matches the
/// life several times, and each match then reads one byte.
#[repr(u8)]
enum Life<S> {
    /// Waiting for the peer's init byte; `connected`: a client's `connect` waits for the end.
    Handshaking {
        stream: S,
        connected: Option<ConnectReply>,
    },
    /// The handshake is done (`pre_loop` was queued): messages flow both ways.
    Open {
        stream: S,
        flight: Flight,
        /// A hook waits in `receive` (answered on its connection's hook slot).
        receiving: bool,
    },
    /// Closed (the stream handed back to be closed); hooks may still run (`post_loop`, or one
    /// that ran at the close) until [`Entry::finished`].
    Closed { reason: CloseReason },
}

/// Our message on its way out, and who waits for its end.
enum Flight {
    Idle,
    /// A message is being sent; `None`: nobody waits (a failure goes to
    /// `transmission_failed`).
    Sending(Option<SendReply>),
}

enum HandlerState {
    /// Not made yet: the first hook call makes it, on a hook thread.
    Unmade,
    Idle(Box<dyn Handler>),
    /// A hook runs; `len`: the message it was handed, which still counts in the budget.
    Running {
        len: usize,
    },
    /// A hook panicked: no more calls.
    Gone,
}

struct Outgoing {
    msg: Message,
    reply: Option<SendReply>,
}

/// What a connection's bytes move through: non-blocking, `WouldBlock` when not ready.
pub(crate) trait Stream: Read + Write {
    /// For a stream whose bytes are in memory already (the connection thread's
    /// [`Fed`](crate::threads::Fed)), whether none is left: such a stream is read as the
    /// protocol asks, with no read ahead (a read that finds nothing costs no system call).
    /// `None` for a socket, whose reads go ahead ([`ReadAhead`]).
    fn fed_dry(&self) -> Option<bool> {
        None
    }
}

impl Stream for TcpStream {}

pub(crate) struct Entry<S: Stream = TcpStream> {
    pub(crate) handle: ConnectionHandle,
    life: Life<S>,
    conn: ProtoConnection,
    handler: HandlerState,
    calls: VecDeque<Call>,
    outbox: VecDeque<Outgoing>,
    read_ahead: ReadAhead,
    /// Largest message accepted from the peer while the server's budget has room.
    max_message_size: usize,
    /// Bytes of the server's message budget this connection holds ([`Entry::budget_held`]).
    held: usize,
    /// The earliest timer queued for this entry.
    pub(crate) timer_at: Option<u64>,
    /// When the next connection tick is due.
    pub(crate) tick_at: Option<u64>,
}

impl<S: Stream> Entry<S> {
    /// A connection over `stream` that starts with the init handshake; `connected` learns
    /// how the handshake ended.
    pub(crate) fn new(
        handle: ConnectionHandle,
        stream: S,
        mut conn: ProtoConnection,
        connected: Option<ConnectReply>,
    ) -> Self {
        Self {
            max_message_size: conn.rx_buffer_mut().limit(),
            held: 0,
            handle,
            life: Life::Handshaking { stream, connected },
            conn,
            handler: HandlerState::Unmade,
            calls: VecDeque::new(),
            outbox: VecDeque::new(),
            read_ahead: ReadAhead::default(),
            timer_at: None,
            tick_at: None,
        }
    }

    /// Not closed yet.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(self.life, Life::Closed { .. })
    }

    /// The stream, while open.
    pub(crate) fn stream_mut(&mut self) -> Option<&mut S> {
        match &mut self.life {
            Life::Handshaking { stream, .. } | Life::Open { stream, .. } => Some(stream),
            Life::Closed { .. } => None,
        }
    }

    /// The announced length of the message whose payload is arriving (its next bytes are
    /// then all the peer may send now), if one is.
    pub(crate) fn payload_arriving(&self) -> Option<usize> {
        (self.conn.session().receiving_len()).map(|len| len as usize)
    }

    /// Bytes are owed to the peer that the stream did not take yet (an answer, a header, or
    /// the rest of a payload): only a later drive writes them.
    pub(crate) fn owes_output(&self) -> bool {
        let session = self.conn.session();
        self.is_open()
            && (!session.pending_output().is_empty() || session.phase() == Phase::SendingPayload)
    }

    /// Takes the handler out, to drop it where the driver chooses (no more hooks run).
    pub(crate) fn take_handler(&mut self) -> Option<Box<dyn Handler>> {
        match std::mem::replace(&mut self.handler, HandlerState::Gone) {
            HandlerState::Idle(handler) => Some(handler),
            _ => None,
        }
    }

    /// The handshake is done and the connection not closed: its hooks may tick.
    pub(crate) fn is_established(&self) -> bool {
        matches!(self.life, Life::Open { .. })
    }

    /// A readiness event said new bytes may have arrived (`ended`: and the peer's close or an
    /// error).
    pub(crate) fn readable(&mut self, ended: bool) {
        self.read_ahead.readable(ended);
    }

    /// When the protocol wants to be polled again (a timeout, or at once).
    pub(crate) fn poll_at(&self) -> Option<u64> {
        self.is_open().then(|| self.conn.poll_at()).flatten()
    }

    /// Moves what can move now, handling at most [`EVENTS_PER_DRIVE`] events; an error is why
    /// the connection must close. `Ok(true)`: the budget ran out with work left, so the driver
    /// must drive this connection again after the others had their turn.
    ///
    /// A header is accepted only if its message fits in what `budget` has left (else it is
    /// answered `0x00`, as an oversize one); what the connection holds is settled in `budget`.
    pub(crate) fn drive(&mut self, now: u64, budget: &mut Budget) -> Result<bool, CloseReason> {
        for _ in 0..EVENTS_PER_DRIVE {
            self.start_send();
            self.settle(budget);
            if self.is_still() {
                return Ok(false);
            }
            // What the poll changed is settled before the drive returns.
            match self.poll(now, budget.room()) {
                Ok(Some(event)) => self.on_event(event),
                Ok(None) => {
                    self.settle(budget);
                    return Ok(false);
                }
                Err(e) => {
                    self.settle(budget);
                    return Err(e.into());
                }
            }
        }
        self.settle(budget);
        Ok(true)
    }

    /// One poll of the protocol, which may accept messages up to `room` bytes (what the
    /// budget has left); `Ok(None)` too once closed.
    fn poll(
        &mut self,
        now: u64,
        room: usize,
    ) -> Result<Option<Event>, tinyproto_core::Error<io::Error>> {
        self.conn.set_receive_limit(self.max_message_size.min(room));
        let reads = self.may_read();
        let stream = match &mut self.life {
            Life::Handshaking { stream, .. } | Life::Open { stream, .. } => stream,
            Life::Closed { .. } => return Ok(None),
        };
        let mut io = match stream.fed_dry() {
            // A dry one would only say `WouldBlock`: not asked at all.
            Some(dry) => SocketIo::new(stream, reads && !dry),
            None => SocketIo::reading_ahead(stream, reads, &mut self.read_ahead),
        };
        self.conn.poll(&mut io, now)
    }

    /// What the connection holds of the server's message budget: the announced length of
    /// the message arriving, and the messages received whose hook has not returned.
    fn budget_held(&self) -> usize {
        let arriving = self.payload_arriving().unwrap_or(0);
        let queued: usize = (self.calls.iter())
            .map(|call| match call {
                Call::Received(msg) => msg.len(),
                _ => 0,
            })
            .sum();
        let running = match self.handler {
            HandlerState::Running { len } => len,
            _ => 0,
        };
        arriving + queued + running
    }

    fn settle(&mut self, budget: &mut Budget) {
        let held = self.budget_held();
        budget.settle(&mut self.held, held);
    }

    /// Gives back what the connection holds of the budget (it is being removed).
    pub(crate) fn release_budget(&mut self, budget: &mut Budget) {
        budget.settle(&mut self.held, 0);
    }

    /// Nothing can move now, so a poll would do nothing: between messages with nothing to
    /// write or send, nothing to read (reads paused, or none until the next readiness event),
    /// and no timer of the protocol running. An echo then costs no poll after its message was
    /// delivered, nor after its answer was sent.
    fn is_still(&self) -> bool {
        let session = self.conn.session();
        session.phase() == Phase::Idle
            && session.pending_output().is_empty()
            && self.outbox.is_empty()
            && (self.is_dry() || !self.may_read())
            && self.conn.poll_at().is_none()
    }

    /// Nothing to read until more bytes come: from the stream in memory, or (from a socket)
    /// until the next readiness event.
    fn is_dry(&self) -> bool {
        let fed = match &self.life {
            Life::Handshaking { stream, .. } | Life::Open { stream, .. } => stream.fed_dry(),
            Life::Closed { .. } => None,
        };
        fed.unwrap_or_else(|| self.read_ahead.is_dry())
    }

    /// Reading is paused between messages while a hook runs or waits its turn, so that a peer
    /// cannot pile up messages in memory: TCP flow control holds it back instead. A message
    /// that began arriving is read to its end (a slow hook must not make the peer look
    /// stalled); the handshake, the status byte of our own message, and a hook waiting in
    /// `receive` read too.
    fn may_read(&self) -> bool {
        let hooks_free = matches!(self.handler, HandlerState::Idle(_) | HandlerState::Unmade)
            && self.calls.is_empty();
        let waiting = match &self.life {
            Life::Open {
                flight, receiving, ..
            } => *receiving || matches!(flight, Flight::Sending(_)),
            _ => false,
        };
        self.conn.session().phase() != Phase::Idle || waiting || hooks_free
    }

    /// Starts sending the next queued message if none is on its way.
    fn start_send(&mut self) {
        while self.conn.can_send() {
            let Life::Open {
                flight: flight @ Flight::Idle,
                ..
            } = &mut self.life
            else {
                return;
            };
            let Some(out) = self.outbox.pop_front() else {
                return;
            };
            self.handle.shared.release(out.msg.len());
            // Sent from where it is: an owned or shared message is not copied.
            self.conn.tx_buffer_mut().load(out.msg);
            match self.conn.send_buffered() {
                Ok(()) => *flight = Flight::Sending(out.reply),
                Err(e) => {
                    shrink_tx(&mut self.conn);
                    self.failed(out.reply, ConnError::Send(e));
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::HandshakeDone => self.established(),
            Event::Sent => self.sent(Ok(())),
            Event::Rejected { len } => self.sent(Err(ConnError::Rejected { len })),
            // We refused an oversize message (answered `0x00`), or a receive plugin refused
            // one: the stream is in sync and the connection goes on, as in Python 2.0.1.
            Event::Refused { .. } | Event::Discarded(_) => {}
            Event::Received => {
                let msg = self.conn.rx_buffer_mut().take();
                self.deliver(msg);
            }
        }
    }

    /// The handshake is done: `pre_loop` is queued and a waiting `connect` answered.
    fn established(&mut self) {
        let placeholder = Life::Closed {
            reason: CloseReason::Local,
        };
        self.life = match std::mem::replace(&mut self.life, placeholder) {
            Life::Handshaking { stream, connected } => {
                if let Some(connected) = connected {
                    let _ = connected.send(Ok(self.handle.shared.clone()));
                }
                self.calls.push_back(Call::PreLoop);
                Life::Open {
                    stream,
                    flight: Flight::Idle,
                    receiving: false,
                }
            }
            other => other,
        };
    }

    fn sent(&mut self, result: Result<(), ConnError>) {
        shrink_tx(&mut self.conn);
        let Life::Open { flight, .. } = &mut self.life else {
            return;
        };
        match (std::mem::replace(flight, Flight::Idle), result) {
            (Flight::Sending(waiting), Err(e)) => self.failed(waiting, e),
            (Flight::Sending(waiting), ok) => reply(waiting, ok),
            (Flight::Idle, _) => {}
        }
    }

    /// A send failed and the connection goes on: the waiting caller learns it, or else
    /// `transmission_failed`.
    fn failed(&mut self, waiting: Option<SendReply>, error: ConnError) {
        match waiting {
            Some(waiting) => waiting.send(Err(error)),
            None => self.calls.push_back(Call::TransmissionFailed(error)),
        }
    }

    /// Hands a message to a hook waiting in `receive`, or queues it for
    /// `transmission_received`.
    fn deliver(&mut self, msg: Vec<u8>) {
        match &mut self.life {
            Life::Open { receiving, .. } if *receiving => {
                *receiving = false;
                self.answer_receive(Ok(msg));
            }
            _ => self.calls.push_back(Call::Received(msg)),
        }
    }

    /// Queues `msg` to be sent after those queued before; on a closed connection, `reply`
    /// learns it at once. The message is counted in the connection's queue (`reserve`d).
    pub(crate) fn queue(&mut self, msg: Message, reply: Option<SendReply>) {
        if let Life::Closed { reason } = &self.life {
            self.handle.shared.release(msg.len());
            if let Some(reply) = reply {
                reply.send(Err(ConnError::Closed(reason.clone())));
            }
            return;
        }
        self.outbox.push_back(Outgoing { msg, reply });
    }

    /// A hook waits in `receive`: give it a queued message, or let the next one through.
    pub(crate) fn receive(&mut self) {
        let error = match &mut self.life {
            Life::Open { receiving, .. } => {
                let queued = (self.calls.iter()).position(|c| matches!(c, Call::Received(_)));
                match queued.and_then(|i| self.calls.remove(i)) {
                    Some(Call::Received(msg)) => self.answer_receive(Ok(msg)),
                    _ => *receiving = true,
                }
                return;
            }
            // Hooks run only after the handshake: no receive comes before it.
            Life::Handshaking { .. } => ConnError::Closed(CloseReason::Local),
            Life::Closed { reason } => ConnError::Closed(reason.clone()),
        };
        self.answer_receive(Err(error));
    }

    /// A hook's `receive` timed out: it is answered [`ConnError::Timeout`], unless a message
    /// answered it first.
    pub(crate) fn cancel_receive(&mut self) {
        if let Life::Open { receiving, .. } = &mut self.life {
            if std::mem::take(receiving) {
                self.answer_receive(Err(ConnError::Timeout));
            }
        }
    }

    fn answer_receive(&self, result: Result<Vec<u8>, ConnError>) {
        let slot = &self.handle.shared.hook_slot;
        slot.put(HookAnswer::Received(result));
    }

    /// Queues the tick's `loop_pass` unless one is waiting already.
    pub(crate) fn tick(&mut self) {
        if !self.calls.iter().any(|c| matches!(c, Call::LoopPass)) {
            self.calls.push_back(Call::LoopPass);
        }
    }

    /// Queues the tick's `loop_pass` if its time ([`Entry::tick_at`]) came; true if it did.
    pub(crate) fn tick_if_due(&mut self, now: u64) -> bool {
        if self.tick_at.is_none_or(|at| at > now) {
            return false;
        }
        self.tick_at = None;
        self.tick();
        true
    }

    /// Schedules the next connection tick, `every` from `now`, on an established connection
    /// without one; the time it set, if it did.
    pub(crate) fn arm_tick(&mut self, now: u64, every: Option<Duration>) -> Option<u64> {
        let (Some(every), true, None) = (every, self.is_established(), self.tick_at) else {
            return None;
        };
        let at = now + u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        self.tick_at = Some(at);
        Some(at)
    }

    /// The next hook call, if the handler is free: `None` inside means "make the handler".
    pub(crate) fn next_call(&mut self) -> Option<(Option<Box<dyn Handler>>, Call)> {
        if !matches!(self.handler, HandlerState::Idle(_) | HandlerState::Unmade) {
            return None;
        }
        let call = self.calls.pop_front()?;
        let len = match &call {
            Call::Received(msg) => msg.len(),
            _ => 0,
        };
        let handler = match std::mem::replace(&mut self.handler, HandlerState::Running { len }) {
            HandlerState::Idle(handler) => Some(handler),
            _ => None,
        };
        Some((handler, call))
    }

    /// A hook returned (`None`: it panicked); an error is why the connection must close.
    pub(crate) fn hook_done(
        &mut self,
        handler: Option<Box<dyn Handler>>,
        shutdown: bool,
    ) -> Option<CloseReason> {
        match handler {
            Some(handler) => {
                self.handler = HandlerState::Idle(handler);
                shutdown.then_some(CloseReason::Local)
            }
            None => {
                self.handler = HandlerState::Gone;
                self.calls.clear();
                Some(CloseReason::HookPanicked)
            }
        }
    }

    /// Fails everything waiting and queues `post_loop` if `pre_loop` was queued; the stream
    /// is handed back to be closed (`None`: it was closed before).
    #[must_use = "the stream is closed by dropping it (after deregistering it)"]
    pub(crate) fn close(&mut self, reason: CloseReason) -> Option<S> {
        if !self.is_open() {
            return None;
        }
        let closed = Life::Closed {
            reason: reason.clone(),
        };
        let life = std::mem::replace(&mut self.life, closed);
        self.conn.close();
        let _ = self.handle.shared.closed.set(reason.clone());
        let error = || ConnError::Closed(reason.clone());
        for out in self.outbox.drain(..) {
            self.handle.shared.release(out.msg.len());
            reply(out.reply, Err(error()));
        }
        let (stream, established) = match life {
            Life::Handshaking { stream, connected } => {
                if let Some(connected) = connected {
                    let _ = connected.send(Err(StartError::Handshake(reason.clone())));
                }
                (stream, false)
            }
            Life::Open {
                stream,
                flight,
                receiving,
            } => {
                if let Flight::Sending(waiting) = flight {
                    reply(waiting, Err(error()));
                }
                if receiving {
                    self.answer_receive(Err(error()));
                }
                (stream, true)
            }
            Life::Closed { .. } => return None,
        };
        match self.handler {
            HandlerState::Gone => {}
            _ if established => self.calls.push_back(Call::PostLoop),
            _ => self.calls.clear(),
        }
        Some(stream)
    }

    /// Why it closed, even while a hook still runs.
    pub(crate) fn close_reason(&self) -> Option<&CloseReason> {
        match &self.life {
            Life::Closed { reason } => Some(reason),
            _ => None,
        }
    }

    /// Closed, and no hook runs or waits: the entry can go, with this reason.
    pub(crate) fn finished(&self) -> Option<&CloseReason> {
        let idle = !matches!(self.handler, HandlerState::Running { .. });
        self.close_reason()
            .filter(|_| idle && self.calls.is_empty())
    }
}

fn reply(to: Option<SendReply>, result: Result<(), ConnError>) {
    if let Some(to) = to {
        to.send(result);
    }
}

impl<S: Stream> Drop for Entry<S> {
    /// A caller still waiting (only if the I/O thread dies, or a shutdown gave up on a stuck
    /// hook) gets an answer rather than none.
    fn drop(&mut self) {
        let stopped = || ConnError::Closed(CloseReason::Shutdown);
        for out in self.outbox.drain(..) {
            reply(out.reply, Err(stopped()));
        }
        if let Life::Open {
            flight, receiving, ..
        } = &mut self.life
        {
            if let Flight::Sending(waiting) = std::mem::replace(flight, Flight::Idle) {
                reply(waiting, Err(stopped()));
            }
            if std::mem::take(receiving) {
                self.answer_receive(Err(stopped()));
            }
        }
    }
}

#[cfg(test)]
mod tests;
