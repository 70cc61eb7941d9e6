// Learning-to-rank losses over ragged lists (src/train/losses.ts has the definitions and the reference).
// List q owns rows offsets[q] .. offsets[q+1] of scores/labels/teacher/dscores.
//
//   loss_list        one workgroup per list (every loss but neural-ndcg): that list's numerator and count
//                    into partials[2q], partials[2q+1], and d numerator / d scores into dscores;
//   neural_converge  one workgroup per list: runs Sinkhorn to the cap, one convergence bit per iteration;
//   neural_iters     one invocation: the first iteration after which every list has converged;
//   neural_list      one workgroup per list: neural-ndcg's numerator, count and gradient for that many
//                    iterations (Sinkhorn unrolled backwards from its recorded scalings);
//   loss_reduce      one invocation: loss = Σ numerators / Σ counts in list order, 1/count for the scale;
//   loss_scale       one invocation per row: dscores *= 1/count.
// Every sum runs in a fixed order (per-thread strided partial sums, then a tree), so results are
// bit-reproducible; nothing uses atomics. A list with a NaN/Inf score gets a NaN numerator and NaN gradients.
// The host prepends `alias T = ...;` and `const WG: u32`.

struct Params {
  lists: u32,
  rows: u32,
  loss: u32,
  scheme: u32,
  // neural-ndcg: the longest list the scratch matrices fit (elements per row of `mat`).
  max_len: u32,
  input_order: u32,
  natural_log: u32,
  max_iter: u32,
  sigma: f32,
  mu: f32,
  eps: f32,
  alpha: f32,
  temperature: f32,
  tol: f32,
  pad0: f32,
  pad1: f32,
}

const BCE: u32 = 0u;
const MSE: u32 = 1u;
const MARGIN_MSE: u32 = 2u;
const RANKNET: u32 = 3u;
const LAMBDALOSS: u32 = 4u;
const LISTNET: u32 = 5u;
const LISTMLE: u32 = 6u;
const PLISTMLE: u32 = 7u;
const APPROX_NDCG: u32 = 8u;
const KL: u32 = 10u;
const INFONCE: u32 = 11u;

const SCHEME_NONE: u32 = 0u;
const SCHEME_NDCG1: u32 = 1u;
const SCHEME_NDCG2: u32 = 2u;
const SCHEME_LAMBDARANK: u32 = 3u;
const SCHEME_NDCG2PP: u32 = 4u;

const LN2: f32 = 0.6931471805599453;
const SINKHORN_EPS: f32 = 1e-10;
const NDCG_EPS: f32 = 1e-10;
const MLE_EPS: f32 = 1e-10;

// A quiet NaN through a variable: WGSL rejects NaN in constant expressions.
var<private> nan_bits: u32 = 0x7fc00000u;

fn nan() -> f32 {
  return bitcast<f32>(nan_bits);
}

fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) {
    return 1.0 / (1.0 + exp(-x));
  }
  let e = exp(x);
  return e / (1.0 + e);
}

// log(1 + x) accurate for small x (WGSL has no log1p).
fn log1p(x: f32) -> f32 {
  let u = 1.0 + x;
  if (u == 1.0) {
    return x;
  }
  return log(u) * x / (u - 1.0);
}

fn log_sigmoid(x: f32) -> f32 {
  if (x >= 0.0) {
    return -log1p(exp(-x));
  }
  return x - log1p(exp(x));
}

fn log_add_exp(a: f32, b: f32) -> f32 {
  let m = max(a, b);
  return m + log(exp(a - m) + exp(b - m));
}

// ---------------------------------------------------------------------------------------------------
// Workgroup reductions: every invocation passes its value; all get the result (uniform).

var<workgroup> red: array<f32, WG>;

fn wg_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&red[0]);
  workgroupBarrier();
  return r;
}

fn wg_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&red[0]);
  workgroupBarrier();
  return r;
}

fn wg_min(v: f32, lid: u32) -> f32 {
  return -wg_max(-v, lid);
}

