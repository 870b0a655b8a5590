//! One connection, server's or client's: the core's `AsyncConnection` with the stall and
//! status limits, and its close.

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
use crate::status::StatusLimited;

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
    inner: AsyncConnection<StatusLimited<T>, B, P>,
    remote: Option<IpEndpoint>,
    config: Config,
    _slot: Option<Slot<'s>>,
}

impl<'s, T: Read + Write, B: Buffer, P: Plugins> Conn<'s, T, B, P> {
    /// Wraps a connection whose handshake is done (or still to do: the first call does it).
    pub(crate) fn new(
        inner: AsyncConnection<StatusLimited<T>, B, P>,
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
    /// After a [`transmit`](Self::transmit) that timed out it fails with that timeout.
    pub async fn receive(&mut self) -> Result<Received<&[u8]>, Error<T::Error>> {
        self.status_expired()?;
        // A transmit dropped while it waited for the status byte left its limit set.
        self.inner.io_mut().limit_reads(None);
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
    /// refused its size ([`Sent::Rejected`]; the connection goes on).
    ///
    /// A peer that does not answer our header with its status byte within the
    /// [status limit](Config::status) ends the connection with
    /// [`Error::Timeout`]` { phase: Phase::Status }` (in a [`TransmitError::Connection`]);
    /// nothing of the payload was sent, and every later `transmit` and `receive` fails with
    /// the same timeout. A peer that stops acknowledging what we write is bounded by the
    /// socket's own timeout (`TcpSocket::set_timeout`).
    ///
    /// Dropped mid-message, the connection is over ([`Error::Cancelled`] from then on), as
    /// [`AsyncConnection::transmit`] documents.
    pub async fn transmit(&mut self, msg: &[u8]) -> Result<Sent, TransmitError<T::Error>> {
        self.status_expired()?;
        // A handshake still to do waits for the init byte, not the status byte.
        self.inner.io_mut().limit_reads(None);
        self.inner.handshake().await?;
        self.inner.io_mut().limit_reads(self.config.status_limit());
        let sent = self.inner.transmit(msg).await;
        self.inner.io_mut().limit_reads(None);
        // Past the limit the status byte's read ended the stream: the core reports an end of
        // stream, which was our doing.
        self.status_expired()?;
        sent
    }

    /// The peer's address and port, as the socket saw them when the connection was made.
    pub fn remote(&self) -> Option<IpEndpoint> {
        self.remote
    }

    /// The protocol state, for inspection.
    pub fn session(&self) -> &Session {
        self.inner.session()
    }

    /// The transport (for a socket: its TCP timeout, keep-alive, or addresses).
    pub fn io_mut(&mut self) -> &mut T {
        self.inner.io_mut().get_mut()
    }

    /// [`Error::Timeout`] in the status phase once a transmit ran out of its status limit.
    fn status_expired(&mut self) -> Result<(), Error<T::Error>> {
        if self.inner.io_mut().expired() {
            return Err(Error::Timeout {
                phase: Phase::Status,
            });
        }
        Ok(())
    }
}

impl<B: Buffer, P: Plugins> Conn<'_, &mut TcpSocket<'_>, B, P> {
    /// Closes the connection: our FIN, then up to the [close wait](Config::close_wait) for the
    /// peer's, then the socket is free for the next `accept` or `connect`. A server's
    /// connection slot is free once this returns.
    pub async fn close(self) {
        let Self { inner, config, .. } = self;
        close(inner.into_inner().into_inner(), config.close_wait_limit()).await;
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

    const STATUS: Duration = Duration::from_millis(300);

    fn conn(input: &'static [u8], closes: bool) -> Conn<'static, Peer, heapless::Vec<u8, 16>> {
        let io = StatusLimited::new(peer(input, closes));
        let inner = AsyncConnection::new(io, heapless::Vec::new());
        let config = Config::new().stall(Some(STALL)).status(Some(STATUS));
        Conn::new(inner, None, config, None)
    }

    const STATUS_TIMEOUT: Error<core::convert::Infallible> = Error::Timeout {
        phase: Phase::Status,
    };

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

    #[test]
    fn a_peer_silent_on_the_status_byte_times_out_and_no_payload_is_sent() {
        // Its init byte, then nothing: our header is never answered.
        let mut conn = conn(b"\xff", false);
        let start = Instant::now();
        let got = block_on(conn.transmit(b"abc"));
        assert_eq!(got, Err(TransmitError::Connection(STATUS_TIMEOUT)));
        assert!(start.elapsed() >= STATUS);
        assert_eq!(
            conn.io_mut().output,
            b"\xff\0\0\0\x03",
            "init byte and header only"
        );
        // The connection is over, and says why to every later call.
        block_on(async {
            assert_eq!(conn.receive().await, Err(STATUS_TIMEOUT));
            let again = conn.transmit(b"x").await;
            assert_eq!(again, Err(TransmitError::Connection(STATUS_TIMEOUT)));
        });
        assert_eq!(conn.io_mut().output.len(), 5, "nothing more was written");
    }

    #[test]
    fn an_answered_status_byte_sends_the_payload_and_leaves_receive_unbounded() {
        let mut conn = conn(b"\xff\xff", false);
        assert_eq!(block_on(conn.transmit(b"abc")), Ok(Sent::Written));
        assert_eq!(conn.io_mut().output, b"\xff\0\0\0\x03abc");
        // Silence between messages after the transmit: not the status limit's business.
        let waited = block_on(with_timeout(STATUS * 3, conn.receive()));
        assert!(waited.is_err(), "still waiting after three status limits");
    }

    #[test]
    fn a_transmit_dropped_before_the_status_limit_is_cancelled_not_bounded_later() {
        let mut conn = conn(b"\xff", false);
        let dropped = block_on(with_timeout(STATUS / 3, conn.transmit(b"abc")));
        assert!(dropped.is_err(), "the caller's own timeout came first");
        // Its read limit does not outlive it: the core's rule for a dropped transmit holds.
        assert_eq!(block_on(conn.receive()), Err(Error::Cancelled));
    }

    #[test]
    fn a_rejected_header_within_the_status_limit_is_rejected() {
        let mut conn = conn(b"\xff\0", false);
        assert_eq!(
            block_on(conn.transmit(b"abc")),
            Ok(Sent::Rejected { len: 3 })
        );
    }

    #[test]
    fn without_a_status_limit_a_silent_peer_is_waited_for() {
        let io = StatusLimited::new(peer(b"\xff", false));
        let inner = AsyncConnection::new(io, heapless::Vec::<u8, 16>::new());
        let mut conn = Conn::new(inner, None, Config::new().status(None), None);
        let waited = block_on(with_timeout(STATUS * 3, conn.transmit(b"abc")));
        assert!(waited.is_err(), "still waiting after three status limits");
    }
}
