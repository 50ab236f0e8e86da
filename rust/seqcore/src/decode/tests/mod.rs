//! Tests of the search: against transformers' own output, against a naive
//! reference, and of the documented properties.

mod support;

mod equivalences;
mod hf_fixtures;
mod selection;
mod speed;
