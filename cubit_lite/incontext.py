"""In-context regression on 1-D functions: prompts from a Gaussian-process prior, the
Bayes-optimal predictor, a small regressor built from the library's mixers, and a helper
that reads a trained head as a Nadaraya–Watson smoother.

A **prompt** is ``n`` pairs ``(x_1, y_1), …, (x_n, y_n)`` with ``y_t = f(x_t) + ε_t``,
``f ~ GP(0, k)``, ``k(x, x') = s² exp(−(x − x')² / (2ℓ²))`` and ``ε_t ~ N(0, σ²)``; the
lengthscale ``ℓ`` and the noise level ``σ`` are drawn per prompt, log-uniformly from the
ranges of a :class:`GPPrior`. The task at step ``t`` is to predict ``y_t`` from ``x_t`` and
the pairs before it (Garg et al. 2022's design, moved to 1-D functions).

The **Bayes-optimal** prediction is the GP posterior mean with the true hyperparameters,
``m_t = k_tᵀ (K_{<t} + σ²I)⁻¹ y_{<t}`` (``m_1 = 0``, the prior mean), and its expected
squared error is the predictive variance ``v_t = s² + σ² − k_tᵀ (K_{<t} + σ²I)⁻¹ k_t``.
:func:`gp_prefix_predictions` gets every ``t`` from one Cholesky factor ``C = L Lᵀ`` of
``C = K + σ²I``: row ``t`` of ``L`` satisfies ``L_{t,<t} L_{<t}ᵀ = k_tᵀ``, so with
``w = L⁻¹ y``, ``m_t = Σ_{j<t} L_tj w_j = y_t − L_tt w_t`` and ``v_t = L_tt²``.

Shapes: ``B`` prompts of ``n`` pairs; tensors are ``(B, n)`` unless said otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .mixers import MIXER_NAMES
from .model import POSITIONS, Block, ModelConfig
from .validation import in_range, one_of, positive, positive_int

__all__ = [
    "GPPrior",
    "InContextConfig",
    "InContextRegressor",
    "Prompts",
    "fit_bandwidth",
    "gp_prefix_predictions",
    "model_predictions",
    "nw_loo_predictions",
    "rbf_covariance",
    "sample_prompts",
    "stream_predictions",
    "train_incontext",
]


@dataclass(frozen=True)
class GPPrior:
    """Where prompts come from: ``x ~ U(x_range)``, ``ℓ`` and ``σ`` log-uniform in their ranges.

    Attributes:
        lengthscale: ``(low, high)`` of the RBF lengthscale ``ℓ``.
        noise: ``(low, high)`` of the noise standard deviation ``σ``.
        signal_std: the prior standard deviation ``s`` of ``f(x)``.
        x_range: ``(low, high)`` of the inputs.
    """

    lengthscale: tuple[float, float] = (0.1, 0.5)
    noise: tuple[float, float] = (0.05, 0.5)
    signal_std: float = 1.0
    x_range: tuple[float, float] = (-1.0, 1.0)

    def validate(self) -> GPPrior:
        for name in ("lengthscale", "noise", "x_range"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"{name} must be a (low, high) pair of finite numbers with low <= high; "
                                 f"got {getattr(self, name)!r}")
        for name in ("lengthscale", "noise"):
            if getattr(self, name)[0] <= 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)!r}")
        positive("signal_std", self.signal_std)
        return self


@dataclass
class Prompts:
    """A batch of prompts: inputs, noisy targets, the noiseless ``f`` and each prompt's ``ℓ`` and ``σ``."""

    x: Tensor  # (B, n)
    y: Tensor  # (B, n)
    f: Tensor  # (B, n)
    lengthscale: Tensor  # (B,)
    noise: Tensor  # (B,)
    signal_std: float


def rbf_covariance(x: Tensor, lengthscale: Tensor, signal_std: float = 1.0) -> Tensor:
    """``K_ij = s² exp(−(x_i − x_j)² / (2ℓ²))`` for each prompt: ``(B, n)``, ``(B,)`` → ``(B, n, n)``."""
    d2 = (x[:, :, None] - x[:, None, :]) ** 2
    return signal_std**2 * torch.exp(-d2 / (2 * lengthscale[:, None, None] ** 2))


