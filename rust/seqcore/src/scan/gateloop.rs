//! GateLoop (Katsch 2023): a linear recurrence with a matrix-valued state,
//! forward pass.
//!
//! For every batch element and head, with `S_{-1} = 0`:
//!
//! ```text
//! S_t = diag(a_t) S_{t-1} + k_t^T v_t        (d_k x d_v)
//! y_t = q_t S_t                               (d_v)
//! ```
//!
//! Layout is `(batch, length, heads, d_k)` for `q`, `k` and `a` and
//! `(batch, length, heads, d_v)` for `v` and `y`. Complex inputs use plain
//! (non-conjugated) products, as in the paper.
//!
//! The scan walks time sequentially with the `d_k x d_v` state of one
//! (batch, head) in L1 (32 x 32 complex64 is 8 KiB), parallel over
//! (batch, head). No cumulative product of gates is formed, so any length
//! is safe. Each output element is computed by the same operations in the
//! same order whatever the thread count.

use super::element::ScanElement;
use super::error::ScanError;
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

pub(crate) const KEY_LAYOUT: &str = "(batch, length, heads, d_k)";
pub(crate) const VALUE_LAYOUT: &str = "(batch, length, heads, d_v)";

/// Inputs of [`gateloop`]: queries, keys, values and gates.
#[derive(Debug, Clone, Copy)]
pub struct GateLoopInputs<'a, T> {
    /// `(batch, length, heads, d_k)`
    pub q: ArrayView<'a, T>,
    /// `(batch, length, heads, d_k)`
    pub k: ArrayView<'a, T>,
    /// `(batch, length, heads, d_v)`
    pub v: ArrayView<'a, T>,
    /// `(batch, length, heads, d_k)`: the state's row `i` is multiplied by
    /// `a_t[i]` at step `t`.
    pub a: ArrayView<'a, T>,
}

/// Sizes of a validated call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateLoopDims {
    pub batch: usize,
    pub length: usize,
    pub heads: usize,
    pub d_k: usize,
    pub d_v: usize,
}

impl GateLoopDims {
    /// One task per (batch, head).
    pub(crate) fn tasks(&self) -> usize {
        self.batch * self.heads
    }

    /// Offsets of step `t` of task `task` in a key row (`d_k` wide) and in
    /// a value row (`d_v` wide).
    #[inline]
    pub(crate) fn offsets(&self, task: usize, t: usize) -> (usize, usize) {
        let (b, h) = (task / self.heads, task % self.heads);
        let row = (b * self.length + t) * self.heads + h;
        (row * self.d_k, row * self.d_v)
    }

    pub(crate) fn value_shape(&self) -> Vec<usize> {
        vec![self.batch, self.length, self.heads, self.d_v]
    }
}

fn four_dims<T>(
    name: &'static str,
    layout: &'static str,
    x: &ArrayView<'_, T>,
) -> Result<[usize; 4], ScanError> {
    match *x.shape() {
        [b, l, h, d] => Ok([b, l, h, d]),
        _ => Err(ScanError::Rank {
            name,
            expected: 4,
            layout,
            shape: x.shape().to_vec(),
        }),
    }
}

/// Checks every shape; the error names the offending argument.
pub(crate) fn validate<T>(inputs: &GateLoopInputs<'_, T>) -> Result<GateLoopDims, ScanError> {
    let [batch, length, heads, d_k] = four_dims("q", KEY_LAYOUT, &inputs.q)?;
    for (name, x) in [("k", &inputs.k), ("a", &inputs.a)] {
        four_dims(name, KEY_LAYOUT, x)?;
        if x.shape() != inputs.q.shape() {
            return Err(ScanError::ShapeMismatch {
                first: "q",
                second: name,
                first_shape: inputs.q.shape().to_vec(),
                second_shape: x.shape().to_vec(),
            });
        }
    }
    let [vb, vl, vh, d_v] = four_dims("v", VALUE_LAYOUT, &inputs.v)?;
    if [vb, vl, vh] != [batch, length, heads] {
        return Err(ScanError::StateShape {
            name: "v",
            layout: VALUE_LAYOUT,
            expected: vec![batch, length, heads, d_v],
            got: inputs.v.shape().to_vec(),
        });
    }
    Ok(GateLoopDims {
        batch,
        length,
        heads,
        d_k,
        d_v,
    })
}

