//! The f32 tiles of `gemm` in AVX-512 registers: 16 lanes per vector and
//! up to four vectors per tile.
//!
//! AVX-512 has 32 registers, so a tile of 6 labels by 4 vectors (24
//! accumulators, 4 rows of lanes, one broadcast weight) stays in registers
//! and covers 64 lanes; a block of 32 sequences is one tile of 6 x 2
//! instead of two AVX2 tiles, half the loads and broadcasts per
//! multiply-add. Lanes come in multiples of 8 (`Acc::LANES`, the AVX2
//! width the buffers are padded to), so the last vector of a tile may be
//! half full: it is loaded and stored under a mask, which leaves the lanes
//! past `nvec` untouched as the other kernels do.
//!
//! Each lane is the same chain of fused multiply-adds over `a = 0, 1, ...`
//! and the same epilogue as `gemm`'s portable and AVX2 tiles, so all three
//! give the same bits (tested below).

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::gemm::{label_blocks, Step};

/// Vectors of 16 lanes per tile, at most.
const NV: usize = 4;

/// One step (see `gemm`'s module documentation).
///
/// # Safety
/// The processor must have AVX-512 F and VL, AVX2 and FMA
/// (`crate::simd::has_avx512`).
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) unsafe fn step(step: &mut Step<'_, f32>) {
    let rows = step.labels * step.prefixes * step.sp;
    assert!(step.prev.len() >= rows && step.next.len() >= rows && step.w.len() >= rows);
    assert!(step.nvec * 8 <= step.sp && step.p.len() >= step.sp);
    assert!(step.w_prefixes >= 1 && step.w_prefixes <= step.prefixes);
    assert!(step.top.len() >= step.sp && step.low.len() >= step.sp);
    assert!(step.table.len() >= step.labels * step.labels * step.prefixes);
    let l = step.labels;
    // Vectors of 16 lanes, the last one half full when nvec is odd.
    let wide = step.nvec.div_ceil(2);
    for b in 0..step.prefixes {
        for v0 in (0..wide).step_by(NV) {
            let nv = NV.min(wide - v0);
            let half = v0 + nv == wide && step.nvec % 2 == 1;
            let mut block = b * l * l;
            for (c0, mr) in label_blocks(l) {
                let tile = Tile {
                    b,
                    c0,
                    first: v0 * 16,
                    block,
                    last: if half { 0x00ff } else { 0xffff },
                };
                // SAFETY: the bounds asserted above cover every lane the
                // masks let through.
                unsafe { dispatch(step, &tile, mr, nv) };
                block += mr * l;
            }
        }
    }
}

/// Where one tile lies.
struct Tile {
    /// State prefix.
    b: usize,
    /// First label of the block.
    c0: usize,
    /// First lane.
    first: usize,
    /// Offset of the block's weights in the packed table.
    block: usize,
    /// Mask of the tile's last vector.
    last: __mmask16,
}

#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn dispatch(step: &mut Step<'_, f32>, t: &Tile, mr: usize, nv: usize) {
    macro_rules! by_size {
        ($($m:literal),*) => {
            match (mr, nv) {
                $(
                    ($m, 1) => tile::<$m, 1>(step, t),
                    ($m, 2) => tile::<$m, 2>(step, t),
                    ($m, 3) => tile::<$m, 3>(step, t),
                    ($m, 4) => tile::<$m, 4>(step, t),
                )*
                _ => unreachable!("tiles are at most 6 labels by {NV} vectors"),
            }
        };
    }
    by_size!(1, 2, 3, 4, 5, 6)
}

