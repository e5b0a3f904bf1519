"""JupyterLab as students see it: Validate (with the course's summary), without the instructor's tools.

    python -m course_utils.studentlab            # into this environment's config (make setup does this)
    python -m course_utils.studentlab DIR        # into a Jupyter config folder (JUPYTER_CONFIG_DIR)

It writes Jupyter's own config files, as ``jupyter labextension disable`` and
``jupyter server extension disable`` would: ``labconfig/page_config.json`` for
front-end plugins and ``jupyter_server_config.json`` for server extensions.
The assignment list is off too: it needs an nbgrader exchange, which students of
this course do not use; validating does not. The only kernel offered is the course's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .kernel import KERNEL_NAME

LAB_PLUGINS_OFF = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
    "@jupyterlab/apputils-extension:announcements",  # asks to fetch news: offline classrooms
)
SERVER_EXTENSIONS_OFF = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.validate_assignment",  # replaced by the course's, which adds a summary
)
SERVER_EXTENSIONS_ON = ("course_utils.validation",)


def configure(config_dir: Path) -> None:
    """Write the student view into ``config_dir``, keeping whatever else is configured there."""
    config_dir = Path(config_dir)
    page = config_dir / "labconfig" / "page_config.json"
    settings = json.loads(page.read_text()) if page.exists() else {}
    settings.setdefault("disabledExtensions", {}).update(dict.fromkeys(LAB_PLUGINS_OFF, True))
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(json.dumps(settings, indent=2) + "\n")
    # the main config file, as `jupyter server extension disable` writes it: it overrides
    # the jupyter_server_config.d/ files in which nbgrader switches its extensions on
    server = config_dir / "jupyter_server_config.json"
    settings = json.loads(server.read_text()) if server.exists() else {}
    extensions = settings.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
    extensions.update(dict.fromkeys(SERVER_EXTENSIONS_OFF, False))
    extensions.update(dict.fromkeys(SERVER_EXTENSIONS_ON, True))
    # The Launcher and the kernel picker offer only the course's kernel: ipykernel's own "Python 3"
    # would run the notebooks too, without the course's set-up, and be picked by mistake.
    settings.setdefault("KernelSpecManager", {})["allowed_kernelspecs"] = [KERNEL_NAME]
    server.write_text(json.dumps(settings, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Write the student view into a Jupyter config folder (default: this environment's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config_dir", nargs="?", type=Path, default=Path(sys.prefix) / "etc" / "jupyter",
                        help="a Jupyter config folder (default: this environment's, %(default)s)")
    target = parser.parse_args(argv).config_dir
    configure(target)
    print(f"JupyterLab set up for students in {target}: Validate on, the instructor's nbgrader tools off, "
          f"only the course's kernel offered.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
