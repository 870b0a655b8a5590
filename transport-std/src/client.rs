//! The client: connections with hooks, like the server's, plus the optional client loop.

use crate::config::EngineSettings;
use crate::dial::connect_stream;
use crate::error::StartError;
use crate::handle::ConnectionHandle;
use crate::hooks::{ClientHooks, Handler};
use crate::mailbox::{Command, Link};
use crate::reactor::{HandlerFactory, Reactor, Registry};
use crate::sync::{lock, on_io_thread};
use std::fmt;
use std::io::ErrorKind;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Configures a [`Client`] (Python: `TinyProtoClient(connection_handler=…,
/// connection_plugin_list=…, timeout=…)`).
pub struct ClientBuilder {
    settings: EngineSettings,
}

impl ClientBuilder {
    engine_settings!(settings);
    connect_timeout!(settings.conn);

    /// Starts the client's I/O and hook threads; `factory` makes each connection's handler.
    pub fn build<H, F>(self, factory: F) -> Result<Client, StartError>
    where
        H: Handler,
        F: Fn(&ConnectionHandle) -> H + Send + Sync + 'static,
    {
        let factory: HandlerFactory = Arc::new(move |conn| Box::new(factory(conn)));
        let reactor =
            crate::threads::start(self.settings.clone(), Vec::new(), None, factory, None)?;
        let (wake, woken) = mpsc::channel();
        let handle = ClientHandle {
            inner: Arc::new(ClientInner {
                link: reactor.link.clone(),
                registry: reactor.registry.clone(),
                connect_timeout: self.settings.conn.connect,
                stopping: AtomicBool::new(false),
                wake: Mutex::new(wake),
            }),
        };
        Ok(Client {
            handle,
            woken,
            tick: self.settings.tick,
            reactor,
        })
    }
}

/// A client with any number of connections, each served by its [`Handler`] on hook threads.
/// Dropping it closes every connection.
///
/// ```
/// use tinyproto_std::{Client, Conn, Handler, Server};
///
/// let server = Server::builder().listen("127.0.0.1:0").bind()?;
/// let addr = server.local_addrs()[0];
/// let stop = server.handle();
/// struct Echo;
/// impl Handler for Echo {
///     fn transmission_received(&mut self, conn: &mut Conn, msg: Vec<u8>) {
///         let _ = conn.transmit(&msg);
///     }
/// }
/// let thread = std::thread::spawn(move || server.run(|_| Echo, ()));
///
/// /// Sends one message from `pre_loop` and waits for the answer, in lockstep.
/// struct Ping(std::sync::mpsc::Sender<Vec<u8>>);
/// impl Handler for Ping {
///     fn pre_loop(&mut self, conn: &mut Conn) {
///         conn.transmit(b"ping").unwrap();
///         self.0.send(conn.receive().unwrap()).unwrap();
///     }
/// }
/// let (tx, rx) = std::sync::mpsc::channel();
/// let client = Client::builder().build(move |_| Ping(tx.clone()))?;
/// client.connect(addr)?;
/// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10))?, b"ping");
/// drop(client);
/// stop.shutdown();
/// thread.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    handle: ClientHandle,
    woken: mpsc::Receiver<()>,
    tick: Duration,
    reactor: Reactor,
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            settings: EngineSettings::default(),
        }
    }

    /// A handle for other threads and hooks.
    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// Connects; see [`ClientHandle::connect`].
    pub fn connect(
        &self,
        addr: impl ToSocketAddrs + fmt::Debug,
    ) -> Result<ConnectionHandle, StartError> {
        self.handle.connect(addr)
    }

    /// The client loop (Python's `start()`): `pre_loop`, then `loop_pass` every tick until
    /// [`ClientHandle::shutdown`], then `post_loop`; then every connection is closed.
    pub fn run(&self, mut hooks: impl ClientHooks) {
        hooks.pre_loop(&self.handle);
        while !self.handle.is_shutting_down() {
            hooks.loop_pass(&self.handle);
            let _ = self.woken.recv_timeout(self.tick);
        }
        hooks.post_loop(&self.handle);
        for conn in self.handle.connections() {
            conn.close();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.reactor.stop();
    }
}

struct ClientInner {
    link: Link,
    registry: Registry,
    connect_timeout: Option<Duration>,
    stopping: AtomicBool,
    wake: Mutex<mpsc::Sender<()>>,
}

/// A client seen from any thread: connect, list connections, stop the client loop.
#[derive(Clone)]
pub struct ClientHandle {
    inner: Arc<ClientInner>,
}

impl ClientHandle {
    /// Connects to `addr` (`"host:port"`, host names resolved, each address tried in turn
    /// within the connect timeout) and returns once the init handshake is done. A server at
    /// its limit gives [`StartError::Handshake`] with
    /// [`ProtocolError::ConnectionLimit`](tinyproto_core::session::ProtocolError::ConnectionLimit).
    pub fn connect(
        &self,
        addr: impl ToSocketAddrs + fmt::Debug,
    ) -> Result<ConnectionHandle, StartError> {
        if on_io_thread() {
            let inline = "connect cannot wait for the handshake inside an inline hook";
            return Err(StartError::Io(std::io::Error::new(
                ErrorKind::WouldBlock,
                inline,
            )));
        }
        let stream = connect_stream(addr, self.inner.connect_timeout)?;
        let (reply, answer) = mpsc::channel();
        if !self.inner.link.send(Command::Adopt { stream, reply }) {
            return Err(StartError::Stopped);
        }
        let shared = answer.recv().unwrap_or(Err(StartError::Stopped))?;
        Ok(ConnectionHandle { shared })
    }

    /// The open connections (Python's `active_connections`).
    pub fn connections(&self) -> Vec<ConnectionHandle> {
        lock(&self.inner.registry).values().cloned().collect()
    }

    /// Ends [`Client::run`] (Python: `client.shutdown = True`).
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        let _ = lock(&self.inner.wake).send(());
    }

    /// Whether [`ClientHandle::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle")
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
