//! The query string of an Engine.IO request.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let q = roomcast_socketio::fuzzing::query(&s);
    let out: usize = q.iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum();
    assert!(out <= s.len());
});
