//! Runtime choice of the widest vector instructions the processor has.
//!
//! The kernels are plain Rust over fixed-size arrays, written so that LLVM
//! vectorises them. Compiled for the x86-64 baseline they get 128-bit SSE2;
//! [`widest!`] compiles one kernel body three times (AVX-512, AVX2 + FMA,
//! baseline) and picks one per call from the processor's features (the
//! detection is cached by the standard library, so a call costs an atomic
//! load). All three compute the same bits: LLVM does not reassociate or
//! fuse floating-point operations on its own, so each output is reduced in
//! the order the source gives whatever the vector width, and a multiply-add
//! is fused only where the source writes `mul_add`.

/// Defines `fn $name<generics>(args) -> ret` that runs `$body(args)`
/// compiled for the widest of AVX-512, AVX2 + FMA and the baseline that the
/// processor supports. `$body` and everything hot it calls must be
/// `#[inline(always)]` to be compiled for the wider target.
///
/// ```ignore
/// widest!(
///     /// Docs of the dispatching function.
///     pub(crate) fn forward<T: Float>(x: &[T], out: &mut [T]) -> () => forward_body
/// );
/// ```
macro_rules! widest {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$($g:ident: $bound:path),+>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty
            => $body:path $(,)?
    ) => {
        $(#[$meta])*
        $vis fn $name<$($g: $bound),+>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512<$($g: $bound),+>($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $bound),+>($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if $crate::simd::has_avx512() {
                    // SAFETY: the processor supports the features just detected.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::simd::has_avx2() {
                    // SAFETY: the processor supports the features just detected.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use widest;

/// AVX-512 (foundation and 128/256-bit forms) with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && has_avx2()
}

/// AVX2 with FMA.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    /// The body every build runs; its bits must not depend on the build.
    #[inline(always)]
    fn sum_of_products<
        T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
    >(
        x: &[T],
        y: &[T],
    ) -> [T; 16] {
        let mut acc = [T::default(); 16];
        for (xs, ys) in x.chunks_exact(16).zip(y.chunks_exact(16)) {
            for k in 0..16 {
                acc[k] = acc[k] + xs[k] * ys[k];
            }
        }
        acc
    }

    trait Num: Copy + Default + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {}
    impl Num for f32 {}

    widest!(fn dispatched<T: Num>(x: &[T], y: &[T]) -> [T; 16] => sum_of_products);

    #[test]
    fn every_build_gives_the_same_bits() {
        let x: Vec<f32> = (0..16 * 37)
            .map(|i| (i as f32 * 0.37).sin() * 1e3)
            .collect();
        let y: Vec<f32> = (0..16 * 37)
            .map(|i| (i as f32 * 0.11).cos() / 3.0)
            .collect();
        assert_eq!(dispatched(&x, &y), sum_of_products(&x, &y));
    }
}
