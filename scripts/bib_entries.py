"""The book's bibliography (``book/references.bib``) as plain text: author–year labels and entries.

A small BibTeX reader for the book's own file, so that the Colab edition
(``scripts/colab_edition.py``) needs nothing beyond the standard library and PyYAML. The
label follows the site's author–year style (sphinxcontrib-bibtex): one author
"Nadaraya, 1964", two "Hastie and Tibshirani, 2009", three or more "Vaswani et al., 2017".
TeX in fields (accents such as ``{\\"u}``, ``\\url{...}``, ``--``) becomes Unicode; a TeX
command it does not know is an error naming the entry.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ACCENTS = {
    '"': "\u0308",
    "'": "\u0301",
    "`": "\u0300",
    "=": "\u0304",
    "~": "\u0303",
    "^": "\u0302",
    "c": "\u0327",
    "v": "\u030c",
    "u": "\u0306",
    ".": "\u0307",
    "H": "\u030b",
    "k": "\u0328",
}
LETTERS = {"L": "Ł", "l": "ł", "o": "ø", "O": "Ø", "ss": "ß", "ae": "æ", "AE": "Æ", "aa": "å", "AA": "Å", "i": "ı"}


class BibError(ValueError):
    """references.bib says something this reader does not understand, or a citation names no entry."""


@dataclass(frozen=True)
class Entry:
    """One BibTeX entry: its type (``article``, ...), key and fields, as written (TeX kept)."""

    type: str
    key: str
    fields: dict[str, str]

    def field(self, name: str) -> str:
        """The field as plain text (TeX accents and commands turned into Unicode); "" when absent."""
        return detex(self.fields.get(name, ""), self.key)


TEX_COMMAND = re.compile(
    r"\\(?:(?P<accent>[\"'`=~^.])\s*(?:\{(?P<braced>\w?)\}|(?P<bare>\w))"
    r"|(?P<word>[a-zA-Z]+)\s*(?:\{(?P<arg>[^{}]*)\})?|(?P<symbol>[&%_$#]))"
)


def detex(text: str, key: str = "") -> str:
    """TeX in a BibTeX field as Unicode text: accents, a few letters, ``\\url``, ``--``, braces removed."""

    def replace(match: re.Match) -> str:
        if match["symbol"]:
            return match["symbol"]
        if match["accent"]:
            base = match["braced"] if match["braced"] is not None else match["bare"]
            return unicodedata.normalize("NFC", base + ACCENTS[match["accent"]])
        word, argument = match["word"], match["arg"]
        if word in ACCENTS and argument is not None:
            return unicodedata.normalize("NFC", argument + ACCENTS[word])
        if word == "url" and argument is not None:
            return argument
        if word in LETTERS:
            return LETTERS[word] + (argument or "")
        raise BibError(
            f"references.bib, entry {key!r}: unknown TeX command \\{word} "
            f"(known: accents {' '.join(ACCENTS)}, letters {' '.join(LETTERS)}, \\url)"
        )

    text = TEX_COMMAND.sub(replace, text)
    text = text.replace("---", "\u2014").replace("--", "\u2013").replace("~", "\u00a0")
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def parse_bib(text: str, source: str = "references.bib") -> dict[str, Entry]:
    """Every ``@type{key, field = {value} | "value" | number, ...}`` entry of a BibTeX text, by key."""
    entries: dict[str, Entry] = {}
    position = 0
    for match in re.finditer(r"@(?P<type>\w+)\s*\{\s*(?P<key>[^,\s]+)\s*,", text):
        if match.start() < position:
            continue
        fields, position = _fields(text, match.end(), source, match["key"])
        if match["key"] in entries:
            raise BibError(f"{source}: the key {match['key']!r} appears twice")
        entries[match["key"]] = Entry(match["type"].lower(), match["key"], fields)
    return entries


def _fields(text: str, i: int, source: str, key: str) -> tuple[dict[str, str], int]:
    fields: dict[str, str] = {}
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            raise BibError(f"{source}, entry {key!r}: not closed with '}}'")
        if text[i] == "}":
            return fields, i + 1
        name_match = re.compile(r"(\w+)\s*=\s*").match(text, i)
        if name_match is None:
            raise BibError(f"{source}, entry {key!r}: expected 'field = value' at {text[i : i + 30]!r}")
        i = name_match.end()
        if text[i] == "{":
            depth, start = 0, i
            while True:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
                if depth == 0:
                    break
                if i >= len(text):
                    raise BibError(f"{source}, entry {key!r}: unbalanced braces in {name_match[1]}")
            value = text[start + 1 : i - 1]
        elif text[i] == '"':
            end = text.index('"', i + 1)
            value, i = text[i + 1 : end], end + 1
        else:
            bare = re.compile(r"[\w.-]+").match(text, i)
            if bare is None:
                raise BibError(f"{source}, entry {key!r}: cannot read the value of {name_match[1]}")
            value, i = bare.group(0), bare.end()
        fields[name_match[1].lower()] = value


def read_bib(path: Path) -> dict[str, Entry]:
    return parse_bib(path.read_text(encoding="utf-8"), path.name)


def _people(entry: Entry, role: str = "author") -> list[tuple[str, str]]:
    """(given names, last name with its "von" part) of each person, TeX resolved."""
    people = []
    for name in re.split(r"\s+and\s+", entry.fields.get(role, "").strip()):
        if not name:
            continue
        if "," in name:
            last, given = (part.strip() for part in name.split(",", 1))
        else:
            words = name.split()
            last, given = words[-1], " ".join(words[:-1])
        people.append((detex(given, entry.key), detex(last, entry.key)))
    return people


def author_year(entry: Entry) -> str:
    """The site's author–year label: "Nadaraya, 1964", "Hastie and Tibshirani, 2009", "Vaswani et al., 2017"."""
    last = [person[1] for person in _people(entry)] or [entry.field("title")]
    names = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
    return f"{names}, {entry.field('year')}"


