"""The regression playground (cubit_lite.playground and its playground.js) against the library.

Unit tests: input validation, deterministic ids, one self-contained block of HTML with the
data inlined. Browser tests (headless chromium, every request off this machine aborted and
recorded): the page is driven through random settings (data, bandwidth, ridge, noise,
kernel, step, query) through its own controls, and every number it exposes or shows is
compared with ``cubit_lite.regression`` (exposed: to 1e-9; shown: to the digits shown);
dragging a point moves it and the curves while the mouse moves; the keyboard and the
buttons work; the curves stay readable in the dark theme; and the same HTML runs inside an
iframe sandboxed like Colab's output frame (``allow-scripts`` only). One test opens the
chapters with a playground on the built site.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cubit_lite import regression
from cubit_lite.playground import ESTIMATORS, LAM_RANGE, MAX_POINTS, NOISE_RANGE, playground, script_source

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9  # |browser - library| <= TOLERANCE * max(1, |library|)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def small_data(n=8, seed=0):
    return regression.sample_toy_problem(n=n, noise=0.3, seed=seed)


# --------------------------------------------------------------------------- #
# Python side
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(x=[0.1, 0.2], y=[1.0]), "same length"),
        (dict(x=[0.1, float("nan")], y=[1.0, 2.0]), "must be finite"),
        (dict(y=None), "give both x and y"),
        (dict(x=np.linspace(0, 1, MAX_POINTS + 1), y=np.zeros(MAX_POINTS + 1)), f"at most {MAX_POINTS} points"),
        (dict(estimators="nw"), "non-empty list of names"),
        (dict(estimators=[]), "non-empty list of names"),
        (dict(estimators=["nw", "attention"]), "unknown estimator 'attention'; choose one of nw, llr"),
        (dict(estimators=["nw", "nw"]), "must not repeat"),
        (dict(kernel="triangle"), "unknown kernel 'triangle'"),
        (dict(bandwidth=0), "bandwidth must be a finite number in ["),
        (dict(bandwidth=50.0), "bandwidth must be a finite number in ["),
        (dict(lam=0), f"lam (the ridge λ) must be a finite number in [{LAM_RANGE[0]:g}, {LAM_RANGE[1]:g}]"),
        (dict(lam=-1), "lam (the ridge λ) must be a finite number in ["),
        (dict(noise=5.0), f"noise must be a finite number in [{NOISE_RANGE[0]:g}, {NOISE_RANGE[1]:g}]"),
        (dict(query=7.0), "query must be a finite number in ["),
        (dict(query="middle"), "query must be a finite number in ["),
        (dict(step=0), "step must be a whole number of pairs from 1 to 8"),
        (dict(step=9), "step must be a whole number of pairs from 1 to 8"),
        (dict(step=True), "step must be a whole number"),
        (dict(x_range=(0.5, 0.6)), "must contain every x"),
        (dict(x_range=(1.0, 0.0)), "low < high"),
        (dict(y_range=3), "must be a pair (low, high)"),
        (dict(title=" "), "title must be a non-empty string"),
    ],
)
def test_bad_input_is_refused_with_what_is_allowed(kwargs, message):
    x, y = small_data()
    with pytest.raises(ValueError, match=re.escape(message)):
        playground(**{"x": x, "y": y, **kwargs})


def test_defaults_use_the_running_example_and_every_setting_is_kept():
    fig = playground()
    x, y = regression.sample_toy_problem(n=15, noise=0.3, seed=0)
    assert fig.config["x"] == x.tolist() and fig.config["y"] == y.tolist()
    assert fig.config["step"] == 15 and fig.config["x_range"][0] < x.min() and fig.config["x_range"][1] > x.max()
    fig = playground(*small_data(), estimators=["cubit", "gp"], kernel="box", bandwidth=0.2, lam=0.5, noise=0.1,
                     query=0.25, step=3)
    c = fig.config
    assert (c["estimators"], c["kernel"], c["bandwidth"], c["lam"], c["noise"], c["query"], c["step"]) == (
        ["cubit", "gp"], "box", 0.2, 0.5, 0.1, 0.25, 3)
    assert c["labels"] == {"cubit": ESTIMATORS["cubit"], "gp": ESTIMATORS["gp"]}
    assert repr(fig).startswith("Playground(8 points; cubit, gp; h = 0.2, λ = 0.5, σ = 0.1)")


def test_ids_are_deterministic_and_differ_between_figures():
    x, y = small_data()
    assert playground(x, y).id == playground(x, y).id
    assert playground(x, y)._repr_html_() == playground(x, y)._repr_html_()
    y2 = y.copy()
    y2[0] += 1e-6
    assert playground(x, y2).id != playground(x, y).id
    assert playground(x, y, title="Other").id != playground(x, y).id


def _mount_data(markup: str) -> dict:
    mount = r'CubitPlayground\.mount\(.*? \|\| "(pg-[0-9a-f]{12})", (\{.*\})\);\n</script>'
    found = re.search(mount, markup, flags=re.S)
    assert found, "the mount call with the inlined data is missing"
    return json.loads(found.group(2))


def test_the_html_is_one_self_contained_block_with_the_data_inlined():
    x, y = small_data()
    fig = playground(x, y, title="Try </script><b>this</b>")
    markup = fig._repr_html_()
    assert markup.startswith(f'<div class="cubit-playground" id="{fig.id}"') and markup.endswith("</div>")
    assert markup.count("<script>") == 1 and markup.count("</script>") == 1, "the title must not end the script"
    assert "Try &lt;/script&gt;&lt;b&gt;this&lt;/b&gt;" in markup
    assert script_source() in markup
    assert _mount_data(markup) == fig.config
    assert not re.search(r"\b(src|href)\s*=", markup), "nothing is loaded from a file or the network"
    assert set(re.findall(r"https?://[^\s\"')]+", markup)) <= {SVG_NAMESPACE}, "the only URL is the SVG namespace"


def test_the_script_is_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "playground.js" in pyproject["tool"]["setuptools"]["package-data"]["cubit_lite"]
    assert script_source() == (ROOT / "cubit_lite" / "playground.js").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- #
# What the library says, for any setting of the page
# --------------------------------------------------------------------------- #
def library_numbers(s: dict) -> dict:
    """The numbers of ``CubitPlayground.evaluate(s)``, computed with cubit_lite.regression.

    On a stream, the value and weights at the query come from the stream functions with the
    query as ``z_t``; so does every point of the surrogate's curve. The curves of prefix KRR and
    prefix NW after ``t`` pairs are KRR and NW on those pairs, as chapter 4 checks.
    """
    x, y, q, h, lam, kernel = (np.array(s["x"]), np.array(s["y"]), s["query"], s["bandwidth"], s["lam"], s["kernel"])
    grid = np.linspace(*s["x_range"], 241)
    t = s["step"] or x.size
    out: dict = {"grid": grid, "curves": {}, "at_query": {}, "weights": {}, "sd": {}, "sd_at_query": {}}

    def put(name, curve, at, weights):
        out["curves"][name], out["at_query"][name], out["weights"][name] = curve, at, weights

    for name in s["estimators"]:
        if name in ("nw", "llr"):
            fit = regression.nadaraya_watson if name == "nw" else regression.local_linear
            at, w = fit(x, y, [q], h, kernel, return_weights=True, on_empty="nan")
            put(name, fit(x, y, grid, h, kernel, on_empty="nan"), at[0], w[0])
        elif name in ("krr", "gp"):
            ridge = lam if name == "krr" else s["noise"] ** 2  # the GP's mean is KRR with λ = σ² (chapter 2)
            at, w = regression.kernel_ridge(x, y, [q], ridge, h, return_weights=True)
            put(name, regression.kernel_ridge(x, y, grid, ridge, h), at[0], w[0])
            if name == "gp":
                _, ell = regression.kernel_ridge(x, y, np.append(grid, q), ridge, h, return_weights=True)
                k = regression.rbf_kernel(np.append(grid, q), x, h)
                sd = np.sqrt(np.clip(1.0 - (ell * k).sum(axis=1), 0.0, None))
                out["sd"][name], out["sd_at_query"][name] = sd[:-1], sd[-1]
        else:
            preds, w = _stream_step(name, x, y, t, q, h, lam, weights=True)
            if name == "cubit":
                curve = np.array([_stream_step(name, x, y, t, g, h, lam)[t - 1] for g in grid])
            elif name == "prefix_krr":  # after t pairs: KRR on those pairs (chapter 4)
                curve = regression.kernel_ridge(x[:t], y[:t], grid, lam, h)
            else:
                curve = regression.nadaraya_watson(x[:t], y[:t], grid, h)
            put(name, curve, preds[t - 1], w[t - 1])
    return out


def _stream_step(name: str, x, y, t: int, query: float, h: float, lam: float, weights: bool = False):
    """The library's stream estimator ``name`` with ``query`` as the query ``z_t`` of step ``t``."""
    stream = {"prefix_nw": regression.prefix_nadaraya_watson, "prefix_krr": regression.prefix_kernel_ridge,
              "cubit": regression.triangular_kernel_ridge}[name]
    options = {"bandwidth": h} if name == "prefix_nw" else {"bandwidth": h, "lam": lam}
    z = x.copy()
    z[t - 1] = query
    return stream(x, y, z, return_weights=weights, **options)


