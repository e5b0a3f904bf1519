"""Every place where the course leans on nbgrader's or nbclient's code, listed once.

The course uses their public hooks where there are some: nbclient's ``on_cell_execute`` and
``on_cell_executed`` callbacks, ``output()``, ``process_message()`` and ``handle_comm_msg()``;
nbgrader's converter methods and a ``Validator``'s ``preprocessors``. Two things have no public
way, and their code lives here:

- :func:`forget_exit_cleanup`: nbclient leaves a kernel that did not start registered for a
  clean-up at exit, which then fails (its manager is gone); only its private ``_cleanup_kernel``
  names that registration.
- :func:`validate_reply`: nbgrader's Validate handler builds its ``Validator`` inside
  ``validate_notebook``, with no setting to choose another class, so its few lines (the check that
  the path stays inside the server's folder, the reply) are repeated around the course's.

:data:`RELIANCES` names each upstream method, hook or body the course's code is written against,
with the parameters it was written for and, where the course repeats or depends on what the body
does, the digest of that body. ``tests/test_upstream_overrides.py`` compares them with the
installed nbgrader and nbclient, and fails on a course class that overrides one of their private
methods without an entry here: an upgrade that changes one of them fails that test instead of
silently changing grading or Validate. A private method overridden (``override=True``) is the
last resort: none is today.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import inspect
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reliance:
    """One upstream object the course's code is written against."""

    target: str
    """Its dotted path (module, class, attribute)."""
    used_by: str
    """Where the course relies on it, and how."""
    parameters: str | None = None
    """Its parameters as :func:`parameters` writes them, for a method the course overrides or calls."""
    digest: str | None = None
    """sha256 of its source (:func:`source_digest`), for a body the course repeats or depends on."""
    contains: tuple[str, ...] = ()
    """Lines its source must still contain (how it calls a hook the course implements)."""
    override: bool = False
    """A private method a course class overrides (none does today: each had a public way)."""


def resolve(target: str) -> Any:
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = inspect.getattr_static(obj, name) if inspect.isclass(obj) else getattr(obj, name)
        return obj
    raise ImportError(f"nothing importable in {target}")


def _function(obj: Any) -> Any:
    """The plain function behind a method, static method, or nbclient's ``run_sync`` wrapper."""
    obj = getattr(obj, "__func__", obj)
    return inspect.unwrap(obj)


def parameters(obj: Any) -> str:
    """``(self, outs, msg, *, flag, **kwargs)``: the names and kinds that decide whether a call or an
    override still fits (annotations and defaults left out)."""
    out, star = [], False
    for p in inspect.signature(_function(obj)).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            out.append(f"*{p.name}")
            star = True
        elif p.kind is p.VAR_KEYWORD:
            out.append(f"**{p.name}")
        elif p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
            out.append(p.name)
        else:
            out.append(p.name)
    return f"({', '.join(out)})"


def source_digest(obj: Any) -> str:
    """sha256 of an object's source text, as installed."""
    return hashlib.sha256(inspect.getsource(_function(obj)).encode()).hexdigest()


PACKAGES = ("nbgrader", "nbclient", "nbconvert", "jupyter_client", "jupyter_server")
"""The upstream packages whose private methods no course class may override unlisted."""

NBCLIENT = "nbclient.client.NotebookClient"
NBGRADER_EXECUTE = "nbgrader.preprocessors.execute.Execute"
AUTOGRADE = "nbgrader.converters.autograde.Autograde"
VALIDATOR = "nbgrader.validator.Validator"
VALIDATE_HANDLER = "nbgrader.server_extensions.validate_assignment.handlers.ValidateAssignmentHandler"

