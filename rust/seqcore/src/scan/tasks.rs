//! How a `(batch, time, dim)` scan is split into parallel tasks.
//!
//! Each task owns one sequence and a block of columns for the whole time
//! axis, so tasks never share state and the result does not depend on the
//! number of threads. Whole rows are preferred: a row of one sequence is
//! contiguous in memory, so a task that owns it reads three (forward) or
//! five (backward) purely sequential streams. Rows are only cut into
//! column blocks when there are too few sequences to keep every thread busy.

use crate::parallel;

/// Smallest column block: 64 values keep each row access several cache
/// lines long, so hardware prefetching still works.
const MIN_BLOCK: usize = 64;
/// Aim for this many tasks per thread, to even out uneven progress.
const TASKS_PER_THREAD: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnBlocks {
    pub batch: usize,
    pub time: usize,
    pub dim: usize,
    pub width: usize,
    pub blocks_per_row: usize,
}

/// One task's share: sequence `batch_index`, columns `[start, start + width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    pub batch_index: usize,
    pub start: usize,
    pub width: usize,
}

impl ColumnBlocks {
    pub(crate) fn new(batch: usize, time: usize, dim: usize) -> Self {
        Self::with_threads(batch, time, dim, parallel::num_threads())
    }

    pub(crate) fn with_threads(batch: usize, time: usize, dim: usize, threads: usize) -> Self {
        let wanted_tasks = threads * TASKS_PER_THREAD;
        let blocks_wanted = if threads <= 1 || batch >= wanted_tasks {
            1
        } else {
            wanted_tasks.div_ceil(batch.max(1))
        };
        let max_blocks = (dim / MIN_BLOCK).max(1);
        let blocks = blocks_wanted.min(max_blocks);
        let width = dim.div_ceil(blocks).max(1);
        Self {
            batch,
            time,
            dim,
            width,
            blocks_per_row: dim.div_ceil(width),
        }
    }

    pub(crate) fn tasks(&self) -> usize {
        self.batch * self.blocks_per_row
    }

    pub(crate) fn block(&self, task: usize) -> Block {
        let batch_index = task / self.blocks_per_row;
        let start = (task % self.blocks_per_row) * self.width;
        Block {
            batch_index,
            start,
            width: self.width.min(self.dim - start),
        }
    }

    /// Flat offset of time step `t` of this block's first column.
    #[inline]
    pub(crate) fn row_offset(&self, block: Block, t: usize) -> usize {
        (block.batch_index * self.time + t) * self.dim + block.start
    }

    /// Flat offset of this block's first column in a `(batch, dim)` state.
    #[inline]
    pub(crate) fn state_offset(&self, block: Block) -> usize {
        block.batch_index * self.dim + block.start
    }

    /// The time index of the `k`-th step in scan order.
    #[inline]
    pub(crate) fn time_index(&self, k: usize, reverse: bool) -> usize {
        if reverse {
            self.time - 1 - k
        } else {
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(blocks: &ColumnBlocks) -> Vec<usize> {
        let mut hits = vec![0; blocks.batch * blocks.dim];
        for task in 0..blocks.tasks() {
            let b = blocks.block(task);
            for j in b.start..b.start + b.width {
                hits[b.batch_index * blocks.dim + j] += 1;
            }
        }
        hits
    }

    #[test]
    fn blocks_cover_every_column_once() {
        for &(batch, dim, threads) in &[
            (1, 1, 1),
            (1, 1000, 2),
            (3, 7, 8),
            (2, 4099, 16),
            (64, 1024, 2),
            (1, 63, 4),
        ] {
            let blocks = ColumnBlocks::with_threads(batch, 5, dim, threads);
            assert!(covered(&blocks).iter().all(|&h| h == 1), "{blocks:?}");
        }
    }

    #[test]
    fn whole_rows_when_batch_is_large() {
        let blocks = ColumnBlocks::with_threads(64, 5, 1024, 2);
        assert_eq!(blocks.blocks_per_row, 1);
        let blocks = ColumnBlocks::with_threads(1, 5, 1024, 2);
        assert_eq!(blocks.blocks_per_row, 8);
    }
}
