"""The equations page (book/equations.md) stays true: its names exist, the sections the
code cites exist, and the identities it states that other tests do not cover hold.

Identities already pinned elsewhere: NW, KRR (against scikit-learn), LLR and the
streaming estimators in tests/test_regression.py; attention as Gaussian NW, the
reduction to attention, the DeltaFormer identity of §4.2, causality and cached
decoding in tests/test_mixers.py.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cubit_lite import regression
from cubit_lite.mixers import apply_rotary, cubit_solve, reference_kernel, softmax_attention
from cubit_lite.mixers.logits import reference_factors

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "equations.md"
TEXT = PAGE.read_text(encoding="utf-8")


def _resolve(dotted: str):
    """Import the longest importable module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def _page_sections() -> set[str]:
    """Section numbers of the page's headings: "## 3. Cubit …" gives "3", "### 3.2 …" gives "3.2"."""
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", TEXT, flags=re.MULTILINE))


# --------------------------------------------------------------------------- #
# The page's structure and the names it uses
# --------------------------------------------------------------------------- #
def test_every_library_name_on_the_page_exists():
    names = sorted(set(re.findall(r"`{1,2}(cubit_lite(?:\.\w+)+)`{1,2}", TEXT)))
    assert len(names) >= 25, names  # the page names the function behind every equation
    for name in names:
        assert _resolve(name) is not None, name


def test_sections_and_labels():
    sections = _page_sections()
    assert {str(n) for n in range(1, 8)} <= sections
    assert {f"3.{n}" for n in range(1, 7)} <= sections
    assert TEXT.startswith("(equations)=\n# The equations")
    for n in range(1, 8):
        assert f"(eq-sec-{n})=\n## {n}. " in TEXT, n


def test_every_section_the_code_cites_exists():
    """Docstrings and tests cite "equations page §3.2"; the code says "§N" for the page's sections."""
    sections = _page_sections()
    cited = set()
    files = [*(ROOT / "cubit_lite").rglob("*.py"), *(ROOT / "tests").glob("*.py")]
    for path in files:
        for match in re.finditer(r"equations page §(\d+(?:\.\d+)?)(?:[–-]§(\d+))?", path.read_text(encoding="utf-8")):
            cited.add((path.name, match.group(1)))
            if match.group(2):
                cited.add((path.name, match.group(2)))
    assert cited, "no citation of the equations page found"
    missing = sorted((name, sec) for name, sec in cited if sec not in sections)
    assert not missing, f"cited sections missing from book/equations.md: {missing}"


def test_equation_labels_are_unique_and_every_eq_role_resolves():
    labels = re.findall(r"^ *\$\$ \((eq-[\w-]+)\)$", TEXT, flags=re.MULTILINE)
    assert len(labels) == len(set(labels)) and len(labels) >= 20
    for ref in re.findall(r"\{eq\}`([\w-]+)`", TEXT):
        assert ref in labels, ref


