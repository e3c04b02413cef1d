# Vigía: the two commands a newcomer needs are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CONFIG     ?= config/vigia.ini

.PHONY: all deps deps-test build build-asan run test test-unit test-asan demo bench clean

all: build

deps:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

run: build
	@grep -Eq '^[[:space:]]*admin_token[[:space:]]*=[[:space:]]*[^[:space:]]' $(CONFIG) || \
	  echo "note: $(CONFIG) sets no admin_token, so actions (clear, test, read-all, monitor run)" \
	       "answer this machine only. To set one: put 'admin_token = <secret>' under [server]" \
	       "(a secret from: head -c 24 /dev/urandom | base64)."
	$(BUILD)/core/vigia --config $(CONFIG)

# The whole suite: the tree formatted by .clang-format, the normal build, then the same
# suite under ASan + UBSan, then the fuzz targets.
test: deps-test $(BUILD)/CMakeCache.txt
	scripts/check-format.sh
	cmake --build $(BUILD) -j$(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVIGIA_SANITIZE=ON

test-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) -LE "e2e|nosan"

# Offline demo: the CKAN fixture portal with a lively scenario, and Vigía pointed at it.
demo: build
	scripts/demo.sh

bench: build
	scripts/bench.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# libFuzzer targets of every parser of outside input (tests/fuzz/README.md), in their own
# clang tree: `make fuzz` runs each for FUZZ_SECONDS, `make test` for FUZZ_TEST_SECONDS.
FUZZ_BUILD        ?= build-fuzz
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 10
.PHONY: fuzz test-fuzz soak soak-asan

$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang-14 -DVIGIA_FUZZ=ON \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo

test-fuzz: $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) ctest --test-dir $(FUZZ_BUILD) -V -j$(JOBS)

fuzz: deps-test
	$(MAKE) --no-print-directory test-fuzz FUZZ_TEST_SECONDS=$(FUZZ_SECONDS)

# Soak (bench/soak): an hour of the lively fixture under load; SOAK_MINUTES=5 for the short one.
SOAK_MINUTES ?= 60
soak: build
	SOAK_MINUTES=$(SOAK_MINUTES) bench/soak/run.sh

soak-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_BUILD=$(ASAN_BUILD) bench/soak/run.sh
