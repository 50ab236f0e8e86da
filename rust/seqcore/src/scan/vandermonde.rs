//! The convolution kernel of a diagonal state space model (S4D, Mega's EMA),
//! as a Vandermonde product:
//!
//! ```text
//! K[h, l] = sum_n W[h, n] * Z[h, n]^l        h < channels, n < modes, l < length
//! ```
//!
//! For S4D, `W = C * dB` and `Z = dA` (complex; callers take `2 Re(K)` for
//! the implied conjugate pairs). For Mega's damped EMA, `W = gamma * p *
//! beta` and `Z = q` (real).
//!
//! # Accuracy
//!
//! Powers come from repeated multiplication, never from `exp(l * log z)`.
//! Either way, a power `z^l` built in working precision `eps` carries a
//! relative error that grows like `l * eps` (the rounding of `z^B` is
//! raised to the power `l / B` too, so blocking does not avoid it; nor does
//! rounding `l * log z`). For float32 inputs that is `~5e-4` at
//! `l = 8192`. So every kernel here works in float64 whatever the input
//! type (`~1e-12` at `l = 8192`) and rounds once, when it writes the result.
//!
//! # Speed: blocks of powers
//!
//! A direct loop `p *= z; K[l] += w * p` is one long chain of dependent
//! multiplications per mode. Instead, time is cut into blocks of `B` steps:
//!
//! ```text
//! K[kB + j] = sum_n (W[n] Z[n]^(kB)) * Z[n]^j       j < B
//!           = sum_n u_k[n] * V[n][j]                 u_{k+1} = u_k * Z^B
//! ```
//!
//! `V` (the first `B` powers, built once per channel) stays in L1, each
//! block is a small matrix-vector product whose inner loop is an
//! independent multiply-add across `j`, which vectorises, and only `u`
//! is carried from block to block.

use num_complex::Complex;

use super::element::ScanElement;
use super::error::ScanError;
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

pub(crate) const MODES_LAYOUT: &str = "(channels, modes)";

/// Steps per block. `V` then holds `64 * modes` powers: 16 KiB of float64
/// re/im pairs for 16 modes (Mega's default), which stays in L1.
pub(crate) const BLOCK: usize = 64;

/// A number the Vandermonde kernel accepts: f32, f64 and their complex
/// versions. The kernel computes in float64 (see the module notes), with
/// real and imaginary parts in separate arrays so that the loops vectorise.
pub trait KernelElement: ScanElement {
    /// False for f32 and f64: the imaginary parts are then never computed.
    const IS_COMPLEX: bool;
    /// `(re, im)` widened to float64 (`im` is 0 for real numbers).
    fn to_parts(self) -> (f64, f64);
    /// Rounds `(re, im)` to this type (`im` is ignored for real numbers).
    fn from_parts(re: f64, im: f64) -> Self;
}

impl KernelElement for f32 {
    const IS_COMPLEX: bool = false;
    #[inline(always)]
    fn to_parts(self) -> (f64, f64) {
        (f64::from(self), 0.0)
    }
    #[inline(always)]
    fn from_parts(re: f64, _im: f64) -> Self {
        re as f32
    }
}

impl KernelElement for f64 {
    const IS_COMPLEX: bool = false;
    #[inline(always)]
    fn to_parts(self) -> (f64, f64) {
        (self, 0.0)
    }
    #[inline(always)]
    fn from_parts(re: f64, _im: f64) -> Self {
        re
    }
}

impl KernelElement for Complex<f32> {
    const IS_COMPLEX: bool = true;
    #[inline(always)]
    fn to_parts(self) -> (f64, f64) {
        (f64::from(self.re), f64::from(self.im))
    }
    #[inline(always)]
    fn from_parts(re: f64, im: f64) -> Self {
        Complex::new(re as f32, im as f32)
    }
}

impl KernelElement for Complex<f64> {
    const IS_COMPLEX: bool = true;
    #[inline(always)]
    fn to_parts(self) -> (f64, f64) {
        (self.re, self.im)
    }
    #[inline(always)]
    fn from_parts(re: f64, im: f64) -> Self {
        Complex::new(re, im)
    }
}

