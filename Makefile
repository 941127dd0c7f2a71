# The template's two commands (make demo, make test) and the tools for working on the template.
PYTHON ?= python3
VENV := .venv
DEV_PYTHON := $(VENV)/bin/python

.PHONY: demo test test-faults format data lock benchmark benchmark-scale benchmark-quality clean

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(DEV_PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed  ## bake the default app and run its journey: load, retrain, load corrected data, retrain
	$(DEV_PYTHON) dev/demo.py

test: $(VENV)/.installed  ## bake every variant and run the generated apps' own tests
	$(DEV_PYTHON) -m pytest template_tests --durations=10

test-faults: $(VENV)/.installed  ## bake the default app and break its processes while it works (part of make test)
	$(DEV_PYTHON) -m pytest template_tests -k fault_tests

format: $(VENV)/.installed  ## ruff-format the app template's Python files
	$(DEV_PYTHON) dev/format_template.py

data: $(VENV)/.installed  ## regenerate the demo CSVs (deterministic)
	$(DEV_PYTHON) dev/generate_demo_data.py

lock: $(VENV)/.installed  ## re-lock the app's requirements*.txt from its pyproject.toml (ARGS=--upgrade for newer releases)
	$(DEV_PYTHON) dev/lock_app_requirements.py $(ARGS)

benchmark: $(VENV)/.installed  ## time the retrain pipeline on the demo data and at 100k and 1M rows
	$(DEV_PYTHON) dev/benchmark_retrain.py

benchmark-scale: $(VENV)/.installed  ## a retrain on one node against one on a 2-worker Dask cluster, at 1M, 5M and 10M rows
	$(DEV_PYTHON) dev/benchmark_scale.py

benchmark-quality: $(VENV)/.installed  ## the default model against FLAML and LightGBM on public datasets it never saw
	$(DEV_PYTHON) dev/benchmark_quality.py

clean:
	rm -rf $(VENV) build
