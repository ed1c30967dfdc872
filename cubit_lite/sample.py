"""Print text from a trained model: ``python -m cubit_lite.sample --checkpoint runs/x/best.pt``.

Generation uses the mixers' incremental caches (one cached step per character), with
temperature and top-k sampling, and is reproducible given ``--seed``.
"""

from __future__ import annotations

import argparse
import re
import sys

import torch

from .checkpoint import load_model

__all__ = ["main", "sample_text"]


def sample_text(
    model,
    tokenizer,
    prompt: str,
    n_chars: int,
    *,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """``prompt`` followed by ``n_chars`` sampled characters.

    Raises :class:`ValueError` if the prompt is empty or has a character the model's
    tokenizer does not know (the message names it).
    """
    if not prompt:
        raise ValueError("the prompt is empty: give at least one character, e.g. a newline")
    if not isinstance(n_chars, int) or n_chars < 0:
        raise ValueError(f"n_chars must be a non-negative integer; got {n_chars!r}")
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt).to(device)[None, :]  # (1, T0)
    generator = torch.Generator(device=device).manual_seed(seed)
    out = model.generate(ids, n_chars, temperature=temperature, top_k=top_k, generator=generator)
    return tokenizer.decode(out[0].tolist())


def main(argv: list[str] | None = None, prog: str = "python -m cubit_lite.sample") -> str:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a .pt file written by cubit_lite.train")
    parser.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    parser.add_argument("--chars", type=int, default=500, help="how many characters to generate")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", args.device):
        parser.error(f"--device must be cpu, cuda, cuda:N or mps; got {args.device!r}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} was asked for, but no CUDA GPU is available: use --device cpu")
    if args.chars < 0:
        parser.error(f"--chars must be 0 or more; got {args.chars}")
    try:
        model, tokenizer, _ = load_model(args.checkpoint, device=args.device)
        text = sample_text(model, tokenizer, args.prompt, args.chars, temperature=args.temperature,
                           top_k=args.top_k, seed=args.seed)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    print(text)
    return text


def cli(argv: list[str] | None = None, prog: str = "cubit-sample") -> None:
    """The command line: ``cubit-sample`` (console script) and ``python -m cubit_lite.sample``."""
    main(argv, prog)


if __name__ == "__main__":
    cli(prog="python -m cubit_lite.sample")
