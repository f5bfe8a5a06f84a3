"""Comments cite what exists: every `docs/design.md §N` in the code, the tests, the scripts, the
protos and the docs names a section of docs/design.md, and nothing cites the design document
that was never in the repository."""

import re
from collections.abc import Iterator
from pathlib import Path

# Found by walking up, so the module reads the same from wherever the tests tree puts it.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
DESIGN = ROOT / "docs" / "design.md"
SEARCHED = ("src", "tests", "scripts", "protos", "docs", "README.md")
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__"})

HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)
# "docs/design.md §5.4, §5.5 and §7" cites three sections.
CITATION = re.compile(r"docs/design\.md((?:(?:,| and)? §\d+(?:\.\d+)*)+)")
SECTION = re.compile(r"§(\d+(?:\.\d+)*)")
# The old citations, of a document outside the repository ("DESIGN" and a section sign).
FOREIGN_CITATION = re.compile(r"DESIGN(?:\.md)?\s*§")


def sections() -> set[str]:
    return set(HEADING.findall(DESIGN.read_text(encoding="utf-8")))


def text_files() -> Iterator[tuple[Path, str]]:
    for name in SEARCHED:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            if not path.is_file() or SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
                continue
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def citations() -> list[tuple[str, str]]:
    """(file, section) for each section cited."""
    return [
        (str(path.relative_to(ROOT)), section)
        for path, text in text_files()
        for cited in CITATION.findall(text)
        for section in SECTION.findall(cited)
    ]


def test_design_sections_are_numbered_without_gaps() -> None:
    numbers = sections()
    top = sorted(int(n) for n in numbers if "." not in n)
    assert top == list(range(1, len(top) + 1))
    for number in numbers:
        assert number.rpartition(".")[0] in {"", *numbers}, f"§{number} has no parent section"


def test_every_cited_section_exists() -> None:
    cited = citations()
    # The sources cite the delivery rules, signing and the body: a scan that finds nothing has
    # stopped looking, not found everything right.
    assert {"3", "4", "5.5"} <= {section for _, section in cited}
    missing = sorted({(file, section) for file, section in cited if section not in sections()})
    assert not missing, f"citations of sections docs/design.md does not have: {missing}"


def test_design_refers_only_to_its_own_sections() -> None:
    # It refers to them by number alone.
    referred = set(SECTION.findall(DESIGN.read_text(encoding="utf-8")))
    assert referred
    assert referred <= sections()


def test_nothing_cites_a_design_document_outside_the_repository() -> None:
    citing = [
        str(path.relative_to(ROOT)) for path, text in text_files() if FOREIGN_CITATION.search(text)
    ]
    assert not citing


def test_readme_links_the_design() -> None:
    assert "(docs/design.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
