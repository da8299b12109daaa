"""Every document the current-platform client builds is valid against the real schema."""

from __future__ import annotations

import pytest

from beeplan.platforms.current.client import Document, example_documents
from beeplan.platforms.current.sandbox.schema import check_document

DOCUMENTS = example_documents()


@pytest.mark.parametrize("doc", DOCUMENTS, ids=[f"{d.kind}-{d.name}" for d in DOCUMENTS])
def test_document_is_valid_against_the_real_schema(doc: Document) -> None:
    assert check_document(doc.text) == []
    # every variable the document declares is sent, and no other
    declared = {part.split(":")[0].strip().lstrip("$")
                for part in doc.text.split("(", 1)[1].split(")", 1)[0].split(",")} \
        if doc.variables else set()
    assert declared == set(doc.variables)


def test_the_check_catches_an_invalid_document() -> None:
    """The test above could fail: a document the real schema refuses is reported."""
    assert check_document("mutation { a0: addRole(name: \"x\") { id } }")
