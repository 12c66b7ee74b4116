"""What Claude models take for thinking, wherever they are served (Anthropic's API, Bedrock).

Claude 4.6 and newer think adaptively with an effort level; older thinking models take a token
budget, which must stay below ``max_tokens`` (while OpenAI counts reasoning inside
``max_output_tokens``, so a caller's limit may be smaller than the budget an effort implies).
"""

from __future__ import annotations

import re

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.items import unsupported
from ferryman.schemas.responses import Reasoning

MIN_BUDGET = 1024  # Anthropic's smallest thinking budget
# reasoning.effort -> budget_tokens (the numbers pydantic-ai uses, xhigh capped so that budget plus
# answer room fits the 32k output limit of the smallest thinking models)
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 24576, "max": 24576}
# reasoning.effort -> output_config.effort (adaptive thinking); Anthropic's lowest level is low
ADAPTIVE_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}


def claude_version(model: str) -> tuple[int, int]:
    """``claude-sonnet-4-5-20250929-v1:0`` -> (4, 5); ``claude-3-7-sonnet`` -> (3, 7); dates are not versions."""
    _, sep, rest = model.lower().rpartition("claude-")
    if not sep:
        return (0, 0)
    numbers: list[int] = []
    for token in re.split(r"[-@.:]", rest):
        if token.isdigit() and (not numbers or len(token) <= 2):
            numbers.append(int(token))
            if len(numbers) == 2:
                break
        elif numbers:
            break
    if not numbers:
        return (0, 0)
    return (numbers[0], numbers[1] if len(numbers) > 1 else 0)


def adaptive(model: str) -> bool:
    """Whether the model thinks adaptively (Claude 4.6 and newer)."""
    return claude_version(model) >= (4, 6)


def thinks(model: str) -> bool:
    """Whether the model takes a thinking setting: Claude 3.7 and newer (a name without a version
    is given the benefit of the doubt)."""
    version = claude_version(model)
    return version == (0, 0) or version >= (3, 7)


def effort_of(reasoning: Reasoning, provider: str) -> str | None:
    """``reasoning.effort``, None for none; an effort level not in ``EFFORT_BUDGETS`` is a 400."""
    effort = reasoning.effort if reasoning.effort != "none" else None
    if effort is not None and effort not in EFFORT_BUDGETS:
        known = ", ".join(["none", *EFFORT_BUDGETS])
        raise unsupported("reasoning.effort", provider, f"effort {effort!r} (known: {known})")
    return effort


def fit_budget(budget: int, limit: int | None, *, explicit: bool, provider: str) -> int:
    """A thinking budget that stays below the caller's ``max_output_tokens`` (``limit``).

    An effort's budget is cut to fit; an ``explicit`` one (``reasoning.max_tokens``) that does not fit
    is the caller's mistake, and so is a limit too small for the smallest budget: both are 400s.
    """
    if limit is None or budget < limit:
        return budget
    if explicit:
        raise InvalidRequestError(
            f"Invalid value for 'reasoning.max_tokens': provider {provider!r} needs a thinking budget"
            f" below max_output_tokens ({limit}).",
            param="reasoning.max_tokens",
            code="invalid_value",
        )
    if limit <= MIN_BUDGET:
        raise InvalidRequestError(
            f"Invalid value for 'max_output_tokens': provider {provider!r} needs more than {MIN_BUDGET}"
            " output tokens when reasoning is on.",
            param="max_output_tokens",
            code="invalid_value",
        )
    return limit - 1
