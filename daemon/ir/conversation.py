"""The conversation every wire format translates to and from.

Plain slotted dataclasses with a literal ``kind`` discriminator, built straight
from parsed JSON: no validation library on the hot path. Tool results live on
the request side (in ``user`` messages); provider-opaque data (thinking
signatures, Gemini thought signatures) rides on the part that carries it,
tagged with the provider that issued it, and goes back only there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
# Anthropic cache breakpoints: keep the client's and place them when none are sent (auto),
# keep only the client's (client), or send none (off).
PromptCache = Literal["auto", "client", "off"]


@dataclass(slots=True)
class Opaque:
    """A provider-issued blob that must be echoed back unchanged, only to its issuer.

    ``format`` is the wire format it travels in (``anthropic``, ``gemini``,
    ``openai_chat``), set by the decoder that read it; an encoder sends back only
    blobs of its own format. ``provider`` is the id of the provider that issued it,
    set by the provider (``providers.reasoning``); None for a blob a client sent as it got
    it, where only the format is known. A blob detour wrapped for a client of
    another format comes back with ``provider`` set and ``format`` None until
    routing hands it to its issuer.
    """

    format: str | None
    blob: str
    provider: str | None = None


# How a blob wrapped for a client of another format starts: ``dtr1.<provider>.<blob>``
# (``providers.reasoning``); a format decoder may need to recognise one.
WRAP = "dtr1."


@dataclass(slots=True)
class TextPart:
    text: str
    # Anthropic prompt-cache marker (``cache_control`` on any block, or OpenAI clients' on a
    # message or part), kept verbatim for Anthropic targets only; likewise on the other parts.
    cache_control: dict[str, Any] | None = None
    opaque: Opaque | None = None
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ImagePart:
    """An image given inline (``data`` is base64) or by ``url``; exactly one is set."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    detail: str | None = None
    cache_control: dict[str, Any] | None = None
    kind: Literal["image"] = "image"


@dataclass(slots=True)
class ToolCallPart:
    """A call the assistant made. ``arguments`` is JSON text, as OpenAI sends it:
    streams deliver it in fragments, and it may be invalid JSON from the model."""

    id: str
    name: str
    arguments: str = "{}"
    opaque: Opaque | None = None
    cache_control: dict[str, Any] | None = None
    kind: Literal["tool_call"] = "tool_call"


@dataclass(slots=True)
class ToolResultPart:
    """The client's answer to a tool call. ``name`` is known in some formats only;
    encoders that need it (Gemini) look it up from the call with ``call_id``."""

    call_id: str
    content: list[TextPart | ImagePart] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None
    cache_control: dict[str, Any] | None = None
    kind: Literal["tool_result"] = "tool_result"


@dataclass(slots=True)
class ThinkingPart:
    """Model reasoning. ``text`` may be a summary. ``opaque`` holds the signature
    (Anthropic ``signature``); ``redacted`` holds Anthropic ``redacted_thinking`` data."""

    text: str = ""
    opaque: Opaque | None = None
    redacted: str | None = None
    kind: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class WebSource:
    url: str
    title: str | None = None


@dataclass(slots=True)
class WebSearchPart:
    """A web search the provider ran itself (Anthropic's server web search tool, Gemini's
    Google Search grounding): what it searched for and the pages it found. It arrives
    whole and gets no deltas. ``opaque`` holds what the issuer needs back verbatim in
    later turns (Anthropic: its ``server_tool_use`` and ``web_search_tool_result`` blocks
    as JSON, with the encrypted page content); a target that did not issue it gets the
    part left out, and the answer's text, which stays, carries what was found."""

    id: str
    query: str = ""
    sources: list[WebSource] = field(default_factory=list)
    status: Literal["completed", "failed"] = "completed"
    opaque: Opaque | None = None
    kind: Literal["web_search"] = "web_search"


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ThinkingPart | WebSearchPart
AssistantPart = TextPart | ToolCallPart | ThinkingPart | WebSearchPart


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    # JSON Schema (draft 2020-12 as the client gave it); None means no arguments.
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    # The Responses ``namespace`` tool it came in, when ``name`` is its flattened name.
    namespace: str | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "required", "none", "tool"] = "auto"
    name: str | None = None  # set when mode == "tool"
    parallel: bool | None = None  # False = at most one call per turn


@dataclass(slots=True)
class ResponseFormat:
    """What shape the client asked the answer's text to take.

    ``json_object``: any valid JSON. ``json_schema``: JSON valid against ``schema``
    (JSON Schema as the client gave it, lower-case types), ``name``/``description``/
    ``strict`` kept for targets that take them. ``tool`` and ``wrapped`` are set by
    routing, never by a decoder: ``tool`` names the forced tool that carries the answer
    on a target with no native support for what was asked (the encoders then send no
    native format); ``wrapped`` says the schema went under a ``value`` property, for a
    target that takes object schemas only, and the answer is unwrapped on the way out.
    """

    kind: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None
    tool: str | None = None
    wrapped: bool = False

    @property
    def wants_json(self) -> bool:
        return self.kind != "text"


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


@dataclass(slots=True)
class Reasoning:
    """What the client asked of the model's thinking, on one scale across formats."""

    enabled: bool = True
    effort: Effort | None = None
    budget_tokens: int | None = None
    include_thoughts: bool | None = None


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message]
    system: list[TextPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    reasoning: Reasoning | None = None
    response_format: ResponseFormat | None = None
    # Who the client says it is (Anthropic metadata.user_id, OpenAI user): names a session.
    user: str | None = None
    # The wire format the client spoke; encoders may keep format-native details for it.
    source_format: str = ""
    # The client offered a built-in web search (Responses ``web_search``): a target with its own
    # search tool runs it (Anthropic's server tool, Gemini's Google Search grounding).
    web_search: bool = False
    # The types of the client's built-in tools (Responses ``web_search``, ``file_search``, ...):
    # what became of each at the target that served it is said in ``x-detour-adapted``.
    builtin_tools: list[str] = field(default_factory=list)
    # What routing changed to fit a target that the client should hear of (x-detour-adapted).
    adapted: list[str] = field(default_factory=list)
    # Set by routing from the route's setting; Anthropic encoders place breakpoints by it.
    prompt_cache: PromptCache = "auto"
    # A Gemini ``cachedContents/...`` name the client sent: goes to Gemini targets only.
    cached_content: str | None = None
    # The last message is an assistant message holding the start of the answer (text, maybe
    # thinking); the target continues it, with no repetition (continue_on_cut).
    continues: bool = False
