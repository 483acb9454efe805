//! The Redis adapter's bus envelope and batch frames.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = roomcast_redis::fuzzing::decode(data);
});
