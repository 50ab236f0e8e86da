//! The selective scan of Mamba (Gu & Dao 2023), forward pass.
//!
//! Semantics are those of mamba-ssm's `selective_scan_fn` for real `A`:
//!
//! ```text
//! dt_t   = softplus(delta_t + delta_bias)          (or without softplus)
//! x_t[n] = exp(dt_t A[n]) x_{t-1}[n] + dt_t B_t[n] u_t
//! y_t    = sum_n C_t[n] x_t[n] + D u_t
//! out_t  = y_t * silu(z_t)                         (when z is given)
//! ```
//!
//! for every (batch, channel). Layouts follow mamba-ssm: `u`, `delta`, `z`
//! and `out` are `(batch, dim, length)`; `A` is `(dim, N)`; `B` and `C` are
//! `(dim, N)` (time-invariant) or `(batch, groups, N, length)` (input-
//! dependent, channel `d` uses group `d / (dim / groups)`).
//!
//! Each channel's state (N values, N = 16 typically) lives in registers or
//! L1 while its whole sequence is scanned, vectorised across the states.
//! Input-dependent B and C are first transposed to `(batch, groups,
//! length, N)` so that one time step reads N contiguous values.

use super::element::ScanElement;
use super::error::ScanError;
use super::real::Real;
pub(crate) use super::selective_inputs::{validate, Dims, Projection, Projections};
pub use super::selective_inputs::{SelectiveInputs, SelectiveOutput};
use super::state::StateElement;
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// `dt` for every step of one channel (bias and softplus applied), in one
/// pass that vectorises (the softplus has no library calls for f32).
#[inline(always)]
pub(crate) fn step_sizes<S: StateElement>(
    inputs: &SelectiveInputs<'_, S>,
    channel: usize,
    raw: &[S::Real],
    out: &mut [S::Real],
) {
    let bias = inputs
        .delta_bias
        .map_or(<S::Real as ScanElement>::ZERO, |bias| bias.data()[channel]);
    if inputs.delta_softplus {
        for (dt, &r) in out.iter_mut().zip(raw) {
            *dt = (r + bias).softplus_lanes();
        }
    } else {
        for (dt, &r) in out.iter_mut().zip(raw) {
            *dt = r + bias;
        }
    }
}

/// `silu(z_t)` for every step, vectorised.
#[inline(always)]
pub(crate) fn gates<T: Real>(z: &[T], out: &mut [T]) {
    for (g, &z) in out.iter_mut().zip(z) {
        *g = z * z.sigmoid_lanes();
    }
}

