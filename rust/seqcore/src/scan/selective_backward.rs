//! Gradients of the selective scan by a reverse scan with recomputation.
//!
//! For each channel the forward recurrence is run again, keeping its
//! states and decays in a per-thread scratch buffer (`2 * length * N`
//! values, reused from channel to channel), and then walked backwards:
//!
//! ```text
//! g_x_t[n]  = g_y_t C_t[n] + exp(dt_{t+1} A[n]) g_x_{t+1}[n]
//! g_C_t[n] += g_y_t x_t[n]
//! g_B_t[n] += g_x_t[n] dt_t u_t
//! g_A[n]   += g_x_t[n] x_{t-1}[n] exp(dt_t A[n]) dt_t
//! g_dt_t    = sum_n g_x_t[n] (x_{t-1}[n] exp(dt_t A[n]) A[n] + B_t[n] u_t)
//! g_u_t     = g_y_t D + sum_n g_x_t[n] dt_t B_t[n]
//! ```
//!
//! with `g_y_t = g_out_t silu(z_t)` and `g_z_t = g_out_t y_t silu'(z_t)`.
//! Nothing of size `batch * dim * length * N` is ever stored.
//!
//! Parameters shared by many channels (A, B, C, D, delta_bias) get their
//! gradients summed in a fixed order: each task writes partial sums of its
//! own, which are added up at the end in task order, so the result does not
//! depend on the number of threads.

use super::element::ScanElement;
use super::error::ScanError;
use super::real::{silu_derivative_lanes, Real};
use super::selective::{
    dot, gates, lane_sum, step_sizes, validate, Channel, Dims, Projections, SelectiveInputs,
};
use super::state::StateElement;
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// Gradients of a loss with respect to each input of the selective scan,
/// in the input's shape. Optional inputs that were absent get `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveGrads<S: StateElement> {
    pub u: Array<S::Real>,
    pub delta: Array<S::Real>,
    pub a: Array<S>,
    pub b: Array<S>,
    pub c: Array<S>,
    pub d: Option<Array<S::Real>>,
    pub z: Option<Array<S::Real>>,
    pub delta_bias: Option<Array<S::Real>>,
}

/// Per-task partial sums of the shared parameters' gradients.
struct Partials<S: StateElement> {
    /// `(batch, dim, N)`, summed over batch at the end.
    a: Vec<S>,
    /// `(batch, dim)` each.
    d: Vec<S::Real>,
    bias: Vec<S::Real>,
    /// Fixed B/C: `(batch, dim, N)`; per-step: `(batch, groups, blocks, length, N)`.
    b: Vec<S>,
    c: Vec<S>,
}

