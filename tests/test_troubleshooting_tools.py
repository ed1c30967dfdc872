"""The troubleshooting page's entries on the grid runner and the sampler quote what they really say.

Each message is produced here by the code (the runner's and the sampler's command lines
in this process, or the function that prints the line), and must appear on the page word
for word, except where it names a run-specific part: the folder the command ran in
(``/home/you/attention-as-regression`` on the page), elapsed seconds, counts of runs or
characters.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import re
import shlex
import signal
import string
import sys
import time
from pathlib import Path

import pytest
import torch

from cubit_lite import sample
from cubit_lite.checkpoint import save_checkpoint
from cubit_lite.data import CharTokenizer
from cubit_lite.model import CharLM, ModelConfig

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "book" / "troubleshooting.md").read_text(encoding="utf-8")
HOME = "/home/you/attention-as-regression"  # the folder the page's grid commands run in


def quoted(text: str) -> None:
    assert text in PAGE, f"the troubleshooting page does not quote:\n{text}"


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_lm_for_troubleshooting", ROOT / "experiments" / "run_lm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_lm = _load_runner()


# --------------------------------------------------------------------------- #
# The grid runner, experiments/run_lm.py
# --------------------------------------------------------------------------- #
def page_grid_command() -> list[str]:
    """The arguments of the page's first grid command (the one the grid entries are about)."""
    line = next(line for line in PAGE.splitlines() if line.startswith("python experiments/run_lm.py "))
    return shlex.split(line)[2:]


def refusal(argv: list[str], where: Path, capsys) -> str:
    """What ``python experiments/run_lm.py ARGV`` prints when it refuses, with ``where`` written as HOME."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        run_lm.cli(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err.replace(str(where), HOME)


def finished(run, **config_changes) -> None:
    """Make ``run``'s folder hold a finished run (its config changed by ``config_changes``)."""
    run.out.mkdir(parents=True)
    config = dataclasses.asdict(dataclasses.replace(run.config, **config_changes))
    (run.out / "config.json").write_text(json.dumps(config))
    (run.out / "metrics.jsonl").write_text(json.dumps({"step": 1, "train_loss": 3.0, "tokens_per_second": 1e3}) + "\n"
                                           + json.dumps({"step": 1, "val_loss": 2.9}) + "\n")
    (run.out / "stdout.log").write_text(json.dumps({"step": 1, "final_val_loss": 2.9, "best_val_loss": 2.9,
                                                    "num_parameters": 10, "tokens_per_second": 1e3}) + "\n")


def test_the_grid_commands_on_the_page_are_valid():
    commands = [shlex.split(line)[2:] for line in PAGE.splitlines() if line.startswith("python experiments/run_lm.py ")]
    assert len(commands) >= 2
    for argv in commands:
        args, train_args = run_lm.parse_args(argv)
        run_lm.check_args(args, train_args)
        assert len(run_lm.plan_runs(args, train_args)) == len(args.mixers) * len(args.seeds)


def test_quotes_the_runners_argument_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = page_grid_command()
    cut = argv.index("--")
    own, shared = argv[:cut], argv[cut:]
    seeds = own.index("--seeds")
    for changed in (own[:seeds + 1] + ["0", "1", "0"] + own[seeds + 4:],  # a seed named twice
                    own + ["--mixers", "cubit", "transformer", "cubit"],  # the last --mixers counts
                    own + ["--parallel", "0"]):
        quoted(refusal(changed + shared, tmp_path, capsys))
    quoted(refusal(argv + ["--seed", "3"], tmp_path, capsys))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()  # before any work


def test_quotes_the_run_folder_and_summary_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = page_grid_command()
    args, train_args = run_lm.parse_args(argv)
    args.runs = Path(run_lm._absolute(args.runs))
    grid = {(run.mixer, run.seed): run for run in run_lm.plan_runs(args, train_args)}

    # an unfinished run, then a finished run of another configuration
    (grid["cubit", 1].out).mkdir(parents=True)
    (grid["cubit", 1].out / "latest.pt").write_bytes(b"")
    quoted(refusal(argv, tmp_path, capsys))
    finished(grid["cubit", 0], lr=grid["cubit", 0].config.lr / 2)
    quoted(refusal(argv, tmp_path, capsys))
    assert (grid["cubit", 1].out / "latest.pt").exists()  # kept

    # a summary of another grid, a file that is not a summary, a summary whose runs are gone
    summary = tmp_path / "results" / "lm_main.json"
    summary.parent.mkdir()
    cut = argv.index("--")
    steps = argv.index("--steps")
    other_steps = argv[:steps + 1] + [str(int(argv[steps + 1]) * 2)] + argv[steps + 2:]
    summary.write_text(json.dumps({"name": "main", "mixers": ["transformer", "cubit"], "seeds": [0, 1, 2],
                                   "train_args": other_steps[cut + 1:], "runs": []}))
    quoted(refusal(argv, tmp_path, capsys))
    summary.write_text("[1, 2, 3]\n")
    quoted(refusal(argv, tmp_path, capsys))
    summary.write_text(json.dumps({"name": "main", "mixers": ["transformer", "cubit"], "seeds": [0, 1, 2],
                                   "train_args": argv[cut + 1:], "runs": [
                                       {"mixer": "cubit", "seed": 0, "returncode": 0, "final_val_loss": 1.5}]}))
    quoted(refusal(argv[:cut] + ["--runs", "runs/elsewhere"] + argv[cut:], tmp_path, capsys))


