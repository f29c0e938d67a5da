"""Images given inline: their media type from their first bytes, and ``data:`` URLs split.

Shared by the formats whose upstreams want a media type beside base64 data; each caller
keeps its own fallback for an image this cannot name.
"""

from __future__ import annotations

import re
from typing import Final

from daemon.ir import ImagePart, invalid

# Base64 openings of each type's magic bytes, for images that came without a media type.
_MAGIC: Final = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)
_DATA_URL = re.compile(r"data:([^;,]+);base64,(.*)", re.DOTALL)
# What OpenAI clients send: parameters may come between the media type and ``;base64``.
_OPENAI_DATA_URL = re.compile(r"data:([^;,]+)[^,]*;base64,(.*)", re.DOTALL)


def sniff_mime(data: str) -> str | None:
    """The media type base64 ``data`` starts like, if it is one of the four common image types."""
    return next((mime for magic, mime in _MAGIC if data.startswith(magic)), None)


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` as (media type, data); None for any other URL."""
    m = _DATA_URL.fullmatch(url)
    return None if m is None else (m.group(1), m.group(2))


def image_of_url(url: str, detail: str | None, where: str) -> ImagePart:
    """An OpenAI ``image_url``: a ``data:`` URL becomes inline data, any other URL stays a URL."""
    if url.startswith("data:"):
        m = _OPENAI_DATA_URL.fullmatch(url)
        if m is None:
            raise invalid(f"{where}: a data URL must look like data:image/png;base64,...")
        return ImagePart(media_type=m[1], data=m[2], detail=detail)
    return ImagePart(url=url, detail=detail)
