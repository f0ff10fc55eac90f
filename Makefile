# The README's commands. CMake does the building; this file gives the short names.
#   make          build build/cofferd, build/coffer-kms, build/coffer (and tests)
#   make run      install missing packages, build, start cofferd on loopback
#   make test     install missing packages, build, run every test (ctest), then
#                 the unit tests again under ASan+UBSan
#   make bench    benchmarks next to their peers (bench/README.md)
#   make fuzz     libFuzzer targets for a bounded time

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DATA ?= $(BUILD)/run-data
CMAKE_FLAGS ?=

.PHONY: all build deps run test test-unit test-asan bench fuzz clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps

run: deps build
	@mkdir -p $(DATA)
	$(BUILD)/cofferd --data $(DATA)

test: deps build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900
	$(MAKE) --no-print-directory test-asan

test-unit: build
	cd $(BUILD) && ctest -j $(JOBS) -L unit --output-on-failure

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOFFER_SANITIZE=ON -DCOFFER_UNIT_ONLY=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest -j $(JOBS) -L unit --output-on-failure --timeout 900

bench: deps build
	bench/run-all $(BUILD)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOFFER_FUZZ=ON -DCOFFER_UNIT_ONLY=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	fuzz/run-all $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