RELIANCES: tuple[Reliance, ...] = (
    # nbclient, under course_utils.grading.execute.TrackedExecute (grading's Execute)
    Reliance(f"{NBCLIENT}.async_execute_cell",
             "TrackedExecute.on_cell_execute/on_cell_executed: nbclient's per-cell hooks, called with these "
             "keywords; the judge (judge/cell.py) reads the executed cell back from client.nb.cells[index]",
             contains=("await run_hook(self.on_cell_execute, cell=cell, cell_index=cell_index)",
                       "self.on_cell_executed, cell=cell, cell_index=cell_index, execute_reply=exec_reply",
                       'self.nb["cells"][cell_index] = cell')),
    Reliance(f"{NBCLIENT}.output", "TrackedExecute.output: every output passes the output budget",
             parameters="(self, outs, msg, display_id, cell_index)"),
    Reliance(f"{NBCLIENT}.process_message",
             "TrackedExecute.process_message: display updates pass the notebook's output budget before "
             "nbclient rewrites earlier outputs with them",
             parameters="(self, msg, cell, cell_index)",
             contains=('if display_id and msg_type in {"execute_result", "display_data", '
                       '"update_display_data"}:',)),
    Reliance(f"{NBCLIENT}.handle_comm_msg", "TrackedExecute.handle_comm_msg: widget state counts as output",
             parameters="(self, outs, msg, cell_index)"),
    Reliance(f"{NBCLIENT}.async_start_new_kernel_client",
             "TrackedExecute.async_start_new_kernel_client: a kernel that did not start is the grader's fault",
             parameters="(self)"),
    Reliance(f"{NBCLIENT}._cleanup_kernel",
             "forget_exit_cleanup (private: the exit-time clean-up nbclient registers and leaves behind "
             "when the kernel does not start)"),
    Reliance(f"{NBCLIENT}.async_setup_kernel",
             "forget_exit_cleanup: where nbclient registers that clean-up, and when it takes it back",
             contains=("atexit.register(self._cleanup_kernel)", "atexit.unregister(self._cleanup_kernel)")),
    # nbgrader's Execute, under course_utils.kernel.CourseExecute and TrackedExecute
    Reliance(f"{NBGRADER_EXECUTE}.__init__",
             "CourseExecute.__init__: the kernel manager class goes in as a keyword, as nbgrader passes its own",
             parameters="(self, *args, **kwargs)",
             contains=("kwargs.setdefault('kernel_manager_class', AsyncKernelManager)",)),
    Reliance(f"{NBGRADER_EXECUTE}.on_cell_executed",
             "TrackedExecute.on_cell_executed calls it first (nbgrader records an error the reply carries)",
             parameters="(self, **kwargs)"),
    Reliance("nbconvert.preprocessors.execute.ExecutePreprocessor.preprocess",
             "TrackedExecute.preprocess", parameters="(self, nb, resources, km)"),
    Reliance("nbconvert.preprocessors.execute.ExecutePreprocessor.preprocess_cell",
             "TrackedExecute.preprocess_cell, and the judge's execute= (judge/cell.py)",
             parameters="(self, cell, resources, index)"),
    # nbgrader's Autograde, under course_utils.grading.execute.CourseAutograde
    Reliance("nbgrader.converters.base.BaseConverter.init_single_notebook_resources",
             "CourseAutograde: hands TrackedExecute the student version", parameters="(self, notebook_filename)"),
    Reliance("nbgrader.converters.base.BaseConverter.write_single_notebook",
             "CourseAutograde: keeps what TrackedExecute found", parameters="(self, output, resources)"),
    Reliance(f"{AUTOGRADE}.convert_single_notebook",
             "CourseAutograde: keeps the exception nbgrader only logs", parameters="(self, notebook_filename)"),
    # nbgrader's Validator and Validate handler, under course_utils.validation
    Reliance(f"{VALIDATOR}.validate", "CourseValidator.validate", parameters="(self, filename)"),
    Reliance(f"{VALIDATOR}._preprocess",
             "CourseValidator.preprocessors: its first and last steps hand the validator (their parent) the "
             "notebook as read and as run",
             contains=("pp = preprocessor(parent=self)",)),
    Reliance(f"{VALIDATE_HANDLER}.validate_notebook",
             "validate_reply repeats its path check and reply (with the course's validator)",
             parameters="(self, path)",
             digest="f83225efc4d35b5cccde8e0c3f7dfa12f849d10a0eae199edf798746ec0e8764"),
    Reliance(f"{VALIDATE_HANDLER}.load_config", "validate_reply: the configuration nbgrader's Validate reads",
             parameters="(self)"),
)


def changes(reliance: Reliance) -> list[str]:
    """How the installed nbgrader or nbclient differs from what ``reliance`` was written against,
    one line each naming the course's code to read again (empty when nothing changed)."""
    try:
        obj = resolve(reliance.target)
    except (ImportError, AttributeError):
        return [f"{reliance.target} no longer exists: {reliance.used_by}"]
    found = []
    if reliance.parameters is not None and (now := parameters(obj)) != reliance.parameters:
        found.append(f"{reliance.target} now takes {now}, not {reliance.parameters}: {reliance.used_by}")
    if reliance.digest is not None and source_digest(obj) != reliance.digest:
        found.append(f"{reliance.target} has a new body (the course repeats or relies on it; "
                     f"compare, then record its digest {source_digest(obj)}): {reliance.used_by}")
    if reliance.contains:
        source = inspect.getsource(_function(obj))
        missing = [line for line in reliance.contains if line not in source]
        if missing:
            found.append(f"{reliance.target} no longer has {missing}: {reliance.used_by}")
    return found


def forget_exit_cleanup(client: Any) -> None:
    """Take back the exit-time clean-up nbclient registered for ``client``'s kernel, which nbclient
    has already cleaned up after a failed start (at exit it would fail, its manager gone)."""
    atexit.unregister(client._cleanup_kernel)


def validate_reply(handler: Any, path: str, validator: Callable[..., Any]) -> dict[str, Any]:
    """nbgrader's ``ValidateAssignmentHandler.validate_notebook`` with ``validator(config=...)`` in
    place of its ``Validator``: the path must stay inside the server's folder (else 403), any failure
    is reported as nbgrader reports it."""
    from tornado import web

    root = Path(handler.root_dir).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise web.HTTPError(403, "Access denied: path outside allowed directory")
    try:
        result = validator(config=handler.load_config()).validate(str(target))
    except Exception:  # noqa: BLE001  (nbgrader's handler reports every failure the same way)
        handler.log.error(traceback.format_exc())
        return {"success": False, "value": traceback.format_exc()}
    return {"success": True, "value": result}
