"""The helpers that read speed measurements and split wide tables (cubit_lite.results, cubit_lite.tables).

Every test writes its own small results files into a temporary folder (``CUBIT_LITE_RESULTS``),
so what a helper returns is checked against numbers the test chose.
"""

from __future__ import annotations

import json
import sys
import types

import pytest

from cubit_lite.results import (
    best_steps,
    files_table,
    glue_text,
    profile_kernel_times,
    relative_time,
    speed_range,
    speed_rows,
    step_rows,
    worst_error,
)
from cubit_lite.tables import split_table


def _speed_file(rows):
    return {"rows": rows}


def _row(mixer, dtype, t, ratio, status="ok"):
    return {"mixer": mixer, "dtype": dtype, "T": t, "time_vs_sdpa": ratio, "status": status}


SPEED = _speed_file([
    _row("cubit-triton", "fp32", 2048, 3.2), _row("cubit-triton", "fp32", 1024, 3.5),
    _row("cubit-triton", "fp32", 4096, 9.9, status="oom"), _row("cubit-triton", "bf16", 1024, 6.0),
    _row("sdpa", "fp32", 1024, 1.0),
])


def test_speed_rows_keeps_the_rows_that_ran_sorted_by_length():
    rows = speed_rows(SPEED, "cubit-triton", "fp32")
    assert list(rows) == [1024, 2048]
    assert rows[1024]["time_vs_sdpa"] == 3.5


def test_speed_rows_names_what_the_file_has_when_the_mixer_is_missing():
    with pytest.raises(ValueError, match=r"deltaformer.*it has .*cubit-triton"):
        speed_rows(SPEED, "deltaformer", "fp32")


def test_speed_range_over_all_or_some_lengths():
    assert speed_range(SPEED, "cubit-triton", "fp32") == (3.2, 3.5)
    assert speed_range(SPEED, "cubit-triton", "fp32", lengths=[2048]) == (3.2, 3.2)


def test_speed_range_refuses_a_length_that_did_not_run_and_a_missing_key():
    with pytest.raises(ValueError, match="ran at T = \\[1024, 2048\\]; asked for T = \\[1024, 4096\\]"):
        speed_range(SPEED, "cubit-triton", "fp32", lengths=[1024, 4096])
    with pytest.raises(ValueError, match="no 'peak_mem_mib'"):
        speed_range(SPEED, "cubit-triton", "fp32", key="peak_mem_mib")


def _timed(mixer, t, ms):
    return {"mixer": mixer, "dtype": "fp32", "T": t, "fwd_bwd_ms": ms, "status": "ok"}


def test_relative_time_compares_two_mixers_at_the_same_lengths():
    data = _speed_file([_timed("slow", 1024, 6.0), _timed("slow", 2048, 10.0), _timed("fast", 1024, 3.0),
                        _timed("fast", 2048, 4.0), _timed("fast", 4096, 8.0)])
    assert relative_time(data, "slow", "fast", "fp32") == (2.0, 2.5)  # 4096: only one of the two ran
    assert relative_time(data, "slow", "fast", "fp32", lengths=[1024]) == (2.0, 2.0)
    with pytest.raises(ValueError, match="asked for T = \\[4096\\]"):
        relative_time(data, "slow", "fast", "fp32", lengths=[4096])


ACCURACY = {"accuracy": [
    {"mixer": "cubit", "dtype": "bf16", "T": 256, "relative_error_vs_float64": 3e-3,
     "grad_relative_error_vs_float64": {"q": 4e-3, "r": 5e-3}},
    {"mixer": "cubit", "dtype": "bf16", "T": 512, "relative_error_vs_float64": 2e-3,
     "grad_relative_error_vs_float64": {"q": 6e-3, "r": 1e-3}},
]}


def test_worst_error_of_the_output_every_gradient_or_one_input():
    assert worst_error(ACCURACY, "cubit", "bf16") == 3e-3
    assert worst_error(ACCURACY, "cubit", "bf16", of="gradients") == 6e-3
    assert worst_error(ACCURACY, "cubit", "bf16", of="r") == 5e-3


def test_worst_error_names_what_it_has():
    with pytest.raises(ValueError, match="no accuracy check of cubit in fp32"):
        worst_error(ACCURACY, "cubit", "fp32")
    with pytest.raises(ValueError, match="its inputs are \\['q', 'r'\\]"):
        worst_error(ACCURACY, "cubit", "bf16", of="v")


def test_best_steps_takes_each_mixers_fastest_mode_that_ran():
    data = {"rows": [
        {"mixer": "transformer", "mode": "eager", "step_ms": 10.0, "status": "ok"},
        {"mixer": "transformer", "mode": "graph", "step_ms": 4.0, "status": "ok"},
        {"mixer": "cubit", "mode": "eager", "step_ms": 30.0, "status": "ok"},
        {"mixer": "cubit", "mode": "compile-graph", "step_ms": 1.0, "status": "failed"},
    ]}
    best = best_steps(data)
    assert list(best) == ["transformer", "cubit"]
    assert (best["transformer"]["mode"], best["cubit"]["mode"]) == ("graph", "eager")
    assert set(step_rows(data)) == {("transformer", "eager"), ("transformer", "graph"), ("cubit", "eager")}
    with pytest.raises(ValueError, match="no row"):
        best_steps({"rows": [{"mixer": "cubit", "step_ms": 1.0, "status": "failed"}]})


PROFILE = """NVIDIA H200, torch 2.11.0+cu130, git 910a9ea5b6b78afb49a1216f5fde73ffe629fe8e: cubit-triton, bf16
----  ----
{header}
{rows}
Self CPU time total: 20.0ms
Self CUDA time total: 6.000ms
"""


