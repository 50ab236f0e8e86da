//! `SeqcoreSearchConfig`: what a search does.
//!
//! Setters store values as given; seqcore_search_config_validate() and
//! seqcore_search_new() check them together. A setter fails only for what
//! cannot be stored at all: a NULL pointer or an unknown enum value.

use std::ffi::c_int;

use seqcore::decode::{Diversity, EarlyStopping, SearchConfig, Semantics};

use crate::config_kinds::{SeqcoreDiversity, SeqcoreEarlyStopping, SeqcoreSemantics};
use crate::error::{guard, guard_free, Failure, Outcome, SeqcoreStatus};
use crate::ptr::{borrow, borrow_mut, read_slice, write};
use crate::SEQCORE_NO_TOKEN;

/// A search configuration (opaque). Made by seqcore_search_config_new(),
/// released by seqcore_search_config_free().
pub struct SeqcoreSearchConfig {
    pub(crate) inner: SearchConfig,
}

/// Applies `change` to the configuration behind `config`.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
unsafe fn update(
    config: *mut SeqcoreSearchConfig,
    change: impl FnOnce(&mut SearchConfig) -> Outcome,
) -> SeqcoreStatus {
    guard(|| {
        // SAFETY: `config` is NULL or a live handle used only here, by the
        // caller's promise.
        let config = unsafe { borrow_mut(config, "config")? };
        change(&mut config.inner)
    })
}

/// Makes a configuration with transformers' defaults for `num_beams` beams
/// over `vocab_size` tokens: one group, no diversity penalty (Hamming
/// kind), length penalty 1, heuristic early stopping, one returned
/// sequence, no EOS, no pad id, `min_new_tokens` 0, `max_new_tokens` 20, no
/// n-gram ban, no bad words, automatic semantics. `num_beams` 1 is greedy
/// search.
///
/// @param vocab_size The vocabulary size: the width of every log-prob row.
/// @param num_beams Beams per batch item.
/// @param out_config Receives the new handle; free it with
///   seqcore_search_config_free().
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `out_config` is NULL. The values are checked later, by
///   seqcore_search_config_validate() and seqcore_search_new().
///
/// # Safety
///
/// `out_config` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_new(
    vocab_size: usize,
    num_beams: usize,
    out_config: *mut *mut SeqcoreSearchConfig,
) -> SeqcoreStatus {
    guard(|| {
        if out_config.is_null() {
            return Err(Failure::invalid("out_config is NULL"));
        }
        let handle = Box::into_raw(Box::new(SeqcoreSearchConfig {
            inner: SearchConfig::new(vocab_size, num_beams),
        }));
        // SAFETY: `out_config` is valid for writing a pointer, by the
        // caller's promise (NULL was refused above).
        unsafe { write(out_config, handle, "out_config") }
    })
}

/// Releases a configuration. NULL is a no-op; freeing twice is undefined
/// behaviour. Searches made from it are not affected (they hold a copy).
///
/// @param config The handle, or NULL.
///
/// # Safety
///
/// `config` is NULL or a handle from seqcore_search_config_new() that was
/// not freed yet.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_free(config: *mut SeqcoreSearchConfig) {
    guard_free(|| {
        if !config.is_null() {
            // SAFETY: a non-NULL `config` came from Box::into_raw in
            // seqcore_search_config_new and was not freed, by the caller's
            // promise; ownership returns to the Box, which drops it.
            drop(unsafe { Box::from_raw(config) });
        }
    })
}

/// Checks that the configuration describes a search that can run (the same
/// check seqcore_search_new() makes).
///
/// @param config The configuration.
/// @return SEQCORE_STATUS_OK, SEQCORE_STATUS_CONFIG_ERROR (see
///   seqcore_last_error() for which value is wrong), or
///   SEQCORE_STATUS_INVALID_ARGUMENT when `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_validate(
    config: *const SeqcoreSearchConfig,
) -> SeqcoreStatus {
    guard(|| {
        // SAFETY: `config` is NULL or a live handle, by the caller's promise.
        let config = unsafe { borrow(config, "config")? };
        Ok(config.inner.validate()?)
    })
}

/// Sets the number of beams per batch item (1: greedy search).
///
/// @param config The configuration.
/// @param num_beams Beams per batch item, at least 1.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_num_beams(
    config: *mut SeqcoreSearchConfig,
    num_beams: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.num_beams = num_beams;
            Ok(())
        })
    }
}

/// Sets the vocabulary size: the width of every log-prob row.
///
/// @param config The configuration.
/// @param vocab_size The vocabulary size, in 1..=2^32-1.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_vocab_size(
    config: *mut SeqcoreSearchConfig,
    vocab_size: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.vocab_size = vocab_size;
            Ok(())
        })
    }
}

