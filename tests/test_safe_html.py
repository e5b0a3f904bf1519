"""Formulas on the course's pages: TeX becomes MathML, and what the sanitiser lets through stays safe."""

from __future__ import annotations

from course_utils.grading.safe_html import render_math, sanitize


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
