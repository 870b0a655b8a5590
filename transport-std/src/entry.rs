//! One connection inside the reactor: its socket, protocol state, queues and hook state.

use crate::error::{CloseReason, ConnError, StartError};
use crate::handle::ConnectionHandle;
use crate::hooks::{Conn, Handler};
use crate::message::{Message, MessageBuffer};
use crate::reply::{HookAnswer, SendReply};
use crate::transport::{ReadAhead, SocketIo};
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::sync::mpsc;
use tinyproto_core::connection::{Connection, Event};
use tinyproto_core::session::Phase;
use tinyproto_core::Plugin;

/// A send buffer that grew past this is freed once its message is out.
const KEEP_TX_CAPACITY: usize = 16 * 1024;
/// Most protocol events (messages, refusals, sends) one drive handles before the other
/// connections get their turn: a peer streaming refused headers cannot hold the I/O thread.
const EVENTS_PER_DRIVE: usize = 32;

pub(crate) type ConnectReply = mpsc::Sender<Result<ConnectionHandle, StartError>>;
pub(crate) type ProtoConnection =
    Connection<MessageBuffer, MessageBuffer, Vec<Box<dyn Plugin + Send>>>;

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

enum HandlerState {
    /// Not made yet: the first hook call makes it, on a hook thread.
    Unmade,
    Idle(Box<dyn Handler>),
    Running,
    /// A hook panicked: no more calls.
    Gone,
}

struct Outgoing {
    msg: Message,
    reply: Option<SendReply>,
}

pub(crate) struct Entry {
    pub(crate) handle: ConnectionHandle,
    stream: Option<TcpStream>,
    conn: ProtoConnection,
    handler: HandlerState,
    calls: VecDeque<Call>,
    outbox: VecDeque<Outgoing>,
    /// The reply for the message in flight (`Some(None)`: a send nobody waits for).
    sending: Option<Option<SendReply>>,
    /// A hook waits in `receive` (answered on its connection's hook slot).
    receiving: bool,
    read_ahead: ReadAhead,
    connected: Option<ConnectReply>,
    opened: bool,
    reason: Option<CloseReason>,
    /// The earliest timer queued for this entry.
    pub(crate) timer_at: Option<u64>,
    /// When the next connection tick is due.
    pub(crate) tick_at: Option<u64>,
}

