//! Linear-chain CRF speed from Rust alone, one thread unless
//! `SEQCORE_NUM_THREADS` says otherwise.
//!
//! `cargo run --release -p seqcore --example crf_linear_speed [batch length labels]`
//! (default 32 128 50, float32, random scores in [-3, 3]; milliseconds per
//! call, best of several runs). `ONLY=name REPS=n` times one kernel n times.

use std::hint::black_box;
use std::time::Instant;

use seqcore::crf::linear::LinearCrf;
use seqcore::ArrayView;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let [batch, length, labels] = match args[..] {
        [b, t, l] => [b, t, l],
        _ => [32, 128, 50],
    };
    if std::env::var(seqcore::parallel::THREADS_ENV_VAR).is_err() {
        seqcore::parallel::set_num_threads(1).unwrap();
    }
    let mut state = 12345u64;
    let mut next = |scale: f32| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    };
    let emissions: Vec<f32> = (0..batch * length * labels).map(|_| next(3.0)).collect();
    let transitions: Vec<f32> = (0..labels * labels).map(|_| next(1.0)).collect();
    let start: Vec<f32> = (0..labels).map(|_| next(1.0)).collect();
    let end: Vec<f32> = (0..labels).map(|_| next(1.0)).collect();
    let tags: Vec<u32> = (0..batch * length)
        .map(|_| (next(0.5) + 0.5).mul_add(labels as f32, 0.0) as u32 % labels as u32)
        .collect();
    let shape = [batch, length, labels];
    let tshape = [labels, labels];
    let crf = LinearCrf::new(
        ArrayView::new(&emissions, &shape).unwrap(),
        None,
        ArrayView::new(&transitions, &tshape).unwrap(),
        &start,
        &end,
    )
    .unwrap();
    let tag_shape = [batch, length];
    let tags = ArrayView::new(&tags, &tag_shape).unwrap();
    // ONLY=name times one kernel (REPS times), e.g. under a profiler.
    let only = std::env::var("ONLY").ok();
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let time = |name: &str, f: &dyn Fn()| {
        if only.as_deref().is_some_and(|only| only != name) {
            return;
        }
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let start = Instant::now();
            f();
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!("{name:>18}: {:8.3} ms", best * 1e3);
    };
    println!(
        "batch {batch}, length {length}, {labels} labels, f32, {} thread(s)",
        seqcore::parallel::num_threads()
    );
    time("log_partition", &|| {
        black_box(crf.log_partition());
    });
    time("nll_and_grad", &|| {
        black_box(crf.nll_and_grad(tags, None).unwrap());
    });
    time("marginals", &|| {
        black_box(crf.marginals(false));
    });
    time("marginals + edges", &|| {
        black_box(crf.marginals(true));
    });
    time("viterbi", &|| {
        black_box(crf.viterbi());
    });
    time("nbest(5)", &|| {
        black_box(crf.nbest(5).unwrap());
    });
    time("nbest(50)", &|| {
        black_box(crf.nbest(50).unwrap());
    });
}