/// Backward pass of [`super::selective_scan`]: `grad_out` has the shape of
/// its output `(batch, dim, length)`; `grad_last_state`, when the last state
/// was used, has its shape `(batch, dim, N)`.
pub fn selective_scan_backward<S: StateElement>(
    inputs: SelectiveInputs<'_, S>,
    grad_out: ArrayView<'_, S::Real>,
    grad_last_state: Option<ArrayView<'_, S>>,
) -> Result<SelectiveGrads<S>, ScanError> {
    let dims = validate(&inputs)?;
    let state_shape = [dims.batch, dims.dim, dims.states];
    if let Some(g) = &grad_last_state {
        if g.shape() != state_shape {
            return Err(ScanError::StateShape {
                name: "grad_last_state",
                layout: "(batch, dim, N)",
                expected: state_shape.to_vec(),
                got: g.shape().to_vec(),
            });
        }
    }
    let grad_last_state = grad_last_state.map(|g| g.data());
    let sequence = [dims.batch, dims.dim, dims.length];
    if grad_out.shape() != sequence {
        return Err(ScanError::StateShape {
            name: "grad_out",
            layout: "(batch, dim, length)",
            expected: sequence.to_vec(),
            got: grad_out.shape().to_vec(),
        });
    }
    let projections = Projections::new(&inputs, &dims);
    let (b, c) = (projections.b(&inputs, &dims), projections.c(&inputs, &dims));
    let total = dims.batch * dims.dim * dims.length;
    let zero = <S::Real as ScanElement>::ZERO;
    let mut grad_u = vec![zero; total];
    let mut grad_delta = vec![zero; total];
    let mut grad_z = vec![zero; if inputs.z.is_some() { total } else { 0 }];
    let per_channel = dims.batch * dims.dim;
    let projection_partial = |groups: Option<usize>| match groups {
        None => per_channel * dims.states,
        Some(g) => dims.batch * g * dims.blocks_per_group() * dims.length * dims.states,
    };
    let mut partials = Partials {
        a: vec![S::ZERO; per_channel * dims.states],
        d: vec![zero; per_channel],
        bias: vec![zero; per_channel],
        b: vec![S::ZERO; projection_partial(dims.b_groups)],
        c: vec![S::ZERO; projection_partial(dims.c_groups)],
    };
    {
        let out = Outputs {
            u: SharedOutput::new(grad_u.as_mut_ptr(), grad_u.len()),
            delta: SharedOutput::new(grad_delta.as_mut_ptr(), grad_delta.len()),
            z: SharedOutput::new(grad_z.as_mut_ptr(), grad_z.len()),
            a: SharedOutput::new(partials.a.as_mut_ptr(), partials.a.len()),
            d: SharedOutput::new(partials.d.as_mut_ptr(), partials.d.len()),
            bias: SharedOutput::new(partials.bias.as_mut_ptr(), partials.bias.len()),
            b: SharedOutput::new(partials.b.as_mut_ptr(), partials.b.len()),
            c: SharedOutput::new(partials.c.as_mut_ptr(), partials.c.len()),
        };
        let grad_out = grad_out.data();
        parallel::for_each_task(dims.tasks(), |task| {
            let (batch, group, block, channels) = dims.task_channels(task);
            let mut scratch = Scratch::new(&dims);
            for channel in channels {
                let ch = Channel {
                    inputs: &inputs,
                    dims: &dims,
                    b,
                    c,
                    batch,
                    channel,
                };
                let slot = ProjectionSlot {
                    batch,
                    group,
                    block,
                };
                let at = (batch * dims.dim + channel) * dims.states;
                let grad_last = grad_last_state.map(|g| &g[at..at + dims.states]);
                backward_channel(&ch, (grad_out, grad_last), &mut scratch, &out, slot);
            }
        });
    }
    Ok(finish(
        &inputs,
        &dims,
        partials,
        [grad_u, grad_delta, grad_z],
    ))
}

/// Raw output pointers shared by the tasks; see `backward_channel` for who
/// writes where.
struct Outputs<S: StateElement> {
    u: SharedOutput<S::Real>,
    delta: SharedOutput<S::Real>,
    z: SharedOutput<S::Real>,
    a: SharedOutput<S>,
    d: SharedOutput<S::Real>,
    bias: SharedOutput<S::Real>,
    b: SharedOutput<S>,
    c: SharedOutput<S>,
}

/// Which private partial-sum slice a task accumulates per-step B/C into.
#[derive(Clone, Copy)]
struct ProjectionSlot {
    batch: usize,
    group: usize,
    block: usize,
}

/// `grad_out` of the whole batch, and this channel's `grad_last_state` row.
type GradIn<'a, S> = (&'a [<S as StateElement>::Real], Option<&'a [S]>);

struct Scratch<S: StateElement> {
    states: Vec<S>,
    decays: Vec<S>,
    steps: Vec<S::Real>,
    pre_gate: Vec<S::Real>,
    gate: Vec<S::Real>,
    grad_y: Vec<S::Real>,
    carry: Vec<S>,
    grad_x: Vec<S>,
    work: Vec<S>,
}

impl<S: StateElement> Scratch<S> {
    fn new(dims: &Dims) -> Self {
        let (l, n) = (dims.length, dims.states);
        let zero = <S::Real as ScanElement>::ZERO;
        Self {
            states: vec![S::ZERO; l * n],
            decays: vec![S::ZERO; l * n],
            steps: vec![zero; l],
            pre_gate: vec![zero; l],
            gate: vec![zero; l],
            grad_y: vec![zero; l],
            carry: vec![S::ZERO; n],
            grad_x: vec![S::ZERO; n],
            work: vec![S::ZERO; n],
        }
    }
}

