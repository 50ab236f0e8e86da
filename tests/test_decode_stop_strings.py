"""Stop strings in ``seqcore.generate`` against transformers' ``stop_strings``.

transformers checks its stopping criteria on every beam-search candidate, so
a candidate whose text completes a stop string finishes like an EOS; greedy
search ends the row. Same tiny GPT-2, same tokenizer (a BPE trained here,
loaded into transformers through its tokenizer.json), same outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore.decode._stop_strings import StopStrings

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "And God said, Let there be light: and there was light.",
    "And God saw the light, that it was good: and God divided the light from the darkness.",
] * 5


@pytest.fixture(scope="module")
def setup() -> tuple[object, object, object]:
    tok = seqcore.BpeTrainer(vocab_size=300, show_progress=False).train(TEXTS)
    hf_tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer.from_str(tok.to_json())
    )
    torch.manual_seed(3)
    config = transformers.GPT2Config(
        vocab_size=tok.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)  # spread the logits: fewer near-ties
    transformers.logging.set_verbosity_error()
    return tok, hf_tok, model


@pytest.mark.parametrize("stops", [["the"], ["idid", "."], [" the the"]])
@pytest.mark.parametrize("beams", [1, 3])
def test_stop_strings_match_transformers(
    setup: tuple[object, object, object], stops: list[str], beams: int
) -> None:
    tok, hf_tok, model = setup
    prompts = [tok.encode("And God said"), tok.encode("In the")]  # type: ignore[attr-defined]
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    kwargs = {"num_beams": beams, "num_return_sequences": beams} if beams > 1 else {}
    with torch.no_grad():
        theirs = model.generate(  # type: ignore[attr-defined]
            ids, attention_mask=mask, max_new_tokens=12, do_sample=False, stop_strings=stops,
            tokenizer=hf_tok, output_scores=True, return_dict_in_generate=True, **kwargs,
        )  # fmt: skip
    search = (
        seqcore.BeamSearch(num_beams=beams, num_return_sequences=beams, max_new_tokens=12)
        if beams > 1
        else seqcore.GreedySearch(max_new_tokens=12)
    )
    ours = seqcore.generate(
        model, ids, search, attention_mask=mask, stop_strings=stops, tokenizer=tok, pad_token_id=0
    )
    n = ours.sequences.shape[1]
    assert theirs.sequences.shape[1] <= n or torch.all(theirs.sequences[:, n:] == 0)
    assert torch.equal(theirs.sequences[:, :n], ours.sequences[:, : theirs.sequences.shape[1]])
    if beams > 1:
        assert torch.allclose(theirs.sequences_scores, ours.scores, atol=1e-4)
    # Some hypothesis really stopped early on a stop string (not vacuous);
    # the stop may straddle the prompt.
    texts = [
        tok.decode(prompts[i] + h.tokens)  # type: ignore[attr-defined]
        for i, item in enumerate(ours.result.hypotheses)
        for h in item
        if len(h.tokens) < 12
    ]
    assert any(any(s in t for s in stops) for t in texts)


def test_finishers_find_every_completing_token() -> None:
    vocab = [b"a", b"b", b"ab", b"ba", b"xabx", b"b.", b"."]
    stops = StopStrings(["ab"], vocab)
    rows, tokens = stops.finishers([b"", b"a", b"xa"])
    found = set(zip(rows.tolist(), tokens.tolist(), strict=True))
    # Row 0 (no text): only tokens holding "ab" whole; rows 1-2 end with "a":
    # tokens starting with "b" complete it too.
    assert found == {(0, 2), (0, 4), (1, 2), (1, 4), (1, 1), (1, 3), (1, 5)} | {
        (2, 2),
        (2, 4),
        (2, 1),
        (2, 3),
        (2, 5),
    }
    assert stops.advance([b"a", b"b"], [1, 0], [0, 6]) == [b"a", b"."]
    # Tails keep the longest stop's length minus one: short texts whole.
    longer = StopStrings(["abcd"], vocab)
    assert longer.tail_of([0, 1]) == b"ab" and longer.advance([b"ab"], [0], [4]) == [b"abx"]


def test_stop_strings_need_a_tokenizer_and_no_groups(setup: tuple[object, object, object]) -> None:
    tok, _, model = setup
    ids = torch.tensor([tok.encode("In the")])  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="tokenizer"):
        seqcore.generate(model, ids, seqcore.GreedySearch(), stop_strings=["x"])
    diverse = seqcore.DiverseBeamSearch(num_beams=4, num_groups=2)
    with pytest.raises(ValueError, match="diverse"):
        seqcore.generate(model, ids, diverse, stop_strings=["x"], tokenizer=tok)
    with pytest.raises(TypeError, match="list of strings"):
        seqcore.generate(model, ids, seqcore.GreedySearch(), stop_strings="x", tokenizer=tok)
    with pytest.raises(ValueError, match="empty"):
        seqcore.generate(model, ids, seqcore.GreedySearch(), stop_strings=[""], tokenizer=tok)
    state = seqcore.BeamSearch(num_beams=2).start(10, batch_size=1)
    with pytest.raises(ValueError, match="outside"):
        state.finish_on([5], [1])
    with pytest.raises(ValueError, match="same length"):
        state.finish_on([0, 0], [1])
    assert np.all(state.active_rows == [0])