/// Sets the number of groups of diverse beam search; it must divide the
/// number of beams. 1 (the default) is plain beam search.
///
/// @param config The configuration.
/// @param num_groups The number of groups, at least 1.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_num_groups(
    config: *mut SeqcoreSearchConfig,
    num_groups: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.num_groups = num_groups;
            Ok(())
        })
    }
}

/// Sets the diversity strength (transformers' `diversity_penalty`): the
/// penalty per count subtracted from a later group's log-probs. Must be
/// finite and >= 0; 0 (the default) turns the penalty off.
///
/// @param config The configuration.
/// @param strength The strength.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_diversity_strength(
    config: *mut SeqcoreSearchConfig,
    strength: f64,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.diversity_strength = strength;
            Ok(())
        })
    }
}

/// Sets the kind of diversity penalty.
///
/// @param config The configuration.
/// @param kind A SeqcoreDiversity value.
/// @param ngram_size The n of SEQCORE_DIVERSITY_NGRAM (at least 1); ignored
///   for the other kinds.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL or `kind` is not a SeqcoreDiversity value.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_diversity(
    config: *mut SeqcoreSearchConfig,
    kind: c_int,
    ngram_size: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.diversity = match kind {
                k if k == SeqcoreDiversity::Hamming as c_int => Diversity::Hamming,
                k if k == SeqcoreDiversity::Cumulative as c_int => Diversity::Cumulative,
                k if k == SeqcoreDiversity::Ngram as c_int => Diversity::Ngram(ngram_size),
                other => {
                    return Err(Failure::invalid(format!(
                        "diversity kind {other} is not a SeqcoreDiversity value"
                    )))
                }
            };
            Ok(())
        })
    }
}

/// Sets the length penalty: a finished hypothesis scores
/// `sum of log-probs / length ^ length_penalty`. Must be finite; default 1.
///
/// @param config The configuration.
/// @param length_penalty The exponent.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_length_penalty(
    config: *mut SeqcoreSearchConfig,
    length_penalty: f64,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.length_penalty = length_penalty;
            Ok(())
        })
    }
}

/// Sets when a batch item stops. Whatever the mode, an item also stops at
/// `max_new_tokens`.
///
/// @param config The configuration.
/// @param mode A SeqcoreEarlyStopping value.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL or `mode` is not a SeqcoreEarlyStopping value.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_early_stopping(
    config: *mut SeqcoreSearchConfig,
    mode: c_int,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.early_stopping = match mode {
                m if m == SeqcoreEarlyStopping::Heuristic as c_int => EarlyStopping::Heuristic,
                m if m == SeqcoreEarlyStopping::Finish as c_int => EarlyStopping::Finish,
                m if m == SeqcoreEarlyStopping::Never as c_int => EarlyStopping::Never,
                other => {
                    return Err(Failure::invalid(format!(
                        "early stopping mode {other} is not a SeqcoreEarlyStopping value"
                    )))
                }
            };
            Ok(())
        })
    }
}

/// Sets how many hypotheses each batch item returns, in 1..=num_beams
/// (default 1).
///
/// @param config The configuration.
/// @param num_return_sequences Hypotheses per batch item.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_num_return_sequences(
    config: *mut SeqcoreSearchConfig,
    num_return_sequences: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.num_return_sequences = num_return_sequences;
            Ok(())
        })
    }
}

/// Sets the tokens that end a hypothesis (replacing any set before). With
/// none (the default) every hypothesis runs to `max_new_tokens`.
///
/// @param config The configuration.
/// @param ids The EOS token ids (may be NULL when `len` is 0).
/// @param len How many ids.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL, or `ids` is NULL with `len > 0`.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile; `ids` is NULL or points to `len` readable ids.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_eos_token_ids(
    config: *mut SeqcoreSearchConfig,
    ids: *const u32,
    len: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises on `config` and `ids`.
    unsafe {
        update(config, |c| {
            c.eos_token_ids = read_slice(ids, len, "ids")?.to_vec();
            Ok(())
        })
    }
}

/// Sets the pad token: the token finished groups "choose" for the Hamming
/// diversity penalty. SEQCORE_NO_TOKEN (the default) means the first EOS
/// id, as transformers does.
///
/// @param config The configuration.
/// @param pad_token_id The pad id, or SEQCORE_NO_TOKEN for none.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_pad_token_id(
    config: *mut SeqcoreSearchConfig,
    pad_token_id: u32,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.pad_token_id = (pad_token_id != SEQCORE_NO_TOKEN).then_some(pad_token_id);
            Ok(())
        })
    }
}

