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

use super::error::ScanError;
use super::real::Real;
use crate::array::{Array, ArrayView};
use crate::parallel::{self, SharedOutput};

/// Inputs of the selective scan (see the module documentation for shapes).
#[derive(Debug, Clone, Copy)]
pub struct SelectiveInputs<'a, T> {
    pub u: ArrayView<'a, T>,
    pub delta: ArrayView<'a, T>,
    pub a: ArrayView<'a, T>,
    pub b: ArrayView<'a, T>,
    pub c: ArrayView<'a, T>,
    pub d: Option<ArrayView<'a, T>>,
    pub z: Option<ArrayView<'a, T>>,
    pub delta_bias: Option<ArrayView<'a, T>>,
    pub delta_softplus: bool,
}

/// Output of [`selective_scan`].
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveOutput<T> {
    /// `(batch, dim, length)`
    pub out: Array<T>,
    /// `(batch, dim, N)`: the state after the last step.
    pub last_state: Array<T>,
}

/// Sizes shared by every argument, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub batch: usize,
    pub dim: usize,
    pub length: usize,
    pub states: usize,
    /// `None` for time-invariant B (or C); `Some(groups)` otherwise.
    pub b_groups: Option<usize>,
    pub c_groups: Option<usize>,
}

impl Dims {
    /// The number of channels per parallel block: tasks own whole channels
    /// and accumulate input-dependent B/C gradients privately per block, so
    /// the split must not depend on the thread count (results would change
    /// with it). Eight blocks per (batch, group) keep 2-16 threads busy.
    pub(crate) fn blocks_per_group(&self) -> usize {
        self.channels_per_group().clamp(1, 8)
    }

    pub(crate) fn groups(&self) -> usize {
        // Parallel blocks follow B's groups, else C's; with neither
        // input-dependent there is a single group.
        self.b_groups.or(self.c_groups).unwrap_or(1)
    }

    pub(crate) fn channels_per_group(&self) -> usize {
        self.dim / self.groups().max(1)
    }

    /// Channels `[start, end)` of task `task` and its (batch, group, block).
    pub(crate) fn task_channels(
        &self,
        task: usize,
    ) -> (usize, usize, usize, std::ops::Range<usize>) {
        let blocks = self.blocks_per_group();
        let groups = self.groups();
        let block = task % blocks;
        let group = (task / blocks) % groups;
        let batch = task / (blocks * groups);
        let per_group = self.channels_per_group();
        let per_block = per_group.div_ceil(blocks);
        let start = group * per_group + (block * per_block).min(per_group);
        let end = group * per_group + ((block + 1) * per_block).min(per_group);
        (batch, group, block, start..end)
    }

    pub(crate) fn tasks(&self) -> usize {
        self.batch * self.groups() * self.blocks_per_group()
    }
}

/// A rank error; `layout` is a tuple like `(dim, N)` or `(dim,)`, and the
/// expected rank is the number of names in it.
fn rank_error<T>(name: &'static str, layout: &'static str, x: &ArrayView<'_, T>) -> ScanError {
    let names = layout.trim_matches(|c| c == '(' || c == ')').split(',');
    ScanError::Rank {
        name,
        expected: names.filter(|part| !part.trim().is_empty()).count(),
        layout,
        shape: x.shape().to_vec(),
    }
}

fn expect_shape<T>(
    name: &'static str,
    layout: &'static str,
    x: &ArrayView<'_, T>,
    want: &[usize],
) -> Result<(), ScanError> {
    if x.shape().len() != want.len() {
        return Err(rank_error(name, layout, x));
    }
    if x.shape() != want {
        return Err(ScanError::StateShape {
            name,
            layout,
            expected: want.to_vec(),
            got: x.shape().to_vec(),
        });
    }
    Ok(())
}

/// Checks B or C: `(dim, N)` or `(batch, groups, N, length)`.
fn check_projection<T>(
    name: &'static str,
    x: &ArrayView<'_, T>,
    [batch, dim, length, states]: [usize; 4],
) -> Result<Option<usize>, ScanError> {
    match *x.shape() {
        [_, _] => {
            expect_shape(name, "(dim, N)", x, &[dim, states])?;
            Ok(None)
        }
        [_, groups, _, _] => {
            if groups == 0 || dim % groups != 0 {
                return Err(ScanError::Groups { name, groups, dim });
            }
            expect_shape(
                name,
                "(batch, groups, N, length)",
                x,
                &[batch, groups, states, length],
            )?;
            Ok(Some(groups))
        }
        _ => Err(ScanError::Rank {
            name,
            expected: 2,
            layout: "(dim, N), or 4 dimensions (batch, groups, N, length)",
            shape: x.shape().to_vec(),
        }),
    }
}

