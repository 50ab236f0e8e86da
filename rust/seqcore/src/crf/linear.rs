//! The first-order linear-chain CRF (to be written).
