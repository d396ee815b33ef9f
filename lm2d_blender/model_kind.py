"""Which kind of model the server will run, learned without importing torch: a diffusion model,
whose music and lyrics guidance the user sets, or a distilled (consistency) one, whose guidance
was baked in when it was distilled, so the sliders would do nothing. A chosen checkpoint's kind is
in its model.json; the shipped default's is what the server said when it loaded it, or, before
that, the model.json found beside the interpreter's lm2d on disk."""
from __future__ import annotations

import json
import os

from .props import session_state
from .server_env import default_model_folder
from .server_session import current_settings

DISTILLED = "consistency"
BAKED_GUIDANCE = "Guidance is baked into the distilled model"
_default_folders: dict[str, str | None] = {}   # interpreter -> its lm2d's default model folder


def checkpoint_kind(checkpoint: str) -> str | None:
    """The "kind" in a checkpoint folder's model.json (the folder or a file in it); None when unreadable."""
    folder = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
    try:
        with open(os.path.join(folder, "model.json"), encoding="utf-8") as handle:
            kind = json.load(handle).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def model_kind(context) -> str | None:
    """The kind of the model the next job loads; None until known."""
    settings = current_settings(context)
    if settings.checkpoint:
        return checkpoint_kind(settings.checkpoint)
    reported = session_state(context).default_model_kind
    if reported:
        return reported
    if settings.python not in _default_folders:   # panels ask on every redraw: look once per interpreter
        _default_folders[settings.python] = default_model_folder(settings.python) if settings.python else None
    folder = _default_folders[settings.python]
    return checkpoint_kind(folder) if folder else None


def remember_loaded(context, checkpoint: str | None, event: dict) -> None:
    """A 'loaded' event (or an environment check) for the default model tells its kind."""
    if not checkpoint and event.get("kind"):
        session_state(context).default_model_kind = event["kind"]


def guidance_is_baked(context) -> bool:
    return model_kind(context) == DISTILLED