def llr_amplification(x, y, queries, h: float, kernel: str) -> tuple[np.ndarray, np.ndarray]:
    """How far rounding can move local linear regression at each query: (for values, for weights).

    The fit divides by ``det = ν₀ν₂ − ν₁²``. Where one point holds nearly all the weight, ``det`` is
    a small difference of large numbers, and a 1-ulp change of a kernel weight (the browser's
    ``exp`` and numpy's differ in the last bit) changes the result by about ``κ·ε`` relative, with
    ``κ = ν₀ν₂ / det`` up to 10¹² (the library's threshold for "undefined"). Returns
    ``1e-15·κ`` times the size of the sum ``Σ_j |ℓ_j y_j|`` and of the largest ``|ℓ_j|``; where
    ``κ <= 10⁶`` this is below the 1e-9 of every other number.
    """
    queries = np.atleast_1d(np.asarray(queries, dtype=float))
    w = regression._relative_kernel_weights(queries, x, h, kernel)
    d = np.where(w > 0, (x[None, :] - queries[:, None]) / h, 0.0)
    s0, s1, s2 = w.sum(axis=1), (w * d).sum(axis=1), (w * d * d).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.nan_to_num(s0 * s2 / (s0 * s2 - s1 * s1), nan=0.0, posinf=0.0)
    _, ell = regression.local_linear(x, y, queries, h, kernel, return_weights=True, on_empty="nan")
    return 1e-15 * kappa * np.abs(ell * y).sum(axis=1), 1e-15 * kappa * np.abs(ell).max(axis=1)


