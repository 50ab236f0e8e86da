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
    """Grows ``embedding`` (and a tied or untied ``output`` layer) for ``mwt``'s ids.

    Each new row is the mean of the base-token rows of its n-gram's pieces
    (Gee et al. 2022, "Fast Vocabulary Transfer"); the base rows are kept as
    they are. Each layer gets ``max(its rows, mwt.vocab_size)`` rows: padding
    rows past the base vocabulary stay unless an n-gram id takes them, so a
    padded output layer keeps its size. The embedding is resized in place
    (its ``weight`` becomes a new parameter, as trainable as the old one:
    rebuild the optimizer afterwards) and returned. When ``output`` shares
    the embedding's weight it keeps sharing it; an untied ``output`` gets its
    new rows the same way (and zero bias). Every argument is checked before
    anything changes.

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
    if not isinstance(base_tokenizer, Tokenizer):
        raise TypeError(
            f"base_tokenizer must be a seqcore Tokenizer, got {type(base_tokenizer).__name__}"
        )
    if not isinstance(mwt, MultiWordTokenizer):
        raise TypeError(f"mwt must be a seqcore MultiWordTokenizer, got {type(mwt).__name__}")
    if output is not None and not isinstance(output, nn.Linear):
        raise TypeError(f"output must be a torch.nn.Linear, got {type(output).__name__}")
    if mwt.base is not base_tokenizer and mwt.base.vocab_size != base_tokenizer.vocab_size:
        raise ValueError("mwt was not built on base_tokenizer (their base vocabulary sizes differ)")
    base_size = base_tokenizer.vocab_size
    # Check everything before changing anything.
    if embedding.num_embeddings < base_size:
        raise ValueError(
            f"embedding has {embedding.num_embeddings} rows, "
            f"fewer than the base vocabulary ({base_size})"
        )
    tied = output is not None and output.weight is embedding.weight
    if output is not None and not tied:
        if output.out_features < base_size:
            raise ValueError(
                f"output has {output.out_features} rows, "
                f"fewer than the base vocabulary ({base_size})"
            )
    pieces = [mwt.pieces(base_size + i) for i in range(len(mwt.ngrams))]

    def grow(weight: torch.Tensor) -> torch.Tensor:
        # A layer never shrinks: rows past the base vocabulary that it had
        # (padding) stay where they are unless an n-gram id takes them.
        with torch.no_grad():
            new = weight.new_zeros((max(weight.shape[0], mwt.vocab_size), weight.shape[1]))
            new[: weight.shape[0]] = weight
            for i, p in enumerate(pieces):
                new[base_size + i] = weight[torch.tensor(p, device=weight.device)].mean(dim=0)
            return new

    embedding.weight = nn.Parameter(
        grow(embedding.weight.detach()), requires_grad=embedding.weight.requires_grad
    )
    embedding.num_embeddings = embedding.weight.shape[0]
    if output is not None:
        if tied:
            output.weight = embedding.weight
        else:
            output.weight = nn.Parameter(
                grow(output.weight.detach()), requires_grad=output.weight.requires_grad
            )
        rows = output.weight.shape[0]
        if output.bias is not None:
            with torch.no_grad():
                bias = output.bias.new_zeros(rows)
                kept = min(rows, output.bias.shape[0])
                bias[:kept] = output.bias[:kept]
                bias[base_size : base_size + len(pieces)] = 0
            output.bias = nn.Parameter(bias, requires_grad=output.bias.requires_grad)
        output.out_features = rows
    return embedding
