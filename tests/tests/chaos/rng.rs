//! A small deterministic PRNG (splitmix64), so that a seed replays the same sequence of ops.
//! The soak draws its plan from one stream and its reactions to what the runner sends (when
//! to answer a `waiting-input`) from another, so the plan does not depend on timing.

/// A splitmix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// A `usize` in `lo..hi`.
    pub fn size(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as u64, hi as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// One of `items` by weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(u32, T)]) -> T {
        let total: u64 = items.iter().map(|(w, _)| u64::from(*w)).sum();
        let mut at = self.below(total);
        for (w, item) in items {
            if at < u64::from(*w) {
                return *item;
            }
            at -= u64::from(*w);
        }
        items[items.len() - 1].1
    }

    /// An independent stream derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64() ^ 0x5851_f42d_4c95_7f2d)
    }
}

#[test]
fn a_seed_replays_its_sequence() {
    let (mut a, mut b) = (Rng::new(42), Rng::new(42));
    let xs: Vec<u64> = (0..100).map(|_| a.below(1000)).collect();
    let ys: Vec<u64> = (0..100).map(|_| b.below(1000)).collect();
    assert_eq!(xs, ys);
    assert!(xs.iter().any(|x| *x != xs[0]));
    let mut c = Rng::new(7);
    assert!((0..1000).all(|_| c.range(5, 9) < 9 && c.range(5, 9) >= 5));
    assert_eq!(c.weighted(&[(0, 'a'), (3, 'b')]), 'b');
}
