"""The course's pages: TeX becomes MathML, what the sanitiser lets through stays safe, nothing loads from the network."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import nbgrader
import pytest
from nbconvert import HTMLExporter
from traitlets.config import Config

from course_utils.grading import safe_html
from course_utils.grading.safe_html import render_math, sanitize
from course_utils.grading.templates import feedback_template_basedirs


def _page(markdown_html: str) -> str:
    return sanitize(render_math(markdown_html))


def test_inline_and_display_formulas_become_mathml():
    out = _page(r"<p>Entropy $H(p) = -\sum_x p(x)\log_2 p(x)$ and $$\frac{a}{b}$$</p>")
    assert out.count("<math") == 2 and 'display="inline"' in out and 'display="block"' in out
    assert "<mfrac>" in out and "$" not in out


def test_dollars_that_are_not_math_stay_text():
    out = _page("<p>costs $5 and $6; <code>$HOME/x$</code></p><pre>echo $a$</pre>")
    assert "<math" not in out and "$5 and $6" in out and "<code>$HOME/x$</code>" in out


def test_escaped_tex_is_read_and_unknown_commands_keep_their_name():
    assert "<mo>&#x0003C;</mo>" in _page("<p>$a &lt; b$</p>")  # the less-than sign, as an operator
    assert r"\unknowncommand" in _page(r"<p>$\unknowncommand{x}$</p>")


def test_a_formula_cannot_smuggle_markup():
    out = _page(r"<p>$\text{<img src=x onerror=alert(1)>}$ $x$<script>alert(2)</script></p>")
    assert "onerror" not in out and "<script" not in out


# ---- whole pages: an SVG attachment in a written answer, and no script from the network ----

SVG = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 10" width="20" height="10">'
       '<script>alert(1)</script><rect x="1" y="1" width="8" height="8" fill="red" onclick="alert(2)"/>'
       '<a href="javascript:alert(3)"><text x="10" y="8">ok</text></a></svg>')


def _written_answer_with_svg() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell("My sketch of $p(x)$:\n\n![sketch](attachment:sketch.svg)")
    cell.attachments = {"sketch.svg": {"image/svg+xml": base64.b64encode(SVG.encode()).decode()}}
    return nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell("1 + 1")])


def _exporter(template: str) -> HTMLExporter:
    """nbconvert's exporter set up as the Formgrader's and the feedback pages' are
    (nbgrader_config.py, and nbgrader's GenerateFeedback for the page's stylesheet)."""
    config = Config()
    safe_html.configure(config)
    config.HTMLExporter.template_name = template
    config.HTMLExporter.extra_template_basedirs = feedback_template_basedirs()
    static = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "static"
    config.HTMLExporter.extra_template_paths = [str(static / "node_modules" / "bootstrap" / "dist" / "css")]
    return HTMLExporter(config=config)


def _svg_images(page: str) -> list[str]:
    return [base64.b64decode(data).decode() for data in
            re.findall(r'<img[^>]*src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)]


PAGE_RESOURCES = {  # what nbgrader hands each template
    "feedback": {"nbgrader": {"notebook": "probability", "score": 1, "max_score": 2, "late_penalty": 0}},
    "formgrade": {"base_url": "/", "submission_id": "s", "notebook_id": "probability", "assignment_id": "a",
                  "index": 0, "total": 1, "notebook_path": "p.ipynb", "first_name": "A", "last_name": "B",
                  "student": "alice", "mathjax_url": "", "disable_csrf": False},
}


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_an_svg_attachment_is_shown_as_a_sanitised_image(template):
    """A written answer with an SVG drawing gets its feedback page and its Formgrader page."""
    resources = PAGE_RESOURCES[template]
    page, _ = _exporter(template).from_notebook_node(_written_answer_with_svg(), resources=resources)
    (svg,) = _svg_images(page)  # shown as an <img>, where a browser runs no script
    assert "<rect" in svg and "<svg" in svg and 'viewBox="0 0 20 10"' in svg
    assert "<script" not in svg and "onclick" not in svg and "javascript:" not in svg


def test_a_feedback_page_loads_no_script_from_the_network():
    resources = {"nbgrader": {"notebook": "probability", "score": 1, "max_score": 2, "late_penalty": 0}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Entropy $H(p) = -\\sum_x p(x) \\log p(x)$"),
                                         nbformat.v4.new_code_cell("1 + 1")])
    page, _ = _exporter("feedback").from_notebook_node(nb, resources=resources)
    scripts = re.findall(r"<script\b[^>]*>", page, flags=re.I)
    assert not [s for s in scripts if re.search(r"""src\s*=\s*["']?\s*(https?:)?//""", s, flags=re.I)], scripts
    assert "mathjax.js" not in page.lower() and "x-mathjax-config" not in page.lower()
    assert "<math" in page  # the formula is drawn without it
