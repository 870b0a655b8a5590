//! The two test plugins of the recorder (`conformance/recorder/peers/common.py`), as core
//! [`Plugin`]s, and plugin chains built from their names.

use tinyproto_core::buffer::Buffer;
use tinyproto_core::plugin::{Plugin, PluginError};

/// A boxed plugin chain, as built from names by [`chain`].
pub type Chain = Vec<Box<dyn Plugin + Send>>;

/// `"xor5a"`: XOR every byte with `0x5a`, both ways (its own inverse).
#[derive(Clone, Copy, Debug, Default)]
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

/// `"bang"`: append `b'!'` on transmit; strip one trailing `b'!'` on receive (a message without
/// one passes unchanged, as in Python).
#[derive(Clone, Copy, Debug, Default)]
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
mod tests {
    use super::*;
    use tinyproto_core::buffer::VecBuffer;
    use tinyproto_core::plugin::Plugins;

    #[test]
    fn xor_then_bang_matches_the_python_wire_bytes() {
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