def assert_same(js, library, what: str, allowance=0.0) -> None:
    """Equal NaN patterns, and ``|js − library| <= 1e-9·max(1, |library|) + allowance`` elsewhere."""
    js = np.asarray(js, dtype=float)
    library = np.asarray(library, dtype=float)
    assert js.shape == library.shape, f"{what}: shape {js.shape} in the page, {library.shape} in the library"
    assert np.array_equal(np.isnan(js), np.isnan(library)), f"{what}: undefined at different places"
    ok = ~np.isnan(library)
    allowed = TOLERANCE * np.maximum(1.0, np.abs(library)) + np.broadcast_to(allowance, library.shape)
    excess = np.abs(js[ok] - library[ok]) - allowed[ok]
    assert excess.max(initial=-1.0) <= 0, (
        f"{what}: differs by {np.abs(js[ok] - library[ok]).max():.2e}, more than 1e-9·max(1, |value|)")


def assert_page_equals_library(numbers: dict, state: dict, label: str = "") -> None:
    ref = library_numbers(state)
    assert_same(numbers["grid"], ref["grid"], f"{label} grid")
    allowance = {}
    if "llr" in state["estimators"]:
        args = (np.array(state["x"]), np.array(state["y"]))
        allowance["curves"] = llr_amplification(*args, ref["grid"], state["bandwidth"], state["kernel"])[0]
        allowance["at_query"], allowance["weights"] = (
            a[0] for a in llr_amplification(*args, state["query"], state["bandwidth"], state["kernel"]))
    for part in ("curves", "at_query", "weights", "sd", "sd_at_query"):
        assert set(numbers[part]) == set(ref[part]), f"{label} {part}: {set(numbers[part])} vs {set(ref[part])}"
        for name in ref[part]:
            extra = allowance.get(part, 0.0) if name == "llr" else 0.0
            assert_same(numbers[part][name], ref[part][name], f"{label} {part}[{name}] at {state}", extra)
    if "cubit" in state["estimators"]:  # the pseudo-targets u: P u is the surrogate's prediction at the inputs
        x, y = np.array(state["x"]), np.array(state["y"])
        _, p_matrix = regression.prefix_nadaraya_watson(x, y, bandwidth=state["bandwidth"], return_weights=True)
        u = np.array(numbers["pseudo_targets"])
        assert_same(p_matrix @ u, regression.triangular_kernel_ridge(x, y, lam=state["lam"],
                                                                      bandwidth=state["bandwidth"]), f"{label} u")


