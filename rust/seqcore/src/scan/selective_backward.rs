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

use super::error::ScanError;
use super::real::{silu_derivative, Real};
use super::selective::{
    dot, gates, step_sizes, validate, Channel, Dims, Projections, SelectiveInputs,
};
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// Gradients of a loss with respect to each input of the selective scan,
/// in the input's shape. Optional inputs that were absent get `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveGrads<T> {
    pub u: Array<T>,
    pub delta: Array<T>,
    pub a: Array<T>,
    pub b: Array<T>,
    pub c: Array<T>,
    pub d: Option<Array<T>>,
    pub z: Option<Array<T>>,
    pub delta_bias: Option<Array<T>>,
}

/// Per-task partial sums of the shared parameters' gradients.
struct Partials<T> {
    /// `(batch, dim, N)`, summed over batch at the end.
    a: Vec<T>,
    /// `(batch, dim)` each.
    d: Vec<T>,
    bias: Vec<T>,
    /// Fixed B/C: `(batch, dim, N)`; per-step: `(batch, groups, blocks, length, N)`.
    b: Vec<T>,
    c: Vec<T>,
}

/// Backward pass of [`super::selective_scan`]: `grad_out` has the shape of
/// its output `(batch, dim, length)`; `grad_last_state`, when the last state
/// was used, has its shape `(batch, dim, N)`.
pub fn selective_scan_backward<T: Real>(
    inputs: SelectiveInputs<'_, T>,
    grad_out: ArrayView<'_, T>,
    grad_last_state: Option<ArrayView<'_, T>>,
) -> Result<SelectiveGrads<T>, ScanError> {
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
    let mut grad_u = vec![T::ZERO; total];
    let mut grad_delta = vec![T::ZERO; total];
    let mut grad_z = vec![T::ZERO; if inputs.z.is_some() { total } else { 0 }];
    let per_channel = dims.batch * dims.dim;
    let projection_partial = |groups: Option<usize>| match groups {
        None => per_channel * dims.states,
        Some(g) => dims.batch * g * dims.blocks_per_group() * dims.length * dims.states,
    };
    let mut partials = Partials {
        a: vec![T::ZERO; per_channel * dims.states],
        d: vec![T::ZERO; per_channel],
        bias: vec![T::ZERO; per_channel],
        b: vec![T::ZERO; projection_partial(dims.b_groups)],
        c: vec![T::ZERO; projection_partial(dims.c_groups)],
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
struct Outputs<T> {
    u: SharedOutput<T>,
    delta: SharedOutput<T>,
    z: SharedOutput<T>,
    a: SharedOutput<T>,
    d: SharedOutput<T>,
    bias: SharedOutput<T>,
    b: SharedOutput<T>,
    c: SharedOutput<T>,
}

/// Which private partial-sum slice a task accumulates per-step B/C into.
#[derive(Clone, Copy)]
struct ProjectionSlot {
    batch: usize,
    group: usize,
    block: usize,
}

/// `grad_out` of the whole batch, and this channel's `grad_last_state` row.
type GradIn<'a, T> = (&'a [T], Option<&'a [T]>);

struct Scratch<T> {
    states: Vec<T>,
    decays: Vec<T>,
    steps: Vec<T>,
    pre_gate: Vec<T>,
    gate: Vec<T>,
    carry: Vec<T>,
    grad_x: Vec<T>,
    work: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(dims: &Dims) -> Self {
        let (l, n) = (dims.length, dims.states);
        Self {
            states: vec![T::ZERO; l * n],
            decays: vec![T::ZERO; l * n],
            steps: vec![T::ZERO; l],
            pre_gate: vec![T::ZERO; l],
            gate: vec![T::ZERO; l],
            carry: vec![T::ZERO; n],
            grad_x: vec![T::ZERO; n],
            work: vec![T::ZERO; n],
        }
    }
}

fn backward_channel<T: Real>(
    ch: &Channel<'_, '_, T>,
    grad_out: GradIn<'_, T>,
    scratch: &mut Scratch<T>,
    out: &Outputs<T>,
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
unsafe fn backward_channel_avx2<T: Real>(
    ch: &Channel<'_, '_, T>,
    grad_out: GradIn<'_, T>,
    scratch: &mut Scratch<T>,
    out: &Outputs<T>,
    slot: ProjectionSlot,
) {
    backward_channel_states(ch, grad_out, scratch, out, slot);
}

/// Fixes N = 16 at compile time where it applies (see
/// `selective::run_channel_states`).
#[inline(always)]
fn backward_channel_states<T: Real>(
    ch: &Channel<'_, '_, T>,
    grad_out: GradIn<'_, T>,
    scratch: &mut Scratch<T>,
    out: &Outputs<T>,
    slot: ProjectionSlot,
) {
    match ch.dims.states {
        16 => backward_channel_body::<T, 16>(ch, grad_out, scratch, out, slot),
        _ => backward_channel_body::<T, 0>(ch, grad_out, scratch, out, slot),
    }
}

#[inline(always)]
fn backward_channel_body<T: Real, const STATES: usize>(
    ch: &Channel<'_, '_, T>,
    (grad_out, grad_last): GradIn<'_, T>,
    s: &mut Scratch<T>,
    out: &Outputs<T>,
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

    // Recompute the forward pass, keeping what the reverse pass needs
    // (`carry` serves as the zero initial state here).
    s.carry.fill(T::ZERO);
    step_sizes(ch.inputs, ch.channel, delta, &mut s.steps);
    if let Some(z) = z {
        gates(z, &mut s.gate);
    }
    let (b_rows, c_rows) = (
        ch.b.rows(dims, ch.batch, ch.channel),
        ch.c.rows(dims, ch.batch, ch.channel),
    );
    let mut previous_state = 0;
    for t in 0..length {
        let dt = s.steps[t];
        let dt_u = dt * u[t];
        let (b, c) = (&b_rows.at(t)[..n], &c_rows.at(t)[..n]);
        let decay = &mut s.decays[t * n..(t + 1) * n];
        for (decay, &a) in decay.iter_mut().zip(a) {
            *decay = (dt * a).exp_lanes();
        }
        let (before, now) = s.states.split_at_mut(t * n);
        let now = &mut now[..n];
        let prev = if t > 0 {
            &before[previous_state..previous_state + n]
        } else {
            &s.carry[..]
        };
        // The same operations as the forward kernel, so the same states.
        for (((x, &p), &decay), &b) in now.iter_mut().zip(prev).zip(decay.iter()).zip(b) {
            *x = decay.mul_add(p, dt_u * b);
        }
        previous_state = t * n;
        s.pre_gate[t] = dot(now, c) + d * u[t];
    }

    // SAFETY (all writes below): the (batch, channel) rows of grad_u,
    // grad_delta, grad_z and the (batch, channel) entries of the a/d/bias
    // partials belong to this task alone; per-step B/C partials are indexed
    // by this task's (batch, group, block), fixed B/C partials by (batch,
    // channel).
    let grad_u = unsafe { out.u.slice(seq, length) };
    let grad_delta = unsafe { out.delta.slice(seq, length) };
    let mut grad_z = z.map(|_| unsafe { out.z.slice(seq, length) });
    let param_at = ch.batch * dims.dim + ch.channel;
    let grad_a = unsafe { out.a.slice(param_at * n, n) };
    let partial_at = |per_step: bool, t: usize| {
        if per_step {
            let groups = dims.groups();
            let blocks = dims.blocks_per_group();
            ((((slot.batch * groups + slot.group) * blocks + slot.block) * length) + t) * n
        } else {
            param_at * n
        }
    };
    let (b_per_step, c_per_step) = (dims.b_groups.is_some(), dims.c_groups.is_some());

    let mut grad_d = T::ZERO;
    let mut grad_bias = T::ZERO;
    // The gradient reaching the last state from outside enters the carry.
    match grad_last {
        Some(g) => s.carry.copy_from_slice(g),
        None => s.carry.fill(T::ZERO),
    }
    for t in (0..length).rev() {
        let dt = s.steps[t];
        let (grad_y, gate_grad) = match z {
            Some(z) => (
                grad_out[t] * s.gate[t],
                grad_out[t] * s.pre_gate[t] * silu_derivative(z[t]),
            ),
            None => (grad_out[t], T::ZERO),
        };
        if let Some(grad_z) = grad_z.as_deref_mut() {
            grad_z[t] = gate_grad;
        }
        grad_d = grad_d + grad_y * u[t];
        let (b, c) = (&b_rows.at(t)[..n], &c_rows.at(t)[..n]);
        let state = &s.states[t * n..(t + 1) * n];
        let decay = &s.decays[t * n..(t + 1) * n];
        // g_x_t = g_y C_t + carry, where carry = decay_{t+1} g_x_{t+1}.
        for ((gx, &c), &carry) in s.grad_x.iter_mut().zip(c).zip(s.carry.iter()) {
            *gx = grad_y * c + carry;
        }
        let grad_c = unsafe { out.c.slice(partial_at(c_per_step, t), n) };
        for (gc, &x) in grad_c.iter_mut().zip(state) {
            *gc = *gc + grad_y * x;
        }
        let dt_u = dt * u[t];
        let grad_b = unsafe { out.b.slice(partial_at(b_per_step, t), n) };
        for (gb, &gx) in grad_b.iter_mut().zip(s.grad_x.iter()) {
            *gb = *gb + gx * dt_u;
        }
        // work[n] = g_x_t[n] * x_{t-1}[n] * decay_t[n]: the gradient
        // reaching dt * A[n] through the exponential.
        let prev: &[T] = if t > 0 {
            &s.states[(t - 1) * n..t * n]
        } else {
            &s.carry[..0]
        };
        if t > 0 {
            for (((w, &gx), &p), &decay) in
                s.work.iter_mut().zip(s.grad_x.iter()).zip(prev).zip(decay)
            {
                *w = gx * p * decay;
            }
        } else {
            s.work.fill(T::ZERO);
        }
        for (ga, &w) in grad_a.iter_mut().zip(s.work.iter()) {
            *ga = *ga + w * dt;
        }
        let grad_x_b = dot(&s.grad_x, b);
        let grad_dt = dot(&s.work, a) + grad_x_b * u[t];
        grad_u[t] = grad_y * d + grad_x_b * dt;
        for ((carry, &gx), &decay) in s.carry.iter_mut().zip(s.grad_x.iter()).zip(decay) {
            *carry = decay * gx;
        }
        let biased = match &ch.inputs.delta_bias {
            Some(bias) => delta[t] + bias.data()[ch.channel],
            None => delta[t],
        };
        let grad_raw = if ch.inputs.delta_softplus && biased <= T::from_f64(20.0) {
            grad_dt * biased.sigmoid_lanes()
        } else {
            grad_dt
        };
        grad_delta[t] = grad_raw;
        grad_bias = grad_bias + grad_raw;
    }
    unsafe {
        out.d.slice(param_at, 1)[0] = grad_d;
        out.bias.slice(param_at, 1)[0] = grad_bias;
    }
}

/// Sums the partials over batch (and blocks) in a fixed order and shapes
/// every gradient like its input.
fn finish<T: Real>(
    inputs: &SelectiveInputs<'_, T>,
    dims: &Dims,
    partials: Partials<T>,
    [grad_u, grad_delta, grad_z]: [Vec<T>; 3],
) -> SelectiveGrads<T> {
    let per_batch = |partial: &[T], width: usize| -> Vec<T> {
        let mut total = vec![T::ZERO; width];
        for chunk in partial.chunks(width.max(1)).take(dims.batch) {
            for (t, &p) in total.iter_mut().zip(chunk) {
                *t = *t + p;
            }
        }
        total
    };
    let projection = |partial: &[T], groups: Option<usize>, like: &ArrayView<'_, T>| -> Array<T> {
        let data = match groups {
            None => per_batch(partial, dims.dim * dims.states),
            Some(groups) => {
                let (blocks, l, n) = (dims.blocks_per_group(), dims.length, dims.states);
                let mut data = vec![T::ZERO; dims.batch * groups * n * l];
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
            data: per_batch(&partials.a, dims.dim * dims.states),
            shape: vec![dims.dim, dims.states],
        },
        b: projection(&partials.b, dims.b_groups, &inputs.b),
        c: projection(&partials.c, dims.c_groups, &inputs.c),
        d: inputs.d.map(|_| Array {
            data: per_batch(&partials.d, dims.dim),
            shape: vec![dims.dim],
        }),
        z: inputs.z.map(|_| Array {
            data: grad_z,
            shape: sequence,
        }),
        delta_bias: inputs.delta_bias.map(|_| Array {
            data: per_batch(&partials.bias, dims.dim),
            shape: vec![dims.dim],
        }),
    }
}

#[cfg(test)]
#[path = "selective_backward_tests.rs"]
mod tests;