def _log_uniform(low: float, high: float, size: int, generator: torch.Generator) -> Tensor:
    u = torch.rand(size, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


def sample_prompts(batch: int, n_points: int, prior: GPPrior = GPPrior(), *, generator: torch.Generator,
                   x: Tensor | None = None, lengthscale: Tensor | None = None,
                   noise: Tensor | None = None) -> Prompts:
    """Draw ``batch`` prompts of ``n_points`` pairs from ``prior`` (float64, on the CPU).

    ``x`` ``(B, n)``, ``lengthscale`` ``(B,)`` and ``noise`` ``(B,)`` may be fixed instead
    of drawn (the tests fix them to check the covariance). ``f = L z`` with ``L`` the
    Cholesky factor of ``K + 10⁻⁸ s² I`` and ``z ~ N(0, I)``; ``y = f + σ ε``.
    """
    batch, n_points = positive_int("batch", batch), positive_int("n_points", n_points)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator; got {type(generator).__name__}")
    prior.validate()
    if x is None:
        low, high = prior.x_range
        x = low + (high - low) * torch.rand(batch, n_points, generator=generator, dtype=torch.float64)
    if lengthscale is None:
        lengthscale = _log_uniform(*prior.lengthscale, batch, generator)
    if noise is None:
        noise = _log_uniform(*prior.noise, batch, generator)
    x, lengthscale, noise = (torch.as_tensor(v, dtype=torch.float64) for v in (x, lengthscale, noise))
    if x.shape != (batch, n_points) or lengthscale.shape != (batch,) or noise.shape != (batch,):
        raise ValueError(f"x must be ({batch}, {n_points}) and lengthscale, noise ({batch},); got "
                         f"{tuple(x.shape)}, {tuple(lengthscale.shape)}, {tuple(noise.shape)}")
    covariance = rbf_covariance(x, lengthscale, prior.signal_std)
    jitter = 1e-8 * prior.signal_std**2 * torch.eye(n_points, dtype=torch.float64)
    factor = torch.linalg.cholesky(covariance + jitter)
    f = (factor @ torch.randn(batch, n_points, 1, generator=generator, dtype=torch.float64))[..., 0]
    y = f + noise[:, None] * torch.randn(batch, n_points, generator=generator, dtype=torch.float64)
    return Prompts(x=x, y=y, f=f, lengthscale=lengthscale, noise=noise, signal_std=prior.signal_std)


def gp_prefix_predictions(prompts: Prompts) -> tuple[Tensor, Tensor]:
    """The Bayes-optimal predictions ``m_t`` of ``y_t`` from the pairs before ``t``, and their variances ``v_t``.

    Both ``(B, n)``; see the module docstring for the equations. ``m_1 = 0`` and
    ``v_1 = s² + σ²`` (the prior). Computed in float64 from one Cholesky factor.
    """
    x, y = prompts.x.double(), prompts.y.double()
    covariance = rbf_covariance(x, prompts.lengthscale.double(), prompts.signal_std)
    covariance = covariance + prompts.noise.double()[:, None, None] ** 2 * torch.eye(x.shape[1], dtype=torch.float64)
    factor = torch.linalg.cholesky(covariance)  # (B, n, n)
    w = torch.linalg.solve_triangular(factor, y[..., None], upper=False)[..., 0]  # (B, n)
    pivots = torch.diagonal(factor, dim1=-2, dim2=-1)  # (B, n)
    return y - pivots * w, pivots**2


# --------------------------------------------------------------------------- #
# A regressor made of the library's blocks
# --------------------------------------------------------------------------- #
@dataclass
class InContextConfig:
    """Shape of an :class:`InContextRegressor` (the blocks are :class:`cubit_lite.model.Block`)."""

    mixer: str = "transformer"
    n_points: int = 40
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    positions: str = "rotary"
    mixer_options: dict | None = None

    def model_config(self) -> ModelConfig:
        one_of("mixer", self.mixer, MIXER_NAMES)
        one_of("positions", self.positions, POSITIONS)
        return ModelConfig(vocab_size=1, block_size=self.n_points, n_layer=self.n_layer, n_head=self.n_head,
                           d_model=self.d_model, mixer=self.mixer, mixer_options=dict(self.mixer_options or {}),
                           positions=self.positions, dropout=0.0).validate()


class InContextRegressor(nn.Module):
    """Predict ``y_t`` from ``x_t`` and the pairs before it, for every ``t`` at once.

    Token ``t`` carries the new query and the previous example: features
    ``(x_t, x_{t−1}, y_{t−1}, 1)`` for ``t > 1`` and ``(x_1, 0, 0, 0)`` for ``t = 1``, mapped to
    the residual width by one linear layer. The blocks are causal, so the output at
    token ``t`` sees ``x_1..x_t`` and the pairs ``1..t−1``, never ``y_t``; a linear head
    there predicts ``y_t``. One attention head can then be Nadaraya–Watson over the
    context exactly: query from ``x_t``, key from ``x_{j−1}``, value from ``y_{j−1}``.
    ``(B, n)``, ``(B, n)`` → ``(B, n)``.
    """

    def __init__(self, config: InContextConfig) -> None:
        super().__init__()
        self.config = config
        model_config = config.model_config()
        self.embed = nn.Linear(4, config.d_model)
        self.position = nn.Embedding(config.n_points, config.d_model) if config.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(model_config) for _ in range(config.n_layer))
        self.norm = nn.LayerNorm(config.d_model, bias=False)
        self.head = nn.Linear(config.d_model, 1)

    @staticmethod
    def tokens(x: Tensor, y: Tensor) -> Tensor:
        """The token features ``(B, n, 4)``: ``(x_t, x_{t−1}, y_{t−1}, [t > 1])``."""
        previous_x = torch.nn.functional.pad(x[:, :-1], (1, 0))
        previous_y = torch.nn.functional.pad(y[:, :-1], (1, 0))
        has_pair = torch.ones_like(x)
        has_pair[:, 0] = 0
        return torch.stack([x, previous_x, previous_y, has_pair], dim=-1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape or x.dim() != 2 or x.shape[1] > self.config.n_points:
            raise ValueError(f"x and y must both be (B, n) with n <= {self.config.n_points}; "
                             f"got {tuple(x.shape)} and {tuple(y.shape)}")
        h = self.embed(self.tokens(x, y))  # (B, n, C)
        if self.position is not None:
            h = h + self.position(torch.arange(h.shape[1], device=h.device))
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))[..., 0]  # (B, n)


