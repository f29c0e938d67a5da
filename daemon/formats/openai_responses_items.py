"""OpenAI Responses input items <-> IR messages, both directions.

Shared by inbound requests (``openai_responses``), outbound requests and the
state store's ``input_items`` listing. A conversation is a flat list of items:
messages, ``function_call`` / ``function_call_output`` (tied by ``call_id``) and
``reasoning`` items. IR groups them into alternating turns: calls join the
assistant turn before them, outputs the user turn.

Reasoning items carry their ``id`` and ``encrypted_content`` as one opaque
signature, ``<id> <encrypted_content>`` (ids and base64 hold no space), so an
OpenAI item goes back whole and only to OpenAI (``providers.reasoning``).
"""

from __future__ import annotations

import uuid
from typing import Any, Final, assert_never

import orjson

from daemon.formats.fields import as_array, as_object, as_str, opt_str
from daemon.formats.media import image_of_url
from daemon.ir import (
    WRAP,
    ImagePart,
    Message,
    Opaque,
    Part,
    Role,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    WebSearchPart,
    WebSource,
    invalid,
)

NAME: Final = "openai_responses"
# The id prefix of detour's reasoning items that carry a tool call's own provider state (a Gemini
# thought signature rides on the call itself): a function_call item has no field for it.
CALL_STATE: Final = "rs_dtrcall_"
# The same for a web search another provider ran (Anthropic's blocks, to go back to it verbatim),
# followed by the ``web_search_call`` item's id: that item has no field for it either.
SEARCH_STATE: Final = "rs_dtrsearch_"
# Items a client echoes from earlier answers that carry nothing a model needs again.
_SKIPPED_ITEMS: Final = frozenset({"item_reference_skipped"})


def pack(item_id: str | None, encrypted: str | None) -> str:
    return f"{item_id or ''} {encrypted or ''}"


def unpack(signature: str) -> tuple[str | None, str]:
    item_id, sep, encrypted = signature.partition(" ")
    if not sep:
        return None, signature
    return item_id or None, encrypted


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


# --- wire -> IR -----------------------------------------------------------------------------


def _image(block: dict[str, Any], where: str) -> ImagePart:
    if block.get("file_id") is not None:
        raise invalid(f"{where}.file_id: uploaded files are not supported; send image_url as a data URL")
    url = as_str(block.get("image_url"), f"{where}.image_url")
    return image_of_url(url, opt_str(block.get("detail"), f"{where}.detail"), f"{where}.image_url")


def _content(content: Any, where: str) -> list[TextPart | ImagePart]:
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[TextPart | ImagePart] = []
    for j, raw in enumerate(as_array(content, f"{where}.content")):
        path = f"{where}.content[{j}]"
        block = as_object(raw, path)
        match block.get("type"):
            case "input_text" | "output_text" | "text" | "summary_text":
                parts.append(TextPart(as_str(block.get("text"), f"{path}.text")))
            case "refusal":
                parts.append(TextPart(as_str(block.get("refusal"), f"{path}.refusal")))
            case "input_image":
                parts.append(_image(block, path))
            case kind:
                raise invalid(f"{path}.type: detour carries text and images only, not {kind!r}")
    return parts


