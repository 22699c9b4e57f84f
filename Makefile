# The course's commands. Each target creates the virtual environment first if it is missing
# (or if requirements.txt / pyproject.toml changed since it was made); a second run reuses it.
PYTHON_SYS ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUBMISSIONS ?= submissions
OUT ?= grades
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: help setup run test test-slow test-all check grade merge bench exercises mywork references lint clean dashboard

help:
	@echo "make run      set up, run every lesson, write outputs/index.html"
	@echo "make test     set up, run the fast tier of the tests (all but the slow tier; target <= 60 s on an idle machine)"
	@echo "                 in TEST_SHARDS=2 processes side by side (TEST_SHARDS=1: one process)"
	@echo "make test-slow   the slow tier: the model zoo, the browser pages, the dashboard, grading in the jail"
	@echo "                 (Chromium and bwrap; tests/conftest.py lists what is slow and why)"
	@echo "make test-all    both tiers, as CI runs them (.ci/run)"
	@echo "make dashboard   serve the live dashboard on http://127.0.0.1:8050 (PORT=...)"
	@echo "make mywork   copy exercises/ to mywork/ (yours, git-ignored; never overwrites a file)"
	@echo "make check    check mywork/ (or exercises/ if there is no mywork/) against the reference"
	@echo "make grade SUBMISSIONS=dir [OUT=dir] [JOBS=n] [SHARD=k/n] [UNSAFE=1]   grade a class (in bwrap jails)"
	@echo "make merge SHARDS='out-1 out-2 ...' [OUT=dir]   merge the shards of one class"
	@echo "make bench [BENCH='course rollout']   run the benchmarks (or those named), write bench/RESULTS.md"
	@echo "make exercises   regenerate exercises/ from solutions/ (refuses attempted files unless FORCE=1)"
	@echo "make references  re-record the reference outputs from solutions/"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# the attention-flow solver is compiled once (numba caches the machine code in attnviz/__pycache__), so
# that no lesson, test or dashboard pays the compile; again whenever attnviz/maxflow.py changes
SOLVER := attnviz/__pycache__/.maxflow-compiled
$(SOLVER): $(STAMP) attnviz/maxflow.py
	$(PY) -c "from attnviz.maxflow import warm_up; warm_up()"
	@mkdir -p $(dir $(SOLVER)) && touch $(SOLVER)

setup: $(SOLVER)

run: $(SOLVER)
	$(PY) -m attnviz.course

# The fast tier in TEST_SHARDS processes side by side (tests/conftest.py --shard: whole files, balanced by
# their measured cost; a share imports only its own files), each at one thread: the second core is used, and a
# share's log follows the first's. Entry-point plugins are not auto-loaded, only the two the tests use
# (hypothesis, timeout): pytest rewrites the asserts of every module of an auto-loaded plugin's package
# (dash, hypothesis, anyio), again in every process where PYTHONDONTWRITEBYTECODE is set.
TEST_SHARDS ?= 2
FAST_TIER = -m "not slow" -p _hypothesis_pytestplugin -p pytest_timeout
test: $(SOLVER)
	@export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1; logs=$$(mktemp -d); pids=""; status=0; \
	trap 'kill $$pids 2>/dev/null; rm -rf $$logs' INT TERM; \
	for k in $$(seq 2 $(TEST_SHARDS)); do \
	  $(PY) -m pytest $(FAST_TIER) --shard $$k/$(TEST_SHARDS) > $$logs/$$k.log 2>&1 & pids="$$pids $$!"; \
	done; \
	$(PY) -m pytest $(FAST_TIER) --shard 1/$(TEST_SHARDS) || status=1; \
	for pid in $$pids; do wait $$pid || status=1; done; \
	for k in $$(seq 2 $(TEST_SHARDS)); do echo "---- share $$k/$(TEST_SHARDS) ----"; cat $$logs/$$k.log; done; \
	rm -rf $$logs; exit $$status

test-slow: $(SOLVER)
	$(PY) -m pytest -m slow

test-all: $(SOLVER)
	$(PY) -m pytest

check: $(STAMP)
	$(PY) -m attnviz.grading check $(FOLDER)

mywork: $(STAMP)
	$(PY) -m attnviz.exercises mywork

JOBS ?= $(shell nproc 2>/dev/null || echo 1)
SHARD ?= 1/1
grade: $(STAMP)
	$(PY) -m attnviz.grading grade $(SUBMISSIONS) --out $(OUT) --jobs $(JOBS) --shard $(SHARD) \
		$(if $(filter-out 0,$(UNSAFE)),--unsafe-no-sandbox,)

merge: $(STAMP)
	$(PY) -m attnviz.grading merge $(SHARDS) --out $(OUT)

PORT ?= 8050
dashboard: $(SOLVER)
	$(PY) -m attnviz.dashboard --port $(PORT)

bench: $(SOLVER)
	$(PY) bench/run.py $(BENCH)

exercises: $(STAMP)
	$(PY) -m attnviz.exercises generate $(if $(filter-out 0,$(FORCE)),--force,)

references: $(STAMP)
	$(PY) -m attnviz.grading record

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf outputs grades
