//! The thread-per-connection mode's own thread: accepts (a `mio` poll over the listeners,
//! which a shutdown can wake), refuses at the connection limit, takes the client's sockets,
//! and on shutdown closes every connection and waits for their threads.

use super::Common;
use crate::mailbox::{Command, Link, Mailbox};
use crate::reactor::{Reactor, StoppedGuard};
use crate::sync::lock;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tinyproto_core::wire::SC_CONLIMIT;

const WAKER: Token = Token(usize::MAX);
/// Refused connections lingering until the peer closes have tokens from here down.
const REFUSALS: usize = usize::MAX / 2;
/// How long a connection refused at the limit may take to read our `0xfe` and close.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Most refused connections lingering at once; beyond, a refusal is closed at once.
const MAX_LINGERING_REFUSALS: usize = 64;

/// What handles reach: the connections, and the way to stop.
pub(crate) struct Control {
    pub(crate) common: Arc<Common>,
    stop: AtomicBool,
    waker: Waker,
}

impl Mailbox for Control {
    /// Runs a command meant for the server or client as a whole (from any thread).
    fn command(&self, command: Command) -> bool {
        match command {
            Command::Broadcast { msg, except } => {
                let conns: Vec<_> = lock(&self.common.registry).values().cloned().collect();
                for conn in conns.into_iter().filter(|c| Some(c.id()) != except) {
                    // A peer too slow to take its share is skipped, as by the reactor.
                    let _ = conn.send(msg.clone());
                }
            }
            Command::Adopt { stream, reply } => {
                if self.stop.load(Ordering::Acquire) {
                    let _ = reply.send(Err(crate::StartError::Stopped));
                } else if let Err(e) = self.common.start(stream, Some(reply.clone())) {
                    let _ = reply.send(Err(crate::StartError::Io(e)));
                }
            }
            Command::Shutdown => {
                self.stop.store(true, Ordering::Release);
                let _ = self.waker.wake();
            }
            _ => return false,
        }
        true
    }
}

/// Starts the acceptor's thread over `listeners` (for a client: none; it then only waits for
/// the shutdown); it is stopped like the reactor.
pub(crate) fn start(
    common: Arc<Common>,
    mut listeners: Vec<TcpListener>,
    max_connections: Option<usize>,
) -> io::Result<Reactor> {
    let poll = Poll::new()?;
    let control = Arc::new(Control {
        waker: Waker::new(poll.registry(), WAKER)?,
        stop: AtomicBool::new(false),
        common: common.clone(),
    });
    for (i, listener) in listeners.iter_mut().enumerate() {
        poll.registry()
            .register(listener, Token(i), Interest::READABLE)?;
    }
    let link = Link::Direct(Arc::downgrade(&control) as Weak<dyn Mailbox>);
    let state = State {
        poll,
        listeners,
        refusals: Slab::new(),
        max_connections,
        control,
    };
    let thread = std::thread::Builder::new()
        .name("tinyproto-accept".into())
        .spawn(move || state.run())?;
    Ok(Reactor::with_thread(link, common.registry.clone(), thread))
}

struct State {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Refused connections waiting for the peer's close, and until when.
    refusals: Slab<(TcpStream, Instant)>,
    max_connections: Option<usize>,
    control: Arc<Control>,
}

impl State {
    fn run(mut self) {
        // Tells the server it stopped even if this thread dies: `Server::run` then returns.
        let _stopped = StoppedGuard(self.control.common.notices.clone());
        let mut events = Events::with_capacity(64);
        while !self.control.stop.load(Ordering::Acquire) {
            let timeout = self
                .refusals
                .iter()
                .map(|(_, (_, until))| until.saturating_duration_since(Instant::now()))
                .min();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {}
                    Token(i) if i < self.listeners.len() => self.accept(i),
                    Token(t) => self.drain_refusal(REFUSALS - t),
                }
            }
            let now = Instant::now();
            self.refusals.retain(|_, (_, until)| *until > now);
        }
        self.shut_down();
    }

    fn accept(&mut self, i: usize) {
        loop {
            match self.listeners[i].accept() {
                Ok((stream, _)) => {
                    let common = &self.control.common;
                    if self.max_connections.is_some_and(|max| common.live() >= max) {
                        self.refuse(stream);
                    } else {
                        // A connection that cannot get a thread is closed: its peer sees the
                        // close at the handshake.
                        let _ = common.start(stream.into(), None);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
                // Out of descriptors or memory: the next connection's readiness tries again.
                Err(_) => return,
            }
        }
    }

    /// PROTOCOL.md Q1, as the reactor does it: `0xfe`, our side closed, and a short wait for
    /// the peer's close so that its unread init byte does not turn ours into a reset.
    fn refuse(&mut self, mut stream: TcpStream) {
        let _ = stream.write(&[SC_CONLIMIT]);
        let _ = stream.shutdown(Shutdown::Write);
        if self.refusals.len() >= MAX_LINGERING_REFUSALS {
            let _ = stream.read(&mut [0; 64]);
            return;
        }
        let key = self.refusals.vacant_key();
        if self
            .poll
            .registry()
            .register(&mut stream, Token(REFUSALS - key), Interest::READABLE)
            .is_ok()
        {
            self.refusals
                .insert((stream, Instant::now() + REFUSAL_LINGER));
            self.drain_refusal(key);
        }
    }

    /// Reads what a refused peer sent; it goes once the peer closed.
    fn drain_refusal(&mut self, i: usize) {
        let Some((stream, until)) = self.refusals.get_mut(i) else {
            return;
        };
        let mut sink = [0u8; 64];
        loop {
            match stream.read(&mut sink) {
                Ok(n) if n > 0 => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Closed or failed: done (removed by `run`).
                _ => {
                    *until = Instant::now();
                    return;
                }
            }
        }
    }

    /// Stops accepting, closes every connection and waits for their threads (at most the
    /// shutdown grace); the server then hears that it stopped.
    fn shut_down(self) {
        drop(self.listeners);
        drop(self.refusals);
        let common = &self.control.common;
        let conns: Vec<_> = lock(&common.registry).values().cloned().collect();
        for conn in &conns {
            conn.shared.link.send(Command::Close {
                conn: conn.shared.clone(),
                reason: crate::CloseReason::Shutdown,
            });
        }
        common.wait_all_closed(common.settings.shutdown_grace);
    }
}
