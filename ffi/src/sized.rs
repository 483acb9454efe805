//! Public structs that can grow without breaking callers.
//!
//! Each such struct starts with `size_t struct_size`, which the caller sets
//! to `sizeof` the struct as its own header declares it (`roomcast_target t
//! = {sizeof t, ...}`, `roomcast_stats st = {.struct_size = sizeof st}`). A later library
//! only appends fields, and it reads or writes no more than the caller's
//! `struct_size` bytes: fields the caller does not know keep their zero
//! defaults on the way in and are not written on the way out. A
//! `struct_size` below the struct's first published size is refused with
//! `ROOMCAST_RESULT_INVALID_ARGUMENT` before anything happens.

use std::mem::{size_of, MaybeUninit};
use std::ptr;

use crate::error::{Error, Result};
use crate::roomcast_result;

/// A `#[repr(C)]` struct whose first field is `struct_size: usize`.
///
/// # Safety
///
/// The implementing type must be `#[repr(C)]` with `struct_size: usize` as
/// its first field, and all-zero bytes must be a valid value of it.
pub(crate) unsafe trait Growable: Copy {
    /// The C name, for error messages.
    const NAME: &'static str;
    /// `sizeof` the struct's first published version: the least
    /// `struct_size` a caller may declare.
    const MIN_SIZE: usize;
}

/// The `struct_size` the caller declared at `p`, checked.
///
/// # Safety
///
/// `p` must be non-NULL and valid for reading a `usize`.
unsafe fn declared<T: Growable>(p: *const T, what: &str) -> Result<usize> {
    // SAFETY: per the contract; `struct_size` is the first field.
    let size = unsafe { ptr::read_unaligned(p.cast::<usize>()) };
    if size < T::MIN_SIZE {
        return Err(Error::new(
            roomcast_result::InvalidArgument,
            format!(
                "`{what}->struct_size` is {size}: set it to sizeof({}) ({} in this library)",
                T::NAME,
                size_of::<T>()
            ),
        ));
    }
    Ok(size)
}

/// Reads a caller's struct (None for NULL). Fields beyond its
/// `struct_size` are zero.
///
/// # Safety
///
/// `p` must be NULL or valid for reading the `struct_size` bytes it declares.
pub(crate) unsafe fn read_opt<T: Growable>(p: *const T, what: &str) -> Result<Option<T>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and valid per the contract.
    let n = unsafe { declared(p, what)? }.min(size_of::<T>());
    let mut v = MaybeUninit::<T>::zeroed();
    // SAFETY: the caller's `n` bytes are readable; `v` has room for
    // `size_of::<T>() >= n` bytes; zero bytes are a valid `T` (trait
    // contract), and so is any prefix of a valid `T` followed by zeros.
    unsafe {
        ptr::copy_nonoverlapping(p.cast::<u8>(), v.as_mut_ptr().cast::<u8>(), n);
        Ok(Some(v.assume_init()))
    }
}

/// Checks an output struct before the call does anything: NULL is allowed
/// when `optional`, otherwise `ROOMCAST_RESULT_NULL_PARAMETER`.
///
/// # Safety
///
/// `p` must be NULL or valid for reading a `usize`.
pub(crate) unsafe fn check_out<T: Growable>(p: *mut T, what: &str, optional: bool) -> Result<()> {
    if p.is_null() {
        return if optional {
            Ok(())
        } else {
            Err(Error::new(roomcast_result::NullParameter, format!("`{what}` is NULL")))
        };
    }
    // SAFETY: non-NULL and valid per the contract.
    unsafe { declared(p, what) }.map(|_| ())
}

/// Writes `v` to a caller's struct checked by `check_out` (nothing for
/// NULL): the fields within its `struct_size`, which itself is left as the
/// caller set it.
///
/// # Safety
///
/// `p` must be NULL or valid for writing the `struct_size` bytes it
/// declares, and have passed `check_out`.
pub(crate) unsafe fn write_out<T: Growable>(p: *mut T, v: T) {
    if p.is_null() {
        return;
    }
    // SAFETY: checked by `check_out` per the contract.
    let n = unsafe { ptr::read_unaligned(p.cast::<usize>()) }.min(size_of::<T>());
    let skip = size_of::<usize>();
    // SAFETY: bytes `skip..n` lie within both the caller's struct and `v`.
    unsafe {
        ptr::copy_nonoverlapping(
            ptr::from_ref(&v).cast::<u8>().add(skip),
            p.cast::<u8>().add(skip),
            n.saturating_sub(skip),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct V2 {
        struct_size: usize,
        a: u64,
        b: u64,
    }
    // SAFETY: repr(C), `struct_size` first, zero is valid.
    unsafe impl Growable for V2 {
        const NAME: &'static str = "v2";
        const MIN_SIZE: usize = 16; // version 1 had `struct_size` and `a`
    }

    // SAFETY (every unsafe block below): the pointers are to live local
    // arrays at least as large as the struct_size they declare.
    #[test]
    fn an_older_caller_is_read_and_written_within_its_size() {
        // A version-1 caller: {struct_size, a} only, then bytes it owns.
        let mut old = [16usize, 7, 0xdead];
        let got = unsafe { read_opt(old.as_ptr().cast::<V2>(), "x") }.unwrap().unwrap();
        assert_eq!(got, V2 { struct_size: 16, a: 7, b: 0 });
        let p = old.as_mut_ptr().cast::<V2>();
        unsafe { check_out(p, "x", false) }.unwrap();
        unsafe { write_out(p, V2 { struct_size: 24, a: 1, b: 2 }) };
        assert_eq!(old, [16, 1, 0xdead], "wrote past the caller's struct_size");
    }

    #[test]
    fn a_newer_caller_gets_what_this_library_knows() {
        let mut newer = [40usize, 1, 2, 3, 4];
        let got = unsafe { read_opt(newer.as_ptr().cast::<V2>(), "x") }.unwrap().unwrap();
        assert_eq!(got, V2 { struct_size: 40, a: 1, b: 2 });
        unsafe { write_out(newer.as_mut_ptr().cast::<V2>(), V2 { struct_size: 0, a: 8, b: 9 }) };
        assert_eq!(newer, [40, 8, 9, 3, 4]);
    }

    #[test]
    fn a_size_below_the_first_version_or_null_is_refused() {
        let mut tiny = [8usize, 0, 0];
        let p = tiny.as_mut_ptr().cast::<V2>();
        let e = unsafe { check_out(p, "stats_out", false) }.unwrap_err();
        assert_eq!(e.code, roomcast_result::InvalidArgument);
        assert!(e.detail.contains("sizeof(v2)"), "{}", e.detail);
        assert!(unsafe { read_opt(p.cast_const(), "x") }.is_err());
        assert!(unsafe { read_opt(ptr::null::<V2>(), "x") }.unwrap().is_none());
        assert!(unsafe { check_out(ptr::null_mut::<V2>(), "x", true) }.is_ok());
        let e = unsafe { check_out(ptr::null_mut::<V2>(), "x", false) }.unwrap_err();
        assert_eq!(e.code, roomcast_result::NullParameter);
    }
}