fn backward_channel<S: StateElement>(
    ch: &Channel<'_, '_, S>,
    grad_out: GradIn<'_, S>,
    scratch: &mut Scratch<S>,
    out: &Outputs<S>,
    slot: ProjectionSlot,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports the features just detected.
            unsafe { backward_channel_avx2(ch, grad_out, scratch, out, slot) };
            return;
        }
    }
    backward_channel_states(ch, grad_out, scratch, out, slot);
}

/// See `selective::run_channel_avx2`: same code, wider vectors, same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_channel_avx2<S: StateElement>(
    ch: &Channel<'_, '_, S>,
    grad_out: GradIn<'_, S>,
    scratch: &mut Scratch<S>,
    out: &Outputs<S>,
    slot: ProjectionSlot,
) {
    backward_channel_states(ch, grad_out, scratch, out, slot);
}

/// Fixes N = 16 at compile time where it applies (see
/// `selective::run_channel_states`).
#[inline(always)]
fn backward_channel_states<S: StateElement>(
    ch: &Channel<'_, '_, S>,
    grad_out: GradIn<'_, S>,
    scratch: &mut Scratch<S>,
    out: &Outputs<S>,
    slot: ProjectionSlot,
) {
    match ch.dims.states {
        16 => backward_channel_body::<S, 16>(ch, grad_out, scratch, out, slot),
        _ => backward_channel_body::<S, 0>(ch, grad_out, scratch, out, slot),
    }
}