/// Float64 numbers with real and imaginary parts in separate arrays.
#[derive(Debug, Clone, Default)]
pub(crate) struct Split {
    pub re: Vec<f64>,
    pub im: Vec<f64>,
}

impl Split {
    pub(crate) fn zeros(n: usize) -> Self {
        Self {
            re: vec![0.0; n],
            im: vec![0.0; n],
        }
    }

    pub(crate) fn from_elements<T: KernelElement>(values: &[T]) -> Self {
        let (re, im) = values.iter().map(|v| v.to_parts()).unzip();
        Self { re, im }
    }

    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> (f64, f64) {
        (self.re[i], self.im[i])
    }

    #[inline(always)]
    pub(crate) fn set(&mut self, i: usize, (re, im): (f64, f64)) {
        self.re[i] = re;
        self.im[i] = im;
    }
}

#[inline(always)]
pub(crate) fn mul((ar, ai): (f64, f64), (br, bi): (f64, f64)) -> (f64, f64) {
    (ar * br - ai * bi, ar * bi + ai * br)
}

/// Checks that `w` and `z` are `(channels, modes)` of one shape; returns it.
pub(crate) fn check_modes<T>(
    w: &ArrayView<'_, T>,
    z: &ArrayView<'_, T>,
) -> Result<[usize; 2], ScanError> {
    for (name, x) in [("w", w), ("z", z)] {
        if x.shape().len() != 2 {
            return Err(ScanError::Rank {
                name,
                expected: 2,
                layout: MODES_LAYOUT,
                shape: x.shape().to_vec(),
            });
        }
    }
    if w.shape() != z.shape() {
        return Err(ScanError::ShapeMismatch {
            first: "w",
            second: "z",
            first_shape: w.shape().to_vec(),
            second_shape: z.shape().to_vec(),
        });
    }
    Ok([w.shape()[0], w.shape()[1]])
}

/// `K[h, l] = sum_n w[h, n] * z[h, n]^l` for `l < length`; `w` and `z` are
/// `(channels, modes)`, `K` is `(channels, length)`.
///
/// Computed in float64 and rounded once (see the module notes), in
/// parallel over channels; the result does not depend on the thread count.
/// `|z| > 1` grows like `|z|^l` and may overflow to inf, as the exact
/// result would.
pub fn ssm_kernel<T: KernelElement>(
    w: ArrayView<'_, T>,
    z: ArrayView<'_, T>,
    length: usize,
) -> Result<Array<T>, ScanError> {
    let [channels, _] = check_modes(&w, &z)?;
    let shape = vec![channels, length];
    let count = crate::array::element_count(&shape)
        .map_err(|source| ScanError::Shape { name: "K", source })?;
    // The output is `modes` times smaller than the work, so the zero fill
    // costs little and keeps this safe.
    let mut out = vec![T::ZERO; count];
    ssm_kernel_into(w, z, length, &mut out)?;
    Ok(Array { data: out, shape })
}

/// Like [`ssm_kernel`], writing `K` into `out` (`channels * length` values).
pub fn ssm_kernel_into<T: KernelElement>(
    w: ArrayView<'_, T>,
    z: ArrayView<'_, T>,
    length: usize,
    out: &mut [T],
) -> Result<(), ScanError> {
    let [channels, modes] = check_modes(&w, &z)?;
    ArrayView::new(&*out, &[channels, length]).map_err(|source| ScanError::Shape {
        name: "out",
        source,
    })?;
    if length == 0 {
        return Ok(());
    }
    let (w, z) = (w.data(), z.data());
    let out = SharedOutput::new(out.as_mut_ptr(), out.len());
    parallel::for_each_task(channels, |h| {
        let modes_at = h * modes..(h + 1) * modes;
        // SAFETY: each task writes only its own channel's row.
        let row = unsafe { out.slice(h * length, length) };
        kernel_row(&w[modes_at.clone()], &z[modes_at], row);
    });
    Ok(())
}

