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
use tinyproto_core::BlockingConnection;
use tinyproto_firmware::uart::{Uart, UartError};

use tinyproto_firmware::workload::{
    client_done, echo_step, parse_batches, reply_sent, server_done, uart_buffers, ArgError,
    Failure, Next, Script, ECHO_PREFIX, SRVQUIT, UART_MAX_MESSAGE,
};
use tinyproto_firmware::{boot, finish};

/// A peer silent this long inside a run fails it (the suite bounds QEMU as well).
const READ_TIMEOUT_MS: u64 = 20_000;

type Conn = BlockingConnection<Uart, SliceBuffer<'static>>;

#[entry]
fn main() -> ! {
    let args = boot();
    let (Some(uart), Some([conn_buf, scratch])) = (Uart::take_uart0(), uart_buffers()) else {
        finish(Err(&"UART0 or its buffers taken"))
    };
    let mut conn = BlockingConnection::new(
        uart.read_timeout(Some(READ_TIMEOUT_MS)),
        SliceBuffer::new(conn_buf),
    );
    let mut words = args.split_ascii_whitespace();
    match words.next() {
        Some("client") => match parse_batches(words, UART_MAX_MESSAGE - ECHO_PREFIX.len()) {
            Ok(batches) => client(&mut conn, Script::new(batches), scratch),
            Err(e) => finish(Err(&e)),
        },
        Some("server") => server(&mut conn, scratch),
        _ => finish(Err(&ArgError::Bad("client or server"))),
    }
}

/// Runs the script against an echo server, then stops the server with `SRVQUIT`.
fn client(conn: &mut Conn, mut script: Script, scratch: &mut [u8]) -> ! {
    let mut run = || -> Result<u32, Failure<UartError>> {
        while let Some(msg) = script.message(scratch) {
            script.sent(conn.transmit(msg))?;
            script.received(conn.receive())?;
        }
        script.sent(conn.transmit(SRVQUIT))?;
        Ok(script.answered())
    };
    client_done(run())
}

/// Echoes every message until `QUIT` or `SRVQUIT`.
fn server(conn: &mut Conn, reply: &mut [u8]) -> ! {
    hprintln!("LISTENING uart");
    let mut served = 0u32;
    let outcome = loop {
        match echo_step(conn.receive(), reply) {
            Next::Reply(len) => match reply_sent(conn.transmit(&reply[..len])) {
                Ok(written) => served += u32::from(written),
                Err(e) => break Err(e.into()),
            },
            Next::Skip => {}
            Next::Stop(outcome) => break outcome,
        }
    };
    server_done(served, outcome)
}
