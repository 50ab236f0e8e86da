# Stubs of the native module built from rust/seqcore-py; checked against the
# binary by tests/test_stubs.py.
from collections.abc import Callable, Iterable
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_MULTIWORD_JSON_BYTES",
    "MAX_NGRAM_ORDER",
    "MAX_NUM_THREADS",
    "MAX_RANK_FILE_BYTES",
    "MultiWord",
    "SearchConfig",
    "SearchState",
    "SpecialPolicy",
    "Tokenizer",
    "WordCounts",
    "__version__",
    "crf_log_partition",
    "crf_marginals",
    "crf_nbest",
    "crf_nll",
    "crf_viterbi",
    "damped_ema",
    "damped_ema_backward",
    "default_num_threads",
    "gateloop",
    "gateloop_backward",
    "get_num_threads",
    "hocrf_log_partition",
    "hocrf_marginals",
    "hocrf_nbest",
    "hocrf_nll",
    "hocrf_viterbi",
    "linear_scan",
    "linear_scan_backward",
    "preset_pattern",
    "selective_scan",
    "selective_scan_backward",
    "set_num_threads",
    "ssm_kernel",
    "ssm_kernel_backward",
    "train_bpe",
]

__version__: str

_Array = npt.NDArray[Any]

def get_num_threads() -> int: ...
def set_num_threads(threads: int) -> None: ...
def default_num_threads() -> int: ...

MAX_NUM_THREADS: int
MAX_NGRAM_ORDER: int

def gateloop(
    q: _Array, k: _Array, v: _Array, a: _Array, form: str = "recurrent", chunk_size: int = 64
) -> _Array: ...
def gateloop_backward(
    q: _Array,
    k: _Array,
    v: _Array,
    a: _Array,
    grad_y: _Array,
    form: str = "recurrent",
    chunk_size: int = 64,
) -> tuple[_Array, _Array, _Array, _Array]: ...
def linear_scan(
    a: _Array,
    b: _Array,
    h0: _Array | None = None,
    reverse: bool = False,
    out: _Array | None = None,
) -> _Array: ...
def linear_scan_backward(
    a: _Array,
    h: _Array,
    grad_h: _Array,
    h0: _Array | None = None,
    reverse: bool = False,
) -> tuple[_Array, _Array, _Array]: ...
def selective_scan(
    u: _Array,
    delta: _Array,
    A: _Array,
    B: _Array,
    C: _Array,
    D: _Array | None = None,
    z: _Array | None = None,
    delta_bias: _Array | None = None,
    delta_softplus: bool = False,
) -> tuple[_Array, _Array]: ...
def selective_scan_backward(
    u: _Array,
    delta: _Array,
    A: _Array,
    B: _Array,
    C: _Array,
    D: _Array | None,
    z: _Array | None,
    delta_bias: _Array | None,
    delta_softplus: bool,
    grad_out: _Array,
    grad_last_state: _Array | None = None,
) -> tuple[_Array, _Array, _Array, _Array, _Array, _Array | None, _Array | None, _Array | None]: ...
def ssm_kernel(w: _Array, z: _Array, length: int) -> _Array: ...
def ssm_kernel_backward(w: _Array, z: _Array, grad_k: _Array) -> tuple[_Array, _Array]: ...
def damped_ema(x: _Array, decay: _Array, drive: _Array, readout: _Array) -> _Array: ...
def damped_ema_backward(
    x: _Array, decay: _Array, drive: _Array, readout: _Array, grad_y: _Array
) -> tuple[_Array, _Array, _Array, _Array]: ...

# --- tokenization ---------------------------------------------------------

MAX_JSON_BYTES: int
MAX_RANK_FILE_BYTES: int
MAX_MULTIWORD_JSON_BYTES: int

def preset_pattern(name: str) -> str: ...

@final
class SpecialPolicy:
    def __new__(
        cls,
        allow_all: bool = False,
        allowed: list[int] | None = None,
        disallow_all: bool = True,
        disallowed: list[int] | None = None,
    ) -> SpecialPolicy: ...

