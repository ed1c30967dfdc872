"""cubit_lite.plotting.weight_stems: one prediction's weights on the past, as stems around a zero line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from cubit_lite.plotting import COLORS, weight_stems  # noqa: E402


@pytest.mark.parametrize("as_tensor", [False, True])
def test_stems_sit_at_the_positions_with_their_weights_and_colour(as_tensor):
    positions, weights = np.array([0.1, 0.4, 0.7]), np.array([0.5, -0.2, 0.7])
    fig, ax = plt.subplots()
    stems = weight_stems(ax, positions, torch.tensor(weights) if as_tensor else weights, color=COLORS["krr"])
    x, y = stems.markerline.get_data()
    assert np.allclose(x, positions) and np.allclose(y, weights)
    assert len(stems.stemlines.get_segments()) == 3
    assert to_rgba(stems.markerline.get_color()) == to_rgba(COLORS["krr"])
    others = [line for line in ax.get_lines() if line is not stems.markerline]
    assert any(np.allclose(line.get_ydata(), 0.0) for line in others), "no zero line drawn"
    plt.close(fig)


def test_mismatched_lengths_are_refused_with_both_shapes():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"one length; got shapes \(3,\) and \(2,\)"):
        weight_stems(ax, [0.1, 0.2, 0.3], [1.0, 2.0], color=COLORS["nw"])
    plt.close(fig)
