//! Message-transform plugins, the counterpart of Python's `TinyProtoPlugin`.
//!
//! On transmit the plugins run in registration order and the length header is computed from
//! the result; on receive they run in reverse order. A plugin transforms a message in place in
//! a [`Buffer`], so no allocator is needed: the buffer's limit bounds how far a message may grow.
//!
//! A chain of plugins is anything implementing [`Plugins`]: `()` (none), a single plugin in a
//! one-tuple, tuples of up to six plugins, arrays and slices of one plugin type, and with the
//! `alloc` feature `Vec<Box<dyn Plugin + Send>>`.
//!
//! ```
//! use tinyproto_core::buffer::Buffer;
//! use tinyproto_core::plugin::{Plugin, PluginError, Plugins};
//!
//! /// XORs every byte with a key (its own inverse).
//! struct Xor(u8);
//! impl Plugin for Xor {
//!     fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
//!         msg.as_mut_slice().iter_mut().for_each(|b| *b ^= self.0);
//!         Ok(())
//!     }
//!     fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
//!         self.on_transmit(msg)
//!     }
//! }
//!
//! let mut chain = (Xor(0x5a), Xor(0x01));
//! let mut msg = heapless::Vec::<u8, 8>::new();
//! msg.set(b"hi").unwrap();
//! chain.transmit(&mut msg).unwrap();
//! assert_eq!(msg.as_slice(), &[b'h' ^ 0x5b, b'i' ^ 0x5b]);
//! chain.receive(&mut msg).unwrap();
//! assert_eq!(msg.as_slice(), b"hi");
//! ```

use crate::buffer::{Buffer, CapacityError};
use core::fmt;

/// Why a plugin could not transform a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PluginError {
    /// The transformed message does not fit in the buffer.
    Capacity(CapacityError),
    /// The message is not valid input for the plugin (for example a received message that the
    /// plugin cannot decode); the text says why.
    Invalid(&'static str),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Capacity(e) => write!(f, "plugin output too large: {e}"),
            Self::Invalid(why) => write!(f, "plugin refused the message: {why}"),
        }
    }
}

impl core::error::Error for PluginError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Capacity(e) => Some(e),
            Self::Invalid(_) => None,
        }
    }
}

impl From<CapacityError> for PluginError {
    fn from(e: CapacityError) -> Self {
        Self::Capacity(e)
    }
}

/// One message transform. Both methods default to leaving the message unchanged, as in Python.
pub trait Plugin {
    /// Transforms an outgoing message in place (Python's `msg_transmit`).
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        let _ = msg;
        Ok(())
    }

    /// Transforms an incoming message in place (Python's `msg_receive`).
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        let _ = msg;
        Ok(())
    }
}

impl<P: Plugin + ?Sized> Plugin for &mut P {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        (**self).on_transmit(msg)
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        (**self).on_receive(msg)
    }
}

/// An ordered chain of plugins.
pub trait Plugins {
    /// Whether the chain has no plugin (messages then go out without a copy).
    fn is_empty(&self) -> bool;
    /// Runs every plugin's [`Plugin::on_transmit`], first to last.
    fn transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError>;
    /// Runs every plugin's [`Plugin::on_receive`], last to first.
    fn receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError>;
}

impl Plugins for () {
    fn is_empty(&self) -> bool {
        true
    }
    fn transmit(&mut self, _: &mut dyn Buffer) -> Result<(), PluginError> {
        Ok(())
    }
    fn receive(&mut self, _: &mut dyn Buffer) -> Result<(), PluginError> {
        Ok(())
    }
}

impl<P: Plugin> Plugins for [P] {
    fn is_empty(&self) -> bool {
        <[P]>::is_empty(self)
    }
    fn transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.iter_mut().try_for_each(|p| p.on_transmit(msg))
    }
    fn receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.iter_mut().rev().try_for_each(|p| p.on_receive(msg))
    }
}

impl<P: Plugin, const N: usize> Plugins for [P; N] {
    fn is_empty(&self) -> bool {
        N == 0
    }
    fn transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.as_mut_slice().transmit(msg)
    }
    fn receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.as_mut_slice().receive(msg)
    }
}

impl<C: Plugins + ?Sized> Plugins for &mut C {
    fn is_empty(&self) -> bool {
        (**self).is_empty()
    }
    fn transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        (**self).transmit(msg)
    }
    fn receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        (**self).receive(msg)
    }
}

#[cfg(feature = "alloc")]
impl Plugins for alloc::vec::Vec<alloc::boxed::Box<dyn Plugin + Send>> {
    #[inline]
    fn is_empty(&self) -> bool {
        alloc::vec::Vec::is_empty(self)
    }
    // Inline: with no plugin (the usual case) a message costs no call at all.
    #[inline]
    fn transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.as_mut_slice().transmit(msg)
    }
    #[inline]
    fn receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.as_mut_slice().receive(msg)
    }
}

#[cfg(feature = "alloc")]
impl Plugin for alloc::boxed::Box<dyn Plugin + Send> {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        (**self).on_transmit(msg)
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        (**self).on_receive(msg)
    }
}

macro_rules! tuple_chain {
    ($($p:ident $i:tt),+ ; $($r:tt),+) => {
        impl<$($p: Plugin),+> Plugins for ($($p,)+) {
            fn is_empty(&self) -> bool {
                false
            }
            fn transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
                $(self.$i.on_transmit(msg)?;)+
                Ok(())
            }
            fn receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
                $(self.$r.on_receive(msg)?;)+
                Ok(())
            }
        }
    };
}

tuple_chain!(A 0; 0);
tuple_chain!(A 0, B 1; 1, 0);
tuple_chain!(A 0, B 1, C 2; 2, 1, 0);
tuple_chain!(A 0, B 1, C 2, D 3; 3, 2, 1, 0);
tuple_chain!(A 0, B 1, C 2, D 3, E 4; 4, 3, 2, 1, 0);
tuple_chain!(A 0, B 1, C 2, D 3, E 4, F 5; 5, 4, 3, 2, 1, 0);

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends its tag on transmit; on receive strips it, refusing a message without it.
    struct Tag(u8);
    impl Plugin for Tag {
        fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
            Ok(msg.extend_from_slice(&[self.0])?)
        }
        fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
            match msg.as_slice().split_last() {
                Some((&last, rest)) if last == self.0 => Ok(msg.resize(rest.len())?),
                _ => Err(PluginError::Invalid("missing tag")),
            }
        }
    }

    #[test]
    fn order_is_forward_on_transmit_and_reverse_on_receive() {
        let mut msg = heapless::Vec::<u8, 8>::new();
        msg.set(b"m").unwrap();
        let mut chain = (Tag(1), Tag(2), Tag(3));
        chain.transmit(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"m\x01\x02\x03");
        chain.receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"m");
        let mut arr = [Tag(1), Tag(2)];
        arr.transmit(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"m\x01\x02");
        // A wrong order of tags is detected by the plugins themselves.
        assert_eq!(
            (Tag(2), Tag(1)).receive(&mut msg),
            Err(PluginError::Invalid("missing tag"))
        );
    }

    #[test]
    fn growth_beyond_the_buffer_is_a_typed_error() {
        let mut msg = heapless::Vec::<u8, 1>::new();
        msg.set(b"m").unwrap();
        let err = (Tag(1),).transmit(&mut msg).unwrap_err();
        assert_eq!(
            err,
            PluginError::Capacity(CapacityError {
                requested: 2,
                limit: 1
            })
        );
    }
}
