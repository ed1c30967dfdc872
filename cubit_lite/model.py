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

:meth:`CharLM.generate` decodes with the mixers' incremental caches: each new token
costs ``O(t · d)`` per layer instead of a full forward pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mixers import MIXER_NAMES, MixerCache, build_mixer, mixer_options

__all__ = ["POSITIONS", "CharLM", "ModelConfig"]

POSITIONS = ("learned", "rotary")

# Beyond these, logits / temperature overflows float32 (NaN probabilities) or is flat noise.
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3


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
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
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
    """The character language model: ``(B, T)`` token ids → ``(B, T, V)`` next-token logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config.validate()
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
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/√(2·n_layer).
        for block in blocks:
            for projection in (block.mixer.out.weight, block.mlp.down.weight):
                nn.init.normal_(projection, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            if getattr(module, "_keep_init", False):
                return
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

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

        Samples from ``softmax(logits / temperature)`` restricted to the ``top_k`` most
        likely tokens (all when None). The prompt runs once through the model to fill
        the per-layer caches; every further token is one cached step. When the context
        reaches ``block_size`` the caches are refilled from the last ``block_size // 2``
        tokens (a sliding window), so text of any length can be generated.

        Returns:
            ``(B, T0 + max_new_tokens)`` token ids.
        """
        if not (isinstance(temperature, (int, float)) and MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
            raise ValueError(f"temperature must be a number between {MIN_TEMPERATURE:g} and {MAX_TEMPERATURE:g} "
                             f"(for the single most likely character use top_k=1); got {temperature!r}")
        if top_k is not None and not (isinstance(top_k, int) and 1 <= top_k):
            raise ValueError(f"top_k must be None or a positive integer; got {top_k!r}")
        if idx.dim() != 2 or idx.shape[1] < 1:
            raise ValueError(f"idx must be a (B, T) tensor of token ids with T >= 1; got shape {tuple(idx.shape)}")
        was_training = self.training
        self.eval()
        window = self.config.block_size
        context = idx[:, -window:]
        caches = self.new_caches()
        logits, _ = self(context, caches=caches)
        out = [idx]
        for _ in range(max_new_tokens):
            next_logits = logits[:, -1, :].float() / temperature  # (B, V)
            if top_k is not None and top_k < next_logits.shape[-1]:
                kth = torch.topk(next_logits, top_k, dim=-1).values[:, -1:]
                next_logits = next_logits.masked_fill(next_logits < kth, float("-inf"))
            probs = torch.softmax(next_logits, dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            out.append(token)
            if len(caches[0]) >= window:  # the context is full: slide the window
                recent = torch.cat(out, dim=1)[:, -(window // 2):]
                caches = self.new_caches()
                logits, _ = self(recent, caches=caches)
            else:
                logits, _ = self(token, caches=caches)
        self.train(was_training)
        return torch.cat(out, dim=1)
