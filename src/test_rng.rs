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

/// `base` with one to six random edits (a byte replaced, dropped or
/// inserted), bytes taken from `alphabet`: a tiny fuzzer for parsers,
/// which must turn whatever comes into a record or an error, never a
/// panic.
pub fn mutated(rng: &mut Rng, base: &[u8], alphabet: &[u8]) -> Vec<u8> {
    let mut l = base.to_vec();
    for _ in 0..(rng.next() % 6 + 1) {
        let pos = (rng.next() as usize) % (l.len() + 1);
        let byte = alphabet[(rng.next() as usize) % alphabet.len()];
        match rng.next() % 3 {
            0 if pos < l.len() => l[pos] = byte,
            1 if pos < l.len() => {
                l.remove(pos);
            }
            _ => l.insert(pos, byte),
        }
    }
    l
}