// ---------------------------------------------------------------------------------------------------
// Per-list losses.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> scores: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<f32>;
@group(0) @binding(4) var<storage, read> teacher: array<f32>;
@group(0) @binding(5) var<storage, read_write> dscores: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
// [2 * rows]: two per-row scratch values (tmp[o + i], tmp[rows + o + i]).
@group(0) @binding(7) var<storage, read_write> tmp: array<f32>;

// Position of document i of the list at o (length n) in a stable descending sort of `labels`/`scores`.
fn label_rank(o: u32, n: u32, i: u32) -> u32 {
  let v = labels[o + i];
  var k = 0u;
  for (var j = 0u; j < n; j++) {
    let w = labels[o + j];
    if (w > v || (w == v && j < i)) {
      k++;
    }
  }
  return k;
}

fn score_rank(o: u32, n: u32, i: u32) -> u32 {
  let v = scores[o + i];
  var k = 0u;
  for (var j = 0u; j < n; j++) {
    let w = scores[o + j];
    if (w > v || (w == v && j < i)) {
      k++;
    }
  }
  return k;
}

// IDCG (gains 2^y − 1, discounts log2(2 + position)) of the list at o; all invocations call it.
fn list_idcg(o: u32, n: u32, lid: u32) -> f32 {
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) {
    acc += (exp2(labels[o + i]) - 1.0) / log2(2.0 + f32(label_rank(o, n, i)));
  }
  return wg_sum(acc, lid);
}

// The first index with the highest label (ties: the lowest index).
fn first_argmax_label(o: u32, n: u32, lid: u32) -> u32 {
  var m = -3.4e38;
  for (var i = lid; i < n; i += WG) {
    m = max(m, labels[o + i]);
  }
  let top = wg_max(m, lid);
  var first = 3.4e38;
  for (var i = lid; i < n; i += WG) {
    if (labels[o + i] == top) {
      first = min(first, f32(i));
    }
  }
  return u32(wg_min(first, lid));
}

// Softmax statistics: log Σ exp(v) over the list, for v = scores (which = 0), labels (1) or teacher (2).
fn list_value(which: u32, r: u32) -> f32 {
  if (which == 0u) {
    return scores[r];
  }
  if (which == 1u) {
    return labels[r];
  }
  return teacher[r];
}

fn list_lse(which: u32, o: u32, n: u32, lid: u32) -> f32 {
  var m = -3.4e38;
  for (var i = lid; i < n; i += WG) {
    m = max(m, list_value(which, o + i));
  }
  let top = wg_max(m, lid);
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) {
    acc += exp(list_value(which, o + i) - top);
  }
  return top + log(wg_sum(acc, lid));
}

// LambdaLoss pair weight W_ij (positions from tmp, gains from labels / max DCG).
fn lambda_weight(o: u32, i: u32, j: u32, max_dcg: f32) -> f32 {
  let ri = tmp[o + i];
  let rj = tmp[o + j];
  let gi = (exp2(labels[o + i]) - 1.0) / max_dcg;
  let gj = (exp2(labels[o + j]) - 1.0) / max_dcg;
  if (p.scheme == SCHEME_NONE) {
    return 1.0;
  }
  if (p.scheme == SCHEME_NDCG1) {
    return gi / log2(2.0 + ri);
  }
  let lambdarank = abs(1.0 / log2(2.0 + ri) - 1.0 / log2(2.0 + rj)) * abs(gi - gj);
  let d = abs(ri - rj);
  var ndcg2 = 0.0;
  if (d > 0.0) {
    ndcg2 = abs(1.0 / log2(1.0 + d) - 1.0 / log2(2.0 + d)) * abs(gi - gj);
  }
  if (p.scheme == SCHEME_NDCG2) {
    return ndcg2;
  }
  if (p.scheme == SCHEME_LAMBDARANK) {
    return lambdarank;
  }
  return p.mu * ndcg2 + lambdarank;
}

