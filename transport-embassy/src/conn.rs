//! One connection, server's or client's: the core's `AsyncConnection` with the stall limit,
//! and its close.

use embassy_net::tcp::TcpSocket;
use embassy_net::IpEndpoint;
use embassy_time::{with_timeout, Duration, Instant};
use embedded_io_async::{Read, Write};
use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::Plugins;
use tinyproto_core::session::{NextRead, Phase, Session};
use tinyproto_core::{AsyncConnection, Error, Received, Sent, TransmitError};

use crate::config::Config;
use crate::limit::Slot;
use crate::socket::close;

/// How often a receive under a stall limit looks at the peer's progress.
const TICK: Duration = Duration::from_millis(100);

/// A connection that completed the init handshake: [`Conn::receive`] and [`Conn::transmit`]
/// one message at a time, then [`Conn::close`].
///
/// A server's connection holds one of the server's [connection slots](crate::Server) until it
/// is dropped. `T` is the transport, `&mut TcpSocket` from [`Server::accept`](crate::Server::accept)
/// and [`connect`](crate::connect).
///
/// After an error the connection is over: close it.
pub struct Conn<'s, T, B, P = ()> {
    inner: AsyncConnection<T, B, P>,
    remote: Option<IpEndpoint>,
    config: Config,
    _slot: Option<Slot<'s>>,
}

impl<'s, T: Read + Write, B: Buffer, P: Plugins> Conn<'s, T, B, P> {
    /// Wraps a connection whose handshake is done (or still to do: the first call does it).
    pub(crate) fn new(
        inner: AsyncConnection<T, B, P>,
        remote: Option<IpEndpoint>,
        config: Config,
        slot: Option<Slot<'s>>,
    ) -> Self {
        Self {
            inner,
            remote,
            config,
            _slot: slot,
        }
    }

    /// Waits for one message and returns it (plugins applied), or what became of it
    /// ([`Received::Refused`]: it was above our buffer's limit, we answered `0x00` and the
    /// stream is in sync; [`Received::Discarded`]: a receive plugin refused it).
    ///
    /// Between messages it waits as long as the peer stays silent; inside a message, a peer
    /// that sends nothing for the [stall limit](Config::stall) ends the connection with
    /// [`Error::Timeout`]. [`Error::Closed`] is a peer that closed between messages; a close
    /// inside a message is [`Error::Protocol`], and nothing of that message is delivered.
    ///
    /// Cancel-safe as [`AsyncConnection::receive`] is: dropped, the next call resumes.
    pub async fn receive(&mut self) -> Result<Received<&[u8]>, Error<T::Error>> {
        let Some(stall) = self.config.stall_limit() else {
            return self.inner.receive().await;
        };
        let mut seen = progress(self.inner.session());
        let mut since = Instant::now();
        // Each receive is bounded by TICK and called again (the core resumes where the wire
        // is); the loop ends with the message, an error, or the stall limit.
        let received = loop {
            if let Ok(result) = with_timeout(TICK, self.inner.receive()).await {
                break result.map(|received| received.map(drop))?;
            }
            let now = progress(self.inner.session());
            if now != seen || now.0 == Phase::Idle {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() >= stall {
                return Err(Error::Timeout { phase: now.0 });
            }
        };
        Ok(received.map(|()| self.inner.buffer().as_slice()))
    }

    /// Sends one message and completes once it is written ([`Sent::Written`]) or the peer
    /// refused its size ([`Sent::Rejected`]; the connection goes on). A peer that stops
    /// acknowledging is bounded by the socket's own timeout (`TcpSocket::set_timeout`).
    ///
    /// Dropped mid-message, the connection is over ([`Error::Cancelled`] from then on), as
    /// [`AsyncConnection::transmit`] documents.
    pub async fn transmit(&mut self, msg: &[u8]) -> Result<Sent, TransmitError<T::Error>> {
        self.inner.transmit(msg).await
    }

    /// The peer's address and port, as the socket saw them when the connection was made.
    pub fn remote(&self) -> Option<IpEndpoint> {
        self.remote
    }

    /// The protocol state, for inspection.
    pub fn session(&self) -> &Session {
        self.inner.session()
    }

    /// The core's connection, for what this type does not offer.
    pub fn connection_mut(&mut self) -> &mut AsyncConnection<T, B, P> {
        &mut self.inner
    }
}

impl<B: Buffer, P: Plugins> Conn<'_, &mut TcpSocket<'_>, B, P> {
    /// Closes the connection: our FIN, then up to the [close wait](Config::close_wait) for the
    /// peer's, then the socket is free for the next `accept` or `connect`. A server's
    /// connection slot is free once this returns.
    pub async fn close(self) {
        let Self { inner, config, .. } = self;
        close(inner.into_inner(), config.close_wait_limit()).await;
    }
}

/// Where a session is in its input: the peer made progress when this changes.
fn progress(session: &Session) -> (Phase, NextRead, usize) {
    (
        session.phase(),
        session.next_read(),
        session.payload_received(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testio::{block_on, peer, Peer};
    use tinyproto_core::session::ProtocolError;

    const STALL: Duration = Duration::from_millis(300);

    fn conn(input: &'static [u8], closes: bool) -> Conn<'static, Peer, heapless::Vec<u8, 16>> {
        let inner = AsyncConnection::new(peer(input, closes), heapless::Vec::new());
        Conn::new(inner, None, Config::new().stall(Some(STALL)), None)
    }

    #[test]
    fn a_message_is_delivered_whole_then_a_clean_close_is_closed() {
        let mut conn = conn(b"\xff\0\0\0\x03abc", true);
        block_on(async {
            assert_eq!(conn.receive().await, Ok(Received::Message(&b"abc"[..])));
            assert_eq!(conn.receive().await, Err(Error::Closed));
        });
    }

    #[test]
    fn a_peer_silent_inside_a_header_is_stalled() {
        let mut conn = conn(b"\xff\0\0", false);
        let start = Instant::now();
        let got = block_on(conn.receive());
        assert_eq!(
            got,
            Err(Error::Timeout {
                phase: Phase::Header
            })
        );
        assert!(start.elapsed() >= STALL);
    }

    #[test]
    fn a_peer_silent_between_messages_is_not_stalled() {
        let mut conn = conn(b"\xff", false);
        let waited = block_on(with_timeout(STALL * 3, conn.receive()));
        assert!(waited.is_err(), "still waiting after three stall limits");
    }

    #[test]
    fn a_close_inside_a_payload_is_a_protocol_error_and_delivers_nothing() {
        let mut conn = conn(b"\xff\0\0\0\x05ab", true);
        let got = block_on(conn.receive());
        assert!(
            matches!(
                got,
                Err(Error::Protocol(ProtocolError::UnexpectedEof { .. }))
            ),
            "{got:?}"
        );
    }
}
