"""JSON documents from users (model.json, lyrics .json): bounded size and nesting, and no number
Python cannot hold (a 5,000-digit integer, NaN), each refused in one line naming the file."""
from __future__ import annotations

import json
import os

from lm2d.errors import LM2DError
from lm2d.limits import MAX_JSON_DEPTH


def load_json(text: str, path: str | os.PathLike, max_depth: int = MAX_JSON_DEPTH):
    """json.loads with limits: nesting at most max_depth (checked on the text, before parsing,
    so a 100,000-deep document costs one pass, not a RecursionError) and finite numbers only."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise LM2DError(f"JSON nested {depth} levels deep; at most {max_depth} are accepted", path=path)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise LM2DError(f"invalid JSON: {err.msg}", path=path, line=err.lineno) from err
    except (ValueError, RecursionError) as err:   # 5,000-digit integers; NaN / Infinity (below)
        raise LM2DError(f"invalid JSON: {' '.join(str(err).split())[:120]}", path=path) from err


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
