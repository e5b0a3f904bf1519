# From probability to a neural bigram language model: the course's commands.
#
#   make course    set everything up and open JupyterLab on the student notebooks
#   make test      run every test (what CI runs)
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

.DEFAULT_GOAL := help
.PHONY: help course setup install dot data notebooks release test

help:  ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

course: setup  ## set up everything, then open JupyterLab on notebooks/
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --port=$(PORT)

setup: install dot data notebooks  ## everything `course` does except starting JupyterLab

install: $(VENV)/.installed  ## create .venv and install the course package and its dependencies

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

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

data: install  ## fetch and verify data/names.txt (or use the file named by COURSE_NAMES_FILE)
	$(BIN)/python -m course_utils.data

notebooks: install  ## create any missing student notebook (never overwrites one)
	$(BIN)/course-release --missing-only

release: install  ## instructor: regenerate notebooks/ from solutions/ (FORCE=1 overwrites local edits, keeping a backup)
	$(BIN)/course-release --db-url "sqlite:///$(CURDIR)/gradebook.db" $(if $(FORCE),--force)

test: setup  ## run every test: package, release checks, fidelity and nbgrader round trips
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup
