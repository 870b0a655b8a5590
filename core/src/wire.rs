//! Wire constants and the 4-byte big-endian length header.
//!
//! Every value here is read from the Python package (`tinyproto` 2.0.1 and 3.0).

/// Init byte, and the "go ahead" answer to a length header.
pub const SC_OK: u8 = 0xff;
/// Answer to a length header the receiver refuses (the message is too large).
pub const SC_GENERIC_ERROR: u8 = 0x00;
/// Sent by a server that is at its connection limit (see PROTOCOL.md, quirk Q1).
pub const SC_CONLIMIT: u8 = 0xfe;
/// Defined by the Python package, never sent by it.
pub const SC_CONFLICT: u8 = 0xfd;
/// Largest message length a Python receiver accepts (`0xf0ffffff`).
///
/// The first byte of an acceptable header is therefore never one of the status bytes `0xfd..=0xff`.
pub const MSG_MAX_SIZE: u32 = 0xf0ff_ffff;
/// Length of the length header in bytes.
pub const HEADER_LEN: usize = 4;

/// The 4-byte big-endian length that precedes every message.
///
/// ```
/// use tinyproto_core::wire::LengthHeader;
/// let h = LengthHeader::new(70_000);
/// assert_eq!(h.to_bytes(), [0x00, 0x01, 0x11, 0x70]);
/// assert_eq!(LengthHeader::from_bytes([0x00, 0x01, 0x11, 0x70]).len(), 70_000);
/// assert!(!LengthHeader::from_bytes([0xf1, 0, 0, 0]).is_acceptable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LengthHeader(u32);

impl LengthHeader {
    /// A header announcing `len` payload bytes.
    pub const fn new(len: u32) -> Self {
        Self(len)
    }

    /// Decodes a header as it arrives on the wire.
    pub const fn from_bytes(bytes: [u8; HEADER_LEN]) -> Self {
        Self(u32::from_be_bytes(bytes))
    }

    /// Encodes the header for the wire.
    pub const fn to_bytes(self) -> [u8; HEADER_LEN] {
        self.0.to_be_bytes()
    }

    /// The announced payload length.
    #[allow(clippy::len_without_is_empty)]
    pub const fn len(self) -> u32 {
        self.0
    }

    /// Whether a Python receiver would accept this length (`len <= MSG_MAX_SIZE`).
    pub const fn is_acceptable(self) -> bool {
        self.0 <= MSG_MAX_SIZE
    }
}
