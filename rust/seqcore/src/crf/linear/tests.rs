//! Tests of the linear-chain kernels against plain references.

mod decode;
mod marginals;
mod nll;
mod reference;
mod special;
mod tiers;
