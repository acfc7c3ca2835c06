"""The docs' capability matrix is generated from the declarations and must not drift."""

from __future__ import annotations

from pathlib import Path

from eventkit import _docs, _registry

ROOT = Path(__file__).resolve().parents[2]


def test_capability_matrix_matches_declarations() -> None:
    loaded, _ = _registry.load_all()
    page = (ROOT / "docs/providers/index.md").read_text()
    assert _docs.replace_block(page, loaded) == page, "run: python -m eventkit._docs --write"


def test_every_doc_link_in_the_readme_exists() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+\.md)\)", readme):
        assert (ROOT / link).exists(), link
