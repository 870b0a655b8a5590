//! Handles to connections, usable from any thread: send, close, inspect.

use crate::error::{CloseReason, ConnError};
use crate::mailbox::{Command, SendReply, Shared};
use crate::message::Message;
use crate::serial::ConnSerial;
use crate::sync::on_io_thread;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};

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
    pub fn id(&self) -> ConnSerial {
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
    /// when too many messages or bytes wait already, [`ConnError::Send`] for a message longer
    /// than any tinyproto receiver accepts. Failures of the send itself close the
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
        if on_io_thread() {
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
        let sent = self.shared.link.send(self.send_command(msg, reply)?);
        if sent {
            Ok(())
        } else {
            Err(ConnError::Closed(CloseReason::Shutdown))
        }
    }
}

impl ConnectionHandle {
    /// The command that sends `msg`, once the connection is found open and the message
    /// counted in its queue (within the queue limits, and not too long to send).
    pub(crate) fn send_command(
        &self,
        msg: Message,
        reply: Option<SendReply>,
    ) -> Result<Command, ConnError> {
        if let Some(reason) = self.close_reason() {
            return Err(ConnError::Closed(reason));
        }
        self.shared.reserve(msg.len())?;
        Ok(Command::Send {
            conn: self.shared.clone(),
            msg,
            reply,
        })
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
