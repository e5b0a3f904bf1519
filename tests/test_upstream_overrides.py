"""Where the course leans on nbgrader's and nbclient's code is listed once (course_utils/upstream.py),
and what it leans on is still as it was written against: an upgrade that changes one of those
methods fails here instead of silently changing grading or Validate."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import course_utils
from course_utils import upstream


def _course_classes() -> list[type]:
    classes = {}
    for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                classes[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(classes.values())


@pytest.mark.parametrize("reliance", upstream.RELIANCES, ids=lambda r: r.target.split(".", 1)[0] + ":"
                         + ".".join(r.target.rsplit(".", 2)[-2:]))
def test_what_the_course_relies_on_upstream_is_as_it_was_written_against(reliance):
    assert upstream.changes(reliance) == []


def test_a_changed_upstream_method_is_reported_with_what_relies_on_it():
    output = next(r for r in upstream.RELIANCES if r.target.endswith("NotebookClient.output"))
    changed = upstream.Reliance(output.target, output.used_by, parameters="(self, outs, msg, cell_index)",
                                digest="0" * 64, contains=("a line nbclient never wrote",))
    problems = upstream.changes(changed)
    assert len(problems) == 3 and all(output.used_by in p for p in problems)
    gone = upstream.changes(upstream.Reliance("nbclient.client.NotebookClient.no_such_method", "X.y"))
    assert gone and "no longer exists" in gone[0] and "X.y" in gone[0]


def test_no_course_class_overrides_a_private_upstream_method_that_is_not_listed():
    listed = {r.target for r in upstream.RELIANCES if r.override}
    unlisted = []
    for cls in _course_classes():
        for name, value in vars(cls).items():
            if not name.startswith("_") or name.startswith("__"):
                continue
            if not isinstance(value, (staticmethod, classmethod, property)) and not inspect.isfunction(value):
                continue  # traitlets' and enum's own bookkeeping
            for base in cls.__mro__[1:]:
                if base.__module__.split(".")[0] not in upstream.PACKAGES or name not in vars(base):
                    continue
                target = f"{base.__module__}.{base.__qualname__}.{name}"
                if target not in listed:
                    unlisted.append(f"{cls.__module__}.{cls.__qualname__}.{name} overrides {target}")
                break
    assert not unlisted, ("use a public hook, or list the override in course_utils/upstream.py:\n"
                          + "\n".join(unlisted))
