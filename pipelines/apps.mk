# pipelines/apps.mk - the FastIF paper's applications (Sec. 6, appendix C).
#
#   make -f pipelines/apps.mk [OUT=out/apps] TARGET
#
# TARGET                      paper        what it prints / draws
#   explain-images            -            test images beside their most helpful/harmful training images
#   correct                   Sec 6.3/C.3  error correction by fine-tuning on influential training points
#   augment                   Sec 6.4      the same with candidates the model never trained on
#   simulate                  C.1          explainability by simulation (simulator loss vs learning rate)
#   graph                     C.2          training <-> test influence graph, Tables 5 and 6
#   all                       everything above
#
# Data: Fashion-MNIST (Debian dataset-fashion-mnist), an mlp:32 trained on the
# first 10,000 training images (fm/train.mp); training images 10,000-19,999
# are a pool the model never saw (fm/pool.mp); the 10,000 test images split
# into validation (first 5,000, anchors come from here) and test (the rest).
# The bundled fine-food reviews (bow model) are used by `correct` as a second
# task (slice = the minority class "other"). Every result is a file under
# $(OUT); the scripts in pipelines/apps/ print the tables.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:

FASTIF ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BIN    ?= $(FASTIF)/bin
APPS   := $(FASTIF)/pipelines/apps
OUT    ?= out/apps
FMNIST ?= /usr/share/datasets/fashion-mnist
PY     ?= /usr/bin/python3
SEED   ?= 1
export BIN PY

FM := $(OUT)/fm
FF := $(OUT)/ff
FM_ARCH ?= mlp:32
FF_ARCH ?= bow:65536,32
FM_NTRAIN ?= 10000

# The settings each data file and model is made with (pipelines/common.mk).
KNOB_PATHS += FMNIST
KNOBS.fm-train := BIN FMNIST FM_NTRAIN
KNOBS.fm-test  := BIN FMNIST
KNOBS.fm-model := BIN FM_ARCH SEED
KNOBS.ff-data  := BIN
KNOBS.ff-model := BIN FF_ARCH SEED
include $(FASTIF)/pipelines/common.mk

.PHONY: all data explain-images correct correct-fm correct-ff augment simulate graph
all: explain-images correct graph simulate augment

data: $(FM)/model $(FF)/model

# ---- Fashion-MNIST --------------------------------------------------------
$(FM)/all-train.mp: $(BIN)/import-idx $(OUT)/.knobs-fm-train
	mkdir -p $(FM)
	$(BEGIN) $(FMNIST)/train-images-idx3-ubyte.gz $(FMNIST)/train-labels-idx1-ubyte.gz
	$(BIN)/import-idx --fashion --prefix tr- --limit $$(( 2 * $(FM_NTRAIN) )) \
	  --images $(FMNIST)/train-images-idx3-ubyte.gz --labels $(FMNIST)/train-labels-idx1-ubyte.gz > $@.tmp
	$(COMMIT)
$(FM)/train.mp: $(FM)/all-train.mp $(BIN)/pick $(OUT)/.knobs-fm-train
	$(BEGIN) $<
	$(BIN)/pick --head $(FM_NTRAIN) $< > $@.tmp
	$(COMMIT)
$(FM)/pool.mp: $(FM)/all-train.mp $(BIN)/pick $(OUT)/.knobs-fm-train
	$(BEGIN) $<
	$(BIN)/pick --skip $(FM_NTRAIN) $< > $@.tmp
	$(COMMIT)
$(FM)/all-test.mp: $(BIN)/import-idx $(OUT)/.knobs-fm-test
	mkdir -p $(FM)
	$(BEGIN) $(FMNIST)/t10k-images-idx3-ubyte.gz $(FMNIST)/t10k-labels-idx1-ubyte.gz
	$(BIN)/import-idx --fashion --prefix te- \
	  --images $(FMNIST)/t10k-images-idx3-ubyte.gz --labels $(FMNIST)/t10k-labels-idx1-ubyte.gz > $@.tmp
	$(COMMIT)
$(FM)/val.mp: $(FM)/all-test.mp $(BIN)/pick $(OUT)/.knobs-fm-test
	$(BEGIN) $<
	$(BIN)/pick --head 5000 $< > $@.tmp
	$(COMMIT)
