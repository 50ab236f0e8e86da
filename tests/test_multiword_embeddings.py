"""seqcore.nn.init_multiword_embeddings: rows for multi-word tokens are the mean
of their pieces' rows (Fast Vocabulary Transfer), tied layers stay tied."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn

from seqcore.nn import init_multiword_embeddings
from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, Tokenizer

DIM = 6


@pytest.fixture(scope="module")
def verses() -> list[str]:
    from seqcore.tokenize.corpus import kjv_verses

    try:
        return kjv_verses()[::20]
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def base(verses) -> Tokenizer:
    return BpeTrainer(vocab_size=500, show_progress=False).train(verses)


@pytest.fixture(scope="module")
def mwt(base, verses) -> MultiWordTokenizer:
    m = MultiWordTokenizer.train(base, verses, ngram_orders=(2, 3), top_k=40)
    assert len(m.ngrams) == 40
    return m


def seeded_embedding(rows: int, dtype=torch.float32) -> nn.Embedding:
    torch.manual_seed(0)
    return nn.Embedding(rows, DIM).to(dtype)


def check_rows(weight, before, base: Tokenizer, mwt: MultiWordTokenizer) -> None:
    first = base.vocab_size
    assert weight.shape == (mwt.vocab_size, DIM)
    assert torch.equal(weight[:first], before[:first])
    for i in range(len(mwt.ngrams)):
        pieces = mwt.pieces(first + i)
        assert len(pieces) >= 2
        want = before[torch.tensor(pieces)].mean(dim=0)
        torch.testing.assert_close(weight[first + i], want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_new_rows_are_the_mean_of_the_pieces(base, mwt, dtype):
    emb = seeded_embedding(base.vocab_size, dtype)
    before = emb.weight.detach().clone()
    out = init_multiword_embeddings(emb, base, mwt)
    assert out is emb
    assert emb.num_embeddings == mwt.vocab_size
    assert emb.weight.dtype == dtype
    assert isinstance(emb.weight, nn.Parameter) and emb.weight.requires_grad
    check_rows(emb.weight.detach(), before, base, mwt)
    # A multi-word id looks up its row.
    ids = torch.tensor(mwt.encode(" of the LORD"))
    assert (ids >= base.vocab_size).any()
    torch.testing.assert_close(emb(ids), emb.weight.detach()[ids])


def test_tied_output_stays_tied(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    head = nn.Linear(DIM, base.vocab_size, bias=False)
    head.weight = emb.weight
    before = emb.weight.detach().clone()
    init_multiword_embeddings(emb, base, mwt, output=head)
    assert head.weight is emb.weight
    assert head.out_features == mwt.vocab_size
    check_rows(emb.weight.detach(), before, base, mwt)
    assert head(torch.zeros(1, DIM)).shape == (1, mwt.vocab_size)


def test_tied_output_with_bias(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    head = nn.Linear(DIM, base.vocab_size)
    head.weight = emb.weight
    bias = head.bias.detach().clone()
    init_multiword_embeddings(emb, base, mwt, output=head)
    assert head.weight is emb.weight
    assert head.bias.shape == (mwt.vocab_size,)
    assert torch.equal(head.bias.detach()[: base.vocab_size], bias)
    assert torch.equal(head.bias.detach()[base.vocab_size :], torch.zeros(len(mwt.ngrams)))


def test_untied_output_gets_the_same_means_and_zero_bias(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    head = nn.Linear(DIM, base.vocab_size)
    with torch.no_grad():
        head.bias.uniform_(-1, 1)
    weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
    before = emb.weight.detach().clone()
    init_multiword_embeddings(emb, base, mwt, output=head)
    assert head.weight is not emb.weight
    assert head.out_features == mwt.vocab_size
    check_rows(emb.weight.detach(), before, base, mwt)
    check_rows(head.weight.detach(), weight, base, mwt)
    assert torch.equal(head.bias.detach()[: base.vocab_size], bias)
    assert torch.equal(head.bias.detach()[base.vocab_size :], torch.zeros(len(mwt.ngrams)))
    assert head(torch.zeros(2, DIM)).shape == (2, mwt.vocab_size)


@pytest.mark.parametrize("tied", [True, False])
def test_gradients_flow_to_new_and_old_rows(base, mwt, tied):
    emb = seeded_embedding(base.vocab_size)
    head = nn.Linear(DIM, base.vocab_size)
    if tied:
        head.weight = emb.weight
    init_multiword_embeddings(emb, base, mwt, output=head)
    ids = torch.tensor([mwt.encode(" of the LORD and the people")])
    new = [i for i in ids[0].tolist() if i >= base.vocab_size]
    old = [i for i in ids[0].tolist() if i < base.vocab_size]
    assert new and old
    targets = torch.tensor([[base.vocab_size + len(mwt.ngrams) - 1] * ids.shape[1]])
    logits = head(emb(ids))
    assert logits.shape == (1, ids.shape[1], mwt.vocab_size)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    grad = emb.weight.grad
    assert grad is not None and grad.shape == (mwt.vocab_size, DIM)
    assert all(grad[i].abs().sum() > 0 for i in new + old)
    assert head.bias.grad is not None and head.bias.grad.shape == (mwt.vocab_size,)
    if not tied:
        assert head.weight.grad is not None and head.weight.grad.shape == (mwt.vocab_size, DIM)
    # A fresh optimizer steps the grown parameters.
    unique = {id(p): p for p in [*emb.parameters(), *head.parameters()]}
    assert len(unique) == (2 if tied else 3)
    optimizer = torch.optim.SGD(list(unique.values()), lr=0.1)
    before = emb.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(emb.weight.detach()[new[0]], before[new[0]])


def test_empty_multiword_vocabulary_changes_nothing(base, verses):
    none = MultiWordTokenizer.train(base, verses[:10], top_k=0)
    emb = seeded_embedding(base.vocab_size)
    before = emb.weight.detach().clone()
    init_multiword_embeddings(emb, base, none)
    assert torch.equal(emb.weight.detach(), before)
    assert emb.num_embeddings == base.vocab_size


def test_a_base_loaded_again_is_accepted(base, mwt):
    copy = Tokenizer.from_json(base.to_json())
    emb = seeded_embedding(base.vocab_size)
    init_multiword_embeddings(emb, copy, mwt)
    assert emb.num_embeddings == mwt.vocab_size


def test_bad_arguments(base, mwt, verses):
    with pytest.raises(TypeError, match=r"torch\.nn\.Embedding"):
        init_multiword_embeddings(nn.Linear(DIM, base.vocab_size), base, mwt)
    with pytest.raises(TypeError, match=r"torch\.nn\.Embedding"):
        init_multiword_embeddings(torch.zeros(base.vocab_size, DIM), base, mwt)
    emb = seeded_embedding(base.vocab_size)
    with pytest.raises(TypeError, match=r"torch\.nn\.Linear"):
        init_multiword_embeddings(emb, base, mwt, output=nn.Embedding(base.vocab_size, DIM))
    small = seeded_embedding(base.vocab_size - 1)
    with pytest.raises(ValueError, match="fewer than the base vocabulary"):
        init_multiword_embeddings(small, base, mwt)
    assert small.num_embeddings == base.vocab_size - 1
    other = BpeTrainer(vocab_size=300, show_progress=False).train(verses[:50])
    with pytest.raises(ValueError, match="not built on base_tokenizer"):
        init_multiword_embeddings(seeded_embedding(base.vocab_size), other, mwt)


def test_untied_output_smaller_than_the_base_is_refused(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    with pytest.raises(ValueError, match="fewer than the base vocabulary"):
        init_multiword_embeddings(emb, base, mwt, output=nn.Linear(DIM, 10))


def test_a_refused_output_leaves_the_embedding_unchanged(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    before = emb.weight.detach().clone()
    with pytest.raises(ValueError):
        init_multiword_embeddings(emb, base, mwt, output=nn.Linear(DIM, 10))
    assert emb.num_embeddings == base.vocab_size
    assert torch.equal(emb.weight.detach(), before)


def test_a_frozen_embedding_stays_frozen(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    emb.weight.requires_grad_(False)
    init_multiword_embeddings(emb, base, mwt)
    assert not emb.weight.requires_grad


def test_padding_rows_past_the_base_are_kept(base, mwt):
    """A padded embedding never shrinks; padding rows that no n-gram id takes
    keep their values."""
    n = len(mwt.ngrams)
    rows = base.vocab_size + n + 7
    emb = seeded_embedding(rows)
    before = emb.weight.detach().clone()
    init_multiword_embeddings(emb, base, mwt)
    assert emb.weight.shape[0] == rows == emb.num_embeddings
    torch.testing.assert_close(emb.weight[base.vocab_size + n :], before[base.vocab_size + n :])
    torch.testing.assert_close(emb.weight[: base.vocab_size], before[: base.vocab_size])
    first = mwt.pieces(base.vocab_size)
    torch.testing.assert_close(emb.weight[base.vocab_size], before[first].mean(dim=0))


@pytest.mark.parametrize("bias", [True, False])
def test_a_padded_untied_output_keeps_its_padding(base, mwt, bias):
    """An LM head padded past the multi-word vocabulary (e.g. to a multiple of
    64) keeps its size; the embedding grows to the multi-word vocabulary."""
    rows = mwt.vocab_size + 8
    emb = seeded_embedding(base.vocab_size)
    head = nn.Linear(DIM, rows, bias=bias)
    if bias:
        with torch.no_grad():
            head.bias.uniform_(-1, 1)
    weight = head.weight.detach().clone()
    old_bias = head.bias.detach().clone() if bias else None
    before = emb.weight.detach().clone()
    init_multiword_embeddings(emb, base, mwt, output=head)
    check_rows(emb.weight.detach(), before, base, mwt)
    assert emb.num_embeddings == mwt.vocab_size
    assert head.weight.shape == (rows, DIM) and head.out_features == rows
    check_rows(head.weight.detach()[: mwt.vocab_size], weight, base, mwt)
    assert torch.equal(head.weight.detach()[mwt.vocab_size :], weight[mwt.vocab_size :])
    if bias:
        assert head.bias.shape == (rows,)
        got = head.bias.detach()
        assert torch.equal(got[: base.vocab_size], old_bias[: base.vocab_size])
        assert torch.equal(got[base.vocab_size : mwt.vocab_size], torch.zeros(len(mwt.ngrams)))
        assert torch.equal(got[mwt.vocab_size :], old_bias[mwt.vocab_size :])
    assert head(emb(torch.tensor([0, mwt.vocab_size - 1]))).shape == (2, rows)


def test_an_output_padded_less_than_the_ngrams_grows(base, mwt):
    """Padding rows that n-gram ids take are overwritten; the head grows to
    the multi-word vocabulary."""
    emb = seeded_embedding(base.vocab_size + 3)
    head = nn.Linear(DIM, base.vocab_size + 5)
    init_multiword_embeddings(emb, base, mwt, output=head)
    assert emb.num_embeddings == head.out_features == mwt.vocab_size
    assert head.bias.shape == (mwt.vocab_size,)
    assert torch.equal(head.bias.detach()[base.vocab_size :], torch.zeros(len(mwt.ngrams)))


def test_tokenizers_of_the_wrong_type(base, mwt):
    emb = seeded_embedding(base.vocab_size)
    before = emb.weight.detach().clone()
    for bad in ("tokenizer.json", None, base._native, mwt):
        with pytest.raises(TypeError, match="base_tokenizer must be a seqcore Tokenizer"):
            init_multiword_embeddings(emb, bad, mwt)
    for bad in (None, base, "mwt.json", mwt._native):
        with pytest.raises(TypeError, match="mwt must be a seqcore MultiWordTokenizer"):
            init_multiword_embeddings(emb, base, bad)
    with pytest.raises(TypeError, match="mwt must be"):
        init_multiword_embeddings(emb, base, None, output=nn.Linear(DIM, base.vocab_size))
    assert emb.num_embeddings == base.vocab_size
    assert torch.equal(emb.weight.detach(), before)
