"""HTML rendered from a submission (Formgrader, feedback) carries no script.

The Formgrader shows an autograded notebook as a page of the instructor's Jupyter
server: script in it runs with the instructor's session (it can write the course
folder through ``/api/contents``). nbconvert's ``sanitize_html`` cleans HTML
outputs but not the markdown cells of nbgrader's ``formgrade`` and ``feedback``
templates, and its image blocks write output metadata unquoted into attributes.
Three pieces, switched on in ``nbgrader_config.py`` for every ``HTMLExporter``
(the Formgrader's and ``GenerateFeedback``'s):

- :class:`SanitizeSubmission`, a preprocessor: outputs keep only the kinds the
  page can show safely (text, PNG/JPEG whose data is base64, HTML cleaned, SVG
  (which the templates show as an image, where script does not run), LaTeX,
  JSON), with numeric width/height as their only metadata;
  JavaScript, widget views and everything else are replaced by a note, and the
  notebook's widget state is dropped; markdown attachments keep only images (an SVG cleaned
  by :func:`sanitize_svg`, shown as an ``<img>``), and one that cannot be shown becomes a note;
- :class:`SafeMarkdown`, the ``markdown2html`` filter: nbconvert's rendering,
  then cleaned by :func:`sanitize` (tags and attributes from an allow-list, no
  ``on*`` attribute, links only to http(s)/mailto/relative, images only from
  http(s)/relative/``data:image``);
- ``HTMLExporter.sanitize_html``: nbconvert's own cleaning of HTML outputs.
"""

from __future__ import annotations

import base64
import binascii
import html
import re

import bleach
from bleach.css_sanitizer import CSSSanitizer
from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor
from traitlets.config import LoggingConfigurable

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details",
    "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
    # SVG that matplotlib and graphviz write
    "svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan",
    "defs", "title", "desc", "clippath", "use", "symbol", "lineargradient", "radialgradient", "stop",
    # MathML that render_math writes
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "msqrt",
    "mroot", "mover", "munder", "munderover", "mstyle", "mtable", "mtr", "mtd", "mpadded", "mphantom",
    "menclose", "semantics", "annotation",
})
COMMON = {"class", "id", "title", "style", "align", "colspan", "rowspan", "width", "height"}
SVG = {"viewbox", "xmlns", "version", "d", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry",
       "points", "fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin", "transform",
       "font-family", "font-size", "font-weight", "text-anchor", "opacity", "fill-opacity",
       "stroke-opacity", "stroke-dasharray", "clip-path", "offset", "stop-color", "preserveaspectratio",
       "dominant-baseline"}
MATHML = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
          "accentunder", "linethickness", "columnalign", "rowspacing", "columnspacing", "scriptlevel",
          "displaystyle", "movablelimits", "largeop", "symmetric", "notation", "depth", "encoding"}
PROTOCOLS = frozenset({"http", "https", "mailto", "data"})
SAFE_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.I)
"""Images a page may embed; an SVG too, since an <img> runs no script (attachments are cleaned first)."""
SAFE_OUTPUT = ("text/plain", "image/png", "image/jpeg", "text/html", "image/svg+xml", "text/latex",
               "text/markdown", "application/json")
IMAGE_KEYS = {"width", "height"}
_CSS = CSSSanitizer()


def _attribute(tag: str, name: str, value: str) -> bool:
    name = name.lower()
    if name.startswith("on"):
        return False
    if tag == "a" and name == "href":
        return not value.strip().lower().startswith("data:")
    if tag == "img" and name == "src":
        link = value.strip()
        return not link.lower().startswith("data:") or bool(SAFE_IMAGE.match(link))
    if tag == "img" and name == "alt":
        return True
    if tag in ("td", "th") and name in ("colspan", "rowspan"):
        return True
    return name in COMMON or name in SVG or name in MATHML


# TeX as nbconvert's markdown leaves it for MathJax: $$display$$ or $inline$ (no space just
# inside the dollars, so "$5 and $6" stays text), outside <code>, <pre>, <script> and <style>.
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(?=[^\s$])((?:\\\$|[^$])+?)(?<=[^\s\\])\$", re.S)
_TAG = re.compile(r"(<[^>]*>)")
_VERBATIM = re.compile(r"<(/?)\s*(code|pre|script|style)\b", re.I)


def render_math(html_text: str) -> str:
    """``html_text`` with its TeX formulas as MathML, which browsers draw without MathJax (so
    feedback pages show math offline). A formula the converter cannot read stays as TeX."""
    from latex2mathml.converter import convert

    def mathml(match: re.Match) -> str:
        display, tex = (True, match.group(1)) if match.group(1) is not None else (False, match.group(2))
        try:
            return convert(html.unescape(tex), display="block" if display else "inline")
        except Exception:  # noqa: BLE001  (latex2mathml raises many kinds on TeX it does not know)
            return match.group(0)

    parts, verbatim = [], 0
    for part in _TAG.split(html_text):
        tag = _VERBATIM.match(part)
        if tag:
            verbatim = max(0, verbatim + (-1 if tag.group(1) else 1))
        parts.append(part if part.startswith("<") or verbatim or "$" not in part else _MATH.sub(mathml, part))
    return "".join(parts)


