# The two commands of README.md: `make demo` and `make test`.
.PHONY: demo test lint typecheck bench

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check .

typecheck:
	.venv/bin/mypy .

bench:
	.venv/bin/python benchmarks/scoring.py
