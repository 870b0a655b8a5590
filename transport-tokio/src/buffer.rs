//! The buffer that holds a message in flight: owned bytes moved in and out without a copy, or
//! a shared [`Bytes`] sent from where it is (copied only if a plugin changes it).

use bytes::Bytes;
use tinyproto_core::buffer::{Buffer, CapacityError, VecBuffer};

/// A connection's receive or send buffer.
#[derive(Debug)]
pub(crate) struct MessageBuffer {
    owned: VecBuffer,
    /// A shared message being sent, in place of `owned`.
    shared: Option<Bytes>,
}

impl MessageBuffer {
    /// An empty buffer that holds at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            owned: VecBuffer::new(limit),
            shared: None,
        }
    }

    /// Holds `msg` to be sent from where it is: a `Bytes` nobody else holds is taken over as
    /// a `Vec` (its memory can then receive later messages), a shared one is sent from the
    /// shared copy.
    pub(crate) fn load(&mut self, msg: Bytes) {
        let limit = self.owned.limit();
        match msg.try_into_mut() {
            Ok(unique) => {
                self.owned = VecBuffer::from_vec(unique.into(), limit);
                self.shared = None;
            }
            Err(shared) => {
                self.owned.clear();
                self.shared = Some(shared);
            }
        }
    }

    /// Takes the contents out as `Bytes` (moved, not copied), leaving the buffer empty.
    pub(crate) fn take(&mut self) -> Bytes {
        match self.shared.take() {
            Some(shared) => shared,
            None => self.owned.take().into(),
        }
    }

    /// Takes the memory of a sent message out, for [`MessageBuffer::reuse`].
    pub(crate) fn take_memory(&mut self) -> Vec<u8> {
        self.shared = None;
        self.owned.take_memory()
    }

    /// Receives the next messages into `memory` when it has more ready than ours.
    pub(crate) fn reuse(&mut self, memory: Vec<u8>) {
        if self.shared.is_none() && memory.len() > self.owned.reusable_len() {
            let mut owned = VecBuffer::from_vec(memory, self.owned.limit());
            owned.clear();
            self.owned = owned;
        }
    }

    fn owned(&mut self) -> &mut VecBuffer {
        if let Some(shared) = self.shared.take() {
            self.owned = VecBuffer::from_vec(shared.to_vec(), self.owned.limit());
        }
        &mut self.owned
    }
}

impl Buffer for MessageBuffer {
    fn limit(&self) -> usize {
        self.owned.limit()
    }

    fn as_slice(&self) -> &[u8] {
        match &self.shared {
            Some(shared) => shared,
            None => self.owned.as_slice(),
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.owned().as_mut_slice()
    }

    fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
        self.owned().resize(len)
    }

    fn reusable_len(&self) -> usize {
        match &self.shared {
            Some(shared) => shared.len(),
            None => self.owned.reusable_len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_and_shared_messages_are_sent_in_place_and_copied_only_when_changed() {
        let mut buf = MessageBuffer::new(16);
        let owned = Bytes::from(vec![1u8, 2, 3]);
        let at = owned.as_ptr();
        buf.load(owned);
        assert_eq!(buf.as_slice().as_ptr(), at, "taken over, not copied");

        let shared = Bytes::from(b"abc".to_vec());
        let keep = shared.clone();
        buf.load(shared);
        assert_eq!(
            buf.as_slice().as_ptr(),
            keep.as_ptr(),
            "sent from the shared copy"
        );
        buf.extend_from_slice(b"!").unwrap();
        assert_eq!(buf.as_slice(), b"abc!");
        assert_eq!(&keep[..], b"abc", "the shared copy is untouched");
    }

    #[test]
    fn a_sent_message_memory_receives_the_next_one() {
        let mut tx = MessageBuffer::new(1 << 20);
        let mut rx = MessageBuffer::new(1 << 20);
        let sent = Bytes::from(vec![9u8; 4096]);
        let at = sent.as_ptr();
        tx.load(sent);
        rx.reuse(tx.take_memory());
        assert_eq!((rx.as_slice().len(), rx.reusable_len()), (0, 4096));
        rx.resize(10).unwrap();
        rx.as_mut_slice().copy_from_slice(b"0123456789");
        let got = rx.take();
        assert_eq!((&got[..], got.as_ptr()), (&b"0123456789"[..], at));
        assert!(rx.resize((1 << 20) + 1).is_err(), "the limit holds");
    }
}
