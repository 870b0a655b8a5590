//! Outgoing messages and the buffer that holds a message in flight: owned bytes are moved, not
//! copied, and bytes shared by a broadcast are sent from the one shared copy.

use crate::spares::Spares;
use std::sync::Arc;
use tinyproto_core::buffer::{Buffer, CapacityError, VecBuffer};

/// A message to send. Borrowed bytes are copied once; a `Vec<u8>` (or `String`) is moved
/// and sent without any copy (unless a plugin changes it), and so is an `Arc<[u8]>`.
///
/// ```
/// use tinyproto_std::Message;
/// let borrowed = Message::from(b"hi");
/// let owned = Message::from(vec![0u8; 1 << 20]); // moved: no copy of the megabyte
/// assert_eq!((borrowed.len(), owned.len()), (2, 1 << 20));
/// assert_eq!(borrowed.as_ref(), b"hi");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message(Bytes);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Bytes {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Message {
    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// Whether the message is empty (an empty message is valid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AsRef<[u8]> for Message {
    fn as_ref(&self) -> &[u8] {
        match &self.0 {
            Bytes::Owned(v) => v,
            Bytes::Shared(a) => a,
        }
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Bytes::Owned(bytes))
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        text.into_bytes().into()
    }
}

impl From<Arc<[u8]>> for Message {
    fn from(bytes: Arc<[u8]>) -> Self {
        Self(Bytes::Shared(bytes))
    }
}

impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Self {
        bytes.to_vec().into()
    }
}

impl From<&Vec<u8>> for Message {
    fn from(bytes: &Vec<u8>) -> Self {
        bytes.as_slice().into()
    }
}

impl<const N: usize> From<&[u8; N]> for Message {
    fn from(bytes: &[u8; N]) -> Self {
        bytes.as_slice().into()
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        text.as_bytes().into()
    }
}

/// Smallest growth for which a receive buffer looks for spare memory first.
const SPARE_FROM: usize = 8 * 1024;

/// The most memory a buffer keeps for its next message by itself (more is kept only among
/// the spares), so that an idle connection stays small.
pub(crate) const KEEP_CAPACITY: usize = 16 * 1024;

/// A connection's receive or send buffer: owned bytes with a maximum, prepared only as
/// bytes arrive (the core's `VecBuffer`), or a shared message being sent. Changing a shared
/// message (a plugin) copies it first.
///
/// With [`Spares`], memory is reused: a large message sent leaves its memory there, and a
/// large message received is read into it instead of a fresh, zero-filled allocation.
#[derive(Debug)]
pub(crate) struct MessageBuffer {
    owned: VecBuffer,
    /// A shared message being sent, in place of `owned`.
    shared: Option<Arc<[u8]>>,
    spares: Spares,
}

impl MessageBuffer {
    /// An empty buffer that holds at most `limit` bytes.
    pub(crate) fn new(limit: usize, spares: Spares) -> Self {
        Self {
            owned: VecBuffer::new(limit),
            shared: None,
            spares,
        }
    }

    /// Holds `msg` to be sent from where it is (any earlier contents are dropped).
    pub(crate) fn load(&mut self, msg: Message) {
        let limit = self.owned.limit();
        match msg.0 {
            Bytes::Owned(v) => {
                self.owned = VecBuffer::from_vec(v, limit);
                self.shared = None;
            }
            Bytes::Shared(a) => {
                self.owned = VecBuffer::new(limit);
                self.shared = Some(a);
            }
        }
    }