def _authors(entry: Entry) -> str:
    people = [f"{given} {last}".strip() for given, last in _people(entry)]
    if people[-1:] == ["others"]:  # BibTeX's "and others"
        return ", ".join(people[:-1]) + " et al."
    if len(people) <= 2:
        return " and ".join(people)
    return ", ".join(people[:-1]) + ", and " + people[-1]


def entry_text(entry: Entry) -> str:
    """The entry as one line of Markdown (plain style: authors. Title. Venue, details, year. Note.)."""
    title, year = entry.field("title"), entry.field("year")
    if entry.type == "article":
        venue = f"*{entry.field('journal')}*"
        volume = entry.field("volume") + (f"({entry.field('number')})" if entry.field("number") else "")
        volume += f":{entry.field('pages')}" if entry.field("pages") else ""
        details = ", ".join(filter(None, [venue, volume]))
        parts = [title, f"{details}, {year}"]
    elif entry.type in ("book", "phdthesis", "mastersthesis"):
        edition = entry.field("edition")
        edition = f"{edition} edition" if edition else ""
        if edition and edition[0].isdigit() and not edition[1:2].isalpha():
            edition = f"{edition[0]}{_ordinal(int(edition[0]))} edition"
        series = entry.field("series")
        parts = [
            f"*{title}*",
            ", ".join(filter(None, [edition, series])),
            ", ".join(filter(None, [entry.field("publisher"), entry.field("address"), year])),
        ]
    elif entry.type in ("inproceedings", "incollection"):
        venue = f"In *{entry.field('booktitle')}*"
        extras = [
            f"volume {entry.field('volume')}" if entry.field("volume") else "",
            f"pages {entry.field('pages')}" if entry.field("pages") else "",
        ]
        venue_parts = [venue, *extras, entry.field("series"), entry.field("publisher"), year]
        parts = [title, ", ".join(filter(None, venue_parts))]
    else:
        parts = [title, ", ".join(filter(None, [entry.field("howpublished"), year]))]
    parts = [_authors(entry), *parts, entry.field("note")]
    text = ". ".join(part.rstrip(".") for part in parts if part) + "."
    link = entry.field("url") or (f"https://doi.org/{entry.field('doi')}" if entry.field("doi") else "")
    if not link and entry.fields.get("archiveprefix", "").lower() == "arxiv" and entry.field("eprint"):
        link = f"https://arxiv.org/abs/{entry.field('eprint')}"
    return f"{text} <{link}>" if link and link not in text else text


def _ordinal(n: int) -> str:
    return {1: "st", 2: "nd", 3: "rd"}.get(n if n < 20 else n % 10, "th")
