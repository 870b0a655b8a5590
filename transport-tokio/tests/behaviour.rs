//! The connection against a raw peer that writes and checks the wire bytes itself: refusals
//! with the stream in sync, a peer closing mid-message, cancellation at await points, sending
//! and receiving at once, timeouts, shutdown, names and IPv6.

mod common;

use common::*;
use std::time::Duration;
use tinyproto_tokio::{
    ConnectError, Connection, ConnectionBuilder, Error, Listener, Phase, ProtocolError, Received,
    Sent, TransmitError, DEFAULT_TIMEOUTS,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A raw peer: a TCP connection whose bytes the test writes and reads itself.
struct Raw(TcpStream);

impl Raw {
    async fn byte(&mut self) -> u8 {
        let mut b = [0];
        self.0
            .read_exact(&mut b)
            .await
            .expect("a byte from our side");
        b[0]
    }

    async fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.0
            .read_exact(&mut b)
            .await
            .expect("bytes from our side");
        b
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).await.expect("write to our side");
    }

    /// Sends a whole message as a sender does, expecting `0xff` after the header.
    async fn send(&mut self, msg: &[u8]) {
        self.write(&(msg.len() as u32).to_be_bytes()).await;
        assert_eq!(self.byte().await, 0xff, "go ahead");
        self.write(msg).await;
    }
}

/// Our connection (made with `builder`) and a raw peer, handshake done.
async fn pair(builder: ConnectionBuilder) -> (Connection<TcpStream>, Raw) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = async {
        let (stream, _) = listener.accept().await.unwrap();
        let mut raw = Raw(stream);
        raw.write(&[0xff]).await;
        assert_eq!(raw.byte().await, 0xff, "our init byte");
        raw
    };
    let (conn, raw) = tokio::join!(builder.connect(addr), peer);
    (conn.unwrap(), raw)
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f).await.expect("in time")
}

#[tokio::test]
async fn an_oversize_message_is_answered_0x00_and_the_next_one_arrives() {
    let (mut conn, mut raw) = pair(ConnectionBuilder::new().max_message_size(1000)).await;
    let peer = async {
        raw.write(&2000u32.to_be_bytes()).await;
        assert_eq!(raw.byte().await, 0x00, "refused, no payload expected");
        raw.send(b"abc").await;
        raw
    };
    let (got, mut raw) = tokio::join!(
        async {
            let first = conn.recv().await;
            (first, conn.recv().await)
        },
        peer
    );
    assert!(
        matches!(
            got.0,
            Ok(Some(Received::Refused {
                len: 2000,
                limit: 1000
            }))
        ),
        "{:?}",
        got.0
    );
    assert_eq!(&message_of(got.1)[..], b"abc");
    // A message above the peer's limit: the peer answers 0x00; nothing is sent, and the
    // connection goes on.
    let (sent, _) = tokio::join!(conn.send(vec![7u8; 5000]), async {
        assert_eq!(raw.bytes(4).await, 5000u32.to_be_bytes());
        raw.write(&[0x00]).await;
    });
    assert!(matches!(sent, Ok(Sent::Rejected { len: 5000 })), "{sent:?}");
    let (sent, wire) = tokio::join!(conn.send("ok"), async {
        let header = raw.bytes(4).await;
        raw.write(&[0xff]).await;
        (header, raw.bytes(2).await)
    });
    assert_eq!(sent.unwrap(), Sent::Written);
    assert_eq!(wire, (2u32.to_be_bytes().to_vec(), b"ok".to_vec()));
}

