import os

import pytest
from hypothesis import HealthCheck, settings

# Helper modules whose own asserts should fail as readably as the tests'.
pytest.register_assert_rewrite("tests.bpe_trainer_helpers", "tests.multiword_helpers")

from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, Tokenizer
from tests.multiword_helpers import EOT
from tests.tokenizer_helpers import kjv

# "ci" keeps the default run short on 2 cores; SEQCORE_HYPOTHESIS=thorough
# runs many more examples.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("SEQCORE_HYPOTHESIS", "ci"))


# Trained on the King James Bible, shared by the BPE-trainer and multi-word
# test files (session-scoped: training once saves seconds per file; the
# tests only read them).
@pytest.fixture(scope="session")
def verses() -> list[str]:
    return kjv()


@pytest.fixture(scope="session")
def sample(verses: list[str]) -> list[str]:
    """Every 8th verse: ~3,900 verses, 0.5 MB."""
    return verses[::8]


@pytest.fixture(scope="session")
def kjv_tok(verses: list[str]) -> Tokenizer:
    """A 1,000-token vocabulary with one special token."""
    return BpeTrainer(vocab_size=1000, special_tokens=[EOT], show_progress=False).train(verses)


@pytest.fixture(scope="session")
def base(verses: list[str]) -> Tokenizer:
    """The multi-word tests' base: 2,000 tokens with one special token."""
    return BpeTrainer(vocab_size=2000, special_tokens=[EOT], show_progress=False).train(verses)


@pytest.fixture(scope="session")
def mwt(base: Tokenizer, verses: list[str]) -> MultiWordTokenizer:
    return MultiWordTokenizer.train(base, verses, ngram_orders=(2, 3), top_k=2000)


@pytest.fixture(scope="session")
def small_base(verses: list[str]) -> Tokenizer:
    """A small vocabulary: many words are several base tokens."""
    return BpeTrainer(vocab_size=400, special_tokens=[EOT], show_progress=False).train(verses[::10])
