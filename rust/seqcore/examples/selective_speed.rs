//! Selective-scan forward and backward speed from Rust alone.
//!
//! `cargo run --release -p seqcore --example selective_speed [dim length states]`
//! (batch 1, input-dependent B and C, softplus on, one thread unless
//! `SEQCORE_NUM_THREADS` says otherwise).

use std::time::Instant;

use seqcore::scan::{selective_scan, selective_scan_backward, SelectiveInputs};
use seqcore::ArrayView;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let [dim, length, states] = match args[..] {
        [d, l, n] => [d, l, n],
        _ => [1536, 2048, 16],
    };
    let softplus = std::env::var("NO_SOFTPLUS").is_err();
    let wave = |n: usize, k: usize| -> Vec<f32> {
        (0..n)
            .map(|i| (((i * k) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    };
    let seq = [1, dim, length];
    let (u, delta) = (wave(dim * length, 7), wave(dim * length, 13));
    let a: Vec<f32> = wave(dim * states, 3)
        .iter()
        .map(|x| -(x.abs() + 0.1))
        .collect();
    let (b, c) = (wave(states * length, 11), wave(states * length, 17));
    let proj = [1, 1, states, length];
    let a_shape = [dim, states];
    let inputs = SelectiveInputs {
        u: ArrayView::new(&u, &seq).unwrap(),
        delta: ArrayView::new(&delta, &seq).unwrap(),
        a: ArrayView::new(&a, &a_shape).unwrap(),
        b: ArrayView::new(&b, &proj).unwrap(),
        c: ArrayView::new(&c, &proj).unwrap(),
        d: None,
        z: None,
        delta_bias: None,
        delta_softplus: softplus,
    };
    let elements = (dim * length) as f64;
    for _ in 0..3 {
        let start = Instant::now();
        let out = selective_scan(inputs).unwrap();
        let forward = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let grads = selective_scan_backward(inputs, out.out.view(), None).unwrap();
        let backward = start.elapsed().as_secs_f64();
        println!(
            "forward {:7.1} ms ({:5.1} M elem/s)   backward {:7.1} ms   [{}]",
            forward * 1e3,
            elements / forward / 1e6,
            backward * 1e3,
            grads.a.data[0]
        );
    }
}
