#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| systole::fuzz::rules_and_dates(data));