pub(crate) fn validate<T>(inputs: &SelectiveInputs<'_, T>) -> Result<Dims, ScanError> {
    let [batch, dim, length] = match *inputs.u.shape() {
        [b, d, l] => [b, d, l],
        _ => return Err(rank_error("u", "(batch, dim, length)", &inputs.u)),
    };
    let sequence = [batch, dim, length];
    expect_shape("delta", "(batch, dim, length)", &inputs.delta, &sequence)?;
    if let Some(z) = &inputs.z {
        expect_shape("z", "(batch, dim, length)", z, &sequence)?;
    }
    let states = match *inputs.a.shape() {
        [_, n] => n,
        _ => return Err(rank_error("A", "(dim, N)", &inputs.a)),
    };
    expect_shape("A", "(dim, N)", &inputs.a, &[dim, states])?;
    let all = [batch, dim, length, states];
    let b_groups = check_projection("B", &inputs.b, all)?;
    let c_groups = check_projection("C", &inputs.c, all)?;
    if let (Some(bg), Some(cg)) = (b_groups, c_groups) {
        if bg != cg {
            return Err(ScanError::GroupMismatch { b: bg, c: cg });
        }
    }
    if let Some(d) = &inputs.d {
        expect_shape("D", "(dim,)", d, &[dim])?;
    }
    if let Some(bias) = &inputs.delta_bias {
        expect_shape("delta_bias", "(dim,)", bias, &[dim])?;
    }
    Ok(Dims {
        batch,
        dim,
        length,
        states,
        b_groups,
        c_groups,
    })
}

/// B or C as one channel reads it: a fixed row, or rows per time step.
#[derive(Clone, Copy)]
pub(crate) enum Projection<'a, T> {
    /// `(dim, N)`: channel `d` reads row `d` at every step.
    Fixed(&'a [T]),
    /// Transposed to `(batch, groups, length, N)`.
    PerStep { data: &'a [T], groups: usize },
}

impl<'a, T: Copy> Projection<'a, T> {
    /// Where one channel's rows are: step `t` reads the N values at
    /// `base + t * stride` (stride 0 for a fixed row). Computed once per
    /// channel: an integer division per step cost more than the step's
    /// arithmetic.
    pub(crate) fn rows(&self, dims: &Dims, batch: usize, channel: usize) -> Rows<'a, T> {
        let n = dims.states;
        match *self {
            Projection::Fixed(data) => Rows {
                data,
                base: channel * n,
                stride: 0,
                n,
            },
            Projection::PerStep { data, groups } => {
                let group = channel / (dims.dim / groups);
                Rows {
                    data,
                    base: (batch * groups + group) * dims.length * n,
                    stride: n,
                    n,
                }
            }
        }
    }
}

/// One channel's view of B or C: see [`Projection::rows`].
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a, T> {
    data: &'a [T],
    base: usize,
    stride: usize,
    n: usize,
}

impl<'a, T> Rows<'a, T> {
    #[inline(always)]
    pub(crate) fn at(&self, t: usize) -> &'a [T] {
        let start = self.base + t * self.stride;
        &self.data[start..start + self.n]
    }
}

/// `(batch, groups, N, length)` -> `(batch, groups, length, N)`.
pub(crate) fn transpose_last_two<T: Copy>(
    x: &[T],
    outer: usize,
    rows: usize,
    cols: usize,
) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for o in 0..outer {
        let block = &x[o * rows * cols..(o + 1) * rows * cols];
        for c in 0..cols {
            out.extend((0..rows).map(|r| block[r * cols + c]));
        }
    }
    out
}

/// Input-dependent projections transposed for the scan (owned buffers).
pub(crate) struct Projections<T> {
    b: Option<Vec<T>>,
    c: Option<Vec<T>>,
}

impl<T: Copy> Projections<T> {
    pub(crate) fn new(inputs: &SelectiveInputs<'_, T>, dims: &Dims) -> Self {
        let transpose = |x: &ArrayView<'_, T>, groups: Option<usize>| {
            groups.map(|g| transpose_last_two(x.data(), dims.batch * g, dims.states, dims.length))
        };
        Self {
            b: transpose(&inputs.b, dims.b_groups),
            c: transpose(&inputs.c, dims.c_groups),
        }
    }

    pub(crate) fn b<'s>(
        &'s self,
        inputs: &SelectiveInputs<'s, T>,
        dims: &Dims,
    ) -> Projection<'s, T> {
        match (&self.b, dims.b_groups) {
            (Some(data), Some(groups)) => Projection::PerStep { data, groups },
            _ => Projection::Fixed(inputs.b.data()),
        }
    }

    pub(crate) fn c<'s>(
        &'s self,
        inputs: &SelectiveInputs<'s, T>,
        dims: &Dims,
    ) -> Projection<'s, T> {
        match (&self.c, dims.c_groups) {
            (Some(data), Some(groups)) => Projection::PerStep { data, groups },
            _ => Projection::Fixed(inputs.c.data()),
        }
    }
}

