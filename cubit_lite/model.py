"""A small decoder-only character language model whose token mixer is chosen by name.

The architecture follows nanoGPT's GPT-2 recipe, at a size a reader can train:

    tokens (B, T) → embedding (+ learned positions) → n_layer × Block → LayerNorm → logits (B, T, V)
    Block:  x ← x + Dropout(Mixer(LayerNorm(x)));   x ← x + MLP(LayerNorm(x))   (pre-norm)

The mixer is any name of :data:`cubit_lite.mixers.MIXER_NAMES` (``"transformer"`` is
softmax attention, ``"cubit"`` the paper's eq. 13, ...), so two models that differ only
in ``mixer`` have the same embeddings, MLPs and norms. The output layer shares its
weights with the token embedding (tied embeddings). Positions are learned absolute
embeddings (``positions="learned"``, nanoGPT's choice) or rotary (``"rotary"``, applied
to queries and keys inside every mixer).

Initial weights are drawn per parameter: the tensor named ``blocks.0.mixer.query.weight``
comes from a generator seeded by the model's ``seed`` and that name
(:func:`parameter_generator`). Two models built with one seed therefore start from
identical embeddings, norms, MLPs, query/key/value/output projections and head, whatever
their mixers; only a mixer's own parameters (Cubit's reference projection and LRR gate)
differ between them.

:meth:`CharLM.generate` decodes with the mixers' incremental caches: each new token
costs ``O(t · d)`` per layer instead of a full forward pass.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mixers import MIXER_NAMES, MixerCache, build_mixer, mixer_options
from .validation import positive_int

__all__ = ["POSITIONS", "CharLM", "ModelConfig", "parameter_generator"]

POSITIONS = ("learned", "rotary")

# Beyond these, logits / temperature overflows float32 (NaN probabilities) or is flat noise.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3

# GPT-2's initial scale of every linear and embedding weight.
INIT_STD = 0.02


def parameter_generator(seed: int, name: str) -> torch.Generator:
    """A CPU generator seeded by ``(seed, name)``: the source of parameter ``name``'s initial values.

    The seed is the first 63 bits of ``sha256(f"{seed}:{name}")``, so each parameter's
    draw depends on nothing but the run's seed and the parameter's dotted path in the
    model, never on which other modules were built before it.
    """
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


@dataclass
class ModelConfig:
    """Everything that fixes the model's shape (saved in every checkpoint).

    Attributes:
        vocab_size: number of distinct characters ``V``.
        block_size: the longest context ``T`` the model is trained on.
        n_layer, n_head, d_model: depth, heads per layer, residual width ``C``.
        mixer: token-mixer name, one of :data:`~cubit_lite.mixers.MIXER_NAMES`.
        mixer_options: keyword options of that mixer (e.g. ``{"lam": 1e-3}``).
        positions: ``"learned"`` or ``"rotary"``.
        mlp_ratio: hidden width of the MLP is ``mlp_ratio · d_model``.
        dropout: on embeddings, mixer outputs and MLP outputs.
        bias: biases in linear layers and LayerNorms.
    """

    vocab_size: int
    block_size: int
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    mixer: str = "transformer"
    mixer_options: dict = field(default_factory=dict)
    positions: str = "learned"
    mlp_ratio: int = 4
    dropout: float = 0.0
    bias: bool = False

    def validate(self) -> ModelConfig:
        """Raise :class:`ValueError` naming the first bad field; return ``self``."""
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "mlp_ratio"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        if self.mixer not in MIXER_NAMES:
            raise ValueError(f"unknown mixer {self.mixer!r}; choose one of {', '.join(MIXER_NAMES)}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(POSITIONS)}; got {self.positions!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout!r}")
        unknown = sorted(set(self.mixer_options) - set(mixer_options(self.mixer)) - {"rotary"})
        if unknown or "rotary" in self.mixer_options:
            bad = unknown or ["rotary (set positions='rotary' instead)"]
            raise ValueError(f"mixer {self.mixer!r} does not take option(s) {', '.join(bad)}; "
                             f"its options are: {', '.join(o for o in mixer_options(self.mixer) if o != 'rotary')}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config field(s): {', '.join(unknown)}")
        return cls(**values).validate()


class MLP(nn.Module):
    """``Linear(C → rC) → GELU → Linear(rC → C) → Dropout``, on ``(B, T, C)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        hidden = config.mlp_ratio * config.d_model
        self.up = nn.Linear(config.d_model, hidden, bias=config.bias)
        self.down = nn.Linear(hidden, config.d_model, bias=config.bias)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    """One pre-norm residual block: ``x + Mixer(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.norm_mix = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mixer = build_mixer(config.mixer, config.d_model, config.n_head, bias=config.bias,
                                 rotary=config.positions == "rotary", **config.mixer_options)
        self.drop = nn.Dropout(config.dropout)
        self.norm_mlp = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: MixerCache | None = None) -> Tensor:
        x = x + self.drop(self.mixer(self.norm_mix(x), cache))
        return x + self.mlp(self.norm_mlp(x))


class CharLM(nn.Module):
    """The character language model: ``(B, T)`` token ids → ``(B, T, V)`` next-token logits.

    Args:
        config: the model's shape (:class:`ModelConfig`).
        seed: the seed of the initial weights (see the module docstring). None draws one
            from PyTorch's global generator, so ``torch.manual_seed(s)`` before building
            two models also gives their shared parameters identical starts. Building the
            model leaves the global generator as it found it apart from that one draw.
    """

    def __init__(self, config: ModelConfig, *, seed: int | None = None) -> None:
        super().__init__()
        self.config = config.validate()
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        elif not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer or None; got {seed!r}")
        with torch.random.fork_rng(devices=[]):  # the layers' default inits draw from it; all are replaced below
            self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
            self.position_embedding = (
                nn.Embedding(config.block_size, config.d_model) if config.positions == "learned" else None
            )
            self.drop = nn.Dropout(config.dropout)
            blocks = [Block(config) for _ in range(config.n_layer)]  # typed Block (ModuleList items are Module)
            self.blocks = nn.ModuleList(blocks)
            self.norm = nn.LayerNorm(config.d_model, bias=config.bias)
            self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight  # tied embeddings
        # GPT-2: the residual projections start at INIT_STD/√(2·n_layer).
        residual = {id(p) for block in blocks for p in (block.mixer.out.weight, block.mlp.down.weight)}
        self._init_weights(seed, residual)

    @torch.no_grad()
    def _init_weights(self, seed: int, residual: set[int]) -> None:
        """Draw every linear and embedding weight from its own :func:`parameter_generator`
        (normal, std ``INIT_STD``, or ``INIT_STD/√(2·n_layer)`` for ``residual``); zero
        linear biases. Parameters of other modules (norms, λ, ``g``, a ``_keep_init``
        layer) keep their constructors' fixed values."""
        for module_name, module in self.named_modules():
            if (not isinstance(module, (nn.Linear, nn.Embedding)) or module is self.head  # tied: the embedding's
                    or getattr(module, "_keep_init", False)):
                continue
            for param_name, param in module.named_parameters(recurse=False):
                name = f"{module_name}.{param_name}"
                if param_name == "bias":
                    param.zero_()
                    continue
                std = INIT_STD / math.sqrt(2 * self.config.n_layer) if id(param) in residual else INIT_STD
                draw = torch.empty(param.shape).normal_(0.0, std, generator=parameter_generator(seed, name))
                param.copy_(draw)

    def num_parameters(self) -> int:
        """Trainable parameters, each counted once (the tied output layer is the embedding)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def new_caches(self) -> list[MixerCache]:
        """One empty :class:`~cubit_lite.mixers.MixerCache` per layer, for incremental decoding."""
        return [MixerCache() for _ in self.blocks]

    def forward(self, idx: Tensor, targets: Tensor | None = None, caches: list[MixerCache] | None = None):
        """Logits for every position, and the mean cross-entropy if ``targets`` is given.

        Args:
            idx: token ids ``(B, T)``; with filled ``caches``, ``T = 1`` (one new token).
            targets: next-token ids ``(B, T)``, or None.
            caches: per-layer caches from :meth:`new_caches` (decoding), or None.

        Returns:
            ``(logits (B, T, V), loss)``; ``loss`` is None without targets.
        """
        b, t = idx.shape
        start = len(caches[0]) if caches else 0
        if start + t > self.config.block_size and self.position_embedding is not None:
            raise ValueError(
                f"the model was built for contexts of at most block_size = {self.config.block_size} tokens; "
                f"got {start + t}"
            )
        x = self.token_embedding(idx)  # (B, T, C)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(start, start + t, device=idx.device))
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        logits = self.head(self.norm(x))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Continue each row of ``idx`` ``(B, T0)`` by ``max_new_tokens`` sampled tokens.

        The tokens of :meth:`stream` (same arguments, same draws from ``generator``),
        joined once at the end after the prompt.

        Returns:
            ``(B, T0 + max_new_tokens)`` token ids.
        """
        chunks = list(self.stream(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator))
        return torch.cat([idx, *chunks], dim=1)

    def stream(
        self,
        idx: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        chunk_size: int = 1,
    ) -> Iterator[Tensor]:
        """Sample ``max_new_tokens`` tokens after each row of ``idx`` ``(B, T0)``, yielding them as they come.

        Yields ``(B, k)`` chunks of new token ids, ``k = chunk_size`` (the last chunk may
        be shorter); nothing when ``max_new_tokens`` is 0. Samples from
        ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely tokens
        (all when None). The prompt runs once through the model to fill the per-layer
        caches; every further token is one cached step. When the context reaches
        ``block_size`` the caches are refilled from the last ``block_size // 2`` tokens
        (a sliding window, at least one token), so text of any length can be generated in
        time and memory linear in its length: only the tokens of the current window are
        kept.

        The arguments are checked when ``stream`` is called (:class:`ValueError` naming
        the first bad one), before anything runs. The model is in eval mode until the
        stream is exhausted or closed, then back in the mode it was in.
        """
        self._check_generation_args(idx, max_new_tokens, temperature, top_k, chunk_size)
        return self._stream(idx, max_new_tokens, temperature, top_k, generator, chunk_size)

    def _check_generation_args(self, idx: Tensor, max_new_tokens: int, temperature: float, top_k: int | None,
                               chunk_size: int) -> None:
        """Raise :class:`ValueError` naming the first argument of :meth:`stream` that is out of range."""
        if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
                and MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
            raise ValueError(f"temperature must be a number between {MIN_TEMPERATURE:g} and {MAX_TEMPERATURE:g} "
                             f"(for the single most likely character use top_k=1); got {temperature!r}")
        if top_k is not None and not (isinstance(top_k, int) and not isinstance(top_k, bool) and 1 <= top_k):
            raise ValueError(f"top_k must be None or a positive integer; got {top_k!r}")
        for name, value, low in (("max_new_tokens", max_new_tokens, 0), ("chunk_size", chunk_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if not isinstance(idx, Tensor) or idx.dim() != 2 or 0 in idx.shape:
            got = f"shape {tuple(idx.shape)}" if isinstance(idx, Tensor) else type(idx).__name__
            raise ValueError(f"idx must be a (B, T) tensor of token ids with B, T >= 1; got {got}")
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise ValueError(f"idx must hold integer token ids; got dtype {idx.dtype}")
        low, high = int(idx.min()), int(idx.max())
        if low < 0 or high >= self.config.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"idx holds token id {bad}, outside the model's vocabulary: ids are 0 to "
                             f"{self.config.vocab_size - 1} (vocab_size = {self.config.vocab_size})")

    @torch.no_grad()
    def _stream(self, idx: Tensor, max_new_tokens: int, temperature: float, top_k: int | None,
                generator: torch.Generator | None, chunk_size: int) -> Iterator[Tensor]:
        """:meth:`stream`'s loop, on checked arguments."""
        if max_new_tokens == 0:
            return
        window = self.config.block_size
        was_training = self.training
        self.eval()
        try:
            context = idx[:, -window:]  # (B, ≤ window): what the caches were last filled from
            fed: list[Tensor] = []  # (B, 1) tokens fed one by one since then
            caches = self.new_caches()
            logits, _ = self(context, caches=caches)
            chunk: list[Tensor] = []
            for step in range(max_new_tokens):
                token = self._sample_next(logits, temperature, top_k, generator)  # (B, 1)
                chunk.append(token)
                if len(chunk) == chunk_size or step == max_new_tokens - 1:
                    yield torch.cat(chunk, dim=1)
                    chunk = []
                if step == max_new_tokens - 1:
                    break
                if len(caches[0]) >= window:  # the context is full: slide the window
                    context = _window_tail(context, fed, token, window)
                    fed = []
                    caches = self.new_caches()
                    logits, _ = self(context, caches=caches)
                else:
                    fed.append(token)
                    logits, _ = self(token, caches=caches)
        finally:
            self.train(was_training)

    @staticmethod
    def _sample_next(logits: Tensor, temperature: float, top_k: int | None,
                     generator: torch.Generator | None) -> Tensor:
        """One token per row ``(B, 1)`` from the last position of ``logits`` ``(B, T, V)``."""
        next_logits = logits[:, -1, :].float() / temperature  # (B, V)
        if top_k is not None and top_k < next_logits.shape[-1]:
            kth = torch.topk(next_logits, top_k, dim=-1).values[:, -1:]
            next_logits = next_logits.masked_fill(next_logits < kth, float("-inf"))
        probs = torch.softmax(next_logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator)


def _window_tail(context: Tensor, fed: list[Tensor], token: Tensor, window: int) -> Tensor:
    """The last ``max(1, window // 2)`` tokens of ``context``, then ``fed``, then ``token`` (all ``(B, ·)``).

    Only the tokens in the caches and the new one are joined (at most ``window + 1``
    per row), never the whole history, so each slide costs ``O(window)``.
    """
    return torch.cat([context, *fed, token], dim=1)[:, -max(1, window // 2):]
