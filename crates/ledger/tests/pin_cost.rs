//! What one PIN hash costs at the production parameters: the figure the
//! README quotes for what a stolen ledger exposes. argon2 is built at
//! opt-level 3 in debug builds too (see the workspace Cargo.toml), so this
//! debug test measures what the shipped program does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use shouyin_ledger::users::{hash_pin, hash_pin_with, verify_pin, PinCost};

#[test]
fn a_production_pin_hash_costs_about_half_a_second() {
    // The best of three: other programs share the machine, and what
    // matters is what one guess costs an attacker with the CPU to itself.
    let mut best = Duration::MAX;
    let mut hash = String::new();
    for _ in 0..3 {
        let started = Instant::now();
        hash = hash_pin("4821").unwrap();
        best = best.min(started.elapsed());
    }
    let started = Instant::now();
    assert!(verify_pin("4821", &hash));
    let verify = started.elapsed();
    let p = PinCost::PRODUCTION;
    println!(
        "PIN hash at m={} KiB, t={}, p={}: {:.3} s to hash (best of 3), {:.3} s to verify; \
         all 1,000,000 six-digit PINs: about {:.0} CPU-hours",
        p.memory_kib,
        p.passes,
        p.lanes,
        best.as_secs_f64(),
        verify.as_secs_f64(),
        best.as_secs_f64() * 1_000_000.0 / 3600.0
    );
    assert!(
        hash.starts_with(&format!(
            "$argon2id$v=19$m={},t={},p={}$",
            p.memory_kib, p.passes, p.lanes
        )),
        "{hash}"
    );
    assert!(
        best >= Duration::from_millis(250),
        "a PIN hash must cost an attacker real time: {best:?}"
    );
    assert!(
        best <= Duration::from_secs(3),
        "a PIN check must stay usable at the till: {best:?}"
    );
}

#[test]
fn the_test_cost_is_cheap_and_still_verifies() {
    let started = Instant::now();
    let hash = hash_pin_with("4821", PinCost::cheap_for_tests()).unwrap();
    assert!(verify_pin("4821", &hash));
    assert!(!verify_pin("4822", &hash));
    assert!(started.elapsed() < Duration::from_millis(200));
}
