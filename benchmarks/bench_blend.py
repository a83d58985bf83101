"""Blend slider cost: text-encoder time per prompt, and slider move -> first live preview.

1. Encoder cost on an SD 1.x-sized CLIP text encoder (random weights, real CLIP tokenizer; built in
   code, nothing downloaded): one prompt encoded uncached (plain, weighted, 200 tokens) vs a cache
   hit, and the cost of mixing two cached prompts (slerp/lerp).
2. Slider move -> first live preview as the artist sees it: the Blend panel (studio/ui/blend_panel.py,
   offscreen Qt) takes the new slider position, waits out its debounce (DEBOUNCE_MS after the hand
   rests), builds the request, the live renderer submits it through the window's bridge
   (studio/ui/bridge.py) to the real engine (JobQueue + DiffusersBackend), and the clock stops when
   the job's first preview is delivered on the GUI thread. Alternating runs: a new mix of prompts
   already encoded (what a slider move costs) vs a prompt B never seen before (what it would cost
   without the cache: the reference). Each run starts with the engine idle. Models: the tiny one,
   a tiny UNet behind the SD 1.x-sized text encoder (so the encoder weighs what it does in
   practice), and the bundled model when present. Medians of --runs runs; the ratio is
   uncached / cached, and the debounce's share is printed beside it.

    python benchmarks/bench_blend.py [--runs 7] [--steps 20] [--no-sd1-encoder] [--no-bundled] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _fair import qt_app
from diffusers import DiffusionPipeline

from studio.core.paths import bundled_model_path
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine._embeddings import EmbeddingCache, PromptEncoder
from studio.engine.backend import DiffusersBackend, native_size
from studio.engine.jobs import JobQueue
from studio.engine.tiny import ensure_tiny_model

PROMPT_A = "a red circle on a white background, flat colours"
PROMPT_B = "a blue square on a white background, flat colours"


def sd1_sized_pipeline():
    """Tiny UNet/VAE behind an SD 1.x-sized CLIP text encoder (123 M parameters, random)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.engine._checkpoints import clip_tokenizer, configs_root
    from studio.engine._tiny import build_tiny_pipeline

    torch.manual_seed(0)
    config = json.loads((configs_root() / "sd1" / "text_encoder" / "config.json").read_text())
    encoder = CLIPTextModel(CLIPTextConfig(**config)).eval()
    tiny = build_tiny_pipeline()
    unet = UNet2DConditionModel(**{**tiny.unet.config, "cross_attention_dim": 768})
    pipe = StableDiffusionPipeline(
        vae=tiny.vae, text_encoder=encoder, tokenizer=clip_tokenizer(), unet=unet,
        scheduler=tiny.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_encoder(pipe, runs: int) -> None:
    encoder = PromptEncoder(pipe)
    prompts = {
        "plain prompt": PROMPT_A,
        "weighted (red:1.3)": "a (red:1.3) circle on a [white] background, flat colours",
        "200-token prompt": ", ".join([PROMPT_A] * 20),
    }
    print("Encoder cost (SD 1.x-sized CLIP text encoder, CPU):")
    for label, text in prompts.items():

        def uncached(text=text):
            encoder.cache = EmbeddingCache()
            encoder.encode_text(text)

        uncached()  # warm-up: first calls allocate and spin up threads
        cold = median_ms(uncached, runs)
        warm = median_ms(lambda text=text: encoder.encode_text(text), runs * 20)
        print(f"  {label:22s} uncached {cold:8.1f} ms   cached {warm * 1000:6.1f} µs")
    encoder.encode_text(PROMPT_B)
    for mode in ("slerp", "lerp"):
        request = GenerationRequest(PROMPT_A, blend_prompts=(PROMPT_B,), blend_weights=(0.37,), blend_mode=mode)
        mixed = median_ms(lambda r=request: encoder.encode(r), runs * 20)
        print(f"  {'mix of 2 cached (' + mode + ')':22s} {mixed:17.2f} ms")


class SliderClock:
    """The Blend panel on a real engine behind the bridge; times slider moves to first previews."""

    def __init__(self, base: GenerationRequest) -> None:
        from PySide6.QtCore import QEventLoop

        from studio.ui.blend_panel import BlendPanel
        from studio.ui.bridge import EngineBridge

        self.app = qt_app()
        self.queue = JobQueue(DiffusersBackend(EngineSettings()))
        self.bridge = EngineBridge(lambda: self.queue)
        self.panel = BlendPanel()
        self.panel.set_base_request(base)
        self.panel.prompt_b.setText(PROMPT_B)
        self.panel.attach(self.bridge)
        self._loop = QEventLoop()
        self._job: int | None = None
        self._failure = ""
        self.bridge.jobQueued.connect(self._on_queued)
        self.bridge.preview.connect(self._on_preview)
        self.bridge.failed.connect(self._on_failed)

    def _on_queued(self, job: int, _request: object, _position: int) -> None:
        if self._job is None:
            self._job = job

    def _on_preview(self, job: int, _step: int, _image: object) -> None:
        if job == self._job:
            self._loop.quit()

    def _on_failed(self, job: int, message: str, _detail: str) -> None:
        if job == self._job:
            self._failure = message
            self._loop.quit()

    def move(self, position: float, prompt_b: str = PROMPT_B) -> float:
        """Seconds from the slider resting at `position` to the first preview on the GUI thread."""
        from PySide6.QtCore import QTimer

        if self.panel.prompt_b.text() != prompt_b:  # typed earlier: not part of this move
            self.panel.prompt_b.blockSignals(True)
            self.panel.prompt_b.setText(prompt_b)
            self.panel.prompt_b.blockSignals(False)
        self._job, self._failure = None, ""
        guard = QTimer()
        guard.setSingleShot(True)
        guard.timeout.connect(self._loop.quit)
        guard.start(300_000)
        start = time.perf_counter()
        self.panel.mix.set_value(position)
        self._loop.exec()
        elapsed = time.perf_counter() - start
        guard.stop()
        if self._failure or self._job is None:
            raise SystemExit(f"live render failed: {self._failure or 'no preview within 300 s'}")
        self.bridge.cancel_running()  # the hand moves on: the rest of this render is not wanted
        if not self.queue.wait_idle(300):
            raise SystemExit("the engine did not go idle after a cancel")
        self.app.processEvents()  # deliver the cancelled job's last signals before the next move
        return elapsed

    def close(self) -> None:
        self.bridge.shutdown(60)
        self.panel.deleteLater()


def bench_slider(label: str, model: str, runs: int, steps: int, size: int) -> None:
    from studio.ui.blend_panel import DEBOUNCE_MS

    clock = SliderClock(GenerationRequest(PROMPT_A, seed=1, steps=steps, width=size, height=size,
                                          scheduler="Euler", model=model))
    try:
        clock.move(0.5)  # load the model and encode A, B and the negative prompt
        cached, uncached = [], []
        for run in range(runs):
            t = (run + 1) / (runs + 2)  # a new position every move, never 0.5
            fresh = f"{PROMPT_B}, variation {run}"  # never encoded before
            moves = [lambda t=t: cached.append(clock.move(t)),
                     lambda t=t, fresh=fresh: uncached.append(clock.move(t + 0.01, fresh))]
            for move in moves if run % 2 == 0 else moves[::-1]:
                move()
            clock.move(0.99)  # back to prompt B, its encoding cached (untimed)
    finally:
        clock.close()
    c, u = statistics.median(cached) * 1000, statistics.median(uncached) * 1000
    print(f"  {label:38s} cached {c:8.1f} ms   uncached {u:8.1f} ms   uncached/cached {u / c:5.2f}"
          f"   (debounce {DEBOUNCE_MS} ms of each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-sd1-encoder", action="store_true", help="skip the 123 M-parameter text encoder")
    parser.add_argument("--no-bundled", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 runs of 8 steps: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.steps = 3, 8
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        models = [("tiny model (64 px)", str(ensure_tiny_model(Path(tmp) / "tiny")), 64)]
        if not args.no_sd1_encoder:
            folder = Path(tmp) / "sd1-encoder"
            sd1_sized_pipeline().save_pretrained(folder)
            # measured as loaded from disk, like the engine's (freshly built weights run slower)
            bench_encoder(DiffusionPipeline.from_pretrained(folder, local_files_only=True), args.runs)
            models.append(("tiny UNet + SD1-sized encoder (64 px)", str(folder), 64))
        bundled = bundled_model_path()
        if not args.no_bundled and (bundled / "model_index.json").is_file():
            models.append(("bundled studio-shapes", "", native_size("")))
        print(f"\nSlider rests -> first preview on the GUI thread (panel debounce + bridge + engine, "
              f"{args.steps} steps, Euler, medians of {args.runs}):")
        for label, model, size in models:
            bench_slider(label, model, args.runs, args.steps, size)


if __name__ == "__main__":
    main()
