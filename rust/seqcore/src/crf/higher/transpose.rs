//! The scores of one position laid out by *next* label, for the backward
//! pass.
//!
//! A backward step reduces over an n-gram's last label `c`, which is the
//! contiguous index of the scores: a reduction along rows of `L`. Reducing
//! short rows needs a horizontal combine of vector lanes per row (shuffles
//! and a masked tail), which dominated the pass's profile at `L = 26`.
//! Transposed to `(L, states)`, the same reduction runs down columns,
//! vectorised along the states like the forward step, and the transpose is
//! one pass of plain loads and stores over data already in cache.

use super::float::CrfFloat;
use super::inputs::Chain;

/// Writes `out[c * rows + s] = scores[s * L + c] + messages[t(s, c)]` for
/// the `rows` live source states `s` and every next label `c`, where
/// `t(s, c) = (s mod L^(N-2)) * L + c` is the state the n-gram reaches.
/// `scratch` needs `L^(N-1)` entries. The sum is the same expression, with
/// the same rounding, as the scores plus the message in the natural layout.
#[inline(always)]
pub(crate) fn by_next_label<T: CrfFloat>(
    chain: &Chain<'_, T>,
    scores: &[T],
    messages: &[T],
    rows: usize,
    scratch: &mut [T],
    out: &mut [T],
) {
    let l = chain.labels;
    if chain.order == 1 {
        // One state: every n-gram returns to it.
        for (o, &x) in out[..l].iter_mut().zip(scores) {
            *o = x + messages[0];
        }
        return;
    }
    // States reached from a block of K = L^(N-2) consecutive sources (the
    // same remainder q, first labels a) repeat for every a: transpose the
    // messages once, `by_label[c * K + q] = messages[q * L + c]`.
    let k = chain.states / l;
    let span = k.min(rows);
    let by_label = &mut scratch[..l * span];
    for (q, row) in messages.chunks_exact(l).take(span).enumerate() {
        for (c, &m) in row.iter().enumerate() {
            by_label[c * span + q] = m;
        }
    }
    if span < 8 {
        // Short runs (first order, or the first positions): one pass per
        // label down all sources instead, the message repeating every span.
        for (c, m) in by_label.chunks_exact(span).enumerate() {
            let dst = &mut out[c * rows..(c + 1) * rows];
            if let [m] = *m {
                for (o, row) in dst.iter_mut().zip(scores.chunks_exact(l)) {
                    *o = row[c] + m;
                }
            } else {
                // A wrapping counter, not `s % span`: a division per entry
                // cost more than all the rest of the pass.
                let mut q = 0;
                for (o, row) in dst.iter_mut().zip(scores.chunks_exact(l)) {
                    *o = row[c] + m[q];
                    q = if q + 1 == span { 0 } else { q + 1 };
                }
            }
        }
        return;
    }
    // Block a: sources a*K..a*K+span, a contiguous `span x L` tile of the
    // scores (in L1), written out as L runs of `span`.
    for (a, tile) in scores[..rows * l].chunks_exact(span * l).enumerate() {
        for (c, m) in by_label.chunks_exact(span).enumerate() {
            let dst = &mut out[c * rows + a * span..][..span];
            // (Rows by chunks, not `step_by`: its iterator goes through a
            // closure that is not inlined into the AVX2 copy.)
            for ((o, row), &m) in dst.iter_mut().zip(tile.chunks_exact(l)).zip(m) {
                *o = row[c] + m;
            }
        }
    }
}