def test_quotes_a_run_without_a_final_result(tmp_path, capsys):
    """The progress line of a failed run, derived from its exit status, as the runner reports it."""
    lines = re.findall(r"^\[ *(\d+)s\].*FAILED.*$", PAGE, re.M)
    assert len(lines) == 2
    for seconds, (mixer, seed, returncode) in zip(lines, [("cubit", 1, 2), ("transformer", 0, -signal.SIGKILL)],
                                                  strict=True):
        out = tmp_path / f"{mixer}-s{seed}"
        out.mkdir()
        (out / "stdout.log").write_text("error: something went wrong\n")
        entry = run_lm.summarise(run_lm.Run(mixer, seed, out, config=None), 5.0, returncode)
        capsys.readouterr()
        run_lm.report(entry, time.time() - int(seconds))
        quoted(capsys.readouterr().out.strip("\n"))
        assert entry["error"] == "error: something went wrong\n"  # the end of its log, kept in the summary


def test_quotes_the_interruption_line_and_its_exit_status(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_lm, "run_processes", lambda jobs, parallel, start, finish: signal.SIGTERM)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        run_lm.cli(page_grid_command())
    assert exit.value.code == 128 + signal.SIGTERM and "exit status 143 (130 after Ctrl-C" in PAGE
    line = capsys.readouterr().out.strip().splitlines()[-1].replace(str(tmp_path), HOME)
    quoted(re.sub(r"\d+ of \d+ runs", "4 of 6 runs", line))
    summary = json.loads((tmp_path / "results" / "lm_main.json").read_text())
    assert summary["interrupted"] == "SIGTERM" and summary["complete"] is False
    assert f"one still running {run_lm.GRACE_SECONDS} seconds after the signal is killed" in PAGE


# --------------------------------------------------------------------------- #
# The sampler, python -m cubit_lite.sample
# --------------------------------------------------------------------------- #
SHAKESPEARE_LIKE = CharTokenizer.from_text("To be, or not to be\u2014that is the question:\n")  # its em dash


def payload(tokenizer: CharTokenizer = SHAKESPEARE_LIKE, **config_changes) -> dict:
    config = ModelConfig(**{"vocab_size": tokenizer.vocab_size, "block_size": 16, "n_layer": 1, "n_head": 2,
                            "d_model": 16, **config_changes})
    return {"model_config": config.to_dict(), "tokenizer": tokenizer.to_dict(), "model": CharLM(config).state_dict()}


def test_quotes_the_samplers_checkpoint_messages(tmp_path, monkeypatch, cli_in_process):
    monkeypatch.chdir(tmp_path)
    Path("runs/cubit").mkdir(parents=True)
    status, err = cli_in_process("sample", "--checkpoint", "runs/cubit")
    assert status == 2
    quoted(err.strip())
    for name in ("best.pt", "latest.pt"):
        save_checkpoint(f"runs/cubit/{name}", payload())
    status, err = cli_in_process("sample", "--checkpoint", "runs/cubit")
    assert status == 2
    quoted(err.strip())

    tokenizer_65, tokenizer_88 = CharTokenizer(string.printable[:65]), CharTokenizer(string.printable[:88])
    mixed = payload(tokenizer_88, d_model=384, n_head=6)
    mixed["tokenizer"] = tokenizer_65.to_dict()
    save_checkpoint("runs/cubit/best.pt", mixed)
    status, err = cli_in_process("sample", "--checkpoint", "runs/cubit/best.pt")
    assert status == 2
    quoted(err.strip())
    mixed = payload(tokenizer_88, d_model=384, n_head=6)
    mixed["model"] = payload(tokenizer_65, d_model=384, n_head=6)["model"]
    save_checkpoint("runs/cubit/best.pt", mixed)
    status, err = cli_in_process("sample", "--checkpoint", "runs/cubit/best.pt")
    assert status == 2
    quoted(err.strip())

    save_checkpoint("runs/cubit/best.pt", payload(tokenizer_88))
    model, _ = sample.load_for_sampling("runs/cubit/best.pt")
    with pytest.raises(ValueError) as err:
        sample.stream_text(model, tokenizer_65, "T", 10)
    quoted(f"ValueError: {err.value}")


def test_quotes_the_samplers_encoding_message(tmp_path, monkeypatch, capsys):
    checkpoint = save_checkpoint(tmp_path / "best.pt", payload())
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        sample.main(["--checkpoint", str(checkpoint)])
    assert exit.value.code == 2
    quoted(capsys.readouterr().err.strip())


def test_quotes_the_samplers_option_messages(monkeypatch, cli_in_process):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    for option, value in (("--temperature", "0"), ("--top-k", "0"), ("--seed", str(2**64)), ("--device", "cuda")):
        status, err = cli_in_process("sample", "--checkpoint", "runs/cubit/best.pt", option, value)
        assert status == 2
        quoted(err.strip().splitlines()[-1])


def test_quotes_the_samplers_interruption_line(tmp_path, monkeypatch, capsys):
    checkpoint = save_checkpoint(tmp_path / "best.pt", payload())
    real = sample.stream_text

    def stopped_by_ctrl_c(*args, **kwargs):
        pieces = real(*args, **kwargs)

        def stream():
            for i, piece in enumerate(pieces):
                if i == 3:
                    raise KeyboardInterrupt
                yield piece
        return stream()

    monkeypatch.setattr(sample, "stream_text", stopped_by_ctrl_c)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        sample.main(["--checkpoint", str(checkpoint), "--chars", "500"])
    assert exit.value.code == 130
    captured = capsys.readouterr()
    assert captured.out.startswith("\n") and len(captured.out) > 1  # the prompt and the text so far
    quoted(re.sub(r"after \d+ of \d+", "after 1234 of 100000", captured.err.strip()))
