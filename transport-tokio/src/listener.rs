//! Servers: a [`Listener`] that accepts connections, does their init handshakes concurrently,
//! answers the connection limit, and stops on a [`CancellationToken`].

use crate::config::ConnSettings;
use crate::error::BindError;
use crate::io::PollIo;
use crate::Connection;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tinyproto_core::refusal::{Refusal, RefusalStep, LINGER_MS};
use tinyproto_core::transport::ReadAhead;
use tokio::io::AsyncWrite;
use tokio::net::{lookup_host, TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Default listen backlog (Python's is 5, which resets connections under a burst: Q7).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Most refused connections lingering at once; beyond, a refusal is closed right away.
const MAX_LINGERING_REFUSALS: usize = 64;
/// After a failed accept (out of descriptors), accepting is tried again after this long.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Configures a [`Listener`].
///
/// ```no_run
/// use tinyproto_tokio::Listener;
/// use tokio_util::sync::CancellationToken;
/// # async fn run() -> Result<(), tinyproto_tokio::BindError> {
/// let stop = CancellationToken::new();
/// let listener = Listener::builder()
///     .listen("127.0.0.1:9123")
///     .listen("[::1]:9123")
///     .max_connections(100)
///     .shutdown(stop.clone())
///     .bind()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ListenerBuilder {
    addrs: Vec<String>,
    settings: ConnSettings,
    max_connections: Option<usize>,
    backlog: u32,
    shutdown: CancellationToken,
}

impl ListenerBuilder {
    settings_methods!(settings);

    /// Adds an address to listen on (`host:port`; host names resolve, every address of a
    /// name is bound; port 0 picks one). Python's `add_addr`.
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.addrs.push(addr.into());
        self
    }

    /// Most connections at once (default: no limit). One more is answered with the single
    /// byte `0xfe` and closed cleanly (a Python client reports an init error). A connection
    /// counts until both of its halves are dropped.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// The listen backlog (default [`DEFAULT_BACKLOG`]).
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }

    /// A token whose cancellation stops the listener: [`Listener::accept`] returns `None`.
    /// Give clones to the connections' tasks to stop them too (default: a fresh token, see
    /// [`Listener::shutdown_token`]).
    pub fn shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Resolves and binds every address.
    pub async fn bind(self) -> Result<Listener, BindError> {
        if self.addrs.is_empty() {
            return Err(BindError::NoAddress);
        }
        let mut listeners = Vec::new();
        for given in &self.addrs {
            let addrs = lookup_host(given.as_str())
                .await
                .map_err(|source| BindError::Resolve {
                    addr: given.clone(),
                    source,
                })?;
            for addr in addrs {
                let listener =
                    listen(addr, self.backlog).map_err(|source| BindError::Io { addr, source })?;
                listeners.push(listener);
            }
        }
        Ok(Listener {
            listeners,
            settings: Arc::new(self.settings),
            limit: self.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            refusals: Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS)),
            stopped: Box::pin(self.shutdown.clone().cancelled_owned()),
            shutdown: self.shutdown,
            handshakes: JoinSet::new(),
            retry: None,
            failed_handshakes: 0,
        })
    }
}

fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A tinyproto server's listening sockets: [`accept`](Listener::accept) hands out connections
/// whose init handshake is done.
///
/// Handshakes run concurrently in tasks of the runtime (a slow client does not hold up the
/// others), each within the handshake timeout. Serve each connection in a task of your own:
///
/// ```no_run
/// use tinyproto_tokio::{Listener, Received};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut listener = Listener::bind("127.0.0.1:9123").await?;
/// while let Some(mut conn) = listener.accept().await {
///     tokio::spawn(async move {
///         while let Ok(Some(received)) = conn.recv().await {
///             let Received::Message(msg) = received else { continue };
///             if conn.send([&b"Echo back: "[..], &msg].concat()).await.is_err() {
///                 break;
///             }
///         }
///     });
/// }
/// # Ok(()) }
/// ```
pub struct Listener {
    listeners: Vec<TcpListener>,
    settings: Arc<ConnSettings>,
    limit: Option<Arc<Semaphore>>,
    refusals: Arc<Semaphore>,
    shutdown: CancellationToken,
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    handshakes: JoinSet<Option<Connection<TcpStream>>>,
    retry: Option<Pin<Box<Sleep>>>,
    failed_handshakes: u64,
}

impl Listener {
    /// Listens on `addr` with the default settings.
    pub async fn bind(addr: impl Into<String>) -> Result<Listener, BindError> {
        Self::builder().listen(addr).bind().await
    }