def test_library_numbers_follow_the_chapters_identities():
    """The reference itself: prefix KRR after all pairs is KRR, and the GP sd vanishes far from nothing."""
    x, y = small_data()
    s = {"x": x.tolist(), "y": y.tolist(), "query": 0.4, "bandwidth": 0.1, "lam": 0.01, "noise": 0.3,
         "kernel": "gaussian", "step": None, "estimators": ["krr", "prefix_krr", "gp"], "x_range": [0, 1]}
    ref = library_numbers(s)
    np.testing.assert_allclose(ref["curves"]["prefix_krr"], ref["curves"]["krr"], atol=1e-12)
    np.testing.assert_allclose(ref["weights"]["prefix_krr"], ref["weights"]["krr"], atol=1e-12)
    assert np.all((ref["sd"]["gp"] > 0) & (ref["sd"]["gp"] < 1))


# --------------------------------------------------------------------------- #
# In a browser
# --------------------------------------------------------------------------- #
PAGE = ("<!doctype html><html lang='en' data-theme='{theme}'><head><meta charset='utf-8'><title>playground</title>"
        "</head><body style='{style}'><main style='max-width:820px'>{body}</main></body></html>")
DARK_STYLE = "background:#121212;color:#ced6dd;font-family:sans-serif"
ALL_AT_ONCE = ["nw", "llr", "krr", "gp"]
STREAM = ["prefix_krr", "cubit", "prefix_nw"]


