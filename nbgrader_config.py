"""nbgrader settings for the course (read by every nbgrader command run from this folder)."""

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

# solutions/<assignment>/<notebook>.ipynb is the instructor's source;
# notebooks/<assignment>/<notebook>.ipynb is the student version generated from it.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.course_id = "bigram-course"

# The lecture's marker lines are the solution delimiters. nbgrader drops the
# delimiter lines, so the stub puts both markers back around a line that fails
# loudly when the exercise is run unfilled. (nbgrader spells it "delimeter".)
c.ClearSolutions.begin_solution_delimeter = "*****START OF YOUR CODE"
c.ClearSolutions.end_solution_delimeter = "*****END OF YOUR CODE"
c.ClearSolutions.code_stub = {
    "python": (
        "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****\n"
        'raise NotImplementedError("Exercise not done yet: replace this line with your code '
        '(see the TODO above).")\n'
        "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
    )
}
c.ClearSolutions.text_stub = "_Write your answer here._"

# Per-cell time limit when grading or validating. The slowest solution cell
# (the 100 full-batch steps of notebook 06) takes a few seconds; 60 s leaves a
# slower but correct answer plenty of room while bounding an endless loop.
# Validate counts wall-clock seconds; grading counts what the kernel's processes
# use (CPU seconds), so that a busy grading machine does not change a grade.
c.Execute.timeout = 60

# nbgrader gives 0 to a test cell that wrote anything to stderr. A warning from
# numpy/torch/matplotlib or a plain tqdm progress bar must never cost a correct
# answer its points, so such stderr output is dropped before scoring.
# nbgrader applies the pattern with re.search, outside the sandbox, to text the
# student controls: it must take linear time. Each alternative matches a fixed
# number of characters (a leading \w* or \d+ would find nothing more with
# re.search, and made a megabyte of stderr cost minutes).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Warning\b|\d%\|"

# ---- instructor only: make dist leaves out everything below ----

# Pages rendered from submissions (the Formgrader, feedback) must not run a student's
# script in the instructor's browser: outputs and markdown are cleaned to an allow-list
# (course_utils/grading/safe_html.py; nbgrader's templates skip nbconvert's own
# cleaning of markdown cells).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.preprocessors = ["course_utils.grading.safe_html.SanitizeSubmission"]
c.HTMLExporter.filters = {"markdown2html": "course_utils.grading.safe_html.SafeMarkdown"}

# The grading command (make grade) runs each submission's kernel in a bubblewrap
# sandbox (course_utils/grading/sandbox/): no network, only a scratch copy of the
# submission writable, no gradebook, solutions or other students, limits per
# notebook. The TrackedExecute section is read by the grading command only, so
# nbgrader's own Validate never imports it. Needs root and `apt-get install bubblewrap`.
c.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
c.SandboxProvisioner.memory_mb = 4096  # address space per process (notebook 06 peaks at 2.0 GB)
c.SandboxProvisioner.cpu_seconds = 300  # CPU seconds per notebook, the kernel's processes together
c.SandboxProvisioner.wall_seconds = 3000  # wall-clock backstop per notebook, against a stuck kernel

# The grading command's own settings (course_utils/grading/settings.py lists them all; make grade's
# options override them for one run).
c.Grading.time_limit = 3600  # wall-clock backstop per submission (the limits that grade count CPU seconds)

# nbgrader's own autograde (`nbgrader autograde`, the Formgrader's Autograde button) runs
# notebooks the way the grading command does: in the sandbox, with every test cell judged
# outside the student's kernel (course_utils/grading/judge/), after the same preflight and
# with the same attribution of the grader's faults, which stop it before any score is saved
# (course_utils/grading/canary.py); grades.csv follows the gradebook. Each pipeline is written
# once, in course_utils/grading/pipelines.py, which make grade and make feedback run too.
from course_utils.grading.pipelines import autograde_preprocessors, feedback_preprocessors  # noqa: E402

c.Autograde.autograde_preprocessors = autograde_preprocessors(standalone=True)

# nbgrader's own feedback (`nbgrader generate_feedback`, the Formgrader's feedback buttons)
# hides the hidden tests as `make feedback` does: a failing hidden test is one line naming
# its exercise and what it checks; its source never reaches the page. Like `make feedback`, it
# holds back a submission still to review by hand (HoldUnreviewed.include_unreviewed releases it).
c.GenerateFeedback.preprocessors = feedback_preprocessors()

# Feedback pages name each test cell after its exercise in their contents: the course's
# "feedback" template (course_utils/grading/templates/feedback/) extends nbgrader's.
from course_utils.grading.templates import feedback_template_basedirs  # noqa: E402

c.HTMLExporter.extra_template_basedirs = feedback_template_basedirs()

# The Formgrader's Autograde and Generate Feedback logs at INFO, not every kernel message with
# the base64 of each image (the Formgrader reads this file when it starts and before each call).
from course_utils.grading.canary import logs_at_info  # noqa: E402

logs_at_info()

# nbgrader's exchange is unused (make dist hands out, the LMS and make collect take in), but the
# Formgrader looks for it on every page: a folder inside the course, not /usr/local/share/...
from course_utils.grading.lms.exchange import course_exchange  # noqa: E402

c.Exchange.root = course_exchange(__file__)

# The Formgrader and the grading workers write the course's SQLite gradebook at the same time:
# their connections to it wait for its lock (120 s) instead of failing after SQLite's 5 s.
from pathlib import Path  # noqa: E402

from course_utils.grading.course import default_db_url, scripts_on_path  # noqa: E402
from course_utils.grading.sqlite_wait import wait_for_locks  # noqa: E402

wait_for_locks(default_db_url(Path(__file__).resolve().parent))
# nbgrader creates a gradebook by running `alembic` from PATH: plain nbgrader commands and the
# Formgrader, started without activating the environment, must find this environment's.
scripts_on_path()
