"""Asking a target to continue an answer cut short (``Request.continues``, continue_on_cut).

The request's last message is an assistant message holding what the client already
received. Each format sends it as its provider takes it (``Profile.continuation``):
a prefill the model continues (Anthropic, Gemini), an assistant message flagged
``"prefix": true`` (DeepSeek's and Mistral's prefix mode), or, where neither is
taken, the assistant message followed by ``CONTINUE_INSTRUCTION`` as a user turn.
"""

from __future__ import annotations

from typing import Final

# The user turn that asks a model with no prefill or prefix mode to continue the assistant
# message before it. The fakes recognise the instruction form by this text.
CONTINUE_INSTRUCTION: Final = (
    "Your previous answer was cut off. Continue it from exactly where it stopped: "
    "do not repeat any of it, do not comment on the interruption; your first character "
    "follows its last one directly."
)