    /// A builder with the defaults (those of `tinyproto-std`).
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder {
            addrs: Vec::new(),
            settings: ConnSettings::default(),
            max_connections: None,
            backlog: DEFAULT_BACKLOG,
            shutdown: CancellationToken::new(),
        }
    }

    /// The addresses listened on (with the ports picked for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The token that stops this listener; cancel it (from anywhere) for a graceful
    /// shutdown, and hand clones to the connections' tasks.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Connections whose init handshake failed or timed out (they were closed).
    pub fn failed_handshakes(&self) -> u64 {
        self.failed_handshakes
    }

    /// The next connection whose init handshake is done; `None` once the shutdown token is
    /// cancelled (connections still in their handshake are then dropped).
    ///
    /// # Cancel safety
    /// Cancel safe: connections accepted and handshakes under way are kept in the listener.
    pub async fn accept(&mut self) -> Option<Connection<TcpStream>> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Connection<TcpStream>>> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            self.handshakes.abort_all();
            return Poll::Ready(None);
        }
        if self
            .retry
            .as_mut()
            .is_none_or(|retry| retry.as_mut().poll(cx).is_ready())
        {
            self.retry = None;
            self.accept_ready(cx);
        }
        while let Poll::Ready(Some(done)) = self.handshakes.poll_join_next(cx) {
            match done {
                Ok(Some(conn)) => return Poll::Ready(Some(conn)),
                _ => self.failed_handshakes += 1,
            }
        }
        Poll::Pending
    }

    /// Accepts every connection that waits, starting its handshake or refusing it.
    fn accept_ready(&mut self, cx: &mut Context<'_>) {
        for i in 0..self.listeners.len() {
            loop {
                match self.listeners[i].poll_accept(cx) {
                    Poll::Ready(Ok((stream, _))) => self.start(stream),
                    Poll::Ready(Err(e)) if is_per_connection(&e) => {}
                    Poll::Ready(Err(_)) => {
                        // Out of descriptors or memory: the listener stays ready, so try
                        // again after a pause instead of spinning.
                        let mut retry = Box::pin(tokio::time::sleep(ACCEPT_RETRY));
                        let _ = retry.as_mut().poll(cx);
                        self.retry = Some(retry);
                        return;
                    }
                    Poll::Pending => break,
                }
            }
        }
    }

    fn start(&mut self, stream: TcpStream) {
        let permit = match &self.limit {
            None => None,
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return self.refuse(stream),
            },
        };
        let settings = self.settings.clone();
        self.handshakes.spawn(async move {
            stream.set_nodelay(settings.nodelay).ok()?;
            Connection::handshake(stream, &settings, permit).await.ok()
        });
    }

    /// PROTOCOL.md Q1: at the limit, the single byte `0xfe`, then a clean close, run by the
    /// core's [`Refusal`] (the same machine as every transport's): our side is shut down once
    /// the answer is out, and the peer's close is awaited (up to [`LINGER_MS`], at most
    /// [`MAX_LINGERING_REFUSALS`] at once; beyond, no linger), so that its unread init byte does
    /// not turn our close into a reset that could destroy the `0xfe`.
    fn refuse(&mut self, mut stream: TcpStream) {
        let linger = self.refusals.clone().try_acquire_owned();
        let linger_ms = if linger.is_ok() { LINGER_MS } else { 0 };
        tokio::spawn(async move {
            let _linger = linger;
            let clock = Instant::now();
            let mut refusal = Refusal::new(0, linger_ms);
            let mut deadline = Box::pin(tokio::time::sleep_until(
                clock + Duration::from_millis(u64::from(linger_ms)),
            ));
            let (mut unflushed, mut ahead) = (false, ReadAhead::default());
            poll_fn(|cx| {
                let now = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
                let mut io = PollIo {
                    io: &mut stream,
                    cx,
                    unflushed: &mut unflushed,
                    ahead: &mut ahead,
                };
                match refusal.poll(&mut io, now) {
                    RefusalStep::Done { .. } => return Poll::Ready(()),
                    RefusalStep::Answered => {
                        // TCP's shutdown is immediate: never pending.
                        let _ = Pin::new(&mut stream).poll_shutdown(cx);
                    }
                    RefusalStep::Waiting => {}
                }
                // The deadline wakes us if the peer neither sends nor closes.
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(()),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
        });
    }
}

/// Accept errors that concern one connection only (it was reset before we took it).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local_addrs", &self.local_addrs())
            .finish_non_exhaustive()
    }
}
