//! Target `plugins`: chains of up to four plugins picked by the fuzzer (the Python peers'
//! `xor5a` and `bang`, and [`Tag`], which grows a message and checks on receive).
//!
//! * A message that the chain transmits within the buffer's limit comes back unchanged
//!   through the chain's receive; one that does not fit is a typed capacity error.
//! * Arbitrary received bytes give a message or a typed error, never a panic, and never
//!   more than the limit.
//! * Two connections with the chain on both sides deliver every message that fits
//!   ([`crate::session::pair`]).

use crate::input::Input;
use crate::session;
use tinyproto_core::buffer::{Buffer, SliceBuffer, VecBuffer};
use tinyproto_core::plugin::{Plugin, PluginError, Plugins};
use tinyproto_testkit::plugins::{Bang, Xor5a};

/// Appends `n` bytes of value `n` on transmit; on receive, strips them, or refuses a message
/// that does not end with them.
#[derive(Clone, Copy, Debug)]
pub struct Tag(pub u8);

impl Plugin for Tag {
    fn on_transmit(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        let n = usize::from(self.0);
        let start = msg.as_slice().len();
        msg.resize(start + n)?;
        msg.as_mut_slice()[start..].fill(self.0);
        Ok(())
    }
    fn on_receive(&mut self, msg: &mut dyn Buffer) -> Result<(), PluginError> {
        let n = usize::from(self.0);
        let bytes = msg.as_slice();
        let Some(kept) = bytes.len().checked_sub(n) else {
            return Err(PluginError::Invalid("shorter than its tag"));
        };
        if bytes[kept..].iter().any(|&b| b != self.0) {
            return Err(PluginError::Invalid("tag missing"));
        }
        Ok(msg.resize(kept)?)
    }
}

type Chain = Vec<Box<dyn Plugin + Send>>;

fn chain(spec: &[u8]) -> Chain {
    spec.iter()
        .map(|&b| match b % 3 {
            0 => Box::new(Xor5a) as Box<dyn Plugin + Send>,
            1 => Box::new(Bang),
            _ => Box::new(Tag(b % 5)),
        })
        .collect()
}

/// Runs the three checks on the chain the first bytes pick.
pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let len = usize::from(input.byte() % 5);
    let spec = input.take(len).to_vec();

    let limit = usize::from(input.byte());
    let len = usize::from(input.byte());
    let msg = input.take(len);
    // Caller-owned memory and a heap buffer behave alike.
    let mut storage = [0u8; 256];
    round_trip(&mut SliceBuffer::new(&mut storage[..limit]), &spec, msg);
    round_trip(&mut VecBuffer::new(limit), &spec, msg);

    let len = usize::from(input.byte());
    let garbage = input.take(len);
    let mut buf = VecBuffer::new(limit);
    if buf.set(garbage).is_ok() {
        match chain(&spec).receive(&mut buf) {
            Ok(()) | Err(PluginError::Invalid(_)) => {}
            Err(PluginError::Capacity(e)) => assert!(e.requested > limit),
            Err(e) => panic!("{e:?}"),
        }
        assert!(buf.as_slice().len() <= limit);
    }

    session::pair(&mut input, || chain(&spec));
}

fn round_trip(buf: &mut dyn Buffer, spec: &[u8], msg: &[u8]) {
    let limit = buf.limit();
    if buf.set(msg).is_err() {
        assert!(msg.len() > limit);
        return;
    }
    match chain(spec).transmit(buf) {
        Ok(()) => {
            assert!(buf.as_slice().len() <= limit);
            chain(spec).receive(buf).expect("the chain undoes itself");
            assert_eq!(buf.as_slice(), msg);
        }
        Err(PluginError::Capacity(e)) => assert_eq!(e.limit, limit),
        Err(e) => panic!("transmit failed: {e:?}"),
    }
}
