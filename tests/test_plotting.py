"""The figure helpers draw what they say (checked on the Matplotlib objects, no pixels)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cubit_lite.plotting import token_heatmap  # noqa: E402


def test_token_heatmap_blanks_the_future_and_labels_tokens():
    fig, ax = plt.subplots()
    weights = torch.rand(1, 1, 4, 4)
    image = token_heatmap(ax, weights, list("abcd"), list("abcd"))
    shown = np.ma.getdata(image.get_array())
    assert np.isnan(shown[0, 1]) and np.isnan(shown[2, 3]) and not np.isnan(shown[3, 0])
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")
    assert image.get_clim()[0] == 0.0
    plt.close(fig)


def test_signed_heatmap_is_centred_on_zero():
    fig, ax = plt.subplots()
    image = token_heatmap(ax, np.array([[1.0, 0.0], [-3.0, 2.0]]), "ab", "ab", signed=True)
    assert image.get_clim() == (-3.0, 3.0)
    plt.close(fig)


def test_one_matrix_only():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="one \\(T_query, T_key\\) matrix"):
        token_heatmap(ax, np.zeros((2, 3, 3)), "abc", "abc")
    plt.close(fig)
