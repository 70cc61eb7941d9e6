//! Ordering scores: full argsort and top-k, highest score first.
//!
//! The order is total and deterministic: higher score first; equal scores keep their
//! input order (lower index first); NaN sorts after every number, NaNs among
//! themselves by index. `-0.0` and `0.0` are equal. Callers get the NaN count so
//! they can warn about it.

use std::cmp::Ordering;

use wasm_bindgen::prelude::*;

/// Indices into the scored list, best first, plus how many scores were NaN.
#[wasm_bindgen]
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    indices: Vec<u32>,
    nan_count: u32,
}

#[wasm_bindgen]
impl Ranking {
    /// Indices into the input, best first (a Uint32Array in JS).
    #[wasm_bindgen(getter)]
    pub fn indices(&self) -> Vec<u32> {
        self.indices.clone()
    }

    /// How many input scores were NaN (those rank last).
    #[wasm_bindgen(getter, js_name = nanCount)]
    pub fn nan_count(&self) -> u32 {
        self.nan_count
    }
}

impl Ranking {
    pub fn as_slice(&self) -> &[u32] {
        &self.indices
    }
}

/// Best-first comparison of (index, score) pairs.
fn better_first(scores: &[f64], a: u32, b: u32) -> Ordering {
    let (x, y) = (scores[a as usize], scores[b as usize]);
    let by_score = match (x.is_nan(), y.is_nan()) {
        (false, false) => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (true, true) => Ordering::Equal,
    };
    by_score.then(a.cmp(&b))
}

fn nan_count(scores: &[f64]) -> u32 {
    scores.iter().filter(|s| s.is_nan()).count() as u32
}

/// Every index, best first.
pub fn argsort_desc(scores: &[f64]) -> Ranking {
    let mut indices: Vec<u32> = (0..scores.len() as u32).collect();
    // The comparator is total (index breaks every tie), so an unstable sort is deterministic.
    indices.sort_unstable_by(|&a, &b| better_first(scores, a, b));
    Ranking { indices, nan_count: nan_count(scores) }
}

/// The best `k` indices, best first: a selection (O(n)) then a sort of the k winners
/// (O(k log k)), not a sort of all n.
pub fn top_k(scores: &[f64], k: usize) -> Ranking {
    let k = k.min(scores.len());
    let mut indices: Vec<u32> = (0..scores.len() as u32).collect();
    if k == 0 {
        indices.clear();
    } else if k < indices.len() {
        indices.select_nth_unstable_by(k - 1, |&a, &b| better_first(scores, a, b));
        indices.truncate(k);
    }
    indices.sort_unstable_by(|&a, &b| better_first(scores, a, b));
    Ranking { indices, nan_count: nan_count(scores) }
}

#[wasm_bindgen(js_name = argsortDesc)]
pub fn argsort_desc_js(scores: &[f64]) -> Ranking {
    argsort_desc(scores)
}

#[wasm_bindgen(js_name = topK)]
pub fn top_k_js(scores: &[f64], k: u32) -> Ranking {
    top_k(scores, k as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_descending_with_ties_by_input_order() {
        let r = argsort_desc(&[0.5, 2.0, 0.5, -1.0, 2.0]);
        assert_eq!(r.as_slice(), &[1, 4, 0, 2, 3]);
        assert_eq!(r.nan_count(), 0);
    }

    #[test]
    fn nan_ranks_last_and_is_counted() {
        let r = argsort_desc(&[f64::NAN, 1.0, f64::NEG_INFINITY, f64::NAN, f64::INFINITY]);
        assert_eq!(r.as_slice(), &[4, 1, 2, 0, 3]);
        assert_eq!(r.nan_count(), 2);
    }

    #[test]
    fn signed_zeros_are_equal() {
        assert_eq!(argsort_desc(&[-0.0, 0.0]).as_slice(), &[0, 1]);
        assert_eq!(argsort_desc(&[0.0, -0.0]).as_slice(), &[0, 1]);
    }

    #[test]
    fn top_k_matches_the_prefix_of_the_full_sort() {
        // Pseudo-random scores with many ties and a few NaNs.
        let mut x: u64 = 12345;
        let scores: Vec<f64> = (0..5000)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if i % 997 == 0 { f64::NAN } else { ((x >> 33) % 50) as f64 }
            })
            .collect();
        let full = argsort_desc(&scores);
        for k in [0, 1, 7, 100, 4999, 5000, 6000] {
            let top = top_k(&scores, k);
            assert_eq!(top.as_slice(), &full.as_slice()[..k.min(scores.len())], "k={k}");
            assert_eq!(top.nan_count(), full.nan_count());
        }
    }

    #[test]
    fn empty_input() {
        assert!(argsort_desc(&[]).as_slice().is_empty());
        assert!(top_k(&[], 3).as_slice().is_empty());
    }
}
