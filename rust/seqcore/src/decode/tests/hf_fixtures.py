"""Writes the reference fixtures that the decode tests compare against.

Runs Hugging Face transformers' own generate() on a fake model whose
log-probabilities are a hash of the last tokens (the Rust tests compute the
same numbers), and records what it returns. Run once per version:

    python hf_fixtures.py beam        # under transformers 5.18: greedy + beam search
    python hf_fixtures.py group       # under transformers 4.56.2: diverse beam search

Each writes fixtures/<mode>.json next to this file. The fake model's values
are multiples of 2**-16 (exact in f32) and the model's log_softmax is replaced
by the identity, so generate() sees exactly the numbers the Rust side feeds.

Both versions need torch. To have 4.56.2 beside a newer transformers, install
it with `pip install --no-deps --target DIR transformers==4.56.2` and put DIR
first on PYTHONPATH; with newer tokenizers or huggingface_hub installed, its
import-time version check (transformers/dependency_versions_check.py in DIR)
has to be switched off by hand. Nothing else of those packages is used.
"""

import json
import random
import sys
from pathlib import Path

import torch
import transformers
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

MASK = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def fake_logprobs(seed: int, seq: list[int], vocab: int, eos: list[int], junk: int) -> list[float]:
    """Mirrors `fake_logprobs` in the Rust tests: depends on the last three
    tokens and the length. EOS gets a quarter of the spread so it is often
    near the top; `junk` (the last id) is never a sensible choice."""
    h = mix(seed)
    for t in seq[-3:]:
        h = mix(h ^ t)
    h = mix(h ^ len(seq))
    out = []
    for v in range(vocab):
        r = mix(h ^ ((v + 1) * 0x100000001B3 & MASK))
        value = -float((r >> 40) % (1 << 20)) / 65536.0
        if v in eos:
            value /= 4.0
        if v == junk:
            value = -60.0
        out.append(value)
    return out


class FakeConfig(PretrainedConfig):
    model_type = "seqcore_fake"

    def __init__(self, vocab_size=16, fake_seed=0, fake_eos=(), **kw):
        super().__init__(**kw)
        self.vocab_size = vocab_size
        self.fake_seed = fake_seed
        self.fake_eos = list(fake_eos)


class Fake(PreTrainedModel, GenerationMixin):
    config_class = FakeConfig

    def __init__(self, config):
        super().__init__(config)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids=None, attention_mask=None, **kw):
        c = self.config
        b, length = input_ids.shape
        logits = torch.zeros(b, length, c.vocab_size, dtype=torch.float32)
        for i in range(b):
            row = fake_logprobs(c.fake_seed, input_ids[i].tolist(), c.vocab_size, c.fake_eos, c.vocab_size - 1)
            logits[i, -1] = torch.tensor(row, dtype=torch.float32)
        return CausalLMOutputWithPast(logits=logits)

    def prepare_inputs_for_generation(self, input_ids, **kw):
        return {"input_ids": input_ids}


def random_case(rng: random.Random, mode: str) -> dict:
    vocab = rng.randint(6, 24)
    n_eos = rng.choices([0, 1, 2], [1, 7, 2])[0]
    if mode == "group":
        n_eos = rng.choices([0, 1, 2], [1, 8, 1])[0]
    eos = rng.sample(range(vocab - 1), n_eos)
    # No pad means eos[0]; diverse beam search then penalizes EOS in later
    # groups while earlier ones are done.
    pad = None if (mode == "group" and eos and rng.random() < 0.5) else vocab - 1
    batch = rng.randint(1, 3)
    plen = rng.randint(1, 5)
    prompts = [[rng.randrange(vocab - 1) for _ in range(plen)] for _ in range(batch)]
    if mode == "greedy":
        num_beams, groups = 1, 1
    elif mode == "beam":
        num_beams, groups = rng.randint(2, 5), 1
    else:
        groups = rng.randint(2, 3)
        num_beams = groups * rng.randint(1, 3)
    max_new = rng.randint(1, 12)
    bad = []
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            bad.append([rng.randrange(vocab - 1) for _ in range(rng.randint(1, 3))])
        if eos and rng.random() < 0.3:
            bad.append([eos[0]])
    return {
        "mode": mode,
        "seed": rng.randrange(1 << 32),
        "vocab": vocab,
        "eos": eos,
        "pad": pad,
        "prompts": prompts,
        "num_beams": num_beams,
        "num_groups": groups,
        "diversity_penalty": rng.choice([0.3, 1.0, 2.5]) if groups > 1 else 0.0,
        "length_penalty": rng.choice([1.0, 1.0, 0.0, 0.6, 1.7, -0.8]),
        "early_stopping": rng.choice(["heuristic", "finish", "never"]),
        "num_return_sequences": rng.randint(1, num_beams),
        "min_new_tokens": rng.choice([0, 0, rng.randint(1, max_new + 1)]),
        "max_new_tokens": max_new,
        "no_repeat_ngram_size": rng.choice([0, 0, 1, 2, 3]),
        "bad_words_ids": bad,
    }