class _Turns:
    """Builds alternating IR messages from the flat item list."""

    def __init__(self) -> None:
        self.system: list[TextPart] = []
        self.messages: list[Message] = []
        self.leading = True
        self.names: dict[str, str] = {}
        self.call_state: dict[str, Opaque] = {}  # call id -> the provider state its call carried
        self.search_state: dict[str, Opaque] = {}  # web_search_call id -> its provider's payload

    def attach_call_state(self) -> None:
        for m in self.messages:
            for p in m.parts:
                if isinstance(p, ToolCallPart) and p.id in self.call_state:
                    p.opaque = self.call_state[p.id]
                elif isinstance(p, WebSearchPart) and search_item_id(p) in self.search_state:
                    p.opaque = self.search_state[search_item_id(p)]

    def add(self, role: Role, parts: list[Part], *, merge: bool) -> None:
        if role != "system":
            self.leading = False
        if not parts:
            return
        last = self.messages[-1] if self.messages else None
        if merge and last is not None and last.role == role:
            last.parts += parts
        else:
            self.messages.append(Message(role, parts))

    def item(self, item: dict[str, Any], where: str) -> None:
        kind = item.get("type", "message" if "role" in item else None)
        match kind:
            case "message":
                self.message(item, where)
            case "function_call" | "custom_tool_call":
                call_id = as_str(item.get("call_id"), f"{where}.call_id")
                name = as_str(item.get("name"), f"{where}.name")
                if (ns := opt_str(item.get("namespace"), f"{where}.namespace")) is not None:
                    name = flat_name(ns, name)
                args_key = "arguments" if kind == "function_call" else "input"
                args = item.get(args_key)
                text = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
                self.names[call_id] = name
                self.add("assistant", [ToolCallPart(call_id, name, text or "{}")], merge=True)
            case "function_call_output" | "custom_tool_call_output":
                call_id = as_str(item.get("call_id"), f"{where}.call_id")
                output = item.get("output")
                content = _content(output if output is not None else "", where)
                result = ToolResultPart(call_id, content, name=self.names.get(call_id))
                self.add("user", [result], merge=True)
            case "reasoning" if str(item.get("id") or "").startswith(CALL_STATE):
                enc = opt_str(item.get("encrypted_content"), f"{where}.encrypted_content")
                if enc:
                    self.call_state[str(item["id"])[len(CALL_STATE) :]] = Opaque(NAME, enc)
            case "reasoning" if str(item.get("id") or "").startswith(SEARCH_STATE):
                enc = opt_str(item.get("encrypted_content"), f"{where}.encrypted_content")
                if enc:
                    self.search_state[str(item["id"])[len(SEARCH_STATE) :]] = Opaque(NAME, enc)
            case "web_search_call":
                self.add("assistant", [_search_part(item, where)], merge=True)
            case "reasoning":
                summary = item.get("summary") or []
                text = "\n\n".join(p.text for p in _content(summary, where) if isinstance(p, TextPart))
                item_id = opt_str(item.get("id"), f"{where}.id")
                enc = opt_str(item.get("encrypted_content"), f"{where}.encrypted_content")
                opaque = None
                if enc:  # a blob detour wrapped goes back as it was; OpenAI's keeps its item id
                    opaque = Opaque(NAME, enc if enc.startswith(WRAP) else pack(item_id, enc))
                self.add("assistant", [ThinkingPart(text, opaque=opaque)], merge=True)
            case k if k in _SKIPPED_ITEMS:
                pass
            case "item_reference":
                raise invalid(f"{where}: item_reference is not supported; send the item itself")
            case _:
                raise invalid(f"{where}.type: unsupported input item type {kind!r}")

    def message(self, item: dict[str, Any], where: str) -> None:
        role = item.get("role")
        content = _content(item.get("content"), where)
        match role:
            case "system" | "developer":
                texts = [p for p in content if isinstance(p, TextPart)]
                if len(texts) != len(content):
                    raise invalid(f"{where}.content: a {role} message carries text only")
                if self.leading:
                    self.system += texts
                else:
                    self.add("system", list(texts), merge=False)
            case "user":
                self.add("user", list(content), merge=False)
            case "assistant":
                texts = [p for p in content if isinstance(p, TextPart) and p.text]
                self.add("assistant", list(texts), merge=True)
            case _:
                raise invalid(
                    f"{where}.role: expected 'user', 'assistant', 'system' or 'developer', got {role!r}"
                )


def decode_input(raw: Any, instructions: str | None) -> tuple[list[TextPart], list[Message]]:
    """``input`` (a string or items) and ``instructions`` -> (system, messages)."""
    turns = _Turns()
    if instructions:
        turns.system.append(TextPart(instructions))
    if isinstance(raw, str):
        turns.add("user", [TextPart(raw)], merge=False)
    elif raw is not None:
        for i, item in enumerate(as_array(raw, "input")):
            turns.item(as_object(item, f"input[{i}]"), f"input[{i}]")
    if turns.call_state or turns.search_state:
        turns.attach_call_state()
    return turns.system, turns.messages


