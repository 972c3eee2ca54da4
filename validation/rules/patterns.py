"""Regular expressions from rule files: refused when they may backtrack badly, run on bounded text."""

from __future__ import annotations

import re
from functools import lru_cache

#: Longest regular expression a rule may carry.
MAX_PATTERN_LENGTH = 300
#: Longest text a regular expression is ever run on (longer values are a finding, not a match).
MAX_MATCH_LENGTH = 4096


_QUANTIFIER = re.compile(r"[*+]|\{\d*,\d*\}|\{\d+\}")


def _repeats(quantifier: str) -> bool:
    """True for a quantifier that repeats more than once (``*``, ``+``, ``{2,}``, ``{0,5}``)."""
    if quantifier in ("*", "+"):
        return True
    low, _, high = quantifier.strip("{}").partition(",")
    if "," not in quantifier:
        return int(low or "0") > 1
    return high == "" or int(high) > 1


def _quantifier_at(pattern: str, i: int) -> tuple[str, int]:
    """The quantifier starting at ``pattern[i]`` ('' when none) and the index after it."""
    m = _QUANTIFIER.match(pattern, i)
    if m is None:
        return "", i
    end = m.end()
    possessive = end < len(pattern) and pattern[end] == "+"
    return ("" if possessive else m.group()), end + (1 if possessive else 0)


def nested_repetition(pattern: str) -> bool:
    r"""True when a repeated group holds a repetition or an alternation: ``(a+)+``, ``(a|ab)*``.

    Such patterns can take exponential time on a crafted value. Atomic groups
    ``(?>…)`` and possessive quantifiers (``*+``, ``++``) are accepted, as is any
    group repeated at most once.

    >>> nested_repetition(r"(a+)+$"), nested_repetition(r"(a|ab)*"), nested_repetition(r"(\d{3} ?)+")
    (True, True, True)
    >>> nested_repetition(r"(?:PO|BC)-\d{6}"), nested_repetition(r"(?>a+)+"), nested_repetition(r"(ab)+")
    (False, False, False)
    """
    # stack of [has_inner_repetition_or_alternation, atomic]
    stack: list[list[bool]] = []
    i, n = 0, len(pattern)
    last_group: list[bool] | None = None
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            last_group = None
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last_group = None
            continue
        if ch == "(":
            stack.append([False, pattern.startswith("(?>", i)])
            i += 1
            last_group = None
            continue
        if ch == ")":
            last_group = stack.pop() if stack else None
            i += 1
            quant, after = _quantifier_at(pattern, i)
            if quant and last_group is not None and _repeats(quant) and last_group[0] and not last_group[1]:
                return True
            if stack and last_group is not None and (last_group[0] or (quant and _repeats(quant))):
                stack[-1][0] = True
            i = after
            continue
        if ch == "|" and stack:
            stack[-1][0] = True
        quant, after = _quantifier_at(pattern, i)
        if quant:
            if stack and _repeats(quant):
                stack[-1][0] = True
            i = after
            continue
        i += 1
    return False


def safe_pattern(pattern: str, *, flags: int = 0) -> re.Pattern[str]:
    """Compile a rule's regular expression, or raise ``ValueError`` saying why it is refused."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if nested_repetition(pattern):
        raise ValueError(
            "the pattern repeats a group that itself repeats or alternates (such as (a+)+ or (a|b)*), "
            "which can take exponential time; rewrite it without nested repetition, or use an atomic "
            "group (?>...) or a possessive quantifier (*+, ++)"
        )
    return _compile(pattern, flags)


@lru_cache(maxsize=512)
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"the pattern is not a valid regular expression: {exc}") from None


def bounded(text: str) -> str:
    """At most :data:`MAX_MATCH_LENGTH` characters of ``text``, the only text a pattern runs on."""
    return text[:MAX_MATCH_LENGTH]
