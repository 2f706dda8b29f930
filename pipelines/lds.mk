# pipelines/lds.mk - the linear datamodeling score (LDS; Park et al. 2023) as a make graph.
#
#   make -f pipelines/lds.mk OUT=out/lds TRAIN=train.mp TEST=test.mp \
#        METHODS='exact cg' SCORE.exact='...' SCORE.cg='...' [M=50 ALPHA=0.5 ...] lds
#
# subsets.mp (lds --draw: M subsets of round(ALPHA N) training ids from SEED) -> one
# model per subset (RETRAIN, fanned out with GNU parallel, -S hosts with SSHLOGIN) ->
# its outputs on the test points (EVAL, then lds --collect: OUTPUT = margin or loss)
# -> outputs.mp; and per scoring method NAME: scores-NAME.mp (the command SCORE.NAME,
# timed) -> lds-NAME.mp (lds --subsets --outputs: LDS, per-test correlations, bootstrap
# interval) -> lds.md, the table. formats/lds.md defines the records and the signs.
#
# RETRAIN reads a training stream on stdin and writes a model file on stdout (fastif's
# train by default; a PyTorch script works as well). EVAL, with the model file appended
# as its last argument, reads test examples on stdin and writes predictions records
# {id, label, probs or logits} (fastif eval by default). SCORE.NAME writes scores records
# (formats/scores.md) on stdout, typically for MODEL (RETRAIN on all of TRAIN, made here
# unless given), TRAIN and TEST. Both run in bash with BIN on PATH; the jobs see the
# subset's id as $LDS_SUBSET.
#
# Caching: the models live in OUT/fan/models, one per subset, and are remade only when
# their subset's record changes or when TRAIN, RETRAIN, ALPHA or SEED change (not M, not
# the tools: `make clean-models` forces it); outputs when the model, TEST, EVAL or OUTPUT
# change. So a new method costs no retraining and a larger M retrains only the new
# subsets. Every other target follows fastif.mk's rules (pipelines/common.mk): knob
# stamps, temporary names renamed when whole, empty inputs refused.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:

FASTIF  := $(or $(FASTIF),$(abspath $(dir $(lastword $(MAKEFILE_LIST)))..))
BIN     ?= $(if $(wildcard $(FASTIF)/bin/influence),$(FASTIF)/bin,$(abspath $(FASTIF)/../../bin))
OUT     ?= out/lds
# training and test examples (streams)
TRAIN   ?= $(OUT)/train.mp
TEST    ?= $(OUT)/test.mp
# subsets, their size as a fraction of TRAIN, the draw's seed
M       ?= 50
ALPHA   ?= 0.5
SEED    ?= 1
# stdin: training examples, stdout: model
RETRAIN ?= train --arch linear --l2 0.001 --seed 1
# + model file; stdin: test examples, stdout: predictions
EVAL    ?= fastif eval --model
# margin | loss
OUTPUT  ?= margin
# the model the scoring methods explain
MODEL   ?= $(OUT)/model
# scoring methods: names, and SCORE.NAME = a command writing scores records
METHODS ?=
# parallel retraining jobs (the cores: nproc would count OMP_NUM_THREADS, which a torch
# job's one thread sets); hosts for GNU parallel -S (the tools on their PATH)
JOBS    ?= $(shell env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
SSHLOGIN ?=
# bootstrap resamples, interval level, resampling seed
BOOT    ?= 1000
LEVEL   ?= 0.95
BOOT_SEED ?= 1
# tools whose rebuild remakes the scores
SCORE_DEPS ?= $(wildcard $(BIN)/grad $(BIN)/ihvp $(BIN)/influence $(BIN)/knn-select $(BIN)/embed)
export PATH := $(BIN):$(PATH)

KNOB_PATHS += TRAIN TEST MODEL
KNOBS.subsets := BIN TRAIN M ALPHA SEED
KNOBS.retrain := TRAIN ALPHA SEED RETRAIN
KNOBS.eval    := TEST EVAL OUTPUT
KNOBS.model   := TRAIN RETRAIN
KNOBS.lds     := BIN BOOT LEVEL BOOT_SEED
$(foreach n,$(METHODS),$(eval KNOBS.score-$(n) := SCORE.$(n) MODEL TRAIN TEST))
include $(FASTIF)/pipelines/common.mk
quote = '$(subst ','\'',$(1))'
# Stamps named only through pattern rules would count as intermediate (and be deleted).
.SECONDARY: $(METHODS:%=$(OUT)/.knobs-score-%) $(OUT)/.knobs-lds

