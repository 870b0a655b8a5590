//! Filled by a later issue.
#![forbid(unsafe_code)]
