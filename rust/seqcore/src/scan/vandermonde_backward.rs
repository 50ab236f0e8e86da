//! Gradients of the Vandermonde kernel `K[h, l] = sum_n W[h, n] Z[h, n]^l`.
//!
//! With `G = dL/dK` and PyTorch's conjugate convention (the gradient of
//! `a * b` for `b` is `conj(a) * grad`), per channel:
//!
//! ```text
//! dL/dW[n] = sum_l G[l] * conj(Z[n])^l
//! dL/dZ[n] = sum_l G[l] * conj(W[n] * l * Z[n]^(l-1))
//!          = conj(W[n]) * sum_m G'[m] * conj(Z[n])^m,    G'[m] = (m + 1) G[m + 1]
//! ```
//!
//! Both are the transposed product `r[n] = sum_l g[l] c[n]^l` with
//! `c = conj(Z)`, once with `G` and once with the shifted, weighted `G'`
//! (which does not depend on `n`, so it costs one pass over the row). The
//! shift also avoids `Z^(l-1)` at `l = 0`, which is undefined for `Z = 0`.
//!
//! The transposed product uses the blocks of the forward pass:
//! `r[n] = sum_k c[n]^(kB) * sum_j g[kB + j] c[n]^j`, where the inner sum is,
//! for each `j`, a multiply-add across modes (vectorised), and `c^(kB)` is
//! carried from block to block by one multiplication. Everything runs in
//! float64, as in the forward pass.

use super::error::ScanError;
use super::vandermonde::{axpy_complex, axpy_real, check_modes, mul, KernelElement, Split, BLOCK};
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// Gradients of a loss with respect to the inputs of [`super::ssm_kernel`].
#[derive(Debug, Clone, PartialEq)]
pub struct SsmKernelGrads<T> {
    /// `(channels, modes)`
    pub grad_w: Array<T>,
    /// `(channels, modes)`
    pub grad_z: Array<T>,
}

/// Mutable output buffers for [`ssm_kernel_backward_into`].
pub struct SsmKernelGradsMut<'a, T> {
    /// `(channels, modes)`
    pub grad_w: &'a mut [T],
    /// `(channels, modes)`
    pub grad_z: &'a mut [T],
}

/// Backward pass of [`super::ssm_kernel`]: takes `w` and `z` as given to
/// the forward call and `grad_k`, the gradient of the loss with respect to
/// `K`, shape `(channels, length)` (the length is read from it).
pub fn ssm_kernel_backward<T: KernelElement>(
    w: ArrayView<'_, T>,
    z: ArrayView<'_, T>,
    grad_k: ArrayView<'_, T>,
) -> Result<SsmKernelGrads<T>, ScanError> {
    let shape = check_modes(&w, &z)?.to_vec();
    let n = w.data().len();
    let (mut grad_w, mut grad_z) = (vec![T::ZERO; n], vec![T::ZERO; n]);
    let out = SsmKernelGradsMut {
        grad_w: &mut grad_w,
        grad_z: &mut grad_z,
    };
    ssm_kernel_backward_into(w, z, grad_k, out)?;
    Ok(SsmKernelGrads {
        grad_w: Array {
            data: grad_w,
            shape: shape.clone(),
        },
        grad_z: Array {
            data: grad_z,
            shape,
        },
    })
}

/// Like [`ssm_kernel_backward`], writing into caller-owned buffers.
pub fn ssm_kernel_backward_into<T: KernelElement>(
    w: ArrayView<'_, T>,
    z: ArrayView<'_, T>,
    grad_k: ArrayView<'_, T>,
    out: SsmKernelGradsMut<'_, T>,
) -> Result<(), ScanError> {
    let [channels, modes] = check_modes(&w, &z)?;
    let length = check_grad_k(&grad_k, channels)?;
    for (name, buffer) in [("grad_w", &*out.grad_w), ("grad_z", &*out.grad_z)] {
        ArrayView::new(buffer, w.shape()).map_err(|source| ScanError::Shape { name, source })?;
    }
    let (w, z, grad_k) = (w.data(), z.data(), grad_k.data());
    let grad_w = SharedOutput::new(out.grad_w.as_mut_ptr(), out.grad_w.len());
    let grad_z = SharedOutput::new(out.grad_z.as_mut_ptr(), out.grad_z.len());
    parallel::for_each_task(channels, |h| {
        let at = h * modes;
        // SAFETY: each task writes only its own channel's rows.
        let (gw, gz) = unsafe { (grad_w.slice(at, modes), grad_z.slice(at, modes)) };
        backward_row(
            &w[at..at + modes],
            &z[at..at + modes],
            &grad_k[h * length..(h + 1) * length],
            gw,
            gz,
        );
    });
    Ok(())
}