/// Sets the minimum number of new tokens: EOS is banned while fewer were
/// generated (default 0).
///
/// @param config The configuration.
/// @param min_new_tokens The minimum.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_min_new_tokens(
    config: *mut SeqcoreSearchConfig,
    min_new_tokens: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.min_new_tokens = min_new_tokens;
            Ok(())
        })
    }
}

/// Sets the maximum number of new tokens, at least 1 (default 20).
///
/// @param config The configuration.
/// @param max_new_tokens The maximum.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_max_new_tokens(
    config: *mut SeqcoreSearchConfig,
    max_new_tokens: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.max_new_tokens = max_new_tokens;
            Ok(())
        })
    }
}

/// Sets the n-gram size no repeat of which may occur in prompt + generated
/// tokens (0, the default: off).
///
/// @param config The configuration.
/// @param no_repeat_ngram_size The n-gram size.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_no_repeat_ngram_size(
    config: *mut SeqcoreSearchConfig,
    no_repeat_ngram_size: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.no_repeat_ngram_size = no_repeat_ngram_size;
            Ok(())
        })
    }
}

/// Sets the token sequences that are never generated (replacing any set
/// before). A one-token word bans the token everywhere (except a lone EOS
/// id, which transformers ignores); a longer one bans its last token after
/// its other tokens. Words must not be empty.
///
/// The words are given flattened: word `i` is the next `lengths[i]` ids of
/// `ids`, so `ids` holds `lengths[0] + ... + lengths[count - 1]` ids.
///
/// @param config The configuration.
/// @param ids All words' ids, one word after another (may be NULL when the
///   total is 0).
/// @param lengths Each word's length (may be NULL when `count` is 0).
/// @param count How many words; 0 clears the list.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL, an array is NULL where it cannot be, or the lengths
///   overflow.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile; `lengths` is NULL or points to `count` readable lengths;
/// `ids` is NULL or points to as many readable ids as they add up to.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_bad_words_ids(
    config: *mut SeqcoreSearchConfig,
    ids: *const u32,
    lengths: *const usize,
    count: usize,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promises on `config`, `ids` and `lengths`.
    unsafe {
        update(config, |c| {
            c.bad_words_ids = split_flat(ids, lengths, count, "ids", "lengths")?;
            Ok(())
        })
    }
}

/// Sets which transformers code path the beam bookkeeping reproduces
/// (default SEQCORE_SEMANTICS_AUTO).
///
/// @param config The configuration.
/// @param semantics A SeqcoreSemantics value.
/// @return SEQCORE_STATUS_OK, or SEQCORE_STATUS_INVALID_ARGUMENT when
///   `config` is NULL or `semantics` is not a SeqcoreSemantics value.
///
/// # Safety
///
/// `config` is NULL or a live configuration handle not used elsewhere
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn seqcore_search_config_set_semantics(
    config: *mut SeqcoreSearchConfig,
    semantics: c_int,
) -> SeqcoreStatus {
    // SAFETY: forwarded caller promise on `config`.
    unsafe {
        update(config, |c| {
            c.semantics = match semantics {
                s if s == SeqcoreSemantics::Auto as c_int => Semantics::Auto,
                s if s == SeqcoreSemantics::Vectorized as c_int => Semantics::Vectorized,
                s if s == SeqcoreSemantics::Scorer as c_int => Semantics::Scorer,
                other => {
                    return Err(Failure::invalid(format!(
                        "semantics {other} is not a SeqcoreSemantics value"
                    )))
                }
            };
            Ok(())
        })
    }
}

/// Splits flattened sequences: sequence `i` is the next `lengths[i]`
/// elements of `ids`.
///
/// # Safety
///
/// `lengths` is NULL or points to `count` readable lengths; `ids` is NULL or
/// points to as many readable ids as they add up to.
pub(crate) unsafe fn split_flat(
    ids: *const u32,
    lengths: *const usize,
    count: usize,
    ids_name: &str,
    lengths_name: &str,
) -> Outcome<Vec<Vec<u32>>> {
    // SAFETY: `lengths` is NULL or points to `count` lengths, by the
    // caller's promise.
    let lengths = unsafe { read_slice(lengths, count, lengths_name)? };
    let total = lengths
        .iter()
        .try_fold(0usize, |sum, &len| sum.checked_add(len))
        .ok_or_else(|| Failure::invalid(format!("the {lengths_name} overflow when added")))?;
    // SAFETY: `ids` is NULL or points to `total` ids, by the caller's
    // promise.
    let ids = unsafe { read_slice(ids, total, ids_name)? };
    let mut rest = ids;
    Ok(lengths
        .iter()
        .map(|&len| {
            let (word, tail) = rest.split_at(len);
            rest = tail;
            word.to_vec()
        })
        .collect())
}
