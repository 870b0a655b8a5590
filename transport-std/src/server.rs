//! The server: listeners, the connection limit, the server hooks, and a handle to steer it
//! from anywhere.

use crate::config::EngineSettings;
use crate::error::{ConnError, ListenStep, StartError};
use crate::handle::ConnectionHandle;
use crate::hooks::{Handler, ServerHooks};
use crate::mailbox::{Command, Link};
use crate::reactor::{HandlerFactory, Notice, Notices, Registry};
use crate::serial::ConnSerial;
use crate::sync::lock;
use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Instant;

/// Default listen backlog; the kernel caps it (Linux: `net.core.somaxconn`, 4096 by default).
pub const DEFAULT_BACKLOG: u32 = 4096;

/// Configures a [`Server`] (Python: `TinyProtoServer(listen_addresses=…, connection_limit=…,
/// connection_plugin_list=…)`, or 2.0.1's `add_addr`, `connection_limit`,
/// `register_connection_plugin`).
pub struct ServerBuilder {
    addrs: Vec<SocketAddr>,
    unresolved: Option<StartError>,
    backlog: u32,
    max_connections: Option<usize>,
    settings: EngineSettings,
}

impl ServerBuilder {
    /// Adds a listen address: `"127.0.0.1:9123"`, `"[::1]:0"`, `"localhost:9123"` (every
    /// address the name resolves to), or a [`SocketAddr`]. Port 0 picks a free port; see
    /// [`Server::local_addrs`].
    pub fn listen(mut self, addr: impl ToSocketAddrs + fmt::Debug) -> Self {
        match addr.to_socket_addrs() {
            Ok(addrs) => self.addrs.extend(addrs),
            Err(source) => {
                self.unresolved.get_or_insert(StartError::Resolve {
                    addr: format!("{addr:?}"),
                    source,
                });
            }
        }
        self
    }

    /// Most connections served at once (default: no limit). One more is answered `0xfe` and
    /// closed (PROTOCOL.md Q1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// The listen backlog (default [`DEFAULT_BACKLOG`]; Python uses 5).
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }

    engine_settings!(settings);

    /// Opens the listeners.
    pub fn bind(self) -> Result<Server, StartError> {
        if let Some(e) = self.unresolved {
            return Err(e);
        }
        if self.addrs.is_empty() {
            return Err(StartError::NoAddress);
        }
        let backlog = i32::try_from(self.backlog).unwrap_or(i32::MAX);
        let mut listeners = Vec::new();
        let mut local = Vec::new();
        for addr in self.addrs {
            let (listener, bound) = listener(addr, backlog)
                .map_err(|(step, source)| StartError::Listen { addr, step, source })?;
            local.push(bound);
            listeners.push(listener);
        }
        let (notices_tx, notices) = mpsc::channel();
        let notices_tx = Notices::new(notices_tx);
        Ok(Server {
            listeners,
            notices,
            max_connections: self.max_connections,
            settings: self.settings,
            handle: ServerHandle {
                inner: Arc::new(HandleInner {
                    local,
                    notices: notices_tx,
                    stopping: AtomicBool::new(false),
                    engine: OnceLock::new(),
                }),
            },
        })
    }
}

/// A non-blocking listener on `addr` and the address it is bound to, or the step that failed.
fn listener(
    addr: SocketAddr,
    backlog: i32,
) -> Result<(mio::net::TcpListener, SocketAddr), (ListenStep, io::Error)> {
    let at = |step| move |e| (step, e);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(at(ListenStep::Socket))?;
    socket
        .set_reuse_address(true)
        .map_err(at(ListenStep::Socket))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(at(ListenStep::Socket))?;
    }
    socket
        .set_nonblocking(true)
        .map_err(at(ListenStep::Socket))?;
    socket.bind(&addr.into()).map_err(at(ListenStep::Bind))?;
    socket.listen(backlog).map_err(at(ListenStep::Listen))?;
    let listener = mio::net::TcpListener::from_std(socket.into());
    let bound = listener.local_addr().map_err(at(ListenStep::Listen))?;
    Ok((listener, bound))
}

/// A bound tinyproto server; [`Server::run`] serves until it is shut down.
///
/// ```
/// use tinyproto_std::{Conn, Handler, Received, Sent, Server};
///
/// struct Echo;
/// impl Handler for Echo {
///     fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
///         let _ = conn.transmit([b"Echo back: ", &msg[..]].concat());
///     }
/// }
///
/// let server = Server::builder().listen("127.0.0.1:0").max_connections(100).bind()?;
/// let addr = server.local_addrs()[0];
/// let handle = server.handle();
/// let thread = std::thread::spawn(move || server.run(|_| Echo, ()));
///
/// let mut client = tinyproto_std::TcpConnection::connect(addr)?;
/// assert_eq!(client.transmit(b"hello")?, Sent::Written);
/// assert_eq!(client.receive()?, Received::Message(b"Echo back: hello".to_vec()));
///
/// handle.shutdown();
/// thread.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    listeners: Vec<mio::net::TcpListener>,
    notices: mpsc::Receiver<Notice>,
    max_connections: Option<usize>,
    settings: EngineSettings,
    handle: ServerHandle,
}

