//! A small HyperLogLog for distinct counts over long windows, where keeping
//! every id would be unbounded. 256 one-byte registers: a standard error of
//! about 1.04/sqrt(256) = 6.5%, exact-ish below ~40 thanks to linear counting.

use serde::{Deserialize, Serialize};

const P: u32 = 8;
const M: usize = 1 << P;

/// Registers are inline (256 bytes), not on the heap: trackers holding
/// several are created and evicted all the time, and an allocation each
/// showed in profiles.
#[derive(Clone, Serialize, Deserialize)]
pub struct Hll {
    #[serde(with = "serde_regs")]
    regs: [u8; M],
}

/// Kept in state files as a string of hex digits, one per register.
mod serde_regs {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; super::M], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:x}")).collect::<String>())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; super::M], D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().count() != super::M {
            return Err(serde::de::Error::custom("bad HLL register count"));
        }
        let mut v = [0u8; super::M];
        for (r, c) in v.iter_mut().zip(s.chars()) {
            *r = c.to_digit(16).unwrap_or(0) as u8;
        }
        Ok(v)
    }
}

impl Default for Hll {
    fn default() -> Self {
        Hll { regs: [0; M] }
    }
}

impl Hll {
    /// Add a 64-bit hash (must be well mixed).
    pub fn add(&mut self, h: u64) {
        let idx = (h >> (64 - P)) as usize;
        let rest = (h << P) | (1 << (P - 1));
        let rank = (rest.leading_zeros() + 1).min(15) as u8;
        if self.regs[idx] < rank {
            self.regs[idx] = rank;
        }
    }

    pub fn merge(&mut self, o: &Hll) {
        for (a, b) in self.regs.iter_mut().zip(&o.regs) {
            *a = (*a).max(*b);
        }
    }

    pub fn count(&self) -> u64 {
        let m = M as f64;
        let mut sum = 0.0;
        let mut zeros = 0;
        for &r in &self.regs {
            // 2^-r built from its exponent bits: exact, and no division.
            sum += f64::from_bits((1023 - r as u64) << 52);
            if r == 0 {
                zeros += 1;
            }
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let est = alpha * m * m / sum;
        if est <= 2.5 * m && zeros > 0 {
            (m * (m / zeros as f64).ln()).round() as u64
        } else {
            est.round() as u64
        }
    }
}

/// Mix a value into a well-distributed 64-bit hash (splitmix64 finaliser).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_within_bounds() {
        for n in [10u64, 100, 1000, 20_000] {
            let mut h = Hll::default();
            for i in 0..n {
                h.add(mix(i));
                h.add(mix(i)); // duplicates don't count
            }
            let c = h.count() as f64;
            let err = (c - n as f64).abs() / n as f64;
            assert!(err < 0.2, "n={n} est={c}");
        }
    }

    #[test]
    fn register_weight_is_an_exact_power_of_two() {
        for r in 0u64..64 {
            assert_eq!(f64::from_bits((1023 - r) << 52), 1.0 / (1u64 << r) as f64);
        }
    }

    #[test]
    fn merge_is_union() {
        let (mut a, mut b) = (Hll::default(), Hll::default());
        for i in 0..500 {
            a.add(mix(i));
        }
        for i in 250..750 {
            b.add(mix(i));
        }
        a.merge(&b);
        let c = a.count() as f64;
        assert!((c - 750.0).abs() / 750.0 < 0.2, "{c}");
        let back: Hll = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back.count(), a.count(), "state files keep every register");
        assert!(serde_json::from_str::<Hll>(r#"{"regs":"12"}"#).is_err());
    }
}
