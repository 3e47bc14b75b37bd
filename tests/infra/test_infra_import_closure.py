"""The import closure the Lambda asset is cut to: what it follows, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.import_closure import UnfollowableImport, package_closure

pytestmark = pytest.mark.infra


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A project with package `app` made of `files` (path under app/ -> source)."""
    root = tmp_path / "project"
    for relative, source in {"__init__.py": "", **files}.items():
        path = root / "app" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def _closure(root: Path, entry: str = "app.entry") -> list[str]:
    return [path.as_posix() for path in package_closure(root, entry)]


def test_follows_imports_inside_functions_and_leaves_out_unimported_modules(tmp_path):
    root = _package(tmp_path, {
        "entry.py": "import app.first\n",
        "first.py": "def later():\n    from app import second\n    return second\n",
        "second.py": "",
        "cli.py": "import app.first\n",
    })
    assert _closure(root) == [
        "app/__init__.py", "app/entry.py", "app/first.py", "app/second.py",
    ]


def test_includes_the_packages_on_the_way_and_submodules_named_in_from_imports(tmp_path):
    root = _package(tmp_path, {
        "entry.py": "from app.steps import wake\n",
        "steps/__init__.py": "",
        "steps/wake.py": "",
        "steps/sleep.py": "",
    })
    assert _closure(root) == [
        "app/__init__.py", "app/entry.py", "app/steps/__init__.py", "app/steps/wake.py",
    ]


def test_resolves_relative_imports_from_modules_and_packages(tmp_path):
    root = _package(tmp_path, {
        "entry.py": "from .steps import run\n",
        "steps/__init__.py": "from . import wake\n",
        "steps/run.py": "from ..shared import x\n",
        "steps/wake.py": "",
        "shared.py": "x = 1\n",
    })
    assert _closure(root) == [
        "app/__init__.py", "app/entry.py", "app/shared.py", "app/steps/__init__.py",
        "app/steps/run.py", "app/steps/wake.py",
    ]


def test_follows_an_import_module_call_with_a_literal_name(tmp_path):
    root = _package(tmp_path, {
        "entry.py": "import importlib\nplugin = importlib.import_module('app.plugin')\n",
        "plugin.py": "",
    })
    assert "app/plugin.py" in _closure(root)


def test_ignores_modules_of_other_packages(tmp_path):
    root = _package(tmp_path, {"entry.py": "import json\nimport httpx\nfrom os import path\n"})
    assert _closure(root) == ["app/__init__.py", "app/entry.py"]


@pytest.mark.parametrize("source", [
    "import importlib\nname = 'app.x'\nimportlib.import_module(name)\n",
    "def load(name):\n    return __import__(name)\n",
    "import pkgutil\nfor found in pkgutil.iter_modules(['app']):\n    pass\n",
    "from pathlib import Path\nDATA = Path(__file__).with_name('data.json')\n",
    "from importlib.resources import files\n",
    "from importlib import resources\n",
])
def test_refuses_what_it_cannot_read_from_the_source_naming_file_and_line(tmp_path, source):
    root = _package(tmp_path, {"entry.py": "import app.dynamic\n", "dynamic.py": source})
    with pytest.raises(UnfollowableImport, match=r"dynamic\.py:\d+ .*Lambda asset"):
        package_closure(root, "app.entry")


def test_a_module_imported_but_missing_is_an_error_naming_it(tmp_path):
    root = _package(tmp_path, {"entry.py": "def later():\n    import app.gone\n"})
    with pytest.raises(UnfollowableImport, match=r"app\.gone is imported"):
        package_closure(root, "app.entry")