.PHONY: lds subsets outputs scores show clean-models
lds: $(OUT)/lds.md
subsets: $(OUT)/subsets.mp
outputs: $(OUT)/outputs.mp
scores: $(METHODS:%=$(OUT)/scores-%.mp)
show: $(OUT)/lds.md
	@cat $<
clean-models:
	rm -rf $(OUT)/fan

$(OUT)/subsets.mp: $(TRAIN) $(BIN)/lds $(OUT)/.knobs-subsets
	$(BEGIN) $(TRAIN)
	lds --draw $(M) --alpha $(ALPHA) --seed $(SEED) < $(TRAIN) > $@.tmp
	$(COMMIT)

# The caches' validity: a changed knob empties them (models, then outputs).
$(OUT)/fan/.models: $(TRAIN) $(OUT)/.knobs-retrain
	rm -rf $(OUT)/fan/models $(OUT)/fan/outputs
	mkdir -p $(OUT)/fan/models && touch $@
$(OUT)/fan/.outputs: $(OUT)/fan/.models $(TEST) $(OUT)/.knobs-eval
	rm -rf $(OUT)/fan/outputs
	mkdir -p $(OUT)/fan/outputs && touch $@

$(OUT)/outputs.mp: $(OUT)/subsets.mp $(TRAIN) $(TEST) $(OUT)/fan/.models $(OUT)/fan/.outputs
	$(BEGIN) $(OUT)/subsets.mp $(TEST)
	FASTIF_BIN=$(BIN) $(PIPELINES)/lds/fanout.sh -d $(OUT)/fan -s $(OUT)/subsets.mp -t $(TRAIN) -e $(TEST) \
	  -r $(call quote,$(RETRAIN)) -E $(call quote,$(EVAL)) -O $(OUTPUT) -j $(JOBS) \
	  $(if $(SSHLOGIN),-S $(SSHLOGIN)) > $@.tmp
	$(COMMIT) $(OUT)/subsets.mp

ifeq ($(MODEL),$(OUT)/model)
$(OUT)/model: $(TRAIN) $(OUT)/.knobs-model
	$(BEGIN) $(TRAIN)
	$(RETRAIN) < $(TRAIN) > $@.tmp
	$(COMMIT)
endif

# Wall time of the scoring command beside its scores (lds.md shows it).
$(OUT)/scores-%.mp: $(MODEL) $(TRAIN) $(TEST) $(SCORE_DEPS) $(OUT)/.knobs-score-%
	$(if $(SCORE.$*),,$(error lds.mk: no SCORE.$* command for method $*))
	$(BEGIN) $(TEST)
	t0=$$(date +%s.%N); ( $(SCORE.$*) ) > $@.tmp; t1=$$(date +%s.%N); \
	  awk -v a=$$t0 -v b=$$t1 'BEGIN { printf "%.2f\n", b - a }' > $(OUT)/scores-$*.time
	$(COMMIT)

$(OUT)/lds-%.mp: $(OUT)/scores-%.mp $(OUT)/outputs.mp $(OUT)/subsets.mp $(BIN)/lds $(OUT)/.knobs-lds
	$(BEGIN) $< $(OUT)/outputs.mp
	lds --subsets $(OUT)/subsets.mp --outputs $(OUT)/outputs.mp --bootstrap $(BOOT) \
	  --level $(LEVEL) --seed $(BOOT_SEED) --id $* < $< > $@.tmp
	$(COMMIT)

$(OUT)/lds.md: $(METHODS:%=$(OUT)/lds-%.mp) $(PIPELINES)/lds/table.py
	$(if $(METHODS),,$(error lds.mk: METHODS is empty: name the scoring methods and give SCORE.NAME for each))
	$(BEGIN)
	$(PIPELINES)/lds/table.py $(OUT) $(METHODS) > $@.tmp
	$(COMMIT)
