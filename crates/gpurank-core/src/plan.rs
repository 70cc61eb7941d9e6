//! Length-bucketed batch plans: order the rows by token length and cut them into batches whose
//! padded size (rows × longest row, rounded up to `pad_multiple`) stays within a token budget.
//! Sorting first is what keeps padding small: each batch holds rows of similar length.

use wasm_bindgen::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Most padded tokens (rows × padded length) in one batch.
    pub token_budget: u32,
    /// Most rows in one batch; 0 = no limit.
    pub max_rows: u32,
    /// Padded lengths are rounded up to a multiple of this (1 = no rounding).
    pub pad_multiple: u32,
    /// Longest rows first; `false` keeps input order (the baseline for comparisons).
    pub sort: bool,
}

/// `order[starts[b]..starts[b + 1]]` are the input indices in batch `b`, padded to `padded[b]`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub order: Vec<u32>,
    pub starts: Vec<u32>,
    pub padded: Vec<u32>,
}

impl Plan {
    pub fn batches(&self) -> usize {
        self.padded.len()
    }

    /// `[batches, order (n), starts (batches + 1), padded (batches)]` in one buffer, one copy to JS.
    pub fn pack(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(1 + self.order.len() + 2 * self.padded.len() + 1);
        out.push(self.padded.len() as u32);
        out.extend_from_slice(&self.order);
        out.extend_from_slice(&self.starts);
        out.extend_from_slice(&self.padded);
        out
    }

    /// Padded tokens minus real tokens over the whole plan.
    pub fn padding_waste(&self, lengths: &[u32]) -> u64 {
        (0..self.batches())
            .map(|b| {
                let rows = &self.order[self.starts[b] as usize..self.starts[b + 1] as usize];
                rows.iter().map(|&i| u64::from(self.padded[b] - lengths[i as usize])).sum::<u64>()
            })
            .sum()
    }
}

fn round_up(len: u32, multiple: u32) -> u32 {
    len.div_ceil(multiple).saturating_mul(multiple)
}

pub fn plan_batches(lengths: &[u32], opts: PlanOptions) -> Result<Plan, String> {
    if opts.token_budget == 0 {
        return Err("token budget must be at least 1".into());
    }
    if opts.pad_multiple == 0 {
        return Err("pad multiple must be at least 1".into());
    }
    let mut order: Vec<u32> = (0..lengths.len() as u32).collect();
    if opts.sort {
        // Stable, so equal lengths keep input order and plans are deterministic.
        order.sort_by(|&a, &b| lengths[b as usize].cmp(&lengths[a as usize]));
    }
    let max_rows = if opts.max_rows == 0 { u64::MAX } else { u64::from(opts.max_rows) };
    let mut plan = Plan { starts: vec![0], ..Default::default() };
    let mut rows = 0u64;
    let mut pad = 0u32;
    for (pos, &i) in order.iter().enumerate() {
        let len = round_up(lengths[i as usize], opts.pad_multiple);
        let new_pad = pad.max(len);
        // A batch always takes its first row, so one over-budget row still gets a batch alone.
        if rows > 0 && ((rows + 1) * u64::from(new_pad) > u64::from(opts.token_budget) || rows + 1 > max_rows) {
            plan.starts.push(pos as u32);
            plan.padded.push(pad);
            rows = 0;
            pad = len;
        } else {
            pad = new_pad;
        }
        rows += 1;
    }
    if rows > 0 {
        plan.starts.push(order.len() as u32);
        plan.padded.push(pad);
    }
    plan.order = order;
    Ok(plan)
}

/// JS entry point: returns `Plan::pack`.
#[wasm_bindgen(js_name = planBatches)]
pub fn plan_batches_js(
    lengths: &[u32],
    token_budget: u32,
    max_rows: u32,
    pad_multiple: u32,
    sort: bool,
) -> Result<Vec<u32>, JsError> {
    plan_batches(lengths, PlanOptions { token_budget, max_rows, pad_multiple, sort })
        .map(|p| p.pack())
        .map_err(|e| JsError::new(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(token_budget: u32, max_rows: u32) -> PlanOptions {
        PlanOptions { token_budget, max_rows, pad_multiple: 1, sort: true }
    }

    fn check(lengths: &[u32], o: PlanOptions, plan: &Plan) {
        let mut seen = vec![false; lengths.len()];
        for &i in &plan.order {
            assert!(!seen[i as usize], "index {i} twice");
            seen[i as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(*plan.starts.last().unwrap() as usize, lengths.len());
        for b in 0..plan.batches() {
            let rows = &plan.order[plan.starts[b] as usize..plan.starts[b + 1] as usize];
            assert!(!rows.is_empty());
            let longest = rows.iter().map(|&i| lengths[i as usize]).max().unwrap();
            assert_eq!(plan.padded[b], round_up(longest, o.pad_multiple));
            if rows.len() > 1 {
                assert!(rows.len() as u64 * u64::from(plan.padded[b]) <= u64::from(o.token_budget));
            }
            if o.max_rows > 0 {
                assert!(rows.len() <= o.max_rows as usize);
            }
        }
    }

    #[test]
    fn sorted_batches_hold_budget_and_cover_every_index() {
        let lengths: Vec<u32> = (0..200u32).map(|i| (i * 7919) % 500 + 3).collect();
        let o = opts(4096, 32);
        let plan = plan_batches(&lengths, o).unwrap();
        check(&lengths, o, &plan);
        // Longest first, stable.
        let sorted: Vec<u32> = plan.order.iter().map(|&i| lengths[i as usize]).collect();
        assert!(sorted.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn sorting_wastes_less_padding_than_input_order() {
        let lengths: Vec<u32> = (0..300u32).map(|i| (i * 104_729) % 400 + 10).collect();
        let sorted = plan_batches(&lengths, opts(8192, 0)).unwrap();
        let unsorted = plan_batches(&lengths, PlanOptions { sort: false, ..opts(8192, 0) }).unwrap();
        check(&lengths, PlanOptions { sort: false, ..opts(8192, 0) }, &unsorted);
        assert_eq!(unsorted.order, (0..300).collect::<Vec<u32>>());
        assert!(sorted.padding_waste(&lengths) * 5 < unsorted.padding_waste(&lengths));
    }

    #[test]
    fn over_budget_row_gets_its_own_batch() {
        let lengths = [10, 900, 20];
        let plan = plan_batches(&lengths, opts(100, 0)).unwrap();
        assert_eq!(plan.order, vec![1, 2, 0]);
        assert_eq!(plan.starts, vec![0, 1, 3]);
        assert_eq!(plan.padded, vec![900, 20]);
    }

    #[test]
    fn max_rows_and_pad_multiple() {
        let lengths = [5; 10];
        let o = PlanOptions { token_budget: 1_000, max_rows: 4, pad_multiple: 8, sort: true };
        let plan = plan_batches(&lengths, o).unwrap();
        check(&lengths, o, &plan);
        assert_eq!(plan.starts, vec![0, 4, 8, 10]);
        assert_eq!(plan.padded, vec![8, 8, 8]);
        assert_eq!(plan.padding_waste(&lengths), 30);
    }

    #[test]
    fn empty_input_and_bad_options() {
        let plan = plan_batches(&[], opts(10, 0)).unwrap();
        assert_eq!(plan.batches(), 0);
        assert_eq!(plan.pack(), vec![0, 0]);
        assert!(plan_batches(&[1], opts(0, 0)).is_err());
        assert!(plan_batches(&[1], PlanOptions { pad_multiple: 0, ..opts(10, 0) }).is_err());
    }

    #[test]
    fn pack_layout() {
        let plan = plan_batches(&[3, 5], opts(10, 0)).unwrap();
        assert_eq!(plan.pack(), vec![1, 1, 0, 0, 2, 5]);
    }
}
