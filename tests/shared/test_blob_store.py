"""The content-addressed store on a real directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.blob_store import BlobStore, content_name


def test_same_bytes_are_one_file_named_by_their_hash(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    first = store.put(b"hello")
    again = store.put(b"hello")
    other = store.put(b"other")
    assert first == again == content_name(b"hello")
    assert store.read(first) == b"hello"
    assert store.names() == sorted([first, other])
    assert not list(tmp_path.rglob(".incoming-*"))


def test_a_name_that_is_not_a_hash_never_reaches_the_disk(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    for name in ["../../etc/passwd", "A" * 64, "", "0" * 63]:
        with pytest.raises(ValueError, match="not a content name"):
            store.path_of(name)
    assert not store.exists("0" * 64)
