//! The hooks a program implements (Python's overridable methods), and [`Conn`], the connection
//! as a hook sees it.

use crate::error::{CloseReason, ConnError};
use crate::handle::ConnectionHandle;
use crate::mailbox::{Command, Pump, SendReply};
use crate::message::Message;
use crate::reply::HookAnswer;
use crate::serial::ConnSerial;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The hooks of one connection (Python's `TinyProtoConnection` subclass). One value per
/// connection, made by the factory given to [`Server::run`](crate::Server::run) or
/// [`ClientBuilder::build`](crate::ClientBuilder::build).
///
/// The hooks of one connection never run concurrently with each other, in this order:
/// `pre_loop` once the init handshake is done; `transmission_received` for each message and
/// `loop_pass` on the [`connection_tick`](crate::ServerBuilder::connection_tick) (if set);
/// `post_loop` once the connection has closed. They run on hook threads, so they may block:
/// [`Conn::transmit`] and [`Conn::receive`] wait for the peer while every other connection
/// goes on being served. While a hook runs, no further message is read from its peer except
/// by [`Conn::receive`].
///
/// ```
/// use tinyproto_std::{Conn, Handler};
///
/// /// Answers every message with `Echo back: ` + message, and closes on `QUIT`.
/// struct Echo;
///
/// impl Handler for Echo {
///     fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
///         if msg == b"QUIT" {
///             conn.shutdown();
///         } else if let Err(e) = conn.transmit([b"Echo back: ", &msg[..]].concat()) {
///             eprintln!("connection {}: {e}", conn.id());
///         }
///     }
/// }
/// ```
pub trait Handler: Send + 'static {
    /// Runs once, after the init handshake.
    fn pre_loop(&mut self, conn: &mut Conn) {
        let _ = conn;
    }

    /// Runs for each message received (plugins applied). Python passes a `bytearray`; here
    /// the message is yours to keep.
    fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
        let _ = (conn, msg);
    }

    /// Runs on the connection tick, when one is configured.
    fn loop_pass(&mut self, conn: &mut Conn) {
        let _ = conn;
    }

    /// Runs once after the connection closed, if `pre_loop` ran. Sending fails by then.
    fn post_loop(&mut self, conn: &mut Conn) {
        let _ = conn;
    }

    /// Runs when a message sent without waiting (a [`Conn::transmit`] in an
    /// [inline hook](crate::ServerBuilder::inline_hooks), or [`ConnectionHandle::send`]) was
    /// not sent but the connection goes on: the peer refused its size
    /// ([`ConnError::Rejected`]) or a plugin refused it ([`ConnError::Send`]). Failures that
    /// close the connection are reported by the close instead.
    fn transmission_failed(&mut self, conn: &mut Conn, error: ConnError) {
        let _ = (conn, error);
    }
}

/// A handler that does nothing, for connections used only through their handle.
impl Handler for () {}