#[inline]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn tile<const M: usize, const V: usize>(step: &mut Step<'_, f32>, t: &Tile) {
    let l = step.labels;
    let [in_b, stride, out_b, out_c] = step.rows();
    let mask: [__mmask16; V] = std::array::from_fn(|v| if v + 1 == V { t.last } else { 0xffff });
    let mut x = step.prev.as_ptr().add(t.b * in_b + t.first);
    let mut e = step.table.as_ptr().add(t.block);
    let mut acc = [[_mm512_setzero_ps(); V]; M];
    for _ in 0..l {
        let mut row = [_mm512_setzero_ps(); V];
        for v in 0..V {
            row[v] = _mm512_maskz_loadu_ps(mask[v], x.add(v * 16));
        }
        for i in 0..M {
            let ei = _mm512_set1_ps(*e.add(i));
            for v in 0..V {
                acc[i][v] = _mm512_fmadd_ps(row[v], ei, acc[i][v]);
            }
        }
        x = x.add(stride);
        e = e.add(M);
    }
    let zero = _mm512_setzero_ps();
    let a_min = _mm512_set1_ps(step.a_min);
    let (w_start, w_step) = step.w_rows(t.b, t.c0);
    for v in 0..V {
        let lane = t.first + v * 16;
        let m = mask[v];
        let p = _mm512_maskz_loadu_ps(m, step.p.as_ptr().add(lane));
        let top_at = step.top.as_mut_ptr().add(lane);
        let mut top = _mm512_maskz_loadu_ps(m, top_at);
        let mut under: __mmask16 = 0;
        for i in 0..M {
            let row = t.b * out_b + (t.c0 + i) * out_c + lane;
            let w_row = w_start + i * w_step + lane;
            let w = _mm512_maskz_loadu_ps(m, step.w.as_ptr().add(w_row));
            let scaled = _mm512_mul_ps(acc[i][v], p);
            let value = _mm512_mul_ps(scaled, w);
            _mm512_mask_storeu_ps(step.next.as_mut_ptr().add(row), m, value);
            // As the other tiles: small, though both factors are nonzero.
            under |= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(value, a_min)
                & _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_min_ps(scaled, w), zero);
            top = _mm512_max_ps(value, top);
        }
        _mm512_mask_storeu_ps(top_at, m, top);
        let low_at = step.low.as_mut_ptr().add(lane) as *mut i32;
        let low = _mm512_maskz_loadu_epi32(m, low_at);
        let low = _mm512_mask_or_epi32(low, under, low, _mm512_set1_epi32(1));
        _mm512_mask_storeu_epi32(low_at, m, low);
    }
}

#[cfg(test)]
mod tests {
    use super::super::gemm::{pack_table, pack_table_transposed, step_avx2, step_portable};
    use super::*;

    /// AVX-512 and AVX2 against the portable tiles, to the bit, over every tile
    /// shape and a half-full last vector, with zeros, tiny values and
    /// lanes past `nvec` left alone.
    #[test]
    fn same_bits_as_the_portable_tiles() {
        if !crate::simd::has_avx512() {
            return;
        }
        let mut seed = 11_u64;
        let mut draw = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            match (seed >> 33) % 10 {
                0 => 0.0,
                1 => 1e-30,
                _ => ((seed >> 40) % 100_000) as f32 / 3e4,
            }
        };
        for (labels, prefixes) in [(1, 1), (5, 1), (7, 3), (13, 2), (26, 1), (6, 6)] {
            for nvec in 1..=11 {
                let sp = 96;
                let states = labels * prefixes;
                let weights: Vec<f32> = (0..states * labels).map(|_| draw()).collect();
                for backward in [false, true] {
                    let table = if backward {
                        pack_table_transposed(&weights, labels, prefixes)
                    } else {
                        pack_table(&weights, labels, prefixes)
                    };
                    let prev: Vec<f32> = (0..states * sp).map(|_| draw()).collect();
                    let w: Vec<f32> = (0..states * sp).map(|_| draw()).collect();
                    let p: Vec<f32> = (0..sp).map(|s| [0.5, 0.0, 4.0][s % 3]).collect();
                    let run = |kernel: usize| {
                        let mut next = vec![f32::NAN; states * sp];
                        let mut top = vec![0.25_f32; sp];
                        let mut low = vec![0_u32; sp];
                        let mut s = Step {
                            labels,
                            prefixes,
                            sp,
                            nvec,
                            table: &table,
                            prev: &prev,
                            w: &w,
                            w_prefixes: if backward { prefixes } else { 1 },
                            p: &p,
                            a_min: 1e-3,
                            next: &mut next,
                            top: &mut top,
                            low: &mut low,
                            backward,
                        };
                        match kernel {
                            // SAFETY: detected above (AVX-512 implies AVX2).
                            0 => unsafe { step(&mut s) },
                            1 => unsafe { step_avx2(&mut s) },
                            _ => step_portable(&mut s),
                        }
                        let low: Vec<bool> = low.iter().map(|&x| x != 0).collect();
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        (bits(&next), bits(&top), low)
                    };
                    let portable = run(2);
                    assert_eq!(run(0), portable, "{labels} x {prefixes}, {nvec} vectors");
                    assert_eq!(
                        run(1),
                        portable,
                        "AVX2, {labels} x {prefixes}, {nvec} vectors"
                    );
                }
            }
        }
    }
}
