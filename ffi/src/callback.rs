//! The `void *userdata` every callback registration takes, with its
//! optional free function.

use std::ffi::c_void;

/// Frees a callback's `userdata`. Called exactly once, when the engine
/// drops the callback it was registered with (the handler is removed with
/// `roomcast_namespace_off`, the notify callback is replaced or removed,
/// the engine shuts down or its last handle is freed), on the thread that
/// dropped it and with no engine lock held. Not called when the
/// registration itself fails: the caller keeps its `userdata` then.
pub type roomcast_free_callback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A caller's `userdata` and the function that frees it.
pub(crate) struct UserData {
    ptr: *mut c_void,
    free: roomcast_free_callback,
}

// SAFETY: the header requires userdata (and its free function) to be usable
// from any thread; the binding only hands the pointer back to the caller's
// own functions and never dereferences it.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    /// Takes ownership of `ptr` (build it last, after every check that can
    /// fail, so a failed registration leaves the caller's userdata alone).
    pub(crate) fn new(ptr: *mut c_void, free: roomcast_free_callback) -> UserData {
        UserData { ptr, free }
    }

    /// The pointer, for the callback.
    pub(crate) fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the caller registered `free` for this `ptr`, callable
            // from any thread; it runs once, here.
            unsafe { free(self.ptr) }
        }
    }
}
