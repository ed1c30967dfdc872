"""cubit_lite.widgets: the live and the static slider, and how the mode is chosen."""

from __future__ import annotations

import sys

import ipywidgets as widgets
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from ipywidgets.embed import embed_data  # noqa: E402

from cubit_lite import widgets as cw  # noqa: E402

VALUES = [0.05, 0.1, 0.2, 0.4]


def make_figure(value: float):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, value])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return fig


def model_states(box) -> dict:
    """Widget state as it would be saved in an executed notebook (all live widgets)."""
    return embed_data(views=[box])["manager_state"]["state"]


# --------------------------------------------------------------------------- #
# Mode
# --------------------------------------------------------------------------- #
def test_auto_is_static_with_ipywidgets_8(monkeypatch):
    monkeypatch.delenv(cw.ENV_VAR, raising=False)
    assert cw.resolve_mode("auto") == "static"


def test_auto_is_live_without_stack(monkeypatch):
    """ipywidgets 7 (as in Colab) has no Stack: the slider must still work, live."""
    monkeypatch.delenv(cw.ENV_VAR, raising=False)
    monkeypatch.delattr(widgets, "Stack")
    assert cw.resolve_mode("auto") == "live"
    with pytest.raises(ValueError, match="static sliders need ipywidgets >= 8"):
        cw.resolve_mode("static")


def test_auto_is_live_in_colab(monkeypatch):
    monkeypatch.delenv(cw.ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert cw.resolve_mode("auto") == "live"


def test_environment_variable_overrides_auto(monkeypatch):
    monkeypatch.setenv(cw.ENV_VAR, "live")
    assert cw.resolve_mode("auto") == "live"
    assert cw.resolve_mode("static") == "static"  # an explicit argument wins
    monkeypatch.setenv(cw.ENV_VAR, "sometimes")
    with pytest.raises(ValueError, match="CUBIT_LITE_SLIDERS='sometimes' is not a slider mode"):
        cw.resolve_mode("auto")


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown slider mode 'fast'; choose one of auto, live, static"):
        cw.parameter_slider(make_figure, VALUES, description="h", mode="fast")


# --------------------------------------------------------------------------- #
# Static slider: frames in a Stack, linked in the browser
# --------------------------------------------------------------------------- #
def test_static_slider_has_one_png_frame_per_value_and_a_browser_link():
    box = cw.parameter_slider(make_figure, VALUES, description="bandwidth h", default=0.2, mode="static", alt="h = {}")
    slider, stack = box.children
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(stack, widgets.Stack)
    assert list(slider.options) == ["0.05", "0.1", "0.2", "0.4"]
    assert slider.index == stack.selected_index == 2  # the default frame shows before any interaction
    assert len(stack.children) == len(VALUES)
    for frame, label in zip(stack.children, slider.options, strict=True):
        assert frame.value.startswith('<img src="data:image/png;base64,iVBOR')  # a PNG
        assert f'alt="h = {label}"' in frame.value
    frames = {frame.value for frame in stack.children}
    assert len(frames) == len(VALUES)  # each value drew a different picture

    links = [
        s["state"] for s in model_states(box).values()
        if s["model_name"] == "LinkModel"
        and s["state"]["source"] == [f"IPY_MODEL_{slider.model_id}", "index"]
    ]
    assert links and links[0]["target"] == [f"IPY_MODEL_{stack.model_id}", "selected_index"]


def test_static_slider_closes_its_figures():
    before = len(plt.get_fignums())
    cw.static_slider(make_figure, VALUES, description="h")
    assert len(plt.get_fignums()) == before


def test_default_frame_is_the_middle_one():
    box = cw.static_slider(make_figure, VALUES, description="h")
    assert box.children[1].selected_index == len(VALUES) // 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": []}, "values is empty"),
        ({"default": 0.3}, r"default=0.3 is not one of the slider values"),
        ({"values": [0.1001, 0.1002], "fmt": "{:.2f}"}, "gives repeated labels"),
    ],
)
def test_slider_input_errors(kwargs, message):
    args = {"values": VALUES, **kwargs}
    values = args.pop("values")
    with pytest.raises(ValueError, match=message):
        cw.parameter_slider(make_figure, values, description="h", mode="static", **args)