def number(x: float):
    """A float for JSON, which has no infinities: those become strings."""
    return x if abs(x) != float("inf") else str(x)


def run_case(case: dict) -> list[dict]:
    model = Fake(FakeConfig(case["vocab"], case["seed"], case["eos"]))
    model.eval()
    early = {"heuristic": False, "finish": True, "never": "never"}[case["early_stopping"]]
    kwargs = dict(
        max_new_tokens=case["max_new_tokens"],
        min_new_tokens=case["min_new_tokens"] or None,
        num_beams=case["num_beams"],
        do_sample=False,
        length_penalty=case["length_penalty"],
        early_stopping=early,
        num_return_sequences=case["num_return_sequences"],
        eos_token_id=case["eos"] or None,
        pad_token_id=case["pad"],
        no_repeat_ngram_size=case["no_repeat_ngram_size"] or None,
        bad_words_ids=case["bad_words_ids"] or None,
        use_cache=False,
        return_dict_in_generate=True,
        output_scores=True,
    )
    if case["num_groups"] > 1:
        kwargs.update(num_beam_groups=case["num_groups"], diversity_penalty=case["diversity_penalty"])
    prompt_len = len(case["prompts"][0])
    with torch.no_grad():
        out = model.generate(torch.tensor(case["prompts"]), **kwargs)
    rows = []
    seqs = out.sequences.tolist()
    if case["mode"] == "greedy":
        for b, seq in enumerate(seqs):
            gen, scores = [], []
            for t, tok in enumerate(seq[prompt_len:]):
                gen.append(tok)
                scores.append(number(out.scores[t][b, tok].item()))
                if tok in case["eos"]:
                    break
            rows.append({"tokens": gen, "token_scores": scores})
    elif case["mode"] == "beam":
        indices = out.beam_indices.tolist()
        for r, seq in enumerate(seqs):
            n = sum(1 for i in indices[r] if i != -1)
            rows.append(
                {
                    "tokens": seq[prompt_len : prompt_len + n],
                    "score": number(out.sequences_scores[r].item()),
                    "beam_indices": indices[r][:n],
                }
            )
    else:
        # 4.56 rows: the hypothesis without its EOS, then eos_token_id[0],
        # then padding, all rows as long as the longest (see the Rust side).
        for r, seq in enumerate(seqs):
            rows.append({"row": seq[prompt_len:], "score": number(out.sequences_scores[r].item())})
    return rows


def main() -> None:
    which = sys.argv[1]
    torch.nn.functional.log_softmax = lambda x, dim=-1, **kw: x.clone()
    rng = random.Random(20240611 if which == "beam" else 20240612)
    modes = ["greedy"] * 40 + ["beam"] * 160 if which == "beam" else ["group"] * 160
    cases = []
    for mode in modes:
        case = random_case(rng, mode)
        case["expected"] = run_case(case)
        cases.append(case)
    doc = {"transformers": transformers.__version__, "cases": cases}
    path = Path(__file__).parent / "fixtures" / f"{which}.json"
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