/// The server's own hooks (Python's `TinyProtoServer` subclass). They all run on the thread
/// that called [`Server::run`](crate::Server::run), one at a time.
///
/// ```
/// use tinyproto_std::{CloseReason, ConnectionHandle, ServerHandle, ServerHooks};
///
/// struct Log;
///
/// impl ServerHooks for Log {
///     fn conn_init(&mut self, _server: &ServerHandle, conn: &ConnectionHandle) {
///         println!("Connection opened from: {}", conn.peer_addr());
///     }
///     fn conn_shutdown(&mut self, _: &ServerHandle, conn: &ConnectionHandle, why: &CloseReason) {
///         println!("Connection closed from: {} ({why})", conn.peer_addr());
///     }
/// }
/// ```
pub trait ServerHooks: Send + 'static {
    /// Runs once the listeners are up, before any connection is accepted.
    fn pre_loop(&mut self, server: &crate::ServerHandle) {
        let _ = server;
    }

    /// Runs every [`tick`](crate::ServerBuilder::tick).
    fn loop_pass(&mut self, server: &crate::ServerHandle) {
        let _ = server;
    }

    /// Runs once after shutdown, when every connection has closed.
    fn post_loop(&mut self, server: &crate::ServerHandle) {
        let _ = server;
    }

    /// Runs for each accepted connection (not for those refused at the connection limit),
    /// before or while its handshake runs.
    fn conn_init(&mut self, server: &crate::ServerHandle, conn: &ConnectionHandle) {
        let _ = (server, conn);
    }

    /// Runs for each connection that ended, after its `post_loop`, with the reason: a clean
    /// close, a shutdown, or the typed error that broke it.
    fn conn_shutdown(
        &mut self,
        server: &crate::ServerHandle,
        conn: &ConnectionHandle,
        reason: &CloseReason,
    ) {
        let _ = (server, conn, reason);
    }

    /// Runs for each connection refused at the
    /// [connection limit](crate::ServerBuilder::max_connections): the peer at `peer` was
    /// answered `0xfe` and its connection closed (PROTOCOL.md Q1).
    fn conn_refused(&mut self, server: &crate::ServerHandle, peer: SocketAddr) {
        let _ = (server, peer);
    }
}

/// No server hooks.
impl ServerHooks for () {}

/// The client loop's hooks (Python's `TinyProtoClient` subclass), run by
/// [`Client::run`](crate::Client::run) on its caller's thread.
pub trait ClientHooks {
    /// Runs once before the loop.
    fn pre_loop(&mut self, client: &crate::ClientHandle) {
        let _ = client;
    }

    /// Runs every [`tick`](crate::ClientBuilder::tick) until the client shuts down.
    fn loop_pass(&mut self, client: &crate::ClientHandle) {
        let _ = client;
    }

    /// Runs once after the loop, before the connections are closed.
    fn post_loop(&mut self, client: &crate::ClientHandle) {
        let _ = client;
    }
}

/// No client hooks.
impl ClientHooks for () {}

/// One connection as its hooks see it: Python's `self` inside a `TinyProtoConnection`.
pub struct Conn {
    handle: ConnectionHandle,
    shutdown: bool,
    /// Inline hooks (on the I/O thread): the messages transmitted, queued when the hook
    /// returns. `None` on a hook thread.
    inline: Option<Vec<Message>>,
    /// Thread-per-connection mode: the connection this hook's thread drives while it waits.
    pump: Option<std::sync::Arc<dyn Pump>>,
}

impl Conn {
    /// The connection as a hook on a hook thread sees it.
    pub(crate) fn new(handle: ConnectionHandle) -> Self {
        Self {
            handle,
            shutdown: false,
            inline: None,
            pump: None,
        }
    }

    /// The connection as a hook on its own connection thread sees it.
    pub(crate) fn threaded(handle: ConnectionHandle, pump: std::sync::Arc<dyn Pump>) -> Self {
        Self {
            handle,
            shutdown: false,
            inline: None,
            pump: Some(pump),
        }
    }

    /// Waits for the answer to this hook's send or receive, at most until `deadline`: on a
    /// connection thread by driving the connection, elsewhere by waiting for the I/O thread.
    fn wait(&self, deadline: Option<Instant>) -> Option<HookAnswer> {
        match &self.pump {
            Some(pump) => pump.wait_answer(&self.handle.shared.hook_slot, deadline),
            None => self.handle.shared.hook_slot.wait(deadline),
        }
    }

    /// Hands `command` (this hook's send or receive) on and waits for its answer, at most
    /// until `deadline` (`Ok(None)` once it passed): a connection thread runs it itself,
    /// else it goes to the I/O thread. A command nobody took: the connection is gone.
    fn call(
        &self,
        command: Command,
        deadline: Option<Instant>,
    ) -> Result<Option<HookAnswer>, ConnError> {
        let shared = &self.handle.shared;
        let gone = || ConnError::Closed(CloseReason::Shutdown);
        match &self.pump {
            Some(pump) => pump
                .command_and_wait(command, &shared.hook_slot, deadline)
                .map_err(|()| gone()),
            None if shared.link.send(command) => Ok(shared.hook_slot.wait(deadline)),
            None => Err(gone()),
        }
    }

