"""The documentation: every relative link resolves, the README stays a landing page, and every
benchmark has its page and its row in the tables that list them."""
import re
from pathlib import Path

import pytest

from pit_eval import benchmarks

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def _links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no {dest.relative_to(ROOT) if ROOT in dest.parents else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "p.md"
    (tmp_path / "there.md").write_text("# A heading\n")
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) [bad anchor](there.md#nope) "
                    "```\n[in code](ignored.md)\n``` [web](https://example.org)")
    assert list(_links(page)) == ["there.md#a-heading", "missing.md", "there.md#nope"]
    assert _anchors(tmp_path / "there.md") == {"a-heading"}


def test_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_500, "the README is a landing page: move detail to docs/"
    assert "make demo" in readme and "make test" in readme


def test_every_benchmark_is_listed_with_its_page():
    readme, table = (ROOT / "README.md").read_text(), (ROOT / "docs/robustness.md").read_text()
    for b in benchmarks.ordered():
        page = b.doc.removeprefix("docs/")
        assert f"`{b.name}`" in readme and f"({b.doc})" in readme, b.name
        assert f"`{b.name}`" in table and f"({page})" in table, b.name
