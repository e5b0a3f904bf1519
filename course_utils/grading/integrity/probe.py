"""Runs inside a submission's kernel at autograde: what the functions the tests rely on are now.

This file is not imported by the grader: its source is sent to the kernel
(:mod:`.integrity`) before the first cell, to record the originals, and after
every test cell, to compare. It is sent afresh each time, so nothing a notebook
defines can stand in for it, and it reports object identities rather than
judging them, so the comparison happens in the grader, out of the notebook's
reach. It keeps the originals alive (``sys._course_integrity_keep``) so that no
replacement can ever get an original's ``id``.

``run(user_ns, spec)`` returns a JSON text:

- ``digest``: a hash of every watched entry (``module.name``) and the id of its value;
- ``ids``: the entries themselves, when ``spec["full"]`` (the baseline, or to
  name what changed after the digest moved);
- ``names``: the notebook names a test uses that no longer are what the course
  imported under them (``check_close``, ``np``), or that shadow a builtin;
- ``errors``: watched modules that could not be imported;
- ``wrapped`` (with ``full``): entries whose new value is the library's own wrapper
  of the original (``__wrapped__`` is the original, and its code is in the library's
  folder), as torch does to ``torch.manual_seed`` when ``torch._dynamo`` loads.
"""

import hashlib
import importlib
import json
import os
import sys

_SKIP_BUILTINS = {"exit", "quit", "get_ipython", "display", "copyright", "credits", "license", "help",
                  "input", "raw_input"}
"""Builtins IPython and ipykernel install afresh around each execution: their identity changes."""
_VOLATILE = {"torch.Storage"}
"""Entries a library itself rebinds: torch.set_default_dtype() points torch.Storage at the
storage class of the new default type."""


def _target(path):
    """The module or class at ``path`` ("numpy.testing", "torch.Tensor"), or None."""
    if path in sys.modules:
        return sys.modules[path]
    head, _, attr = path.rpartition(".")
    parent = sys.modules.get(head)
    return None if parent is None else vars(parent).get(attr)


def _entries(path, target):
    """(name, value) of a watched module or class: what a notebook could replace in it."""
    items = sorted(vars(target).items())
    if isinstance(target, type):
        return items  # a class: every attribute, dunders included (e.g. __eq__)
    if path == "builtins":
        return [(k, v) for k, v in items if not k.startswith("_") and k not in _SKIP_BUILTINS]
    if path.startswith("course_utils."):
        return [(k, v) for k, v in items if not (k.startswith("__") and k.endswith("__"))]
    return [(k, v) for k, v in items if not k.startswith("_")]


def _resolve(path):
    """The object a dotted path names, walking from the longest imported module."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj = module
        for attr in parts[cut:]:
            obj = vars(obj).get(attr) if hasattr(obj, "__dict__") else getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


def run(user_ns, spec):
    errors = []
    if spec.get("baseline"):
        for path in spec["modules"]:
            try:
                importlib.import_module(path.rpartition(".")[0] if path == "torch.Tensor" else path)
            except Exception as exc:  # noqa: BLE001  (reported, never fatal)
                errors.append(f"{path}: {type(exc).__name__}")
    values = {}
    for path in spec["modules"]:
        target = _target(path)
        if target is None:
            continue
        values[path] = target
        for name, value in _entries(path, target):
            if f"{path}.{name}" not in _VOLATILE:
                values[f"{path}.{name}"] = value
    if "__builtins__" in user_ns:
        values["<notebook>.__builtins__"] = user_ns["__builtins__"]
    ids = {path: id(value) for path, value in values.items()}
    if spec.get("baseline"):
        sys._course_integrity_keep = values
    names = []
    for name, path in sorted(spec.get("names", {}).items()):
        if name in user_ns and user_ns[name] is not _resolve(path):
            names.append(f"`{name}` in the notebook is no longer {path}")
    builtins_module = sys.modules["builtins"]
    for name in sorted(spec.get("builtin_names", [])):
        if name in user_ns and user_ns[name] is not vars(builtins_module).get(name):
            names.append(f"`{name}` in the notebook hides the builtin {name}()")
    text = "\n".join(f"{k}={v}" for k, v in sorted(ids.items()))
    result = {"digest": hashlib.sha256(text.encode()).hexdigest(), "names": names, "errors": errors}
    if spec.get("full"):
        result["ids"] = ids
        originals = getattr(sys, "_course_integrity_keep", {})
        result["wrapped"] = sorted(p for p, v in values.items()
                                   if p in originals and v is not originals[p] and _library_wrapper(p, v, originals[p]))
    return json.dumps(result)


def _library_wrapper(path, value, original):
    if getattr(value, "__wrapped__", None) is not original:
        return False
    root = sys.modules.get(path.split(".")[0])
    folder = os.path.dirname(getattr(root, "__file__", None) or "") + os.sep
    filename = getattr(getattr(value, "__code__", None), "co_filename", "")
    return folder != os.sep and filename.startswith(folder)