# --------------------------------------------------------------------------- #
# Live slider: redraws on demand
# --------------------------------------------------------------------------- #
def test_live_slider_draws_only_the_chosen_value():
    calls: list[float] = []

    def counting_figure(value):
        calls.append(value)
        return make_figure(value)

    box = cw.parameter_slider(counting_figure, VALUES, description="λ", mode="live", default=0.1)
    slider, image = box.children
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(image, widgets.Image)
    assert calls == [0.1]  # drawn once, for the default
    first = bytes(image.value)
    assert first.startswith(b"\x89PNG") and image.format == "png"
    slider.index = 3
    assert calls == [0.1, 0.4]  # moving the slider redraws with the new value
    assert bytes(image.value).startswith(b"\x89PNG") and bytes(image.value) != first
    assert not plt.get_fignums()  # every figure drawn was closed


def test_live_slider_prints_and_displays_nothing(capsys, monkeypatch):
    """The live path shows its figure only through the Image widget: no display() and no Output capture."""
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    monkeypatch.setattr(widgets.Output, "__enter__", lambda self: pytest.fail("captured output in an Output widget"))
    box = cw.live_slider(make_figure, VALUES, description="λ", default=0.1)
    box.children[0].index = 2
    assert not shown and capsys.readouterr().out == ""


# --------------------------------------------------------------------------- #
# Frame size: a frame is never shown scaled down (its text stays >= the minimum)
# --------------------------------------------------------------------------- #
def wide_figure(value: float):
    """A figure asked for wider than the site's content column (as chapters used to)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3))
    for ax in axes:
        ax.plot([0, 1], [0, value], label="a line")
        ax.set(title="a title", xlabel="x", ylabel="y")
        ax.legend()
    return fig


def _frame_widths(box) -> list[tuple[int, int]]:
    """``(PNG pixel width, <img width>)`` of every frame of a static slider."""
    import base64
    import re

    widths = []
    for frame in box.children[1].children:
        data = base64.b64decode(re.search(r'base64,([^"]+)"', frame.value).group(1))
        declared = int(re.search(r'width="(\d+)"', frame.value).group(1))
        widths.append((int.from_bytes(data[16:20], "big"), declared))
    return widths


def test_static_frames_fit_the_content_column():
    """Every frame is at most CONTENT_WIDTH_PX CSS pixels wide, so the page never shrinks its text."""
    from cubit_lite.plotting import CONTENT_WIDTH_PX

    widths = _frame_widths(cw.static_slider(wide_figure, VALUES, description="h"))
    assert len(widths) == len(VALUES)
    for pixels, declared in widths:
        assert declared == pixels <= CONTENT_WIDTH_PX  # at 96 dpi one pixel per CSS pixel


def test_a_higher_dpi_sharpens_a_frame_without_enlarging_it():
    at_96 = _frame_widths(cw.static_slider(wide_figure, VALUES[:1], description="h"))
    at_192 = _frame_widths(cw.static_slider(wide_figure, VALUES[:1], description="h", dpi=192))
    (pixels_96, declared_96), (pixels_192, declared_192) = at_96[0], at_192[0]
    assert abs(pixels_192 - 2 * pixels_96) <= 2
    assert abs(declared_192 - declared_96) <= 1


@pytest.mark.slow  # 1.5 s
def test_executing_a_live_slider_sends_nothing_back_to_the_kernel(tmp_path, monkeypatch):
    """Run a live slider in a real kernel through nbclient: the client never writes comm messages to the kernel.

    An ``Output``-widget slider (``interactive_output``) made nbclient answer every captured
    display with a ``comm_msg`` on the shell channel while the cell was still running,
    interleaved with the next ``execute_request``: the message traffic in which a
    Colab-shaped run once sat idle for 900 s. The Image-widget slider gives it nothing to answer.
    """
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("CUBIT_LITE_SLIDERS", "live")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "from cubit_lite.widgets import parameter_slider\n"
        "def figure(v):\n"
        "    fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([0, 1], [0, v]); return fig\n"
        "parameter_slider(figure, [0.5, 1.0, 2.0], description='λ')"),
        nbformat.v4.new_code_cell("print('next cell')")])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    sent: list[str] = []
    with client.setup_kernel():
        send = client.kc.session.send

        def spy(stream, message, *args, **kwargs):
            msg = send(stream, message, *args, **kwargs)
            sent.append(msg["msg_type"])
            return msg

        client.kc.session.send = spy
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    assert sent == ["execute_request", "execute_request"], sent
    views = [o for o in nb.cells[0].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views and nb.cells[1].outputs[0]["text"] == "next cell\n"