fn pair_counts(o: u32, i: u32, j: u32) -> bool {
  return p.scheme == SCHEME_NDCG1 || labels[o + i] > labels[o + j];
}

// The pair term −log_b(max(max(σ(sigma Δ), eps)^W, eps)) and its derivative w.r.t. Δ = s_i − s_j.
fn pair_term(o: u32, i: u32, j: u32, max_dcg: f32) -> vec2f {
  let w = lambda_weight(o, i, j, max_dcg);
  let x = p.sigma * (scores[o + i] - scores[o + j]);
  let ln_base = select(LN2, 1.0, p.natural_log == 1u);
  let log_eps = log(p.eps);
  let log_p = log_sigmoid(x);
  let log_q = w * max(log_p, log_eps);
  if (log_q < log_eps) {
    return vec2f(-log_eps / ln_base, 0.0);
  }
  var d = 0.0;
  if (log_p >= log_eps) {
    d = -w * p.sigma * sigmoid(-x) / ln_base;
  }
  return vec2f(-log_q / ln_base, d);
}

fn mle_weight(r: f32, n: u32) -> f32 {
  if (p.loss == LISTMLE) {
    return 1.0;
  }
  // (2^{n−r} − 1) / (Σ_u (2^{n−u} − 1) + 1e-10), scaled by 2^{−n}: Σ_u 2^{−u} = 2 (1 − 2^{−n}).
  let tail = exp2(-f32(n));
  let wsum = 2.0 * (1.0 - tail) - f32(n) * tail + MLE_EPS * tail;
  return (exp2(-r) - tail) / wsum;
}

// σ(−alpha (s_i − s_j)) clamped at eps, and its derivative w.r.t. s_i (0 where clamped).
fn approx_sig(o: u32, i: u32, j: u32) -> vec2f {
  let q = sigmoid(-p.alpha * (scores[o + i] - scores[o + j]));
  if (q < p.eps) {
    return vec2f(p.eps, 0.0);
  }
  return vec2f(q, -p.alpha * q * (1.0 - q));
}

fn write_nan_list(q: u32, o: u32, n: u32, lid: u32) {
  for (var i = lid; i < n; i += WG) {
    dscores[o + i] = nan();
  }
  if (lid == 0u) {
    partials[2u * q] = nan();
    partials[2u * q + 1u] = 0.0;
  }
}

fn list_has_nonfinite(o: u32, n: u32, lid: u32) -> bool {
  var bad = 0.0;
  for (var i = lid; i < n; i += WG) {
    if (!is_finite(scores[o + i])) {
      bad = 1.0;
    }
  }
  return wg_max(bad, lid) > 0.0;
}

