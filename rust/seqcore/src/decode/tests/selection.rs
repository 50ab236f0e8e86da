//! The fast selection against sorting everything, on data full of ties.

use proptest::prelude::*;

use crate::decode::config::SearchConfig;
use crate::decode::rules::{BadWordContext, Penalty, Rules};
use crate::decode::score::add_scores;
use crate::decode::select::{
    merge_lists, select_dense, select_sparse, Candidate, RowAdjust, SparseRow, TopList,
};

/// A small value set makes ties common; -inf and both zeros included.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => prop::sample::select(vec![f32::NEG_INFINITY, -3.0, -2.5, -2.0, -1.0, -0.5, -0.0, 0.0]),
        1 => -20.0f32..0.0,
    ]
}

#[derive(Debug, Clone)]
struct Case {
    vocab: usize,
    rows: Vec<Vec<f32>>,
    beam_scores: Vec<f32>,
    keep: usize,
    banned: Vec<Vec<u32>>,
    static_bans: Vec<u32>,
    eos: Vec<u32>,
    ban_eos: bool,
    counts: Vec<(u32, u32)>,
    strength: f32,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..5, 2usize..40).prop_flat_map(|(beams, vocab)| {
        let token = 0..vocab as u32;
        (
            prop::collection::vec(prop::collection::vec(value(), vocab), beams),
            prop::collection::vec(value().prop_filter("a beam score", |v| *v > -1e30), beams),
            1..(beams * vocab).min(12) + 1,
            prop::collection::vec(prop::collection::btree_set(token.clone(), 0..4), beams),
            prop::collection::btree_set(token.clone(), 0..3),
            prop::collection::btree_set(token.clone(), 0..3),
            any::<bool>(),
            prop::collection::btree_map(token, 1u32..4, 0..4),
            prop::sample::select(vec![0.0f32, 0.5, 1.0, 2.5]),
        )
            .prop_map(
                move |(
                    rows,
                    beam_scores,
                    keep,
                    banned,
                    statics,
                    eos,
                    ban_eos,
                    counts,
                    strength,
                )| Case {
                    vocab,
                    rows,
                    beam_scores,
                    keep,
                    banned: banned
                        .into_iter()
                        .map(|b| b.into_iter().collect())
                        .collect(),
                    static_bans: statics.into_iter().collect(),
                    eos: eos.into_iter().collect(),
                    ban_eos,
                    counts: counts.into_iter().collect(),
                    strength,
                },
            )
    })
}

fn rules_of(case: &Case) -> Rules {
    let mut config = SearchConfig::new(case.vocab, 2);
    config.eos_token_ids = case.eos.clone();
    // A lone EOS bad word is ignored (as transformers does), so keep them
    // out of the static bans this test expects.
    config.bad_words_ids = case
        .static_bans
        .iter()
        .filter(|t| !case.eos.contains(t))
        .map(|&t| vec![t])
        .collect();
    Rules::new(&config, BadWordContext::PrefixFits)
}

/// Scores every element, sorts by (score desc, flat index asc), keeps the best.
fn naive(case: &Case) -> Vec<Candidate<f32>> {
    let mut all = Vec::new();
    for (beam, row) in case.rows.iter().enumerate() {
        for (token, &raw) in row.iter().enumerate() {
            let token = token as u32;
            let banned = case.banned[beam].contains(&token)
                || (case.static_bans.contains(&token) && !case.eos.contains(&token))
                || (case.ban_eos && case.eos.contains(&token));
            let count = case
                .counts
                .iter()
                .find(|(t, _)| *t == token)
                .map_or(0, |c| c.1);
            let value = if banned {
                f32::NEG_INFINITY
            } else if count > 0 && case.strength > 0.0 {
                raw - case.strength * count as f32
            } else {
                raw
            };
            all.push(Candidate {
                score: add_scores(value, case.beam_scores[beam]),
                value,
                token,
                beam,
            });
        }
    }
    let vocab = case.vocab;
    all.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap()
            .then((a.beam * vocab + a.token as usize).cmp(&(b.beam * vocab + b.token as usize)))
    });
    all.truncate(case.keep);
    all
}

fn adjust<'a>(case: &'a Case, rules: &'a Rules, beam: usize) -> RowAdjust<'a, f32> {
    let penalty = Penalty {
        strength: case.strength,
        this_step: &case.counts,
        earlier_steps: None,
    };
    RowAdjust {
        rules,
        ban_eos: case.ban_eos,
        banned: &case.banned[beam],
        penalty: (case.strength > 0.0 && penalty.is_active()).then_some(penalty),
    }
}

/// Bitwise comparison, so -0.0 and 0.0 are told apart.
fn bits(list: &[Candidate<f32>]) -> Vec<(u32, u32, u32, usize)> {
    list.iter()
        .map(|c| (c.score.to_bits(), c.value.to_bits(), c.token, c.beam))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn fast_selection_equals_sorting_everything(case in case(), order in any::<u64>()) {
        let rules = rules_of(&case);
        let want = naive(&case);

        // Rows sharing one list (one threshold).
        let mut shared = TopList::default();
        for (beam, row) in case.rows.iter().enumerate() {
            select_dense(row, beam, case.beam_scores[beam], &adjust(&case, &rules, beam), case.keep, &mut shared)
                .unwrap();
        }
        prop_assert_eq!(bits(&shared.entries), bits(&want));

        // One list per row, merged.
        let mut lists = vec![TopList::default(); case.rows.len()];
        for (beam, row) in case.rows.iter().enumerate() {
            select_dense(row, beam, case.beam_scores[beam], &adjust(&case, &rules, beam), case.keep, &mut lists[beam])
                .unwrap();
        }
        let mut merged = Vec::new();
        merge_lists(lists.iter(), case.vocab, case.keep, &mut merged);
        prop_assert_eq!(bits(&merged), bits(&want));

        // Every token as a host candidate, in a shuffled order.
        let mut sparse = TopList::default();
        let mut seen = Vec::new();
        for (beam, row) in case.rows.iter().enumerate() {
            let mut tokens: Vec<u32> = (0..case.vocab as u32).collect();
            tokens.sort_by_key(|&t| super::support::mix(order ^ t as u64));
            let values: Vec<f32> = tokens.iter().map(|&t| row[t as usize]).collect();
            let row = SparseRow { tokens: &tokens, values: &values, vocab: case.vocab };
            select_sparse(row, beam, case.beam_scores[beam], &adjust(&case, &rules, beam), case.keep, &mut sparse, &mut seen)
                .unwrap();
        }
        prop_assert_eq!(bits(&sparse.entries), bits(&want));
    }
}
