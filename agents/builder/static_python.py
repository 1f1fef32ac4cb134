"""What setup.py and noxfile.py declare, read with ``ast`` and never executed.

Repositories are attacker-controlled, so their Python is parsed, not run. A tiny evaluator folds the
shapes real projects use for their metadata — string / list / tuple / dict literals, ``dict(...)``,
``{**a, ...}``, ``a + b`` concatenation, ``list()`` / ``sorted()`` / ``tuple()`` of those, and module-level
names (``EXTRAS = {...}``, ``tests_require = [...]``, ``X += [...]``, ``X["k"] = [...]``) — into values.
Anything else (a call into the project, a file read, a comprehension) is :data:`UNKNOWN`: a dict keeps its
known keys (an extra's name is what matters), a list keeps its known elements, and the caller gets a note
instead of a guess.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

UNKNOWN = object()
_PASS_THROUGH = ("list", "tuple", "sorted")
MAX_DEPTH = 30


class _Folder:
    """Folds expressions of one module against its module-level assignments."""

    def __init__(self, tree: ast.Module):
        self.names: dict[str, list[ast.stmt]] = {}
        for stmt in tree.body:
            for name in _assigned(stmt):
                self.names.setdefault(name, []).append(stmt)
        self.unknown_seen = False

    def value(self, node: ast.AST | None, depth: int = 0, active: frozenset[str] = frozenset()) -> object:
        if node is None or depth > MAX_DEPTH:
            return self._unknown()
        fold = lambda n: self.value(n, depth + 1, active)  # noqa: E731
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool | type(None)):
            return node.value
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return [fold(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            out: dict = {}
            for key, val in zip(node.keys, node.values, strict=True):
                if key is None:  # {**other}
                    merged = fold(val)
                    if isinstance(merged, dict):
                        out.update(merged)
                    else:
                        self._unknown()
                    continue
                k = fold(key)
                if isinstance(k, str):
                    out[k] = fold(val)
                else:
                    self._unknown()
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = fold(node.left), fold(node.right)
            if isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            return self._unknown()
        if isinstance(node, ast.Name):
            return self._name(node.id, depth, active)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "dict" and len(node.args) <= 1:
                out = fold(node.args[0]) if node.args else {}
                if not isinstance(out, dict):
                    return self._unknown()
                out = dict(out)
                for kw in node.keywords:
                    if kw.arg is None:
                        more = fold(kw.value)
                        if isinstance(more, dict):
                            out.update(more)
                        else:
                            self._unknown()
                    else:
                        out[kw.arg] = fold(kw.value)
                return out
            if node.func.id in _PASS_THROUGH and len(node.args) == 1 and not node.keywords:
                inner = fold(node.args[0])
                return inner if isinstance(inner, list) else self._unknown()
        return self._unknown()

    def _name(self, name: str, depth: int, active: frozenset[str]) -> object:
        if name in active or name not in self.names:
            return self._unknown()
        active = active | {name}
        current: object = UNKNOWN
        for stmt in self.names[name]:
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                current = self._assign(name, targets, stmt.value, current, depth, active)
            elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
                more = self.value(stmt.value, depth + 1, active)
                current = current + more if isinstance(current, list) and isinstance(more, list) else UNKNOWN
            else:
                current = UNKNOWN  # a loop, an if, a with: not followed
        return current if current is not UNKNOWN else self._unknown()

    def _assign(
        self, name: str, targets: list[ast.expr], value: ast.expr | None, current: object, depth: int,
        active: frozenset[str],
    ) -> object:
        """``name``'s value after ``targets = value`` (``NAME = ...`` or ``NAME["key"] = ...``)."""
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name:
                return self.value(value, depth + 1, active)
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id == name:
                key = self.value(target.slice, depth + 1, active)
                if isinstance(current, dict) and isinstance(key, str):
                    return {**current, key: self.value(value, depth + 1, active)}
        return UNKNOWN  # unpacking, attribute chains: not followed

    def _unknown(self) -> object:
        self.unknown_seen = True
        return UNKNOWN


def _assigned(stmt: ast.stmt) -> list[str]:
    """Module-level names ``stmt`` may bind or change (conditional ones too, so they read as unknown)."""
    if isinstance(stmt, ast.Assign):
        out = []
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                out.append(target.id)
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                out.append(target.value.id)
            else:
                out.extend(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        return out
    if isinstance(stmt, ast.AnnAssign | ast.AugAssign) and isinstance(stmt.target, ast.Name):
        return [stmt.target.id]
    if isinstance(stmt, ast.If | ast.For | ast.While | ast.With | ast.Try):
        return [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return []


def strings(value: object) -> list[str]:
    """The known strings of a folded list (a single string counts as a one-line-per-item block)."""
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


@dataclass
class SetupPy:
    """What a setup.py's ``setup(...)`` call declares, as far as it can be known without running it."""

    extras: dict[str, list[str]] = field(default_factory=dict)
    tests_require: list[str] = field(default_factory=list)
    install_requires: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse(text: str, path: str, notes: list[str]) -> ast.Module | None:
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError) as exc:
        notes.append(f"{path}: not parsed ({type(exc).__name__}); its declarations are not read")
        return None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def read_setup_py(text: str) -> SetupPy:
    """Extras, tests_require and install_requires of the first ``setup(...)`` call in ``text``."""
    out = SetupPy()
    tree = _parse(text, "setup.py", out.notes)
    if tree is None:
        return out
    folder = _Folder(tree)
    call = next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and _callee(n) == "setup"), None)
    if call is None:
        return out
    kwargs: dict[str, object] = {}
    for kw in call.keywords:
        if kw.arg is None:  # setup(**meta)
            spread = folder.value(kw.value)
            if isinstance(spread, dict):
                kwargs.update(spread)
        else:
            kwargs[kw.arg] = folder.value(kw.value)
    extras = kwargs.get("extras_require")
    if isinstance(extras, dict):
        out.extras = {k: strings(v) for k, v in extras.items() if isinstance(k, str)}
    elif "extras_require" in kwargs:
        out.notes.append("setup.py: extras_require is computed at run time; its extras are not known")
    out.tests_require = strings(kwargs.get("tests_require"))
    out.install_requires = strings(kwargs.get("install_requires"))
    if folder.unknown_seen:
        out.notes.append("setup.py: some values are computed at run time and were not read")
    return out


def _session_names(func: ast.FunctionDef) -> list[str]:
    """A nox session's names: the function name and any ``name=`` given to the decorator."""
    names = [func.name]
    for deco in func.decorator_list:
        if isinstance(deco, ast.Call):
            for kw in deco.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    names.append(kw.value.value)
    return names


def read_noxfile(text: str, wanted: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """(``session.install`` string arguments of the sessions whose name ``wanted`` accepts, notes)."""
    notes: list[str] = []
    tree = _parse(text, "noxfile.py", notes)
    if tree is None:
        return [], notes
    folder = _Folder(tree)
    args: list[str] = []
    for func in tree.body:
        if not isinstance(func, ast.FunctionDef) or not any(wanted(n) for n in _session_names(func)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and _callee(node) == "install":
                for arg in node.args:
                    target = arg.value if isinstance(arg, ast.Starred) else arg
                    value = folder.value(target)
                    args.extend(strings(value) if isinstance(value, list | str) else [])
    return args, notes
