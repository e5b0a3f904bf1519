# From probability to a neural bigram language model: the course's commands.
#
#   make course    set everything up and open JupyterLab on the student notebooks
#   make check     where you stand: every exercise passed, failed or not attempted yet
#                  (make check ASSIGNMENT=01_probability: that notebook only)
#
# `make help` lists the rest. Everything installs into .venv/ in this folder.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# torch first, pinned: on the course machines 2.13.0 is a local CPU wheel, while a
# bare range would let pip fetch several GB of CUDA packages.
TORCH ?= torch==2.13.0
PORT ?= 8888
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
export PATH := $(BIN):$(PATH)
INSTRUCTOR := $(wildcard solutions)

.DEFAULT_GOAL := help
.PHONY: help course setup install kernel dot data notebooks student-lab check

help:  ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

course: setup  ## set up everything, then open JupyterLab on notebooks/
	$(BIN)/python -m jupyterlab --ServerApp.root_dir=notebooks --port=$(PORT) \
		$(if $(filter 0,$(shell id -u)),--allow-root)

setup: install kernel dot data notebooks $(if $(INSTRUCTOR),,student-lab)  ## everything `course` does except starting JupyterLab

install: $(VENV)/.installed  ## create .venv and install the course package and its dependencies (with uv when it can, else pip; NO_UV=1 for pip)

# uv installs the same requirements and pins as pip in seconds rather than a minute or two:
# the one on PATH, else one installed into .venv from PyPI. uv reads no pip configuration, so
# pip's own settings (find-links, index URLs, constraints, certificate, timeout: from its
# environment variables, then its config files' [install] and [global] sections, as
# `pip config list` shows them) are handed to it; on the course machines that is where torch's
# local CPU wheel comes from. Like pip, uv then picks the best version across all indexes.
# Should anything here fail, pip installs everything as before. Like pip (and unlike uv's
# default), the packages' bytecode is compiled at install: Python never compiles them again,
# even where it may not write it (PYTHONDONTWRITEBYTECODE, the grading sandbox's read-only
# venv), so every kernel imports numpy, scipy, matplotlib and torch in about half the time.
define UV_INSTALL
set -e; \
uv="$$(command -v uv || true)"; \
if [ -z "$$uv" ]; then \
	echo "Installing uv (a faster installer than pip) into $(VENV) from PyPI; NO_UV=1 skips it..."; \
	$(BIN)/python -m pip install --quiet --quiet uv; uv="$(BIN)/uv"; \
fi; \
conf="$$($(BIN)/python -m pip config list 2>/dev/null || true)"; \
pipconf() { for scope in :env: install global; do for key in "$$@"; do \
	v="$$(printf '%s\n' "$$conf" | sed -n "s/^$$scope\.$$key='\(.*\)'$$/\1/p" | tail -n 1)"; \
	if [ -n "$$v" ]; then echo "$$v"; return; fi; done; done; }; \
args=(--python "$(BIN)/python" --index-strategy unsafe-best-match --compile-bytecode --quiet $(if $(REINSTALL),--reinstall)); \
for v in $$(pipconf find-links); do args+=(--find-links "$$v"); done; \
for v in $$(pipconf index-url); do args+=(--index-url "$$v"); done; \
for v in $$(pipconf extra-index-url); do args+=(--extra-index-url "$$v"); done; \
for v in $$(pipconf constraint); do args+=(--constraint "$$v"); done; \
cert="$$(pipconf cert)"; if [ -n "$$cert" ]; then export SSL_CERT_FILE="$${SSL_CERT_FILE:-$$cert}"; fi; \
timeout="$$(pipconf default-timeout timeout)"; if [ -n "$$timeout" ]; then export UV_HTTP_TIMEOUT="$$timeout"; fi; \
echo "Installing $(TORCH) and the course's packages with $$uv..."; \
"$$uv" pip install "$${args[@]}" "$(TORCH)" -e ".$(EXTRAS)"
endef

# Students install the course without its test tools (pytest, ruff, playwright...): only the
# instructor's copy, which has solutions/ and tests/, needs them.
EXTRAS := $(if $(INSTRUCTOR),[test])

# The install is redone when pyproject.toml's content changes, not its date: unpacking a week's
# archive writes the same file with a new date. This stamp holds its checksum and is rewritten
# (so made newer than .installed) only when that checksum changes. A .venv installed before this
# stamp existed, after pyproject.toml's last change, is taken as it is (the stamp gets its date).
$(VENV)/.pyproject.cksum: FORCE
	@mkdir -p $(VENV); sum="$$(cksum < pyproject.toml)"; \
	if [ ! -e $@ ] && [ $(VENV)/.installed -nt pyproject.toml ]; then \
		echo "$$sum" > $@; touch -r $(VENV)/.installed $@; \
	elif [ "$$(cat $@ 2>/dev/null)" != "$$sum" ]; then echo "$$sum" > $@; fi

