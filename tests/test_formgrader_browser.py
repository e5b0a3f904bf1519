"""The instructor's Formgrader in a real browser: a hostile submission's script does not run.

A submission of 01_probability carries script three ways: a markdown cell with
``<img src=x onerror=...>``, a ``display(HTML("<script>..."))`` and a
``display(Javascript(...))`` output, and image metadata that nbconvert writes
unquoted into an attribute. It is graded with the grading command's API, then
opened in the Formgrader of an instructor's JupyterLab (Debian's Chromium via
Playwright). Each payload would set ``window.__pwned`` and write ``pwned-*.txt``
into the course folder through ``/api/contents``; neither may happen, while the
page itself (its own scripts, the student's answers) works. Screenshots go to
tests/artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import grade
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import COURSE_ROOT
from course_utils.grading.sandbox import SandboxUnavailable, check_bwrap

A = "01_probability"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", COURSE_ROOT / "tests" / "artifacts")) / "browser"
TOKEN = "course-formgrader-test"
MARK = "STUDENT-ANSWER-SHOWN-7f3a"

try:
    check_bwrap()
    _PROBLEM = None
except SandboxUnavailable as exc:
    _PROBLEM = str(exc)

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                       "(apt-get install chromium); .ci/run installs it"),
    pytest.mark.skipif(_PROBLEM is not None, reason=f"the sandbox cannot run here: {_PROBLEM}"),
]


def _payload(where: str) -> str:
    """JavaScript that marks the page and tries to write a file into the course folder."""
    return (f"window.__pwned = (window.__pwned || []).concat(['{where}']);"
            f"fetch('/api/contents/pwned-{where}.txt?token={TOKEN}', {{method: 'PUT', "
            "headers: {'Content-Type': 'application/json'}, "
            "body: JSON.stringify({type: 'file', format: 'text', content: 'pwned'})});")


def _hostile(solved) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(solved)
    at = syn.cell_index(nb, "first_letter_distribution") + 1
    nb.cells[at:at] = [
        nbformat.v4.new_markdown_cell(
            f"My notes {MARK} <img src=x onerror=\"{_payload('markdown')}\">"),
        nbformat.v4.new_code_cell(
            "from IPython.display import HTML, Javascript, display, publish_display_data\n"
            f"display(HTML({('<script>' + _payload('html') + '</script><b>bold</b>')!r}))\n"
            f"display(Javascript({_payload('javascript')!r}))\n"
            "publish_display_data({'image/png': 'AAAA', 'text/plain': 'img'}, metadata={'image/png': "
            f"{{'width': {('1 onerror=' + _payload('width').replace(' ', ''))!r}}}}})\n"),
    ]
    return nb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def formgrader(names_file, tmp_path_factory):
    """A graded hostile submission and an instructor's JupyterLab on its course; yields (url, course, id)."""
    work = tmp_path_factory.mktemp("formgrader")
    course = syn.make_course(work / "course", [A])
    release, source, name = syn.versions(course, A)
    syn.submit(course, "mallory", A, _hostile(syn.solved(release, source)), f"{name}.ipynb")
    summary = grade.grade(course, jobs=1, progress=False, time_limit=300, skip_canary=True)
    assert [(r.student_id, r.status) for r in summary.rows] == [("mallory", "graded")], summary.rows
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "bigram-course") as gb:
        submission_id = gb.find_submission_notebook(name, A, "mallory").id
    port = _free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.root_dir={course}", f"--IdentityProvider.token={TOKEN}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(work / "jupyter-config")}
    log = (work / "lab.log").open("w")
    server = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(work / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, course, submission_id
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def test_the_payloads_run_in_an_unsanitised_page(formgrader, browser):
    """The control: the same autograded notebook through plain nbconvert runs the payloads."""
    from nbconvert import HTMLExporter

    url, course, submission_id = formgrader
    path = next((course / "autograded" / "mallory" / A).glob("*.ipynb"))
    html, _ = HTMLExporter(template_name="classic").from_filename(str(path))
    page = browser.new_page()
    page.set_content(html, wait_until="load")
    page.wait_for_timeout(2000)
    ran = set(page.evaluate("() => window.__pwned || []"))
    assert {"markdown", "html", "width"} <= ran, ran  # (its JavaScript output needs the jQuery of a
    # notebook page, which the Formgrader has)


def test_a_hostile_submission_runs_no_script_in_the_formgrader(formgrader, browser):
    url, course, submission_id = formgrader
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{url}/formgrader/submissions/{submission_id}/?token={TOKEN}")
    try:
        page.get_by_text(MARK).first.wait_for(timeout=60_000)  # the student's markdown is shown
        # the page runs script (its own jQuery), so a payload that survived would run too
        page.wait_for_function("() => window.jQuery !== undefined", timeout=60_000)
        page.wait_for_timeout(3000)  # image errors and fetches have had their time
    finally:
        page.screenshot(path=str(ARTIFACTS / "formgrader-hostile.png"), full_page=True)
    assert page.evaluate("() => window.__pwned === undefined"), page.evaluate("() => window.__pwned")
    assert dialogs == []
    assert sorted(p.name for p in course.glob("pwned-*")) == []
    assert "<b>bold</b>" in page.content()  # harmless HTML output kept
    handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(
        el => [...el.attributes].filter(a => a.name.startsWith('on') && a.value.includes('__pwned'))
                                .map(a => el.tagName + ' ' + a.name))""")
    assert handlers == []
    scripts = page.evaluate("() => [...document.scripts].filter(s => s.text.includes('__pwned')).length")
    assert scripts == 0


def test_the_feedback_page_carries_no_script_either(formgrader):
    from course_utils.grading import feedback

    url, course, submission_id = formgrader
    done = feedback.write_pages(course, [A], jobs=1, progress=False, include_unreviewed=True)
    assert done["written"] == [f"mallory/{A}"], done
    page = next((course / "feedback" / "mallory" / A).glob("*.html")).read_text()
    assert MARK in page and "<b>bold</b>" in page
    body = page.split("<body", 1)[1]
    # the payloads may appear only as escaped text (the code cell's source), never as markup
    handler = re.search(r"<[^>]*\son\w+\s*=[^>]*>", body)
    assert handler is None, handler.group(0)[:300]
    assert not re.search(r"<script[^>]*>[^<]*__pwned", body)


# ---- the Formgrader as a step of the term (issue 34, point 2 and 3) ----

def _api(url: str, path: str, method: str = "GET") -> dict:
    """A Formgrader API call as its buttons make it."""
    import json

    request = urllib.request.Request(f"{url}{path}", method=method, data=b"" if method == "POST" else None,
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read())


def test_the_formgrader_shows_the_rosters_names_and_no_exchange_warning(formgrader, browser, tmp_path):
    from course_utils.grading.lms import roster

    url, course, submission_id = formgrader
    (tmp_path / "roster.csv").write_text("student_id,name,email,lms_id\nmallory,Mallory Smith,m@example.org,4242\n"
                                         "nobody,No Body,n@example.org,4343\n")
    done = roster.to_gradebook(roster.read(tmp_path / "roster.csv"), f"sqlite:///{course / 'gradebook.db'}",
                               "bigram-course", course / "submitted")
    assert done == ["mallory"]  # a roster student who handed nothing in is not added
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{url}/formgrader/manage_students?token={TOKEN}")
        page.get_by_text("Smith, Mallory").first.wait_for(timeout=60_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "formgrader-students.png"), full_page=True)
    assert "None, None" not in page.content()
    try:
        page.goto(f"{url}/formgrader/manage_assignments?token={TOKEN}")
        page.get_by_text(A).first.wait_for(timeout=60_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "formgrader-assignments.png"), full_page=True)
    assert page.locator("#warning-exchange").count() == 0
    log = (course.parent / "lab.log").read_text()
    assert "Unwritable directory" not in log, log[-2000:]


def test_the_formgraders_autograde_logs_at_info_without_payloads(formgrader):
    url, course, submission_id = formgrader
    result = _api(url, f"/formgrader/api/submission/{A}/mallory/autograde", "POST")
    log = result.get("log", "") + result.get("error", "")
    (course.parent / "formgrader-autograde.log").write_text(log)
    assert result["success"], log[-3000:]
    assert "[DEBUG]" not in log, log[:3000]
    assert not re.search(r"[A-Za-z0-9+/=]{200,}", log), "a base64 payload in the log"
    assert "[INFO]" in log  # the log still says what happened


def test_the_formgraders_generate_feedback_holds_back_a_page_to_review(formgrader):
    from nbgrader.api import Gradebook

    url, course, submission_id = formgrader
    db = f"sqlite:///{course / 'gradebook.db'}"
    pages = course / "feedback" / "mallory" / A

    def needs_review(on: bool) -> None:
        with Gradebook(db, "bigram-course") as gb:
            sub = gb.find_submission_notebook_by_id(submission_id)
            grade = next(g for g in sub.grades if g.cell.cell_type == "code")
            grade.needs_manual_grade = on
            gb.db.commit()

    needs_review(True)
    try:
        held = _api(url, f"/formgrader/api/assignment/{A}/mallory/generate_feedback", "POST")
        assert not held["success"], held
        assert "feedback held back for mallory/" in held.get("log", "") + held.get("error", ""), held
        assert not list(pages.glob("*.html"))
    finally:
        needs_review(False)
    released = _api(url, f"/formgrader/api/assignment/{A}/mallory/generate_feedback", "POST")
    assert released["success"], released
    assert "not recognized" not in released.get("log", ""), released["log"]
    page = next(pages.glob("*.html")).read_text()
    assert 'id="summary"' in page and "<th>Exercise</th>" in page
