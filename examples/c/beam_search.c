/*
 * Beam search and diverse beam search from C, with seqcore's C API.
 *
 * A toy "model" stands in for a language model: the next-token log-probs of
 * a row depend on the row's last two tokens (its "KV cache"), which the
 * program carries from step to step with the parents the search returns,
 * exactly as a real host reorders its cache.
 *
 * Build (from the repository root, after
 * `cargo build --release -p seqcore-capi`):
 *
 *   cc -std=c11 -Wall -Wextra -Werror -Irust/seqcore-capi/include \
 *      examples/c/beam_search.c target/release/libseqcore_capi.a \
 *      -lpthread -ldl -lm -o beam_search
 *
 * Run `./beam_search`; `./beam_search --trace` also prints every log-prob
 * row fed to the search (as exact hex floats) and every step's answer, so
 * another implementation can replay the same search.
 */

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqcore.h"

#define VOCAB 10
#define EOS 1
#define NUM_PROMPTS 2

static const uint32_t PROMPT_IDS[] = {4, 7, 2, 9, 3};
static const size_t PROMPT_LENGTHS[NUM_PROMPTS] = {3, 2};

/* Prints a failed call's status and message; true when the call succeeded. */
static bool ok(SeqcoreStatus status, const char *what) {
    if (status == SEQCORE_STATUS_OK) {
        return true;
    }
    fprintf(stderr, "%s failed: %s: %s\n", what, seqcore_status_name((int)status),
            seqcore_last_error());
    return false;
}

