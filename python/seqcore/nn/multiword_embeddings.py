"""Extending a model's embeddings with multi-word tokens (Fast Vocabulary Transfer)."""

from __future__ import annotations

import torch
from torch import nn

from seqcore.tokenize import MultiWordTokenizer, Tokenizer


def init_multiword_embeddings(
    embedding: nn.Embedding,
    base_tokenizer: Tokenizer,
    mwt: MultiWordTokenizer,
    output: nn.Linear | None = None,
) -> nn.Embedding:
    """Grows ``embedding`` (and a tied or untied ``output`` layer) to ``mwt.vocab_size`` rows.

    Each new row is the mean of the base-token rows of its n-gram's pieces
    (Gee et al. 2022, "Fast Vocabulary Transfer"); existing rows are kept as
    they are. The embedding is resized in place (its ``weight`` becomes a new
    parameter: rebuild the optimizer afterwards) and returned. When ``output``
    shares the embedding's weight it keeps sharing it; an untied ``output``
    gets its new rows the same way (and zero bias).

    >>> import torch, seqcore
    >>> from seqcore.nn import init_multiword_embeddings
    >>> base = seqcore.BpeTrainer(vocab_size=300).train(["of the day"] * 20)
    >>> mwt = seqcore.MultiWordTokenizer.train(base, ["of the day"] * 20, top_k=1)
    >>> emb = torch.nn.Embedding(base.vocab_size, 4)
    >>> _ = init_multiword_embeddings(emb, base, mwt)
    >>> emb.weight.shape[0] == mwt.vocab_size
    True
    """
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(f"embedding must be a torch.nn.Embedding, got {type(embedding).__name__}")
    if mwt.base is not base_tokenizer and mwt.base.vocab_size != base_tokenizer.vocab_size:
        raise ValueError("mwt was not built on base_tokenizer (their base vocabulary sizes differ)")
    base_size = base_tokenizer.vocab_size
    if embedding.num_embeddings < base_size:
        raise ValueError(
            f"embedding has {embedding.num_embeddings} rows, "
            f"fewer than the base vocabulary ({base_size})"
        )
    if output is not None and not isinstance(output, nn.Linear):
        raise TypeError(f"output must be a torch.nn.Linear, got {type(output).__name__}")
    tied = output is not None and output.weight is embedding.weight
    pieces = [mwt.pieces(base_size + i) for i in range(len(mwt.ngrams))]

    def grow(weight: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            rows = [weight[torch.tensor(p, device=weight.device)].mean(dim=0) for p in pieces]
            new = torch.stack(rows) if rows else weight.new_zeros((0, weight.shape[1]))
            return torch.cat([weight[:base_size], new.to(weight.dtype)])

    embedding.weight = nn.Parameter(grow(embedding.weight.detach()))
    embedding.num_embeddings = mwt.vocab_size
    if output is not None:
        if tied:
            output.weight = embedding.weight
        else:
            if output.out_features < base_size:
                raise ValueError(
                    f"output has {output.out_features} rows, "
                    f"fewer than the base vocabulary ({base_size})"
                )
            output.weight = nn.Parameter(grow(output.weight.detach()))
        if output.bias is not None:
            with torch.no_grad():
                extra = output.bias.new_zeros(mwt.vocab_size - base_size)
                output.bias = nn.Parameter(torch.cat([output.bias.detach()[:base_size], extra]))
        output.out_features = mwt.vocab_size
    return embedding