$(FM)/test.mp: $(FM)/all-test.mp $(BIN)/pick $(OUT)/.knobs-fm-test
	$(BEGIN) $<
	$(BIN)/pick --skip 5000 $< > $@.tmp
	$(COMMIT)
$(FM)/model: $(FM)/train.mp $(BIN)/train $(OUT)/.knobs-fm-model
	$(BEGIN) $<
	$(BIN)/train --arch $(FM_ARCH) --epochs 10 --seed $(SEED) -o $@ < $<
$(FM)/test-pred.mp: $(FM)/model $(FM)/test.mp $(BIN)/eval $(OUT)/.knobs-fm-test
	$(BEGIN) $(FM)/test.mp
	$(BIN)/eval --model $(FM)/model < $(FM)/test.mp > $@.tmp
	$(COMMIT) $(FM)/test.mp

# ---- fine-food reviews ----------------------------------------------------
$(FF)/ff.csv: $(FASTIF)/examples/data/fine-foods.csv.xz $(OUT)/.knobs-ff-data
	mkdir -p $(FF)
	$(BEGIN) $<
	xz -dc $< > $@.tmp
	$(COMMIT)
$(FF)/train.mp: $(FF)/ff.csv $(BIN)/import-text $(OUT)/.knobs-ff-data
	$(BEGIN) $<
	$(BIN)/import-text --text review --label score --classes great,other --group product --where split=train $< > $@.tmp
	$(COMMIT)
$(FF)/all-test.mp: $(FF)/ff.csv $(BIN)/import-text $(OUT)/.knobs-ff-data
	$(BEGIN) $<
	$(BIN)/import-text --text review --label score --classes great,other --group product --where split=test $< > $@.tmp
	$(COMMIT)
$(FF)/val.mp: $(FF)/all-test.mp $(BIN)/pick $(OUT)/.knobs-ff-data
	$(BEGIN) $<
	$(BIN)/pick --head 500 $< > $@.tmp
	$(COMMIT)
$(FF)/test.mp: $(FF)/all-test.mp $(BIN)/pick $(OUT)/.knobs-ff-data
	$(BEGIN) $<
	$(BIN)/pick --skip 500 $< > $@.tmp
	$(COMMIT)
$(FF)/model: $(FF)/train.mp $(BIN)/train $(OUT)/.knobs-ff-model
	$(BEGIN) $<
	$(BIN)/train --arch $(FF_ARCH) --epochs 10 --seed $(SEED) -o $@ < $<

# ---- 5. explain images ----------------------------------------------------
explain-images: $(FM)/model $(FM)/train.mp $(FM)/test.mp $(FM)/test-pred.mp $(BIN)/picture
	OUT=$(OUT)/explain-images DIR=$(FM) $(APPS)/explain-images.sh

# ---- 1. error correction --------------------------------------------------
correct: correct-fm correct-ff
correct-fm: $(FM)/model $(FM)/train.mp $(FM)/val.mp $(FM)/test.mp
	OUT=$(OUT)/correct-fm DIR=$(FM) SLICE=6 TITLE="Fashion-MNIST, slice Shirt" POOL=$(FM)/train.mp $(APPS)/correct.sh
correct-ff: $(FF)/model $(FF)/train.mp $(FF)/val.mp $(FF)/test.mp
	OUT=$(OUT)/correct-ff DIR=$(FF) SLICE=1 TITLE="fine-food reviews, slice other" POOL=$(FF)/train.mp $(APPS)/correct.sh

# ---- 2. data augmentation -------------------------------------------------
augment: $(FM)/model $(FM)/train.mp $(FM)/pool.mp $(FM)/val.mp $(FM)/test.mp
	OUT=$(OUT)/augment-fm DIR=$(FM) SLICE=6 TITLE="Fashion-MNIST, slice Shirt, pool never trained on" POOL=$(FM)/pool.mp $(APPS)/correct.sh

# ---- 3. explainability by simulation --------------------------------------
simulate: $(FM)/model $(FM)/train.mp $(FM)/test.mp $(FM)/test-pred.mp
	OUT=$(OUT)/simulate DIR=$(FM) $(APPS)/simulate.sh

# ---- 4. influence-interaction graph ---------------------------------------
graph: $(FM)/model $(FM)/train.mp $(FM)/test.mp $(FM)/test-pred.mp
	OUT=$(OUT)/graph DIR=$(FM) $(APPS)/graph.sh