#[tokio::test]
async fn a_peer_closing_mid_message_is_a_typed_error_and_nothing_partial_arrives() {
    // Mid-payload: 4 of 10 bytes, then the peer closes.
    let (mut conn, mut raw) = pair(ConnectionBuilder::new()).await;
    raw.write(&10u32.to_be_bytes()).await;
    let (got, ()) = tokio::join!(conn.recv(), async {
        assert_eq!(raw.byte().await, 0xff);
        raw.write(b"abcd").await;
        drop(raw);
    });
    let want = ProtocolError::UnexpectedEof {
        phase: Phase::ReceivingPayload,
        missing: 6,
    };
    assert!(
        matches!(got, Err(Error::Protocol(e)) if e == want),
        "{got:?}"
    );
    // Every later call reports the end too.
    assert!(conn.recv().await.is_err());
    assert!(conn.send("late").await.is_err());

    // Mid-header: 2 of 4 bytes.
    let (mut conn, mut raw) = pair(ConnectionBuilder::new()).await;
    raw.write(&[0, 1]).await;
    drop(raw);
    let got = within(conn.recv()).await;
    let want = ProtocolError::UnexpectedEof {
        phase: Phase::Header,
        missing: 2,
    };
    assert!(
        matches!(got, Err(Error::Protocol(e)) if e == want),
        "{got:?}"
    );

    // Between messages: a normal end.
    let (mut conn, raw) = pair(ConnectionBuilder::new()).await;
    drop(raw);
    assert!(within(conn.recv()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_dropped_recv_loses_nothing() {
    let (mut conn, mut raw) = pair(ConnectionBuilder::new()).await;
    let msg = message(100_000, 9);
    // The header and part of the payload arrive; `recv` answers the header and reads what is
    // there, then is dropped (a select! branch not taken) at its await point.
    raw.write(&(msg.len() as u32).to_be_bytes()).await;
    let (notify, notified) = tokio::sync::oneshot::channel();
    let peer = async {
        assert_eq!(raw.byte().await, 0xff, "answered by the first recv");
        raw.write(&msg[..30_000]).await;
        notify.send(()).unwrap();
        raw
    };
    let ((), mut raw) = tokio::join!(
        async {
            tokio::select! {
                got = conn.recv() => panic!("the message is not complete: {got:?}"),
                _ = notified => {}
            }
        },
        peer
    );
    // A recv cut by a timeout while nothing more arrives.
    let timed_out = tokio::time::timeout(Duration::from_millis(20), conn.recv()).await;
    assert!(timed_out.is_err());
    // The rest, then a second message: both arrive whole, in order.
    raw.write(&msg[30_000..]).await;
    let got = message_of(within(conn.recv()).await);
    assert!(got == msg, "the whole message");
    let (got, ()) = tokio::join!(conn.recv(), raw.send(b"next"));
    assert_eq!(&message_of(got)[..], b"next");
}

#[tokio::test]
async fn a_dropped_send_still_goes_out_whole_and_the_stream_stays_in_sync() {
    let (mut conn, mut raw) = pair(ConnectionBuilder::new()).await;
    let msg = message(300_000, 3);
    let (notify, notified) = tokio::sync::oneshot::channel();
    // The send announces its message and waits for the status byte; it is dropped there.
    let header = async {
        let header = raw.bytes(4).await;
        notify.send(()).unwrap();
        header
    };
    let (header, ()) = tokio::join!(header, async {
        tokio::select! {
            sent = conn.send(msg.clone()) => panic!("no status byte yet: {sent:?}"),
            _ = notified => {}
        }
    });
    assert_eq!(header, (msg.len() as u32).to_be_bytes());
    // The peer lets it go ahead, reads it all, then sends a message; our next recv finishes
    // the abandoned send on the way.
    let peer = async {
        raw.write(&[0xff]).await;
        let payload = raw.bytes(msg.len()).await;
        raw.send(b"after").await;
        payload
    };
    let (got, payload) = tokio::join!(conn.recv(), peer);
    assert!(payload == msg, "the payload arrived whole");
    assert_eq!(&message_of(got)[..], b"after");
    // A new send works normally.
    let (sent, ()) = tokio::join!(conn.send("again"), async {
        assert_eq!(raw.bytes(4).await, 5u32.to_be_bytes());
        raw.write(&[0xff]).await;
        assert_eq!(raw.bytes(5).await, b"again");
    });
    assert_eq!(sent.unwrap(), Sent::Written);
}

/// One task waits in `recv` the whole time while another sends; the sender reads its own
/// status bytes, and the replies reach the waiting task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_send_and_receive_at_the_same_time() {
    let server = EchoServer::start(Listener::builder()).await;
    let (mut tx, mut rx) = tinyproto_tokio::connect(server.addr)
        .await
        .unwrap()
        .into_split();
    let (seen_tx, mut seen) = tokio::sync::mpsc::channel(1);
    let reader = tokio::spawn(async move {
        while let Ok(Some(Received::Message(msg))) = rx.recv().await {
            if seen_tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    for i in 0..200u32 {
        let msg = message(i as usize * 97, u64::from(i));
        assert_eq!(tx.send(msg.clone()).await.unwrap(), Sent::Written);
        let reply = within(seen.recv()).await.unwrap();
        assert!(reply == echo(&msg), "reply {i}");
    }
    drop(tx);
    drop(seen);
    reader.abort();
}

/// A server pushes from its sending half while its receiving half waits for the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_pushes_while_its_receiver_waits() {
    let mut listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addrs()[0];
    let (client, accepted) = tokio::join!(tinyproto_tokio::connect(addr), listener.accept());
    let mut client = client.unwrap();
    let (mut tx, mut rx) = accepted.unwrap().into_split();
    let waiting = tokio::spawn(async move { rx.recv().await });
    for i in 0..50 {
        let (sent, got) = tokio::join!(tx.send(format!("push {i}")), client.recv());
        assert_eq!(sent.unwrap(), Sent::Written);
        assert_eq!(&message_of(got)[..], format!("push {i}").as_bytes());
    }
    let (sent, got) = tokio::join!(client.send("from the client"), waiting);
    assert_eq!(sent.unwrap(), Sent::Written);
    assert_eq!(&message_of(got.unwrap())[..], b"from the client");
}

#[tokio::test]
async fn a_silent_server_times_out_in_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move { listener.accept().await });
    let timeouts = DEFAULT_TIMEOUTS.handshake(200);
    let result = within(ConnectionBuilder::new().timeouts(timeouts).connect(addr)).await;
    assert!(
        matches!(
            result,
            Err(ConnectError::Handshake(Error::Timeout {
                phase: Phase::Handshake
            }))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_peer_that_never_answers_our_header_times_out_in_the_status_phase() {
    let timeouts = DEFAULT_TIMEOUTS.status(200);
    let (mut conn, _raw) = pair(ConnectionBuilder::new().timeouts(timeouts)).await;
    let sent = within(conn.send("hello")).await;
    assert!(
        matches!(
            sent,
            Err(TransmitError::Connection(Error::Timeout {
                phase: Phase::Status
            }))
        ),
        "{sent:?}"
    );
}

#[tokio::test]
async fn cancelling_the_shutdown_token_ends_accept() {
    let mut listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let stop = listener.shutdown_token();
    let accepting = tokio::spawn(async move { listener.accept().await.is_none() });
    stop.cancel();
    assert!(within(accepting).await.unwrap(), "accept returned None");
}

#[tokio::test]
async fn host_names_and_ipv6() {
    let v4 = EchoServer::start(Listener::builder()).await;
    let v6 = EchoServer::at(Listener::builder(), "[::1]:0").await;
    assert!(v6.addr.is_ipv6());
    for addr in [
        format!("localhost:{}", v4.addr.port()),
        format!("[::1]:{}", v6.addr.port()),
    ] {
        let mut conn = tinyproto_tokio::connect(addr.as_str()).await.unwrap();
        assert_eq!(conn.send("hi").await.unwrap(), Sent::Written);
        assert!(message_of(conn.recv().await) == echo(b"hi"), "{addr}");
    }
    let unknown = tinyproto_tokio::connect("no-such-host.invalid:1").await;
    assert!(
        matches!(unknown, Err(ConnectError::Resolve(_))),
        "{unknown:?}"
    );
}
