"""The inference server: JSON lines on stdin/stdout, driven by the Blender add-on (`python -m lm2d.server`)."""
