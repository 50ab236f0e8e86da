//! Back-pointers: every chosen token is stored once, with its parent, so a
//! step costs the same at length 10 and 10,000 (no sequence is copied).

use super::error::DecodeError;
use super::score::Score;

/// Marks "no parent": the node's parent is the prompt.
pub(crate) const NO_NODE: u32 = u32::MAX;

/// One generated token of one beam.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node<T> {
    /// The node of the previous generated token, or [`NO_NODE`].
    pub parent: u32,
    pub token: u32,
    /// transformers' `beam_indices` entry: the global row
    /// (`batch_item * num_beams + beam`) the token was appended to.
    pub parent_row: u32,
    /// What the token added to the beam score (the processed log-prob).
    pub token_score: T,
}

/// The generated tokens of a finished hypothesis, newest first in the chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Unrolled<T> {
    pub tokens: Vec<u32>,
    pub token_scores: Vec<T>,
    pub beam_indices: Vec<usize>,
}

/// All nodes of a search, in creation order.
#[derive(Debug, Clone, Default)]
pub(crate) struct History<T> {
    nodes: Vec<Node<T>>,
}

impl<T: Score> History<T> {
    /// Checks, before a step changes anything, that `additional` more nodes
    /// fit under the u32 ids.
    pub fn ensure_room(&self, additional: usize) -> Result<(), DecodeError> {
        if self.nodes.len() + additional >= NO_NODE as usize {
            return Err(DecodeError::Config(
                "the search would store more than 2^32 - 2 tokens, the most it can hold".into(),
            ));
        }
        Ok(())
    }

    /// Stores a node and returns its id (room was checked by
    /// [`ensure_room`](Self::ensure_room)).
    pub fn push(&mut self, node: Node<T>) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        id
    }

    /// The node with this id.
    pub fn node(&self, id: u32) -> &Node<T> {
        &self.nodes[id as usize]
    }

    /// Writes the last `count` tokens of `prompt` followed by the chain that
    /// ends at `last` (fewer when the whole sequence is shorter), oldest
    /// first. `last` may be [`NO_NODE`] (prompt only).
    pub fn tail_tokens(&self, last: u32, prompt: &[u32], count: usize, out: &mut Vec<u32>) {
        out.clear();
        let mut id = last;
        while out.len() < count && id != NO_NODE {
            let node = self.node(id);
            out.push(node.token);
            id = node.parent;
        }
        let from_prompt = (count - out.len()).min(prompt.len());
        out.extend(prompt[prompt.len() - from_prompt..].iter().rev());
        out.reverse();
    }

    /// Writes the whole sequence: `prompt` then the chain ending at `last`.
    pub fn full_sequence(&self, last: u32, prompt: &[u32], out: &mut Vec<u32>) {
        self.tail_tokens(last, prompt, usize::MAX, out);
    }

    /// The generated tokens of the hypothesis that ends with `tail` (a node
    /// that may or may not be stored itself), oldest first.
    pub fn unroll(&self, tail: Option<&Node<T>>) -> Unrolled<T> {
        let mut out = Unrolled::default();
        let mut next = tail.copied();
        while let Some(node) = next {
            out.tokens.push(node.token);
            out.token_scores.push(node.token_score);
            out.beam_indices.push(node.parent_row as usize);
            next = (node.parent != NO_NODE).then(|| *self.node(node.parent));
        }
        out.tokens.reverse();
        out.token_scores.reverse();
        out.beam_indices.reverse();
        out
    }
}
