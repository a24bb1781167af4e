"""What every single object's GET does with ETags, checked the same way in each service's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def assert_etag_and_304(get: Callable[..., Any], path: str) -> str:
    """`get(path, headers=...)` answers with a strong ETag, stable while nothing changes, and a
    client that already has it gets 304 with the ETag and no body. Returns the ETag."""
    first = get(path)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('"') and tag.endswith('"'), (first.status_code, tag)
    assert get(path).headers["ETag"] == tag
    cached = get(path, headers={"If-None-Match": tag})
    assert (cached.status_code, cached.data, cached.headers["ETag"]) == (304, b"", tag)
    assert "Content-Type" not in cached.headers
    return tag