impl Server {
    /// A builder with the defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addrs: Vec::new(),
            unresolved: None,
            backlog: DEFAULT_BACKLOG,
            max_connections: None,
            settings: EngineSettings::default(),
        }
    }

    /// The addresses listened on (with the ports picked for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.handle.inner.local
    }

    /// A handle to shut the server down or reach its connections, from any thread.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves until [`ServerHandle::shutdown`], running `hooks` on this thread and each
    /// connection's [`Handler`] (made by `factory`) on hook threads (Python's `start()`).
    ///
    /// On shutdown every connection is closed (its `post_loop` and `conn_shutdown` run), then
    /// the server's `post_loop` runs and this returns.
    pub fn run<H, F>(self, factory: F, mut hooks: impl ServerHooks) -> Result<(), StartError>
    where
        H: Handler,
        F: Fn(&ConnectionHandle) -> H + Send + Sync + 'static,
    {
        let factory: HandlerFactory = Arc::new(move |conn| Box::new(factory(conn)));
        let handle = self.handle;
        let mut reactor = crate::threads::start(
            self.settings.clone(),
            self.listeners,
            self.max_connections,
            factory,
            Some(handle.inner.notices.clone()),
        )?;
        let _ = handle
            .inner
            .engine
            .set((reactor.link.clone(), reactor.registry.clone()));
        hooks.pre_loop(&handle);
        let tick = self.settings.tick;
        let mut next_tick = Instant::now() + tick;
        let mut stopping = false;
        loop {
            if !stopping && handle.is_shutting_down() {
                stopping = true;
                reactor.link.send(Command::Shutdown);
            }
            let now = Instant::now();
            if now >= next_tick {
                if !stopping {
                    hooks.loop_pass(&handle);
                }
                next_tick = now + tick;
            }
            let notice = self.notices.recv_timeout(next_tick - now.min(next_tick));
            if notice.is_ok() {
                handle.inner.notices.taken();
            }
            match notice {
                Ok(Notice::Opened(conn)) => hooks.conn_init(&handle, &conn),
                Ok(Notice::Closed(conn, reason)) => hooks.conn_shutdown(&handle, &conn, &reason),
                Ok(Notice::Refused(peer)) => hooks.conn_refused(&handle, peer),
                Ok(Notice::Stopped) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Notice::Shutdown) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let died = !reactor.stop();
        hooks.post_loop(&handle);
        if died {
            return Err(StartError::IoThreadDied);
        }
        Ok(())
    }
}

struct HandleInner {
    local: Vec<SocketAddr>,
    notices: Notices,
    stopping: AtomicBool,
    engine: OnceLock<(Link, Registry)>,
}

/// Steers a server from any thread or hook (Python: `server.shutdown = True`,
/// `server.active_connections`).
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<HandleInner>,
}

impl ServerHandle {
    /// Stops the server: [`Server::run`] closes every connection and returns.
    pub fn shutdown(&self) {
        if !self.inner.stopping.swap(true, Ordering::AcqRel) {
            self.inner.notices.send(Notice::Shutdown);
        }
    }

    /// Whether [`ServerHandle::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    /// The addresses listened on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.inner.local
    }

    /// The open connections, by id (Python's `active_connections`).
    pub fn connections(&self) -> Vec<ConnectionHandle> {
        self.inner
            .engine
            .get()
            .map(|(_, registry)| lock(registry).values().cloned().collect())
            .unwrap_or_default()
    }

    /// The connection with this id, while it is open.
    pub fn connection(&self, id: ConnSerial) -> Option<ConnectionHandle> {
        let (_, registry) = self.inner.engine.get()?;
        lock(registry).get(&id).cloned()
    }

    /// Queues `msg` for one connection; see [`ConnectionHandle::send`].
    /// [`ConnError::UnknownConnection`] when no open connection has this id.
    pub fn send_to(&self, id: ConnSerial, msg: impl Into<crate::Message>) -> Result<(), ConnError> {
        match self.connection(id) {
            Some(conn) => conn.send(msg),
            None => Err(ConnError::UnknownConnection),
        }
    }

    /// Queues `msg` for every open connection (one copy shared by all). A connection whose
    /// queue is full is skipped.
    pub fn broadcast(&self, msg: &[u8]) {
        self.broadcast_inner(msg, None);
    }

    /// Queues `msg` for every open connection except `id` (a chat relays a line to the others).
    pub fn broadcast_except(&self, id: ConnSerial, msg: &[u8]) {
        self.broadcast_inner(msg, Some(id));
    }

    fn broadcast_inner(&self, msg: &[u8], except: Option<ConnSerial>) {
        if let Some((link, _)) = self.inner.engine.get() {
            link.send(Command::Broadcast {
                msg: msg.into(),
                except,
            });
        }
    }

    /// Closes one connection; false when no open connection has this id.
    pub fn close(&self, id: ConnSerial) -> bool {
        self.connection(id).map(|conn| conn.close()).is_some()
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addrs", &self.inner.local)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