@compute @workgroup_size(WG)
fn loss_list(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = wid.x;
  if (q >= p.lists) {
    return;
  }
  let o = offsets[q];
  let n = offsets[q + 1u] - o;
  if (list_has_nonfinite(o, n, lid)) {
    write_nan_list(q, o, n, lid);
    return;
  }
  var acc = 0.0;
  var count = 1.0;
  switch (p.loss) {
    case BCE, MSE: {
      for (var i = lid; i < n; i += WG) {
        let s = scores[o + i];
        if (p.loss == BCE) {
          let c = clamp(labels[o + i], 0.0, 1.0);
          acc += max(s, 0.0) - s * c + log1p(exp(-abs(s)));
          dscores[o + i] = sigmoid(s) - c;
        } else {
          let e = s - labels[o + i];
          acc += e * e;
          dscores[o + i] = 2.0 * e;
        }
      }
      count = f32(n);
    }
    case MARGIN_MSE: {
      let pos = first_argmax_label(o, n, lid);
      if (labels[o + pos] <= 0.0) {
        write_nan_list(q, o, n, lid);
        return;
      }
      var gpos = 0.0;
      for (var j = lid; j < n; j += WG) {
        if (j != pos) {
          let e = scores[o + pos] - scores[o + j] - (teacher[o + pos] - teacher[o + j]);
          acc += e * e;
          gpos += 2.0 * e;
          dscores[o + j] = -2.0 * e;
        }
      }
      let total = wg_sum(gpos, lid);
      if (lid == 0u) {
        dscores[o + pos] = total;
      }
      count = f32(n - 1u);
    }
    case RANKNET, LAMBDALOSS: {
      for (var i = lid; i < n; i += WG) {
        tmp[o + i] = f32(score_rank(o, n, i));
      }
      let max_dcg = max(list_idcg(o, n, lid), p.eps);
      storageBarrier();
      var pairs = 0.0;
      for (var i = lid; i < n; i += WG) {
        var g = 0.0;
        for (var j = 0u; j < n; j++) {
          if (pair_counts(o, i, j)) {
            let t = pair_term(o, i, j, max_dcg);
            acc += t.x;
            pairs += 1.0;
            if (j != i) {
              g += t.y;
            }
          }
          if (j != i && pair_counts(o, j, i)) {
            g -= pair_term(o, j, i, max_dcg).y;
          }
        }
        dscores[o + i] = g;
      }
      count = wg_sum(pairs, lid);
    }
    case LISTNET, KL, INFONCE: {
      let lse = list_lse(0u, o, n, lid);
      var which = 1u;
      if (p.loss == KL) {
        which = 2u;
      }
      let target_lse = list_lse(which, o, n, lid);
      let pos = first_argmax_label(o, n, lid);
      if (p.loss == INFONCE && labels[o + pos] <= 0.0) {
        write_nan_list(q, o, n, lid);
        return;
      }
      for (var i = lid; i < n; i += WG) {
        let s = scores[o + i];
        var goal = exp(list_value(which, o + i) - target_lse);
        if (p.loss == INFONCE) {
          goal = select(0.0, 1.0, i == pos);
        }
        if (goal > 0.0) {
          acc -= goal * (s - lse);
          if (p.loss == KL) {
            acc += goal * (teacher[o + i] - target_lse);
          }
        }
        dscores[o + i] = exp(s - lse) - goal;
      }
    }
    case LISTMLE, PLISTMLE: {
      // tmp[o + i]: the document's position π⁻¹(i); tmp[rows + o + i]: log(Σ_{π⁻¹(j) ≥ π⁻¹(i)} e^{s_j} + 1e-10).
      for (var i = lid; i < n; i += WG) {
        tmp[o + i] = select(f32(label_rank(o, n, i)), f32(i), p.input_order == 1u);
      }
      var m = -3.4e38;
      for (var i = lid; i < n; i += WG) {
        m = max(m, scores[o + i]);
      }
      let top = wg_max(m, lid);
      storageBarrier();
      for (var i = lid; i < n; i += WG) {
        let pi = tmp[o + i];
        var sum = 0.0;
        for (var j = 0u; j < n; j++) {
          if (tmp[o + j] >= pi) {
            sum += exp(scores[o + j] - top);
          }
        }
        let log_norm = log_add_exp(top + log(sum), log(MLE_EPS));
        tmp[p.rows + o + i] = log_norm;
        acc -= mle_weight(pi, n) * (scores[o + i] - log_norm);
      }
      storageBarrier();
      for (var j = lid; j < n; j += WG) {
        let pj = tmp[o + j];
        var g = -mle_weight(pj, n);
        for (var i = 0u; i < n; i++) {
          let pi = tmp[o + i];
          if (pi <= pj) {
            g += mle_weight(pi, n) * exp(scores[o + j] - tmp[p.rows + o + i]);
          }
        }
        dscores[o + j] = g;
      }
    }
    case APPROX_NDCG: {
      let max_dcg = max(list_idcg(o, n, lid), p.eps);
      // tmp[o + i] = d numerator / d P_i.
      for (var i = lid; i < n; i += WG) {
        var pos = 1.0;
        for (var j = 0u; j < n; j++) {
          if (j != i) {
            pos += approx_sig(o, i, j).x;
          }
        }
        let gain = (exp2(labels[o + i]) - 1.0) / max_dcg;
        let l2 = log2(1.0 + pos);
        acc -= gain / l2;
        tmp[o + i] = gain / (l2 * l2 * (1.0 + pos) * LN2);
      }
      storageBarrier();
      for (var k = lid; k < n; k += WG) {
        var g = 0.0;
        for (var j = 0u; j < n; j++) {
          if (j != k) {
            g += tmp[o + k] * approx_sig(o, k, j).y - tmp[o + j] * approx_sig(o, j, k).y;
          }
        }
        dscores[o + k] = g;
      }
    }
    default: {
      write_nan_list(q, o, n, lid);
      return;
    }
  }
  let num = wg_sum(acc, lid);
  if (lid == 0u) {
    partials[2u * q] = num;
    partials[2u * q + 1u] = count;
  }
}