def _figures():
    x, y = small_data(10, seed=1)
    order = np.random.default_rng(1).permutation(x.size)
    return (playground(x, y, estimators=ALL_AT_ONCE, kernel="epanechnikov", bandwidth=0.1, lam=0.01),
            playground(x[order], y[order], estimators=STREAM, bandwidth=0.06, lam=0.01, step=6, query=0.3,
                       title="A stream"))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A local site: two playgrounds (light and dark), one script off, and the same HTML in a sandboxed iframe."""
    from conftest import SiteServer

    folder = tmp_path_factory.mktemp("playground-site")
    first, stream = _figures()
    figures = first._repr_html_() + stream._repr_html_() + first._repr_html_()  # the same figure twice: two ids alike
    (folder / "index.html").write_text(PAGE.format(theme="light", style="font-family:sans-serif", body=figures),
                                       encoding="utf-8")
    (folder / "dark.html").write_text(PAGE.format(theme="dark", style=DARK_STYLE, body=figures), encoding="utf-8")
    # Colab shows an output's HTML in an iframe of its own, with scripts allowed and another origin.
    inner = PAGE.format(theme="light", style="font-family:sans-serif", body=_figures()[0]._repr_html_())
    frame = (f'<iframe sandbox="allow-scripts" style="width:900px;height:900px;border:0" '
             f'srcdoc="{inner.replace("&", "&amp;").replace(chr(34), "&quot;")}"></iframe>')
    (folder / "colab.html").write_text(PAGE.format(theme="light", style="", body=frame), encoding="utf-8")
    server = SiteServer(folder)
    yield server
    server.close()


class Visit:
    """A page in a fresh browser context that aborts and records every request off the local server."""

    def __init__(self, browser, server, path: str, **options):
        self.context = browser.new_context(viewport={"width": 1000, "height": 1000}, **options)
        self.external: list[str] = []
        self.errors: list[str] = []

        def route(request_route):
            url = request_route.request.url
            if url.startswith(server.url) or url.startswith(("about:", "data:")):
                request_route.continue_()
            else:
                self.external.append(url)
                request_route.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(server.url + path, wait_until="load")

    def close(self) -> None:
        assert not self.external, f"requests off this machine: {self.external}"
        assert not self.errors, f"errors in the page: {self.errors}"
        self.context.close()


def _api(target, index: int, call: str, argument=None):
    """``element.cubitPlayground.<call>(argument)`` of the index-th playground of a page or frame."""
    return target.evaluate(
        "([i, call, arg]) => document.querySelectorAll('.cubit-playground')[i].cubitPlayground[call](arg)",
        [index, call, argument],
    )


def _shown_numbers(box) -> dict[str, float]:
    """The numbers the readout and the sliders show, by key (``−`` read as a minus sign)."""
    texts = box.locator(".pg-val, output.pg-num").evaluate_all(
        "els => els.map(e => [e.dataset.key, e.textContent])")
    return {key: float(text.replace("\u2212", "-")) if text != "undefined" else float("nan") for key, text in texts}


def _shown_agree(shown: dict, state: dict, numbers: dict) -> None:
    """Shown numbers have 4 significant digits (the weight axis 2); each must be the exposed one, rounded."""
    expected = {"query": state["query"], "bandwidth": state["bandwidth"], "lam": state["lam"],
                "noise": state["noise"], "gp_sd": numbers["sd_at_query"].get("gp"), **numbers["at_query"]}
    if state["step"] is not None:
        expected["step"] = state["step"]
    for key, value in shown.items():
        want = expected[key]
        if np.isnan(want):
            assert np.isnan(value), f"{key}: shown {value}, undefined in the page's numbers"
        else:
            assert value == pytest.approx(want, rel=6e-4, abs=1e-12), f"{key}: shown {value}, computed {want}"


@pytest.mark.browser
def test_random_settings_through_the_controls_equal_the_library(browser, pages):
    visit = Visit(browser, pages, "index.html")
    page, rng = visit.page, np.random.default_rng(2024)
    assert page.evaluate("CubitPlayground.estimators") == list(ESTIMATORS), "the page computes every estimator"
    boxes = page.locator(".cubit-playground")
    for trial in range(24):
        index = trial % 2
        box = boxes.nth(index)
        state = _api(page, index, "state")
        n = int(rng.integers(1, 25))
        x = rng.uniform(*state["x_range"], n)
        if trial % 4 == 3:
            x[: n // 2] = np.round(x[: n // 2], 1)  # repeated inputs
        _api(page, index, "set", {"x": x.tolist(), "y": rng.uniform(-1.0, 2.0, n).tolist(),
                                  "query": float(rng.uniform(*state["x_range"])), "step": int(rng.integers(1, n + 1))})
        for slider in box.locator("input[type=range]").all():
            lo, hi = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
            value = rng.uniform(lo, hi) if not slider.get_attribute("id").endswith("-step") else rng.integers(1, n + 1)
            slider.fill(f"{value:.3f}" if isinstance(value, float) else str(value))
        if box.locator("select[id$=-kernel]").count():
            box.locator("select[id$=-kernel]").select_option(str(rng.choice(["gaussian", "epanechnikov", "box"])))
        state, numbers = _api(page, index, "state"), _api(page, index, "evaluate")
        assert_page_equals_library(numbers, state, f"trial {trial}")
        _shown_agree(_shown_numbers(box), state, numbers)
    visit.close()


@pytest.mark.browser
def test_the_pure_evaluate_equals_the_library_on_every_estimator(browser, pages):
    """``CubitPlayground.evaluate`` over the sliders' whole ranges, every estimator at once, tiny bandwidths too."""
    visit = Visit(browser, pages, "index.html")
    rng = np.random.default_rng(7)
    settings = []
    for case in range(60):
        n = int(rng.integers(1, 40))
        x = rng.uniform(0.0, 1.0, n)
        if case % 5 == 0:
            x[: n // 2] = np.round(x[: n // 2], 1)
        settings.append({
            "x": x.tolist(), "y": rng.normal(0.0, 1.0, n).tolist(), "query": float(rng.uniform(0, 1)),
            "bandwidth": float(10 ** rng.uniform(np.log10(1 / 500), 0)),
            "lam": float(10 ** rng.uniform(*np.log10(LAM_RANGE))),
            "noise": float(10 ** rng.uniform(*np.log10(NOISE_RANGE))), "step": int(rng.integers(1, n + 1)),
            "kernel": str(rng.choice(["gaussian", "epanechnikov", "box"])), "estimators": list(ESTIMATORS),
            "x_range": [0.0, 1.0],
        })
    results = visit.page.evaluate("all => all.map(s => CubitPlayground.evaluate(s))", settings)
    for case, (s, numbers) in enumerate(zip(settings, results, strict=True)):
        assert_page_equals_library(numbers, s, f"case {case}")
    visit.close()


def _curve_paths(box) -> dict[str, str]:
    script = "els => els.map(e => [e.dataset.estimator, e.getAttribute('d')])"
    return dict(box.locator("path.pg-curve").evaluate_all(script))


def _centre(locator) -> tuple[float, float]:
    b = locator.bounding_box()
    return b["x"] + b["width"] / 2, b["y"] + b["height"] / 2


@pytest.mark.browser
@pytest.mark.parametrize("index", [0, 1], ids=["all-at-once", "stream"])
def test_dragging_a_point_moves_it_and_the_curves_while_the_mouse_moves(browser, pages, index):
    visit = Visit(browser, pages, "index.html")
    page = visit.page
    box = page.locator(".cubit-playground").nth(index)
    before, paths, updates = _api(page, index, "state"), _curve_paths(box), box.get_attribute("data-pg-updates")
    weights = _api(page, index, "evaluate")["weights"]
    j = 2  # one of the pairs the stream has seen (step 6)
    box.locator("svg.pg-svg").scroll_into_view_if_needed()
    dot = box.locator(".pg-pt").nth(j).locator(".pg-dot")
    x0, y0 = _centre(dot)
    cx, cy = _centre(box.locator("rect.pg-bg"))
    x1, y1 = x0 + 0.5 * (cx - x0) + 15, y0 + 0.5 * (cy - y0) + 15  # towards the middle of the axes
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    during = _curve_paths(box)
    assert box.get_attribute("data-pg-updates") != updates
    assert all(during[name] != paths[name] for name in during), "every curve moves while the point is dragged"
    page.mouse.move(x1, y1, steps=3)
    page.mouse.up()
    after = _api(page, index, "state")
    assert np.sign(after["x"][j] - before["x"][j]) == np.sign(x1 - x0)
    assert np.sign(after["y"][j] - before["y"][j]) == -np.sign(y1 - y0), "screen y points down"
    assert [a for i, a in enumerate(after["x"]) if i != j] == [b for i, b in enumerate(before["x"]) if i != j]
    assert _centre(dot) == pytest.approx((x1, y1), abs=1.0), "the point follows the mouse"
    numbers = _api(page, index, "evaluate")
    assert any(not np.allclose(numbers["weights"][k], weights[k]) for k in weights), "the weights moved"
    assert_page_equals_library(numbers, after, "after the drag")
    # Dragging the query line moves the query only.
    line = box.locator(".pg-query .pg-hit")
    qx, qy = _centre(line)
    page.mouse.move(qx, qy + 100)
    page.mouse.down()
    page.mouse.move(qx - 50, qy + 100, steps=3)
    page.mouse.up()
    moved = _api(page, index, "state")
    assert moved["query"] < after["query"] and moved["x"] == after["x"] and moved["y"] == after["y"]
    assert_page_equals_library(_api(page, index, "evaluate"), moved, "after moving the query")
    visit.close()


@pytest.mark.browser
def test_keyboard_buttons_and_labels(browser, pages):
    visit = Visit(browser, pages, "index.html")
    page = visit.page
    box = page.locator(".cubit-playground").nth(1)  # the stream: the step follows added points
    start, others = _api(page, 1, "state"), [_api(page, i, "state") for i in (0, 2)]
    assert page.locator(".cubit-playground[data-pg-bound='1']").count() == 3, "a figure shown twice mounts twice"
    n, span, height = len(start["x"]), start["x_range"][1] - start["x_range"][0], None
    config = _mount_data(_figures()[1]._repr_html_())
    height = config["y_range"][1] - config["y_range"][0]
    # Every control has a label, every point and the query a name.
    unlabelled = box.locator("input, select").evaluate_all("els => els.filter(e => !e.labels.length).map(e => e.id)")
    assert not unlabelled, unlabelled
    names = box.locator(".pg-pt").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert len(names) == n and all(re.match(r"point \d+: x = \S+, y = \S+", name) for name in names), names
    assert box.locator(".pg-query").get_attribute("role") == "slider"
    assert box.locator(".pg-readout").get_attribute("aria-live") == "polite"
    # Tab from the last button reaches the query, then the first point.
    box.get_by_role("button", name="Reset").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('pg-query')")
    page.keyboard.press("End")
    assert _api(page, 1, "state")["query"] == start["x_range"][1]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.index") == "0"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowLeft")
    moved = _api(page, 1, "state")
    assert moved["y"][0] == pytest.approx(start["y"][0] + height / 100, abs=1e-12)
    assert moved["x"][0] == pytest.approx(max(start["x_range"][0], start["x"][0] - span / 10), abs=1e-12)
    assert_page_equals_library(_api(page, 1, "evaluate"), moved, "after the keys")
    page.keyboard.press("Delete")
    assert len(_api(page, 1, "state")["x"]) == n - 1
    assert page.evaluate("document.activeElement.dataset.index") == "0", "focus stays on a point"
    # Buttons: add at the query (the stream grows, and t follows it when it was at the end).
    box.locator("input[id$=-step]").fill(str(n - 1))
    box.get_by_role("button", name="Add a point at the query").click()
    added = _api(page, 1, "state")
    assert len(added["x"]) == n and added["x"][-1] == added["query"] and added["step"] == n
    box.get_by_role("button", name="Remove the selected point").click()
    assert len(_api(page, 1, "state")["x"]) == n - 1
    box.get_by_role("checkbox", name="Cubit surrogate").uncheck()
    assert _curve_paths(box)["cubit"] == ""
    box.get_by_role("button", name="Reset").click()
    reset = _api(page, 1, "state")
    assert [reset[k] for k in ("x", "y", "query", "step")] == [start[k] for k in ("x", "y", "query", "step")]
    assert _curve_paths(box)["cubit"] != ""
    # The weights panel follows the chosen estimator.
    box.locator("select[id$=-weights]").select_option("cubit")
    assert box.locator(".pg-stem.pg-cubit").count() == n
    # Running the script again binds nothing twice: one figure, one set of controls.
    page.evaluate("""() => { const old = document.querySelectorAll('.cubit-playground script')[1];
                             const again = document.createElement('script'); again.textContent = old.textContent;
                             old.parentNode.appendChild(again); }""")
    assert box.locator("svg.pg-svg").count() == 1 and box.locator(".pg-controls").count() == 1
    assert [_api(page, i, "state") for i in (0, 2)] == others, "the other playgrounds of the page did not move"
    visit.close()


