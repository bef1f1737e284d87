"""Ways to damage a table cache or a Vocab file, shared by the damage tests and the fuzz test."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

ESCAPES_ALLOWED = "VocabgraftError"


def read_st(path: Path) -> tuple[dict[str, Any], bytes]:
    """A safetensors file's JSON header and its data bytes."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def write_st(path: Path, header: Any, data: bytes) -> None:
    """Write a safetensors file from a (possibly damaged) header and data."""
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + data)


def edit_header(path: Path, edit: Any) -> None:
    """Apply ``edit(header)`` (which may return a replacement) to a safetensors file."""
    header, data = read_st(path)
    out = edit(header)
    write_st(path, header if out is None else out, data)


def edit_json(path: Path, edit: Any) -> None:
    """Apply ``edit(obj)`` (which may return a replacement) to a JSON file."""
    obj = json.loads(path.read_text())
    out = edit(obj)
    path.write_text(json.dumps(obj if out is None else out))
