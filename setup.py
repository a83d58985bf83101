"""Everything is configured in pyproject.toml; this only lists resources/ for wheels.

The bundled model, the single-file checkpoint configs, the icon and the grid labels' font live in
resources/ beside the package (an editable install reads them there). A wheel carries them as data
files under <prefix>/share/studio/resources, where studio.core.paths.repo_resources() looks next.
"""

from pathlib import Path

from setuptools import setup

SHIPPED = ("resources/models/studio-shapes", "resources/configs", "resources/icons", "resources/fonts")


def _data_files() -> list[tuple[str, list[str]]]:
    folders: dict[str, list[str]] = {}
    for top in SHIPPED:
        for path in sorted(Path(top).rglob("*")):
            if path.is_file() and path.suffix != ".py":
                folders.setdefault(str(Path("share/studio") / path.parent), []).append(str(path))
    return sorted(folders.items())


setup(data_files=_data_files())
