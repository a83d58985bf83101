"""The engine: model loading and sampling on one inference thread, reported as an event stream.

Importing this package is cheap: torch and diffusers load only inside the engine's inner modules
(`studio/engine/_*.py`), and those load on the inference thread when the first job runs.
"""
