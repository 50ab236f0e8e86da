//! Checked conversions of the caller's raw pointers. Each function checks
//! what can be checked (NULL, alignment, sizes that fit in memory) and
//! relies on the caller's promise for the rest (that a non-NULL pointer
//! points to what the documentation says).

use std::mem::size_of;

use crate::error::{Failure, Outcome};

/// Fails unless `ptr` is non-NULL and aligned for `T`.
fn check<T>(ptr: *const T, name: &str) -> Outcome {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{name} is NULL")));
    }
    if !ptr.is_aligned() {
        return Err(Failure::invalid(format!(
            "{name} is not aligned for its element type"
        )));
    }
    Ok(())
}

/// Fails unless `len` elements of `T` fit in one allocation.
fn check_len<T>(len: usize, name: &str) -> Outcome {
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Failure::invalid(format!(
            "{name}: {len} elements do not fit in memory"
        ))),
    }
}

/// The handle behind `ptr`.
///
/// # Safety
///
/// `ptr` is NULL or points to a live `T` that nothing mutates during `'a`.
pub(crate) unsafe fn borrow<'a, T>(ptr: *const T, name: &str) -> Outcome<&'a T> {
    check(ptr, name)?;
    // SAFETY: `ptr` is non-NULL and aligned (checked above) and, by the
    // caller's promise, points to a live `T` not mutated during 'a.
    Ok(unsafe { &*ptr })
}

/// The handle behind `ptr`, mutably.
///
/// # Safety
///
/// `ptr` is NULL or points to a live `T` that nothing else accesses during
/// `'a`.
pub(crate) unsafe fn borrow_mut<'a, T>(ptr: *mut T, name: &str) -> Outcome<&'a mut T> {
    check(ptr, name)?;
    // SAFETY: `ptr` is non-NULL and aligned (checked above) and, by the
    // caller's promise, points to a live `T` nobody else accesses during 'a.
    Ok(unsafe { &mut *ptr })
}

/// The caller's input array of `len` elements (NULL allowed when `len` is 0).
///
/// # Safety
///
/// When `len > 0`, `ptr` is NULL or points to `len` initialized elements
/// that nothing mutates during `'a`.
pub(crate) unsafe fn read_slice<'a, T>(ptr: *const T, len: usize, name: &str) -> Outcome<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    check(ptr, name)?;
    check_len::<T>(len, name)?;
    // SAFETY: `ptr` is non-NULL and aligned, `len` elements fit in isize
    // bytes (checked above), and by the caller's promise they are
    // initialized and not mutated during 'a.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Stores `value` at `ptr`.
///
/// # Safety
///
/// `ptr` is NULL or valid for a write of one `T`.
pub(crate) unsafe fn write<T>(ptr: *mut T, value: T, name: &str) -> Outcome {
    check(ptr, name)?;
    // SAFETY: `ptr` is non-NULL and aligned (checked above) and, by the
    // caller's promise, valid for writes; `write` does not read or drop the
    // old (possibly uninitialized) value.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Checks an output buffer of `capacity` elements that must hold `needed`
/// ones: NULL is allowed only when `capacity` is 0; a capacity below
/// `needed` is [`BufferTooSmall`](crate::SeqcoreStatus::BufferTooSmall).
pub(crate) fn check_out<T>(ptr: *mut T, capacity: usize, needed: usize, name: &str) -> Outcome {
    if capacity > 0 {
        check(ptr.cast_const(), name)?;
        check_len::<T>(capacity, name)?;
    }
    if capacity < needed {
        return Err(Failure::too_small(name, needed, capacity));
    }
    Ok(())
}

/// Copies `src` into the output buffer `dst`, which [`check_out`] accepted
/// for at least `src.len()` elements.
///
/// # Safety
///
/// `dst` is valid for writes of `capacity >= src.len()` elements (when
/// `src` is not empty) and does not overlap `src`.
pub(crate) unsafe fn copy_out<T: Copy>(src: &[T], dst: *mut T) {
    if src.is_empty() {
        return;
    }
    // SAFETY: `src` is a valid slice; by the caller's promise `dst` is
    // non-NULL, aligned (check_out) and valid for `src.len()` writes, and
    // the two do not overlap. Raw copies never form a reference to the
    // caller's possibly uninitialized memory.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
}

/// The whole output protocol for one array: sets `*out_len` to `src.len()`,
/// then copies `src` into `dst` if `capacity` allows, else fails with
/// [`BufferTooSmall`](crate::SeqcoreStatus::BufferTooSmall).
///
/// # Safety
///
/// `out_len` is NULL or valid for a write; `dst` is NULL or valid for
/// writes of `capacity` elements and does not overlap `src`.
pub(crate) unsafe fn fill<T: Copy>(
    src: &[T],
    dst: *mut T,
    capacity: usize,
    out_len: *mut usize,
    name: &str,
) -> Outcome {
    check(out_len.cast_const(), "out_len")?;
    if capacity > 0 {
        check(dst.cast_const(), name)?;
    }
    // SAFETY: `out_len` is valid for a write, by the caller's promise.
    unsafe { write(out_len, src.len(), "out_len")? };
    check_out(dst, capacity, src.len(), name)?;
    // SAFETY: check_out accepted `dst` for `src.len()` elements, and the
    // caller promises it is valid for `capacity >= src.len()` writes and
    // does not overlap `src`.
    unsafe { copy_out(src, dst) };
    Ok(())
}