/// Checks that `grad_k` is `(channels, length)`; returns the length.
fn check_grad_k<T>(grad_k: &ArrayView<'_, T>, channels: usize) -> Result<usize, ScanError> {
    let layout = "(channels, length)";
    match *grad_k.shape() {
        [c, length] if c == channels => Ok(length),
        [_, length] => Err(ScanError::StateShape {
            name: "grad_k",
            layout,
            expected: vec![channels, length],
            got: grad_k.shape().to_vec(),
        }),
        _ => Err(ScanError::Rank {
            name: "grad_k",
            expected: 2,
            layout,
            shape: grad_k.shape().to_vec(),
        }),
    }
}

/// One channel: fills `grad_w` and `grad_z` (each `modes` long).
fn backward_row<T: KernelElement>(
    w: &[T],
    z: &[T],
    grad_k: &[T],
    grad_w: &mut [T],
    grad_z: &mut [T],
) {
    let modes = w.len();
    let length = grad_k.len();
    // The two weight sequences: g = G and g' (m) = (m + 1) G[m + 1].
    let g = Split::from_elements(grad_k);
    let mut g_shifted = Split::zeros(length);
    for m in 0..length.saturating_sub(1) {
        let scale = (m + 1) as f64;
        g_shifted.set(m, (scale * g.re[m + 1], scale * g.im[m + 1]));
    }
    let block = BLOCK.min(length).max(1);
    let conj_z: Vec<(f64, f64)> = z
        .iter()
        .map(|z| {
            let (re, im) = z.to_parts();
            (re, -im)
        })
        .collect();
    // powers[j * modes + n] = conj(z[n])^j: here the product runs across
    // modes for a fixed j, so each row j is contiguous.
    let mut powers = Split::zeros(block * modes);
    let mut step = Split::zeros(modes);
    for (n, &c) in conj_z.iter().enumerate() {
        let mut p = (1.0, 0.0);
        for j in 0..block {
            powers.set(j * modes + n, p);
            p = mul(p, c);
        }
        step.set(n, p);
    }
    // carry[n] = conj(z[n])^(kB) for the current block k.
    let mut carry = Split {
        re: vec![1.0; modes],
        im: vec![0.0; modes],
    };
    let (mut sum_w, mut sum_z) = (Split::zeros(modes), Split::zeros(modes));
    let (mut block_w, mut block_z) = (Split::zeros(modes), Split::zeros(modes));
    for start in (0..length).step_by(block) {
        let width = block.min(length - start);
        for b in [&mut block_w, &mut block_z] {
            b.re.fill(0.0);
            b.im.fill(0.0);
        }
        for j in 0..width {
            let row = j * modes..(j + 1) * modes;
            let v = (&powers.re[row.clone()], &powers.im[row]);
            if T::IS_COMPLEX {
                axpy_complex((&mut block_w.re, &mut block_w.im), v, g.get(start + j));
                axpy_complex(
                    (&mut block_z.re, &mut block_z.im),
                    v,
                    g_shifted.get(start + j),
                );
            } else {
                axpy_real(&mut block_w.re, v.0, g.re[start + j]);
                axpy_real(&mut block_z.re, v.0, g_shifted.re[start + j]);
            }
        }
        for n in 0..modes {
            let c = carry.get(n);
            let (bw, bz) = (mul(c, block_w.get(n)), mul(c, block_z.get(n)));
            sum_w.set(n, (sum_w.re[n] + bw.0, sum_w.im[n] + bw.1));
            sum_z.set(n, (sum_z.re[n] + bz.0, sum_z.im[n] + bz.1));
            carry.set(n, mul(c, step.get(n)));
        }
    }
    for n in 0..modes {
        let (wr, wi) = w[n].to_parts();
        let (gzr, gzi) = mul((wr, -wi), sum_z.get(n));
        grad_w[n] = T::from_parts(sum_w.re[n], sum_w.im[n]);
        grad_z[n] = T::from_parts(gzr, gzi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::ssm_kernel;
    use num_complex::Complex64;
    use proptest::prelude::*;

    fn values(n: usize, seed: u64, radius: f64) -> Vec<Complex64> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
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

    /// Loss L = sum(Re(conj(G) * K)), whose gradient with respect to K is G.
    fn loss(w: &[Complex64], z: &[Complex64], g: &[Complex64], shape: [usize; 2]) -> f64 {
        let length = g.len() / shape[0];
        let k = ssm_kernel(
            ArrayView::new(w, &shape).unwrap(),
            ArrayView::new(z, &shape).unwrap(),
            length,
        )
        .unwrap();
        k.data.iter().zip(g).map(|(k, g)| (g.conj() * k).re).sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        /// Central finite differences; with PyTorch's convention the
        /// gradient for a complex x is dL/dRe(x) + i dL/dIm(x).
        #[test]
        fn gradients_match_finite_differences(
            channels in 1usize..3,
            modes in 1usize..4,
            length in prop_oneof![1usize..8, 60usize..140],
            seed: u64,
        ) {
            let shape = [channels, modes];
            let w = values(channels * modes, seed, 1.0);
            let z = values(channels * modes, seed ^ 1, 0.7);
            let g = values(channels * length, seed ^ 2, 1.0);
            let grads = ssm_kernel_backward(
                ArrayView::new(&w, &shape).unwrap(),
                ArrayView::new(&z, &shape).unwrap(),
                ArrayView::new(&g, &[channels, length]).unwrap(),
            )
            .unwrap();
            let eps = 1e-6;
            let check = |which: usize, analytic: &[Complex64]| {
                for i in 0..analytic.len() {
                    let mut numeric = Complex64::new(0.0, 0.0);
                    for (dir, unit) in [(0, Complex64::new(eps, 0.0)), (1, Complex64::new(0.0, eps))] {
                        let mut args = [w.clone(), z.clone()];
                        args[which][i] += unit;
                        let up = loss(&args[0], &args[1], &g, shape);
                        args[which][i] -= unit * 2.0;
                        let down = loss(&args[0], &args[1], &g, shape);
                        let d = (up - down) / (2.0 * eps);
                        if dir == 0 { numeric.re = d } else { numeric.im = d }
                    }
                    let scale = 1.0 + analytic[i].norm();
                    assert!(
                        (numeric - analytic[i]).norm() < 1e-6 * scale,
                        "arg {which} index {i}: {numeric} vs {}", analytic[i]
                    );
                }
            };
            check(0, &grads.grad_w.data);
            check(1, &grads.grad_z.data);
        }
    }

    #[test]
    fn real_gradients_match_finite_differences() {
        let shape = [2, 3];
        let w = [0.3, -1.2, 0.8, 1.5, 0.1, -0.4_f64];
        let z = [0.9, -0.5, 0.0, 0.99, 0.2, -0.95_f64];
        let length = 150;
        let g: Vec<f64> = (0..2 * length)
            .map(|i| ((i * 7 % 13) as f64) / 13.0 - 0.4)
            .collect();
        let loss = |w: &[f64], z: &[f64]| -> f64 {
            let k = ssm_kernel(
                ArrayView::new(w, &shape).unwrap(),
                ArrayView::new(z, &shape).unwrap(),
                length,
            )
            .unwrap();
            k.data.iter().zip(&g).map(|(k, g)| k * g).sum()
        };
        let grads = ssm_kernel_backward(
            ArrayView::new(&w, &shape).unwrap(),
            ArrayView::new(&z, &shape).unwrap(),
            ArrayView::new(&g, &[2, length]).unwrap(),
        )
        .unwrap();
        let eps = 1e-6;
        for i in 0..6 {
            for (which, analytic) in [(0, &grads.grad_w.data), (1, &grads.grad_z.data)] {
                let mut args = [w, z];
                args[which][i] += eps;
                let up = loss(&args[0], &args[1]);
                args[which][i] -= 2.0 * eps;
                let down = loss(&args[0], &args[1]);
                let numeric = (up - down) / (2.0 * eps);
                let tolerance = 1e-6 * (1.0 + numeric.abs());
                assert!((numeric - analytic[i]).abs() < tolerance, "{which} {i}");
            }
        }
        // At z = 0 (channel 0, mode 2) only l = 1 reaches z: dL/dz = w * G[1].
        assert!((grads.grad_z.data[2] - w[2] * g[1]).abs() < 1e-15);
    }

    #[test]
    fn grad_k_shape_is_checked() {
        let x = [0.0_f64; 6];
        let view = ArrayView::new(&x, &[2, 3]).unwrap();
        let err =
            ssm_kernel_backward(view, view, ArrayView::new(&x, &[3, 2]).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "grad_k must have shape (channels, length) = (2, 2), got (3, 2)"
        );
        let err = ssm_kernel_backward(view, view, ArrayView::new(&x, &[6]).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "grad_k must have 2 dimensions (channels, length), got shape (6,)"
        );
        // Length 0: no terms, zero gradients.
        let empty: [f64; 0] = [];
        let grads = ssm_kernel_backward(view, view, ArrayView::new(&empty, &[2, 0]).unwrap());
        assert_eq!(grads.unwrap().grad_w.data, vec![0.0; 6]);
    }
}
