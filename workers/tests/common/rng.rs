//! A seeded xorshift generator for the tests that choose at random (kill timings): the seed
//! comes from an environment variable when set, and is printed, so a failing run replays.

/// The generator.
pub struct Rng {
    seed: u64,
    state: u64,
}

impl Rng {
    /// Seeded from `$var` when it is set, from the clock otherwise; prints the seed as
    /// `<what>: <var>=<seed>`.
    pub fn seeded(var: &str, what: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::UNIX_EPOCH
                    .elapsed()
                    .map_or(1, |d| d.as_nanos());
                (nanos as u64) | 1
            });
        eprintln!("{what}: {var}={seed}");
        Rng { seed, state: seed }
    }

    /// The seed it started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % n.max(1)
    }
}
