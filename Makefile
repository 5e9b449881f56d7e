# The commands a platform repo runs. `make generate` is what CI and the
# pre-commit hook expect to have been run.
CARGO ?= cargo
STAMP ?= $(CARGO) run --release --locked --quiet --

.PHONY: generate check validate test lint

generate:
	$(STAMP) build

check:
	$(STAMP) check

validate:
	$(STAMP) validate

test:
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Targets whose output differs from BASE, with the approval tier.
BASE ?= HEAD~1
.PHONY: affected hooks
affected:
	$(STAMP) affected --base $(BASE)

# Installs this repository's pre-commit hooks (needs `pip install pre-commit`).
hooks:
	pre-commit install