.PHONY: FORCE
FORCE:

# An install stopped midway (Ctrl-C during torch's download) can leave a package half unpacked
# that the installers then take as installed; .installing, there until an install finishes,
# makes the next one install every package again.
REINSTALL := $(wildcard $(VENV)/.installing)

$(VENV)/.installed: $(VENV)/.pyproject.cksum
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(if $(REINSTALL),echo "The last install into $(VENV)/ did not finish: every package is installed again.")
	@touch $(VENV)/.installing
	@$(if $(NO_UV),false,( $(UV_INSTALL) )) || { \
		echo "Installing $(TORCH), then the course's packages, with pip..."; \
		$(BIN)/python -m pip install --quiet $(if $(REINSTALL),--force-reinstall) "$(TORCH)" && \
		$(BIN)/python -m pip install --quiet $(if $(REINSTALL),--force-reinstall) -e ".$(EXTRAS)"; }
	@rm -f $(VENV)/.installing
	@touch $@
	@echo "Installed into $(VENV)/."

KERNELSPEC := $(VENV)/share/jupyter/kernels/bigram-course/kernel.json
kernel: $(KERNELSPEC)  ## register the course's Python as the notebooks' kernel ("Python 3 (bigram course)") inside .venv

$(KERNELSPEC): $(VENV)/.installed course_utils/kernel.py
	$(BIN)/python -m course_utils.kernel

dot:  ## make sure Graphviz's `dot` program is there (notebook 04 draws graphs with it)
	@command -v dot >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's graphviz for the dot program..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "NOTE: Graphviz's dot program is missing; notebook 04 needs it to draw graphs."; \
		echo "      Install it with: sudo apt-get install graphviz (Debian/Ubuntu)," \
		     "brew install graphviz (macOS) or conda install graphviz."; \
	fi

data: install  ## fetch and verify data/names.txt (or copy the verified file named by COURSE_NAMES_FILE there)
	$(BIN)/python -m course_utils.data

notebooks: install  ## create any missing student notebook (never overwrites one; students: from the releases unpacked here)
	$(BIN)/python -m $(if $(INSTRUCTOR),course_utils.grading.authoring.release --missing-only,course_utils.handout)

student-lab: install  ## show students nbgrader's Validate button, not the instructor's tools
	$(BIN)/python -m course_utils.studentlab

check: install data $(if $(INSTRUCTOR),,notebooks)  ## run your notebooks and list every exercise: passed, failed or not yet attempted (ASSIGNMENT=01_probability: that one only)
	$(BIN)/python -m course_utils.selfcheck $(ASSIGNMENT)

# ---- instructor only: make dist leaves out everything below ----
# The student distribution (`make dist`) ships this Makefile up to the line above: students get
# their own commands and nothing else. `make test` runs every test (what CI runs).

.PHONY: release dist test
release: install  ## instructor: regenerate notebooks/ from solutions/ (FORCE=1 overwrites local edits, keeping a backup)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.authoring.release --db-url "sqlite:///$(CURDIR)/gradebook.db" $(if $(FORCE),--force)

dist: install  ## instructor: build the student distribution in dist/ (folder and .tar.gz; ASSIGNMENTS="00_math_toolkit 01_probability" hands out those only)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.authoring.dist $(ASSIGNMENTS)

test: setup  ## run every test: package, release checks, fidelity, round trips, student distribution
	$(if $(wildcard tests),,$(error tests/ is not part of this copy of the course))
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

# Instructor: grading a class (course_utils/grading/grade.py and feedback.py; README "Grading a class").
#   make grade [ASSIGNMENT=01_probability] [JOBS=N] [SHARD=i/n] [DB_URL=postgresql://...] [FORCE=1]
#              [OPTIONS="--cell-timeout 30 --wall-factor 5"]   (any option of `course-grade --help`)
.PHONY: grade feedback collect export similarity finish-shards formgrader roster
grade: install  ## instructor: autograde submitted/ in parallel, sandboxed, into the gradebook and grades.csv (ASSIGNMENT=, JOBS=, SHARD=i/n, DB_URL=, FORCE=1, OPTIONS= any other option of course-grade --help; grades the instructor's solutions first, SKIP_CANARY=1 does not; needs bubblewrap, UNSANDBOXED=1 grades without it, unsafe)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.grade $(ASSIGNMENT) --jobs $(JOBS) $(if $(SHARD),--shard $(SHARD)) $(if $(DB_URL),--db-url "$(DB_URL)") $(if $(FORCE),--force) $(if $(UNSANDBOXED),--unsandboxed) $(if $(SKIP_CANARY),--skip-canary) $(OPTIONS)

