//! Handles to connections, usable from any thread: send, close, inspect.

use crate::error::{CloseReason, ConnError};
use crate::message::Message;
use crate::reactor::Command;
use crate::reply::{HookSlot, SendReply};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};

/// Identifies a connection for its whole life; never reused within a server or client.
/// (Python uses a UUID.) Displays as its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The way into the reactor thread: a command queue and a waker, woken once per batch.
#[derive(Clone)]
pub(crate) struct Link {
    commands: mpsc::Sender<Command>,
    waker: Arc<mio::Waker>,
    woken: Arc<AtomicBool>,
}

impl Link {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        waker: Arc<mio::Waker>,
    ) -> (Self, Arc<AtomicBool>) {
        let woken = Arc::new(AtomicBool::new(false));
        let link = Self {
            commands,
            waker,
            woken: woken.clone(),
        };
        (link, woken)
    }

    /// Queues a command; false when the reactor is gone.
    pub(crate) fn send(&self, command: Command) -> bool {
        if self.commands.send(command).is_err() {
            return false;
        }
        if !self.woken.swap(true, Ordering::AcqRel) {
            // A failed wake means the reactor is gone; the command is then moot.
            let _ = self.waker.wake();
        }
        true
    }
}

pub(crate) struct Shared {
    pub(crate) id: ConnId,
    pub(crate) key: usize,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) queued: AtomicUsize,
    pub(crate) max_queued: usize,
    pub(crate) queued_bytes: AtomicUsize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) closed: OnceLock<CloseReason>,
    pub(crate) link: Link,
    /// Where the I/O thread answers this connection's waiting hook.
    pub(crate) hook_slot: HookSlot,
}

impl Shared {
    /// The state of connection `id` (slab `key`), as yet with nothing queued; sends to it are
    /// bounded by `max_queued` messages and `max_queued_bytes`.
    pub(crate) fn new(
        (id, key): (ConnId, usize),
        (peer, local): (SocketAddr, SocketAddr),
        (max_queued, max_queued_bytes): (usize, usize),
        link: Link,
    ) -> Self {
        Self {
            id,
            key,
            peer,
            local,
            queued: AtomicUsize::new(0),
            max_queued,
            queued_bytes: AtomicUsize::new(0),
            max_queued_bytes,
            closed: OnceLock::new(),
            link,
            hook_slot: HookSlot::default(),
        }
    }

    /// Counts a message of `len` bytes into the queue, within both limits.
    pub(crate) fn reserve(&self, len: usize) -> Result<(), ConnError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(ConnError::QueueFull);
        }
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before.saturating_add(len) > self.max_queued_bytes {
            self.release(len);
            return Err(ConnError::QueueFull);
        }
        Ok(())
    }

    /// Counts a message of `len` bytes out of the queue.
    pub(crate) fn release(&self, len: usize) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

/// A cloneable, thread-safe handle to one connection: send to it, close it, see who it is.
///
/// Sends are queued and go out in order, one message at a time, between the messages the peer
/// sends; the call does not wait for the bytes to move.
#[derive(Clone)]
pub struct ConnectionHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ConnectionHandle {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.shared.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    /// Our end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.shared.closed.get().is_none()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.closed.get().cloned()
    }

    /// Queues `msg` to be sent; returns at once. A `Vec<u8>` is moved and sent without a
    /// copy; borrowed bytes are copied once.
    ///
    /// Errors: [`ConnError::Closed`] when the connection is closed, [`ConnError::QueueFull`]
    /// when too many messages or bytes wait already. Failures of the send itself close the
    /// connection (see [`ServerHooks::conn_shutdown`](crate::ServerHooks::conn_shutdown)) or,
    /// for a refusal by the peer, drop that message.
    pub fn send(&self, msg: impl Into<Message>) -> Result<(), ConnError> {
        self.send_shared(msg.into(), None)
    }

    /// Sends `msg` and waits until it is written (after the messages queued before it), from
    /// any thread; what [`Conn::transmit`](crate::Conn::transmit) does inside a hook.
    ///
    /// [`ConnError::Rejected`] means the peer refused its size; the connection stays usable.
    ///
    /// On the I/O thread (inside an [inline hook](crate::ServerBuilder::inline_hooks)) it
    /// cannot wait: [`ConnError::WouldBlockInline`]; use [`ConnectionHandle::send`].
    pub fn transmit(&self, msg: impl Into<Message>) -> Result<(), ConnError> {
        if crate::sync::on_io_thread() {
            return Err(ConnError::WouldBlockInline);
        }
        let (tx, rx) = mpsc::channel();
        self.send_shared(msg.into(), Some(SendReply::Channel(tx)))?;
        rx.recv()
            .unwrap_or(Err(ConnError::Closed(CloseReason::Shutdown)))
    }

    /// Closes the connection: queued messages are dropped, the connection's `post_loop` runs.
    pub fn close(&self) {
        self.shared.link.send(Command::Close {
            conn: self.shared.clone(),
            reason: CloseReason::Local,
        });
    }

    pub(crate) fn send_shared(
        &self,
        msg: Message,
        reply: Option<SendReply>,
    ) -> Result<(), ConnError> {
        if let Some(reason) = self.close_reason() {
            return Err(ConnError::Closed(reason));
        }
        self.shared.reserve(msg.len())?;
        let sent = self.shared.link.send(Command::Send {
            conn: self.shared.clone(),
            msg,
            reply,
        });
        if sent {
            Ok(())
        } else {
            Err(ConnError::Closed(CloseReason::Shutdown))
        }
    }
}

impl fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionHandle")
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .field("open", &self.is_open())
            .finish()
    }
}
