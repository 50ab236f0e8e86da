//! The enumerations a search configuration takes: diversity kind, early
//! stopping and which transformers code path to reproduce.

/// The kind of diversity penalty of diverse beam search
/// (seqcore_search_config_set_diversity()).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqcoreDiversity {
    /// transformers' Hamming diversity: how many beams of earlier groups
    /// chose the token at this step (finished groups count as choosing the
    /// pad token). The default.
    Hamming = 0,
    /// How many times beams of earlier groups chose the token at any step so
    /// far.
    Cumulative = 1,
    /// How many running beams of earlier groups end in the n-gram the
    /// candidate would complete.
    Ngram = 2,
}

/// When a batch item stops (transformers' `early_stopping`;
/// seqcore_search_config_set_early_stopping()).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqcoreEarlyStopping {
    /// transformers' `False`, the default: stop once the best running beam,
    /// length-penalized at the current length, cannot beat the worst kept
    /// hypothesis.
    Heuristic = 0,
    /// transformers' `True`: stop as soon as `num_beams` (per group)
    /// hypotheses are finished.
    Finish = 1,
    /// transformers' `"never"`: like the heuristic, but with a positive
    /// length penalty the best running beam is penalized at the maximum
    /// length, so the stop is exact.
    Never = 2,
}

/// Which transformers code path the beam bookkeeping reproduces
/// (seqcore_search_config_set_semantics()).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqcoreSemantics {
    /// Vectorized for one group, scorer for several. The default.
    Auto = 0,
    /// transformers 5.18 `_beam_search`; one group only.
    Vectorized = 1,
    /// transformers 4.56 `_group_beam_search` (`BeamSearchScorer`).
    Scorer = 2,
}