feedback: install  ## instructor: write feedback/<student>/<assignment>/*.html without the hidden tests (ASSIGNMENT=, JOBS=, SHARD=i/n, DB_URL=, INCLUDE_UNREVIEWED=1)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.feedback $(ASSIGNMENT) --jobs $(JOBS) $(if $(SHARD),--shard $(SHARD)) $(if $(DB_URL),--db-url "$(DB_URL)") $(if $(INCLUDE_UNREVIEWED),--include-unreviewed)

collect: install  ## instructor: an LMS's bulk-download zip into submitted/ (ZIP=, ASSIGNMENT=, LMS=canvas|moodle, ROSTER= (yours or Canvas's gradebook export), DUE="2026-01-11 23:59"; never replaces a newer submission; reports LATE and superseded files)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(if $(and $(ZIP),$(ASSIGNMENT)),,$(error give the zip and its assignment: make collect ZIP=submissions.zip ASSIGNMENT=01_probability))
	$(BIN)/python -m course_utils.grading.lms.collect "$(ZIP)" $(ASSIGNMENT) $(if $(LMS),--lms $(LMS)) $(if $(ROSTER),--roster "$(ROSTER)") $(if $(DUE),--due "$(DUE)")
	$(if $(ROSTER),$(BIN)/python -m course_utils.grading.lms.roster "$(ROSTER)" $(if $(DB_URL),--db-url "$(DB_URL)"))

export: install  ## instructor: grades for an LMS's gradebook import (FORMAT=canvas|moodle|csv, ROSTER=, CANVAS_COLUMNS="01_probability=Probability (12345)", INCLUDE_UNREVIEWED=1, DB_URL=)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.lms.export --format $(or $(FORMAT),csv) $(if $(ROSTER),--roster "$(ROSTER)") $(if $(INCLUDE_UNREVIEWED),--include-unreviewed) $(if $(DB_URL),--db-url "$(DB_URL)") $(if $(CANVAS_COLUMNS),--column "$(CANVAS_COLUMNS)")

roster: install  ## instructor: the roster's names into the gradebook, for the Formgrader (ROSTER=, DB_URL=)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(if $(ROSTER),,$(error give the roster: make roster ROSTER=roster.csv (yours or Canvas's gradebook export)))
	$(BIN)/python -m course_utils.grading.lms.roster "$(ROSTER)" $(if $(DB_URL),--db-url "$(DB_URL)")

# The Formgrader is nbgrader's server extension inside JupyterLab, opened on the course folder
# (not notebooks/, as make course does) so that it finds nbgrader_config.py and the gradebook.
formgrader: install kernel  ## instructor: JupyterLab with nbgrader's Formgrader on your copy of the course (ROSTER= loads names first; PORT=)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(if $(ROSTER),$(BIN)/python -m course_utils.grading.lms.roster "$(ROSTER)")
	@echo "The Formgrader: the Nbgrader menu > Formgrader, or http://localhost:$(PORT)/formgrader (with the token below)"
	$(BIN)/python -m jupyterlab --ServerApp.root_dir=$(CURDIR) --port=$(PORT) \
		--ServerApp.jpserver_extensions nbgrader.server_extensions.formgrader=True \
		$(if $(filter 0,$(shell id -u)),--allow-root)

similarity: install  ## instructor: flag copied answers for review in similarity/<assignment>.html (ASSIGNMENT=, AGAINST=earlier terms' folder); grades are not touched
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.similarity $(ASSIGNMENT) $(if $(AGAINST),--against "$(AGAINST)")

finish-shards: install  ## instructor: after a job array (Slurm, Kubernetes, SHARD=i/n by hand): name unfinished shards, else write grades.csv, feedback and the LMS export (DB_URL=, FORMAT=, ROSTER=, SHARDS=, PARTIAL=1)
	$(if $(INSTRUCTOR),,$(error solutions/ is not part of this copy of the course))
	$(BIN)/python -m course_utils.grading.cluster finish $(if $(SHARDS),--shards $(SHARDS)) $(if $(DB_URL),--db-url "$(DB_URL)") $(if $(FORMAT),--format $(FORMAT)) $(if $(ROSTER),--roster "$(ROSTER)") $(if $(PARTIAL),--partial)