def sanitize(html: str) -> str:
    """``html`` with only allow-listed tags and attributes; no script, event handler or javascript: link."""
    return bleach.clean(html, tags=TAGS, attributes=_attribute, protocols=PROTOCOLS,
                        css_sanitizer=_CSS, strip=True, strip_comments=True)


class SafeMarkdown(LoggingConfigurable):
    """``markdown2html`` for nbconvert's templates: the exporter's own rendering, then :func:`sanitize`.

    Registered as ``c.HTMLExporter.filters = {"markdown2html": ...}``; nbconvert builds it with the
    exporter as its parent.
    """

    # jinja reads this from the filter object itself (pass_context marks functions only)
    jinja_pass_arg = pass_context(lambda context, source: source).jinja_pass_arg

    def __call__(self, context, source: str) -> str:
        render = getattr(self.parent, "markdown2html", None)
        if render is None:  # not under an HTMLExporter: nbconvert's plain filter
            from nbconvert.filters import markdown2html as render_plain

            return sanitize(render_math(render_plain(source)))
        return sanitize(render_math(render(context, source)))


def _is_base64(data) -> bool:
    if not isinstance(data, str):
        return False
    try:
        base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def sanitize_svg(data) -> str | None:
    """An SVG attachment (base64, as Jupyter stores it, or its text) with only allow-listed markup,
    or None when it is not an SVG. The pages show it as an ``<img>`` data URI, where browsers run
    no script in any case; cleaning it keeps whatever it holds off the page as well."""
    if isinstance(data, list):
        data = "".join(map(str, data))
    if not isinstance(data, str):
        return None
    text = data
    if _is_base64(data):
        try:
            text = base64.b64decode("".join(data.split())).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
    cleaned = sanitize(text).strip()
    if not cleaned.lower().startswith("<svg"):
        return None
    if "xmlns=" not in cleaned.split(">", 1)[0]:  # an image's SVG is XML: no namespace, no picture
        cleaned = '<svg xmlns="http://www.w3.org/2000/svg"' + cleaned[4:]
    return cleaned


_NOT_SHOWN = base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="260" height="24"><text x="4" y="16" '
    b'font-family="sans-serif" font-size="13">[attachment not shown here]</text></svg>').decode("ascii")
"""What the page shows for an attachment it cannot show safely."""


class SanitizeSubmission(Preprocessor):
    """Keep only outputs, metadata and attachments the HTML page can show without running anything."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.enabled = True

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            for name in list(attachments):
                bundle = attachments[name]
                kept = {mime: data for mime, data in (bundle.items() if isinstance(bundle, dict) else [])
                        if mime in ("image/png", "image/jpeg", "image/gif") and _is_base64(data)}
                svg = sanitize_svg(bundle.get("image/svg+xml")) if isinstance(bundle, dict) else None
                if svg is not None:
                    kept["image/svg+xml"] = base64.b64encode(svg.encode()).decode("ascii")
                # The markdown still names a dropped attachment, and nbconvert fails the whole page
                # on a missing one: what cannot be shown becomes a note in its place.
                attachments[name] = kept or {"image/svg+xml": _NOT_SHOWN}
        if cell.get("cell_type") == "code":
            cell.outputs = [self._output(output) for output in cell.get("outputs", [])]
        return cell, resources

    def _output(self, output):
        kind = output.get("output_type")
        if kind not in ("display_data", "execute_result"):
            return output  # stream and error text is escaped by the templates
        data, dropped = {}, []
        for mime, value in (output.get("data") or {}).items():
            if mime not in SAFE_OUTPUT:
                dropped.append(mime)
            elif mime in ("image/png", "image/jpeg") and not _is_base64(value):
                dropped.append(mime)
            elif mime == "text/html":
                data[mime] = sanitize(value if isinstance(value, str) else "".join(map(str, value)))
            elif mime == "image/svg+xml" and not isinstance(value, str):
                dropped.append(mime)
            else:
                data[mime] = value
        if dropped and "text/plain" not in data:
            data["text/plain"] = f"[{', '.join(sorted(dropped))} output not shown here]"
        metadata = {}
        for mime, meta in (output.get("metadata") or {}).items():
            if mime in data and isinstance(meta, dict):
                sizes = {k: v for k, v in meta.items() if k in IMAGE_KEYS and type(v) in (int, float)}
                if sizes:
                    metadata[mime] = sizes
        output["data"] = data
        output["metadata"] = metadata
        return output


def configure(config) -> None:
    """Switch the three pieces on in a traitlets ``config`` (as ``nbgrader_config.py`` does)."""
    config.HTMLExporter.sanitize_html = True
    config.HTMLExporter.preprocessors = [f"{__name__}.SanitizeSubmission"]
    config.HTMLExporter.filters = {"markdown2html": f"{__name__}.SafeMarkdown"}
