"""The grading commands' settings, in one typed object.

``c.Grading.<name>`` in ``nbgrader_config.py`` sets a default for the course; the command line
(``make grade``'s options) overrides it; the object then travels whole to whatever needs it
(the workers, the canary, the nbgrader configuration each submission is graded with).
"""

from __future__ import annotations

from pathlib import Path

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Config, Configurable

from .course import COURSE_ROOT, default_db_url, load_config


class Grading(Configurable):
    """How ``make grade`` grades (``c.Grading.<name>`` in nbgrader_config.py; the options override it)."""

    jobs = Integer(0, help="Parallel workers; 0 means one per core.").tag(config=True)
    time_limit = Float(3600.0, help="Wall-clock backstop per submission (s): past it the submission "
                                    "fails, its kernels killed. Far above what its notebooks may use "
                                    "(c.SandboxProvisioner.cpu_seconds each), since a busy machine "
                                    "stretches CPU seconds into more wall clock.").tag(config=True)
    cell_timeout = Integer(0, help="Time limit per cell (s; 0 means nbgrader's c.Execute.timeout), counted "
                                   "on the kernel's processes: their CPU seconds, or the time passing "
                                   "while they wait on something else than a CPU, never the time a busy "
                                   "machine makes them wait for one. Past it the cell is interrupted "
                                   "and scores 0.").tag(config=True)
    wall_factor = Float(10.0, help="Wall-clock backstop per cell, as a multiple of cell_timeout: against "
                                   "a kernel stuck beyond what its clock sees.").tag(config=True)
    db_url = Unicode("", help="Gradebook URL; empty means sqlite:///<course>/gradebook.db. A "
                              "PostgreSQL URL lets several machines share one.").tag(config=True)
    unsandboxed = Bool(False, help="Grade where bubblewrap is missing: students' code then runs "
                                   "with the grader's rights (warned loudly).").tag(config=True)
    skip_canary = Bool(False, help="Do not grade the instructor's solutions first.").tag(config=True)
    max_cells = Integer(500, help="A notebook with more cells than max(max_cells, max_cells_factor x "
                                  "the assignment's) is not run.").tag(config=True)
    max_cells_factor = Integer(5).tag(config=True)

    root: Path
    """The course folder the settings were read from (set by :meth:`load`)."""

    @classmethod
    def load(cls, root: Path = COURSE_ROOT, **overrides) -> Grading:
        """The course's settings, with each override that is not None applied."""
        config = load_config(root)
        settings = cls(config=config)
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)
        settings.root = Path(root).resolve()
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
        """nbgrader's configuration for the course, as these settings grade with it."""
        config = load_config(self.root, db_url=self.gradebook, **overrides)
        if self.cell_timeout:
            config.Execute.timeout = self.cell_timeout
        if self.unsandboxed:
            config.SandboxProvisioner.allow_unsandboxed = True
        return config

    def canary_options(self) -> list[str]:
        """The options the canary's run of the grading command shares with this one: how a cell
        runs. (Not the time limit per submission: the canary grades every assignment in one.)"""
        args = []
        if self.cell_timeout:
            args += ["--cell-timeout", str(self.cell_timeout)]
        if self.unsandboxed:
            args.append("--unsandboxed")
        return args
