"""Seconds ↔ scene frames. Time 0 of a song or take sits on `start_frame`."""
from __future__ import annotations


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def seconds_to_frame(seconds: float, fps: float, start_frame: int) -> int:
    return start_frame + round(seconds * fps)


def frame_to_seconds(frame: float, fps: float, start_frame: int) -> float:
    return (frame - start_frame) / fps
