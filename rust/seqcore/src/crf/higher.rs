//! Higher-order linear-chain CRFs (to be written).