impl Entry {
    pub(crate) fn new(
        handle: ConnectionHandle,
        stream: TcpStream,
        conn: ProtoConnection,
        connected: Option<ConnectReply>,
    ) -> Self {
        Self {
            handle,
            stream: Some(stream),
            conn,
            handler: HandlerState::Unmade,
            calls: VecDeque::new(),
            outbox: VecDeque::new(),
            sending: None,
            receiving: false,
            read_ahead: ReadAhead::default(),
            connected,
            opened: false,
            reason: None,
            timer_at: None,
            tick_at: None,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// A readiness event said new bytes may have arrived (`ended`: and the peer's close or an
    /// error).
    pub(crate) fn readable(&mut self, ended: bool) {
        self.read_ahead.readable(ended);
    }

    pub(crate) fn opened(&self) -> bool {
        self.opened
    }

    /// When the protocol wants to be polled again (a timeout, or at once).
    pub(crate) fn poll_at(&self) -> Option<u64> {
        self.stream.as_ref().and(self.conn.poll_at())
    }

    /// Moves what can move now, handling at most [`EVENTS_PER_DRIVE`] events; an error is why
    /// the connection must close. `Ok(true)`: the budget ran out with work left, so the reactor
    /// must drive this connection again after the others had their turn.
    pub(crate) fn drive(&mut self, now: u64) -> Result<bool, CloseReason> {
        for _ in 0..EVENTS_PER_DRIVE {
            self.start_send();
            let reads = self.may_read();
            let Some(stream) = self.stream.as_mut() else {
                return Ok(false);
            };
            let mut io = SocketIo::reading_ahead(stream, reads, &mut self.read_ahead);
            match self.conn.poll(&mut io, now) {
                Ok(None) => return Ok(false),
                Ok(Some(event)) => self.on_event(event),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Reading is paused between messages while a hook runs or waits its turn, so that a peer
    /// cannot pile up messages in memory: TCP flow control holds it back instead. A message
    /// that began arriving is read to its end (a slow hook must not make the peer look
    /// stalled); the handshake, the status byte of our own message, and a hook waiting in
    /// `receive` read too.
    fn may_read(&self) -> bool {
        let hooks_free = matches!(self.handler, HandlerState::Idle(_) | HandlerState::Unmade)
            && self.calls.is_empty();
        self.conn.session().phase() != Phase::Idle
            || self.sending.is_some()
            || self.receiving
            || hooks_free
    }

    fn start_send(&mut self) {
        while self.sending.is_none() && self.conn.can_send() {
            let Some(out) = self.outbox.pop_front() else {
                return;
            };
            self.handle.shared.release(out.msg.len());
            // Sent from where it is: an owned or shared message is not copied.
            self.conn.tx_buffer_mut().load(out.msg);
            match self.conn.send_buffered() {
                Ok(()) => self.sending = Some(out.reply),
                Err(e) => {
                    shrink_tx(&mut self.conn);
                    self.failed(out.reply, ConnError::Send(e));
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::HandshakeDone => {
                self.opened = true;
                self.calls.push_back(Call::PreLoop);
                if let Some(connected) = self.connected.take() {
                    let _ = connected.send(Ok(self.handle.clone()));
                }
            }
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

    fn sent(&mut self, result: Result<(), ConnError>) {
        shrink_tx(&mut self.conn);
        match (self.sending.take(), result) {
            (Some(waiting), Err(e)) => self.failed(waiting, e),
            (Some(waiting), ok) => reply(waiting, ok),
            (None, _) => {}
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
        if std::mem::take(&mut self.receiving) {
            self.answer_receive(Ok(msg));
        } else {
            self.calls.push_back(Call::Received(msg));
        }
    }

    pub(crate) fn queue(&mut self, msg: Message, reply: Option<SendReply>) {
        self.outbox.push_back(Outgoing { msg, reply });
    }

    /// A hook waits in `receive`: give it a queued message, or let the next one through.
    pub(crate) fn receive(&mut self) {
        if let Some(reason) = &self.reason {
            self.answer_receive(Err(ConnError::Closed(reason.clone())));
            return;
        }
        let queued = self
            .calls
            .iter()
            .position(|c| matches!(c, Call::Received(_)));
        match queued.and_then(|i| self.calls.remove(i)) {
            Some(Call::Received(msg)) => self.answer_receive(Ok(msg)),
            _ => self.receiving = true,
        }
    }

    pub(crate) fn cancel_receive(&mut self) {
        if std::mem::take(&mut self.receiving) {
            self.answer_receive(Err(ConnError::Timeout));
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

    /// The next hook call, if the handler is free: `None` inside means "make the handler".
    pub(crate) fn next_call(&mut self) -> Option<(Option<Box<dyn Handler>>, Call)> {
        let handler = match &self.handler {
            HandlerState::Idle(_) | HandlerState::Unmade if !self.calls.is_empty() => {
                std::mem::replace(&mut self.handler, HandlerState::Running)
            }
            _ => return None,
        };
        let call = self.calls.pop_front()?;
        Some((
            match handler {
                HandlerState::Idle(h) => Some(h),
                _ => None,
            },
            call,
        ))
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

    /// Closes the socket, fails everything waiting, and queues `post_loop` if `pre_loop` ran.
    pub(crate) fn close(&mut self, reason: CloseReason, registry: &mio::Registry) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        let _ = registry.deregister(&mut stream);
        drop(stream);
        self.conn.close();
        let _ = self.handle.shared.closed.set(reason.clone());
        let closed = || ConnError::Closed(reason.clone());
        for out in self.outbox.drain(..) {
            self.handle.shared.release(out.msg.len());
            reply(out.reply, Err(closed()));
        }
        if let Some(waiting) = self.sending.take() {
            reply(waiting, Err(closed()));
        }
        if std::mem::take(&mut self.receiving) {
            self.answer_receive(Err(closed()));
        }
        if let Some(connected) = self.connected.take() {
            let _ = connected.send(Err(StartError::Handshake(reason.clone())));
        }
        match self.handler {
            HandlerState::Gone => {}
            _ if self.opened => self.calls.push_back(Call::PostLoop),
            _ => self.calls.clear(),
        }
        self.reason = Some(reason);
    }

    /// Why it closed, even while a hook still runs.
    pub(crate) fn finished_or_not(&self) -> Option<CloseReason> {
        self.reason.clone()
    }

    /// Closed, and no hook runs or waits: the entry can go, with this reason.
    pub(crate) fn finished(&self) -> Option<&CloseReason> {
        let idle = !matches!(self.handler, HandlerState::Running);
        match &self.reason {
            Some(reason) if idle && self.calls.is_empty() => Some(reason),
            _ => None,
        }
    }
}

/// Lets go of the message sent: a shared one is released, a large one freed, so that an idle
/// connection stays small.
pub(crate) fn shrink_tx(conn: &mut ProtoConnection) {
    let tx = conn.tx_buffer_mut();
    if tx.capacity() == 0 || tx.capacity() > KEEP_TX_CAPACITY {
        tx.release();
    }
}

fn reply(to: Option<SendReply>, result: Result<(), ConnError>) {
    if let Some(to) = to {
        to.send(result);
    }
}

impl Drop for Entry {
    /// A hook still waiting (only if the I/O thread dies) gets an answer rather than none.
    fn drop(&mut self) {
        let stopped = || ConnError::Closed(CloseReason::Shutdown);
        if let Some(Some(waiting)) = self.sending.take() {
            waiting.send(Err(stopped()));
        }
        for out in self.outbox.drain(..) {
            reply(out.reply, Err(stopped()));
        }
        if self.receiving {
            self.answer_receive(Err(stopped()));
        }
    }
}
