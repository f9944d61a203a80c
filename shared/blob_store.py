"""Files kept on disk under the SHA-256 of their bytes (attachments, original mail messages).

A name is its content's hash, so storing the same bytes twice writes one file, and a name
never points at other bytes. A file is written to a temporary name, flushed to disk and then
renamed into place: a crash leaves either no file or the whole one, never part of it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from shared.settings import get_settings

_NAME = re.compile(r"^[0-9a-f]{64}$")


def content_name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """The content-addressed files under one directory (`ATTACHMENTS_DIR` by default)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root if root is not None else get_settings().attachments_dir)

    def path_of(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"not a content name: {name!r}")
        return self.root / name[:2] / name[2:4] / name

    def put(self, data: bytes) -> str:
        """Store the bytes (once) and give their name."""
        name = content_name(data)
        path = self.path_of(name)
        if path.exists():
            return name
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def read(self, name: str) -> bytes:
        return self.path_of(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self.path_of(name).is_file()

    def names(self) -> list[str]:
        """Every stored name (for backups and for checks)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("??/??/*") if _NAME.match(p.name))
