//! The in-memory workloads of the core, shared by the criterion bench (`framing.rs`) and the
//! benchmark harness (`bench`, `scenarios/core_mem.rs`, which includes this
//! file), so both time exactly the same code.

use std::hint::black_box;
use tinyproto_core::buffer::SliceBuffer;
use tinyproto_core::script::ScriptedPeer;
use tinyproto_core::session::{Session, SessionEvent};
use tinyproto_core::BlockingConnection;

/// One MiB.
pub const MIB: usize = 1 << 20;
/// Read size of the scripted peer: what a socket read typically returns on loopback.
pub const CHUNK: usize = 64 * 1024;
/// Size of the small messages.
pub const SMALL: usize = 16;
/// Small messages per batch.
pub const BATCH: usize = 1024;

/// `ff` (the peer's init byte), then `count` messages of `size` bytes.
pub fn stream(size: usize, count: usize) -> Vec<u8> {
    let mut v = vec![0xff];
    for _ in 0..count {
        v.extend_from_slice(&(size as u32).to_be_bytes());
        v.extend(std::iter::repeat_n(0x5a, size));
    }
    v
}

/// Receives `count` messages of `input` (from [`stream`]) into `storage`; our answers (the
/// init byte and one `ff` per message) go to `answers`. Returns the bytes received.
pub fn receive(input: &[u8], storage: &mut [u8], answers: &mut [u8], count: usize) -> usize {
    let peer = ScriptedPeer::new(input, CHUNK, SliceBuffer::new(answers));
    let mut conn = BlockingConnection::new(peer, SliceBuffer::new(storage));
    let mut total = 0;
    for _ in 0..count {
        let received = conn.receive().expect("scripted message");
        total += received.message().expect("a whole message").len();
    }
    total
}

/// Sends `count` times `msg` to a peer that answers with `acks`, into `out`. Returns the
/// bytes written.
pub fn send(msg: &[u8], count: usize, acks: &[u8], out: &mut [u8]) -> usize {
    let peer = ScriptedPeer::new(acks, CHUNK, SliceBuffer::new(out));
    let mut conn = BlockingConnection::new(peer, heapless::Vec::<u8, 0>::new());
    for _ in 0..count {
        let sent = conn.transmit(msg).expect("scripted send");
        assert_eq!(sent, tinyproto_core::Sent::Written);
    }
    conn.into_inner().output().len()
}

/// Feeds `count` headers of 16-byte messages (and their payload counts) to a bare session.
/// Returns the messages it completed.
pub fn headers(count: usize) -> usize {
    let mut s = Session::new(1 << 20);
    s.output_written(1);
    let _ = s.handle_control(&[0xff]);
    let mut n = 0;
    for _ in 0..count {
        if let Ok(Some(SessionEvent::Incoming { .. })) = s.handle_control(black_box(&[0, 0, 0, 16]))
        {
            s.output_written(1);
            if s.handle_payload(16) == Some(SessionEvent::Received) {
                n += 1;
            }
        }
    }
    n
}
