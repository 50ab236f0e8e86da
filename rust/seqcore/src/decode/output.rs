//! What a step and a finished search hand back.

/// What one step did, for the host to update its model state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepOutput {
    /// The token appended to each new active row.
    pub tokens: Vec<u32>,
    /// For each new active row, the index into the *previous*
    /// [`active_rows`](super::SearchState::active_rows) list of the row it
    /// continues: gather the KV cache with it (`cache[parents]`).
    pub parents: Vec<usize>,
    /// The new active global rows (`batch_item * num_beams + beam`), in the
    /// order the next step's input must follow. Empty when the search is done.
    pub rows: Vec<usize>,
}

/// One finished hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis<T> {
    /// Generated tokens only, ending with the EOS token when it ended on one.
    pub tokens: Vec<u32>,
    /// transformers' `sequences_scores`: the sum of `token_scores` divided by
    /// `tokens.len() ** length_penalty` (greedy search uses the same formula;
    /// transformers reports no score there).
    pub score: T,
    /// What each token added to the beam score: its log-prob after bans and
    /// diversity penalty (transformers' transition scores).
    pub token_scores: Vec<T>,
    /// transformers' `beam_indices`: for each token, the global row
    /// (`batch_item * num_beams + beam`) it was appended to.
    pub beam_indices: Vec<usize>,
    /// The beam group that produced it.
    pub group: usize,
    /// False only for a placeholder that transformers 5.18 returns when a
    /// batch item has fewer finished hypotheses than requested, which needs
    /// scores near -1e9 (e.g. nearly every token banned); its score is then
    /// about -1e9 and its tokens may be empty.
    pub finished: bool,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutput<T> {
    /// Per batch item, the best `num_return_sequences` hypotheses, best first
    /// (transformers' output rows).
    pub sequences: Vec<Vec<Hypothesis<T>>>,
    /// Per batch item and group, every hypothesis the group kept (up to
    /// `beams_per_group`), best first.
    pub per_group: Vec<Vec<Vec<Hypothesis<T>>>>,
}
