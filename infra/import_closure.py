"""Which modules of a package an entry point can ever import, read from the source.

The Lambda asset holds only these (infra/bundling.py). The closure follows every
`import` statement at any depth: module level, inside functions (the handler and
the runner import lazily to keep cold starts cheap) and under `if TYPE_CHECKING:`
(included, though never run: a few extra kilobytes are safer than a guess). Every
package on the way is included, since importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py`.

What a reading of the source cannot follow (an import by computed name, discovery
of modules on disk, data files read beside the code) is an error naming the file
and line, so the bundle can never silently miss a module the Lambda needs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

# Calls that import or locate modules or files by a name the source does not spell out.
_UNFOLLOWABLE_CALLS = {
    "__import__", "import_module", "iter_modules", "walk_packages", "run_module",
    "run_path", "spec_from_file_location",
}
# Reading package data (files beside the code, which the asset does not hold).
_DATA_READERS = {"importlib.resources", "pkgutil.get_data"}


class UnfollowableImport(RuntimeError):
    """A module imports or reads something the closure cannot see from its source."""


def package_closure(root: Path, entry: str) -> list[Path]:
    """The files (relative to `root`) of every module of `entry`'s top package it can import.

    `root` is the directory holding the package (the project root); `entry` a dotted
    module name such as `canary.handler`. Modules of other packages are not followed.
    """
    package = entry.split(".")[0]
    seen: dict[str, Path] = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        for module in _with_parents(name):
            if module in seen:
                continue
            path = _module_file(root, module)
            if path is None:
                raise UnfollowableImport(f"{module} is imported but {root} has no such module")
            seen[module] = path
            pending.extend(
                found for found in _imports(root, module, path)
                if found.split(".")[0] == package
            )
    return sorted(path.relative_to(root) for path in seen.values())


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(root: Path, module: str, path: Path) -> Iterator[str]:
    """Every module name `path` may import: `a.b` for `import a.b`, and for
    `from a import b` both `a` and `a.b` when `a/b` is a module of its own."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _no_data_reader(alias.name, path, node)
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            yield base
            for alias in node.names:
                _no_data_reader(f"{base}.{alias.name}", path, node)
                if alias.name == "*":
                    yield from _submodules(root, base)
                elif _module_file(root, f"{base}.{alias.name}") is not None:
                    yield f"{base}.{alias.name}"
        elif isinstance(node, ast.Call):
            yield from _literal_import(node, path)
        elif isinstance(node, ast.Name) and node.id == "__file__":
            raise UnfollowableImport(
                f"{path}:{node.lineno} reads files beside its code (__file__); the Lambda "
                f"asset holds Python modules only: keep the data in a module"
            )


def _no_data_reader(name: str, path: Path, node: ast.stmt) -> None:
    if name in _DATA_READERS or name.startswith("importlib.resources."):
        raise UnfollowableImport(
            f"{path}:{node.lineno} imports {name} to read files beside its code; the Lambda "
            f"asset holds Python modules only: keep the data in a module"
        )


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    return ".".join(parts[:keep] + ([node.module] if node.module else []))


def _submodules(root: Path, package: str) -> Iterator[str]:
    directory = root.joinpath(*package.split("."))
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.py")):
        if path.name != "__init__.py":
            yield f"{package}.{path.stem}"


def _literal_import(call: ast.Call, path: Path) -> Iterator[str]:
    """`import_module("a.b")` is followed; any other dynamic import is an error."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _UNFOLLOWABLE_CALLS:
        return
    first = call.args[0] if call.args else None
    literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
    if name in ("import_module", "__import__") and literal and not first.value.startswith("."):
        yield first.value
        return
    raise UnfollowableImport(
        f"{path}:{call.lineno} calls {name}() with a name the bundler cannot read from the "
        f"source; import the module with an import statement (or a literal import_module) "
        f"so the Lambda asset includes it"
    )
