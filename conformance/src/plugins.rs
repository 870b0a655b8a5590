//! Plugin chains built from the names the recorder's peers use
//! (`conformance/recorder/peers/common.py`): `xor5a` ([`Xor5a`]) and `bang` ([`Bang`]).

use tinyproto_core::plugin::Plugin;

/// The plugins themselves live in `tinyproto-testkit`, shared with the other crates' tests;
/// re-exported here, where they always were.
pub use tinyproto_testkit::plugins::{Bang, Xor5a};

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
mod tests {
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