#[inline(always)]
fn backward_channel_body<S: StateElement, const STATES: usize>(
    ch: &Channel<'_, '_, S>,
    (grad_out, grad_last): GradIn<'_, S>,
    s: &mut Scratch<S>,
    out: &Outputs<S>,
    slot: ProjectionSlot,
) {
    let dims = ch.dims;
    let length = dims.length;
    let n = if STATES > 0 { STATES } else { dims.states };
    let seq = ch.sequence_offset();
    let u = &ch.inputs.u.data()[seq..seq + length];
    let delta = &ch.inputs.delta.data()[seq..seq + length];
    let z = ch.inputs.z.map(|z| &z.data()[seq..seq + length]);
    let grad_out = &grad_out[seq..seq + length];
    let a = &ch.a_row()[..n];
    let d = ch.d();
    let output_scale = <S::Real as Real>::from_f64(S::OUTPUT_SCALE);

    // Recompute the forward pass, keeping what the reverse pass needs
    // (`carry` serves as the zero initial state here).
    s.carry.fill(S::ZERO);
    step_sizes(ch.inputs, ch.channel, delta, &mut s.steps);
    if let Some(z) = z {
        gates(z, &mut s.gate);
    }
    let (b_rows, c_rows) = (
        ch.b.rows(dims, ch.batch, ch.channel),
        ch.c.rows(dims, ch.batch, ch.channel),
    );
    // All decays first, in one loop with nothing carried (see the forward
    // kernel), then the recurrence.
    for (t, decay) in s.decays[..length * n].chunks_exact_mut(n).enumerate() {
        let dt = s.steps[t];
        for (decay, &a) in decay.iter_mut().zip(a) {
            *decay = S::exp_scaled(a, dt);
        }
    }
    let mut previous = &mut s.carry[..n];
    for (t, (now, decay)) in s.states[..length * n]
        .chunks_exact_mut(n)
        .zip(s.decays.chunks_exact(n))
        .enumerate()
    {
        let dt_u = s.steps[t] * u[t];
        let (b, c) = (&b_rows.at(t)[..n], &c_rows.at(t)[..n]);
        // The same operations as the forward kernel, so the same states.
        for (((x, &p), &decay), &b) in now.iter_mut().zip(previous.iter()).zip(decay).zip(b) {
            *x = StateElement::mul_add(decay, p, b.scale(dt_u));
        }
        s.pre_gate[t] = Real::mul_add(dot(now, c).re(), output_scale, d * u[t]);
        previous = now;
    }

    // SAFETY (all writes below): the (batch, channel) rows of grad_u,
    // grad_delta, grad_z and the (batch, channel) entries of the a/d/bias
    // partials belong to this task alone; per-step B/C partials are indexed
    // by this task's (batch, group, block), fixed B/C partials by (batch,
    // channel).
    let grad_u = unsafe { out.u.slice(seq, length) };
    let grad_delta = unsafe { out.delta.slice(seq, length) };
    let grad_z = z.map(|_| unsafe { out.z.slice(seq, length) });
    let param_at = ch.batch * dims.dim + ch.channel;
    let grad_a = unsafe { out.a.slice(param_at * n, n) };
    // Where step t's B/C gradient accumulates: `base + t * stride`, with a
    // private per-step slice for input-dependent B/C (stride n) and the
    // channel's own row for fixed ones (stride 0). Computed once: integer
    // divisions per step showed up in profiles.
    let per_step_base = {
        let (groups, blocks) = (dims.groups(), dims.blocks_per_group());
        ((slot.batch * groups + slot.group) * blocks + slot.block) * length * n
    };
    let partial_layout = |per_step: bool| {
        if per_step {
            (per_step_base, n)
        } else {
            (param_at * n, 0)
        }
    };
    let (b_base, b_stride) = partial_layout(dims.b_groups.is_some());
    let (c_base, c_stride) = partial_layout(dims.c_groups.is_some());

    let zero = <S::Real as ScanElement>::ZERO;
    // Everything per step that does not depend on the recurrence is done
    // in whole-sequence passes that vectorise, before and after it.
    let grad_y = &mut s.grad_y[..length];
    match (z, grad_z) {
        (Some(z), Some(grad_z)) => {
            for t in 0..length {
                grad_y[t] = grad_out[t] * s.gate[t];
                grad_z[t] = grad_out[t] * s.pre_gate[t] * silu_derivative_lanes(z[t]);
            }
        }
        _ => grad_y.copy_from_slice(grad_out),
    }
    let grad_d = grad_y
        .iter()
        .zip(u)
        .fold(zero, |total, (&g, &u)| total + g * u);
    // The gradient reaching the last state from outside enters the carry.
    match grad_last {
        Some(g) => s.carry.copy_from_slice(g),
        None => s.carry.fill(S::ZERO),
    }
    for t in (0..length).rev() {
        let dt = s.steps[t];
        let grad_y = s.grad_y[t];
        let (b, c) = (&b_rows.at(t)[..n], &c_rows.at(t)[..n]);
        let state = &s.states[t * n..(t + 1) * n];
        let decay = &s.decays[t * n..(t + 1) * n];
        // y = scale Re(C x) (scale 2 for complex states), so
        // g_x_t = scale g_y conj(C_t) + carry, carry = conj(decay_{t+1}) g_x_{t+1}.
        let grad_y_scaled = grad_y * output_scale;
        for ((gx, &c), &carry) in s.grad_x.iter_mut().zip(c).zip(s.carry.iter()) {
            *gx = c.conj().scale(grad_y_scaled) + carry;
        }
        let grad_c = unsafe { out.c.slice(c_base + t * c_stride, n) };
        for (gc, &x) in grad_c.iter_mut().zip(state) {
            *gc = *gc + x.conj().scale(grad_y_scaled);
        }
        let dt_u = dt * u[t];
        let grad_b = unsafe { out.b.slice(b_base + t * b_stride, n) };
        for (gb, &gx) in grad_b.iter_mut().zip(s.grad_x.iter()) {
            *gb = *gb + gx.scale(dt_u);
        }
        // work[n] = g_x_t[n] conj(x_{t-1}[n] decay_t[n]): the gradient
        // reaching dt * A[n] through the exponential.
        let prev: &[S] = if t > 0 {
            &s.states[(t - 1) * n..t * n]
        } else {
            &s.carry[..0]
        };
        if t > 0 {
            for (((w, &gx), &p), &decay) in
                s.work.iter_mut().zip(s.grad_x.iter()).zip(prev).zip(decay)
            {
                *w = gx * (p * decay).conj();
            }
        } else {
            s.work.fill(S::ZERO);
        }
        for (ga, &w) in grad_a.iter_mut().zip(s.work.iter()) {
            *ga = *ga + w.scale(dt);
        }
        let grad_x_b = re_dot_conj(&s.grad_x, b);
        let grad_dt = re_dot_conj(&s.work, a) + grad_x_b * u[t];
        grad_u[t] = grad_y * d + grad_x_b * dt;
        for ((carry, &gx), &decay) in s.carry.iter_mut().zip(s.grad_x.iter()).zip(decay) {
            *carry = decay.conj() * gx;
        }
        grad_delta[t] = grad_dt;
    }
    // Through softplus: d softplus(x) / dx = sigmoid(x) (1 above 20).
    if ch.inputs.delta_softplus {
        let bias = ch.inputs.delta_bias.map_or(zero, |b| b.data()[ch.channel]);
        let linear = <S::Real as Real>::from_f64(20.0);
        for (g, &raw) in grad_delta.iter_mut().zip(delta) {
            let biased = raw + bias;
            let slope = biased.sigmoid_lanes();
            *g = if biased > linear { *g } else { *g * slope };
        }
    }
    let grad_bias = grad_delta.iter().fold(zero, |total, &g| total + g);
    unsafe {
        out.d.slice(param_at, 1)[0] = grad_d;
        out.bias.slice(param_at, 1)[0] = grad_bias;
    }
}

