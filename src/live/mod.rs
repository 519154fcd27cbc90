//! The live adapter: real sockets and real time around a [`crate::proto::Node`].
//!
//! For now this holds what the live world needs from the core's side: an identity
//! drawn from the operating system. The UDP driver loop and the HTTP API build on it.

#[allow(clippy::disallowed_types)]
use rand_core::OsRng;

use crate::proto::Identity;

impl Identity {
    /// A fresh identity from the operating system's randomness.
    #[allow(clippy::disallowed_types)] // the live world's one draw from the OS
    pub fn from_os() -> Identity {
        Identity::from_rng(&mut OsRng)
    }
}
