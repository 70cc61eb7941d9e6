//! Score fusion: reciprocal rank fusion over ranked lists, and a linear blend of two
//! normalised score lists (first-stage retrieval and re-ranker).
//!
//! RRF (Cormack et al., 2009): `score(d) = Σ_lists 1 / (k + rank_l(d))`, rank from 1.
//! A doc absent from a list gets nothing from it; a doc repeated within one list counts
//! at its best (first) position only. Equal fused scores keep first-appearance order
//! (reading list 0 top to bottom, then list 1, …).
//!
//! Blend: `alpha * norm(rerank) + (1 - alpha) * norm(first)`, per item.
//! - min-max: `(x - min) / (max - min)`; z-score: `(x - mean) / std` (population std).
//! - Statistics use the finite values only. A non-finite input (NaN, ±inf) normalises
//!   to NaN, so its blended score is NaN (and ranks last in `ranking`); the result
//!   counts them.
//! - A list with no spread (all equal, or a single item) carries no ordering
//!   information and normalises to 0 throughout, under both methods.
//! - A side with weight 0 (alpha = 0 or 1) is ignored entirely, NaNs included.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use wasm_bindgen::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub enum FusionError {
    BadK(f64),
    BadAlpha(f64),
    LengthMismatch { first: usize, rerank: usize },
    UnknownNormalization(String),
    BadListLengths,
}

impl std::fmt::Display for FusionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FusionError::BadK(k) => write!(f, "RRF k must be a finite number >= 0, got {k}"),
            FusionError::BadAlpha(a) => write!(f, "blend alpha must be between 0 and 1, got {a}"),
            FusionError::LengthMismatch { first, rerank } => {
                write!(f, "score lists differ in length: {first} first-stage scores, {rerank} re-ranker scores")
            }
            FusionError::UnknownNormalization(n) => {
                write!(f, "unknown normalization '{n}' (expected 'minmax' or 'zscore')")
            }
            FusionError::BadListLengths => write!(f, "list lengths do not add up to the number of ids"),
        }
    }
}

impl std::error::Error for FusionError {}

/// Fused documents, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<T> {
    pub ids: Vec<T>,
    pub scores: Vec<f64>,
}

/// Reciprocal rank fusion of any number of ranked lists of doc ids (best first).
pub fn rrf<T: Eq + Hash + Clone>(lists: &[&[T]], k: f64) -> Result<Fused<T>, FusionError> {
    if !k.is_finite() || k < 0.0 {
        return Err(FusionError::BadK(k));
    }
    let mut slot: HashMap<&T, usize> = HashMap::new();
    let mut ids: Vec<&T> = Vec::new();
    let mut scores: Vec<f64> = Vec::new();
    for list in lists {
        let mut seen_here: HashSet<&T> = HashSet::new();
        for (pos, id) in list.iter().enumerate() {
            if !seen_here.insert(id) {
                continue;
            }
            let i = *slot.entry(id).or_insert_with(|| {
                ids.push(id);
                scores.push(0.0);
                ids.len() - 1
            });
            scores[i] += 1.0 / (k + (pos + 1) as f64);
        }
    }
    let order = crate::ranking::argsort_desc(&scores);
    Ok(Fused {
        ids: order.as_slice().iter().map(|&i| ids[i as usize].clone()).collect(),
        scores: order.as_slice().iter().map(|&i| scores[i as usize]).collect(),
    })
}

/// RRF result for JS: interned ids (u32) best first, and their scores.
#[wasm_bindgen]
#[derive(Debug, Clone, PartialEq)]
pub struct FusedIds {
    ids: Vec<u32>,
    scores: Vec<f64>,
}

