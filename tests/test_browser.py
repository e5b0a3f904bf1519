"""JupyterLab in a real browser: a student runs a notebook, clicks Validate, and sees a computation graph.

Drives Debian's Chromium with Playwright (browser downloads are impossible here, so
Playwright launches the system Chromium). The server runs on a free localhost port
in a scratch copy of the student distribution, with the student view of JupyterLab.
Screenshots go to tests/artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

from course_utils import handout, nbtools, studentlab
from course_utils.grading.authoring.dist import NAME, build
from course_utils.grading.authoring.synthetic import solved
from course_utils.grading.course import COURSE_ROOT, source_notebooks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", COURSE_ROOT / "tests" / "artifacts")) / "browser"
TOKEN = "course-browser-test"

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                       "(apt-get install chromium); .ci/run installs it"),
]


def _solve(path: Path, assignment: str, only: set[str] | None) -> None:
    """Fill the student's copy with the instructor's answers (all, or the named exercises)."""
    (source,) = source_notebooks(assignment)
    nbformat.write(solved(nbtools.read(path), nbtools.read(source), only=only), str(path))


# The visible tests fail it (tests/fidelity/01_probability.toml: it drops the top of the support).
WRONG_TOTAL = """lo, hi = dist.support()
if hasattr(dist, "pmf"):
    total = float(np.sum(dist.pmf(np.arange(int(lo), int(hi)))))
else:
    total, _ = integrate.quad(dist.pdf, lo, hi)"""


def _answer(path: Path, grade_id: str, code: str) -> None:
    nb = nbtools.read(path)
    cell = nb.cells[nbtools.exercises(nb)[grade_id].solution_index]
    cell.source = nbtools.fill_answer(cell.source, code)
    nbformat.write(nb, str(path))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab(NamedTuple):
    url: str
    notebooks: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory, names_file):
    """A JupyterLab server on the student distribution."""
    work = tmp_path_factory.mktemp("browser")
    course = build(work).parent / NAME
    handout.add_missing(course)  # what `make notebooks` does in the student's copy
    notebooks = course / "notebooks"
    probability = notebooks / "01_probability" / "probability.ipynb"
    _solve(probability, "01_probability", {"first_letter_distribution"})
    _answer(probability, "total_probability", WRONG_TOTAL)
    _solve(next((notebooks / "04_autograd").glob("*.ipynb")), "04_autograd", None)
    config = work / "jupyter-config"
    studentlab.configure(config)
    # render every cell (no windowing), so outputs far down the notebook are in the page
    settings = work / "lab-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "PYTHONPATH": str(course)}
    env.pop("MPLBACKEND", None)  # the tests' Agg would reach the kernels: no figure would show
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.root_dir={notebooks}", f"--IdentityProvider.token={TOKEN}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
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
        yield Lab(url, notebooks)
    finally:
        server.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode is not None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def _open(browser, url: str, path: str):
    """A fresh page on the notebook at ``path``, once its kernel is up."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    # a workspace of its own, so JupyterLab does not reopen the other test's notebook
    workspace = re.sub(r"\W", "-", path)
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{path}?reset&token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=60_000)  # the kernel is up
    return page