/// Computes `y` (shape `(batch, length, heads, d_v)`) of the GateLoop
/// recurrence; see the module documentation.
pub fn gateloop<T: ScanElement>(inputs: GateLoopInputs<'_, T>) -> Result<Array<T>, ScanError> {
    let dims = validate(&inputs)?;
    let shape = dims.value_shape();
    let mut out = vec![T::ZERO; inputs.v.data().len()];
    forward_unchecked(&inputs, dims, &mut out);
    Ok(Array { data: out, shape })
}

/// Like [`gateloop`], writing `y` into `out` (the shape of `v`).
pub fn gateloop_into<T: ScanElement>(
    inputs: GateLoopInputs<'_, T>,
    out: &mut [T],
) -> Result<(), ScanError> {
    let dims = validate(&inputs)?;
    let shape = dims.value_shape();
    ArrayView::new(&*out, &shape).map_err(|source| ScanError::Shape {
        name: "out",
        source,
    })?;
    forward_unchecked(&inputs, dims, out);
    Ok(())
}

fn forward_unchecked<T: ScanElement>(
    inputs: &GateLoopInputs<'_, T>,
    dims: GateLoopDims,
    out: &mut [T],
) {
    let (q, k, v, a) = (
        inputs.q.data(),
        inputs.k.data(),
        inputs.v.data(),
        inputs.a.data(),
    );
    if dims.d_v == 0 {
        return; // y is empty (and a state row of width 0 cannot be chunked)
    }
    let out = SharedOutput::new(out.as_mut_ptr(), out.len());
    let inputs = Step { q, k, v, a };
    parallel::for_each_task(dims.tasks(), |task| run_task(inputs, dims, &out, task));
}

/// Scans one (batch, head), on AVX2 and FMA where the processor has them.
fn run_task<T: ScanElement>(
    inputs: Step<'_, T>,
    dims: GateLoopDims,
    out: &SharedOutput<T>,
    task: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports the features just detected.
            unsafe { run_task_avx2(inputs, dims, out, task) };
            return;
        }
    }
    run_task_body(inputs, dims, out, task);
}

/// The same code compiled for AVX2 (see `selective::run_channel_avx2`):
/// wider vectors, and the same bits, since no multiply-add is fused.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_task_avx2<T: ScanElement>(
    inputs: Step<'_, T>,
    dims: GateLoopDims,
    out: &SharedOutput<T>,
    task: usize,
) {
    run_task_body(inputs, dims, out, task);
}

/// `inputs` holds the whole arrays here; each step takes its rows.
#[inline(always)]
fn run_task_body<T: ScanElement>(
    inputs: Step<'_, T>,
    dims: GateLoopDims,
    out: &SharedOutput<T>,
    task: usize,
) {
    let Step { q, k, v, a } = inputs;
    let GateLoopDims { d_k, d_v, .. } = dims;
    let mut state = vec![T::ZERO; d_k * d_v];
    for t in 0..dims.length {
        let (key, value) = dims.offsets(task, t);
        // SAFETY: row (batch, t, head) of y belongs to this task alone and
        // lies inside the buffer (validated shapes).
        let y = unsafe { out.slice(value, d_v) };
        step(
            &mut state,
            Step {
                q: &q[key..key + d_k],
                k: &k[key..key + d_k],
                v: &v[value..value + d_v],
                a: &a[key..key + d_k],
            },
            y,
        );
    }
}

/// One time step's slices of q, k, v and a.
#[derive(Clone, Copy)]
pub(crate) struct Step<'a, T> {
    pub q: &'a [T],
    pub k: &'a [T],
    pub v: &'a [T],
    pub a: &'a [T],
}

/// `S = diag(a) S + k^T v`, then `y = q S`. The inner loops run along a
/// state row (`d_v` contiguous values) and vectorise.
#[inline(always)]
pub(crate) fn step<T: ScanElement>(state: &mut [T], x: Step<'_, T>, y: &mut [T]) {
    y.iter_mut().for_each(|y| *y = T::ZERO);
    let d_v = x.v.len();
    for (i, row) in state.chunks_exact_mut(d_v).enumerate() {
        let (gate, key, query) = (x.a[i], x.k[i], x.q[i]);
        for ((s, &v), y) in row.iter_mut().zip(x.v).zip(y.iter_mut()) {
            *s = gate * *s + key * v;
            *y = *y + query * *s;
        }
    }
}

