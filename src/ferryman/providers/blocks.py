"""Content blocks of the Messages-style streams (Anthropic Messages, Bedrock Converse): an indexed block
opens, takes deltas, stops. What a block holds between start and stop, and how the kinds both APIs share
close into the Responses builder, live here; each reader keeps what only its API has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.items import tag_opaque

# a native citation, the start of its text block and the end of the text so far -> a url_citation, or None
Annotate = Callable[[dict[str, Any], int, int], dict[str, Any] | None]


@dataclass(slots=True)
class ContentBlock:
    """A content block between its start and its stop."""

    kind: str  # "text", "thinking", "tool_use", "server_tool_use" (Anthropic's names; Converse's map onto them)
    start: int = 0  # text: where its text starts in the open message (citations index into it)
    citations: list[dict[str, Any]] = field(default_factory=list)
    signature: str = ""  # thinking
    fed: bool = False  # tool_use: whether any argument text reached the builder
    id: str = ""  # server_tool_use
    name: str = ""
    json: list[str] = field(default_factory=list)


def close_block(
    b: ResponseBuilder, block: ContentBlock, index: int, text_len: int, annotate: Annotate, tag: str
) -> bool:
    """Close a text, thinking or tool_use block into the builder; False for a kind the caller closes itself."""
    if block.kind == "text":
        for citation in block.citations:
            annotation = annotate(citation, block.start, text_len)
            if annotation is not None:
                b.annotate(annotation)
    elif block.kind == "thinking":
        if block.signature:
            b.reasoning_signature(tag_opaque(tag, block.signature))
        b.close_reasoning()
    elif block.kind == "tool_use":
        if not block.fed:  # no arguments at all: the empty object, as OpenAI sends it
            b.tool_args(str(index), "{}")
        b.close_tool(str(index))
    else:
        return False
    return True