def _contrast(a, b) -> float:
    def luminance(rgb):
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css: str) -> tuple[int, int, int]:
    return tuple(int(v) for v in re.findall(r"\d+", css)[:3])


# The colour of every curve, point, stem and text of each playground, and the background behind it
# (the first ancestor with an opaque background: the page, or a card the theme puts outputs on).
COLOURS = """() => [...document.querySelectorAll('.cubit-playground')].map(box => {
  let back = 'rgb(255, 255, 255)';
  for (let el = box; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    if (c && c !== 'transparent' && !c.startsWith('rgba(0, 0, 0, 0)')) { back = c; break; }
  }
  const get = (sel, prop) => [...box.querySelectorAll(sel)].map(e => [sel, getComputedStyle(e)[prop]]);
  const dots = [...box.querySelectorAll('.pg-dot')].map(e => {
    const s = getComputedStyle(e);  // a pair the stream has not seen yet is a ring: its stroke
    return ['.pg-dot', s.fill === 'rgba(0, 0, 0, 0)' ? s.stroke : s.fill];
  });
  return {background: back, colours: [].concat(get('path.pg-curve', 'stroke'), dots, get('.pg-readout', 'color'),
    get('.pg-svg text', 'fill'), get('label', 'color'), get('.pg-stem', 'stroke'))};
})"""


