"""Every relative link and anchor in the Markdown documentation resolves.

For README.md, SECURITY.md, CHANGELOG.md and docs/*.md: each Markdown link or
image whose target is relative (no scheme such as https: or mailto:) must name
a file or directory that exists, and a `#anchor` must match a heading of the
target Markdown file (or of the same file, for `(#anchor)`) under GitHub's
rules: lowercase, punctuation other than `-` and `_` dropped, each space a
`-`, and `-1`, `-2`, ... appended to repeated headings. Links inside code
blocks and code spans are not links, and are skipped.

Standard library and pytest only.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ["README.md", "SECURITY.md", "CHANGELOG.md"]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # [text] or ![alt], one level of nested brackets
    r"\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"  # (target, <target> or one with (parens)
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"  # an optional title
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ID = re.compile(r"<a\s[^>]*(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def documents() -> list[Path]:
    files = [ROOT / name for name in TOP_LEVEL if (ROOT / name).exists()]
    files += sorted((ROOT / "docs").glob("*.md"))
    return files


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    out, fence = [], None
    for number, line in enumerate(text.split("\n"), 1):
        match = FENCE.match(line.lstrip())
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        out.append((number, line))
    return out


def heading_text(raw: str) -> str:
    """The text GitHub renders for a heading's Markdown."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("*", "")  # emphasis
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_, not snake_case
    return text.strip()


def slug(text: str) -> str:
    """GitHub's anchor for a heading text (github-slugger's rule)."""
    out = []
    for ch in text.lower():
        if ch == " ":
            out.append("-")
        elif ch in "-_" or unicodedata.category(ch)[0] in "LNM":
            out.append(ch)
    return "".join(out)


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = prose_lines(text)
    previous: tuple[int, str] | None = None
    for number, line in lines:
        title = None
        atx = ATX.match(line)
        setext = SETEXT.match(line)
        if atx:
            title = atx.group(2) or ""
        elif (
            setext
            and previous is not None
            and previous[0] == number - 1
            and previous[1].strip()
            and not ATX.match(previous[1])
            and not re.match(r"^\s*([-*+]|\d+[.)])\s", previous[1])
            and not previous[1].lstrip().startswith(("|", ">"))
        ):
            title = previous[1]
        if title is not None:
            base = slug(heading_text(title))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ID.findall(line))
        previous = (number, line)
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image in the prose of `path`.

    Paragraphs are scanned whole, so a link whose text wraps onto the next line
    is found; code spans are blanked paragraph by paragraph first.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    prose = dict(prose_lines("\n".join(lines)))
    out = []
    paragraph: list[tuple[int, str]] = []
    for number in range(1, len(lines) + 2):
        line = prose.get(number, "")
        if line.strip():
            paragraph.append((number, line))
            continue
        if paragraph:
            first = paragraph[0][0]
            text = "\n".join(l for _, l in paragraph)
            text = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
            for match in INLINE_LINK.finditer(text):
                out.append((first + text.count("\n", 0, match.start()), match.group(1)))
            for offset, part in enumerate(text.split("\n")):
                definition = REFERENCE_DEF.match(part)
                if definition:
                    out.append((first + offset, definition.group(1)))
            paragraph = []
    return [(n, t[1:-1] if t.startswith("<") and t.endswith(">") else t) for n, t in out]


def relative_links() -> list[tuple[Path, int, str]]:
    return [
        (doc, number, target)
        for doc in documents()
        for number, target in links(doc)
        if target and not SCHEME.match(target)
    ]


def problem(doc: Path, target: str) -> str | None:
    """Why `target`, linked from `doc`, does not resolve; None if it does."""
    path_part, _, anchor = target.partition("#")
    dest = (doc.parent / unquote(path_part)).resolve() if path_part else doc.resolve()
    if not dest.exists():
        return f"{path_part} does not exist"
    if doc.resolve().is_relative_to(ROOT) and not dest.is_relative_to(ROOT):
        return f"{path_part} is outside the repository"
    if anchor:
        if dest.is_dir() or dest.suffix.lower() != ".md":
            return f"#{anchor} on {path_part}, which is not a Markdown file"
        if unquote(anchor).lower() not in anchors(dest):
            return f"no heading in {path_part or dest.name} makes #{anchor}"
    return None


def test_the_documents_are_there() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in documents()}
    assert "README.md" in names
    assert any(n.startswith("docs/") for n in names), names


@pytest.mark.parametrize(
    "doc, number, target",
    relative_links(),
    ids=lambda v: v.relative_to(ROOT).as_posix() if isinstance(v, Path) else str(v),
)
def test_link_resolves(doc: Path, number: int, target: str) -> None:
    why = problem(doc, target)
    assert why is None, f"{doc.relative_to(ROOT)}:{number}: ({target}): {why}"


@pytest.mark.parametrize(
    "heading, expected",
    [
        ("Allowed origins (CORS)", "allowed-origins-cors"),
        ("Relying parties: accept session JWTs only", "relying-parties-accept-session-jwts-only"),
        ("The whole flow with curl", "the-whole-flow-with-curl"),
        ("`make dev` and `make_test`", "make-dev-and-make_test"),
        ("A — B", "a--b"),
        ("[Keys](keys.md) and rotation", "keys-and-rotation"),
        ("**Bold** Zoë 2.0", "bold-zoë-20"),
    ],
)
def test_slug_follows_github(heading: str, expected: str) -> None:
    assert slug(heading_text(heading)) == expected


def test_repeated_headings_get_numbered(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Logs\n\n## Logs\n\n```\n# Logs\n```\n\nLogs\n----\n\n- item\n---\n",
        encoding="utf-8",
    )
    assert anchors(page) == {"logs", "logs-1", "logs-2"}


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    other = tmp_path / "other.md"
    other.write_text("# Here\n", encoding="utf-8")
    page.write_text(
        "# Top\n\n[ok](#top) [ok](other.md#here) [bad](#nowhere) [bad](other.md#there)"
        " [bad](missing.md) `[code](missing.md)` [web](https://example.com/x#y)\n"
        "a [wrapped\nlink](#wrapped)\n\n```\n[in a block](missing.md)\n```\n",
        encoding="utf-8",
    )
    found = [(n, t) for n, t in links(page) if not SCHEME.match(t)]
    assert found == [(3, "#top"), (3, "other.md#here"), (3, "#nowhere"), (3, "other.md#there"),
                     (3, "missing.md"), (4, "#wrapped")]
    assert [t for _, t in found if problem(page, t) is None] == ["#top", "other.md#here"]