/// `sum_i term(x[i], y[i])` with eight partial sums, so that it vectorises
/// and always adds in the same order (a single running sum would chain
/// every addition behind the last).
#[inline(always)]
pub(crate) fn lane_sum<A: Copy, B: Copy, T: ScanElement>(
    x: &[A],
    y: &[B],
    term: impl Fn(A, B) -> T,
) -> T {
    let mut lanes = [T::ZERO; 8];
    let chunks = x.len() / 8;
    for i in 0..chunks {
        for j in 0..8 {
            lanes[j] = lanes[j] + term(x[i * 8 + j], y[i * 8 + j]);
        }
    }
    let mut total = T::ZERO;
    for i in chunks * 8..x.len() {
        total = total + term(x[i], y[i]);
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    total + ((quads[0] + quads[2]) + (quads[1] + quads[3]))
}

/// `sum_i x[i] * y[i]`, see [`lane_sum`].
#[inline(always)]
pub(crate) fn dot<T: ScanElement>(x: &[T], y: &[T]) -> T {
    lane_sum(x, y, |a, b| a * b)
}

/// Runs the selective scan; see the module documentation.
pub fn selective_scan<S: StateElement>(
    inputs: SelectiveInputs<'_, S>,
) -> Result<SelectiveOutput<S>, ScanError> {
    let dims = validate(&inputs)?;
    let mut out = vec![<S::Real as ScanElement>::ZERO; dims.batch * dims.dim * dims.length];
    let mut last_state = vec![S::ZERO; dims.batch * dims.dim * dims.states];
    scan_unchecked(&inputs, &dims, &mut out, &mut last_state);
    Ok(SelectiveOutput {
        out: Array {
            data: out,
            shape: vec![dims.batch, dims.dim, dims.length],
        },
        last_state: Array {
            data: last_state,
            shape: vec![dims.batch, dims.dim, dims.states],
        },
    })
}

/// Like [`selective_scan`], writing into caller-owned buffers:
/// `out` `(batch, dim, length)` and `last_state` `(batch, dim, N)`.
pub fn selective_scan_into<S: StateElement>(
    inputs: SelectiveInputs<'_, S>,
    out: &mut [S::Real],
    last_state: &mut [S],
) -> Result<(), ScanError> {
    let dims = validate(&inputs)?;
    let sizes = [
        ("out", out.len(), [dims.batch, dims.dim, dims.length]),
        (
            "last_state",
            last_state.len(),
            [dims.batch, dims.dim, dims.states],
        ),
    ];
    for (name, len, shape) in sizes {
        let placeholder = vec![(); len];
        ArrayView::new(&placeholder, &shape).map_err(|source| ScanError::Shape { name, source })?;
    }
    scan_unchecked(&inputs, &dims, out, last_state);
    Ok(())
}

fn scan_unchecked<S: StateElement>(
    inputs: &SelectiveInputs<'_, S>,
    dims: &Dims,
    out: &mut [S::Real],
    last_state: &mut [S],
) {
    let projections = Projections::new(inputs, dims);
    let (b, c) = (projections.b(inputs, dims), projections.c(inputs, dims));
    let out = SharedOutput::new(out.as_mut_ptr(), out.len());
    let last = SharedOutput::new(last_state.as_mut_ptr(), last_state.len());
    parallel::for_each_task(dims.tasks(), |task| {
        let (batch, _, _, channels) = dims.task_channels(task);
        let mut scratch = Scratch::new(dims);
        for channel in channels {
            let seq = (batch * dims.dim + channel) * dims.length;
            // SAFETY: each (batch, channel) belongs to exactly one task.
            let out_row = unsafe { out.slice(seq, dims.length) };
            let state_at = (batch * dims.dim + channel) * dims.states;
            let state = unsafe { last.slice(state_at, dims.states) };
            let channel_inputs = Channel {
                inputs,
                dims,
                b,
                c,
                batch,
                channel,
            };
            run_channel(&channel_inputs, state, &mut scratch, out_row);
        }
    });
}

/// Everything one channel's scan reads.
pub(crate) struct Channel<'a, 'i, S: StateElement> {
    pub inputs: &'a SelectiveInputs<'i, S>,
    pub dims: &'a Dims,
    pub b: Projection<'a, S>,
    pub c: Projection<'a, S>,
    pub batch: usize,
    pub channel: usize,
}

impl<S: StateElement> Channel<'_, '_, S> {
    pub(crate) fn a_row(&self) -> &[S] {
        let n = self.dims.states;
        &self.inputs.a.data()[self.channel * n..(self.channel + 1) * n]
    }

    pub(crate) fn sequence_offset(&self) -> usize {
        (self.batch * self.dims.dim + self.channel) * self.dims.length
    }

    pub(crate) fn d(&self) -> S::Real {
        self.inputs
            .d
            .map_or(<S::Real as ScanElement>::ZERO, |d| d.data()[self.channel])
    }
}

/// Scans one channel; `state` starts at zero and ends as the last state.
fn run_channel<S: StateElement>(
    ch: &Channel<'_, '_, S>,
    state: &mut [S],
    scratch: &mut Scratch<S>,
    out: &mut [S::Real],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports the features just detected.
            unsafe { run_channel_avx2(ch, state, scratch, out) };
            return;
        }
    }
    run_channel_states(ch, state, scratch, out);
}

/// Picks a copy of the kernel with the state size fixed at compile time
/// for Mamba's usual N = 16 (the loops over states then unroll into whole
/// vectors), or the general one.
#[inline(always)]
fn run_channel_states<S: StateElement>(
    ch: &Channel<'_, '_, S>,
    state: &mut [S],
    scratch: &mut Scratch<S>,
    out: &mut [S::Real],
) {
    match ch.dims.states {
        16 => run_channel_body::<S, 16>(ch, state, scratch, out),
        _ => run_channel_body::<S, 0>(ch, state, scratch, out),
    }
}

