# Two commands are all the set-up on a fresh machine: `make demo` and `make test`.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0   # local CPU build; must come before anything that depends on torch
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	.venv/bin/vidreid demo

test: $(STAMP)
	$(PY) -m pytest tests

clean:
	rm -rf runs/demo .pytest_cache
