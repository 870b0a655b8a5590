//! The two test plugins of the Python peers (`examples/python/tpcompat.py`,
//! `conformance/recorder/peers/common.py`): `xor5a` and `bang`. They are defined in
//! `tinyproto-conformance` (the `tinyproto` CLI offers them too) and re-exported here for the
//! other crates' tests.

pub use tinyproto_conformance::plugins::{Bang, Xor5a};