/// One channel: `row[l] = sum_n w[n] z[n]^l`.
fn kernel_row<T: KernelElement>(w: &[T], z: &[T], row: &mut [T]) {
    let length = row.len();
    let modes = w.len();
    let block = BLOCK.min(length);
    let z = Split::from_elements(z);
    // powers[n * block + j] = z[n]^j: each mode's powers are contiguous, so
    // the block product below walks them with unit stride.
    let mut powers = Split::zeros(modes * block);
    // u[n] = w[n] z[n]^(kB) for the current block k; step[n] = z[n]^B.
    let mut u = Split::from_elements(w);
    let mut step = Split::zeros(modes);
    for n in 0..modes {
        let zn = z.get(n);
        let mut p = (1.0, 0.0);
        for j in 0..block {
            powers.set(n * block + j, p);
            p = mul(p, zn);
        }
        step.set(n, p);
    }
    let mut acc = Split::zeros(block);
    for out in row.chunks_mut(block) {
        let width = out.len();
        acc.re.fill(0.0);
        acc.im.fill(0.0);
        for n in 0..modes {
            let at = n * block..n * block + width;
            let v = (&powers.re[at.clone()], &powers.im[at]);
            if T::IS_COMPLEX {
                axpy_complex((&mut acc.re, &mut acc.im), v, u.get(n));
            } else {
                axpy_real(&mut acc.re, v.0, u.re[n]);
            }
            u.set(n, mul(u.get(n), step.get(n)));
        }
        for (j, value) in out.iter_mut().enumerate() {
            *value = T::from_parts(acc.re[j], acc.im[j]);
        }
    }
}

/// `acc[i] += v[i] * u` over the leading `v.len()` values of `acc`: the
/// inner loop of both passes. Independent lanes, so it vectorises.
#[inline(always)]
pub(crate) fn axpy_complex(
    (acc_re, acc_im): (&mut [f64], &mut [f64]),
    (v_re, v_im): (&[f64], &[f64]),
    (ur, ui): (f64, f64),
) {
    let lanes = acc_re.iter_mut().zip(acc_im.iter_mut()).zip(v_re).zip(v_im);
    for (((ar, ai), &vr), &vi) in lanes {
        *ar += vr * ur - vi * ui;
        *ai += vr * ui + vi * ur;
    }
}

