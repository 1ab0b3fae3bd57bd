//! Minimum-cost linear assignment (the "Hungarian" problem) for rectangular cost matrices.
//!
//! The solver is the shortest-augmenting-path method of Jonker and Volgenant (as popularised by the
//! e-maxx formulation of the Hungarian algorithm with potentials): `O(n² m)` for `n <= m`, exact in
//! `f64`, deterministic (ties are broken by the lowest index).
//!
//! Two ways to say which pairs may not be matched:
//! - [`min_cost_matching`]: non-finite costs (NaN, ±∞) are forbidden pairs; the result has the greatest
//!   possible number of pairs and, among those, the least total cost. This is what
//!   `scipy.optimize.linear_sum_assignment` gives with py-motmetrics' "expensive edges" for NaN costs.
//! - [`min_cost_matching_limited`]: pairs costing `limit` or more are forbidden and matching is never
//!   forced: the result minimises `Σ (cost − limit)` over its pairs, i.e. leaving a row and a column
//!   unmatched costs `limit`. This is `lap.lapjv(cost, extend_cost=True, cost_limit=limit)`, which
//!   ByteTrack uses.

/// A dense, row-major matrix of assignment costs (rows are one side, e.g. tracks; columns the other,
/// e.g. detections).
#[derive(Debug, Clone, PartialEq)]
pub struct CostMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl CostMatrix {
    /// A `rows` x `cols` matrix with every cost `value`.
    pub fn filled(rows: usize, cols: usize, value: f64) -> Self {
        Self {
            rows,
            cols,
            data: vec![value; rows * cols],
        }
    }

    /// A `rows` x `cols` matrix whose cost at (r, c) is `f(r, c)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Self { rows, cols, data }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// True when the matrix has no cells.
    pub fn is_empty(&self) -> bool {
        self.rows == 0 || self.cols == 0
    }

    /// Cost at (row, col). Panics when out of range (a programming error).
    pub fn get(&self, row: usize, col: usize) -> f64 {
        assert!(row < self.rows && col < self.cols, "cell out of range");
        self.data[row * self.cols + col]
    }

    /// Sets the cost at (row, col). Panics when out of range (a programming error).
    pub fn set(&mut self, row: usize, col: usize, value: f64) {
        assert!(row < self.rows && col < self.cols, "cell out of range");
        self.data[row * self.cols + col] = value;
    }
}

/// The result of an assignment: matched pairs and what stayed unmatched on each side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assignment {
    /// Matched `(row, col)` pairs, in ascending row order.
    pub pairs: Vec<(usize, usize)>,
    /// Rows left unmatched, ascending.
    pub unmatched_rows: Vec<usize>,
    /// Columns left unmatched, ascending.
    pub unmatched_cols: Vec<usize>,
}

impl Assignment {
    fn from_row_to_col(rows: usize, cols: usize, row_to_col: &[Option<usize>]) -> Self {
        let mut col_used = vec![false; cols];
        let mut out = Assignment::default();
        for (r, c) in row_to_col.iter().enumerate().take(rows) {
            match c {
                Some(c) => {
                    col_used[*c] = true;
                    out.pairs.push((r, *c));
                }
                None => out.unmatched_rows.push(r),
            }
        }
        out.unmatched_cols = (0..cols).filter(|c| !col_used[*c]).collect();
        out
    }

    /// Sum of `cost` over the matched pairs.
    pub fn total_cost(&self, cost: &CostMatrix) -> f64 {
        self.pairs.iter().map(|&(r, c)| cost.get(r, c)).sum()
    }
}

/// Full rectangular assignment on finite costs: every row (if `rows <= cols`) or every column is matched,
/// with the least total cost. Returns, per row, its column.
fn solve_full(rows: usize, cols: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<Option<usize>> {
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows <= cols {
        let dense: Vec<f64> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| cost(r, c))
            .collect();
        return solve_dense(rows, cols, &dense);
    }
    // Solve the transpose so that the side being augmented is the smaller one.
    let dense: Vec<f64> = (0..cols)
        .flat_map(|c| (0..rows).map(move |r| (r, c)))
        .map(|(r, c)| cost(r, c))
        .collect();
    let col_to_row = solve_dense(cols, rows, &dense);
    let mut row_to_col = vec![None; rows];
    for (c, r) in col_to_row.into_iter().enumerate() {
        if let Some(r) = r {
            row_to_col[r] = Some(c);
        }
    }
    row_to_col
}

/// The shortest-augmenting-path solver on a dense row-major `n x m` matrix with `1 <= n <= m`.
fn solve_dense(n: usize, m: usize, a: &[f64]) -> Vec<Option<usize>> {
    debug_assert!(n >= 1 && n <= m && a.len() == n * m);
    let cost = |i: usize, j: usize| a[i * m + j];
    // 1-based potentials and matching, index 0 is the virtual start column.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row (1-based) matched to column j, 0 = none
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                if cur < minv[j] {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            if j1 == 0 {
                // Only possible with non-finite costs, which callers never pass; stop safely.
                break;
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        // Augment along the path back to the virtual column.
        while j0 != 0 {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        }
    }
    let mut row_to_col = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            row_to_col[p[j] - 1] = Some(j - 1);
        }
    }
    row_to_col
}