    /// The connection as an inline hook sees it; `outbox` (empty) collects its transmits.
    pub(crate) fn inline(handle: ConnectionHandle, outbox: Vec<Message>) -> Self {
        Self {
            handle,
            shutdown: false,
            inline: Some(outbox),
            pump: None,
        }
    }

    /// Whether the hook asked to close, and what an inline hook transmitted.
    pub(crate) fn finish(self) -> (bool, Vec<Message>) {
        (self.shutdown, self.inline.unwrap_or_default())
    }

    /// The connection's id.
    pub fn id(&self) -> ConnSerial {
        self.handle.id()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.handle.peer_addr()
    }

    /// A handle to this connection, to keep or give to other threads.
    pub fn handle(&self) -> &ConnectionHandle {
        &self.handle
    }

    /// Closes the connection when the running hook returns (Python's `self.shutdown = True`).
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    /// Sends `msg` and returns once it is written (after messages queued before it), like
    /// Python's `transmit`. A `Vec<u8>` is moved and sent without a copy.
    ///
    /// [`ConnError::Rejected`] means the peer refused its size; the connection stays usable.
    ///
    /// In an [inline hook](crate::ServerBuilder::inline_hooks) it only queues the message
    /// (within the queue limits) and returns at once; the message goes out when the hook
    /// returns, and a refusal is reported to [`Handler::transmission_failed`].
    pub fn transmit(&mut self, msg: impl Into<Message>) -> Result<(), ConnError> {
        let msg = msg.into();
        if let Some(outbox) = &mut self.inline {
            if let Some(reason) = self.handle.close_reason() {
                return Err(ConnError::Closed(reason));
            }
            self.handle.shared.reserve(msg.len())?;
            outbox.push(msg);
            return Ok(());
        }
        let reply = SendReply::Hook(self.handle.shared.clone());
        let command = self.handle.send_command(msg, Some(reply))?;
        match self.call(command, None)? {
            Some(HookAnswer::Sent(result)) => result,
            _ => Err(ConnError::Closed(CloseReason::Shutdown)),
        }
    }

    /// Waits for the next message from the peer and returns it, like Python's `receive`.
    /// It is not passed to `transmission_received`.
    ///
    /// An [inline hook](crate::ServerBuilder::inline_hooks) cannot wait:
    /// [`ConnError::WouldBlockInline`].
    pub fn receive(&mut self) -> Result<Vec<u8>, ConnError> {
        self.receive_inner(None)
    }

    /// [`Conn::receive`] with a time limit: [`ConnError::Timeout`] leaves the connection
    /// usable, and a message arriving later goes to the next `receive` or to
    /// `transmission_received`.
    pub fn receive_timeout(&mut self, limit: Duration) -> Result<Vec<u8>, ConnError> {
        self.receive_inner(Some(limit))
    }

    fn receive_inner(&mut self, limit: Option<Duration>) -> Result<Vec<u8>, ConnError> {
        if self.inline.is_some() {
            return Err(ConnError::WouldBlockInline);
        }
        let shared = &self.handle.shared;
        let receive = Command::Receive {
            conn: shared.clone(),
        };
        let answer = match self.call(receive, limit.map(|l| Instant::now() + l))? {
            Some(answer) => answer,
            None => {
                // The reactor answers the cancel with `Timeout` unless a message went out
                // first, in which case that message is the answer: none is lost.
                shared.link.send(Command::CancelReceive {
                    conn: shared.clone(),
                });
                match self.wait(None) {
                    Some(answer) => answer,
                    None => return Err(ConnError::Closed(CloseReason::Shutdown)),
                }
            }
        };
        match answer {
            HookAnswer::Received(result) => result,
            HookAnswer::Sent(_) => Err(ConnError::Closed(CloseReason::Shutdown)),
        }
    }
}