/// Advances the state only (no output), for recomputation in the backward pass.
#[inline(always)]
pub(crate) fn advance<T: ScanElement>(state: &mut [T], k: &[T], v: &[T], a: &[T]) {
    let d_v = v.len();
    for (i, row) in state.chunks_exact_mut(d_v).enumerate() {
        let (gate, key) = (a[i], k[i]);
        for (s, &v) in row.iter_mut().zip(v) {
            *s = gate * *s + key * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex64;

    /// The recurrence written out with explicit indices, in complex128.
    fn naive(
        q: &[Complex64],
        k: &[Complex64],
        v: &[Complex64],
        a: &[Complex64],
        [b, l, h, dk, dv]: [usize; 5],
    ) -> Vec<Complex64> {
        let zero = Complex64::new(0.0, 0.0);
        let mut y = vec![zero; b * l * h * dv];
        for bi in 0..b {
            for hi in 0..h {
                let mut s = vec![vec![zero; dv]; dk];
                for t in 0..l {
                    let row = (bi * l + t) * h + hi;
                    for i in 0..dk {
                        for j in 0..dv {
                            s[i][j] = a[row * dk + i] * s[i][j] + k[row * dk + i] * v[row * dv + j];
                        }
                    }
                    for j in 0..dv {
                        for i in 0..dk {
                            y[row * dv + j] += q[row * dk + i] * s[i][j];
                        }
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u64) -> Vec<Complex64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..n).map(|_| Complex64::new(next(), next())).collect()
    }

    #[test]
    fn matches_naive_loop() {
        let dims = [2, 7, 3, 4, 5];
        let [b, l, h, dk, dv] = dims;
        let key_shape = [b, l, h, dk];
        let value_shape = [b, l, h, dv];
        let q = values(b * l * h * dk, 1);
        let k = values(b * l * h * dk, 2);
        let v = values(b * l * h * dv, 3);
        let a = values(b * l * h * dk, 4);
        let got = gateloop(GateLoopInputs {
            q: ArrayView::new(&q, &key_shape).unwrap(),
            k: ArrayView::new(&k, &key_shape).unwrap(),
            v: ArrayView::new(&v, &value_shape).unwrap(),
            a: ArrayView::new(&a, &key_shape).unwrap(),
        })
        .unwrap();
        assert_eq!(got.shape, value_shape.to_vec());
        let want = naive(&q, &k, &v, &a, dims);
        for (g, w) in got.data.iter().zip(&want) {
            assert!((g - w).norm() < 1e-12, "{g} vs {w}");
        }
    }

    #[test]
    fn shape_errors_name_the_argument() {
        let x = [0.0_f32; 24];
        let view = |shape| ArrayView::new(&x[..24], shape).unwrap();
        let call = |q: &'static [usize], k: &'static [usize], v: &'static [usize], a| {
            gateloop(GateLoopInputs {
                q: view(q),
                k: view(k),
                v: view(v),
                a: view(a),
            })
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            call(&[1, 2, 3, 4], &[1, 2, 4, 3], &[1, 2, 3, 4], &[1, 2, 3, 4]),
            "q and k must have the same shape, got (1, 2, 3, 4) and (1, 2, 4, 3)"
        );
        assert_eq!(
            call(&[1, 2, 3, 4], &[1, 2, 3, 4], &[1, 2, 3, 4], &[2, 2, 3, 2]),
            "q and a must have the same shape, got (1, 2, 3, 4) and (2, 2, 3, 2)"
        );
        assert_eq!(
            call(&[1, 2, 3, 4], &[1, 2, 3, 4], &[2, 3, 4, 1], &[1, 2, 3, 4]),
            "v must have shape (batch, length, heads, d_v) = (1, 2, 3, 1), got (2, 3, 4, 1)"
        );
        assert_eq!(
            call(&[6, 4], &[6, 4], &[6, 4], &[6, 4]),
            "q must have 4 dimensions (batch, length, heads, d_k), got shape (6, 4)"
        );
    }

    #[test]
    fn empty_shapes_give_empty_results() {
        let none: [f64; 0] = [];
        for shape in [[0, 3, 2, 2], [2, 0, 2, 2], [2, 3, 0, 2], [2, 3, 2, 0]] {
            let view = ArrayView::new(&none, &shape).unwrap();
            let y = gateloop(GateLoopInputs {
                q: view,
                k: view,
                v: view,
                a: view,
            })
            .unwrap();
            assert_eq!(y.shape, shape.to_vec());
        }
    }
}
