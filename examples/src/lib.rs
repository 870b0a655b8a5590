//! Example programs for tinyproto; they are the binaries under `src/bin/`.
#![forbid(unsafe_code)]
