//! What the server and the client do to an embassy-net socket around a connection: the
//! graceful close, and the refusal of a peer over the connection limit.

use embassy_net::tcp::TcpSocket;
use embassy_time::{with_deadline, with_timeout, Duration, Instant};
use embedded_io_async::{Read, Write};
use tinyproto_core::refusal::Refusal;

/// Most bytes one read of a refused peer's input drops.
const SINK: usize = 64;

/// A transport that can send its FIN and still read (TCP's half-close).
pub(crate) trait HalfClose: Read + Write {
    /// Sends our FIN once what was written is out; reading goes on.
    fn half_close(&mut self);
}

impl HalfClose for TcpSocket<'_> {
    fn half_close(&mut self) {
        self.close();
    }
}

/// Closes `socket` and waits up to `wait` for the peer's FIN (reading and dropping what it
/// still sends), then resets what is left, so the socket can `accept` or `connect` again.
pub(crate) async fn close(socket: &mut TcpSocket<'_>, wait: Duration) {
    socket.close();
    let _ = with_timeout(wait, drain(socket)).await;
    // After the peer's FIN this frees a socket in TIME-WAIT; otherwise it resets the peer.
    socket.abort();
    let _ = with_timeout(wait, socket.flush()).await;
}

/// Answers a peer over the connection limit on the core's [`Refusal`] machine: the single
/// byte `0xfe`, our FIN, then the peer's bytes (its init byte) are read and dropped until it
/// closes or `linger` passes — closing with its bytes unread would reset the connection and
/// could destroy the answer before the peer reads it. Returns `true` when the linger ran out
/// (the peer is still there). The caller closes the socket.
pub(crate) async fn refuse<S: HalfClose + ?Sized>(io: &mut S, linger: Duration) -> bool {
    let start = Instant::now();
    let deadline = start + linger;
    let linger_ms = u32::try_from(linger.as_millis()).unwrap_or(u32::MAX);
    let mut refusal = Refusal::new(0, linger_ms);
    let answered_and_closed = with_deadline(deadline, async {
        // The answer; the deadline bounds a peer that never makes room for it.
        while !refusal.is_done() && !refusal.pending_output().is_empty() {
            match io.write(refusal.pending_output()).await {
                Ok(n) => {
                    if refusal.output_written(n) {
                        if io.flush().await.is_err() {
                            refusal.peer_closed();
                        }
                        io.half_close();
                    }
                }
                Err(_) => refusal.peer_closed(),
            }
        }
        // The linger: the peer's bytes are dropped until it closes.
        let mut sink = [0u8; SINK];
        while !refusal.is_done() {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => refusal.peer_closed(),
                Ok(_) => {}
            }
        }
    })
    .await;
    match answered_and_closed {
        Ok(()) => false,
        Err(_) => refusal.check_deadline(Instant::now().duration_since(start).as_millis()),
    }
}

/// Reads and drops the peer's bytes until its FIN (or an error).
async fn drain(socket: &mut TcpSocket<'_>) {
    let _ = socket.flush().await;
    let mut scratch = [0u8; SINK];
    while let Ok(1..) = socket.read(&mut scratch).await {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testio::{block_on, peer};
    use tinyproto_core::wire::SC_CONLIMIT;

    #[test]
    fn a_refused_peer_gets_one_0xfe_then_our_fin_and_its_bytes_are_dropped() {
        let mut io = peer(&[0xff, 0, 0, 0, 1, b'x'], true);
        let timed_out = block_on(refuse(&mut io, Duration::from_secs(5)));
        assert!(!timed_out, "the peer closed within the linger");
        assert_eq!(io.output, [SC_CONLIMIT]);
        assert_eq!(io.half_closed_after, Some(1), "FIN right after the answer");
        assert!(
            io.input.is_empty(),
            "everything it sent was read and dropped"
        );
    }

    #[test]
    fn a_refused_peer_that_stays_is_cut_off_at_the_linger() {
        let mut io = peer(&[0xff], false);
        let start = Instant::now();
        let timed_out = block_on(refuse(&mut io, Duration::from_millis(200)));
        assert!(timed_out);
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(io.output, [SC_CONLIMIT]);
    }
}
