"""Images and files in Responses content parts: where their bytes or URL are, and of what type.

Every translating adapter reads ``input_image`` and ``input_file`` parts the same way before it
gives them its own wire shape: an image is a URL (``image_url``; ``input_items`` unwraps the Chat
Completions shape ``{"url": ...}``), a file is base64 ``file_data`` (bare, or a ``data:`` URL) or a
``file_url``.
Nothing here fetches anything: URLs are passed on for the provider to read.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from urllib.parse import unquote_to_bytes

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import InputFile, InputImage
from ferryman.schemas.items import unsupported


def data_url(url: str, where: str, *, default: str = "text/plain") -> tuple[str, str]:
    """``data:<media>;base64,<data>`` -> (media type, base64 data); ``default`` when it names no type
    (RFC 2397 says text/plain). Percent-encoded (non-base64) data comes back base64-encoded."""
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise InvalidRequestError(f"Invalid data URL in '{where}'.", param=where, code="invalid_value")
    media, *params = header.split(";")
    media = media.strip().lower() or default
    if "base64" in params:
        return media, "".join(payload.split())
    return media, base64.b64encode(unquote_to_bytes(payload)).decode()


def image_url(part: InputImage, where: str, provider: str) -> str:
    """An ``input_image``'s URL; a 400 for an OpenAI file id or no image at all."""
    if part.image_url:
        return part.image_url
    if part.file_id:
        raise unsupported(f"{where}.file_id", provider, "OpenAI file ids; send the image as image_url")
    raise InvalidRequestError(
        f"Missing required parameter: '{where}.image_url'.",
        param=f"{where}.image_url",
        code="missing_required_parameter",
    )


def file_bytes(part: InputFile, where: str, *, default: str = "text/plain") -> tuple[str, str] | None:
    """An ``input_file``'s ``file_data`` as (media type, base64 data), None when it has none.

    The type is the data URL's (``default`` when it names none), else the filename's, else PDF (what
    a bare ``file_data`` is in OpenAI's own examples).
    """
    data = part.file_data
    if not data:
        return None
    if data.startswith("data:"):
        return data_url(data, where, default=default)
    return guess_type(part.filename) or "application/pdf", data


def no_file(part: InputFile, where: str, provider: str, *, send: str) -> InvalidRequestError:
    """The 400 for an ``input_file`` with no source the provider takes: an OpenAI file id (``send``
    says what to send instead), or nothing at all."""
    if part.file_id:
        return unsupported(f"{where}.file_id", provider, f"OpenAI file ids; send {send}")
    return InvalidRequestError(
        f"Missing required parameter: '{where}.file_data'.",
        param=f"{where}.file_data",
        code="missing_required_parameter",
    )


def guess_type(name: str | None) -> str | None:
    """The media type a file name or URL path suggests, if any."""
    if not name:
        return None
    return mimetypes.guess_type(name)[0]


def b64_text(data: str, where: str) -> str:
    """A text file's base64 ``data`` as its text; anything but base64-encoded UTF-8 is a 400."""
    try:
        return base64.b64decode(data, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError(
            f"Invalid value for '{where}': a text file must be base64-encoded UTF-8.", param=where, code="invalid_value"
        ) from None