#define CHECK(call)                                                                            \
    do {                                                                                       \
        if (!ok((call), #call)) {                                                              \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

/* What the toy model remembers of a row: its last two tokens. */
typedef struct {
    uint32_t prev;
    uint32_t last;
} RowState;

/*
 * The toy model: normalized log-probs of the next token after a row that
 * ends with (prev, last), at step `step`. Logits come from a small integer
 * hash; EOS grows likelier as the sequence gets longer.
 */
static void toy_model(RowState row, size_t step, float *out) {
    double logits[VOCAB];
    double max = -INFINITY;
    for (uint32_t j = 0; j < VOCAB; j++) {
        unsigned h = (row.prev * 7u + row.last * 13u + j * 29u + (j * j) % 5u) % 23u;
        logits[j] = (double)h / 6.0;
        if (j == EOS) {
            logits[j] += 0.6 * (double)step - 1.5;
        }
        if (logits[j] > max) {
            max = logits[j];
        }
    }
    double sum = 0.0;
    for (int j = 0; j < VOCAB; j++) {
        sum += exp(logits[j] - max);
    }
    double log_sum = max + log(sum);
    for (int j = 0; j < VOCAB; j++) {
        out[j] = (float)(logits[j] - log_sum);
    }
}

static void print_sizes(const char *key, const size_t *values, size_t n) {
    printf(" %s=", key);
    for (size_t i = 0; i < n; i++) {
        printf(i ? ",%zu" : "%zu", values[i]);
    }
}

/* Prints every returned hypothesis of `result`, one line each. */
static bool print_result(const char *name, const SeqcoreSearchResult *result) {
    size_t items = 0;
    uint32_t *tokens = NULL;
    double *token_scores = NULL;
    size_t *beam_indices = NULL;
    CHECK(seqcore_search_result_num_items(result, &items));
    for (size_t item = 0; item < items; item++) {
        size_t count = 0;
        CHECK(seqcore_search_result_num_hypotheses(result, item, &count));
        for (size_t rank = 0; rank < count; rank++) {
            size_t n = 0, len = 0, group = 0;
            double score = 0.0;
            CHECK(seqcore_search_result_num_tokens(result, item, rank, &n));
            CHECK(seqcore_search_result_score(result, item, rank, &score));
            CHECK(seqcore_search_result_group(result, item, rank, &group));
            /* n + 1: malloc(0) may return NULL. */
            tokens = malloc((n + 1) * sizeof *tokens);
            token_scores = malloc((n + 1) * sizeof *token_scores);
            beam_indices = malloc((n + 1) * sizeof *beam_indices);
            if (!tokens || !token_scores || !beam_indices) {
                fprintf(stderr, "out of memory\n");
                goto fail;
            }
            CHECK(seqcore_search_result_tokens(result, item, rank, tokens, n, &len));
            CHECK(seqcore_search_result_token_scores(result, item, rank, token_scores, n, &len));
            CHECK(seqcore_search_result_beam_indices(result, item, rank, beam_indices, n, &len));
            /* Scores are float32 values widened to double: %.9g is exact for them. */
            printf("%s item=%zu rank=%zu group=%zu score=%.9g tokens=", name, item, rank, group,
                   score);
            for (size_t i = 0; i < n; i++) {
                printf(i ? ",%u" : "%u", (unsigned)tokens[i]);
            }
            printf(" token_scores=");
            for (size_t i = 0; i < n; i++) {
                printf(i ? ",%.9g" : "%.9g", token_scores[i]);
            }
            print_sizes("beam_indices", beam_indices, n);
            printf("\n");
            free(tokens);
            free(token_scores);
            free(beam_indices);
            tokens = NULL;
            token_scores = NULL;
            beam_indices = NULL;
        }
    }
    return true;
fail:
    free(tokens);
    free(token_scores);
    free(beam_indices);
    return false;
}

/*
 * Runs one search with `config` over the prompts, feeding the toy model's
 * log-probs, and prints the result. Returns the finished search through
 * `out_search` (for the error demonstrations), or NULL on failure.
 */
static bool run_search(const char *name, const SeqcoreSearchConfig *config, bool trace,
                       SeqcoreSearch **out_search) {
    SeqcoreSearch *search = NULL;
    SeqcoreSearchResult *result = NULL;
    float *logprobs = NULL;
    uint32_t *tokens = NULL;
    size_t *parents = NULL, *rows = NULL;
    RowState *states = NULL, *next = NULL;
    size_t max_rows = 0, n = 0;
    bool done = false;

    CHECK(seqcore_search_new(config, PROMPT_IDS, PROMPT_LENGTHS, NUM_PROMPTS, &search));
    /* Every row buffer of this size is large enough, for every step. */
    CHECK(seqcore_search_max_rows(search, &max_rows));
    logprobs = malloc(max_rows * VOCAB * sizeof *logprobs);
    tokens = malloc(max_rows * sizeof *tokens);
    parents = malloc(max_rows * sizeof *parents);
    rows = malloc(max_rows * sizeof *rows);
    states = malloc(max_rows * sizeof *states);
    next = malloc(max_rows * sizeof *next);
    if (!logprobs || !tokens || !parents || !rows || !states || !next) {
        fprintf(stderr, "out of memory\n");
        goto fail;
    }

    /* Before the first step there is one active row per prompt. */
    CHECK(seqcore_search_active_rows(search, rows, max_rows, &n));
    for (size_t i = 0, start = 0; i < NUM_PROMPTS; start += PROMPT_LENGTHS[i], i++) {
        size_t len = PROMPT_LENGTHS[i];
        states[i].prev = len > 1 ? PROMPT_IDS[start + len - 2] : 0;
        states[i].last = len > 0 ? PROMPT_IDS[start + len - 1] : 0;
    }

    for (size_t step = 0;; step++) {
        CHECK(seqcore_search_done(search, &done));
        if (done) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            toy_model(states[i], step, logprobs + i * VOCAB);
            if (trace) {
                printf("trace %s logprobs step=%zu row=%zu", name, step, i);
                for (int j = 0; j < VOCAB; j++) {
                    printf(" %a", (double)logprobs[i * VOCAB + j]);
                }
                printf("\n");
            }
        }
        size_t old_rows = n;
        CHECK(seqcore_search_step_logprobs(search, logprobs, old_rows, VOCAB, tokens, parents,
                                           rows, max_rows, &n));
        /* New row i continues old row parents[i] with tokens[i]: carry its state. */
        for (size_t i = 0; i < n; i++) {
            next[i].prev = states[parents[i]].last;
            next[i].last = tokens[i];
        }
        memcpy(states, next, n * sizeof *states);
        if (trace) {
            printf("trace %s step step=%zu", name, step);
            print_sizes("parents", parents, n);
            print_sizes("rows", rows, n);
            printf(" tokens=");
            for (size_t i = 0; i < n; i++) {
                printf(i ? ",%u" : "%u", (unsigned)tokens[i]);
            }
            printf("\n");
        }
    }

    CHECK(seqcore_search_finalize(search, &result));
    if (!print_result(name, result)) {
        goto fail;
    }
    seqcore_search_result_free(result);
    free(logprobs);
    free(tokens);
    free(parents);
    free(rows);
    free(states);
    free(next);
    *out_search = search;
    return true;
fail:
    seqcore_search_result_free(result);
    seqcore_search_free(search);
    free(logprobs);
    free(tokens);
    free(parents);
    free(rows);
    free(states);
    free(next);
    *out_search = NULL;
    return false;
}

/* Expects `status` to be `want`; prints the error message either way. */
static bool expect_error(const char *what, SeqcoreStatus status, SeqcoreStatus want) {
    printf("error %s: %s: %s\n", what, seqcore_status_name((int)status), seqcore_last_error());
    if (status != want) {
        fprintf(stderr, "%s: expected %s\n", what, seqcore_status_name((int)want));
        return false;
    }
    return true;
}

int main(int argc, char **argv) {
    bool trace = argc > 1 && strcmp(argv[1], "--trace") == 0;
    const uint32_t eos = EOS;
    SeqcoreSearchConfig *beam = NULL, *diverse = NULL;
    SeqcoreSearch *search = NULL;
    int exit_code = 1;

    printf("seqcore %s\n", seqcore_version());

    /* Beam search: 4 beams, the 3 best hypotheses per prompt, at least 2 and
       at most 8 new tokens, no 3-gram twice, a few banned words. */
    CHECK(seqcore_search_config_new(VOCAB, 4, &beam));
    CHECK(seqcore_search_config_set_num_return_sequences(beam, 3));
    CHECK(seqcore_search_config_set_eos_token_ids(beam, &eos, 1));
    CHECK(seqcore_search_config_set_min_new_tokens(beam, 2));
    CHECK(seqcore_search_config_set_max_new_tokens(beam, 8));
    CHECK(seqcore_search_config_set_length_penalty(beam, 1.0));
    CHECK(seqcore_search_config_set_no_repeat_ngram_size(beam, 3));
    {
        /* Ban token 0 everywhere, and 8 right after 3. */
        const uint32_t bad_ids[] = {0, 3, 8};
        const size_t bad_lengths[] = {1, 2};
        CHECK(seqcore_search_config_set_bad_words_ids(beam, bad_ids, bad_lengths, 2));
    }

    /* Diverse beam search: 6 beams in 3 groups, Hamming diversity 0.7. */
    CHECK(seqcore_search_config_new(VOCAB, 6, &diverse));
    CHECK(seqcore_search_config_set_num_groups(diverse, 3));
    CHECK(seqcore_search_config_set_diversity(diverse, SEQCORE_DIVERSITY_HAMMING, 0));
    CHECK(seqcore_search_config_set_diversity_strength(diverse, 0.7));
    CHECK(seqcore_search_config_set_num_return_sequences(diverse, 4));
    CHECK(seqcore_search_config_set_eos_token_ids(diverse, &eos, 1));
    CHECK(seqcore_search_config_set_pad_token_id(diverse, SEQCORE_NO_TOKEN));
    CHECK(seqcore_search_config_set_max_new_tokens(diverse, 6));
    CHECK(seqcore_search_config_set_no_repeat_ngram_size(diverse, 2));
    CHECK(seqcore_search_config_set_early_stopping(diverse, SEQCORE_EARLY_STOPPING_FINISH));

    printf("== beam search: 4 beams, 3 returned\n");
    if (!run_search("beam", beam, trace, &search)) {
        goto fail;
    }

    /* Error paths: each call fails, says why, and changes nothing. */
    printf("== error paths\n");
    {
        float row[VOCAB] = {0};
        uint32_t tokens[8];
        size_t parents[8], rows[8], n = 0;
        bool good = true;
        /* The beam search above is done: a further step is refused. */
        good &= expect_error("step after done",
                             seqcore_search_step_logprobs(search, row, 1, VOCAB, tokens, parents,
                                                          rows, 8, &n),
                             SEQCORE_STATUS_FINISHED);
        seqcore_search_free(search);
        search = NULL;

        CHECK(seqcore_search_new(beam, PROMPT_IDS, PROMPT_LENGTHS, 1, &search));
        /* A log-prob row of the wrong width. */
        good &= expect_error("wrong vocab",
                             seqcore_search_step_logprobs(search, row, 1, VOCAB - 1, tokens,
                                                          parents, rows, 8, &n),
                             SEQCORE_STATUS_SHAPE_ERROR);
        /* Output buffers too small: the size needed comes back in n. */
        good &= expect_error("small buffers",
                             seqcore_search_step_logprobs(search, row, 1, VOCAB, tokens, parents,
                                                          rows, 2, &n),
                             SEQCORE_STATUS_BUFFER_TOO_SMALL);
        printf("error small buffers: %zu rows needed\n", n);
        /* A NULL pointer. */
        good &= expect_error("NULL output", seqcore_search_done(search, NULL),
                             SEQCORE_STATUS_INVALID_ARGUMENT);
        /* 3 groups do not divide 4 beams. */
        CHECK(seqcore_search_config_set_num_groups(beam, 3));
        good &= expect_error("bad config", seqcore_search_config_validate(beam),
                             SEQCORE_STATUS_CONFIG_ERROR);
        seqcore_search_free(search);
        search = NULL;
        if (!good) {
            goto fail;
        }
    }

    printf("== diverse beam search: 6 beams in 3 groups, 4 returned\n");
    if (!run_search("diverse", diverse, trace, &search)) {
        goto fail;
    }
    exit_code = 0;
fail:
    seqcore_search_free(search);
    seqcore_search_config_free(beam);
    seqcore_search_config_free(diverse);
    return exit_code;
}
