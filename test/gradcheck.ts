/** Gradient checks for the backward kernels' CPU references: finite differences of an f64 forward. */
import { expect } from 'vitest';

/**
 * Central differences (f(x + h·e_i) − f(x − h·e_i)) / 2h of a scalar function, one coordinate at a time.
 * `x` is perturbed in place and restored exactly, so `f` may close over it.
 */
export function finiteDifference(f: (x: Float64Array) => number, x: Float64Array, h = 1e-4): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    x[i] = xi + h;
    const plus = f(x);
    x[i] = xi - h;
    const minus = f(x);
    x[i] = xi;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/**
 * Worst |a − b| / max(|b|, floor) over all entries: relative for gradients of a useful size, absolute
 * (scaled by the floor) near zero, where finite differences only carry truncation/rounding noise.
 * A NaN anywhere gives Infinity.
 */
export function gradientError(analytic: ArrayLike<number>, numeric: ArrayLike<number>, floor = 1e-3): number {
  expect(analytic.length).toBe(numeric.length);
  let worst = 0;
  for (let i = 0; i < analytic.length; i++) {
    const e = Math.abs(analytic[i] - numeric[i]) / Math.max(Math.abs(numeric[i]), floor);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/**
 * Asserts that `analytic` matches the central difference of `f` at `x` within `tol` (see gradientError).
 * Typical use: f(x) = Σ_i r_i · forward(x)_i with fixed random r, analytic = backward(dy = r).
 */
export function checkGradient(
  f: (x: Float64Array) => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  o: { h?: number; tol?: number; floor?: number } = {},
): number {
  const numeric = finiteDifference(f, x, o.h ?? 1e-4);
  const err = gradientError(analytic, numeric, o.floor ?? 1e-3);
  expect(err).toBeLessThan(o.tol ?? 1e-5);
  return err;
}

/** Σ_i w_i · y_i in f64: turns a vector output into the scalar a finite difference needs. */
export function dot(w: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(w.length).toBe(y.length);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += w[i] * y[i];
  return s;
}
