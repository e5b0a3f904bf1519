"""nbconvert templates of the course's pages (feedback/), and the setting that puts them in use."""

from __future__ import annotations

from pathlib import Path


def feedback_template_basedirs() -> list[str]:
    """``HTMLExporter.extra_template_basedirs`` for the course's feedback page.

    nbgrader asks for the template named "feedback" (its API forces the name), so the course's
    folder of that name comes first. It extends nbgrader's own page, which nbconvert's loader
    offers only through a template folder in the chain: feedback/conf.json names "formgrader"
    as its base, so nbgrader's ``server_extensions/formgrader`` folder joins the search path
    (and formgrader/conf.json continues the chain with nbconvert's "classic"). nbgrader's own
    template folder stays in the list: the Formgrader finds its "formgrade" page there.
    """
    import nbgrader

    extensions = Path(nbgrader.__file__).parent / "server_extensions"
    return [str(Path(__file__).parent), str(extensions / "formgrader" / "templates"), str(extensions)]
