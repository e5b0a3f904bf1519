"""The grading command's settings, each declared once: a trait of :class:`Grading`.

``c.Grading.<name>`` in ``nbgrader_config.py`` sets a course-wide default; the command line
overrides it. The command line is derived from the traits (:meth:`Grading.command_line`, the
``aliases`` and ``flags`` of a traitlets ``Application`` as nbgrader's commands have them):
trait ``wall_factor`` is option ``--wall-factor`` with the trait's help, a ``Bool`` a flag, and
``grade(wall_factor=...)`` the same keyword. A quantity that belongs to another class is that
class's trait, reached by an alias (:data:`FOREIGN_ALIASES`, :data:`FOREIGN_FLAGS`): the cell's time limit is
nbgrader's ``Execute.timeout``, running without the sandbox ``SandboxProvisioner.allow_unsandboxed``.

The object then travels whole: to the workers (in the pool's setup), to nbgrader
(:meth:`Grading.nbgrader_config`), and to the canary's run of the command as a written config
(:meth:`Grading.shared_with_canary`).

Adding a setting: a trait here, ``.tag(config=True)``; ``canary=True`` when it changes how a
notebook is graded (the canary's run then grades with it too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets import Bool, Float, Integer, List, Unicode
from traitlets.config import Config, Configurable

from .course import COURSE_ROOT, default_db_url, load_config

FOREIGN_ALIASES: dict[str, tuple[str, str]] = {
    "cell-timeout": (
        "Execute.timeout",
        "Time limit per cell (s): nbgrader's c.Execute.timeout, counted on the kernel's processes: "
        "their CPU seconds, or the time passing while they wait on something else than a CPU, never "
        "the time a busy machine makes them wait for one. Past it the cell is interrupted and scores 0."),
}
"""Options that set another class's trait: option -> (Class.trait, help in the course's words)."""

FOREIGN_FLAGS: dict[str, tuple[dict[str, dict[str, Any]], str]] = {
    "unsandboxed": (
        {"SandboxProvisioner": {"allow_unsandboxed": True}},
        "Grade where bubblewrap is missing (c.SandboxProvisioner.allow_unsandboxed): students' code "
        "then runs with your rights (warned loudly)."),
}
"""Flags that set another class's traits: flag -> (config, help)."""

MOVED = {"cell_timeout": "c.Execute.timeout = <seconds>",
         "unsandboxed": "c.SandboxProvisioner.allow_unsandboxed = True"}
"""Former settings of this class, now the trait of the class that has the quantity."""