// ---------------------------------------------------------------------------------------------------
// neural-ndcg. For list q at rows o..o+n: P̂₀ at mat[o * max_len + k * n + i] (rank k, document i); the
// Sinkhorn state X = diag(r) P̂₀ diag(c) kept as the scalings r (ntmp[o + k]) and c (ntmp[rows + o + i]);
// per half-step h the new scaling and the clamped sums it divided by at trace[o * 4 * max_iter + h * 2n ..]
// (mat, dmat, trace and ntmp are regions of `work`);
// convergence bits at flags[q * words ..], the batch's iteration count at flags[lists * words].

@group(0) @binding(0) var<uniform> np: Params;
@group(0) @binding(1) var<storage, read> noffsets: array<u32>;
@group(0) @binding(2) var<storage, read> nscores: array<f32>;
// Scratch, one buffer (storage bindings are few on some adapters): P̂₀ [rows * max_len], its gradient
// [rows * max_len], the Sinkhorn trace [rows * 4 * max_iter], the scalings r and c [2 * rows].
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
@group(0) @binding(4) var<storage, read_write> flags: array<u32>;
@group(0) @binding(5) var<storage, read> nlabels: array<f32>;
@group(0) @binding(6) var<storage, read_write> ndscores: array<f32>;
@group(0) @binding(7) var<storage, read_write> npartials: array<f32>;

fn dmat_base() -> u32 {
  return np.rows * np.max_len;
}

fn trace_base() -> u32 {
  return 2u * np.rows * np.max_len;
}

fn ntmp_base() -> u32 {
  return trace_base() + 4u * np.rows * np.max_iter;
}

var<workgroup> uniform_u32: u32;

fn flag_words() -> u32 {
  return (np.max_iter + 31u) / 32u;
}

fn n_nonfinite(o: u32, n: u32, lid: u32) -> bool {
  var bad = 0.0;
  for (var i = lid; i < n; i += WG) {
    if (!is_finite(nscores[o + i])) {
      bad = 1.0;
    }
  }
  return wg_max(bad, lid) > 0.0;
}

// NeuralSort: P̂₀[k][i] = softmax_i((s_i (n − 1 − 2k) − Σ_j |s_i − s_j|) / temperature). Uses work[ntmp_base() + o + i].
fn neural_sort(o: u32, n: u32, lid: u32) {
  let base = o * np.max_len;
  for (var i = lid; i < n; i += WG) {
    var b = 0.0;
    for (var j = 0u; j < n; j++) {
      b += abs(nscores[o + i] - nscores[o + j]);
    }
    work[ntmp_base() + o + i] = b;
  }
  storageBarrier();
  for (var k = lid; k < n; k += WG) {
    let c = f32(n) - 1.0 - 2.0 * f32(k);
    var m = -3.4e38;
    for (var i = 0u; i < n; i++) {
      m = max(m, (nscores[o + i] * c - work[ntmp_base() + o + i]) / np.temperature);
    }
    var sum = 0.0;
    for (var i = 0u; i < n; i++) {
      let e = exp((nscores[o + i] * c - work[ntmp_base() + o + i]) / np.temperature - m);
      work[base + k * n + i] = e;
      sum += e;
    }
    for (var i = 0u; i < n; i++) {
      work[base + k * n + i] /= sum;
    }
  }
  storageBarrier();
}

