"""ComfyUI's `prompt` text: the executed graph as JSON (node id -> class_type and inputs; an input
fed by another node is [node id, output index]).

The picture is the output of a save node: from it, go back to the earliest sampler it depends
on (the base pass a hires fix or refiner starts from, Stable Cascade's stage C: its seed, steps,
size and prompts are what made the picture), then from that sampler to its text encoders, seed, sampler
and scheduler nodes, and the checkpoint. Prompts joined by conditioning nodes are reported
joined: Combine/Average with " AND ", Concat with " BREAK " (A1111's words for the same thing).
Every walk is bounded (MAX_HOPS, visited sets): a crafted graph with cycles ends.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from studio.core.readers._common import (
    MetadataError,
    json_object,
    model_stem,
    put,
    put_sampler,
    text,
    to_float,
    to_int,
    to_seed,
)

MAX_HOPS = 64
MAX_SAVES = 32  # save nodes compared; each costs a walk of the graph
MAX_TEXT_NODES = 2_000  # nodes a prompt walk visits: shared inputs must not make it exponential
_SAVE_NODES = ("SaveImage", "Image Save", "SaveImageWebsocket", "SaveAnimatedWEBP", "SaveAnimatedPNG")
_TEXT_INPUTS = ("text", "text_g", "prompt", "string", "value", "populated_text", "wildcard_text", "text_l")
_CONDITIONING_INPUTS = ("conditioning", "conditioning_1", "conditioning_2", "conditioning_to",
                        "conditioning_from", "positive", "negative", "guider", "cond", "clip_vision_output")
_MODEL_INPUTS = ("model", "model1", "unet", "base_model")
_MODEL_NAMES = ("ckpt_name", "unet_name", "model_name", "gguf_name")


class _Graph:
    def __init__(self, data: dict[str, Any]) -> None:
        self.nodes = {str(k): v for k, v in data.items()
                      if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}

    def inputs(self, node_id: str) -> dict[str, Any]:
        return self.nodes[node_id]["inputs"]

    def kind(self, node_id: str) -> str:
        return text(self.nodes[node_id].get("class_type"))

    def link(self, value: Any) -> str | None:
        """The node an input comes from, when it is a link to a node of this graph."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int):
            node_id = str(value[0])
            return node_id if node_id in self.nodes else None
        return None

    def value(self, node_id: str, key: str, hops: int = 0) -> Any:
        """An input's value, following links to primitive/widget nodes ("seed" fed by a
        Primitive or a seed node: that node's own int/seed/value input)."""
        value = self.inputs(node_id).get(key)
        source = self.link(value)
        while source is not None and hops < MAX_HOPS:
            hops += 1
            inputs = self.inputs(source)
            value = next((inputs[k] for k in (key, "seed", "noise_seed", "value", "int", "number",
                                              "float", "string", "text", "sampler_name", "scheduler")
                          if k in inputs), None)
            source = self.link(value)
        return None if isinstance(value, list) else value


def _is_sampler(graph: _Graph, node_id: str) -> bool:
    kind = graph.kind(node_id)
    inputs = graph.inputs(node_id)
    return ("KSampler" in kind and kind != "KSamplerSelect") or kind.startswith("SamplerCustom") or (
        "latent_image" in inputs and ("positive" in inputs or "guider" in inputs))


def _upstream(graph: _Graph, start: str) -> list[str]:
    """Every node `start` depends on, nearest first (breadth-first), `start` included."""
    order, seen, queue = [], {start}, deque([start])
    while queue and len(order) < 10_000:
        node_id = queue.popleft()
        order.append(node_id)
        for value in graph.inputs(node_id).values():
            source = graph.link(value)
            if source is not None and source not in seen:
                seen.add(source)
                queue.append(source)
    return order


def _first_sampler(graph: _Graph, sampler: str) -> str:
    """Back to the earliest sampler the picture depends on: the base pass of a hires fix or
    refiner (through the latent), or Stable Cascade's stage C (through the conditioning)."""
    seen = {sampler}
    for _ in range(MAX_HOPS):
        earlier = next((n for n in _upstream(graph, sampler) if n not in seen and _is_sampler(graph, n)), None)
        if earlier is None:
            return sampler
        seen.add(earlier)
        sampler = earlier
    return sampler


def _pick_sampler(graph: _Graph) -> str:
    saves = [n for n in graph.nodes if graph.kind(n) in _SAVE_NODES] or \
            [n for n in graph.nodes if graph.kind(n) == "PreviewImage"]
    # Several outputs: the one with the most sampling behind it is the finished picture.
    best: tuple[int, int, str] | None = None
    for save in saves[:MAX_SAVES]:
        samplers = [n for n in _upstream(graph, save) if _is_sampler(graph, n)]
        if samplers:
            key = (len(samplers), to_int(save) or 0, samplers[0])
            best = key if best is None or key[:2] > best[:2] else best
    if best is not None:
        return _first_sampler(graph, best[2])
    samplers = sorted((n for n in graph.nodes if _is_sampler(graph, n)), key=lambda n: (to_int(n) or 0, n))
    if not samplers:
        raise MetadataError("the ComfyUI graph has no sampler node to read settings from")
    return _first_sampler(graph, samplers[-1])


