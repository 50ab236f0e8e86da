//! The selective scan's arguments: their shapes, their validation, and
//! the input-dependent B and C rearranged for the kernels.

use super::error::ScanError;
use super::state::StateElement;
use crate::array::{Array, ArrayView};

/// Inputs of the selective scan (see the module documentation for shapes).
#[derive(Debug, Clone, Copy)]
///
/// `S` is the state type: real (f32, f64) or complex; `u`, `delta`, `D`,
/// `z` and `delta_bias` are always real (`S::Real`).
pub struct SelectiveInputs<'a, S: StateElement> {
    pub u: ArrayView<'a, S::Real>,
    pub delta: ArrayView<'a, S::Real>,
    pub a: ArrayView<'a, S>,
    pub b: ArrayView<'a, S>,
    pub c: ArrayView<'a, S>,
    pub d: Option<ArrayView<'a, S::Real>>,
    pub z: Option<ArrayView<'a, S::Real>>,
    pub delta_bias: Option<ArrayView<'a, S::Real>>,
    pub delta_softplus: bool,
}

/// Output of [`selective_scan`](super::selective_scan).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveOutput<S: StateElement> {
    /// `(batch, dim, length)`
    pub out: Array<S::Real>,
    /// `(batch, dim, N)`: the state after the last step.
    pub last_state: Array<S>,
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

pub(crate) fn validate<S: StateElement>(
    inputs: &SelectiveInputs<'_, S>,
) -> Result<Dims, ScanError> {
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
    if states == 0 {
        return Err(ScanError::NoStates { dim });
    }
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

impl<T: StateElement> Projections<T> {
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