def _weak_colours(page) -> list:
    """(what, colour, contrast) for everything drawn with less than 3:1 contrast against its background."""
    weak = []
    for box in page.evaluate(COLOURS):
        back = _rgb(box["background"])
        weak += [(what, css, round(_contrast(_rgb(css), back), 2)) for what, css in box["colours"]
                 if _contrast(_rgb(css), back) < 3.0]
    return weak


@pytest.mark.browser
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_curves_points_and_text_are_readable_in_both_themes(browser, pages, theme):
    visit = Visit(browser, pages, "index.html" if theme == "light" else "dark.html", color_scheme=theme)
    weak = _weak_colours(visit.page)
    assert not weak, f"colours with contrast below 3:1 in the {theme} theme: {weak[:5]}"
    visit.close()


@pytest.mark.browser
def test_it_runs_in_an_iframe_sandboxed_like_colabs_output(browser, pages):
    visit = Visit(browser, pages, "colab.html")
    frame = next(f for f in visit.page.frames if f != visit.page.main_frame)
    frame.wait_for_selector(".cubit-playground[data-pg-bound='1'] path.pg-curve")
    assert frame.evaluate("document.querySelectorAll('.cubit-playground .pg-nojs').length") == 0
    assert frame.evaluate("window.origin") == "null", "the frame runs with an opaque origin, as Colab's does"
    state = _api(frame, 0, "state")
    assert_page_equals_library(_api(frame, 0, "evaluate"), state, "in the iframe")
    box = visit.page.frame_locator("iframe").locator(".cubit-playground")
    dot = box.locator(".pg-pt").nth(1).locator(".pg-dot")
    x0, y0 = _centre(dot)
    visit.page.mouse.move(x0, y0)
    visit.page.mouse.down()
    visit.page.mouse.move(x0 + 20, y0 + 30, steps=3)
    visit.page.mouse.up()
    after = _api(frame, 0, "state")
    assert after["x"][1] > state["x"][1] and after["y"][1] < state["y"][1]
    assert_page_equals_library(_api(frame, 0, "evaluate"), after, "in the iframe after a drag")
    visit.close()


