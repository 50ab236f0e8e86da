//! Tests of the search: against transformers' own output, against a naive
//! reference, and of the documented properties.

mod support;

mod behaviour;
mod diversity;
mod equivalences;
mod errors;
mod hf_fixtures;
mod selection;
mod speed;
