//! Outgoing messages and the buffer that holds a message in flight: owned bytes are moved, not
//! copied, and bytes shared by a broadcast are sent from the one shared copy.

use std::sync::Arc;
use tinyproto_core::buffer::{Buffer, CapacityError};

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

    /// A buffer holding this message, to be sent from where it is.
    pub(crate) fn into_buffer(self) -> MessageBuffer {
        MessageBuffer {
            bytes: self.0,
            limit: tinyproto_core::wire::MSG_MAX_SIZE as usize,
        }
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

/// A connection's receive or send buffer: a `Vec` with a maximum that grows exactly as bytes
/// arrive (like the core's `VecBuffer`), or a shared message being sent. Changing a shared
/// message (a plugin) copies it first.
#[derive(Debug)]
pub(crate) struct MessageBuffer {
    bytes: Bytes,
    limit: usize,
}

impl MessageBuffer {
    /// An empty buffer that holds at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            bytes: Bytes::Owned(Vec::new()),
            limit,
        }
    }

    /// Takes the contents out, leaving the buffer empty.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        match std::mem::replace(&mut self.bytes, Bytes::Owned(Vec::new())) {
            Bytes::Owned(v) => v,
            Bytes::Shared(a) => a.to_vec(),
        }
    }

    /// Bytes held: a shared message counts as nothing (it is not ours to free).
    pub(crate) fn capacity(&self) -> usize {
        match &self.bytes {
            Bytes::Owned(v) => v.capacity(),
            Bytes::Shared(_) => 0,
        }
    }

    /// Drops the contents and frees the memory.
    pub(crate) fn release(&mut self) {
        self.bytes = Bytes::Owned(Vec::new());
    }

    fn owned(&mut self) -> &mut Vec<u8> {
        if let Bytes::Shared(a) = &self.bytes {
            self.bytes = Bytes::Owned(a.to_vec());
        }
        match &mut self.bytes {
            Bytes::Owned(v) => v,
            Bytes::Shared(_) => unreachable!("made owned above"),
        }
    }
}

impl Buffer for MessageBuffer {
    fn limit(&self) -> usize {
        self.limit
    }

    fn as_slice(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Owned(v) => v,
            Bytes::Shared(a) => a,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.owned()
    }

    fn resize(&mut self, len: usize) -> Result<(), CapacityError> {
        if len > self.limit {
            return Err(CapacityError {
                requested: len,
                limit: self.limit,
            });
        }
        let bytes = self.owned();
        if len > bytes.capacity() {
            bytes.reserve_exact(len - bytes.len());
        }
        bytes.resize(len, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_and_shared_messages_are_sent_in_place_and_copied_only_when_changed() {
        let owned = vec![1u8, 2, 3];
        let at = owned.as_ptr();
        let buf = Message::from(owned).into_buffer();
        assert_eq!(buf.as_slice().as_ptr(), at, "moved, not copied");

        let shared: Arc<[u8]> = Arc::from(&b"abc"[..]);
        let mut buf = Message::from(shared.clone()).into_buffer();
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
        let mut buf = MessageBuffer::new(4);
        buf.set(b"abcd").unwrap();
        assert!(buf.resize(5).is_err());
        assert_eq!(buf.take(), b"abcd");
        assert!(buf.as_slice().is_empty());
    }
}
