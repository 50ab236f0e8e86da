//! One block of GateLoop steps in attention form, forward and backward:
//! the building block of the surrogate-attention mode (one block, the whole
//! sequence) and of the chunked mode (one block per chunk, joined by the
//! state recurrence).
//!
//! For a block of `n` steps entering with the state `S_in` (zero if absent),
//! with `P(s, t) = prod_{r=s+1..t} a_r` and `B_t = prod_{r=0..t} a_r`:
//!
//! ```text
//! y_t   = q_t diag(B_t) S_in + sum_{s<=t} (sum_i q_t[i] k_s[i] P(s,t)[i]) v_s
//! S_out = diag(B_{n-1}) S_in + sum_s diag(P(s,n-1)) k_s^T v_s
//! ```
//!
//! Every product of gates is a running product (for each `t`, walk `s`
//! downwards multiplying by `a_s`): no logarithm, no division, so gates that
//! are exactly 0 are exact and no exponent can overflow.
//!
//! The gradient with respect to a gate `a_r` collects, over every pair
//! `(t, s)` with `s < r <= t`, the pair's weight `M[t][s]` times the product
//! `P(s, t)` with `a_r` left out, `P(s, r-1) P(r, t)`. Instead of dividing by
//! `a_r`, the backward pass walks `r` downwards keeping
//! `X_r(s) = sum_{t>=r} conj(P(r,t)) M[t][s] = M[r][s] + conj(a_{r+1}) X_{r+1}(s)`
//! and sums `ga_r = sum_{s<r} conj(P(s, r-1)) X_r(s)` with a second running
//! product. The state entering the block is the pair partner `s = -1`.

use super::element::ScanElement;

/// One block's rows, each contiguous: step `t` of `q` is
/// `q[t * d_k..(t + 1) * d_k]`, of `v` is `v[t * d_v..(t + 1) * d_v]`.
#[derive(Clone, Copy)]
pub(crate) struct Block<'a, T> {
    pub q: &'a [T],
    pub k: &'a [T],
    pub v: &'a [T],
    pub a: &'a [T],
    pub d_k: usize,
    pub d_v: usize,
}

impl<'a, T> Block<'a, T> {
    /// Steps `start..end` of a longer block.
    pub(crate) fn steps(&self, start: usize, end: usize) -> Block<'a, T> {
        let (dk, dv) = (self.d_k, self.d_v);
        Block {
            q: &self.q[start * dk..end * dk],
            k: &self.k[start * dk..end * dk],
            v: &self.v[start * dv..end * dv],
            a: &self.a[start * dk..end * dk],
            d_k: dk,
            d_v: dv,
        }
    }

    fn len(&self) -> usize {
        self.v.len() / self.d_v
    }
}

/// Gradient rows of one block (same layout as [`Block`]), added to.
pub(crate) struct BlockGrads<'a, T> {
    pub q: &'a mut [T],
    pub k: &'a mut [T],
    pub v: &'a mut [T],
    pub a: &'a mut [T],
}

#[inline(always)]
fn row<T>(x: &[T], t: usize, width: usize) -> &[T] {
    &x[t * width..(t + 1) * width]
}

#[inline(always)]
fn row_mut<T>(x: &mut [T], t: usize, width: usize) -> &mut [T] {
    &mut x[t * width..(t + 1) * width]
}

/// Independent partial sums of a dot product: enough to hide the latency
/// of an addition and to fill a vector register; combined in a fixed order.
const LANES: usize = 8;

/// `sum_j x[j] f(y[j])` with `LANES` partial sums.
#[inline(always)]
fn dot_with<T: ScanElement>(x: &[T], y: &[T], f: impl Fn(T) -> T) -> T {
    let mut lanes = [T::ZERO; LANES];
    let (x_blocks, y_blocks) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_rest, y_rest) = (x_blocks.remainder(), y_blocks.remainder());
    for (xb, yb) in x_blocks.zip(y_blocks) {
        for l in 0..LANES {
            lanes[l] = lanes[l] + xb[l] * f(yb[l]);
        }
    }
    for (l, (&a, &b)) in x_rest.iter().zip(y_rest).enumerate() {
        lanes[l] = lanes[l] + a * f(b);
    }
    let [a, b, c, d, e, f, g, h] = lanes;
    ((a + b) + (c + d)) + ((e + f) + (g + h))
}

/// `sum_j x[j] y[j]`
#[inline(always)]
fn dot<T: ScanElement>(x: &[T], y: &[T]) -> T {
    dot_with(x, y, |y| y)
}

