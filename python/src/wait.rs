//! Blocking waits that Ctrl-C interrupts.
//!
//! A wait runs with the GIL released in slices of at most [`SLICE`];
//! between slices `py.check_signals()` runs the Python signal handlers, so
//! a `KeyboardInterrupt` (or any exception a handler raises) ends the wait
//! within a slice. Off the main thread `check_signals` is a no-op and the
//! wait simply continues.

use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;

use roomcast as rc;

/// Longest single blocking wait, so Ctrl-C (signals) is noticed.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// Every reply of `stream`, waited for in slices. Interrupted, the stream
/// is dropped: replies that arrive later are ignored by the engine.
pub(crate) fn ack_replies(py: Python<'_>, stream: rc::AckStream) -> PyResult<Vec<rc::AckReply>> {
    let mut out = Vec::with_capacity(stream.expected());
    loop {
        match py.detach(|| stream.next_timeout(SLICE)) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => return Ok(out),
            Err(rc::AckPending) => py.check_signals()?,
        }
    }
}

/// Runs a blocking call that has no sliced form on a helper thread and
/// waits for its result in slices. Interrupted, the call finishes on its
/// thread and its result is discarded.
pub(crate) fn interruptible<T: Send + 'static>(py: Python<'_>, f: impl FnOnce() -> T + Send + 'static) -> PyResult<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("roomcast-wait".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver moves into the GIL-free closure and back (it is not Sync).
        let (r, back) = py.detach(move || (rx.recv_timeout(SLICE), rx));
        rx = back;
        match r {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err("the waiting thread panicked"))
            }
        }
    }
}