#[inline(always)]
pub(crate) fn axpy_real(acc: &mut [f64], v: &[f64], u: f64) {
    for (a, &v) in acc.iter_mut().zip(v) {
        *a += v * u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::{Complex32, Complex64};

    /// The definition, with powers from `powi`/`powc` in float64.
    fn naive(
        w: &[Complex64],
        z: &[Complex64],
        [h, n]: [usize; 2],
        length: usize,
    ) -> Vec<Complex64> {
        let mut out = vec![Complex64::new(0.0, 0.0); h * length];
        for c in 0..h {
            for l in 0..length {
                for m in 0..n {
                    out[c * length + l] += w[c * n + m] * z[c * n + m].powu(l as u32);
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u64, radius: f64) -> Vec<Complex64> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        (0..n)
            .map(|_| Complex64::new(next(), next()) * radius)
            .collect()
    }

    #[test]
    fn matches_the_definition_across_block_edges() {
        for (channels, modes, length) in [(1, 1, 1), (3, 5, 63), (2, 4, 64), (2, 3, 200), (1, 7, 2)]
        {
            let shape = [channels, modes];
            let w = values(channels * modes, 1, 1.0);
            let z = values(channels * modes, 2, 0.7);
            let got = ssm_kernel(
                ArrayView::new(&w, &shape).unwrap(),
                ArrayView::new(&z, &shape).unwrap(),
                length,
            )
            .unwrap();
            assert_eq!(got.shape, vec![channels, length]);
            let want = naive(&w, &z, shape, length);
            for (g, w) in got.data.iter().zip(&want) {
                assert!((g - w).norm() < 1e-12, "{g} vs {w}");
            }
        }
    }

    #[test]
    fn real_inputs_match_the_complex_path() {
        let w = [0.5, -1.0, 2.0, 0.25_f64];
        let z = [0.9, -0.5, 0.0, 1.0_f64];
        let shape = [2, 2];
        let real = ssm_kernel(
            ArrayView::new(&w, &shape).unwrap(),
            ArrayView::new(&z, &shape).unwrap(),
            70,
        )
        .unwrap();
        let wc: Vec<Complex64> = w.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        let zc: Vec<Complex64> = z.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        let want = naive(&wc, &zc, shape, 70);
        for (g, w) in real.data.iter().zip(&want) {
            assert!((g - w.re).abs() < 1e-12);
        }
        // z = 0 contributes w at l = 0 only (0^0 = 1).
        assert_eq!(real.data[70], 2.0 + 0.25);
        assert_eq!(real.data[71], 0.25);
    }

    #[test]
    fn float32_stays_accurate_over_long_kernels() {
        // |z| close to 1 with a large phase: f32 repeated multiplication
        // would drift by ~l * 6e-8 relative; the float64 path must not.
        let z = Complex32::from_polar(0.9999, 2.3);
        let w = Complex32::new(1.0, 0.0);
        let length = 100_000;
        let got = ssm_kernel(
            ArrayView::new(&[w], &[1, 1]).unwrap(),
            ArrayView::new(&[z], &[1, 1]).unwrap(),
            length,
        )
        .unwrap();
        let z64 = Complex64::new(f64::from(z.re), f64::from(z.im));
        for l in [0, 1, 999, 50_000, length - 1] {
            let want = z64.powf(l as f64);
            let g = Complex64::new(f64::from(got.data[l].re), f64::from(got.data[l].im));
            assert!(
                (g - want).norm() <= 2e-7 * want.norm(),
                "l = {l}: {g} vs {want}"
            );
        }
    }

    #[test]
    fn empty_and_degenerate_shapes() {
        let x = [1.0_f32; 6];
        let view = ArrayView::new(&x, &[2, 3]).unwrap();
        assert_eq!(ssm_kernel(view, view, 0).unwrap().shape, vec![2, 0]);
        let none: [f32; 0] = [];
        let no_modes = ArrayView::new(&none, &[2, 0]).unwrap();
        let k = ssm_kernel(no_modes, no_modes, 3).unwrap();
        assert_eq!((k.shape, k.data), (vec![2, 3], vec![0.0; 6]));
        let no_channels = ArrayView::new(&none, &[0, 4]).unwrap();
        assert!(ssm_kernel(no_channels, no_channels, 5)
            .unwrap()
            .data
            .is_empty());
    }

    #[test]
    fn shape_errors_name_the_argument() {
        let x = [0.0_f64; 6];
        let err = ssm_kernel(
            ArrayView::new(&x, &[2, 3]).unwrap(),
            ArrayView::new(&x, &[3, 2]).unwrap(),
            4,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "w and z must have the same shape, got (2, 3) and (3, 2)"
        );
        let err = ssm_kernel(
            ArrayView::new(&x, &[2, 3]).unwrap(),
            ArrayView::new(&x, &[6]).unwrap(),
            4,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "z must have 2 dimensions (channels, modes), got shape (6,)"
        );
        let mut out = [0.0_f64; 7];
        let view = ArrayView::new(&x, &[2, 3]).unwrap();
        assert!(matches!(
            ssm_kernel_into(view, view, 4, &mut out),
            Err(ScanError::Shape { name: "out", .. })
        ));
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let shape = [37, 5];
        let w = values(185, 3, 1.0);
        let z = values(185, 4, 0.99);
        let run = || {
            ssm_kernel(
                ArrayView::new(&w, &shape).unwrap(),
                ArrayView::new(&z, &shape).unwrap(),
                300,
            )
            .unwrap()
        };
        let before = run();
        crate::parallel::set_num_threads(3).unwrap();
        assert_eq!(before, run());
    }
}