def _prompt_text(graph: _Graph, value: Any, side: str, budget: list[int] | None = None, depth: int = 0) -> str:
    """The prompt text feeding a conditioning input, with joins reported as joins. Bounded in
    depth (MAX_HOPS) and in nodes visited (MAX_TEXT_NODES), whatever the graph's shape."""
    budget = [MAX_TEXT_NODES] if budget is None else budget
    node_id = graph.link(value)
    budget[0] -= 1
    if node_id is None or budget[0] < 0 or depth > MAX_HOPS:
        return ""
    kind, inputs = graph.kind(node_id), graph.inputs(node_id)
    if "Combine" in kind or "Average" in kind or "Concat" in kind:
        parts = [_prompt_text(graph, inputs[k], side, budget, depth + 1) for k in inputs
                 if k.startswith("conditioning") and graph.link(inputs[k])]
        joiner = " BREAK " if "Concat" in kind else " AND "
        return joiner.join(p for p in parts if p)
    for key in _TEXT_INPUTS:
        if key in inputs:
            found = inputs[key] if isinstance(inputs[key], str) else _linked_text(graph, inputs[key], budget)
            if found or key == "text":
                if key == "text_g" and isinstance(inputs.get("text_l"), str) and inputs["text_l"] not in ("", found):
                    found = f"{found}\n{inputs['text_l']}"
                return found
    # A node that passes conditioning on (ControlNet, area, guidance, guider): the same side.
    for key in (side, *_CONDITIONING_INPUTS):
        if key in inputs and graph.link(inputs[key]):
            return _prompt_text(graph, inputs[key], side, budget, depth + 1)
    return ""


def _linked_text(graph: _Graph, value: Any, budget: list[int]) -> str:
    """Text a widget/primitive node feeds into a text input ("Text Multiline", "String")."""
    for _ in range(MAX_HOPS):
        node_id = graph.link(value)
        budget[0] -= 1
        if node_id is None or budget[0] < 0:
            return ""
        inputs = graph.inputs(node_id)
        value = next((inputs[k] for k in _TEXT_INPUTS if k in inputs), None)
        if isinstance(value, str):
            return value
    return ""


def _setting(graph: _Graph, sampler: str, keys: tuple[str, ...], via: tuple[str, ...]) -> Any:
    """A sampler setting: on the sampler itself, else on the node its `via` inputs link to
    (SamplerCustom's sampler/sigmas/noise/guider nodes)."""
    for key in keys:
        if key in graph.inputs(sampler):
            return graph.value(sampler, key)
    for name in via:
        source = graph.link(graph.inputs(sampler).get(name))
        if source is not None:
            for key in keys:
                if key in graph.inputs(source):
                    return graph.value(source, key)
    return None


def _size(graph: _Graph, sampler: str) -> tuple[int | None, int | None]:
    node_id = graph.link(graph.inputs(sampler).get("latent_image"))
    for _ in range(MAX_HOPS):
        if node_id is None:
            break
        inputs = graph.inputs(node_id)
        if "width" in inputs and "height" in inputs:
            return to_int(graph.value(node_id, "width")), to_int(graph.value(node_id, "height"))
        node_id = graph.link(inputs.get("samples") or inputs.get("latent") or inputs.get("latent_image"))
    return None, None


def _model(graph: _Graph, sampler: str) -> str:
    node_id = graph.link(graph.inputs(sampler).get("model")) or graph.link(graph.inputs(sampler).get("guider"))
    for _ in range(MAX_HOPS):
        if node_id is None:
            return ""
        inputs = graph.inputs(node_id)
        for key in _MODEL_NAMES:
            if isinstance(inputs.get(key), str):
                return model_stem(inputs[key])
        node_id = next((graph.link(inputs[k]) for k in _MODEL_INPUTS if graph.link(inputs.get(k))), None)
    return ""


def parse_comfyui(value: str) -> dict[str, Any]:
    """The settings of the sampler that made the picture in a ComfyUI `prompt` graph."""
    graph = _Graph(json_object(value, "ComfyUI"))
    sampler = _pick_sampler(graph)
    guider = graph.link(graph.inputs(sampler).get("guider"))
    positive_from = (guider, "positive") if guider and "positive" in graph.inputs(guider) else \
        (guider, "conditioning") if guider else (sampler, "positive")
    out: dict[str, Any] = {
        "prompt": _prompt_text(graph, graph.inputs(positive_from[0]).get(positive_from[1]), "positive"),
        "negative_prompt": _prompt_text(graph, graph.inputs(positive_from[0]).get("negative")
                                        if positive_from[1] == "positive" else None, "negative"),
    }
    put(out, "seed", to_seed(_setting(graph, sampler, ("seed", "noise_seed"), ("noise",))))
    put(out, "steps", to_int(_setting(graph, sampler, ("steps",), ("sigmas",))))
    cfg = _setting(graph, sampler, ("cfg",), ("guider",))
    if cfg is None and guider is not None:  # Flux: BasicGuider fed by FluxGuidance
        flux = graph.link(graph.inputs(guider).get("conditioning"))
        cfg = graph.value(flux, "guidance") if flux and "guidance" in graph.inputs(flux) else None
    put(out, "guidance_scale", to_float(cfg))
    denoise = to_float(_setting(graph, sampler, ("denoise",), ("sigmas",)))
    if denoise is not None and denoise < 1.0:
        out["strength"] = denoise
    put_sampler(out, text(_setting(graph, sampler, ("sampler_name",), ("sampler",))),
                text(_setting(graph, sampler, ("scheduler",), ("sigmas",))))
    width, height = _size(graph, sampler)
    put(out, "width", width)
    put(out, "height", height)
    put(out, "model_name", _model(graph, sampler) or None)
    return out
