//! The UART image on `embassy-executor` with the core's async driver (`AsyncConnection`): the
//! same runs as the `uart` image, but a read that finds no byte waits for the UART's receive
//! interrupt and the executor sleeps meanwhile.
//!
//! Command line (semihosting): `client COUNTxSIZE...` or `server`, as for `uart`.
#![no_std]
#![no_main]

use cortex_m_semihosting::hprintln;
use panic_semihosting as _;
use tinyproto_core::buffer::SliceBuffer;
use tinyproto_core::AsyncConnection;
use tinyproto_firmware::uart::{AsyncUart, UartError};
use tinyproto_firmware::workload::{
    client_done, echo_step, parse_batches, reply_sent, server_done, uart_buffers, ArgError,
    Failure, Next, Script, ECHO_PREFIX, SRVQUIT, UART_MAX_MESSAGE,
};
use tinyproto_firmware::{boot, finish};

type Conn = AsyncConnection<AsyncUart, SliceBuffer<'static>>;

#[embassy_executor::main]
async fn main(_spawner: embassy_executor::Spawner) {
    let args = boot();
    let (Some(uart), Some([conn_buf, scratch])) = (AsyncUart::take_uart0(), uart_buffers()) else {
        finish(Err(&"UART0 or its buffers taken"))
    };
    let mut conn = AsyncConnection::new(uart, SliceBuffer::new(conn_buf));
    let mut words = args.split_ascii_whitespace();
    match words.next() {
        Some("client") => match parse_batches(words, UART_MAX_MESSAGE - ECHO_PREFIX.len()) {
            Ok(batches) => client(&mut conn, Script::new(batches), scratch).await,
            Err(e) => finish(Err(&e)),
        },
        Some("server") => server(&mut conn, scratch).await,
        _ => finish(Err(&ArgError::Bad("client or server"))),
    }
}

/// Runs the script against an echo server, then stops the server with `SRVQUIT`.
async fn client(conn: &mut Conn, mut script: Script, scratch: &mut [u8]) {
    let run = async {
        while let Some(msg) = script.message(scratch) {
            script.sent(conn.transmit(msg).await)?;
            script.received(conn.receive().await)?;
        }
        script.sent(conn.transmit(SRVQUIT).await)?;
        Ok::<_, Failure<UartError>>(script.answered())
    };
    client_done(run.await)
}

/// Echoes every message until `QUIT` or `SRVQUIT`.
async fn server(conn: &mut Conn, reply: &mut [u8]) {
    hprintln!("LISTENING uart (async)");
    let mut served = 0u32;
    let outcome = loop {
        match echo_step(conn.receive().await, reply) {
            Next::Reply(len) => match reply_sent(conn.transmit(&reply[..len]).await) {
                Ok(written) => served += u32::from(written),
                Err(e) => break Err(e.into()),
            },
            Next::Skip => {}
            Next::Stop(outcome) => break outcome,
        }
    };
    server_done(served, outcome)
}
