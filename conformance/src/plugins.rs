//! Plugin chains built from the names the recorder's peers use
//! (`conformance/recorder/peers/common.py`): `xor5a` ([`Xor5a`]) and `bang` ([`Bang`]).

use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::{Plugin, PluginError};

/// Python's `xor5a`: XOR every byte with `0x5a`, both ways (its own inverse). Never fails and
/// never changes a message's length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Xor5a;

impl Plugin for Xor5a {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        msg.as_mut_slice().iter_mut().for_each(|b| *b ^= 0x5a);
        Ok(())
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        self.on_transmit(msg)
    }
}

/// Python's `bang`: append `b"!"` on transmit; strip one trailing `b"!"` on receive. A received
/// message without one passes unchanged, as in Python.
///
/// # Errors
/// On transmit, [`PluginError::Capacity`] when the buffer is full and the `!` does not fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bang;

impl Plugin for Bang {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        Ok(msg.extend_from_slice(b"!")?)
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        match msg.as_slice().split_last() {
            Some((b'!', rest)) => Ok(msg.resize(rest.len())?),
            _ => Ok(()),
        }
    }
}

/// A boxed plugin chain, as built from names by [`chain`].
pub type Chain = Vec<Box<dyn Plugin + Send>>;

/// Builds the chain for plugin names such as `["xor5a", "bang"]`, in registration order.
///
/// # Errors
/// The first unknown name.
pub fn chain<S: AsRef<str>>(names: &[S]) -> Result<Chain, String> {
    names
        .iter()
        .map(|name| match name.as_ref() {
            "xor5a" => Ok(Box::new(Xor5a) as Box<dyn Plugin + Send>),
            "bang" => Ok(Box::new(Bang) as Box<dyn Plugin + Send>),
            other => Err(format!("unknown plugin {other:?} (known: xor5a, bang)")),
        })
        .collect()
}

#[cfg(test)]
mod chain_tests {
    use super::*;
    use tinyproto_core::buffer::{Buffer, VecBuffer};
    use tinyproto_core::plugin::Plugins;

    #[test]
    fn chain_by_names_matches_the_python_wire_bytes() {
        let mut chain = chain(&["xor5a", "bang"]).unwrap();
        let mut msg = VecBuffer::new(64);
        msg.set(b"hello").unwrap();
        chain.transmit(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"\x32\x3f\x36\x36\x35!");
        chain.receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"hello");
        assert!(super::chain(&["rot13"]).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinyproto_core::buffer::{CapacityError, SliceBuffer};
    use tinyproto_core::plugin::Plugins;

    #[test]
    fn xor5a_is_its_own_inverse() {
        let mut storage = [0u8; 4];
        let mut msg = SliceBuffer::new(&mut storage);
        msg.set(&[0x00, 0x5a, 0xff]).unwrap();
        Xor5a.on_transmit(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), &[0x5a, 0x00, 0xa5]);
        Xor5a.on_receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), &[0x00, 0x5a, 0xff]);
    }

    #[test]
    fn bang_strips_exactly_one_trailing_bang() {
        let mut storage = [0u8; 4];
        let mut msg = SliceBuffer::new(&mut storage);
        msg.set(b"a!!").unwrap();
        Bang.on_receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"a!");
        msg.set(b"a").unwrap();
        Bang.on_receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"a", "no trailing ! passes unchanged");
        msg.set(b"").unwrap();
        Bang.on_receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"");
    }

    #[test]
    fn bang_on_a_full_buffer_is_a_capacity_error() {
        let mut storage = [0u8; 2];
        let mut msg = SliceBuffer::new(&mut storage);
        msg.set(b"ab").unwrap();
        assert_eq!(
            Bang.on_transmit(&mut msg),
            Err(PluginError::Capacity(CapacityError {
                requested: 3,
                limit: 2
            }))
        );
    }

    #[test]
    fn xor_then_bang_matches_the_python_wire_bytes() {
        let mut storage = [0u8; 16];
        let mut msg = SliceBuffer::new(&mut storage);
        msg.set(b"hello").unwrap();
        let mut chain = (Xor5a, Bang);
        chain.transmit(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"\x32\x3f\x36\x36\x35!");
        chain.receive(&mut msg).unwrap();
        assert_eq!(msg.as_slice(), b"hello");
    }
}