def _profile_line(name, self_cuda):
    fields = [name, "0.00%", "0.000us", "0.00%", "0.000us", "0.000us", self_cuda, "1.00%", self_cuda, "1.0us", "3"]
    return "  ".join(fields)


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CUBIT_LITE_RESULTS", str(tmp_path))
    return tmp_path


def test_profile_kernel_times_groups_kernels_per_pass(results_dir):
    rows = "\n".join([_profile_line("grad_rows", "600.000us"), _profile_line("grad_cols", "300.000us"),
                      _profile_line("void batch_trsm_left_kernel<float, 64>(x)", "1.500ms"),
                      _profile_line("aten::copy_", "9.000ms")])
    (results_dir / "profile_test.txt").write_text(PROFILE.format(header=_profile_line("Name", "Self CUDA"), rows=rows))
    times, total = profile_kernel_times(
        "profile_test.txt", {"grad_rows": "gradient", "grad_cols": "gradient", "batch_trsm": "inverses"}, passes=3)
    assert times == pytest.approx({"gradient": 0.3, "inverses": 0.5})
    assert total == pytest.approx(2.0)
    with_rest, _ = profile_kernel_times("profile_test.txt", {"grad_rows": "gradient"}, passes=3, rest="the rest")
    assert with_rest == pytest.approx({"gradient": 0.2, "the rest": 1.8})


def test_profile_kernel_times_refuses_other_files_and_bad_passes(results_dir):
    (results_dir / "notes.txt").write_text("just text\n")
    with pytest.raises(ValueError, match="not a torch profiler table"):
        profile_kernel_times("notes.txt", {"grad_rows": "gradient"})
    with pytest.raises(ValueError, match="passes must be a positive integer"):
        profile_kernel_times("notes.txt", {"grad_rows": "gradient"}, passes=0)


def test_files_table_gives_device_torch_commit_and_day(results_dir):
    made = {"device": "NVIDIA H200", "torch": "2.11.0", "git_commit": "a" * 40, "created_utc": "2026-12-02T10:00:00"}
    (results_dir / "speed.json").write_text(json.dumps(made))
    (results_dir / "profile_test.txt").write_text(PROFILE.format(header="", rows=""))
    table = files_table(["speed.json", "profile_test.txt"], caption="the files")
    assert table.header == ["file", "device", "torch", "commit", "made on"]
    assert table.rows == [["speed.json", "NVIDIA H200", "2.11.0", "aaaaaaa", "2026\u201112\u201102"],
                          ["profile_test.txt", "NVIDIA H200", "2.11.0+cu130", "910a9ea", "—"]]
    (results_dir / "bad.txt").write_text("no header here\n")
    with pytest.raises(ValueError, match="does not start with"):
        files_table(["bad.txt"])


def test_files_table_names_a_file_by_its_path_inside_results_breaking_after_the_slash(results_dir):
    made = {"device": "NVIDIA H200", "torch": "2.11.0", "git_commit": "b" * 40, "created_utc": "2026-12-02T10:00:00"}
    (results_dir / "appendix_fast").mkdir()
    (results_dir / "appendix_fast" / "speed.json").write_text(json.dumps(made))
    table = files_table(["appendix_fast/speed.json"])
    assert table.rows[0][:2] == ["appendix_fast/speed.json", "NVIDIA H200"]
    assert "<code>appendix_<wbr>fast/<wbr>speed.json</code>" in table._repr_html_()


def test_glue_text_prints_the_values_where_myst_nb_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # an import of myst_nb now fails, as in Colab
    glue_text(ratio="0.32", length=1024)
    assert capsys.readouterr().out.splitlines() == ["ratio = 0.32", "length = 1024"]


def test_glue_text_hands_each_value_to_myst_nb_as_text(monkeypatch, capsys):
    glued = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: glued.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue_text(ratio="0.32", length=1024)
    assert glued == [("ratio", "0.32", False), ("length", "1024", False)]
    assert capsys.readouterr().out == ""


def test_glue_text_refuses_values_that_are_not_text_or_numbers():
    with pytest.raises(TypeError, match="ratio is list"):
        glue_text(ratio=[0.32])


HEADER = ["model", "layer", "head", "h", "rho", "corr"]
ROWS = [["Cubit", 1, 1, "0.1", "+0.5", "+0.9"], ["Cubit", 1, 2, "0.2", "-0.1", "+0.3"]]


def test_split_table_repeats_the_keys_and_keeps_every_column():
    first, second = split_table(HEADER, ROWS, groups=[(3, 4), (5,)], captions=["fit", "against the GP"], keys=3)
    assert first.header == ["model", "layer", "head", "h", "rho"] and first.caption == "fit"
    assert second.header == ["model", "layer", "head", "corr"] and second.caption == "against the GP"
    assert second.rows == [["Cubit", "1", "1", "+0.9"], ["Cubit", "1", "2", "+0.3"]]


@pytest.mark.parametrize(("groups", "captions", "keys", "message"), [
    ([(3, 4)], ["one"], 3, "exactly once"),  # column 5 lost
    ([(3, 4, 5), (5,)], ["one", "two"], 3, "exactly once"),  # column 5 twice
    ([(3, 4), (5,)], ["one"], 3, "one caption per group"),
    ([(3, 4), (5,)], ["one", "two"], 6, "keys must be an integer"),
])
def test_split_table_refuses_groups_that_lose_or_repeat_columns(groups, captions, keys, message):
    with pytest.raises(ValueError, match=message):
        split_table(HEADER, ROWS, groups=groups, captions=captions, keys=keys)


def test_split_table_refuses_a_short_row():
    with pytest.raises(ValueError, match="row 1 must be a list of 6 cells"):
        split_table(HEADER, [ROWS[0], ROWS[1][:5]], groups=[(3, 4), (5,)], captions=["a", "b"], keys=3)