/// `dt` for every step of one channel (bias and softplus applied), in one
/// pass that vectorises (the softplus has no library calls for f32).
#[inline(always)]
pub(crate) fn step_sizes<T: Real>(
    inputs: &SelectiveInputs<'_, T>,
    channel: usize,
    raw: &[T],
    out: &mut [T],
) {
    let bias = inputs
        .delta_bias
        .map_or(T::ZERO, |bias| bias.data()[channel]);
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

/// `sum_i x[i] * y[i]` with eight partial sums, so that it vectorises and
/// always adds in the same order.
#[inline(always)]
pub(crate) fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    let mut lanes = [T::ZERO; 8];
    let chunks = x.len() / 8;
    for i in 0..chunks {
        for j in 0..8 {
            lanes[j] = lanes[j] + x[i * 8 + j] * y[i * 8 + j];
        }
    }
    let mut total = T::ZERO;
    for i in chunks * 8..x.len() {
        total = total + x[i] * y[i];
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    total + ((quads[0] + quads[2]) + (quads[1] + quads[3]))
}

/// Runs the selective scan; see the module documentation.
pub fn selective_scan<T: Real>(
    inputs: SelectiveInputs<'_, T>,
) -> Result<SelectiveOutput<T>, ScanError> {
    let dims = validate(&inputs)?;
    let mut out = vec![T::ZERO; dims.batch * dims.dim * dims.length];
    let mut last_state = vec![T::ZERO; dims.batch * dims.dim * dims.states];
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
pub fn selective_scan_into<T: Real>(
    inputs: SelectiveInputs<'_, T>,
    out: &mut [T],
    last_state: &mut [T],
) -> Result<(), ScanError> {
    let dims = validate(&inputs)?;
    let check = |name, buffer: &[T], shape: &[usize]| {
        ArrayView::new(buffer, shape)
            .map(|_| ())
            .map_err(|source| ScanError::Shape { name, source })
    };
    check("out", out, &[dims.batch, dims.dim, dims.length])?;
    check(
        "last_state",
        last_state,
        &[dims.batch, dims.dim, dims.states],
    )?;
    scan_unchecked(&inputs, &dims, out, last_state);
    Ok(())
}

fn scan_unchecked<T: Real>(
    inputs: &SelectiveInputs<'_, T>,
    dims: &Dims,
    out: &mut [T],
    last_state: &mut [T],
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
pub(crate) struct Channel<'a, 'i, T> {
    pub inputs: &'a SelectiveInputs<'i, T>,
    pub dims: &'a Dims,
    pub b: Projection<'a, T>,
    pub c: Projection<'a, T>,
    pub batch: usize,
    pub channel: usize,
}

impl<T: Real> Channel<'_, '_, T> {
    pub(crate) fn a_row(&self) -> &[T] {
        let n = self.dims.states;
        &self.inputs.a.data()[self.channel * n..(self.channel + 1) * n]
    }

    pub(crate) fn sequence_offset(&self) -> usize {
        (self.batch * self.dims.dim + self.channel) * self.dims.length
    }

    pub(crate) fn d(&self) -> T {
        self.inputs.d.map_or(T::ZERO, |d| d.data()[self.channel])
    }
}

/// Scans one channel; `state` starts at zero and ends as the last state.
fn run_channel<T: Real>(
    ch: &Channel<'_, '_, T>,
    state: &mut [T],
    scratch: &mut Scratch<T>,
    out: &mut [T],
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
fn run_channel_states<T: Real>(
    ch: &Channel<'_, '_, T>,
    state: &mut [T],
    scratch: &mut Scratch<T>,
    out: &mut [T],
) {
    match ch.dims.states {
        16 => run_channel_body::<T, 16>(ch, state, scratch, out),
        _ => run_channel_body::<T, 0>(ch, state, scratch, out),
    }
}

/// The same code compiled for AVX2: twice the vector width of the x86-64
/// baseline. Without FMA contraction (Rust never fuses `a * b + c`), both
/// versions round identically, so results do not depend on the processor.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_channel_avx2<T: Real>(
    ch: &Channel<'_, '_, T>,
    state: &mut [T],
    scratch: &mut Scratch<T>,
    out: &mut [T],
) {
    run_channel_states(ch, state, scratch, out);
}

/// `STATES` is N when known at compile time, 0 otherwise.
#[inline(always)]
fn run_channel_body<T: Real, const STATES: usize>(
    ch: &Channel<'_, '_, T>,
    state: &mut [T],
    scratch: &mut Scratch<T>,
    out: &mut [T],
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
    state.fill(T::ZERO);
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
                *decay = (dt * a).exp_lanes();
                *drive = dt_u * b;
            }
        }
        for (k, (decay, drive)) in decay.chunks_exact(n).zip(drive.chunks_exact(n)).enumerate() {
            let t = start + k;
            for ((x, &decay), &drive) in state.iter_mut().zip(decay).zip(drive) {
                *x = decay.mul_add(*x, drive);
            }
            out[t] = dot(state, &c_rows.at(t)[..n]) + d * u[t];
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
pub(crate) struct Scratch<T> {
    steps: Vec<T>,
    gate: Vec<T>,
    decay: Vec<T>,
    drive: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(dims: &Dims) -> Self {
        Self {
            steps: vec![T::ZERO; dims.length],
            gate: vec![T::ZERO; dims.length],
            decay: vec![T::ZERO; CHUNK * dims.states],
            drive: vec![T::ZERO; CHUNK * dims.states],
        }
    }
}