class Grading(Configurable):
    """How ``make grade`` grades (``c.Grading.<name>`` in nbgrader_config.py; the options override it)."""

    jobs = Integer(0, help="Parallel workers; 0 means one per core.").tag(config=True, short="j")
    time_limit = Float(3600.0, help="Wall-clock backstop per submission (s): past it the submission "
                                    "fails, its kernels killed. Far above what its notebooks may use "
                                    "(c.SandboxProvisioner.cpu_seconds each), since a busy machine "
                                    "stretches CPU seconds into more wall clock.").tag(config=True)
    wall_factor = Float(10.0, help="Wall-clock backstop per cell, as a multiple of the cell's time "
                                   "limit (c.Execute.timeout): against a kernel stuck beyond what its "
                                   "clock sees.").tag(config=True, canary=True)
    db_url = Unicode("", help="Gradebook URL; empty means sqlite:///<course>/gradebook.db. A "
                              "PostgreSQL URL lets several machines share one.").tag(config=True)
    skip_canary = Bool(False, help="Do not grade the instructor's solutions first (experts: a fault of "
                                   "the environment is then caught only per submission).").tag(config=True)
    max_cells = Integer(500, help="A notebook with more cells than max(max_cells, max_cells_factor x "
                                  "the assignment's) is not run.").tag(config=True, canary=True)
    max_cells_factor = Integer(5, help="See max_cells.").tag(config=True, canary=True)

    # One run's choices; a course-wide value in nbgrader_config.py works too, but is rarely wanted.
    shard = Unicode("", help="i/n: grade only shard i of n of the students (the same split on every "
                             "machine); auto: the shard of this job array task.").tag(config=True)
    force = Bool(False, help="Regrade submissions already graded.").tag(config=True)
    students = List(Unicode(), help="Only this student (repeat for more), e.g. with --force to regrade "
                                    "one.").tag(config=True, option="student")
    output = Unicode("", help="The CSV to write; empty means <course>/grades.csv.").tag(config=True)
    export_only = Bool(False, help="Grade nothing; write grades.csv from the gradebook.").tag(config=True)
    progress = Bool(True, help="Show a progress bar on stderr (--no-progress: none).").tag(config=True)

    root: Path
    """The course folder the settings were read from (set by :meth:`load`)."""
    overrides: Config
    """What the command line (or the keywords) set, above nbgrader_config.py (set by :meth:`load`)."""

    @classmethod
    def command_line(cls) -> tuple[dict, dict]:
        """The traitlets ``aliases`` and ``flags`` of the grading command, derived from the traits:
        ``--<name with dashes>`` (or the trait's ``option`` tag), ``-<short>``; a ``Bool`` is a flag,
        ``--no-<name>`` when it defaults to True."""
        aliases: dict = {}
        flags: dict = {}
        for name, trait in cls.class_traits(config=True).items():
            option = trait.metadata.get("option", name.replace("_", "-"))
            if isinstance(trait, Bool):
                on = not trait.default_value
                flags[option if on else f"no-{option}"] = ({cls.__name__: {name: on}}, trait.help)
            else:
                short = trait.metadata.get("short")
                aliases[(short, option) if short else option] = f"{cls.__name__}.{name}"
        aliases.update(FOREIGN_ALIASES)
        flags.update(FOREIGN_FLAGS)
        return aliases, flags

    @classmethod
    def keywords(cls, **values: Any) -> Config:
        """The configuration the command line would give for these values: this class's settings by
        their trait's name, another class's by their option with underscores (``cell_timeout=7``
        as ``--cell-timeout 7``, ``unsandboxed=True``); None means not given."""
        targets = {option.replace("-", "_"): target for option, (target, _) in FOREIGN_ALIASES.items()}
        switches = {option.replace("-", "_"): cfg for option, (cfg, _) in FOREIGN_FLAGS.items()}
        traits = cls.class_traits(config=True)
        config = Config()
        for name, value in values.items():
            if value is None:
                continue
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if name in traits:
                config[cls.__name__][name] = value
            elif name in targets:
                section, trait = targets[name].split(".")
                config[section][trait] = value
            elif name in switches and isinstance(value, bool):
                if value:
                    config.merge(Config(switches[name]))
            else:
                raise TypeError(f"no grading setting {name!r}; the settings: "
                                f"{', '.join(sorted({*traits, *targets, *switches}))}")
        return config

    @classmethod
    def load(cls, root: Path = COURSE_ROOT, overrides: Config | None = None, **values: Any) -> Grading:
        """The course's settings (its nbgrader_config.py), ``overrides`` (the command line's
        configuration) and then ``values`` (:meth:`keywords`) above them."""
        given = Config()
        given.merge(overrides or Config())
        given.merge(cls.keywords(**values))
        config = load_config(root)
        config.merge(given)
        unknown = sorted(set(config.get(cls.__name__, {})) - set(cls.class_traits(config=True)))
        if unknown:
            raise ValueError("nbgrader_config.py: " + "; ".join(
                f"c.{cls.__name__}.{name} is now {MOVED[name]}" if name in MOVED
                else f"c.{cls.__name__}.{name} is no setting" for name in unknown)
                + f" (the settings: {', '.join(sorted(cls.class_traits(config=True)))})")
        settings = cls(config=config)
        settings.root = Path(root).resolve()
        settings.overrides = given
        return settings

    @property
    def judge(self) -> bool:
        """Test cells judged outside the student's kernel: c.TrackedExecute.judge, the switch
        nbgrader's own autograde reads too."""
        return bool(self.config.TrackedExecute.get("judge", True))

    @property
    def course_id(self) -> str:
        return self.config.CourseDirectory.get("course_id", "default_course")

    @property
    def gradebook(self) -> str:
        return self.db_url or default_db_url(self.root)

    def nbgrader_config(self, **overrides: str) -> Config:
        """nbgrader's configuration for the course, as these settings grade with it (what the
        command line set for nbgrader's or the sandbox's classes included)."""
        config = load_config(self.root, db_url=self.gradebook, **overrides)
        config.merge(self.overrides)
        return config

    def shared_with_canary(self) -> Config:
        """What the canary's run of the grading command grades with too: how a notebook runs (every
        class's settings but this one's, and this one's tagged ``canary``). Not this run's own
        choices (workers, gradebook, students, time limit per submission)."""
        shared = Config()
        for section, values in self.overrides.items():
            if section != type(self).__name__:
                shared[section] = Config(values)
        traits = self.traits(config=True, canary=True)
        for name, value in self.overrides.get(type(self).__name__, {}).items():
            if name in traits:
                shared[type(self).__name__][name] = value
        return shared
