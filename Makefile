# Two commands on a fresh machine: `make dev` and `make test`.
.PHONY: dev test smoke fuzz-api fuzz mutants bench deny setup keys build package deploy diagram clean build-PreTrafficHookFunction

dev: ## install what is missing, start DynamoDB Local, serve every function on :9000
	bash scripts/dev.sh

test: ## install, start services, run every check and test, stop
	bash scripts/test.sh

smoke: ## a throwaway user through a real deployment, step by step (BASE_URL, PROJECT_ID, MANAGEMENT_KEY)
	bash scripts/setup.sh
	.venv/bin/python scripts/smoke.py

fuzz-api: ## long Schemathesis run against openapi.yaml (FUZZ_EXAMPLES per operation, FUZZ_SEED; starts and stops its services)
	bash scripts/fuzz-api.sh

fuzz: ## each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 600; nightly and cargo-fuzz installed if missing)
	bash scripts/fuzz.sh

mutants: ## cargo-mutants over the security-critical code, with DynamoDB Local (hours; MUTANTS_ARGS=…)
	bash scripts/mutants.sh

bench: ## one table of compute, cold start, warm path and arm64 size per function (BENCH_SIZE=0: no arm64 build)
	bash scripts/bench.sh

deny: ## cargo deny, every check: make test's licences, bans and sources, and the advisories (needs the network for their database)
	bash scripts/setup.sh
	.tools/cargo-deny/bin/cargo-deny --locked check advisories licenses bans sources

setup: ## only install the tools (venv, DynamoDB Local)
	bash scripts/setup.sh

build: ## Lambda artifacts for arm64 (what `sam build` runs)
	bash scripts/setup.sh
	rustup target add aarch64-unknown-linux-gnu
	PATH="$$PWD/.venv/bin:$$PATH" cargo lambda build --release --arm64

package: ## sam build: the functions for Lambda in .aws-sam/build (no Docker)
	bash scripts/package.sh

deploy: ## key secrets when missing, sam build, sam deploy (settings: samconfig.toml; CONFIG_ENV=…)
	bash scripts/deploy.sh

diagram: ## redraw docs/architecture.png from docs/architecture.dot (needs Graphviz: apt-get install graphviz)
	dot -Tpng -Gdpi=110 docs/architecture.dot -o docs/architecture.png

# sam build's makefile build method for the pre-traffic hook (template.yaml):
# the hook is one Python file; the runtime brings boto3.
build-PreTrafficHookFunction:
	cp hooks/pre_traffic.py "$(ARTIFACTS_DIR)/"

clean:
	rm -rf target .dev .aws-sam