// One Sinkhorn iteration (columns, then rows) on the scalings; records them when `record` (half-steps
// 2t, 2t + 1). Returns the worst |row or column sum − 1| afterwards.
fn sinkhorn_step(o: u32, n: u32, lid: u32, t: u32, record: bool) -> f32 {
  let base = o * np.max_len;
  let tbase = o * 4u * np.max_iter;
  for (var i = lid; i < n; i += WG) {
    var s = 0.0;
    for (var k = 0u; k < n; k++) {
      s += work[ntmp_base() + o + k] * work[base + k * n + i];
    }
    s *= work[ntmp_base() + np.rows + o + i];
    let c = work[ntmp_base() + np.rows + o + i] / max(s, SINKHORN_EPS);
    work[ntmp_base() + np.rows + o + i] = c;
    if (record) {
      work[trace_base() + tbase + (2u * t) * 2u * n + i] = c;
      work[trace_base() + tbase + (2u * t) * 2u * n + n + i] = s;
    }
  }
  storageBarrier();
  for (var k = lid; k < n; k += WG) {
    var s = 0.0;
    for (var i = 0u; i < n; i++) {
      s += work[base + k * n + i] * work[ntmp_base() + np.rows + o + i];
    }
    s *= work[ntmp_base() + o + k];
    let r = work[ntmp_base() + o + k] / max(s, SINKHORN_EPS);
    work[ntmp_base() + o + k] = r;
    if (record) {
      work[trace_base() + tbase + (2u * t + 1u) * 2u * n + k] = r;
      work[trace_base() + tbase + (2u * t + 1u) * 2u * n + n + k] = s;
    }
  }
  storageBarrier();
  var worst = 0.0;
  for (var k = lid; k < n; k += WG) {
    var s = 0.0;
    for (var i = 0u; i < n; i++) {
      s += work[base + k * n + i] * work[ntmp_base() + np.rows + o + i];
    }
    worst = max(worst, abs(s * work[ntmp_base() + o + k] - 1.0));
  }
  for (var i = lid; i < n; i += WG) {
    var s = 0.0;
    for (var k = 0u; k < n; k++) {
      s += work[ntmp_base() + o + k] * work[base + k * n + i];
    }
    worst = max(worst, abs(s * work[ntmp_base() + np.rows + o + i] - 1.0));
  }
  let all = wg_max(worst, lid);
  // The next step rewrites the scalings this one's check read.
  storageBarrier();
  return all;
}

fn sinkhorn_init(o: u32, n: u32, lid: u32) {
  for (var i = lid; i < n; i += WG) {
    work[ntmp_base() + o + i] = 1.0;
    work[ntmp_base() + np.rows + o + i] = 1.0;
  }
  storageBarrier();
}

@compute @workgroup_size(WG)
fn neural_converge(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = wid.x;
  if (q >= np.lists) {
    return;
  }
  let o = noffsets[q];
  let n = noffsets[q + 1u] - o;
  let words = flag_words();
  // Lists that cannot run (NaN scores, too long for the scratch) count as converged; neural_list makes them NaN.
  if (n_nonfinite(o, n, lid) || n > np.max_len || n == 0u) {
    if (lid == 0u) {
      for (var w = 0u; w < words; w++) {
        flags[q * words + w] = 0xffffffffu;
      }
    }
    return;
  }
  if (lid == 0u) {
    for (var w = 0u; w < words; w++) {
      flags[q * words + w] = 0u;
    }
  }
  neural_sort(o, n, lid);
  sinkhorn_init(o, n, lid);
  for (var t = 0u; t < np.max_iter; t++) {
    let worst = sinkhorn_step(o, n, lid, t, false);
    if (lid == 0u && worst < np.tol) {
      flags[q * words + t / 32u] |= 1u << (t % 32u);
    }
  }
}

