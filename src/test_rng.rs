//! A small deterministic generator for tests that feed random inputs to a
//! fast path and to its plain equivalent (xorshift64: the same sequence on
//! every machine, and no crate for it).

pub struct Rng(u64);

impl Rng {
    /// `seed` must not be zero (zero stays zero).
    pub fn new(seed: u64) -> Rng {
        assert_ne!(seed, 0);
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
