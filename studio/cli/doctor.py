"""`studio doctor [--load-models] [--json]`: what a user (or a bug report) needs to know when
something is wrong, one fact per line, each marked ok, warning or problem.

Groups: Studio and Python; the window (Qt, system libraries, display); torch and its device;
where Studio keeps its data; the models; the gallery. Exit status 2 when a problem would stop the
app (no window possible, torch unusable, no usable model, STUDIO_HOME unwritable), else 0:
warnings keep 0. Nothing is changed: the gallery is checked on a copy of its database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from studio import __version__
from studio.cli import _doctor_checks as checks
from studio.cli._output import EXIT_BAD_INPUT, EXIT_OK

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass(frozen=True)
class Finding:
    group: str
    status: str  # ok, warning or problem
    text: str  # one line


class Report:
    """The findings in the order found; printed at once unless JSON is wanted at the end."""

    def __init__(self, live: bool) -> None:
        self.findings: list[Finding] = []
        self.live = live
        self._group = ""

    def group(self, name: str) -> None:
        self._group = name
        if self.live:
            print(name, flush=True)

    def add(self, status: str, text: str) -> None:
        finding = Finding(self._group, status, " ".join(text.split()))
        self.findings.append(finding)
        if self.live:
            print(f"  {status:<8} {finding.text}", flush=True)

    def ok(self, text: str) -> None:
        self.add(OK, text)

    def warning(self, text: str) -> None:
        self.add(WARNING, text)

    def problem(self, text: str) -> None:
        self.add(PROBLEM, text)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.findings)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check this installation: window, torch, data folders, models, gallery",
        description="Check what Studio needs, one line per fact (ok, warning or problem). Exit status 2 "
        "when something would stop Studio. Changes nothing.",
    )
    parser.add_argument("--load-models", action="store_true",
                        help="load every model for real (default: only the bundled model; others by their headers)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON (for bug reports)")


def run(args: argparse.Namespace) -> int:
    report = Report(live=not args.json)
    settings = _studio(report)
    checks.window(report)
    torch_ok = _torch(report, settings)
    home_ok = checks.data(report, settings)
    _models(report, settings, torch_ok, args.load_models)
    checks.gallery(report, home_ok)
    problems, warnings = report.count(PROBLEM), report.count(WARNING)
    if args.json:
        print(json.dumps({"studio": __version__, "problems": problems, "warnings": warnings,
                          "findings": [asdict(f) for f in report.findings]}, indent=2, ensure_ascii=False))
    else:
        verdict = "Studio should not start as it is: fix the problems above" if problems else "Studio can run here"
        print(f"{problems} problem{'s' * (problems != 1)}, {warnings} warning{'s' * (warnings != 1)}: {verdict}")
    return EXIT_BAD_INPUT if problems else EXIT_OK


def _studio(report: Report):  # noqa: ANN202 - EngineSettings
    from studio.core.paths import repo_resources
    from studio.core.settings import load_settings, settings_path

    report.group("Studio")
    frozen = getattr(sys, "frozen", False)
    how = f"bundle at {Path(sys.executable).parent}" if frozen else f"from Python at {sys.prefix}"
    report.ok(f"Studio {__version__}, Python {platform.python_version()} on {platform.system()} "
              f"{platform.machine()}, {'frozen ' if frozen else ''}{how}")
    resources = repo_resources()
    if (resources / "configs").is_dir():
        report.ok(f"resources at {resources}")
    else:
        report.warning(f"resources not found (looked at {resources}): reinstall Studio")
    settings = load_settings()  # an unreadable file is logged (a warning line) and defaults used
    report.ok(f"settings: {settings_path()}" + ("" if settings_path().is_file() else " (not saved yet: defaults)"))
    return settings


def _torch(report: Report, settings) -> bool:  # noqa: ANN001
    from studio.engine.diagnose import TorchUnusable, torch_facts

    report.group("Torch")
    try:
        facts = torch_facts(settings)
    except TorchUnusable as exc:
        report.problem(f"{exc}: reinstall Studio (from source: pip install --force-reinstall torch)")
        return False
    report.ok(f"torch {facts.version}, {facts.build} build")
    if facts.device_problem:
        report.problem(facts.device_problem)
    else:
        report.ok(f"jobs run on the {facts.device.upper()} in {facts.dtype}")
    for note in facts.notes:
        report.warning(note)
    source = ("STUDIO_THREADS" if os.environ.get("STUDIO_THREADS", "").strip()
              else "settings" if settings.threads else "OMP_NUM_THREADS" if os.environ.get("OMP_NUM_THREADS")
              else "physical cores")
    report.ok(f"CPU: {facts.threads} thread{'s' * (facts.threads != 1)} per job ({source}), "
              f"{facts.cores} physical core{'s' * (facts.cores != 1)} usable")
    for gpu in facts.gpus:
        free = f", {checks.size(gpu.free)} free" if gpu.free >= 0 else ""
        report.ok(f"GPU: {gpu.name}, {checks.size(gpu.total)} memory{free}")
    if facts.mps:
        report.ok("GPU: Apple MPS available")
    if not facts.gpus and facts.build.startswith(("CUDA", "ROCm")):
        report.warning(f"a {facts.build.split()[0]} build of torch but no GPU is visible: jobs run on the CPU; "
                       "check the GPU driver (nvidia-smi)")
    elif not facts.gpus and not facts.mps:
        report.ok("no GPU: images take seconds each on the bundled model, minutes on big models")
    return True


def _models(report: Report, settings, torch_ok: bool, load_all: bool) -> None:  # noqa: ANN001
    from studio.engine.diagnose import load_check
    from studio.engine.jobs import UserError
    from studio.engine.models import list_models

    report.group("Models")
    entries = list_models(settings)
    usable = 0
    for entry in entries:
        where = "" if entry.source == "bundled" else f", {entry.source}"
        what = f"{entry.name}: {entry.kind}, {entry.arch_label}, {checks.size(entry.size)}{where}"
        if entry.error:
            report.warning(f"{what}: cannot be used ({entry.error})")
            continue
        if entry.kind in ("lora", "taesd"):
            report.ok(what)
            continue
        usable += 1
        if not torch_ok or not (entry.source == "bundled" or load_all):
            report.ok(f"{what}: files look right" + ("" if torch_ok else " (not loaded: torch is unusable)"))
            continue
        try:
            seconds = load_check(Path(entry.path), settings)
        except UserError as exc:
            usable -= 1
            report.problem(f"{what}: does not load ({exc})")
            continue
        report.ok(f"{what}: loads in {seconds:.1f} s")
    if not entries:
        report.problem("no models found: reinstall Studio (the bundled model is missing) or add one "
                       "with `studio models add PATH`")
    elif not usable:
        report.problem("no usable model: add one with `studio models add PATH`")
