"""The canonical (Responses) answer -> a Gemini ``GenerateContentResponse``; Ferryman's errors in Google's shape.

The inverse of ``providers/gemini/response.py``, whose tables it shares (``FINISH_REASONS``,
``usage_metadata``). Output items become the parts of one candidate, in order:

- a reasoning item -> its summary (or, without one, its reasoning text) as ``thought: true`` text
  parts; its ``encrypted_content`` -> the ``thoughtSignature`` of the next part that is no thought
  (an empty text part at the end when none follows), as Gemini places it. Gemini's own signature
  goes back as it came (``gemini:`` tag removed); another provider's state (Anthropic's thinking
  signature, ...) is wrapped (``ferryman:`` + the state, base64: the SDK holds signatures as bytes)
  so the client sends it back and the next turn gives it to its provider again (``request.opaque_of``);
- a message's text and refusal parts -> text parts;
- a function call -> ``functionCall`` {name, args, id (the call id)};
- an image_generation_call -> ``inlineData``.

Hosted tool calls (a web search's own item) have no part; their answer is in the text.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from ferryman.providers.gemini.response import FINISH_REASONS, usage_metadata
from ferryman.schemas.errors import FerrymanError
from ferryman.schemas.items import opaque_for

from .request import TAG, WRAPPED

_decode = msgspec.json.decode

# HTTP status -> google.rpc.Code name, as Google's APIs say it
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# the other way, for a Google status a provider named: the status Google gives each
_CODES = {name: status for status, name in STATUS_NAMES.items() if status not in (402, 405, 413, 502)}


def signature_of(encrypted: str) -> str:
    """A reasoning item's ``encrypted_content`` as a thoughtSignature (see the module's docstring)."""
    own = opaque_for(TAG, encrypted)
    if own is not None:
        return own
    return base64.b64encode(WRAPPED + encrypted.encode()).decode()


class Parts:
    """The parts of the candidate, a signature waiting for the part it belongs on."""

    def __init__(self) -> None:
        self.signature: str | None = None

    def part(self, part: dict[str, Any]) -> dict[str, Any]:
        if self.signature is not None:
            part["thoughtSignature"] = self.signature
            self.signature = None
        return part

    def thought(self, text: str) -> dict[str, Any]:
        return {"text": text, "thought": True}

    def reasoning_done(self, item: dict[str, Any]) -> None:
        encrypted = item.get("encrypted_content")
        if isinstance(encrypted, str) and encrypted:
            self.signature = signature_of(encrypted)

    def end(self) -> list[dict[str, Any]]:
        """A signature nothing followed: on an empty text part, as Gemini 3 ends a turn."""
        return [self.part({"text": ""})] if self.signature is not None else []

    def item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The parts of one whole output item."""
        kind = item.get("type")
        if kind == "reasoning":
            texts = [s.get("text") for s in item.get("summary") or []] or [
                c.get("text") for c in item.get("content") or []
            ]
            parts = [self.thought(t) for t in texts if isinstance(t, str) and t]
            self.reasoning_done(item)
            return parts
        if kind == "message":
            parts = []
            for content in item.get("content") or []:
                text = content.get("text") if content.get("type") == "output_text" else content.get("refusal")
                if isinstance(text, str) and text:
                    parts.append(self.part({"text": text}))
            return parts
        if kind == "function_call":
            return [self.part(function_call(item))]
        if kind == "image_generation_call" and isinstance(item.get("result"), str):
            return [self.part(inline_image(item))]
        return []


def function_call(item: dict[str, Any]) -> dict[str, Any]:
    try:
        args = _decode(item.get("arguments") or "{}")
    except msgspec.DecodeError:
        args = None
    call = {"name": item.get("name"), "args": args if isinstance(args, dict) else {}, "id": item.get("call_id")}
    return {"functionCall": call}


def inline_image(item: dict[str, Any]) -> dict[str, Any]:
    return {"inlineData": {"mimeType": f"image/{item.get('output_format') or 'png'}", "data": item["result"]}}


def finish_reason(response: dict[str, Any]) -> str:
    if response.get("status") != "incomplete":
        return "STOP"
    details = response.get("incomplete_details") or {}
    return FINISH_REASONS.get(details.get("reason"), "OTHER")


def chunk(response_id: str | None, model: str | None, parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
    """One GenerateContentResponse (a whole answer, or a stream's chunk) of one candidate."""
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}} if parts else {}
    cand.update(candidate)
    cand["index"] = 0
    out: dict[str, Any] = {"candidates": [cand]}
    if model:
        out["modelVersion"] = model
    if response_id:
        out["responseId"] = response_id
    return out


def generate_content_response(response: dict[str, Any]) -> dict[str, Any]:
    writer = Parts()
    parts = [part for item in response.get("output") or [] for part in writer.item(item)]
    parts += writer.end()
    out = chunk(response.get("id"), response.get("model"), parts, finishReason=finish_reason(response))
    if not parts:
        out["candidates"][0]["content"] = {"role": "model", "parts": []}
    out["usageMetadata"] = usage_metadata(response.get("usage") or {})
    return out


# ---- errors ---------------------------------------------------------------------------------------


def error_object(status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """Google's ``{"code", "message", "status", "details"}``; Ferryman's own code in an ErrorInfo detail."""
    error: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, _fallback(status))}
    if code:
        info: dict[str, Any] = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": code}
        info["domain"] = "ferryman"
        if param:
            info["metadata"] = {"param": param}
        error["details"] = [info]
    return error


def error_body(exc: FerrymanError) -> bytes:
    return msgspec.json.encode({"error": error_object(exc.status, exc.message, exc.code, exc.param)})


def stream_error(code: str | None, message: str, param: str | None = None) -> dict[str, Any]:
    """A failure in a stream (its relay's ``error`` event has a code, no status): a provider's Google
    status (``resource_exhausted``) keeps its own HTTP code, anything else is a 500."""
    status = _CODES.get((code or "").upper(), 500)
    return {"error": error_object(status, message, code, param)}


def _fallback(status: int) -> str:
    return "FAILED_PRECONDITION" if status < 500 else "INTERNAL"