# --------------------------------------------------------------------------- #
# Reading a head as a smoother
# --------------------------------------------------------------------------- #
def fit_bandwidth(weights, x_query, x_keys, bandwidths) -> tuple[float, float]:
    """The Gaussian NW bandwidth whose weights come closest to a head's, and how close.

    Args:
        weights: ``(m, n)`` non-negative rows that sum to one over the keys each query
            may see (zeros elsewhere, e.g. the future under a causal mask).
        x_query: ``(m,)`` the input of each query.
        x_keys: ``(n,)`` the input of each key.
        bandwidths: candidate ``h > 0``.

    Returns:
        ``(h, distance)``: the candidate minimising the mean total-variation distance
        ``½ Σ_j |A_ij − W_ij(h)|`` between the rows, where ``W(h)`` is Gaussian NW over
        the same visible keys, and that distance (0: the head is exactly NW at ``h``;
        1: disjoint supports).
    """
    a = np.asarray(weights, dtype=float)
    xq, xk = np.asarray(x_query, dtype=float), np.asarray(x_keys, dtype=float)
    hs = np.asarray(bandwidths, dtype=float).ravel()
    if a.ndim != 2 or xq.shape != (a.shape[0],) or xk.shape != (a.shape[1],):
        raise ValueError(f"weights must be (m, n) with x_query (m,) and x_keys (n,); got {a.shape}, {xq.shape}, "
                         f"{xk.shape}")
    if hs.size == 0 or not np.all(np.isfinite(hs) & (hs > 0)):
        raise ValueError("bandwidths must be a non-empty list of positive finite numbers")
    if not np.all(np.isfinite(a)) or (a < 0).any() or not np.allclose(a.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("weights must be finite, non-negative, and each row must sum to one")
    visible = a > 0
    visible |= np.cumsum(visible[:, ::-1], axis=1)[:, ::-1] > 0  # keys up to each row's last visible one
    distances = []
    for h in hs:
        log_w = np.where(visible, -0.5 * ((xq[:, None] - xk[None, :]) / h) ** 2, -np.inf)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        distances.append(0.5 * np.abs(a - w).sum(axis=1).mean())
    best = int(np.argmin(distances))
    return float(hs[best]), float(distances[best])


# --------------------------------------------------------------------------- #
# The estimators of chapters 1-4 on the same prompts
# --------------------------------------------------------------------------- #
def stream_predictions(prompts: Prompts, method: str, *, bandwidth: float, lam: float = 0.0) -> Tensor:
    """Predict each ``y_t`` from the pairs before ``t`` with a chapter 1–4 estimator: ``(B, n)``.

    ``method`` is ``"nw"`` (Gaussian NW), ``"krr"`` (exact prefix KRR) or ``"surrogate"``
    (Cubit's triangular surrogate), with fixed ``bandwidth`` (and ``lam``). The stream
    functions of :mod:`cubit_lite.regression` see pairs ``1..k`` at step ``k`` with
    query ``x_{k+1}``, which is prediction ``t = k + 1`` here; ``t = 1`` predicts 0.
    """
    from . import regression

    functions: dict[str, Callable[..., np.ndarray]] = {
        "nw": regression.prefix_nadaraya_watson,
        "krr": regression.prefix_kernel_ridge,
        "surrogate": regression.triangular_kernel_ridge,
    }
    one_of("method", method, functions)
    options = {"bandwidth": bandwidth} if method == "nw" else {"bandwidth": bandwidth, "lam": lam}
    x, y = prompts.x.double().numpy(), prompts.y.double().numpy()
    out = np.zeros_like(y)
    for b in range(x.shape[0]):
        out[b, 1:] = functions[method](x[b, :-1], y[b, :-1], x[b, 1:], **options)
    return torch.from_numpy(out)


def nw_loo_predictions(prompts: Prompts, bandwidths) -> Tensor:
    """Gaussian NW with, at each ``t >= 3``, the bandwidth of least leave-one-out error on pairs ``1..t−1``.

    ``(B, n)``; ``t = 1`` predicts 0 and ``t = 2`` predicts ``y_1`` (any bandwidth).
    """
    from .regression import loo_bandwidth, nadaraya_watson

    x, y = prompts.x.double().numpy(), prompts.y.double().numpy()
    out = np.zeros_like(y)
    out[:, 1] = y[:, 0]
    for b in range(x.shape[0]):
        for t in range(2, x.shape[1]):
            h = loo_bandwidth(x[b, :t], y[b, :t], bandwidths).best_bandwidth
            out[b, t] = nadaraya_watson(x[b, :t], y[b, :t], x[b, t : t + 1], bandwidth=h)[0]
    return torch.from_numpy(out)


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #
def train_incontext(config: InContextConfig, *, steps: int, batch_size: int, lr: float, seed: int,
                    prior: GPPrior = GPPrior(), device: str | torch.device = "cpu", warmup: int | None = None,
                    weight_decay: float = 0.01, log_every: int = 50) -> tuple[InContextRegressor, list[dict]]:
    """Train an :class:`InContextRegressor` on fresh prompts; return it (eval mode) and the loss log.

    AdamW (β = 0.9, 0.99), linear warm-up over ``warmup`` steps (default 5% of
    ``steps``) then cosine decay to ``lr / 10``, gradient clip 1.0, float32. ``seed``
    fixes the initial weights and the stream of prompts (drawn on the CPU, so the same
    seed gives the same prompts on every device).
    """
    steps, batch_size = positive_int("steps", steps), positive_int("batch_size", batch_size)
    lr = in_range("lr", lr, 0, 1, low_open=True)
    device = torch.device(device)
    warmup = max(1, steps // 20) if warmup is None else warmup
    torch.manual_seed(seed)
    model = InContextRegressor(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(10_000 + seed)
    log = []
    for step in range(steps):
        progress = max(0.0, (step - warmup) / max(1, steps - warmup))
        rate = lr * (step + 1) / warmup if step < warmup else lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = rate
        prompts = sample_prompts(batch_size, config.n_points, prior, generator=generator)
        x, y = prompts.x.float().to(device), prompts.y.float().to(device)
        loss = torch.nn.functional.mse_loss(model(x, y), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            value = loss.item()
            if not math.isfinite(value):
                raise ValueError(f"training diverged at step {step + 1} (loss {value}); lower lr")
            log.append({"step": step + 1, "loss": value, "lr": rate})
    return model.eval(), log


@torch.no_grad()
def model_predictions(model: InContextRegressor, prompts: Prompts, batch_size: int = 256) -> Tensor:
    """The model's predictions ``(B, n)`` (float64 on the CPU), in batches on the model's device."""
    device = next(model.parameters()).device
    out = [model(prompts.x[i:i + batch_size].float().to(device), prompts.y[i:i + batch_size].float().to(device))
           for i in range(0, prompts.x.shape[0], batch_size)]
    return torch.cat(out).double().cpu()
