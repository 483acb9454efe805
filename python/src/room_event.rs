//! `roomcast.RoomEvent`: a change of room membership.

use pyo3::prelude::*;

use roomcast as rc;

use crate::convert::py_repr;

/// A change of room membership, given to `on_room_event` handlers.
#[pyclass(frozen, module = "roomcast._roomcast")]
pub(crate) struct RoomEvent {
    /// "created", "deleted", "joined" or "left".
    #[pyo3(get)]
    kind: &'static str,
    /// The room concerned.
    #[pyo3(get)]
    room: String,
    /// The socket that joined or left; None for "created" and "deleted".
    #[pyo3(get)]
    socket_id: Option<String>,
}

impl From<&rc::RoomEvent> for RoomEvent {
    fn from(ev: &rc::RoomEvent) -> Self {
        RoomEvent { kind: ev.kind(), room: ev.room().to_string(), socket_id: ev.socket_id().map(str::to_string) }
    }
}

#[pymethods]
impl RoomEvent {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "RoomEvent(kind={}, room={}, socket_id={})",
            py_repr(py, self.kind),
            py_repr(py, &self.room),
            py_repr(py, &self.socket_id)
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.downcast::<RoomEvent>().is_ok_and(|o| {
            let o = o.get();
            (o.kind, &o.room, &o.socket_id) == (self.kind, &self.room, &self.socket_id)
        })
    }
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.kind, &self.room, &self.socket_id).hash(&mut h);
        h.finish()
    }
}