    /// Takes the contents out, leaving the buffer empty. A message shorter than half the
    /// memory it is in (a spare's, or a larger message's) is copied out, and the memory kept
    /// for the next one ([`MessageBuffer::reuse`]): whoever keeps the message holds no more
    /// than twice its length.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        if let Some(a) = self.shared.take() {
            return a.to_vec();
        }
        if self.owned.as_slice().len() < self.owned.capacity() / 2 {
            let out = self.owned.as_slice().to_vec();
            let memory = self.owned.take_memory();
            self.reuse(memory);
            return out;
        }
        self.owned.take()
    }

    /// Takes the memory out (a shared message is let go of), leaving the buffer empty.
    pub(crate) fn take_memory(&mut self) -> Vec<u8> {
        self.shared = None;
        self.owned.take_memory()
    }

    /// Takes `memory` (of a message sent, or handed back) to receive into: kept here when
    /// the buffer has none and it is small (at most [`KEEP_CAPACITY`]), so that the next
    /// message needs no allocation; else it goes to the spares, or is freed.
    pub(crate) fn reuse(&mut self, memory: Vec<u8>) {
        let empty = self.shared.is_none() && self.owned.capacity() == 0;
        if empty && memory.capacity() <= KEEP_CAPACITY {
            self.owned = VecBuffer::from_vec(memory, self.owned.limit());
            self.owned.clear();
        } else {
            self.spares.put(memory);
        }
    }

    #[inline]
    fn owned(&mut self) -> &mut VecBuffer {
        if self.shared.is_some() {
            self.unshare();
        }
        &mut self.owned
    }

    /// Copies a shared message into owned memory, to be changed there.
    fn unshare(&mut self) {
        if let Some(a) = self.shared.take() {
            self.owned = VecBuffer::from_vec(a.to_vec(), self.owned.limit());
        }
    }

    /// Moves the contents into the largest spare if it has more memory ready than ours.
    fn adopt_spare(&mut self) {
        let Some(mut spare) = self.spares.take_larger(self.owned.reusable_len()) else {
            return;
        };
        let limit = self.owned.limit();
        spare[..self.owned.as_slice().len()].copy_from_slice(self.owned.as_slice());
        let mut grown = VecBuffer::from_vec(spare, limit);
        // Within the spare's prepared memory, and under the limit: the old length was.
        let _ = grown.resize(self.owned.as_slice().len());
        let mut old = std::mem::replace(&mut self.owned, grown);
        self.spares.put(old.take_memory());
    }
}

impl Buffer for MessageBuffer {
    #[inline]
    fn limit(&self) -> usize {
        self.owned.limit()
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        match &self.shared {
            Some(a) => a,
            None => self.owned.as_slice(),
        }
    }