#[wasm_bindgen]
impl FusedIds {
    #[wasm_bindgen(getter)]
    pub fn ids(&self) -> Vec<u32> {
        self.ids.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f64> {
        self.scores.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    MinMax,
    ZScore,
}

impl std::str::FromStr for Normalization {
    type Err = FusionError;
    fn from_str(s: &str) -> Result<Self, FusionError> {
        match s {
            "minmax" => Ok(Normalization::MinMax),
            "zscore" => Ok(Normalization::ZScore),
            other => Err(FusionError::UnknownNormalization(other.to_string())),
        }
    }
}

/// Normalises `scores` as described in the module docs.
pub fn normalize(scores: &[f64], method: Normalization) -> Vec<f64> {
    let finite: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    if finite.is_empty() {
        return vec![f64::NAN; scores.len()];
    }
    let (shift, scale) = match method {
        Normalization::MinMax => {
            let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
            let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (min, max - min)
        }
        Normalization::ZScore => {
            let n = finite.len() as f64;
            let mean = finite.iter().sum::<f64>() / n;
            let var = finite.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            (mean, var.sqrt())
        }
    };
    scores
        .iter()
        .map(|&x| {
            if !x.is_finite() {
                f64::NAN
            } else if scale > 0.0 && scale.is_finite() {
                (x - shift) / scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Blended scores, aligned with the inputs, and how many of them are NaN.
#[wasm_bindgen]
#[derive(Debug, Clone, PartialEq)]
pub struct Blended {
    scores: Vec<f64>,
    nan_count: u32,
}

#[wasm_bindgen]
impl Blended {
    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f64> {
        self.scores.clone()
    }

    #[wasm_bindgen(getter, js_name = nanCount)]
    pub fn nan_count(&self) -> u32 {
        self.nan_count
    }
}

/// `alpha * norm(rerank) + (1 - alpha) * norm(first)`, item by item.
pub fn blend(first: &[f64], rerank: &[f64], alpha: f64, method: Normalization) -> Result<Blended, FusionError> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(FusionError::BadAlpha(alpha));
    }
    if first.len() != rerank.len() {
        return Err(FusionError::LengthMismatch { first: first.len(), rerank: rerank.len() });
    }
    let nf = normalize(first, method);
    let nr = normalize(rerank, method);
    let term = |w: f64, v: f64| if w == 0.0 { 0.0 } else { w * v };
    let scores: Vec<f64> = nr.iter().zip(&nf).map(|(&r, &f)| term(alpha, r) + term(1.0 - alpha, f)).collect();
    let nan_count = scores.iter().filter(|s| s.is_nan()).count() as u32;
    Ok(Blended { scores, nan_count })
}

/// RRF from JS. Strings are costly to pass one by one, so the caller interns doc ids
/// as u32 (in first-appearance order, which keeps the tie rule) and sends the lists
/// flattened, with each list's length alongside.
#[wasm_bindgen(js_name = rrf)]
pub fn rrf_js(ids: &[u32], list_lengths: &[u32], k: f64) -> Result<FusedIds, JsError> {
    let total: u64 = list_lengths.iter().map(|&n| n as u64).sum();
    if total != ids.len() as u64 {
        return Err(JsError::new(&FusionError::BadListLengths.to_string()));
    }
    let mut lists: Vec<&[u32]> = Vec::with_capacity(list_lengths.len());
    let mut start = 0usize;
    for &n in list_lengths {
        lists.push(&ids[start..start + n as usize]);
        start += n as usize;
    }
    let fused = rrf(&lists, k).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(FusedIds { ids: fused.ids, scores: fused.scores })
}

#[wasm_bindgen(js_name = blend)]
pub fn blend_js(first: &[f64], rerank: &[f64], alpha: f64, normalization: &str) -> Result<Blended, JsError> {
    let method: Normalization = normalization.parse().map_err(|e: FusionError| JsError::new(&e.to_string()))?;
    blend(first, rerank, alpha, method).map_err(|e| JsError::new(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_sums_reciprocal_ranks_and_missing_docs_add_nothing() {
        let a = ["d1", "d2", "d3"];
        let b = ["d3", "d1"];
        let f = rrf(&[&a[..], &b[..]], 60.0).unwrap();
        assert_eq!(f.ids, ["d1", "d3", "d2"]);
        assert!((f.scores[0] - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-15);
        assert!((f.scores[1] - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-15);
        assert!((f.scores[2] - 1.0 / 62.0).abs() < 1e-15);
    }

    #[test]
    fn rrf_ties_keep_first_appearance_and_duplicates_count_once() {
        let a = ["x", "y"];
        let b = ["y", "x"];
        assert_eq!(rrf(&[&a[..], &b[..]], 60.0).unwrap().ids, ["x", "y"]);
        let dup = ["x", "x", "y"];
        let f = rrf(&[&dup[..]], 0.0).unwrap();
        assert_eq!(f.ids, ["x", "y"]);
        assert_eq!(f.scores, [1.0, 1.0 / 3.0]);
    }

    #[test]
    fn rrf_rejects_bad_k_and_handles_no_lists() {
        let a = ["x"];
        assert_eq!(rrf(&[&a[..]], -1.0), Err(FusionError::BadK(-1.0)));
        assert!(rrf(&[&a[..]], f64::NAN).is_err());
        let none: [&[&str]; 0] = [];
        assert!(rrf(&none, 60.0).unwrap().ids.is_empty());
    }

    #[test]
    fn minmax_and_zscore() {
        assert_eq!(normalize(&[1.0, 3.0, 2.0], Normalization::MinMax), [0.0, 1.0, 0.5]);
        let z = normalize(&[1.0, 3.0], Normalization::ZScore);
        assert_eq!(z, [-1.0, 1.0]);
    }

    #[test]
    fn degenerate_lists_normalise_to_zero_and_nan_stays_nan() {
        for m in [Normalization::MinMax, Normalization::ZScore] {
            assert_eq!(normalize(&[4.0, 4.0, 4.0], m), [0.0, 0.0, 0.0]);
            assert_eq!(normalize(&[7.0], m), [0.0]);
            let n = normalize(&[1.0, f64::NAN, 3.0, f64::INFINITY], m);
            assert!(n[1].is_nan() && n[3].is_nan());
            assert!(n[0] < n[2]);
            assert!(normalize(&[f64::NAN], m)[0].is_nan());
            assert!(normalize(&[], m).is_empty());
        }
    }

    #[test]
    fn blend_weights_the_two_sides() {
        let b = blend(&[10.0, 20.0, 30.0], &[3.0, 2.0, 1.0], 0.75, Normalization::MinMax).unwrap();
        assert_eq!(b.scores, [0.75, 0.5, 0.25]);
        assert_eq!(b.nan_count, 0);
        let b = blend(&[1.0, f64::NAN], &[0.0, 1.0], 0.5, Normalization::MinMax).unwrap();
        assert!(b.scores[1].is_nan());
        assert_eq!(b.nan_count, 1);
        // With alpha = 1 the first stage is ignored, NaN included.
        let b = blend(&[1.0, f64::NAN], &[0.0, 1.0], 1.0, Normalization::MinMax).unwrap();
        assert_eq!(b.scores, [0.0, 1.0]);
    }

    #[test]
    fn blend_rejects_bad_arguments() {
        assert_eq!(blend(&[1.0], &[1.0], 1.5, Normalization::MinMax), Err(FusionError::BadAlpha(1.5)));
        assert!(blend(&[1.0], &[1.0], f64::NAN, Normalization::MinMax).is_err());
        assert_eq!(
            blend(&[1.0], &[1.0, 2.0], 0.5, Normalization::ZScore),
            Err(FusionError::LengthMismatch { first: 1, rerank: 2 })
        );
        assert!("softmax".parse::<Normalization>().is_err());
    }
}
