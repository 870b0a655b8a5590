//! Tracing through `log` or `defmt` (features of the same names); nothing without them.

#[cfg(all(feature = "log", feature = "defmt"))]
compile_error!("features `log` and `defmt` are exclusive: enable one of them");

/// Traces a connection life-cycle step; format arguments must suit both `log` and `defmt`.
macro_rules! log_trace {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::trace!($($arg)*);
        #[cfg(feature = "defmt")]
        ::defmt::trace!($($arg)*);
    }};
}