/// The matching with the most pairs and, among those, the least total cost. Non-finite costs (NaN, ±∞)
/// mark pairs that may not be matched.
///
/// Same optimum as py-motmetrics' `linear_sum_assignment` (scipy with NaN replaced by a cost so large that
/// choosing it is never worth it); when several matchings are optimal the one returned may differ.
pub fn min_cost_matching(cost: &CostMatrix) -> Assignment {
    let (rows, cols) = (cost.rows, cost.cols);
    let mut max_abs = f64::NEG_INFINITY;
    for &c in &cost.data {
        if c.is_finite() {
            max_abs = max_abs.max(c.abs());
        }
    }
    if !max_abs.is_finite() {
        // Empty matrix or no allowed pair.
        return Assignment::from_row_to_col(rows, cols, &vec![None; rows]);
    }
    // An edge that costs more than any full matching of allowed edges (as motmetrics does): a matching
    // with one forbidden edge fewer is always cheaper, so the optimum maximises the allowed pairs first.
    let r = rows.min(cols) as f64;
    let large = 2.0 * r * (max_abs + 1.0) + 1.0;
    let mut row_to_col = solve_full(rows, cols, |i, j| {
        let c = cost.get(i, j);
        if c.is_finite() { c } else { large }
    });
    for (i, c) in row_to_col.iter_mut().enumerate() {
        if let Some(j) = *c
            && !cost.get(i, j).is_finite()
        {
            *c = None;
        }
    }
    Assignment::from_row_to_col(rows, cols, &row_to_col)
}

