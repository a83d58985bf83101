"""Studio's embedded default model: a small Stable-Diffusion-architecture model trained
in this repo on a procedurally drawn, captioned world of flat shapes.

Modules: ``dataset`` (scenes + captions), ``model`` (component builders), ``train``,
``evaluate`` (pixel-level prompt fidelity), ``fit_preview`` (latent->RGB preview map).
"""

MODEL_DIR = "resources/models/studio-shapes"
