// Exact (erf) GELU as in BERT, shared by matmul.wgsl (its fused activation) and activation.wgsl, so
// the fused and the standalone forward give the same bits. f32 arithmetic; no storage declarations.

// erf for f32 as a rational approximation on [-4, 4] (Eigen/XLA's); beyond that erf is +-1 in f32.
fn erf32(v: f32) -> f32 {
  let a = clamp(v, -4.0, 4.0);
  let a2 = a * a;
  var num = a2 * -2.72614225801306e-10 + 2.77068142495902e-08;
  num = a2 * num - 2.10102402082508e-06;
  num = a2 * num - 5.69250639462346e-05;
  num = a2 * num - 7.34990630326855e-04;
  num = a2 * num - 2.95459980854025e-03;
  num = a2 * num - 1.60960333262415e-02;
  var den = a2 * -1.45660718464996e-05 - 2.13374055278905e-04;
  den = a2 * den - 1.68282697438203e-03;
  den = a2 * den - 7.37332916720468e-03;
  den = a2 * den - 1.42647390514189e-02;
  return a * num / den;
}

// GELU(z) = z * Phi(z) = z/2 * (1 + erf(z / sqrt 2)).
fn gelu32(z: f32) -> f32 {
  return 0.5 * z * (1.0 + erf32(z * 0.70710678118654752));
}

// GELU'(z) = Phi(z) + z * phi(z), phi the standard normal density. exp underflows to 0 for large |z|,
// leaving Phi in {0, 1}: no NaN.
fn gelu_grad32(z: f32) -> f32 {
  return 0.5 * (1.0 + erf32(z * 0.70710678118654752)) + z * 0.39894228040143268 * exp(-0.5 * z * z);
}