def _run_all(page, timeout_s: float) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Done when cells have run and none is queued ([*]).
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
            return prompts.some(p => /\\[\\d+\\]/.test(p.textContent))
                && !prompts.some(p => p.textContent.includes('*'));
        }""", timeout=timeout_s * 1000)
    page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=timeout_s * 1000)


def _open_and_run_all(browser, url: str, path: str, timeout_s: float):
    page = _open(browser, url, path)
    _run_all(page, timeout_s)
    return page


def _code_cells(page) -> list[dict]:
    """Each code cell of the open notebook: its source and what its outputs hold."""
    return page.evaluate("""() => [...document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')].map(cell => ({
        source: cell.querySelector('.jp-InputArea-editor .cm-content')?.innerText ?? '',
        text: cell.querySelector('.jp-OutputArea')?.innerText ?? '',
        images: cell.querySelectorAll('.jp-OutputArea img, .jp-OutputArea svg').length,
    }))""")


def test_validate_in_the_browser(lab, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, lab.url, "01_probability/probability.ipynb")
    page.wait_for_timeout(1000)  # the front end has merged the kernel's metadata by now
    page.screenshot(path=str(ARTIFACTS / "01-opened.png"))
    assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0, "a fresh notebook opens with unsaved changes"
    _run_all(page, 120)
    assert page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").count() == 0, \
        "students should not see the instructor's Nbgrader menu"
    page.screenshot(path=str(ARTIFACTS / "01-after-run-all.png"))
    cells = _code_cells(page)
    passing = next(c for c in cells if "# Tests for first_letter_distribution" in c["source"])
    assert "\u2713 first_letter_distribution: visible tests pass" in passing["text"], passing["text"]
    failing = next(c for c in cells if "# Tests for total_probability" in c["source"])
    lines = failing["text"].strip().splitlines()
    assert "AssertionError" in failing["text"] and "total_probability(" in failing["text"], failing["text"]
    assert len(lines) <= 6 and "checks.py" not in failing["text"], failing["text"]
    # Run All rendered every lecture plot that needs no exercise (the rest carry raises-exception)
    released = [c for c in nbtools.read(lab.notebooks / "01_probability" / "probability.ipynb").cells
                if c.cell_type == "code"]
    assert len(released) == len(cells)
    blank = [(c.source.splitlines()[0], shown["text"][:300]) for c, shown in zip(released, cells)
             if "plots." in c.source and "raises-exception" not in c.metadata.get("tags", [])
             and not shown["images"]]
    if blank:
        first = next(i for i, (c, shown) in enumerate(zip(released, cells)) if c.source.splitlines()[0] == blank[0][0])
        cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(first)
        cell.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "01-blank-plot.png"))
    assert not blank, f"lecture plots left blank by Run All: {blank}"
    # Issue 34.8: an untouched exercise's test cell says so in one line, and so does a lecture
    # cell that needs it (course_utils/notebook_hints.py, loaded by the course's kernel)
    untouched = next(c for c in cells if "# Tests for running_frequency" in c["source"])
    assert untouched["text"].strip() == "not attempted yet: write running_frequency above", untouched["text"]
    needs = next(c for c in cells if c["source"].startswith("letters = sample_categorical("))
    assert needs["text"].strip().startswith("needs sample_categorical first"), needs["text"]
    index = next(i for i, c in enumerate(cells) if "# Tests for running_frequency" in c["source"])
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(index).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "01-not-attempted.png"))
    page.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=180_000)
    page.wait_for_function("() => !document.querySelector('.jp-Dialog').textContent.includes('Validating')",
                           timeout=180_000)
    page.screenshot(path=str(ARTIFACTS / "01-validate.png"))
    # Issue 34.6: the course's summary first (course_utils/validation.py), then a few lines per
    # failing exercise; the not-attempted ones named once, without tracebacks
    body = dialog.locator(".jp-Dialog-body").inner_text().strip()
    flat = " ".join(body.split())  # the summary is wrapped to the dialog's width
    assert flat.startswith("SUMMARY: 1 of 12 exercises pass the visible tests; failing: total_probability; "
                           "not attempted:"), body[:2000]
    assert "The following cell failed" not in body, body[:2000]
    assert "written answers missing: broadcasting_answer, pseudo_counts_answer" in flat, body[:2000]
    assert "FAILING: total_probability" in body and "AssertionError" in body, body[:2000]
    assert "Traceback" not in body and "NotImplementedError" not in body, body[:2000]
    assert flat.count("running_frequency") == 1, body[:2000]  # not attempted: named once
    assert "first_letter_distribution" not in body, body[:2000]  # the filled one passes
    assert len(body.splitlines()) <= 20, body
    with pytest.raises(OSError):  # the instructor's formgrader is switched off for students
        urllib.request.urlopen(f"{lab.url}/formgrader?token={TOKEN}", timeout=10)


def test_computation_graph_renders_as_svg(lab, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = next((COURSE_ROOT / "notebooks" / "04_autograd").glob("*.ipynb")).name
    page = _open_and_run_all(browser, lab.url, f"04_autograd/{path}", 180)
    # course_utils.graphs sends the graph as HTML holding the <svg> inline (so it can shrink to
    # the column); JupyterLab prefers that to the image/svg+xml copy of the same bundle.
    graphs = page.locator(".jp-OutputArea-output .course-graph svg")
    sources = graphs.evaluate_all("els => els.map(e => e.outerHTML)")
    neuron = [i for i, svg in enumerate(sources) if "tanh" in svg and "x1" in svg and "w1" in svg]
    if not neuron:
        page.screenshot(path=str(ARTIFACTS / "04-no-graph.png"), full_page=True)
        pytest.fail(f"none of the {len(sources)} inline SVG graphs is the neuron's graph")
    graph = graphs.nth(neuron[0])
    graph.scroll_into_view_if_needed()
    box = graph.bounding_box()
    column = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 20, f"the graph's SVG did not render: {box}"
    assert box["width"] <= column["width"], f"the graph ({box['width']:.0f} px) is wider than the notebook"
    graph.screenshot(path=str(ARTIFACTS / "04-neuron-graph.png"))
    svg = sources[neuron[0]]
    assert "data" in svg and "grad" in svg
    assert page.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")\
        .filter(has_text="Error").count() == 0
