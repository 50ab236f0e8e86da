//! Forward linear-scan bandwidth against a plain copy, from Rust alone.
//!
//! `cargo run --release -p seqcore --example scan_bandwidth [batch time dim]`
//! Both write into buffers that are already mapped, so page faults are not
//! counted; `benches/scan_linear.py` measures the Python path end to end.

use std::time::Instant;

use seqcore::scan::{linear_scan_backward_into, linear_scan_into, LinearScanGradsMut};
use seqcore::ArrayView;

fn median_seconds(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shape = match args[..] {
        [b, t, d] => [b, t, d],
        _ => [8, 4096, 1024],
    };
    let n: usize = shape.iter().product();
    let a: Vec<f32> = (0..n).map(|i| (i % 97) as f32 / 97.0).collect();
    let b: Vec<f32> = (0..n).map(|i| (i % 89) as f32 / 89.0).collect();
    let mut h = vec![0.0_f32; n];
    let (mut ga, mut gb) = (vec![0.0_f32; n], vec![0.0_f32; n]);
    let mut gh0 = vec![0.0_f32; shape[0] * shape[2]];
    let mut copy = vec![0.0_f32; n];
    let av = ArrayView::new(&a, &shape).unwrap();
    let bv = ArrayView::new(&b, &shape).unwrap();
    let copy_s = median_seconds(|| copy.copy_from_slice(&a));
    // The same copy split over the pool's threads: the machine's ceiling
    // for any memory-bound kernel at this many threads.
    let threads = seqcore::parallel::num_threads();
    let chunk = n.div_ceil(threads);
    let copy_parallel_s = median_seconds(|| {
        std::thread::scope(|scope| {
            for (dst, src) in copy.chunks_mut(chunk).zip(a.chunks(chunk)) {
                scope.spawn(move || dst.copy_from_slice(src));
            }
        });
    });
    let fwd_s = median_seconds(|| linear_scan_into(av, bv, None, false, &mut h).unwrap());
    let bwd_s = median_seconds(|| {
        let out = LinearScanGradsMut {
            grad_a: &mut ga,
            grad_b: &mut gb,
            grad_h0: &mut gh0,
        };
        linear_scan_backward_into(
            av,
            ArrayView::new(&h, &shape).unwrap(),
            bv,
            None,
            false,
            out,
        )
        .unwrap();
    });
    let copy_bw = 8.0 * n as f64 / copy_s / 1e9;
    let fwd_bw = 12.0 * n as f64 / fwd_s / 1e9;
    println!(
        "shape {shape:?}, {} threads",
        seqcore::parallel::num_threads()
    );
    println!(
        "copy     {:8.2} ms  {copy_bw:6.1} GB/s (read + write), one thread",
        copy_s * 1e3
    );
    let parallel_bw = 8.0 * n as f64 / copy_parallel_s / 1e9;
    println!(
        "copy     {:8.2} ms  {parallel_bw:6.1} GB/s with {threads} threads",
        copy_parallel_s * 1e3
    );
    println!(
        "forward  {:8.2} ms  {fwd_bw:6.1} GB/s at 12 B/elem = {:.0}% of copy",
        fwd_s * 1e3,
        100.0 * fwd_bw / copy_bw
    );
    println!(
        "backward {:8.2} ms  = {:.2}x forward",
        bwd_s * 1e3,
        bwd_s / fwd_s
    );
}
