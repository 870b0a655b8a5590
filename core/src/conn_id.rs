//! [`ConnId`]: the name of one connection of a server or client, in every transport.

use core::fmt;

/// Names one connection of a server or client for its whole life: the slot it occupies and
/// the generation of that slot, so an id kept after its connection ended never addresses a
/// later connection in the same slot (a slot's generation repeats only after 2³²
/// connections in it).
///
/// ```
/// use tinyproto_core::ConnId;
/// let id = ConnId::new(3, 7);
/// assert_eq!((id.index(), id.generation()), (3, 7));
/// assert_eq!(id.to_string(), "3.7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId {
    index: u16,
    generation: u32,
}

impl ConnId {
    /// The id of the connection in slot `index` during its `generation`.
    pub const fn new(index: u16, generation: u32) -> Self {
        Self { index, generation }
    }

    /// The slot (for a transport with a pool of sockets: the socket's position in it).
    pub const fn index(&self) -> usize {
        self.index as usize
    }

    /// How many connections the slot had before this one (wrapping).
    pub const fn generation(&self) -> u32 {
        self.generation
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.generation)
    }
}
