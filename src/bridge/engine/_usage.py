"""Token usage: the server's `usageMetadata` reports, summed over a session.

The Live API reports usage with the messages that close a turn and bills each report,
so the sum of the reports is what the session cost. Besides the three totals the parser
reads, the details the service may add are summed too: `cachedContentTokenCount`,
`toolUsePromptTokenCount`, `thoughtsTokenCount`, and the per-modality lists
(`promptTokensDetails: [{modality: "AUDIO", tokenCount: 1234}]` ...). A malformed
detail is skipped (the totals were checked by the parser), and at most
`MAX_DETAIL_COUNTERS` distinct detail counters are kept, whatever the server sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..protocol import UsageMetadata

MAX_DETAIL_COUNTERS = 32
_TOTALS = ("prompt_tokens", "response_tokens", "total_tokens")
_COUNTS = {
    "cachedContentTokenCount": "cached_tokens",
    "toolUsePromptTokenCount": "tool_use_prompt_tokens",
    "thoughtsTokenCount": "thoughts_tokens",
}
_DETAILS = {
    "promptTokensDetails": "prompt_tokens",
    "responseTokensDetails": "response_tokens",
    "cacheTokensDetails": "cached_tokens",
    "toolUsePromptTokensDetails": "tool_use_prompt_tokens",
}
_MODALITY = re.compile(r"[A-Za-z0-9]{1,24}")


class TokenUsage:
    """Sums of every usage report of a session, by counter name (`prompt_tokens`,
    `response_tokens`, `total_tokens`, `prompt_tokens_audio`, ...)."""

    __slots__ = ("_counts", "reports")

    def __init__(self) -> None:
        self._counts: dict[str, int] = dict.fromkeys(_TOTALS, 0)
        self.reports = 0

    def add(self, usage: UsageMetadata) -> None:
        """Add one `usageMetadata` report."""
        self.reports += 1
        counts = self._counts
        counts["prompt_tokens"] += usage.prompt_token_count
        counts["response_tokens"] += usage.response_token_count
        counts["total_tokens"] += usage.total_token_count
        raw = usage.raw
        for key, name in _COUNTS.items():
            self._add(name, _get(raw, key))
        for key, name in _DETAILS.items():
            details = _get(raw, key)
            if not isinstance(details, list):
                continue
            for detail in details:
                if not isinstance(detail, Mapping):
                    continue
                modality = _get(detail, "modality")
                if isinstance(modality, str) and _MODALITY.fullmatch(modality):
                    self._add(f"{name}_{modality.lower()}", _get(detail, "tokenCount"))

    def _add(self, name: str, value: Any) -> None:
        if type(value) is not int or value < 0:
            return
        counts = self._counts
        if name in counts or len(counts) < len(_TOTALS) + MAX_DETAIL_COUNTERS:
            counts[name] = counts.get(name, 0) + value

    def as_dict(self) -> dict[str, int]:
        """Counter name → tokens so far (the three totals always present)."""
        return dict(self._counts)


def _get(value: Mapping[str, Any], camel: str) -> Any:
    """`value[camel]`, or its snake_case spelling (the SDK's JSON uses both)."""
    if camel in value:
        return value[camel]
    return value.get(re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower())
