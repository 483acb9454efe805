//! Unit tests of the exported functions, called as C would call them.

use std::ffi::c_char;
use std::ptr;

use super::*;

fn ok(r: roomcast_result) {
    assert_eq!(r, roomcast_result::Ok, "{:?}", error::message_of(r as u32));
}

#[test]
fn version_macros_match_cargo() {
    assert_eq!(ROOMCAST_VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(ROOMCAST_VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(ROOMCAST_VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
}

#[test]
fn room_emit_recv_roundtrip() {
    // SAFETY: every pointer passed is live or NULL as the functions require.
    unsafe {
        let mut e = ptr::null_mut();
        ok(roomcast_engine_new(ptr::null(), &mut e));
        let mut ns = ptr::null_mut();
        ok(roomcast_engine_of(e, c"/chat".as_ptr(), &mut ns));
        let mut c = ptr::null_mut();
        ok(roomcast_engine_connect(e, &mut c));
        let mut s = ptr::null_mut();
        ok(roomcast_conn_join_namespace(c, c"/chat".as_ptr(), 0, ptr::null(), 0, &mut s));
        ok(roomcast_socket_join(s, c"lobby".as_ptr()));
        let rooms = [c"lobby".as_ptr()];
        let target = roomcast_target {
            struct_size: std::mem::size_of::<roomcast_target>(),
            rooms: rooms.as_ptr(),
            rooms_len: 1,
            except: ptr::null(),
            except_len: 0,
            exclude: ptr::null(),
            volatile_: false,
        };
        let mut report = roomcast_emit_report::default();
        ok(roomcast_namespace_emit(ns, &target, c"news".as_ptr(), 1, b"hi".as_ptr(), 2, &mut report));
        assert_eq!(report.queued, 1);
        let mut m = ptr::null_mut();
        ok(roomcast_conn_recv(c, 100, &mut m));
        let (mut p, mut n, mut f) = (ptr::null(), 0usize, 9u32);
        ok(roomcast_message_data(m, &mut p, &mut n, &mut f));
        assert_eq!(std::slice::from_raw_parts(p, n), b"hi");
        assert_eq!(f, 1);
        let mut ev = roomcast_str { data: ptr::null(), len: 0 };
        ok(roomcast_message_event(m, &mut ev));
        assert_eq!(std::slice::from_raw_parts(ev.data.cast::<u8>(), ev.len), b"news");
        roomcast_message_free(m);
        assert_eq!(roomcast_conn_try_recv(c, &mut m), roomcast_result::Empty);
        assert_eq!(roomcast_conn_recv(c, 1, &mut m), roomcast_result::Timeout);
        ok(roomcast_conn_close(c, ptr::null()));
        assert_eq!(roomcast_conn_try_recv(c, &mut m), roomcast_result::Closed);
        assert_eq!(roomcast_socket_join(s, c"x".as_ptr()), roomcast_result::Closed);
        roomcast_socket_free(s);
        roomcast_conn_free(c);
        roomcast_namespace_free(ns);
        roomcast_engine_free(e);
    }
}

#[test]
fn bad_arguments_get_codes_and_details() {
    // SAFETY: pointers are NULL or live.
    unsafe {
        let mut e = ptr::null_mut();
        assert_eq!(roomcast_engine_new(ptr::null(), ptr::null_mut()), roomcast_result::NullParameter);
        ok(roomcast_engine_new(ptr::null(), &mut e));
        let mut ns = ptr::null_mut();
        assert_eq!(roomcast_engine_of(e, c"chat".as_ptr(), &mut ns), roomcast_result::InvalidName);
        assert!(ns.is_null(), "out written only on success");
        let bad = [b'/', 0xff, 0];
        assert_eq!(roomcast_engine_of(e, bad.as_ptr().cast(), &mut ns), roomcast_result::InvalidUtf8);
        let mut buf = [0 as c_char; 128];
        let len = roomcast_last_error(buf.as_mut_ptr(), buf.len());
        assert!(len > 0);
        let mut cfg = ptr::null_mut();
        ok(roomcast_config_new(&mut cfg));
        assert_eq!(roomcast_config_set(cfg, c"nope".as_ptr(), c"1".as_ptr()), roomcast_result::InvalidConfig);
        ok(roomcast_config_set(cfg, c"max_queue".as_ptr(), c"0".as_ptr()));
        let mut e2 = ptr::null_mut();
        assert_eq!(roomcast_engine_new(cfg, &mut e2), roomcast_result::InvalidConfig);
        roomcast_config_free(cfg);
        roomcast_config_free(ptr::null_mut());
        roomcast_engine_free(e);
    }
}

#[test]
fn result_messages_are_distinct() {
    let mut seen = std::collections::HashSet::new();
    for code in 0..=21u32 {
        assert!(seen.insert(error::message_of(code)), "{code}");
    }
    assert_eq!(error::message_of(9999), c"unknown result code");
}

#[test]
fn panics_become_a_code() {
    let r = panic::guard(|| panic!("boom"));
    assert_eq!(r, roomcast_result::Panic);
}

#[test]
fn strings_are_checked_with_an_ascii_fast_path() {
    // SAFETY: NUL-terminated literals.
    unsafe {
        assert_eq!(panic::string(c"room-1".as_ptr(), "s").unwrap(), "room-1");
        assert_eq!(panic::string(c"".as_ptr(), "s").unwrap(), "");
        assert_eq!(panic::string(c"h\u{e9}llo\u{1f600}".as_ptr(), "s").unwrap(), "h\u{e9}llo\u{1f600}");
        let bad = [b'o', b'k', 0xc3, 0x28, 0];
        let e = panic::string(bad.as_ptr().cast(), "s").unwrap_err();
        assert_eq!(e.code, roomcast_result::InvalidUtf8);
        assert!(e.detail.contains("at byte 2"), "{}", e.detail);
        let truncated = [b'a', 0xe2, 0x82, 0];
        assert_eq!(panic::string(truncated.as_ptr().cast(), "s").unwrap_err().code, roomcast_result::InvalidUtf8);
        assert_eq!(panic::string(ptr::null(), "s").unwrap_err().code, roomcast_result::NullParameter);
    }
}
