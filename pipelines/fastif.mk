# pipelines/fastif.mk - FastIF as a make graph.
#
#   make -f pipelines/fastif.mk OUT=out/run TRAIN=train.mp QUERY=query.mp [ARCH=...] ranked
#
# train -> embed -> index -> knn -> grad of queries -> ihvp -> influence on
# the candidates -> rank. `full` scores every training point instead (no kNN)
# for comparison. Every target is written whole or not at all (tools write
# atomically; make deletes half-made targets), so an interrupted run resumes
# where it stopped and `make -j` runs independent branches at once.
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
METHOD  ?= lissa
# LiSSA depth
J       ?= 1000
# LiSSA batch
B       ?= 1
# LiSSA repeats
T       ?= 1
SCALE   ?= auto
DAMPING ?= 0.005
THREADS ?= 2
# ranked list length
M       ?= 10
# files that give the queries' text/label/pred
QUERY_INFO ?= $(QUERY)
TRAIN_OPTS ?=

.PHONY: ranked full show show-full
ranked: $(OUT)/ranked.mp
full: $(OUT)/full-ranked.mp

$(OUT)/.dir:
	mkdir -p $(OUT) && touch $@

ifeq ($(MODEL),$(OUT)/model)
$(OUT)/model: $(TRAIN) | $(OUT)/.dir
	$(BIN)/train --arch $(ARCH) --epochs $(EPOCHS) --lr $(LR) --l2 $(L2) --seed $(SEED) $(TRAIN_OPTS) -o $@ < $(TRAIN)
endif

$(OUT)/train-emb.mp: $(MODEL) $(TRAIN) | $(OUT)/.dir
	$(BIN)/embed --model $(MODEL) < $(TRAIN) > $@

$(OUT)/index: $(OUT)/train-emb.mp
	$(BIN)/knn-select --build $@ --index-spec $(INDEX_SPEC) < $<

$(OUT)/query-emb.mp: $(MODEL) $(QUERY) | $(OUT)/.dir
	$(BIN)/embed --model $(MODEL) < $(QUERY) > $@

$(OUT)/candidates.mp: $(OUT)/index $(OUT)/query-emb.mp
	$(BIN)/knn-select --index $(OUT)/index -k $(K) < $(OUT)/query-emb.mp > $@

$(OUT)/query-grad.mp: $(MODEL) $(QUERY) | $(OUT)/.dir
	$(BIN)/grad --model $(MODEL) --params $(PARAMS) --label $(LABEL) < $(QUERY) > $@

$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(MODEL) $(TRAIN)
	$(BIN)/ihvp --model $(MODEL) --train $(TRAIN) --params $(PARAMS) --label $(LABEL) --method $(METHOD) \
	  --depth $(J) --batch $(B) --repeats $(T) --scale $(SCALE) --damping $(DAMPING) \
	  --seed $(SEED) --threads $(THREADS) < $< > $@

$(OUT)/scores.mp: $(OUT)/ihvp.mp $(OUT)/candidates.mp
	$(BIN)/influence --ihvp $< --model $(MODEL) --train $(TRAIN) --params $(PARAMS) \
	  --candidates $(OUT)/candidates.mp > $@

$(OUT)/full-scores.mp: $(OUT)/ihvp.mp $(MODEL) $(TRAIN)
	$(BIN)/influence --ihvp $< --model $(MODEL) --train $(TRAIN) --params $(PARAMS) > $@

$(OUT)/ranked.mp: $(OUT)/scores.mp $(TRAIN)
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) < $< > $@

$(OUT)/full-ranked.mp: $(OUT)/full-scores.mp $(TRAIN)
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) < $< > $@

# Readable views for a terminal.
show: $(OUT)/scores.mp $(OUT)/ranked.mp
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $<
show-full: $(OUT)/full-scores.mp $(OUT)/full-ranked.mp
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $<