/// `sum_j x[j] conj(y[j])`
#[inline(always)]
fn dot_conj<T: ScanElement>(x: &[T], y: &[T]) -> T {
    dot_with(x, y, T::conj)
}

/// `y += c x`
#[inline(always)]
fn axpy<T: ScanElement>(y: &mut [T], c: T, x: &[T]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = *y + c * x);
}

/// `x *= a`, elementwise
#[inline(always)]
fn scale<T: ScanElement>(x: &mut [T], a: &[T]) {
    x.iter_mut().zip(a).for_each(|(x, &a)| *x = *x * a);
}

/// `B_t = prod_{r=0..t} a_r` for every step of the block (`n * d_k`).
fn decays<T: ScanElement>(x: &Block<'_, T>) -> Vec<T> {
    let mut out = x.a.to_vec();
    for t in 1..x.len() {
        let (before, now) = out.split_at_mut(t * x.d_k);
        let previous = &before[(t - 1) * x.d_k..];
        scale(&mut now[..x.d_k], previous);
    }
    out
}

/// Writes `y` (`n * d_v`) of the block; `state` is `S_in` (`d_k * d_v`,
/// row-major), `None` for zero.
#[inline(always)]
pub(crate) fn block_forward<T: ScanElement>(x: Block<'_, T>, state: Option<&[T]>, y: &mut [T]) {
    let Block {
        q,
        k,
        v,
        a,
        d_k,
        d_v,
    } = x;
    let decay = state.map(|_| decays(&x));
    // q_t * P(s, t), updated as s walks down.
    let mut query = vec![T::ZERO; d_k];
    for t in 0..x.len() {
        let y_t = row_mut(y, t, d_v);
        y_t.iter_mut().for_each(|y| *y = T::ZERO);
        let q_t = row(q, t, d_k);
        if let (Some(state), Some(decay)) = (state, &decay) {
            let decay_t = row(decay, t, d_k);
            for (i, state_row) in state.chunks_exact(d_v).enumerate() {
                axpy(y_t, q_t[i] * decay_t[i], state_row);
            }
        }
        query.copy_from_slice(q_t);
        for s in (0..=t).rev() {
            let score = dot(&query, row(k, s, d_k));
            axpy(y_t, score, row(v, s, d_v));
            if s > 0 {
                scale(&mut query, row(a, s, d_k));
            }
        }
    }
}

/// The state entering a block and the buffer its gradient is written to
/// (both `d_k * d_v`).
pub(crate) struct StateIn<'a, T> {
    pub state: &'a [T],
    pub grad: &'a mut [T],
}

