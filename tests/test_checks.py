"""The self-checking exercises (``cubit_lite.checks``).

Every registered check passes the library's reference and the worked solution that the
book gives for its exercise, and fails two planted wrong functions at a case that its
line names. The line format, the handling of whatever a wrong function does, the misuse
errors and the tolerance are tested on their own, and so are the two research identities
behind the chapters' research exercises (sparsemax as Epanechnikov NW; one gradient step
as the large-ridge limit). The chapters' own check cells run when the chapters are
executed (``tests/test_book.py``, ``tests/test_colab_env.py``); here they are read, not run.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from cubit_lite.check_cases import sparsemax
from cubit_lite.checks import CHECKS, check
from cubit_lite.mixers import cubit_solve, reference_kernel
from cubit_lite.regression import kernel_profile
from cubit_lite.streaming_ridge import prefix_ridge

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
CALL = re.compile(r"""\bcheck\(\s*["']([\w.]+)["']\s*,\s*(\w+)\s*\)""")


# --------------------------------------------------------------------------- #
# Planted wrong functions: two per check, each a plausible mistake
# --------------------------------------------------------------------------- #
def _gauss(a, b, h, factor=2.0):
    return np.exp(-((np.asarray(a)[:, None] - np.asarray(b)[None, :]) ** 2) / (factor * h**2))


def nw_not_normalised(x_train, y_train, x_query, h):
    return _gauss(x_query, x_train, h) @ y_train


def nw_bandwidth_too_small(x_train, y_train, x_query, h):  # exp(−u²/h²): the bandwidth h/√2
    w = _gauss(x_query, x_train, h, factor=1.0)
    return w @ y_train / w.sum(axis=1)


def krr_without_ridge(x_train, y_train, x_query, lam, h):
    return _gauss(x_query, x_train, h) @ np.linalg.solve(_gauss(x_train, x_train, h), y_train)


def krr_gamma_wrong(x_train, y_train, x_query, lam, h):  # γ = 1/h²
    gram = _gauss(x_train, x_train, h, factor=1.0) + lam * np.eye(len(x_train))
    return _gauss(x_query, x_train, h, factor=1.0) @ np.linalg.solve(gram, y_train)


def _masked_softmax(logits):
    future = torch.ones_like(logits, dtype=torch.bool).triu(1)
    return torch.softmax(logits.masked_fill(future, -math.inf), dim=-1)


def attention_not_causal(q, k, v, tau):
    return torch.softmax(q @ k.T / tau, dim=-1) @ v


def attention_root_d_temperature(q, k, v, tau):  # the usual τ = √d instead of the given τ
    return _masked_softmax(q @ k.T / math.sqrt(q.shape[1])) @ v


def sparsemax_as_softmax(q, k, v, tau):
    return _masked_softmax(q @ k.T / tau) @ v


def sparsemax_as_normalised_relu(q, k, v, tau):  # a fixed threshold 0 instead of θ
    w = torch.tril(torch.relu(q @ k.T / tau))
    return w / w.sum(dim=1, keepdim=True) @ v


def _causal_nw(queries, x, h, causal=True):
    w = _gauss(queries, x, h) * (np.tril(np.ones((len(x), len(x)))) if causal else 1.0)
    return w / w.sum(axis=1, keepdims=True)


def surrogate_not_causal(x, y, z, lam, h):
    p = _causal_nw(x, x, h, causal=False)
    return _causal_nw(z, x, h, causal=False) @ np.linalg.solve(p + lam * np.eye(len(x)), y)


def surrogate_without_readout(x, y, z, lam, h):
    return np.linalg.solve(_causal_nw(x, x, h) + lam * np.eye(len(x)), y)


def gd_mean_loss(x, y, q, eta):  # ½ mean instead of ½ sum: a step size η/t
    return eta * np.tril(q @ x.T) @ y / np.arange(1, len(x) + 1)[:, None]


def gd_not_causal(x, y, q, eta):
    return eta * (q @ x.T) @ y


def delta_rule_beta_one(r, v, s, lam):  # the DeltaFormer layer's initial β = 1 instead of Cubit's β_i
    p = reference_kernel(r[None, None])[0, 0]
    u = torch.zeros_like(v)
    for i in range(r.shape[0]):
        memory = (p[i, :i] / (1 - p[i, i])) @ u[:i] if i else torch.zeros_like(v[0])
        u[i] = s[i] * v[i] / (p[i, i] + lam) - memory
    return u


def delta_rule_without_lrr(r, v, s, lam):
    return cubit_solve(r[None, None], v[None, None], lam=lam, implementation="reference")[0, 0]


def gp_including_the_target(x, y, lengthscale, noise):  # m_t from the pairs up to t, not before t
    k = _gauss(x, x, lengthscale)
    return np.array([k[t, : t + 1] @ np.linalg.solve(k[: t + 1, : t + 1] + noise**2 * np.eye(t + 1), y[: t + 1])
                     for t in range(len(x))])


def gp_ridge_is_sigma(x, y, lengthscale, noise):  # λ = σ instead of σ²
    k = _gauss(x, x, lengthscale)
    return np.array([0.0] + [k[t, :t] @ np.linalg.solve(k[:t, :t] + noise * np.eye(t), y[:t])
                             for t in range(1, len(x))])


WRONG = {
    "ch1.nw": [nw_not_normalised, nw_bandwidth_too_small],
    "ch2.krr": [krr_without_ridge, krr_gamma_wrong],
    "ch3.attention_as_nw": [attention_not_causal, attention_root_d_temperature],
    "ch3.sparsemax_epanechnikov": [sparsemax_as_softmax, sparsemax_as_normalised_relu],
    "ch4.surrogate": [surrogate_not_causal, surrogate_without_readout],
    "ch4.linear_attention_gd": [gd_mean_loss, gd_not_causal],
    "ch5.cubit_delta_rule": [delta_rule_beta_one, delta_rule_without_lrr],
    "ch9.gp_prefix_mean": [gp_including_the_target, gp_ridge_is_sigma],
}


# --------------------------------------------------------------------------- #
# The chapters' exercises, read from the notebooks
# --------------------------------------------------------------------------- #
def _code_cells():
    """(chapter, code cell, inside a worked solution?) for every code cell of the chapters."""
    found = []
    for path in CHAPTERS:
        inside = False
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                starts, ends = cell.source.find("{solution-start}"), cell.source.find("{solution-end}")
                if starts >= 0 or ends >= 0:
                    inside = starts > ends
            else:
                found.append((path.name, cell, inside))
    return found


CODE_CELLS = _code_cells()


def _definitions(source: str, namespace: dict) -> dict:
    """Run a cell's imports and function definitions (nothing else) in ``namespace``."""
    tree = ast.parse(source)
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    exec(compile(ast.Module(body=kept, type_ignores=[]), "<cell>", "exec"), namespace)  # noqa: S102
    return namespace


def _worked_solution(name: str):
    """The function that the book's worked solution of check ``name``'s exercise defines."""
    for _, cell, inside in CODE_CELLS:
        call = CALL.search(cell.source)
        if inside and call and call.group(1) == name:
            return _definitions(cell.source, {"np": np, "torch": torch, "math": math})[call.group(2)]
    raise LookupError(f"no worked solution in the chapters calls check({name!r}, ...)")


# --------------------------------------------------------------------------- #
# Each check: the reference and the book's solution pass, planted mistakes fail
# --------------------------------------------------------------------------- #
def test_every_check_has_planted_mistakes():
    assert set(WRONG) == set(CHECKS) and len(CHECKS) >= 8


@pytest.mark.slow  # 1.3 s
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_reference_passes(name):
    result = check(name, CHECKS[name].reference)
    assert result.passed and result.status == "passed" and result.case is None
    assert repr(result) == str(result) == f"✓ {name}: {len(CHECKS[name].run_cases())} cases passed"


@pytest.mark.slow  # 1.6 s
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_books_worked_solution_passes(name):
    result = check(name, _worked_solution(name))
    assert result.passed, result.line


@pytest.mark.parametrize("name, wrong", [(n, f) for n, fs in WRONG.items() for f in fs],
                         ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_a_planted_mistake_fails_at_a_named_case(name, wrong):
    result = check(name, wrong)
    cases = CHECKS[name].run_cases()
    assert not result and result.status == "failed" and result.case is not None
    label = cases[result.case - 1].label
    assert result.line.startswith(f"✗ {name}: case {result.case} of {len(cases)} ({label}): ")
    assert "Hint: " in result.line and "\n" not in result.line


def test_a_mistake_that_edge_cases_miss_is_caught_by_a_random_case():
    """The wrong temperature gives the right answer for one token, equal keys and zero queries."""
    result = check("ch3.attention_as_nw", attention_root_d_temperature)
    assert result.case is not None and result.case > 3
    assert re.search(r"row \d+: expected \[.*\], got \[.*\]; at column \d+, expected .*, got .* \(tolerance ",
                     result.line)


# --------------------------------------------------------------------------- #
# The one-line answer, whatever the function does
# --------------------------------------------------------------------------- #
def _stub(x_train, y_train, x_query, h):
    raise NotImplementedError  # your code


def test_an_unwritten_stub_is_not_implemented_yet():
    result = check("ch1.nw", _stub)
    assert result.status == "not implemented" and not result and result.case is None
    assert result.line.startswith("○ ch1.nw: _stub is not implemented yet")


@pytest.mark.parametrize(
    "answer, expected",
    [
        (lambda *a: 1 / 0, "raised ZeroDivisionError: division by zero"),
        (lambda *a: (_ for _ in ()).throw(KeyError("x_train")), "raised KeyError: 'x_train'"),
        (lambda *a: "0.5", "returned a str, not an array of numbers"),
        (lambda *a: {"y": 1}, "returned a dict, not an array of numbers"),
        (lambda x, y, q, h: np.full((len(q), 1), y.mean()), "expected an array of shape (3,), got shape (3, 1)"),
        (lambda x, y, q, h: np.full(len(q), np.nan), "got nan at index 0"),
        (lambda x, y, q, h: torch.full((len(q),), math.inf), "got inf at index 0"),
    ],
    ids=["raises", "raises-keyerror", "string", "dict", "shape", "nan", "tensor-inf"],
)
def test_whatever_a_wrong_function_does_is_reported_in_one_line(answer, expected):
    result = check("ch1.nw", answer)
    assert result.status == "failed" and result.case == 1
    assert result.line.startswith("✗ ch1.nw: case 1 of ") and expected in result.line, result.line
    assert "\n" not in result.line and "Hint: " in result.line


def test_not_implemented_after_the_first_case_is_a_failure():
    def partial(x_train, y_train, x_query, h):
        if len(x_train) > 1:
            raise NotImplementedError("only one sample so far")
        return np.full(len(x_query), y_train[0])

    result = check("ch1.nw", partial)
    assert result.status == "failed" and result.case == 2
    assert "partial raised NotImplementedError" in result.line


def test_tensors_and_lists_are_accepted_as_answers():
    reference = CHECKS["ch1.nw"].reference
    assert check("ch1.nw", lambda *a: torch.from_numpy(reference(*a)))
    assert check("ch1.nw", lambda *a: list(reference(*a)))


def test_a_function_that_changes_its_inputs_cannot_change_the_cases():
    reference = CHECKS["ch2.krr"].reference

    def overwrites(x_train, y_train, x_query, lam, h):
        answer = reference(x_train, y_train, x_query, lam, h)
        x_train[:], y_train[:], x_query[:] = 0.0, 0.0, 0.0
        return answer

    assert check("ch2.krr", overwrites)
    assert check("ch2.krr", reference)


@pytest.mark.parametrize("name", ["ch1.nw", "ch5.cubit_delta_rule"])
def test_the_stated_tolerance_is_the_one_applied(name):
    spec = CHECKS[name]

    def off_by(times):
        def answer(*args):
            expected = np.asarray(spec.reference(*args), dtype=np.float64)
            return expected + times * (spec.atol + spec.rtol * np.abs(expected))
        return answer

    assert check(name, off_by(0.5))
    result = check(name, off_by(2.0))
    assert result.case == 1 and f"(tolerance {spec.atol:g} + {spec.rtol:g}·|expected|)" in result.line


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_the_checks_work_where_autograd_is_off(mode):
    """A chapter that never trains turns autograd off; the gradient-step reference still works there."""
    with getattr(torch, mode)():
        assert check("ch4.linear_attention_gd", CHECKS["ch4.linear_attention_gd"].reference)


def test_cases_are_the_same_every_time_small_and_start_with_edge_cases():
    for name, spec in CHECKS.items():
        first, second = spec.run_cases(), spec.run_cases()
        assert [c.label for c in first] == [c.label for c in second], name
        for a, b in zip(first, second, strict=True):
            for x, y in zip(a.args, b.args, strict=True):
                assert np.array_equal(np.asarray(x), np.asarray(y)), (name, a.label)
        assert len(first) >= 15, name
        assert re.match(r"(n|T)=1, ", first[0].label), (name, first[0].label)  # a single sample or token
        assert first[0].hint, name  # the edge case says what the answer must be
        assert len({c.label for c in first}) == len(first), name
        sizes = [np.asarray(a).shape[0] for c in first for a in c.args if np.ndim(a) >= 1]
        assert max(sizes) <= 40, name


# --------------------------------------------------------------------------- #
# Misuse: clear errors
# --------------------------------------------------------------------------- #
def test_an_unknown_name_lists_the_checks():
    with pytest.raises(ValueError, match=r"unknown check 'ch1\.nww'; the checks are: ") as err:
        check("ch1.nww", nw_not_normalised)
    assert all(name in str(err.value) for name in CHECKS)
    with pytest.raises(ValueError, match="unknown check 3"):
        check(3, nw_not_normalised)  # type: ignore[arg-type]


def test_the_function_must_be_callable():
    with pytest.raises(TypeError, match=r"fn must be your function \(nw_estimator\(x_train, y_train, x_query, h\)\)"):
        check("ch1.nw", np.zeros(3))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# The chapters: who uses which check
# --------------------------------------------------------------------------- #
def test_the_chapters_give_every_check_a_stub_and_a_worked_solution():
    used: dict[str, set[str]] = {}
    for chapter, cell, inside in CODE_CELLS:
        for name, fn in CALL.findall(cell.source):
            assert name in CHECKS, f"{chapter}: check({name!r}, ...) names no registered check"
            if inside:
                continue
            used.setdefault(name, set()).add(chapter)
            stub = _definitions(cell.source, {})[fn]  # the stub is in the cell that calls the check
            assert check(name, stub).status == "not implemented", f"{chapter}: {fn} is not a stub"
            assert CHECKS[name].signature.startswith(f"{fn}("), (chapter, fn)
    assert set(used) == set(CHECKS), f"checks no chapter uses: {sorted(set(CHECKS) - set(used))}"
    chapters = {chapter for found in used.values() for chapter in found}
    assert len(chapters) >= 6 and any(c.startswith(("07_", "09_")) for c in chapters), chapters
    for name, spec in CHECKS.items():
        (chapter,) = used[name]
        source = (ROOT / "book" / chapter).read_text(encoding="utf-8")
        assert f":label: {spec.exercise}\\n" in source, (name, spec.exercise)
        assert chapter.startswith(f"0{name[2]}_"), (name, chapter)


# --------------------------------------------------------------------------- #
# The research identities behind the research exercises
# --------------------------------------------------------------------------- #
def test_sparsemax_is_the_projection_onto_the_simplex():
    rng = np.random.default_rng(1)
    for _ in range(50):
        z = rng.normal(size=int(rng.integers(1, 12))) * rng.uniform(0.1, 10)
        p = sparsemax(z)
        assert p.min() >= 0 and abs(p.sum() - 1) < 1e-12
        support = p > 0
        theta = (z - p)[support]  # the KKT conditions: z_j − p_j = θ on the support, z_j <= θ off it
        assert np.ptp(theta) < 1e-12 and (z[~support] <= theta[0] + 1e-12).all()


def test_sparsemax_attention_is_nadaraya_watson_with_an_epanechnikov_kernel():
    """With unit-norm q and k, sparsemax weights are Epanechnikov NW weights of bandwidth h² = 2 − 2τθ."""
    spec = CHECKS["ch3.sparsemax_epanechnikov"]
    for case in spec.run_cases():
        q, k, v, tau = (*(np.asarray(a) for a in case.args[:3]), case.args[3])
        out = np.empty((q.shape[0], v.shape[1]))
        for i in range(q.shape[0]):
            z = k[: i + 1] @ q[i] / tau
            theta = (z - sparsemax(z))[sparsemax(z) > 0][0]
            h = math.sqrt(2 - 2 * tau * theta)
            dist = np.linalg.norm(q[i] - k[: i + 1], axis=1)
            assert h > dist.min()  # the window is never empty
            w = kernel_profile(dist / h, "epanechnikov")
            out[i] = w / w.sum() @ v[: i + 1]
        np.testing.assert_allclose(out, np.asarray(spec.reference(*case.args)), rtol=1e-9, atol=1e-12)


def test_normalised_relu_attention_is_epanechnikov_nw_with_a_fixed_bandwidth():
    rng = np.random.default_rng(2)
    q, k = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in rng.normal(size=(2, 10, 3)))
    v, tau, b = rng.normal(size=(10, 2)), 0.5, 0.4
    relu = np.maximum(q @ k.T / tau - b, 0)  # (10, 10); every row has its own key within reach
    dist = np.linalg.norm(q[:, None] - k[None], axis=-1)
    nw = kernel_profile(dist / math.sqrt(2 - 2 * tau * b), "epanechnikov")
    np.testing.assert_allclose(relu / relu.sum(1, keepdims=True) @ v, nw / nw.sum(1, keepdims=True) @ v, rtol=1e-12)


def test_one_gradient_step_is_the_large_ridge_limit():
    """λ × causal ridge regression → one gradient step of size 1 from W = 0, with an error O(1/λ)."""
    spec = CHECKS["ch4.linear_attention_gd"]
    rng = np.random.default_rng(3)
    x, y, q = rng.normal(size=(12, 3)), rng.normal(size=(12, 2)), rng.normal(size=(12, 3))
    step = np.asarray(spec.reference(x, y, q, 1.0))
    gaps = [np.abs(lam * prefix_ridge(x, y, q, lam=lam) - step).max() for lam in (1e4, 1e6)]
    assert gaps[1] < 1e-4 * np.abs(step).max()
    assert 50 < gaps[0] / gaps[1] < 200  # proportional to 1/λ
    np.testing.assert_allclose(step, np.tril(q @ x.T) @ y, rtol=1e-12)  # causal linear attention