/// `sum_i Re(x_i conj(y_i))`, see `selective::lane_sum`.
#[inline(always)]
fn re_dot_conj<S: StateElement>(x: &[S], y: &[S]) -> S::Real {
    lane_sum(x, y, |a, b| a.re_mul_conj(b))
}

/// Sums the partials over batch (and blocks) in a fixed order and shapes
/// every gradient like its input.
fn finish<S: StateElement>(
    inputs: &SelectiveInputs<'_, S>,
    dims: &Dims,
    partials: Partials<S>,
    [grad_u, grad_delta, grad_z]: [Vec<S::Real>; 3],
) -> SelectiveGrads<S> {
    fn per_batch<T: ScanElement>(partial: &[T], width: usize, batch: usize) -> Vec<T> {
        let mut total = vec![T::ZERO; width];
        for chunk in partial.chunks(width.max(1)).take(batch) {
            for (t, &p) in total.iter_mut().zip(chunk) {
                *t = *t + p;
            }
        }
        total
    }
    let projection = |partial: &[S], groups: Option<usize>, like: &ArrayView<'_, S>| -> Array<S> {
        let data = match groups {
            None => per_batch(partial, dims.dim * dims.states, dims.batch),
            Some(groups) => {
                let (blocks, l, n) = (dims.blocks_per_group(), dims.length, dims.states);
                let mut data = vec![S::ZERO; dims.batch * groups * n * l];
                for bg in 0..dims.batch * groups {
                    for block in 0..blocks {
                        let src = &partial[(bg * blocks + block) * l * n..][..l * n];
                        for t in 0..l {
                            for k in 0..n {
                                let dst = &mut data[(bg * n + k) * l + t];
                                *dst = *dst + src[t * n + k];
                            }
                        }
                    }
                }
                data
            }
        };
        Array {
            data,
            shape: like.shape().to_vec(),
        }
    };
    let sequence = vec![dims.batch, dims.dim, dims.length];
    SelectiveGrads {
        u: Array {
            data: grad_u,
            shape: sequence.clone(),
        },
        delta: Array {
            data: grad_delta,
            shape: sequence.clone(),
        },
        a: Array {
            data: per_batch(&partials.a, dims.dim * dims.states, dims.batch),
            shape: vec![dims.dim, dims.states],
        },
        b: projection(&partials.b, dims.b_groups, &inputs.b),
        c: projection(&partials.c, dims.c_groups, &inputs.c),
        d: inputs.d.map(|_| Array {
            data: per_batch(&partials.d, dims.dim, dims.batch),
            shape: vec![dims.dim],
        }),
        z: inputs.z.map(|_| Array {
            data: grad_z,
            shape: sequence,
        }),
        delta_bias: inputs.delta_bias.map(|_| Array {
            data: per_batch(&partials.bias, dims.dim, dims.batch),
            shape: vec![dims.dim],
        }),
    }
}

#[cfg(test)]
#[path = "selective_backward_tests.rs"]
mod tests;
