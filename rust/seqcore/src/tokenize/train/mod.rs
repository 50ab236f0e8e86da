//! Learning BPE merges from word counts.