def _search_part(item: dict[str, Any], where: str) -> WebSearchPart:
    """A ``web_search_call`` the client echoes: what was searched, for the record (its
    provider's payload, if any, comes in the search-state reasoning item)."""
    item_id = as_str(item.get("id"), f"{where}.id")
    action = item.get("action")
    action = action if isinstance(action, dict) else {}
    queries = action.get("queries")
    query = action.get("query") or (queries[0] if isinstance(queries, list) and queries else "")
    sources = action.get("sources")
    urls = [s.get("url") for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []
    part_id = item_id[len("ws_") :] if item_id.startswith("ws_") else item_id
    part = WebSearchPart(part_id, str(query), [WebSource(url) for url in urls if isinstance(url, str)])
    if item.get("status") == "failed":
        part.status = "failed"
    return part


def flat_name(namespace: str, name: str) -> str:
    """A tool inside a ``namespace`` tool, as one name every provider takes."""
    return f"{namespace}__{name}"


# --- IR -> wire -----------------------------------------------------------------------------


def wire_image(p: ImagePart) -> dict[str, Any]:
    url = p.url if p.data is None else f"data:{p.media_type or 'image/png'};base64,{p.data}"
    return {"type": "input_image", "image_url": url, "detail": p.detail or "auto"}


def _wire_content(parts: list[TextPart | ImagePart], text_type: str) -> list[dict[str, Any]]:
    return [{"type": text_type, "text": p.text} if isinstance(p, TextPart) else wire_image(p) for p in parts]


def call_state_item(p: ToolCallPart) -> dict[str, Any] | None:
    """The reasoning item before a call whose provider state must reach the client and come back."""
    if p.opaque is None:
        return None
    return {
        "type": "reasoning",
        "id": CALL_STATE + p.id,
        "summary": [],
        "encrypted_content": p.opaque.blob,
    }


def search_item_id(p: WebSearchPart) -> str:
    """The ``web_search_call`` id of a search, the same every time it is shown."""
    return p.id if p.id.startswith("ws_") else f"ws_{p.id}"


def search_state_item(p: WebSearchPart) -> dict[str, Any] | None:
    """The reasoning item that carries a search's provider payload to the client and back."""
    if p.opaque is None:
        return None
    state_id = SEARCH_STATE + search_item_id(p)
    return {"type": "reasoning", "id": state_id, "summary": [], "encrypted_content": p.opaque.blob}


def reasoning_item(p: ThinkingPart, *, own: bool) -> dict[str, Any] | None:
    """A reasoning item, or None where it cannot go back (another issuer's blob, outbound)."""
    item_id, enc = unpack(p.opaque.blob) if p.opaque is not None else (None, "")
    if own and (p.opaque is None or p.opaque.format != NAME or not enc):
        return None  # OpenAI takes back only its own encrypted reasoning
    summary = [{"type": "summary_text", "text": p.text}] if p.text else []
    item: dict[str, Any] = {"type": "reasoning", "id": item_id or new_id("rs"), "summary": summary}
    if enc:
        item["encrypted_content"] = enc
    return item


def encode_items(messages: list[Message], *, outbound: bool) -> list[dict[str, Any]]:
    """IR messages -> input items. ``outbound``: for an OpenAI upstream (only its own reasoning
    goes back); otherwise for a Responses client (every reasoning item, wrapped by provenance)."""
    items: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        pending: list[TextPart | ImagePart] = []
        for j, p in enumerate(m.parts):
            match p:
                case TextPart() | ImagePart():
                    pending.append(p)
                    continue
                case _:
                    pass
            if pending:
                items.append(_message(m.role, pending))
                pending = []
            match p:
                case ToolCallPart():
                    if not outbound and (state := call_state_item(p)) is not None:
                        items.append(state)
                    items.append(
                        {
                            "type": "function_call",
                            "call_id": p.id,
                            "name": p.name,
                            "arguments": p.arguments or "{}",
                        }
                    )
                case ToolResultPart():
                    output: Any = _result_output(p)
                    items.append({"type": "function_call_output", "call_id": p.call_id, "output": output})
                case ThinkingPart():
                    if (r := reasoning_item(p, own=outbound)) is not None:
                        items.append(r)
                case WebSearchPart():
                    # OpenAI takes back only searches it ran, which detour does not decode; a
                    # client listing its input items sees the search it was shown.
                    if not outbound:
                        if (state := search_state_item(p)) is not None:
                            items.append(state)
                        items.append(web_search_item(p, search_item_id(p), "completed"))
                case _:
                    raise invalid(f"messages[{i}].parts[{j}]: a {p.kind} part has no Responses form")
        if pending:
            items.append(_message(m.role, pending))
    return items


def _result_output(p: ToolResultPart) -> Any:
    texts = [c.text for c in p.content if isinstance(c, TextPart)]
    if all(isinstance(c, TextPart) for c in p.content):
        return "\n".join(texts)
    return _wire_content(p.content, "input_text")


def _message(role: Role, parts: list[TextPart | ImagePart]) -> dict[str, Any]:
    match role:
        case "assistant":
            # The plain form: an output message would need an id, status and annotations.
            return {
                "role": "assistant",
                "content": "\n\n".join(p.text for p in parts if isinstance(p, TextPart)),
            }
        case "system":
            return {"role": "developer", "content": _wire_content(parts, "input_text")}
        case "user":
            return {"role": "user", "content": _wire_content(parts, "input_text")}
        case _:
            assert_never(role)


def web_search_item(part: WebSearchPart, item_id: str, status: str) -> dict[str, Any]:
    """A search the provider ran, as the ``web_search_call`` OpenAI's own search answers with.
    Its provider payload stays in detour's stored state (``previous_response_id``)."""
    sources = [{"type": "url", "url": s.url} for s in part.sources]
    action = {"type": "search", "query": part.query, "sources": sources}
    done = part.status if status == "completed" else status
    return {"type": "web_search_call", "id": item_id, "status": done, "action": action}