@final
class Tokenizer:
    @staticmethod
    def from_json(data: bytes) -> Tokenizer: ...
    @staticmethod
    def from_ranks(
        data: bytes, pattern: str, special_tokens: list[tuple[str, int]]
    ) -> Tokenizer: ...
    @staticmethod
    def from_merges(
        tokens: list[bytes],
        merges: list[tuple[int, int]],
        pattern: str | None,
        special_tokens: list[tuple[str, int]],
        add_prefix_space: bool = False,
    ) -> Tokenizer: ...
    def to_json(self) -> str: ...
    def to_ranks(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def pattern(self) -> str | None: ...
    @property
    def vocab_size(self) -> int: ...
    def added_tokens(self) -> list[tuple[str, int, bool]]: ...
    def encode(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> list[int]: ...
    def encode_to_numpy(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> npt.NDArray[np.uint32]: ...
    def encode_with_offsets(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> tuple[list[int], list[tuple[int, int]]]: ...
    def encode_with_offsets_to_numpy(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
    def encode_batch(
        self,
        texts: Iterable[str],
        policy: SpecialPolicy | None = None,
        add_special_tokens: bool = True,
    ) -> list[list[int]]: ...
    def encode_batch_to_numpy(
        self,
        texts: Iterable[str],
        policy: SpecialPolicy | None = None,
        add_special_tokens: bool = True,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
    def decode_bytes(self, ids: Any, skip_special_tokens: bool = False) -> bytes: ...
    def decode(
        self, ids: Any, skip_special_tokens: bool = False, errors: str = "replace"
    ) -> str: ...
    def decode_batch(
        self, batch: Any, skip_special_tokens: bool = False, errors: str = "replace"
    ) -> list[str]: ...
    def token_to_id(self, token: str | bytes) -> int | None: ...
    def id_to_token(self, id: int) -> str: ...
    def id_to_bytes(self, id: int) -> bytes: ...
    def get_vocab(self) -> dict[str, int]: ...

@final
class MultiWord:
    @staticmethod
    def train(
        base: Tokenizer, texts: Iterable[str], orders: list[int], top_k: int, min_count: int
    ) -> MultiWord: ...
    @staticmethod
    def from_json(base: Tokenizer, data: bytes) -> MultiWord: ...
    def to_json(self) -> str: ...
    def ngrams(self) -> list[list[str]]: ...
    def pieces(self, id: int) -> list[int]: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def base_vocab_size(self) -> int: ...
    def encode(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> list[int]: ...
    def encode_to_numpy(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> npt.NDArray[np.uint32]: ...
    def encode_with_offsets(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> tuple[list[int], list[tuple[int, int]]]: ...
    def encode_with_offsets_to_numpy(
        self, text: str, policy: SpecialPolicy | None = None, add_special_tokens: bool = True
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
    def encode_batch(
        self,
        texts: Iterable[str],
        policy: SpecialPolicy | None = None,
        add_special_tokens: bool = True,
    ) -> list[list[int]]: ...
    def encode_batch_to_numpy(
        self,
        texts: Iterable[str],
        policy: SpecialPolicy | None = None,
        add_special_tokens: bool = True,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
    def decode_bytes(self, ids: Any, skip_special_tokens: bool = False) -> bytes: ...

@final
class WordCounts:
    def __new__(cls) -> WordCounts: ...
    def add_texts(self, texts: Iterable[str], pattern: str) -> None: ...
    def add_word(self, word: bytes, count: int) -> None: ...
    def merge(self, other: WordCounts) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> WordCounts: ...
    def __len__(self) -> int: ...
    @property
    def total(self) -> int: ...
    def most_common(self, n: int) -> list[tuple[bytes, int]]: ...

def train_bpe(
    counts: WordCounts,
    vocab_size: int,
    min_frequency: int,
    special_tokens: list[str],
    max_token_length: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[list[bytes], list[tuple[int, int]], list[int]]: ...

# decode: the search step machine
_Hyp = tuple[list[int], float, list[float], list[int], int]
_StepTuple = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]

@final
class SearchConfig:
    def __new__(
        cls,
        *,
        num_beams: int,
        num_groups: int,
        diversity_strength: float,
        diversity: str,
        diversity_ngram_size: int,
        length_penalty: float,
        early_stopping: str,
        num_return_sequences: int,
        eos_token_ids: list[int],
        pad_token_id: int | None,
        min_new_tokens: int,
        max_new_tokens: int,
        no_repeat_ngram_size: int,
        bad_words_ids: list[list[int]],
    ) -> SearchConfig: ...

@final
class SearchState:
    def __new__(
        cls, config: SearchConfig, *, vocab_size: int, prompts: list[list[int]], double: bool
    ) -> SearchState: ...
    @property
    def done(self) -> bool: ...
    @property
    def steps(self) -> int: ...
    def active_rows(self) -> npt.NDArray[np.int64]: ...
    def step(self, logprobs: npt.NDArray[Any]) -> _StepTuple: ...
    def step_candidates(
        self, tokens: npt.NDArray[np.int64], logprobs: npt.NDArray[Any]
    ) -> _StepTuple: ...
    def finish_on(self, rows: list[int], tokens: list[int]) -> None: ...
    def finalize(self) -> tuple[list[list[_Hyp]], list[list[list[_Hyp]]]]: ...

# crf: the first-order linear chain
def crf_log_partition(
    emissions: _Array, transitions: _Array, start: _Array, end: _Array, lengths: _Array
) -> _Array: ...
def crf_marginals(
    emissions: _Array,
    transitions: _Array,
    start: _Array,
    end: _Array,
    lengths: _Array,
    edges: bool = False,
) -> Any: ...
def crf_nll(
    emissions: _Array,
    transitions: _Array,
    start: _Array,
    end: _Array,
    lengths: _Array,
    tags: _Array,
    d_nll: _Array | None = None,
) -> tuple[_Array, _Array, _Array, _Array, _Array]: ...
def crf_viterbi(
    emissions: _Array, transitions: _Array, start: _Array, end: _Array, lengths: _Array
) -> tuple[list[list[int]], _Array]: ...
def crf_nbest(
    emissions: _Array, transitions: _Array, start: _Array, end: _Array, lengths: _Array, k: int
) -> list[list[tuple[list[int], float]]]: ...

# crf: higher-order linear chains (one list entry per order 1..N, or None)
def hocrf_log_partition(
    order: int,
    num_labels: int,
    factors: list[_Array | None],
    tables: list[_Array | None],
    lengths: _Array,
) -> _Array: ...
def hocrf_marginals(
    order: int,
    num_labels: int,
    factors: list[_Array | None],
    tables: list[_Array | None],
    lengths: _Array,
) -> list[_Array | None]: ...
def hocrf_nll(
    order: int,
    num_labels: int,
    factors: list[_Array | None],
    tables: list[_Array | None],
    lengths: _Array,
    tags: _Array,
    d_nll: _Array,
) -> tuple[_Array, list[_Array | None], list[_Array | None]]: ...
def hocrf_viterbi(
    order: int,
    num_labels: int,
    factors: list[_Array | None],
    tables: list[_Array | None],
    lengths: _Array,
) -> tuple[list[list[int]], _Array]: ...
def hocrf_nbest(
    order: int,
    num_labels: int,
    factors: list[_Array | None],
    tables: list[_Array | None],
    lengths: _Array,
    k: int,
) -> list[list[tuple[list[int], float]]]: ...
