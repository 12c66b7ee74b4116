"""Alternating user / assistant turns built from Responses input items (Messages-style APIs).

Anthropic Messages and Bedrock Converse take the same conversation: a system prompt apart, then
turns that alternate user and assistant, each a list of content blocks. Getting there from Responses
input items is one walk for both:

- ``instructions`` and system / developer messages (text only) become the system prompt, in order;
- consecutive items of one role merge into one turn (both APIs demand alternation);
- a ``function_call`` is a block of the assistant turn, a ``function_call_output`` a block placed
  before every other block of the user turn (both APIs want the results that answer tool calls
  first), a reasoning item a block of the assistant turn in its place, so that reasoning and the
  function call after it share one assistant turn;
- reasoning with nothing after it (an interrupted turn) is dropped: no model continues from it;
- OpenAI's tool items (``web_search_call``, ``local_shell_call``, ...) come as function calls, labelled
  text or not at all, by the rules of ``history.py``; ``item_reference`` and unknown items are refused.

What differs is the shape of a block (``{"type": "text", "text"}`` against ``{"text"}``,
``tool_use`` against ``toolUse``, ``cache_control`` inside a block against a ``cachePoint`` block
after it): an adapter subclasses ``Turns`` with its block constructors and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ferryman.providers.history import offered_functions, plain_items
from ferryman.providers.tools import ToolNames, offered_call, offered_output
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import (
    CustomToolCallOutput,
    FunctionCallOutput,
    InputCustomToolCall,
    InputFile,
    InputFunctionCall,
    InputImage,
    InputMessage,
    InputPart,
    InputReasoning,
    ItemReference,
)
from ferryman.schemas.items import input_items, part_text, unsupported
from ferryman.schemas.responses import Tool

Block = dict[str, Any]
# what can carry a cache mark: a content part (a typed one, or one of another type as sent) or an item
Marked = InputPart | InputFunctionCall | FunctionCallOutput


# an input item as a translating adapter reads it: custom tool calls and outputs are function ones by then
OfferedItem = InputMessage | InputFunctionCall | FunctionCallOutput | InputReasoning | ItemReference | dict[str, Any]
Offered = tuple[str, OfferedItem]  # the item and the place in ``input`` it came from ("input[3]")


def required_input(
    input_: str | list[dict[str, Any]] | None,
    provider: str,
    tools: list[Tool] | None = None,
    names: ToolNames | None = None,
    keep: frozenset[str] = frozenset(),
) -> list[Offered]:
    """The input items of a request to a provider that needs at least one message; no input is a 400.

    OpenAI's tool items come back in the forms every adapter takes (``history.plain_items``: as
    function calls where ``tools`` offers a function of their name, else as labelled text, or left
    out); kinds in ``keep`` go on as sent. Function and custom tool calls of the history come as the
    function calls the provider made, under the names their tools are offered under (``names``, from
    the request's tools), and custom tool call outputs as function call outputs (``providers/tools.py``).

    Providers that translate the request (Anthropic, Bedrock, Gemini, Chat Completions servers) all
    reject an empty conversation, each in its own words: this says so before anything is sent. A
    ``previous_response_id`` has already been resolved into the input by then.
    """
    given = plain_items(input_items(input_), offered_functions(tools), keep)
    if not given:
        raise InvalidRequestError(
            f"Missing required parameter: 'input'. Provider {provider!r} needs at least one input message, and"
            " neither 'input' nor a previous response gives one.",
            param="input",
            code="missing_required_parameter",
        )
    names = names if names is not None else ToolNames()
    items: list[Offered] = []
    for where, item in given:
        if isinstance(item, InputFunctionCall | InputCustomToolCall):
            items.append((where, offered_call(item, names)))
        elif isinstance(item, CustomToolCallOutput):
            items.append((where, offered_output(item)))
        else:
            items.append((where, item))
    return items


def system_texts(item: InputMessage, where: str, provider: str) -> list[tuple[str, InputPart, str]]:
    """A system / developer message's texts, each with its part and path, empty ones left out.

    System prompts take text only: any other part is a 400 naming it.
    """
    texts: list[tuple[str, InputPart, str]] = []
    for j, part in enumerate(item.content):
        at = f"{where}.content[{j}]"
        text = part_text(part)
        if text is None or isinstance(part, dict):
            raise unsupported(f"{at}.type", provider, "the system prompt takes text only")
        if text:
            texts.append((text, part, at))
    return texts


def cache_control(source: Marked, where: str) -> dict[str, Any] | None:
    """The ``cache_control`` a part or item carries (``input_items`` checked it is an object with a
    type; a part of a type Ferryman does not translate carries none)."""
    return None if isinstance(source, dict) else source.cache_control


def summary_text(item: InputReasoning) -> str:
    """A reasoning item's text: its summary, else its raw content."""
    parts = item.summary or item.content or []
    return "".join(p.text for p in parts)


class Turns(ABC):
    """The system prompt and the turns of one request, built by ``read``."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.system: list[Block] = []
        self.messages: list[dict[str, Any]] = []  # {"role": "user" | "assistant", "content": [blocks]}
        self._results = 0  # blocks at the head of the last turn that answer tool calls
        self._reasoning_only = False  # the last turn holds nothing but reasoning

    # ---- one API's blocks -----------------------------------------------------------------------

    @abstractmethod
    def text(self, text: str) -> Block:
        """A text block (never empty: neither API takes an empty one)."""

    @abstractmethod
    def image(self, part: InputImage, where: str) -> Block:
        """An ``input_image`` part."""

    @abstractmethod
    def file(self, part: InputFile, where: str) -> Block:
        """An ``input_file`` part."""

    @abstractmethod
    def tool_use(self, item: InputFunctionCall, where: str) -> Block:
        """A ``function_call`` item."""

    @abstractmethod
    def tool_result(self, item: FunctionCallOutput, where: str) -> Block:
        """A ``function_call_output`` item."""

    @abstractmethod
    def reasoning(self, item: InputReasoning) -> Block | None:
        """A reasoning item this API produced, as the block it came from; another provider's: None."""

    @abstractmethod
    def cached(self, block: Block, source: Marked, where: str) -> list[Block]:
        """The block and what the source's ``cache_control`` (see ``cache_control``) asks for."""

    # ---- the walk -------------------------------------------------------------------------------

    def read(
        self,
        instructions: str | None,
        input_: str | list[dict[str, Any]] | None,
        tools: list[Tool] | None = None,
        names: ToolNames | None = None,
    ) -> None:
        if instructions:
            self.system.append(self.text(instructions))
        for where, item in required_input(input_, self.provider, tools, names):
            if isinstance(item, InputMessage):
                self._message(item, where)
            elif isinstance(item, InputFunctionCall):
                self.add("assistant", self.cached(self.tool_use(item, where), item, where))
            elif isinstance(item, FunctionCallOutput):
                self.add("user", self.cached(self.tool_result(item, where), item, where), result=True)
            elif isinstance(item, InputReasoning):
                block = self.reasoning(item)
                if block is not None:
                    self.add("assistant", [block], reasoning=True)
            elif isinstance(item, ItemReference):
                raise unsupported(f"{where}.type", self.provider, "item_reference: send the item itself")
            else:
                raise unsupported(f"{where}.type", self.provider, f"input items of type {item.get('type')!r}")
        if self.messages and self.messages[-1]["role"] == "assistant" and self._reasoning_only:
            self.messages.pop()  # reasoning with nothing after it: no model continues from it

    def add(self, role: str, blocks: list[Block], *, result: bool = False, reasoning: bool = False) -> None:
        """Append blocks to the conversation, merging same-role turns; ``result`` blocks (tool results
        and what comes with them) go after the results already at the head of the user turn."""
        if not blocks:
            return
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != role:
            self.messages.append({"role": role, "content": list(blocks)})
            self._results = len(blocks) if result else 0
            self._reasoning_only = reasoning
            return
        content = last["content"]
        if result:
            content[self._results : self._results] = blocks
            self._results += len(blocks)
        else:
            content.extend(blocks)
        self._reasoning_only = self._reasoning_only and reasoning

    def _message(self, item: InputMessage, where: str) -> None:
        role = item.role
        if role in ("system", "developer"):
            for text, part, at in system_texts(item, where, self.provider):
                self.system.extend(self.cached(self.text(text), part, at))
            return
        self.add("assistant" if role == "assistant" else "user", self.parts(item.content, f"{where}.content"))

    def parts(self, parts: list[InputPart], where: str, *, cached: bool = True) -> list[Block]:
        """Content parts as blocks (empty text left out), with their cache marks when ``cached``."""
        blocks: list[Block] = []
        for j, part in enumerate(parts):
            at = f"{where}[{j}]"
            block = self.part(part, at)
            if block is not None:
                blocks.extend(self.cached(block, part, at) if cached else [block])
        return blocks

    def part(self, part: InputPart, where: str) -> Block | None:
        if isinstance(part, InputImage):
            return self.image(part, where)
        if isinstance(part, InputFile):
            return self.file(part, where)
        if isinstance(part, dict):
            raise unsupported(f"{where}.type", self.provider, f"content parts of type {part.get('type')!r}")
        text = part_text(part)
        return self.text(text) if text else None
