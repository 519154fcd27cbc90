//! Panics inside a run: caught, described in one line, and turned into a failed run.
//!
//! In: a part of a run, as a closure. Out: what it returned, or the panic's message
//! and where it was raised (`"index out of bounds: … at sim/src/world.rs:215:42"`),
//! for the report's `panic` key. A crash of the test-bed then ends like a failed
//! expectation: the report so far, the seed and a `reproduce:` line.
//!
//! While a thread runs a part of a run ([`Quiet`]), a panic on it prints one line,
//! `the test-bed panicked: …`, instead of the default message and backtrace; with
//! `RUST_BACKTRACE` set (not `0`) the default hook speaks as well. Panics on other
//! threads, and outside runs, go to the hook that was there before. A panic raised on
//! another thread and carried over (a node task's, say) is described by its message
//! alone when this thread did not see it raised.
//!
//! Test hook: in debug builds, `DSWARM_TEST_PANIC_AT=<simulated seconds>` makes the
//! runner panic on purpose once the run reaches that moment ([`panic_at`]), so tests
//! can drive a crash through the command line. Release builds ignore it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

use dswarm::proto::Time;

thread_local! {
    /// How many [`Quiet`]s this thread holds.
    static QUIET: Cell<usize> = const { Cell::new(0) };
    /// The last panic the hook saw on this thread while quiet: (message, described).
    static SEEN: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// The environment variable of the test hook; see the module docs.
pub const TEST_PANIC_AT: &str = "DSWARM_TEST_PANIC_AT";

/// While held, panics on this thread are described in one line and noted for
/// [`catch`]; see the module docs.
pub(super) struct Quiet(());

impl Quiet {
    pub(super) fn new() -> Quiet {
        install();
        QUIET.with(|q| q.set(q.get() + 1));
        Quiet(())
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        QUIET.with(|q| q.set(q.get() - 1));
    }
}

fn install() {
    HOOK.call_once(|| {
        let before = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) == 0 {
                return before(info);
            }
            let message = message(info.payload());
            let described = match info.location() {
                Some(at) => format!("{message} at {}:{}:{}", at.file(), at.line(), at.column()),
                None => message.clone(),
            };
            eprintln!("the test-bed panicked: {described}");
            if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
                before(info);
            }
            SEEN.with(|seen| *seen.borrow_mut() = Some((message, described)));
        }));
    });
}

/// A panic payload's message.
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Runs `f`: its value, or the description of its panic (with where it was raised
/// when this thread saw it raised). Call it while holding a [`Quiet`].
pub(super) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    SEEN.with(|seen| seen.borrow_mut().take());
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = message(payload.as_ref());
        match SEEN.with(|seen| seen.borrow_mut().take()) {
            Some((seen, described)) if seen == message => described,
            _ => message,
        }
    })
}

/// The moment of the test hook `DSWARM_TEST_PANIC_AT`, in debug builds; `None` in
/// release builds, without it, or when it is not a number of seconds.
pub(super) fn panic_at() -> Option<Time> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let seconds: f64 = std::env::var(TEST_PANIC_AT).ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Time::ZERO + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_says_what_and_where() {
        let _quiet = Quiet::new();
        assert_eq!(catch(|| 7), Ok(7));
        let err = catch(|| -> u8 { panic!("boom {}", 3) }).unwrap_err();
        assert!(err.starts_with("boom 3 at "), "{err}");
        assert!(err.contains("panics.rs:"), "{err}");
        let err = catch(|| -> u8 { std::panic::resume_unwind(Box::new("carried")) }).unwrap_err();
        assert_eq!(err, "carried", "resumed: no hook ran, the message alone");
    }
}
