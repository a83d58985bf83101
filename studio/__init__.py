"""Studio: a desktop canvas for diffusion image generation."""

__version__ = "0.1.0"
