# fuzz/fuzz.mk - libFuzzer harnesses for the readers of untrusted input.
#   make -f fuzz/fuzz.mk            build build/fuzz/NAME_fuzz for each harness
#   make -f fuzz/fuzz.mk fuzz       run each for FUZZ_SECONDS (default 60) from
#                                   fuzz/corpus/NAME (seeds) + build/fuzz/corpus/NAME
#   make -f fuzz/fuzz.mk regress    run every saved input (seeds, regressions) once
# Needs clang 14 and libclang-rt-14-dev. Findings land in build/fuzz/crashes/NAME;
# keep each fixed one in fuzz/regressions/NAME/ (regress replays them).
# Inputs reach 4 MiB raw and 16 MiB through the "FZRP" form (fuzz/harness.h);
# fuzz/corpus/*/big-* are seeds of that form (fuzz/corpus/make-big.py).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang-14
FUZZ_NAMES   := stream model csv idx json
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Ilib -I/usr/include/openblas \
                -pthread -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                -Dexit=fuzz_exit -Dpthread_mutex_lock=fuzz_mutex_lock -Dpthread_mutex_unlock=fuzz_mutex_unlock -Wall -Wno-unused-parameter -Wno-unknown-attributes
FUZZ_LIBS    := -lmsgpackc -llapacke -lopenblas -lz -lm -pthread
FUZZ_LIB_C   := $(filter-out lib/knn.c,$(sort $(wildcard lib/*.c)))
FUZZ_LIB_OBJ := $(patsubst lib/%.c,$(FUZZ_DIR)/lib/%.o,$(FUZZ_LIB_C))
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/%_fuzz,$(FUZZ_NAMES))
# -detect_leaks=0: an input the library rejects longjmps out of it (see
# fuzz/harness.h), leaving its allocations behind by design.
FUZZ_OPTS    := -detect_leaks=0 -timeout=10 -rss_limit_mb=4096 -max_len=4194304 -close_fd_mask=2

.PHONY: fuzz-build fuzz regress
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@
$(FUZZ_DIR)/libfuzzfastif.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_DIR)/%_fuzz: fuzz/%_fuzz.c fuzz/harness.h $(FUZZ_DIR)/libfuzzfastif.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/libfuzzfastif.a -o $@ $(FUZZ_LIBS)

# Each harness for FUZZ_SECONDS; a finding stops that harness and fails the target.
fuzz: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$n $(FUZZ_DIR)/crashes/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=0 $(FUZZ_DIR)/$${n}_fuzz $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/$$n/ $(FUZZ_DIR)/corpus/$$n fuzz/corpus/$$n \
	    > $(FUZZ_DIR)/$$n.log 2>&1 || { echo "fuzz: $$n FOUND A PROBLEM (log: $(FUZZ_DIR)/$$n.log; inputs: $(FUZZ_DIR)/crashes/$$n)"; tail -n 30 $(FUZZ_DIR)/$$n.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' $(FUZZ_DIR)/$$n.log | sed "s/^/fuzz: $$n: /"; \
	done

# Replay the seeds and every kept regression input once (no fuzzing).
regress: $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	  files=$$(find fuzz/corpus/$$n fuzz/regressions/$$n -type f 2>/dev/null || true); \
	  [ -z "$$files" ] || ASAN_OPTIONS=detect_leaks=0 $(FUZZ_DIR)/$${n}_fuzz -detect_leaks=0 -timeout=10 $$files > $(FUZZ_DIR)/$$n.regress.log 2>&1 \
	    || { echo "regress: $$n failed (log: $(FUZZ_DIR)/$$n.regress.log)"; tail -n 30 $(FUZZ_DIR)/$$n.regress.log; exit 1; }; \
	  echo "regress: $$n: $$(echo $$files | wc -w) inputs ok"; \
	done
