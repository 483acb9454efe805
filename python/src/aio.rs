//! Awaitable twins of blocking methods: the calls into `roomcast._aio` that
//! run them in the loop's default executor.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::rooms_arg;

/// Runs a blocking method (one that releases the GIL while it waits) in
/// the running loop's default executor: the awaitable of an `*_async` twin.
pub(crate) fn in_executor<'py>(
    py: Python<'py>,
    method: Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("roomcast._aio")?.call_method1("call_blocking", (method, args))
}

/// `obj.method(rooms)` run in the loop's executor, with `rooms` checked
/// here first so a bad argument raises at the call.
pub(crate) fn rooms_in_executor<'py>(
    obj: &Bound<'py, PyAny>,
    method: &str,
    rooms: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    rooms_arg(rooms)?;
    let args = PyTuple::new(obj.py(), [rooms])?;
    in_executor(obj.py(), obj.getattr(method)?, args)
}