/// The matching that minimises `Σ (cost − limit)` over its pairs: only pairs costing less than `limit`
/// may be matched, and no pair is forced. Non-finite costs are forbidden pairs.
///
/// Same optimum as `lap.lapjv(cost, extend_cost=True, cost_limit=limit)` (which pads the matrix with
/// `limit / 2` for "unmatched"); solved directly on the `rows x cols` matrix with costs clipped at the
/// limit, so it costs no more than a plain assignment.
pub fn min_cost_matching_limited(cost: &CostMatrix, limit: f64) -> Assignment {
    let (rows, cols) = (cost.rows, cost.cols);
    let allowed = |c: f64| c.is_finite() && c < limit;
    // Clipping at the limit makes every disallowed pair cost 0 (= leaving both ends unmatched), so a
    // full assignment on the clipped matrix, minus its zero-gain pairs, is an optimal partial matching.
    let mut row_to_col = solve_full(rows, cols, |i, j| {
        let c = cost.get(i, j);
        if allowed(c) { c - limit } else { 0.0 }
    });
    for (i, c) in row_to_col.iter_mut().enumerate() {
        if let Some(j) = *c
            && !allowed(cost.get(i, j))
        {
            *c = None;
        }
    }
    Assignment::from_row_to_col(rows, cols, &row_to_col)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: a tiny deterministic generator for property tests.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Every partial matching of a small matrix, as (pairs) lists, by recursion over rows.
    fn all_matchings(rows: usize, cols: usize) -> Vec<Vec<(usize, usize)>> {
        fn rec(
            r: usize,
            rows: usize,
            cols: usize,
            used: &mut Vec<bool>,
            cur: &mut Vec<(usize, usize)>,
            out: &mut Vec<Vec<(usize, usize)>>,
        ) {
            if r == rows {
                out.push(cur.clone());
                return;
            }
            rec(r + 1, rows, cols, used, cur, out);
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    cur.push((r, c));
                    rec(r + 1, rows, cols, used, cur, out);
                    cur.pop();
                    used[c] = false;
                }
            }
        }
        let mut out = Vec::new();
        rec(
            0,
            rows,
            cols,
            &mut vec![false; cols],
            &mut Vec::new(),
            &mut out,
        );
        out
    }

    fn random_matrix(rng: &mut Rng, forbid_fraction: f64) -> CostMatrix {
        let rows = rng.below(6) as usize;
        let cols = rng.below(6) as usize;
        let mut m = CostMatrix::from_fn(rows, cols, |_, _| 0.0);
        for r in 0..rows {
            for c in 0..cols {
                let v = if rng.unit() < forbid_fraction {
                    f64::NAN
                } else if rng.below(4) == 0 {
                    // Coarse values make ties common, which is where solvers go wrong.
                    rng.below(3) as f64
                } else {
                    rng.unit() * 4.0 - 1.0
                };
                m.set(r, c, v);
            }
        }
        m
    }

    fn check_consistent(a: &Assignment, m: &CostMatrix) {
        let mut rows: Vec<usize> = a.pairs.iter().map(|p| p.0).collect();
        rows.extend(&a.unmatched_rows);
        rows.sort_unstable();
        assert_eq!(rows, (0..m.rows()).collect::<Vec<_>>());
        let mut cols: Vec<usize> = a.pairs.iter().map(|p| p.1).collect();
        cols.extend(&a.unmatched_cols);
        cols.sort_unstable();
        assert_eq!(cols, (0..m.cols()).collect::<Vec<_>>());
    }

    #[test]
    fn max_cardinality_matching_equals_brute_force() {
        let mut rng = Rng(7);
        for case in 0..3000 {
            let m = random_matrix(&mut rng, [0.0, 0.3, 0.7][case % 3]);
            let got = min_cost_matching(&m);
            check_consistent(&got, &m);
            assert!(got.pairs.iter().all(|&(r, c)| m.get(r, c).is_finite()));
            let best = all_matchings(m.rows(), m.cols())
                .into_iter()
                .filter(|p| p.iter().all(|&(r, c)| m.get(r, c).is_finite()))
                .map(|p| (p.len(), p.iter().map(|&(r, c)| m.get(r, c)).sum::<f64>()))
                .fold((0usize, 0.0f64), |best, cand| {
                    if cand.0 > best.0 || (cand.0 == best.0 && cand.1 < best.1) {
                        cand
                    } else {
                        best
                    }
                });
            assert_eq!(got.pairs.len(), best.0, "case {case}: {m:?}");
            assert!(
                (got.total_cost(&m) - best.1).abs() < 1e-9,
                "case {case}: {} vs {} for {m:?}",
                got.total_cost(&m),
                best.1
            );
        }
    }

    #[test]
    fn limited_matching_equals_brute_force() {
        let mut rng = Rng(11);
        for case in 0..3000 {
            let m = random_matrix(&mut rng, [0.0, 0.2][case % 2]);
            let limit = rng.unit() * 3.0;
            let got = min_cost_matching_limited(&m, limit);
            check_consistent(&got, &m);
            assert!(got.pairs.iter().all(|&(r, c)| m.get(r, c) < limit));
            let gain = |p: &[(usize, usize)]| p.iter().map(|&(r, c)| m.get(r, c) - limit).sum();
            let best = all_matchings(m.rows(), m.cols())
                .into_iter()
                .filter(|p| p.iter().all(|&(r, c)| m.get(r, c) < limit))
                .map(|p| gain(&p))
                .fold(0.0f64, f64::min);
            assert!(
                (gain(&got.pairs) - best).abs() < 1e-9,
                "case {case}: limit {limit}, {m:?}"
            );
        }
    }

    #[test]
    fn full_assignment_of_a_known_matrix() {
        // Classic example: optimum 0->1, 1->0, 2->2 with cost 1 + 2 + 2 = 5.
        let rows = [[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]];
        let m = CostMatrix::from_fn(3, 3, |r, c| rows[r][c]);
        let a = min_cost_matching(&m);
        assert_eq!(a.pairs, vec![(0, 1), (1, 0), (2, 2)]);
        assert_eq!(a.total_cost(&m), 5.0);
    }

    #[test]
    fn rectangular_and_empty_shapes() {
        let wide = CostMatrix::from_fn(2, 4, |r, c| ((r as f64) - (c as f64)).abs());
        let a = min_cost_matching(&wide);
        assert_eq!(a.pairs, vec![(0, 0), (1, 1)]);
        assert_eq!(a.unmatched_cols, vec![2, 3]);
        let tall = CostMatrix::from_fn(4, 2, |r, c| ((r as f64) - (c as f64) - 2.0).abs());
        let a = min_cost_matching(&tall);
        assert_eq!(a.pairs, vec![(2, 0), (3, 1)]);
        assert_eq!(a.unmatched_rows, vec![0, 1]);
        let empty = CostMatrix::filled(3, 0, 0.0);
        assert_eq!(min_cost_matching(&empty).unmatched_rows, vec![0, 1, 2]);
        let forbidden = CostMatrix::filled(2, 2, f64::NAN);
        let a = min_cost_matching_limited(&forbidden, 1.0);
        assert!(a.pairs.is_empty() && a.unmatched_cols == vec![0, 1]);
    }

    #[test]
    fn limit_rejects_pairs_at_or_above_it_and_never_forces() {
        // One cheap pair and one at the limit: only the cheap pair is taken.
        let m = CostMatrix::from_fn(2, 2, |r, c| match (r, c) {
            (0, 0) => 0.1,
            (1, 1) => 0.8,
            _ => 0.95,
        });
        let a = min_cost_matching_limited(&m, 0.8);
        assert_eq!(a.pairs, vec![(0, 0)]);
        // [[0.1, 0.5], [0.5, 10]] with limit 0.8: the most pairs would be (0,1) + (1,0), but one
        // pair (0,0) gains more (0.7 against 2 x 0.3), so the limited matching takes it alone.
        let costs = [[0.1, 0.5], [0.5, 10.0]];
        let m = CostMatrix::from_fn(2, 2, |r, c| costs[r][c]);
        assert_eq!(min_cost_matching_limited(&m, 0.8).pairs, vec![(0, 0)]);
        assert_eq!(min_cost_matching(&m).pairs, vec![(0, 1), (1, 0)]);
    }
}
