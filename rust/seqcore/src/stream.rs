//! Writing large outputs with non-temporal (streaming) stores.
//!
//! A normal store to memory that is not in cache first reads the line
//! (read-for-ownership), so a kernel that writes a large output moves each
//! output byte twice. Streaming stores write whole lines straight to memory
//! without that read, which is how `memcpy` reaches its bandwidth on large
//! copies. The memory-bound kernels compute each row in a small buffer
//! that stays in L1 and then stream it to the output, when the output is
//! too large to stay in cache anyway (below [`STREAM_MIN_BYTES`] a normal
//! store is better: the caller will read the result from cache).
//!
//! x86-64 only (SSE2, which every x86-64 processor has); elsewhere this is
//! a plain copy.

/// Outputs at least this large are written with streaming stores.
pub(crate) const STREAM_MIN_BYTES: usize = 8 << 20;

/// Whether an output of `elements` values of `T` should be streamed.
pub(crate) fn should_stream<T>(elements: usize) -> bool {
    elements.saturating_mul(std::mem::size_of::<T>()) >= STREAM_MIN_BYTES
}

/// Copies `src` into `dst` (same length), streaming when `stream` is set.
///
/// After the last streamed copy of a task, call [`fence`] so that the
/// stores are visible to whoever reads the output next.
#[inline]
pub(crate) fn copy_row<T: Copy>(dst: &mut [T], src: &[T], stream: bool) {
    assert_eq!(dst.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    if stream {
        // SAFETY: `dst` and `src` are valid for `len` elements of `T`, and
        // `T: Copy` has no drop glue, so a bytewise copy is a valid move.
        unsafe {
            stream_bytes(
                dst.as_mut_ptr().cast::<u8>(),
                src.as_ptr().cast::<u8>(),
                std::mem::size_of_val(src),
            );
        }
        return;
    }
    let _ = stream;
    dst.copy_from_slice(src);
}

/// Orders earlier streaming stores before any later store (`sfence`).
#[inline]
pub(crate) fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: sfence has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

/// # Safety
/// `dst` and `src` must be valid for `len` bytes and must not overlap.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn stream_bytes(dst: *mut u8, src: *const u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
    // Plain-copy the bytes up to the first 16-byte aligned destination.
    let head = dst.align_offset(16).min(len);
    std::ptr::copy_nonoverlapping(src, dst, head);
    let mut offset = head;
    while offset + 16 <= len {
        let value = _mm_loadu_si128(src.add(offset).cast::<__m128i>());
        _mm_stream_si128(dst.add(offset).cast::<__m128i>(), value);
        offset += 16;
    }
    std::ptr::copy_nonoverlapping(src.add(offset), dst.add(offset), len - offset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_offset_and_length() {
        let src: Vec<u8> = (0..200).map(|i| i as u8).collect();
        for start in 0..17 {
            for len in [0, 1, 15, 16, 17, 31, 64, 100, 150] {
                let mut dst = [0_u8; 200];
                copy_row(&mut dst[start..start + len], &src[..len], true);
                fence();
                assert_eq!(&dst[start..start + len], &src[..len]);
                assert!(dst[..start].iter().all(|&x| x == 0));
                assert!(dst[start + len..].iter().all(|&x| x == 0));
            }
        }
    }
}
