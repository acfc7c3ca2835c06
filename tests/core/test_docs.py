"""The docs' capability matrix is generated from the declarations and must not drift."""

from __future__ import annotations

from pathlib import Path

from eventkit import _docs, _registry

ROOT = Path(__file__).resolve().parents[2]


def test_capability_matrix_matches_declarations() -> None:
    loaded, _ = _registry.load_all()
    page = (ROOT / "docs/providers/index.md").read_text()
    assert _docs.replace_block(page, loaded) == page, "run: python -m eventkit._docs --write"


def test_each_provider_page_carries_its_generated_block() -> None:
    loaded, _ = _registry.load_all()
    pages = _docs.provider_pages(loaded, ROOT)
    assert {"signalwire", "asterisk", "stream", "vonage"} <= set(pages)
    for name, page in pages.items():
        text = page.read_text()
        assert _docs.provider_begin(name) in text, f"{page}: no generated capabilities block"
        assert _docs.replace_provider_block(text, name, loaded[name]) == text, "run: python -m eventkit._docs --write"


def test_a_drifted_provider_block_is_detected() -> None:
    loaded, _ = _registry.load_all()
    page = (ROOT / "docs/providers/stream.md").read_text()
    drifted = page.replace("| payload | `json` |", "| payload | `flat_strings` |")
    assert drifted != page
    assert _docs.replace_provider_block(drifted, "stream", loaded["stream"]) == page


def test_every_doc_link_in_the_readme_exists() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+\.md)\)", readme):
        assert (ROOT / link).exists(), link
