"""The repository explains itself: its documents point at nothing outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", "node_modules", "cdk.out", ".build"}


def documents() -> list[Path]:
    return [p for p in ROOT.rglob("*.md") if not SKIP & set(p.relative_to(ROOT).parts)]


def test_no_document_points_outside_the_repository():
    outside = [f"{p.relative_to(ROOT)}: {m}" for p in documents()
               for m in re.findall(r"\.\./shared\S*", p.read_text())]
    assert outside == []


def test_relative_links_in_documents_resolve():
    broken = []
    for doc in documents():
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []
