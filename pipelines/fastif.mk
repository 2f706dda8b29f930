# pipelines/fastif.mk - FastIF as a make graph.
#
#   make -f pipelines/fastif.mk OUT=out/run TRAIN=train.mp QUERY=query.mp [ARCH=...] ranked
#
# train -> embed -> index -> knn -> grad of queries -> ihvp -> influence on
# the candidates -> rank. `full` scores every training point instead (no kNN)
# for comparison. A target is remade when its inputs, its tool or the knobs
# it was made with change, and only then (knob stamps: a new K remakes the
# candidates, scores and ranking, not the ihvp). Every target is written
# under a temporary name and renamed when whole and as long as it should be
# (one record per query); a step refuses an empty input. So a failed or
# killed run leaves nothing that counts as made, a rerun resumes where it
# stopped, and `make -j` runs independent branches at once. Set the knobs
# before including this file (demo.mk does).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:

FASTIF  ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
# Tools beside the pipelines in a checkout, or PREFIX/bin once installed.
BIN     ?= $(if $(wildcard $(FASTIF)/bin/influence),$(FASTIF)/bin,$(abspath $(FASTIF)/../../bin))
OUT     ?= out/fastif
# training examples (stream)
TRAIN   ?= $(OUT)/train.mp
# examples to explain (stream)
QUERY   ?= $(OUT)/query.mp
# trained here unless given
MODEL   ?= $(OUT)/model
ARCH    ?= bow:65536,32
EPOCHS  ?= 8
LR      ?= 0.01
L2      ?= 0.0001
SEED    ?= 1
# parameters the influence is taken over
PARAMS  ?= default
# gold | pred
LABEL   ?= gold
# kNN candidates per query
K       ?= 100
INDEX_SPEC ?= Flat
# auto | lissa | cg | exact (over the model's Hessian; auto: exact when small, else lissa), or curvature from the
# training gradients, no Hessian: ekfac | kfac (curvature, ihvp --curvature) |
# fisher-lissa (ihvp --fisher: LiSSA over the empirical Fisher)
METHOD  ?= auto
# curvature methods: the training gradients' labels (gold | sample: the true Fisher)
CURV_LABEL ?= sample
# ekfac, kfac: lambda = CURV_DAMPING x each block's mean eigenvalue
CURV_DAMPING ?= 0.1
# LiSSA depth
J       ?= 1000
# LiSSA batch
B       ?= 1
# LiSSA repeats
T       ?= 1
SCALE   ?= auto
# ihvp --damping: auto = per method (lissa 0.005, exact/cg from the spectrum; formats/ihvp.md)
DAMPING ?= auto
THREADS ?= 2
# ranked list length
M       ?= 10
# files that give the queries' text/label/pred
QUERY_INFO ?= $(QUERY)
TRAIN_OPTS ?=

# The settings each target is made with (pipelines/common.mk).
KNOB_PATHS += MODEL TRAIN QUERY QUERY_INFO
KNOBS.model      := BIN TRAIN ARCH EPOCHS LR L2 SEED TRAIN_OPTS
KNOBS.train-emb  := BIN MODEL TRAIN
KNOBS.index      := BIN INDEX_SPEC
KNOBS.query-emb  := BIN MODEL QUERY
KNOBS.candidates := BIN K
KNOBS.query-grad := BIN MODEL QUERY PARAMS LABEL
KNOBS.ihvp       := BIN MODEL TRAIN PARAMS LABEL METHOD J B T SCALE DAMPING SEED THREADS CURV_DAMPING
KNOBS.train-grad := BIN MODEL TRAIN PARAMS CURV_LABEL SEED
KNOBS.curvature  := BIN METHOD
KNOBS.scores     := BIN MODEL TRAIN PARAMS
KNOBS.ranked     := BIN TRAIN QUERY_INFO M
include $(FASTIF)/pipelines/common.mk

.PHONY: ranked full show show-full
ranked: $(OUT)/ranked.mp
full: $(OUT)/full-ranked.mp

ifeq ($(MODEL),$(OUT)/model)
$(OUT)/model: $(TRAIN) $(BIN)/train $(OUT)/.knobs-model
	$(BEGIN) $(TRAIN)
	$(BIN)/train --arch $(ARCH) --epochs $(EPOCHS) --lr $(LR) --l2 $(L2) --seed $(SEED) $(TRAIN_OPTS) -o $@ < $(TRAIN)
endif

$(OUT)/train-emb.mp: $(MODEL) $(TRAIN) $(BIN)/embed $(OUT)/.knobs-train-emb
	$(BEGIN) $(TRAIN)
	$(BIN)/embed --model $(MODEL) < $(TRAIN) > $@.tmp
	$(COMMIT) $(TRAIN)

$(OUT)/index: $(OUT)/train-emb.mp $(BIN)/knn-select $(OUT)/.knobs-index
	$(BEGIN) $<
	$(BIN)/knn-select --build $@ --index-spec $(INDEX_SPEC) < $<

$(OUT)/query-emb.mp: $(MODEL) $(QUERY) $(BIN)/embed $(OUT)/.knobs-query-emb
	$(BEGIN) $(QUERY)
	$(BIN)/embed --model $(MODEL) < $(QUERY) > $@.tmp
	$(COMMIT) $(QUERY)

