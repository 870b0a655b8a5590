//! The reactor's mailbox: what handles and hooks on other threads ask of the I/O thread
//! ([`Command`]), the way in ([`Link`]), the state a connection shares with its handles
//! ([`Shared`]), and where answers go ([`SendReply`], [`ConnectReply`]).
//!
//! A leaf of the crate's imports: handles, hooks and the reactor all speak it, and it names
//! none of them (a hook call's end, which carries the handler back, travels on the reactor's
//! own channel).

use crate::error::{CloseReason, ConnError, StartError};
use crate::message::Message;
use crate::reply::{HookAnswer, HookSlot};
use crate::serial::ConnSerial;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock, Weak};
use std::time::Instant;
use tinyproto_core::session::SendError;
use tinyproto_core::wire::MSG_MAX_SIZE;

/// What hooks and handles ask of the I/O thread.
pub(crate) enum Command {
    Send {
        conn: Arc<Shared>,
        msg: Message,
        reply: Option<SendReply>,
    },
    Broadcast {
        msg: Arc<[u8]>,
        except: Option<ConnSerial>,
    },
    /// A hook waits in `receive`; answered on the connection's hook slot.
    Receive {
        conn: Arc<Shared>,
    },
    CancelReceive {
        conn: Arc<Shared>,
    },
    Close {
        conn: Arc<Shared>,
        reason: CloseReason,
    },
    /// A client's connected socket, to run the handshake on; answered once it is done.
    Adopt {
        stream: std::net::TcpStream,
        reply: ConnectReply,
    },
    Shutdown,
}

/// Where a client's `connect` waits for the end of the handshake.
pub(crate) type ConnectReply = mpsc::Sender<Result<Arc<Shared>, StartError>>;

/// Wakes the reactor thread when a command waits: its `mio::Waker`, or a test's stand-in.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

impl Wake for mio::Waker {
    fn wake(&self) {
        // A failed wake means the reactor is gone; whatever was queued is then moot.
        let _ = mio::Waker::wake(self);
    }
}

/// Runs commands at once, on the caller's thread: a connection of the thread-per-connection
/// mode, or such a server or client as a whole.
pub(crate) trait Mailbox: Send + Sync {
    /// Runs `command`; false when it has no meaning here or the receiver is gone.
    fn command(&self, command: Command) -> bool;
}

/// A connection that the waiting hook's own thread drives (thread-per-connection mode).
pub(crate) trait Pump: Send + Sync {
    /// Moves the connection's bytes until the hook's answer is in `slot` (its connection's);
    /// `None` once `deadline` passed, or if the connection closed without answering.
    fn wait_answer(&self, slot: &HookSlot, deadline: Option<Instant>) -> Option<HookAnswer>;

    /// Runs `command` (a hook's send or receive) on the caller's thread, then waits as
    /// [`Pump::wait_answer`] does, in one hold of the connection's lock: no mailbox between.
    /// `Err(())`: the command has no meaning for a connection.
    fn command_and_wait(
        &self,
        command: Command,
        slot: &HookSlot,
        deadline: Option<Instant>,
    ) -> Result<Option<HookAnswer>, ()>;
}

/// The way to whoever runs commands: the reactor thread (a command queue and a waker, woken
/// once per batch), or a [`Mailbox`] that runs them on the caller's thread.
#[derive(Clone)]
pub(crate) enum Link {
    Reactor {
        commands: mpsc::Sender<Command>,
        waker: Arc<dyn Wake>,
        woken: Arc<AtomicBool>,
    },
    Direct(Weak<dyn Mailbox>),
}

impl Link {
    /// A link over `commands` and `waker`, and the flag the reactor clears before it drains
    /// its queues (a command queued after the drain wakes it again).
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        waker: Arc<dyn Wake>,
    ) -> (Self, Arc<AtomicBool>) {
        let woken = Arc::new(AtomicBool::new(false));
        let link = Self::Reactor {
            commands,
            waker,
            woken: woken.clone(),
        };
        (link, woken)
    }

    /// Queues (or runs) a command; false when its reactor or mailbox is gone.
    pub(crate) fn send(&self, command: Command) -> bool {
        match self {
            Self::Reactor { commands, .. } => {
                if commands.send(command).is_err() {
                    return false;
                }
                self.wake();
                true
            }
            Self::Direct(mailbox) => mailbox.upgrade().is_some_and(|m| m.command(command)),
        }
    }

    /// Wakes the reactor, unless it was woken since it last drained its queues.
    pub(crate) fn wake(&self) {
        if let Self::Reactor { waker, woken, .. } = self {
            if !woken.swap(true, Ordering::AcqRel) {
                waker.wake();
            }
        }
    }
}

/// What a connection shares with its handles on every thread.
pub(crate) struct Shared {
    pub(crate) id: ConnSerial,
    pub(crate) key: usize,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    queued: AtomicUsize,
    max_queued: usize,
    queued_bytes: AtomicUsize,
    max_queued_bytes: usize,
    pub(crate) closed: OnceLock<CloseReason>,
    pub(crate) link: Link,
    /// Where the I/O thread answers this connection's waiting hook.
    pub(crate) hook_slot: HookSlot,
}

impl Shared {
    /// The state of connection `id` (slab `key`), as yet with nothing queued; sends to it are
    /// bounded by `max_queued` messages and `max_queued_bytes`.
    pub(crate) fn new(
        (id, key): (ConnSerial, usize),
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

    /// Counts a message of `len` bytes into the queue, within both limits; one longer than
    /// any tinyproto receiver accepts ([`MSG_MAX_SIZE`]) is refused at once.
    pub(crate) fn reserve(&self, len: usize) -> Result<(), ConnError> {
        if len > MSG_MAX_SIZE as usize {
            // Never sendable: refused here, not on whichever thread would start sending it.
            return Err(ConnError::Send(SendError::TooLong { len }));
        }
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

    /// Why the connection closed; a connection the I/O thread no longer knows without a
    /// reason went with a shutdown.
    pub(crate) fn closed_reason(&self) -> CloseReason {
        self.closed.get().cloned().unwrap_or(CloseReason::Shutdown)
    }
}

/// Who waits for a send: a thread on a channel, or the connection's hook on its slot.
pub(crate) enum SendReply {
    Channel(mpsc::Sender<Result<(), ConnError>>),
    Hook(Arc<Shared>),
}

impl SendReply {
    pub(crate) fn send(self, result: Result<(), ConnError>) {
        match self {
            Self::Channel(to) => {
                let _ = to.send(result);
            }
            Self::Hook(shared) => shared.hook_slot.put(HookAnswer::Sent(result)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where commands go nowhere.
    struct Nowhere;
    impl Mailbox for Nowhere {
        fn command(&self, _: Command) -> bool {
            false
        }
    }

    /// A message no receiver accepts is refused when queued (on the sending thread, which
    /// learns it at once), and leaves the queue's counts as they were.
    #[test]
    fn a_message_too_long_to_send_is_refused_when_queued() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let shared = Shared::new(
            (ConnSerial(1), 0),
            (addr, addr),
            (8, usize::MAX),
            Link::Direct(Weak::<Nowhere>::new()),
        );
        let len = MSG_MAX_SIZE as usize + 1;
        assert!(matches!(
            shared.reserve(len),
            Err(ConnError::Send(SendError::TooLong { len: l })) if l == len
        ));
        assert_eq!(shared.queued_bytes.load(Ordering::Acquire), 0);
        assert_eq!(shared.queued.load(Ordering::Acquire), 0);
        assert!(shared.reserve(MSG_MAX_SIZE as usize).is_ok());
    }
}
