"""The Anthropic Messages wire format (``formats.base.WireFormat``).

The pieces live next door: ``anthropic_request`` (client bodies -> IR),
``anthropic_outbound`` (IR -> a body the API accepts), ``anthropic_response``
(answers, usage, finish reasons, errors) and ``anthropic_stream``.

Upstream: ``POST {base}/v1/messages`` with ``x-api-key`` and
``anthropic-version: 2023-06-01``, the version these bodies are written for
(``temperature``/``top_p``/``top_k`` still exist there). ``stream`` is in the
body. Inbound, the same path (Claude Code adds ``?beta=true``) and
``/v1/messages/count_tokens``, whose body ``decode_request`` also reads.
"""

from __future__ import annotations

from typing import Final

from daemon.formats.anthropic_outbound import encode_request
from daemon.formats.anthropic_request import decode_request
from daemon.formats.anthropic_response import decode_error, encode_error, encode_response
from daemon.formats.anthropic_stream import error_frame, stream_decoder, stream_encoder

name: Final = "anthropic"
API_VERSION: Final = "2023-06-01"

__all__ = [
    "API_VERSION",
    "decode_error",
    "decode_request",
    "encode_error",
    "encode_request",
    "encode_response",
    "error_frame",
    "name",
    "stream_decoder",
    "stream_encoder",
]
