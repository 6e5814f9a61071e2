# fairgen — the two commands of the README are `make demo` and `make test`.
# Both install the Debian packages they need when missing (as root, or through sudo).

SWIFT    ?= swift
# Build needs these (OpenMPI: the CMPI target links libmpi); `make test` also needs a one-node Slurm.
APT_PKGS  := libopenblas-dev libarchive-dev libpng-dev openmpi-bin libopenmpi-dev
TEST_PKGS := slurmctld slurmd slurm-client munge
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FAIRGEN  := .build/release/fairgen
# OpenBLAS's idle threads otherwise spin for a long time after each GEMM and steal the cores our own
# kernels need (see docs/performance.md); `fairgen` sets this itself, the test runner gets it here.
export OPENBLAS_THREAD_TIMEOUT := 4

.PHONY: deps test-deps build test demo bench clean

# Installs whatever of PKGS is missing (PKGS defaults to the build's packages).
PKGS ?= $(APT_PKGS)
deps:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

test-deps:
	@$(MAKE) --no-print-directory deps PKGS="$(APT_PKGS) $(TEST_PKGS)"

build: deps
	$(SWIFT) build -c release

# Numerical tests run in release (debug Swift is 10–50x slower on loops); -enable-testing allows @testable.
# The Slurm tests need a one-node Slurm (docs/cluster.md): started here, stopped afterwards whatever the
# outcome. A start failure does not stop make: the tests then fail with the script's reason.
SLURM_DIR ?= /tmp/fairgen-slurm-$(shell id -u)
test: test-deps
	-scripts/slurm-local.sh start $(SLURM_DIR)
	FAIRGEN_SLURM_DIR=$(SLURM_DIR) $(SWIFT) test -c release -Xswiftc -enable-testing; \
	status=$$?; scripts/slurm-local.sh stop $(SLURM_DIR); exit $$status

demo: build
	$(FAIRGEN) demo

bench: build
	$(FAIRGEN) bench all --threads 2

clean:
	rm -rf .build