    #[inline]
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.owned().as_mut_slice()
    }

    #[inline]
    fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
        // Past the limit, `VecBuffer::resize` refuses before a shared message is copied or a
        // spare taken.
        if len <= self.limit() {
            self.owned();
            if len >= SPARE_FROM && len > self.owned.reusable_len() {
                self.adopt_spare();
            }
        }
        self.owned.resize(len)
    }

    /// Ours, or the largest spare's (which a resize to it adopts).
    #[inline]
    fn reusable_len(&self) -> usize {
        match &self.shared {
            Some(a) => a.len(),
            None => self.owned.reusable_len().max(self.spares.largest()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spares::SPARE_MIN;

    fn buffer(limit: usize, spares: &Spares) -> MessageBuffer {
        MessageBuffer::new(limit, spares.clone())
    }

    #[test]
    fn owned_and_shared_messages_are_sent_in_place_and_copied_only_when_changed() {
        let spares = Spares::new(0);
        let owned = vec![1u8, 2, 3];
        let at = owned.as_ptr();
        let mut buf = buffer(16, &spares);
        buf.load(Message::from(owned));
        assert_eq!(buf.as_slice().as_ptr(), at, "moved, not copied");

        let shared: Arc<[u8]> = Arc::from(&b"abc"[..]);
        buf.load(Message::from(shared.clone()));
        assert_eq!(
            buf.as_slice().as_ptr(),
            shared.as_ptr(),
            "sent from the shared copy"
        );
        buf.extend_from_slice(b"!").unwrap();
        assert_eq!(buf.as_slice(), b"abc!");
        assert_eq!(&shared[..], b"abc", "the shared copy is untouched");
    }

    #[test]
    fn a_receive_buffer_keeps_its_limit() {
        let mut buf = buffer(4, &Spares::new(0));
        buf.set(b"abcd").unwrap();
        assert!(buf.resize(5).is_err());
        assert_eq!(buf.take(), b"abcd");
        assert!(buf.as_slice().is_empty());
    }

    #[test]
    fn memory_of_a_message_sent_receives_the_next_one() {
        let spares = Spares::new(1 << 20);
        let mut tx = buffer(1 << 20, &spares);
        let mut rx = buffer(1 << 20, &spares);
        let sent = vec![9u8; 4 * SPARE_MIN];
        let at = sent.as_ptr();
        tx.load(Message::from(sent));
        rx.reuse(tx.take_memory());
        assert_eq!(rx.reusable_len(), 4 * SPARE_MIN, "among the spares");
        rx.resize(SPARE_FROM).unwrap();
        assert_eq!(rx.as_slice().as_ptr(), at, "the sent message's memory");
        assert_eq!(
            rx.reusable_len(),
            4 * SPARE_MIN,
            "all of it ready to read into"
        );
        rx.resize(4 * SPARE_MIN).unwrap();
        let msg = rx.take();
        assert_eq!(msg.as_ptr(), at, "the whole message is handed out as it is");
        assert!(spares.take_larger(0).is_none());
    }

    #[test]
    fn a_small_message_sent_leaves_its_memory_to_the_receive_buffer_if_it_has_none() {
        let spares = Spares::new(1 << 20);
        let (mut tx, mut rx) = (buffer(1 << 20, &spares), buffer(1 << 20, &spares));
        let sent = vec![9u8; 100];
        let at = sent.as_ptr();
        tx.load(Message::from(sent));
        rx.reuse(tx.take_memory());
        assert_eq!(rx.reusable_len(), 100, "ready to receive into");
        assert!(
            rx.as_slice().is_empty(),
            "the old contents are not a message"
        );
        rx.set(&[7; 80]).unwrap();
        let received = rx.take();
        assert_eq!(
            (received.as_slice(), received.as_ptr()),
            (&[7; 80][..], at),
            "received into the sent message's memory"
        );

        rx.reuse(vec![2u8; 100]);
        rx.set(b"short").unwrap();
        let short = rx.take();
        assert_eq!(short, b"short");
        assert!(short.capacity() < 100, "copied out of the larger memory");
        assert_eq!(rx.reusable_len(), 100, "which stays for the next message");

        tx.load(Message::from(vec![1u8; 100]));
        rx.set(b"held").unwrap();
        rx.reuse(tx.take_memory());
        assert_eq!(rx.as_slice(), b"held", "a buffer in use keeps what it has");
        let large = Vec::with_capacity(KEEP_CAPACITY + 1);
        let mut empty = buffer(1 << 20, &spares);
        empty.reuse(large);
        assert_eq!(
            empty.reusable_len(),
            0,
            "too large to keep outside the spares"
        );
    }

    #[test]
    fn a_short_message_in_a_large_spare_is_copied_out_and_the_spare_kept() {
        let spares = Spares::new(1 << 20);
        let mut rx = buffer(1 << 20, &spares);
        spares.put(vec![0; 4 * SPARE_MIN]);
        assert_eq!(
            rx.reusable_len(),
            4 * SPARE_MIN,
            "the spare counts as ready"
        );
        rx.resize(SPARE_FROM).unwrap();
        rx.as_mut_slice().fill(1);
        let msg = rx.take();
        assert_eq!(msg, vec![1; SPARE_FROM]);
        assert!(msg.capacity() < SPARE_MIN, "not the spare's memory");
        assert_eq!(spares.take_larger(0).map(|s| s.len()), Some(4 * SPARE_MIN));
    }

    #[test]
    fn contents_survive_moving_into_a_spare() {
        let spares = Spares::new(1 << 20);
        let mut rx = buffer(1 << 20, &spares);
        rx.set(b"start").unwrap();
        spares.put(vec![0; SPARE_MIN]);
        rx.resize(SPARE_FROM).unwrap();
        assert_eq!(&rx.as_slice()[..5], b"start");
        assert_eq!(rx.reusable_len(), SPARE_MIN);
    }
}