@pytest.mark.browser
def test_without_javascript_a_note_says_what_is_missing(browser, pages):
    visit = Visit(browser, pages, "index.html", java_script_enabled=False)
    note = visit.page.locator(".cubit-playground .pg-nojs").first
    assert note.is_visible() and "needs JavaScript" in note.text_content()
    visit.close()


# --------------------------------------------------------------------------- #
# On the built site
# --------------------------------------------------------------------------- #
def chapters_with_a_playground() -> list[str]:
    found = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        if any(c.cell_type == "code" and "playground(" in c.source for c in cells):
            found.append(path.stem)
    return found


def test_at_least_three_chapters_have_a_playground_with_a_sentence_on_what_to_try():
    chapters = chapters_with_a_playground()
    assert len(chapters) >= 3, chapters
    for chapter in chapters:
        cells = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4).cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and "playground(" in cell.source:
                body = ast.parse(cell.source).body
                assert [type(node) for node in body] in ([ast.Expr], [ast.ImportFrom, ast.Expr]), (
                    f"{chapter}: the playground cell is one call (after its import)")
                assert isinstance(body[-1].value, ast.Call) and body[-1].value.func.id == "playground"
                prose = cells[i - 1].source
                assert cells[i - 1].cell_type == "markdown" and re.search(r"\b(drag|try|move)\b", prose, flags=re.I), (
                    f"{chapter}: the cell before the playground tells the reader what to try")


@pytest.mark.browser
@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("chapter", chapters_with_a_playground())
def test_the_playground_runs_on_the_built_site(browser, site, chapter, theme):
    visit = Visit(browser, site, f"book/{chapter}.html", color_scheme=theme)
    page = visit.page
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    count = page.locator(".cubit-playground").count()
    assert count >= 1 and page.locator(".cubit-playground[data-pg-bound='1']").count() == count
    for index in range(count):
        assert_page_equals_library(_api(page, index, "evaluate"), _api(page, index, "state"), f"{chapter} #{index}")
    weak = _weak_colours(page)
    assert not weak, f"colours with contrast below 3:1 in the {theme} theme: {weak[:5]}"
    visit.close()