/// Adds the block's gradients to `grads`, given `grad_y` (`n * d_v`) and
/// `grad_end`, the gradient with respect to `S_out` (`None` for zero).
/// Writes the gradient with respect to `S_in` into `state_in.grad`.
#[inline(always)]
pub(crate) fn block_backward<T: ScanElement>(
    x: Block<'_, T>,
    grad_y: &[T],
    state_in: Option<StateIn<'_, T>>,
    grad_end: Option<&[T]>,
    grads: BlockGrads<'_, T>,
) {
    let Block {
        q,
        k,
        v,
        a,
        d_k,
        d_v,
    } = x;
    let n = x.len();
    let BlockGrads {
        q: gq,
        k: gk,
        v: gv,
        a: ga,
    } = grads;
    // Pair weights with partner s = -1 (the entering state), per step t.
    let mut from_state: Option<Vec<T>> = None;
    if let Some(StateIn { state, grad }) = state_in {
        let decay = decays(&x);
        let mut weights = vec![T::ZERO; n * d_k];
        grad.iter_mut().for_each(|g| *g = T::ZERO);
        for t in 0..n {
            let (q_t, gy_t, decay_t) = (row(q, t, d_k), row(grad_y, t, d_v), row(&decay, t, d_k));
            let (gq_t, w_t) = (row_mut(gq, t, d_k), row_mut(&mut weights, t, d_k));
            for (i, state_row) in state.chunks_exact(d_v).enumerate() {
                // u = dL/d(q_t diag(B_t))[i]
                let u = dot_conj(gy_t, state_row);
                gq_t[i] = gq_t[i] + u * decay_t[i].conj();
                w_t[i] = u * q_t[i].conj();
                axpy(row_mut(grad, i, d_v), (q_t[i] * decay_t[i]).conj(), gy_t);
            }
        }
        if let Some(grad_end) = grad_end {
            let (decay_end, w_end) = (row(&decay, n - 1, d_k), row_mut(&mut weights, n - 1, d_k));
            for i in 0..d_k {
                let (g_row, s_row) = (row(grad_end, i, d_v), row(state, i, d_v));
                w_end[i] = w_end[i] + dot_conj(g_row, s_row);
                axpy(row_mut(grad, i, d_v), decay_end[i].conj(), g_row);
            }
        }
        from_state = Some(weights);
    }
    // Pair weights of (n - 1, s) from the state leaving the block.
    let mut to_end: Option<Vec<T>> = None;
    if let Some(grad_end) = grad_end {
        let mut weights = vec![T::ZERO; n * d_k];
        let mut product = vec![T::UNIT; d_k]; // P(s, n - 1)
        for s in (0..n).rev() {
            let (k_s, v_s) = (row(k, s, d_k), row(v, s, d_v));
            let (gk_s, w_s) = (row_mut(gk, s, d_k), row_mut(&mut weights, s, d_k));
            let gv_s = row_mut(gv, s, d_v);
            for i in 0..d_k {
                let g_row = row(grad_end, i, d_v);
                let g_v = dot_conj(g_row, v_s);
                gk_s[i] = gk_s[i] + product[i].conj() * g_v;
                w_s[i] = k_s[i].conj() * g_v;
                axpy(gv_s, (k_s[i] * product[i]).conj(), g_row);
            }
            scale(&mut product, row(a, s, d_k));
        }
        to_end = Some(weights);
    }
    // X_r(s) for s = -1..n-1 at index s + 1.
    let mut carry = vec![T::ZERO; (n + 1) * d_k];
    // Separate local vectors on purpose: the compiler then knows they alias
    // nothing and vectorises the loops over i below. (Rows of one shared
    // buffer, as in a version tiled for cache, ran 3-4x slower.)
    let mut product = vec![T::ZERO; d_k]; // P(s, r)
    let mut query = vec![T::ZERO; d_k]; // q_r * P(s, r)
    let mut without = vec![T::ZERO; d_k]; // P(s, r - 1)
    let mut gq_r = vec![T::ZERO; d_k];
    let mut ga_r = vec![T::ZERO; d_k];
    for r in (0..n).rev() {
        let last = r + 1 == n;
        let (q_r, gy_r) = (row(q, r, d_k), row(grad_y, r, d_v));
        let next_gate = if last { None } else { Some(row(a, r + 1, d_k)) };
        product.iter_mut().for_each(|p| *p = T::UNIT);
        without.iter_mut().for_each(|p| *p = T::UNIT);
        query.copy_from_slice(q_r);
        gq_r.copy_from_slice(row(gq, r, d_k));
        ga_r.iter_mut().for_each(|g| *g = T::ZERO);
        for s in (0..=r).rev() {
            let (k_s, v_s) = (row(k, s, d_k), row(v, s, d_v));
            let weight = dot_conj(gy_r, v_s); // dL/dscore(r, s)
            let score = dot(&query, k_s);
            axpy(row_mut(gv, s, d_v), score.conj(), gy_r);
            let gk_s = row_mut(gk, s, d_k);
            for i in 0..d_k {
                gq_r[i] = gq_r[i] + weight * (k_s[i] * product[i]).conj();
                gk_s[i] = gk_s[i] + weight * query[i].conj();
            }
            if s < r {
                let x_s = row_mut(&mut carry, s + 1, d_k);
                let end = to_end.as_ref().filter(|_| last).map(|w| row(w, s, d_k));
                for i in 0..d_k {
                    let mut m = weight * (q_r[i] * k_s[i]).conj();
                    if let Some(end) = end {
                        m = m + end[i];
                    }
                    x_s[i] = match next_gate {
                        Some(gate) => gate[i].conj() * x_s[i] + m,
                        None => m,
                    };
                    ga_r[i] = ga_r[i] + x_s[i] * without[i].conj();
                }
                scale(&mut without, row(a, s, d_k));
            }
            if s > 0 {
                let gate = row(a, s, d_k);
                scale(&mut product, gate);
                scale(&mut query, gate);
            }
        }
        if let Some(weights) = &from_state {
            // Partner s = -1: `without` is now P(-1, r - 1) = B_{r-1}.
            let (w_r, x_s) = (row(weights, r, d_k), row_mut(&mut carry, 0, d_k));
            for i in 0..d_k {
                x_s[i] = match next_gate {
                    Some(gate) => gate[i].conj() * x_s[i] + w_r[i],
                    None => w_r[i],
                };
                ga_r[i] = ga_r[i] + x_s[i] * without[i].conj();
            }
        }
        row_mut(gq, r, d_k).copy_from_slice(&gq_r);
        let ga_row = row_mut(ga, r, d_k);
        ga_row.iter_mut().zip(&ga_r).for_each(|(g, &d)| *g = *g + d);
    }
}
