# pipelines/torch.mk - FastIF over a PyTorch model, as a make graph.
#
#   make -f pipelines/torch.mk OUT=DIR TRAIN=train.mp QUERY=query.mp \
#        MODEL_PY=net.py:CLASS STATE=net.pt FT_INPUT='--input-shape 1,28,28' EMB_MODULE=fc1 ranked
#
# The model stays in PyTorch: python3 -m fastif_torch (python/README.md)
# writes its embeddings and per-example layer-factor gradients, the fastif
# tools do the rest: embeddings of TRAIN and QUERY (the output of
# EMB_MODULE) -> kNN index -> K candidates per query -> gradients of the
# candidates (gold labels) and of the queries (LABEL) -> curvature fitted on
# the gradients of FIT_N training examples with labels drawn from the model
# (FIT_LABEL=sample: the true Fisher) -> ihvp -> influence on the candidates
# -> rank (-> picture for images). METHOD kfac|ekfac|diag fits a curvature
# file (`curvature`, then `ihvp --curvature`); cg|lissa|exact solve with the
# Fisher of the same gradients (`ihvp --fisher`); identity takes s = v.
# Knob stamps, temporary names and record-count checks as pipelines/fastif.mk
# (pipelines/common.mk): a new K remakes the candidates, their gradients,
# the scores and the ranking, not the ihvp. torch-cnn.mk and torch-text.mk
# make the data and the model and include this file.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:

FASTIF  ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BIN     ?= $(if $(wildcard $(FASTIF)/bin/influence),$(FASTIF)/bin,$(abspath $(FASTIF)/../../bin))
PY      ?= /usr/bin/python3
OUT     ?= out/torch
# training examples and the examples to explain (streams)
TRAIN   ?= $(OUT)/train.mp
QUERY   ?= $(OUT)/query.mp
# the model: FILE.py:CLASS, its constructor arguments (JSON) and state_dict
MODEL_PY   ?= model.py:Net
MODEL_ARGS ?= {}
STATE      ?= $(OUT)/model.pt
# how examples become the model's inputs (python3 -m fastif_torch --help)
FT_INPUT   ?=
FT_BATCH   ?= 64
# the module whose output is the kNN embedding, and an optional --select
EMB_MODULE ?= fc1
EMB_SELECT ?=
# modules to take influence over (comma list; empty: every parameter)
LAYERS  ?=
# the query gradients' label: gold | pred
LABEL   ?= gold
# curvature fit: the first FIT_N training examples, labels FIT_LABEL
FIT_N   ?= 5000
FIT_LABEL ?= sample
# always: every Linear/Conv as factors, so the curvature has a Kronecker block
# for each (a dense part gets only a diagonal); auto: dense where smaller
FIT_FACTORS ?= always
# kNN candidates per query
K       ?= 100
INDEX_SPEC ?= Flat
# kfac | ekfac | diag (curvature file), cg | lissa | exact (--fisher), identity
METHOD  ?= ekfac
# ihvp --damping: with a curvature file, the ridge of each block is DAMPING x
# its mean eigenvalue; with --fisher, DAMPING x the solver's scale
DAMPING ?= 0.1
SEED    ?= 1
# ranked list length
M       ?= 10
# files that give the queries' text/label/pred
QUERY_INFO ?= $(QUERY)
# picture options (images only), e.g. --invert
PICTURE_OPTS ?=
PICTURE_TITLE ?= test image | most helpful training images | most harmful training images (influence = -grad L(z) . s_test; negative helps)

FT = PYTHONPATH=$(FASTIF)/python$(if $(PYTHONPATH),:$(PYTHONPATH)) $(PY) -m fastif_torch
FT_MODEL = --model $(MODEL_PY) --model-args '$(MODEL_ARGS)' --state-dict $(STATE) $(FT_INPUT) --batch $(FT_BATCH)
FT_LAYERS = $(if $(strip $(LAYERS)),--layers $(LAYERS))
CURV_METHODS := kfac ekfac diag
# The adapter and the model's file count as the tool of the steps that run them.
FT_DEPS = $(wildcard $(FASTIF)/python/fastif_torch/*.py) $(firstword $(subst :, ,$(MODEL_PY))) $(STATE)

KNOB_PATHS += TRAIN QUERY QUERY_INFO STATE
KNOBS.ft-model   := PY MODEL_PY MODEL_ARGS STATE FT_INPUT FT_BATCH
KNOBS.train-emb  := $(KNOBS.ft-model) TRAIN EMB_MODULE EMB_SELECT
KNOBS.query-emb  := $(KNOBS.ft-model) QUERY EMB_MODULE EMB_SELECT
KNOBS.index      := BIN INDEX_SPEC
KNOBS.candidates := BIN K
KNOBS.cand-train := BIN TRAIN
KNOBS.cand-grad  := $(KNOBS.ft-model) LAYERS
KNOBS.query-grad := $(KNOBS.ft-model) QUERY LAYERS LABEL
KNOBS.fit-grad   := $(KNOBS.ft-model) TRAIN LAYERS FIT_N FIT_LABEL FIT_FACTORS SEED
KNOBS.curv       := BIN METHOD
KNOBS.ihvp       := BIN METHOD DAMPING
KNOBS.scores     := BIN
KNOBS.ranked     := BIN TRAIN QUERY_INFO M
KNOBS.picture    := BIN TRAIN QUERY_INFO M PICTURE_OPTS PICTURE_TITLE
include $(FASTIF)/pipelines/common.mk

.PHONY: ranked show picture
ranked: $(OUT)/ranked.mp
picture: $(OUT)/explain.png

$(OUT)/train-emb.mp: $(FT_DEPS) $(TRAIN) $(OUT)/.knobs-train-emb
	$(BEGIN) $(TRAIN)
	$(FT) embeddings $(FT_MODEL) --module '$(EMB_MODULE)' $(if $(EMB_SELECT),--select '$(EMB_SELECT)') \
	  < $(TRAIN) > $@.tmp
	$(COMMIT) $(TRAIN)

$(OUT)/query-emb.mp: $(FT_DEPS) $(QUERY) $(OUT)/.knobs-query-emb
	$(BEGIN) $(QUERY)
	$(FT) embeddings $(FT_MODEL) --module '$(EMB_MODULE)' $(if $(EMB_SELECT),--select '$(EMB_SELECT)') \
	  < $(QUERY) > $@.tmp
	$(COMMIT) $(QUERY)

$(OUT)/index: $(OUT)/train-emb.mp $(BIN)/knn-select $(OUT)/.knobs-index
	$(BEGIN) $<
	$(BIN)/knn-select --build $@ --index-spec $(INDEX_SPEC) < $<

$(OUT)/candidates.mp: $(OUT)/index $(OUT)/query-emb.mp $(BIN)/knn-select $(OUT)/.knobs-candidates
	$(BEGIN) $(OUT)/query-emb.mp
	$(BIN)/knn-select --index $(OUT)/index -k $(K) < $(OUT)/query-emb.mp > $@.tmp
	$(COMMIT) $(OUT)/query-emb.mp

# Every training example some query has as a candidate, once, in TRAIN's order.
$(OUT)/cand-train.mp: $(OUT)/candidates.mp $(TRAIN) $(BIN)/pick $(OUT)/.knobs-cand-train
	$(BEGIN) $< $(TRAIN)
	$(BIN)/pick --ids $< $(TRAIN) > $@.tmp
	$(COMMIT)

$(OUT)/cand-grad.mp: $(OUT)/cand-train.mp $(FT_DEPS) $(OUT)/.knobs-cand-grad
	$(BEGIN) $<
	$(FT) gradients $(FT_MODEL) $(FT_LAYERS) --label gold < $< > $@.tmp
	$(COMMIT) $<

$(OUT)/query-grad.mp: $(FT_DEPS) $(QUERY) $(OUT)/.knobs-query-grad
	$(BEGIN) $(QUERY)
	$(FT) gradients $(FT_MODEL) $(FT_LAYERS) --label $(LABEL) < $(QUERY) > $@.tmp
	$(COMMIT) $(QUERY)

$(OUT)/fit-grad.mp: $(FT_DEPS) $(TRAIN) $(BIN)/pick $(OUT)/.knobs-fit-grad
	$(BEGIN) $(TRAIN)
	$(BIN)/pick --head $(FIT_N) $(TRAIN) | \
	  $(FT) gradients $(FT_MODEL) $(FT_LAYERS) --label $(FIT_LABEL) --seed $(SEED) --factors $(FIT_FACTORS) > $@.tmp
	$(COMMIT)

# The curvature needs two passes over its gradients (ekfac): a file, not a pipe.
$(OUT)/curv: $(OUT)/fit-grad.mp $(BIN)/curvature $(OUT)/.knobs-curv
	$(BEGIN) $<
	$(BIN)/curvature --method $(METHOD) --grads $< -o $@.tmp
	mv -f $@.tmp $@

ifneq ($(filter $(METHOD),$(CURV_METHODS)),)
$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(OUT)/curv $(BIN)/ihvp $(OUT)/.knobs-ihvp
	$(BEGIN) $< $(OUT)/curv
	$(BIN)/ihvp --curvature $(OUT)/curv --damping $(DAMPING) < $< > $@.tmp
	$(COMMIT) $<
else ifeq ($(METHOD),identity)
$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(BIN)/ihvp $(OUT)/.knobs-ihvp
	$(BEGIN) $<
	$(BIN)/ihvp --method identity < $< > $@.tmp
	$(COMMIT) $<
else
$(OUT)/ihvp.mp: $(OUT)/query-grad.mp $(OUT)/fit-grad.mp $(BIN)/ihvp $(OUT)/.knobs-ihvp
	$(BEGIN) $< $(OUT)/fit-grad.mp
	$(BIN)/ihvp --fisher $(OUT)/fit-grad.mp --method $(METHOD) --damping $(DAMPING) < $< > $@.tmp
	$(COMMIT) $<
endif

# One scores record per query, over its own candidates: influence scores a
# gradient stream against every ihvp record it is given, so each query gets
# its ihvp record and the gradients of its own K candidates (pick --ids takes
# a candidates record's ids). The steps' logs go to scores.mp.d/log.
$(OUT)/scores.mp: $(OUT)/ihvp.mp $(OUT)/candidates.mp $(OUT)/cand-grad.mp $(BIN)/influence $(BIN)/pick $(BIN)/dump \
    $(OUT)/.knobs-scores
	$(BEGIN) $< $(OUT)/candidates.mp $(OUT)/cand-grad.mp
	rm -rf $@.d && mkdir $@.d
	$(BIN)/dump $(OUT)/candidates.mp 2> $@.d/log | sed -n 's/^{"id":"\([^"]*\)".*/\1/p' > $@.d/queries
	while read -r q; do \
	  echo "$$q" > $@.d/q; \
	  $(BIN)/pick --ids $@.d/q $(OUT)/candidates.mp > $@.d/cand 2>> $@.d/log; \
	  $(BIN)/pick --ids $@.d/q $< > $@.d/ihvp 2>> $@.d/log; \
	  $(BIN)/pick --ids $@.d/cand $(OUT)/cand-grad.mp 2>> $@.d/log | \
	    $(BIN)/influence --ihvp $@.d/ihvp 2>> $@.d/log || { grep -v ': done ' $@.d/log >&2; exit 1; }; \
	done < $@.d/queries > $@.tmp
	@echo "influence: $$(wc -l < $@.d/queries) queries, each over its own candidates"
	$(COMMIT) $<

$(OUT)/ranked.mp: $(OUT)/scores.mp $(TRAIN) $(BIN)/rank $(OUT)/.knobs-ranked
	$(BEGIN) $<
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) < $< > $@.tmp
	$(COMMIT) $<

$(OUT)/explain.png: $(OUT)/ranked.mp $(TRAIN) $(BIN)/picture $(OUT)/.knobs-picture
	$(BEGIN) $<
	$(BIN)/picture -m $(M) --join $(TRAIN) --query $(QUERY_INFO) $(PICTURE_OPTS) \
	  --title '$(PICTURE_TITLE)' -o $@ < $<

# A readable view for a terminal.
show: $(OUT)/scores.mp $(OUT)/ranked.mp
	$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $<