/// The same code compiled for AVX2 and FMA: twice the vector width of the
/// x86-64 baseline. Every fused multiply-add is explicit (`mul_add`) and no
/// other contraction happens in Rust, so both versions compute the same
/// bits and results do not depend on the processor.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_channel_avx2<S: StateElement>(
    ch: &Channel<'_, '_, S>,
    state: &mut [S],
    scratch: &mut Scratch<S>,
    out: &mut [S::Real],
) {
    run_channel_states(ch, state, scratch, out);
}

/// `STATES` is N when known at compile time, 0 otherwise.
#[inline(always)]
fn run_channel_body<S: StateElement, const STATES: usize>(
    ch: &Channel<'_, '_, S>,
    state: &mut [S],
    scratch: &mut Scratch<S>,
    out: &mut [S::Real],
) {
    let dims = ch.dims;
    let length = dims.length;
    let seq = ch.sequence_offset();
    let u = &ch.inputs.u.data()[seq..seq + length];
    let delta = &ch.inputs.delta.data()[seq..seq + length];
    let a = ch.a_row();
    let d = ch.d();
    let steps = &mut scratch.steps[..length];
    step_sizes(ch.inputs, ch.channel, delta, steps);
    let (b_rows, c_rows) = (
        ch.b.rows(dims, ch.batch, ch.channel),
        ch.c.rows(dims, ch.batch, ch.channel),
    );
    let n = if STATES > 0 { STATES } else { dims.states };
    let a = &a[..n];
    let state = &mut state[..n];
    state.fill(S::ZERO);
    let output_scale = <S::Real as Real>::from_f64(S::OUTPUT_SCALE);
    // Time is taken in chunks: first every decay exp(dt A) and input
    // dt B u of the chunk, in long loops with nothing carried between
    // iterations (the exps are most of the work and pipeline well there),
    // then the short recurrence itself.
    for start in (0..length).step_by(CHUNK) {
        let steps_here = CHUNK.min(length - start);
        let decay = &mut scratch.decay[..steps_here * n];
        let drive = &mut scratch.drive[..steps_here * n];
        for (k, (decay, drive)) in decay
            .chunks_exact_mut(n)
            .zip(drive.chunks_exact_mut(n))
            .enumerate()
        {
            let t = start + k;
            let (dt, dt_u) = (steps[t], steps[t] * u[t]);
            let b = &b_rows.at(t)[..n];
            for ((decay, drive), (&a, &b)) in
                decay.iter_mut().zip(drive.iter_mut()).zip(a.iter().zip(b))
            {
                *decay = S::exp_scaled(a, dt);
                *drive = b.scale(dt_u);
            }
        }
        for (k, (decay, drive)) in decay.chunks_exact(n).zip(drive.chunks_exact(n)).enumerate() {
            let t = start + k;
            for ((x, &decay), &drive) in state.iter_mut().zip(decay).zip(drive) {
                *x = StateElement::mul_add(decay, *x, drive);
            }
            let y = dot(state, &c_rows.at(t)[..n]).re();
            out[t] = Real::mul_add(y, output_scale, d * u[t]);
        }
    }
    if let Some(z) = ch.inputs.z {
        let gate = &mut scratch.gate[..length];
        gates(&z.data()[seq..seq + length], gate);
        for (o, &g) in out.iter_mut().zip(gate.iter()) {
            *o = *o * g;
        }
    }
}

/// Time steps per chunk of precomputed decays and inputs (`2 * CHUNK * N`
/// values: 8 KiB for N = 16 in f32, well inside L1).
const CHUNK: usize = 32;

/// Per-task buffers of the forward pass, reused from channel to channel.
pub(crate) struct Scratch<S: StateElement> {
    steps: Vec<S::Real>,
    gate: Vec<S::Real>,
    decay: Vec<S>,
    drive: Vec<S>,
}

impl<S: StateElement> Scratch<S> {
    fn new(dims: &Dims) -> Self {
        let zero = <S::Real as ScanElement>::ZERO;
        Self {
            steps: vec![zero; dims.length],
            gate: vec![zero; dims.length],
            decay: vec![S::ZERO; CHUNK * dims.states],
            drive: vec![S::ZERO; CHUNK * dims.states],
        }
    }
}
