//! The UART image: tinyproto over the board's UART0 with the core's `BlockingConnection`.
//!
//! Command line (semihosting): `client COUNTxSIZE...` sends `hello`, the batches and `SRVQUIT`
//! to the peer (an echo server) and checks every reply; `server` echoes every message
//! (`Echo back: ` + message) until `QUIT` or `SRVQUIT`. QEMU joins the UART to a TCP socket.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use panic_semihosting as _;
use tinyproto_core::buffer::SliceBuffer;
use tinyproto_core::{BlockingConnection, Error};
use tinyproto_firmware::uart::{Uart, UartError};
use tinyproto_firmware::workload::{parse_batches, ArgError, Script, ECHO_PREFIX, QUIT, SRVQUIT};
use tinyproto_firmware::{boot, finish};

/// Largest message sent or received (an echo reply: prefix + 16 KiB).
const MAX_MESSAGE: usize = 16 * 1024 + 64;
/// A peer silent this long inside a run fails it (the suite bounds QEMU as well).
const READ_TIMEOUT_MS: u64 = 20_000;

type Conn = BlockingConnection<Uart, SliceBuffer<'static>>;

#[entry]
fn main() -> ! {
    let args = boot();
    let Some(uart) = Uart::take_uart0() else {
        finish(Err(&"UART0 taken"))
    };
    let conn_buf = cortex_m::singleton!(: [u8; MAX_MESSAGE] = [0; MAX_MESSAGE]);
    let scratch = cortex_m::singleton!(: [u8; MAX_MESSAGE] = [0; MAX_MESSAGE]);
    let (Some(conn_buf), Some(scratch)) = (conn_buf, scratch) else {
        finish(Err(&"buffers taken"))
    };
    let mut conn = BlockingConnection::new(
        uart.read_timeout(Some(READ_TIMEOUT_MS)),
        SliceBuffer::new(conn_buf),
    );
    let mut words = args.split_ascii_whitespace();
    match words.next() {
        Some("client") => match parse_batches(words, MAX_MESSAGE - ECHO_PREFIX.len()) {
            Ok(batches) => client(&mut conn, Script::new(batches), scratch),
            Err(e) => finish(Err(&e)),
        },
        Some("server") => server(&mut conn, scratch),
        _ => finish(Err(&ArgError::Bad("client or server"))),
    }
}

/// Runs the script against an echo server, then stops the server with `SRVQUIT`.
fn client(conn: &mut Conn, mut script: Script, scratch: &mut [u8]) -> ! {
    let outcome = (|| -> Result<u32, Failure> {
        while let Some(msg) = script.message(scratch) {
            conn.transmit(msg)?;
            script
                .check_reply(conn.receive()?)
                .map_err(Failure::Mismatch)?;
        }
        conn.transmit(SRVQUIT)?;
        Ok(script.answered())
    })();
    match outcome {
        Ok(n) => {
            hprintln!("client: {} messages echoed, SRVQUIT sent", n);
            finish(Ok(()))
        }
        Err(e) => finish(Err(&e)),
    }
}

/// Echoes every message until `QUIT` or `SRVQUIT` (a UART has no close).
fn server(conn: &mut Conn, reply: &mut [u8]) -> ! {
    hprintln!("LISTENING uart");
    reply[..ECHO_PREFIX.len()].copy_from_slice(ECHO_PREFIX);
    let mut served = 0u32;
    let outcome = loop {
        let len = match conn.receive() {
            Ok(msg) if msg == QUIT || msg == SRVQUIT => break Ok(()),
            Ok(msg) => {
                let end = ECHO_PREFIX.len() + msg.len();
                reply[ECHO_PREFIX.len()..end].copy_from_slice(msg);
                end
            }
            // Refused with 0x00; the stream is in sync and the peer goes on.
            Err(Error::TooLarge { len, .. }) => {
                hprintln!("refused a message of {} B", len);
                continue;
            }
            Err(e) => break Err(Failure::Link(e)),
        };
        if let Err(e) = conn.transmit(&reply[..len]) {
            break Err(Failure::Link(e));
        }
        served += 1;
    };
    hprintln!("server: {} messages echoed", served);
    match outcome {
        Ok(()) => finish(Ok(())),
        Err(e) => finish(Err(&e)),
    }
}

/// Why a run failed.
enum Failure {
    Link(Error<UartError>),
    Mismatch(tinyproto_firmware::workload::Mismatch),
}

impl From<Error<UartError>> for Failure {
    fn from(e: Error<UartError>) -> Self {
        Self::Link(e)
    }
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Link(e) => write!(f, "tinyproto over the UART: {e}"),
            Self::Mismatch(m) => m.fmt(f),
        }
    }
}
