//! Shared by the integration tests: an echo server on the test's runtime, test messages.
#![allow(dead_code)] // each test file uses its own subset

use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;
use tinyproto_tokio::{Error, Listener, ListenerBuilder, Received};
use tokio_util::sync::CancellationToken;

/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);

/// The seed's echo: `Echo back: ` + message.
pub fn echo(msg: &[u8]) -> Vec<u8> {
    [b"Echo back: ", msg].concat()
}

/// A deterministic message of `len` bytes.
pub fn message(len: usize, seed: u64) -> Vec<u8> {
    tinyproto_testkit::Rng(seed).bytes(len)
}

/// The message a `recv` returned; panics on anything else (a refusal, the end, an error).
pub fn message_of(got: Result<Option<Received<Bytes>>, Error>) -> Bytes {
    match got {
        Ok(Some(Received::Message(msg))) => msg,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// An echo server on the current runtime; stopped when dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl EchoServer {
    /// [`EchoServer::at`] 127.0.0.1, on a port the system picks.
    pub async fn start(builder: ListenerBuilder) -> EchoServer {
        Self::at(builder, "127.0.0.1:0").await
    }

    /// Binds `builder` to `addr` and serves the seed's echo, each connection in a task.
    /// Refusals of oversize messages are skipped, as by the example.
    pub async fn at(builder: ListenerBuilder, addr: &str) -> EchoServer {
        let mut listener: Listener = builder.listen(addr).bind().await.expect("bind");
        let addr = listener.local_addrs()[0];
        let stop = listener.shutdown_token();
        tokio::spawn(async move {
            while let Some(mut conn) = listener.accept().await {
                tokio::spawn(async move {
                    loop {
                        match conn.recv().await {
                            Ok(Some(Received::Message(msg))) => {
                                if conn.send(echo(&msg)).await.is_err() {
                                    break;
                                }
                            }
                            Ok(Some(_refused_or_discarded)) => {}
                            _ => break,
                        }
                    }
                });
            }
        });
        EchoServer { addr, stop }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
