"""A running job's progress in the UI: the Dance panel's status and bar, the status bar text."""
from __future__ import annotations

from .props import session_state


def redraw_panels(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {'VIEW_3D', 'PREFERENCES'}:
                area.tag_redraw()


def show_progress(context, status: str, fraction: float, cancellable: bool = True) -> None:
    state = session_state(context)
    state.status, state.progress = status, min(max(fraction, 0.0), 1.0)
    if context.workspace is not None:
        hint = " · Esc to cancel" if cancellable else ""
        context.workspace.status_text_set(f"LM2D: {status} {round(100 * state.progress)}%{hint}")
    redraw_panels(context)


def clear_status_bar(context) -> None:
    if context.workspace is not None:
        context.workspace.status_text_set(None)


def describe_server(hello: dict, loaded: dict | None) -> str:
    model = f"model {loaded['model']} ({loaded['kind']})" if loaded else "no model loaded"
    device = (loaded or hello).get("device", "?")
    return f"lm2d {hello.get('lm2d', '?')} · torch {hello.get('torch', '?')} · {device.upper()} · {model}"
