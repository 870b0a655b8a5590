//! The tokio contender: `tinyproto-tokio` as a tokio user writes it.
//! * server: a `Listener` on the multi-threaded runtime (one worker per CPU), a task per
//!   connection echoing with `conn.send(msg)` of the `Bytes` it received (moved back out, no
//!   copy: its memory then receives the next message);
//! * client: lockstep `send(..).await`, then `recv().await`, on a current-thread runtime; the
//!   echo received is sent back (moved), as the floor reuses its buffers. Bulk: one shared
//!   `Bytes` payload sent again and again (no copy), then a 1-byte end marker echoed.

use super::{print_result, RoleArgs, FILL, SINK_ECHO_BELOW};
use bytes::Bytes;
use std::io;
use std::time::{Duration, Instant};
use tinyproto_tokio::{ConnectionBuilder, Listener, Received, Sent, Timeouts};

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Long transfers must not trip the stall timeouts; the harness bounds every run itself.
const TIMEOUTS: Timeouts = Timeouts::new();

pub fn server(a: &RoleArgs) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut listener = Listener::builder()
            .listen(format!("127.0.0.1:{}", a.port))
            .max_message_size(a.max)
            .timeouts(TIMEOUTS)
            .bind()
            .await
            .map_err(err)?;
        println!("LISTENING {}", listener.local_addrs()[0].port());
        let echo_all = a.mode == "echo";
        while let Some(mut conn) = listener.accept().await {
            tokio::spawn(async move {
                while let Ok(Some(Received::Message(msg))) = conn.recv().await {
                    if (echo_all || msg.len() < SINK_ECHO_BELOW) && conn.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok(())
    })
}

pub fn client(a: &RoleArgs) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut conn = ConnectionBuilder::new()
            .max_message_size(a.size.max(1))
            .timeouts(TIMEOUTS)
            .connect_timeout(Some(Duration::from_secs(10)))
            .connect(("127.0.0.1", a.port))
            .await
            .map_err(err)?;
        let payload = Bytes::from(vec![FILL; a.size]);
        let deadline = a.deadline();
        let start = Instant::now();
        let mut ops = 0;
        let mut echo: Option<Bytes> = None;
        while ops < a.count && Instant::now() < deadline {
            let msg = echo.take().unwrap_or_else(|| payload.clone());
            if conn.send(msg).await.map_err(err)? != Sent::Written {
                return Err(err("message rejected"));
            }
            if a.task == "echo" {
                let got = conn.recv().await.map_err(err)?;
                let got = got.and_then(|r| r.message()).ok_or(err("no echo"))?;
                if got.len() != a.size {
                    return Err(err("echo of the wrong length"));
                }
                echo = Some(got);
            }
            ops += 1;
        }
        if a.task == "bulk" {
            let _end_marker: Sent = conn.send("E").await.map_err(err)?;
            conn.recv().await.map_err(err)?;
        }
        print_result(ops, ops * a.size as u64, start.elapsed());
        Ok(())
    })
}
