"""Every message a person may read, found in the source: the templates `portal.web.messages` must
translate. Static, so a new `raise` or `Issue(...)` with a new sentence fails the catalogue test
until it has its Chinese.

Collected: the message argument of each `raise`d or constructed error (`CadastreError` and
`SpatialError` subclasses, `HTTPException`, `error_response`) and of each `Issue(...)`, as a
template (`f"unit {n} ..."` becomes `unit {n} ...`); both branches of a conditional message; the
values assigned to a variable passed as a message; the sentences returned by the `*_problem`
checkers and the `_EXPLAIN` table; the archive's refusals (`FileRefused` and the worker's
`Refusal`, whose first argument is a stable reason, not a sentence); the message of each
`raise ValueError(...)` in the file readers and the archive's inspector (`QUOTED`), which their
callers quote into their own messages (elsewhere a ValueError is a caller's mistake).
Operator messages (settings, cluster, backups, the demo loader, audit anchors, the GDAL guard,
the archive store's `StoreError`,
which reaches a person only as an `ArchiveNotFound` of its own) are not shown on pages and are
left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_ONLY = {"portal/settings.py", "portal/platform/cluster.py", "portal/platform/backup.py",
                 "portal/platform/replicas.py", "portal/demo/loader.py", "portal/demo/accounts.py",
                 "portal/audit/anchors.py", "spatial/readers/_gdal.py"}
QUOTED = ("spatial/readers/", "portal/archive/")  # whose ValueErrors their callers quote to people
_ENDINGS = ("Error", "Invalid", "Refused", "NotFound", "Conflict", "Input", "Forbidden", "Limited",
            "Violation", "NotAuthenticated", "OwnApplication", "Missing")
_NOT_PEOPLE = {"ValueError", "TypeError", "RuntimeError", "KeyError", "OSError", "AssertionError",
               "SystemExit", "ClusterError", "SettingsError", "ProviderInvalidQueryError", "AttributeError",
               "NotImplementedError", "ImportError", "LookupError", "IndexError", "MigrationError", "BackupError",
               "AnchorError", "AnchorRefused", "StoreError", "UsageError", "BadParameter", "ClickException"}


def _template(node: ast.expr | None, constants: dict[str, list[ast.expr]], depth: int = 0) -> list[str]:
    if node is None or depth > 3:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name):  # a variable: every value the module assigns to that name
        return [t for value in constants.get(node.id, []) for t in _template(value, constants, depth + 1)]
    if isinstance(node, ast.JoinedStr):
        out = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                out.append(str(value.value))
            else:
                assert isinstance(value, ast.FormattedValue)
                name = ast.unparse(value.value).replace("{", "(").replace("}", ")")  # no nested braces
                out.append("{" + name + "}")
        return ["".join(out)]
    if isinstance(node, ast.IfExp):
        return _template(node.body, constants, depth) + _template(node.orelse, constants, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _template(node.left, constants, depth) for b in _template(node.right, constants, depth)]
    return []


def _message_arg(call: ast.Call, name: str) -> ast.expr | None:
    keyword = next((k.value for k in call.keywords if k.arg == "message"), None)
    position = {"Issue": 2, "RuleViolation": 1, "HTTPException": 1, "error_response": 3, "FileRefused": 1,
                "Refusal": 1}.get(name, 0)
    if name == "HTTPException":
        keyword = next((k.value for k in call.keywords if k.arg == "detail"), None)
    message = call.args[position] if len(call.args) > position else keyword
    if isinstance(message, ast.Dict):  # HTTPException(429, {"code": ..., "message": ...})
        return next((v for k, v in zip(message.keys, message.values, strict=True)
                     if isinstance(k, ast.Constant) and k.value == "message"), None)
    return message


def templates() -> Iterator[tuple[str, str]]:
    """(where, template) for each message in portal/ and spatial/."""
    for folder in ("portal", "spatial"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in OPERATOR_ONLY or "/cli/" in relative:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants: dict[str, list[ast.expr]] = {}
            for n in ast.walk(tree):
                if isinstance(n, ast.Assign):
                    for t in n.targets:
                        if isinstance(t, ast.Name):
                            constants.setdefault(t.id, []).append(n.value)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and relative.startswith(QUOTED)
                        and ast.unparse(node.exc.func) == "ValueError" and node.exc.args):
                    # A reader's or inspector's ValueError ends inside a person's message
                    # ("... cannot be read: {exc}"), so its sentence needs Chinese too.
                    for text in _template(node.exc.args[0], constants):
                        yield f"{relative}:{node.lineno}", text
                elif isinstance(node, ast.Call):
                    name = ast.unparse(node.func).split(".")[-1]
                    if name in _NOT_PEOPLE or not (name in ("Issue", "HTTPException", "error_response", "Refusal")
                                                   or name.endswith(_ENDINGS)):
                        continue
                    for text in _template(_message_arg(node, name), constants):
                        yield f"{relative}:{node.lineno}", text
                elif isinstance(node, ast.FunctionDef) and node.name.endswith("_problem"):
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.Return):
                            for text in _template(inner.value, constants):
                                yield f"{relative}:{inner.lineno}", text
                elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("_EXPLAIN", "problem")
                                                          for t in node.targets):
                    values = node.value.values if isinstance(node.value, ast.Dict) else [node.value]
                    for value in values:
                        for text in _template(value, constants):
                            yield f"{relative}:{node.lineno}", text