$(OUT)/candidates.mp: $(OUT)/index $(OUT)/query-emb.mp $(BIN)/knn-select $(OUT)/.knobs-candidates
	$(BEGIN) $(OUT)/query-emb.mp
	$(BIN)/knn-select --index $(OUT)/index -k $(K) < $(OUT)/query-emb.mp > $@.tmp
	$(COMMIT) $(OUT)/query-emb.mp

$(OUT)/query-grad.mp: $(MODEL) $(QUERY) $(BIN)/grad $(OUT)/.knobs-query-grad
	$(BEGIN) $(QUERY)
	$(BIN)/grad --model $(MODEL) --params $(PARAMS) --label $(LABEL) < $(QUERY) > $@.tmp
	$(COMMIT) $(QUERY)

ifneq ($(filter ekfac kfac fisher-lissa,$(METHOD)),)
# Curvature from the training gradients (formats/curvature.md): factored
# per-example gradients, then K-FAC / EK-FAC factors, or the Fisher itself.
$(OUT)/train-grad.mp: $(MODEL) $(TRAIN) $(BIN)/grad $(OUT)/.knobs-train-grad
	$(BEGIN) $(TRAIN)
	$(BIN)/grad --model $(MODEL) --params $(PARAMS) --factored --label $(CURV_LABEL) --seed $(SEED) \
	  < $(TRAIN) > $@.tmp
	$(COMMIT) $(TRAIN)
endif

ifneq ($(filter ekfac kfac,$(METHOD)),)
$(OUT)/curvature: $(OUT)/train-grad.mp $(BIN)/curvature $(OUT)/.knobs-curvature
	$(BEGIN) $<
	$(BIN)/curvature --method $(METHOD) --grads $< -o $@

$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(OUT)/curvature $(BIN)/ihvp $(OUT)/.knobs-ihvp
	$(BEGIN) $<
	$(BIN)/ihvp --curvature $(OUT)/curvature --damping $(CURV_DAMPING) < $< > $@.tmp
	$(COMMIT) $<
else ifeq ($(METHOD),fisher-lissa)
$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(OUT)/train-grad.mp $(BIN)/ihvp $(OUT)/.knobs-ihvp
	$(BEGIN) $< $(OUT)/train-grad.mp
	$(BIN)/ihvp --fisher $(OUT)/train-grad.mp --method lissa --depth $(J) --batch $(B) --repeats $(T) \
	  --scale $(SCALE) --damping $(DAMPING) --seed $(SEED) --threads $(THREADS) < $< > $@.tmp
	$(COMMIT) $<
else
$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(MODEL) $(TRAIN) $(OUT)/train.sidx $(BIN)/ihvp $(OUT)/.knobs-ihvp
	$(BEGIN) $< $(TRAIN)
	$(BIN)/ihvp --model $(MODEL) --train $(TRAIN) --train-index $(OUT)/train.sidx --params $(PARAMS) --label $(LABEL) --method $(METHOD) \
	  --depth $(J) --batch $(B) --repeats $(T) --scale $(SCALE) --damping $(DAMPING) \
	  --seed $(SEED) --threads $(THREADS) < $< > $@.tmp
	$(COMMIT) $<
endif

# The training stream's index (formats/stream-index.md): ihvp and influence
# then read only the training rows they use (LiSSA's draws, the candidates).
# Kept in OUT, not beside TRAIN: the data's directory may not be ours.
$(OUT)/train.sidx: $(TRAIN) $(BIN)/stream-index
	@mkdir -p $(OUT)
	$(BIN)/stream-index -o $@ $(TRAIN)

# One scores record per query: a query without candidates is an error, not a gap.
$(OUT)/scores.mp: $(OUT)/ihvp.mp $(OUT)/candidates.mp $(OUT)/train.sidx $(BIN)/influence $(OUT)/.knobs-scores
	$(BEGIN) $< $(OUT)/candidates.mp
	$(BIN)/influence --ihvp $< --model $(MODEL) --train $(TRAIN) --train-index $(OUT)/train.sidx \
	  --candidates $(OUT)/candidates.mp > $@.tmp
	$(COMMIT) $<

$(OUT)/full-scores.mp: $(OUT)/ihvp.mp $(MODEL) $(TRAIN) $(OUT)/train.sidx $(BIN)/influence $(OUT)/.knobs-scores
	$(BEGIN) $< $(TRAIN)
	$(BIN)/influence --ihvp $< --model $(MODEL) --train $(TRAIN) --train-index $(OUT)/train.sidx > $@.tmp
	$(COMMIT) $<

$(OUT)/ranked.mp: $(OUT)/scores.mp $(TRAIN) $(BIN)/rank $(OUT)/.knobs-ranked
	$(BEGIN) $<
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) < $< > $@.tmp
	$(COMMIT) $<

$(OUT)/full-ranked.mp: $(OUT)/full-scores.mp $(TRAIN) $(BIN)/rank $(OUT)/.knobs-ranked
	$(BEGIN) $<
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) < $< > $@.tmp
	$(COMMIT) $<

# Readable views for a terminal.
show: $(OUT)/scores.mp $(OUT)/ranked.mp
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $<
show-full: $(OUT)/full-scores.mp $(OUT)/full-ranked.mp
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $<
