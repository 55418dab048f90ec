# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
CMAKE_FLAGS ?=
DEMO_DATA ?= lake
DEMO_SCALE ?= 1

.PHONY: all bootstrap build build-asan test test-fast test-asan test-tsan demo bench bench-sql bench-vector bench-ai bench-s3 bench-upsert format clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DLH_WERROR=ON $(CMAKE_FLAGS)

build: bootstrap $(BUILD)/build.ninja
	cmake --build $(BUILD)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DLH_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DLH_SANITIZE=address,undefined $(CMAKE_FLAGS)

build-asan: bootstrap $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD)

# The whole suite twice: an optimized -Werror build, then under ASan+UBSan.
test: build build-asan
	scripts/run-tests $(BUILD)
	scripts/run-tests $(ASAN_BUILD)

test-fast: build
	scripts/run-tests $(BUILD)

test-asan: build-asan
	scripts/run-tests $(ASAN_BUILD)

# The vector engine's thread tests under ThreadSanitizer (not part of `make test`: a
# separate instrumented build). They run no DuckDB code, which is not instrumented and would
# give false reports; no suppressions are needed.
$(TSAN_BUILD)/build.ninja:
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DLH_WERROR=ON -DLH_SANITIZE=thread $(CMAKE_FLAGS)

test-tsan: bootstrap $(TSAN_BUILD)/build.ninja
	cmake --build $(TSAN_BUILD) --target test_threads test_index_threads
	cd $(TSAN_BUILD) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		ctest --output-on-failure -R '^vector\.test_(threads|index_threads)$$'

demo: build
	scripts/demo $(BUILD) $(DEMO_DATA) $(DEMO_SCALE)

bench: bench-sql bench-vector bench-ai bench-s3 bench-upsert

bench-sql: build
	cmake -S . -B $(BUILD) -DLH_BENCH=ON && cmake --build $(BUILD)
	bench/sql/run $(BUILD)

bench-vector: build
	cmake -S . -B $(BUILD) -DLH_BENCH=ON && cmake --build $(BUILD)
	bench/vector/run $(BUILD)

bench-ai: build
	cmake -S . -B $(BUILD) -DLH_BENCH=ON && cmake --build $(BUILD)
	bench/ai/run $(BUILD)

bench-s3: build
	cmake -S . -B $(BUILD) -DLH_BENCH=ON && cmake --build $(BUILD)
	bench/s3/run $(BUILD)

bench-upsert: build
	cmake -S . -B $(BUILD) -DLH_BENCH=ON && cmake --build $(BUILD)
	bench/upsert/run $(BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