# --------------------------------------------------------------------------- #
# §2: the dot product as a distance
# --------------------------------------------------------------------------- #
def test_attention_is_gaussian_nw_with_per_key_weights():
    """eq-dot-vs-distance: with keys of any norm, attention = NW with the Gaussian kernel of
    bandwidth √τ and the per-key factor exp(‖k‖²/2τ)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, 12, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    tau = 1.7
    out = softmax_attention(q, k, v, scale=1.0 / tau)[0, 0]
    dist2 = torch.cdist(q[0, 0], k[0, 0]).pow(2)
    w = torch.exp(-dist2 / (2 * tau) + k[0, 0].pow(2).sum(-1) / (2 * tau)).tril()
    nw = (w / w.sum(-1, keepdim=True)) @ v[0, 0]
    torch.testing.assert_close(out, nw, atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- #
# §1.5: the KRR leave-one-out shortcut
# --------------------------------------------------------------------------- #
def test_krr_leave_one_out_residual_is_alpha_over_the_inverse_diagonal():
    x, y = regression.sample_toy_problem(n=30, seed=3)
    lam, h = 0.05, 0.08
    gram = regression.rbf_kernel(x, x, h) + lam * np.eye(x.size)
    inverse = np.linalg.inv(gram)
    shortcut = (inverse @ y) / np.diag(inverse)
    refit = np.array([
        y[i] - regression.kernel_ridge(np.delete(x, i), np.delete(y, i), x[i:i + 1], lam, h)[0]
        for i in range(x.size)
    ])
    np.testing.assert_allclose(shortcut, refit, atol=1e-9)


# --------------------------------------------------------------------------- #
# §3.2 and §3.3: the diagonal dominates its row
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("ref_norm", ["one-side", "both"])
@pytest.mark.parametrize("rotate", [False, True])
def test_diagonal_dominates_and_pivots_are_at_least_one_over_i(ref_norm, rotate):
    gen = torch.Generator().manual_seed(1)
    r = torch.randn(3, 4, 40, 8, generator=gen, dtype=torch.float64) * torch.rand(3, 4, 40, 1, generator=gen)
    if rotate:
        r = apply_rotary(r)
    scale = torch.tensor([0.5, 1.0, 4.0, 20.0], dtype=torch.float64)  # g per head, large g sharpens P
    p = reference_kernel(r, ref_scale=scale, ref_norm=ref_norm)
    diag = p.diagonal(dim1=-2, dim2=-1)
    i = torch.arange(1, 41, dtype=torch.float64)
    assert bool((diag >= 1.0 / i - 1e-15).all())
    lower = torch.ones(40, 40, dtype=torch.bool).tril()
    assert bool((p <= diag.unsqueeze(-1) + 1e-15)[..., lower].all())
    torch.testing.assert_close(p.sum(-1), torch.ones_like(diag), atol=1e-12, rtol=0)


def test_a_tiny_reference_can_lose_the_dominant_diagonal():
    """The proposition needs ‖r_i‖ >= ε (or r_i = 0): below ε the diagonal logit shrinks."""
    r = torch.tensor([[[[1.0, 0.0], [5e-7, 0.0]]]], dtype=torch.float64)
    p = reference_kernel(r, ref_scale=1e7)  # row 2: ℓ_21 = g·5e-7 = 5, ℓ_22 = g·(5e-7)²/1e-6 = 2.5
    assert float(p[0, 0, 1, 0]) > float(p[0, 0, 1, 1])


# --------------------------------------------------------------------------- #
# §3.6: what λ bounds and what it does not
# --------------------------------------------------------------------------- #
def _block_kernel(t: int, m: int) -> np.ndarray:
    """Rows of block k weigh themselves and every token of block k − 1 equally (§3.6)."""
    p = np.zeros((t, t))
    for i in range(t):
        block = i // m
        cols = [i, *range((block - 1) * m, block * m)] if block > 0 else list(range(i + 1))
        p[i, cols] = 1.0 / len(cols)
    return p


def test_the_block_kernel_has_the_properties_of_section_3_2_and_a_huge_inverse():
    lam, m = 0.5, 8
    assert m > (1 + lam) / (1 - lam)
    norms = []
    for t in (80, 160, 320):
        p = _block_kernel(t, m)
        diag = np.diag(p)
        assert np.allclose(p.sum(1), 1.0) and np.allclose(p, np.tril(p))
        assert np.all(p <= diag[:, None] + 1e-15) and np.all(diag >= 1.0 / np.arange(1, t + 1) - 1e-15)
        assert np.all(1.0 / (diag + lam) <= 1.0 / lam)  # every pivot bounded (eq-pivot-bound)
        norms.append(np.linalg.norm(np.linalg.inv(p + lam * np.eye(t)), 2))
    factor = m / (1 + lam * (m + 1))  # growth per block
    assert norms[0] > 10 and norms[2] > 1e6
    assert norms[2] / norms[1] > 0.5 * factor ** (160 / m)


@pytest.mark.parametrize("lam", [1.5, 3.0])
def test_neumann_bound_for_a_ridge_above_one(lam):
    gen = torch.Generator().manual_seed(2)
    r = torch.randn(1, 2, 64, 4, generator=gen, dtype=torch.float64)
    for p in (reference_kernel(r, ref_scale=8.0)[0], torch.from_numpy(_block_kernel(64, 8))[None]):
        inverse = torch.linalg.inv(p + lam * torch.eye(64, dtype=torch.float64))
        assert float(inverse.abs().sum(-1).max()) <= 1.0 / (lam - 1.0) + 1e-12


# --------------------------------------------------------------------------- #
# §6: causal ridge regression with a finite feature map
# --------------------------------------------------------------------------- #
def test_sherman_morrison_state_equals_prefix_kernel_ridge():
    rng = np.random.default_rng(4)
    t_max, p_dim, dv, lam = 25, 5, 3, 0.3
    phi_k = rng.standard_normal((t_max, p_dim))
    phi_q = rng.standard_normal((t_max, p_dim))
    values = rng.standard_normal((t_max, dv))
    inverse = np.eye(p_dim) / lam  # Γ_0⁻¹
    b_state = np.zeros((p_dim, dv))
    for t in range(t_max):
        f = phi_k[t:t + 1]  # (1, p), a row
        gf = inverse @ f.T
        inverse = inverse - (gf @ gf.T) / (1.0 + (f @ gf).item())  # eq-sherman-morrison (Γ symmetric)
        b_state = b_state + f.T @ values[t:t + 1]
        primal = phi_q[t] @ inverse @ b_state
        gram = phi_k[: t + 1] @ phi_k[: t + 1].T  # the dual form: exact prefix KRR, eq-prefix-krr
        dual = phi_q[t] @ phi_k[: t + 1].T @ np.linalg.solve(gram + lam * np.eye(t + 1), values[: t + 1])
        np.testing.assert_allclose(primal, dual, atol=1e-10)
        np.testing.assert_allclose(inverse, np.linalg.inv(lam * np.eye(p_dim) + phi_k[: t + 1].T @ phi_k[: t + 1]),
                                   atol=1e-10)


# --------------------------------------------------------------------------- #
# §7: one Gauss–Seidel sweep
# --------------------------------------------------------------------------- #
def _gauss_seidel_sweep(matrix: np.ndarray, rhs: np.ndarray, start: np.ndarray) -> np.ndarray:
    """One forward sweep: row i uses the new values of j < i and the old ones of j > i."""
    x = start.copy()
    for i in range(matrix.shape[0]):
        x[i] = (rhs[i] - matrix[i, :i] @ x[:i] - matrix[i, i + 1:] @ x[i + 1:]) / matrix[i, i]
    return x


@pytest.mark.parametrize("ref_norm", ["one-side", "both", "none"])
@pytest.mark.parametrize("lam", [1e-6, 0.1, 2.0])
def test_cubit_solve_is_one_gauss_seidel_sweep_from_zero(ref_norm, lam):
    gen = torch.Generator().manual_seed(5)
    t, g = 48, 3.0
    r = torch.randn(1, 1, t, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(1, 1, t, 4, generator=gen, dtype=torch.float64)  # y = S V
    a, b = reference_factors(r, g, ref_norm)
    logits = (a @ b.transpose(-2, -1))[0, 0].numpy()  # ℓ for all i, j: no mask
    big = np.exp(logits - logits.max())  # G up to one common factor, which cancels
    z = np.array([big[i, : i + 1].sum() for i in range(t)])  # Z_i over j <= i
    system = big + lam * np.diag(z)
    rhs = z[:, None] * y[0, 0].numpy()
    sweep = _gauss_seidel_sweep(system, rhs, np.zeros_like(rhs))
    u = cubit_solve(r, y, lam=lam, ref_scale=g, ref_norm=ref_norm, implementation="reference")[0, 0].numpy()
    scale = max(1.0, float(np.abs(u).max()))
    np.testing.assert_allclose(sweep, u, atol=1e-10 * scale, rtol=0)
    assert not np.allclose(np.linalg.solve(system, rhs), u)  # the full system is a different (non-causal) one
    if ref_norm != "one-side":
        np.testing.assert_allclose(big, big.T, atol=1e-12 * big.max())
    if ref_norm == "both":
        assert np.linalg.eigvalsh((big + big.T) / 2).min() > -1e-10 * big.max()