@group(0) @binding(0) var<uniform> ip: Params;
@group(0) @binding(1) var<storage, read_write> iflags: array<u32>;

@compute @workgroup_size(1)
fn neural_iters() {
  let words = (ip.max_iter + 31u) / 32u;
  var iters = ip.max_iter;
  for (var t = 0u; t < ip.max_iter; t++) {
    var all = true;
    for (var q = 0u; q < ip.lists; q++) {
      if ((iflags[q * words + t / 32u] & (1u << (t % 32u))) == 0u) {
        all = false;
        break;
      }
    }
    if (all) {
      iters = t + 1u;
      break;
    }
  }
  iflags[ip.lists * words] = iters;
}

@compute @workgroup_size(WG)
fn neural_list(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = wid.x;
  if (q >= np.lists) {
    return;
  }
  let o = noffsets[q];
  let n = noffsets[q + 1u] - o;
  if (n_nonfinite(o, n, lid) || n > np.max_len) {
    for (var i = lid; i < n; i += WG) {
      ndscores[o + i] = nan();
    }
    if (lid == 0u) {
      npartials[2u * q] = nan();
      npartials[2u * q + 1u] = 0.0;
    }
    return;
  }
  // IDCG with 2^y − 1 gains; a list without relevant documents counts neither in the loss nor its mean.
  var acc = 0.0;
  for (var i = lid; i < n; i += WG) {
    let v = nlabels[o + i];
    var k = 0u;
    for (var j = 0u; j < n; j++) {
      let w = nlabels[o + j];
      if (w > v || (w == v && j < i)) {
        k++;
      }
    }
    acc += (exp2(v) - 1.0) / log2(2.0 + f32(k));
  }
  let ideal = wg_sum(acc, lid);
  if (ideal == 0.0) {
    for (var i = lid; i < n; i += WG) {
      ndscores[o + i] = 0.0;
    }
    if (lid == 0u) {
      npartials[2u * q] = 0.0;
      npartials[2u * q + 1u] = 0.0;
    }
    return;
  }
  if (lid == 0u) {
    uniform_u32 = flags[np.lists * flag_words()];
  }
  let iters = workgroupUniformLoad(&uniform_u32);
  neural_sort(o, n, lid);
  sinkhorn_init(o, n, lid);
  for (var t = 0u; t < iters; t++) {
    _ = sinkhorn_step(o, n, lid, t, true);
  }
  let base = o * np.max_len;
  let tbase = o * 4u * np.max_iter;
  let denom = ideal + NDCG_EPS;
  // Value and d numerator / d X (numerator = −NDCG).
  var dg = 0.0;
  for (var k = lid; k < n; k += WG) {
    let disc = 1.0 / log2(f32(k) + 2.0);
    var row = 0.0;
    for (var i = 0u; i < n; i++) {
      let gain = exp2(nlabels[o + i]) - 1.0;
      row += work[ntmp_base() + o + k] * work[base + k * n + i] * work[ntmp_base() + np.rows + o + i] * gain;
      work[dmat_base() + base + k * n + i] = -gain * disc / denom;
    }
    dg += row * disc;
  }
  let ndcg = wg_sum(dg, lid) / denom;
  storageBarrier();
  // Back through the half-steps: Y = X / S (per column, then per row), Y = diag(r_h) P̂₀ diag(c_h).
  for (var hh = 0u; hh < 2u * iters; hh++) {
    let h = 2u * iters - 1u - hh;
    let at = tbase + h * 2u * n;
    if (h % 2u == 0u) {
      // columns: c_h recorded at h, r from the row step before (all ones before the first).
      for (var i = lid; i < n; i += WG) {
        let s = work[trace_base() + at + n + i];
        let c = work[trace_base() + at + i];
        var dot = 0.0;
        if (s >= SINKHORN_EPS) {
          for (var k = 0u; k < n; k++) {
            var r = 1.0;
            if (h > 0u) {
              r = work[trace_base() + at - 2u * n + k];
            }
            dot += r * work[base + k * n + i] * c * work[dmat_base() + base + k * n + i];
          }
        }
        let inv = 1.0 / max(s, SINKHORN_EPS);
        for (var k = 0u; k < n; k++) {
          work[dmat_base() + base + k * n + i] = (work[dmat_base() + base + k * n + i] - dot) * inv;
        }
      }
    } else {
      for (var k = lid; k < n; k += WG) {
        let s = work[trace_base() + at + n + k];
        let r = work[trace_base() + at + k];
        var dot = 0.0;
        if (s >= SINKHORN_EPS) {
          for (var i = 0u; i < n; i++) {
            dot += r * work[base + k * n + i] * work[trace_base() + at - 2u * n + i] * work[dmat_base() + base + k * n + i];
          }
        }
        let inv = 1.0 / max(s, SINKHORN_EPS);
        for (var i = 0u; i < n; i++) {
          work[dmat_base() + base + k * n + i] = (work[dmat_base() + base + k * n + i] - dot) * inv;
        }
      }
    }
    storageBarrier();
  }
  // Softmax rows, into dZ (in dmat): dZ_ki = P̂₀_ki (dP̂₀_ki − Σ_u dP̂₀_ku P̂₀_ku) / temperature.
  for (var k = lid; k < n; k += WG) {
    var dot = 0.0;
    for (var u = 0u; u < n; u++) {
      dot += work[base + k * n + u] * work[dmat_base() + base + k * n + u];
    }
    for (var i = 0u; i < n; i++) {
      work[dmat_base() + base + k * n + i] = work[base + k * n + i] * (work[dmat_base() + base + k * n + i] - dot) / np.temperature;
    }
  }
  storageBarrier();
  // dB_i = −Σ_k dZ_ki (B_i = Σ_j |s_i − s_j|), into work[ntmp_base() + o + i].
  for (var i = lid; i < n; i += WG) {
    var s = 0.0;
    for (var k = 0u; k < n; k++) {
      s += work[dmat_base() + base + k * n + i];
    }
    work[ntmp_base() + o + i] = -s;
  }
  storageBarrier();
  for (var m = lid; m < n; m += WG) {
    var g = 0.0;
    for (var k = 0u; k < n; k++) {
      g += work[dmat_base() + base + k * n + m] * (f32(n) - 1.0 - 2.0 * f32(k));
    }
    for (var j = 0u; j < n; j++) {
      g += sign(nscores[o + m] - nscores[o + j]) * (work[ntmp_base() + o + m] + work[ntmp_base() + o + j]);
    }
    ndscores[o + m] = g;
  }
  if (lid == 0u) {
    npartials[2u * q] = -ndcg;
    npartials[2u * q + 1u] = 1.0;
  }
}

// ---------------------------------------------------------------------------------------------------

@group(0) @binding(0) var<uniform> rp: Params;
@group(0) @binding(1) var<storage, read_write> rpartials: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

@compute @workgroup_size(1)
fn loss_reduce() {
  var num = 0.0;
  var count = 0.0;
  for (var q = 0u; q < rp.lists; q++) {
    num += rpartials[2u * q];
    count += rpartials[2u * q + 1u];
  }
  if (count > 0.0) {
    loss[0] = num / count;
    rpartials[2u * rp.lists] = 1.0 / count;
  } else {
    loss[0] = select(0.0, nan(), !is_finite(num));
    rpartials[2u * rp.lists] = 0.0;
  }
}

@group(0) @binding(0) var<uniform> sp: Params;
@group(0) @binding(1) var<storage, read> spartials: array<f32>;
@group(0) @binding(2) var<storage, read_write> sdscores: array<f32>;

@compute @workgroup_size(WG)
fn loss_scale(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= sp.rows) {
    return;
  }
  sdscores[r] *= spartials[2u * sp.lists];
}
