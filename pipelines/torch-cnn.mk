# pipelines/torch-cnn.mk - a PyTorch CNN's mistakes on Fashion-MNIST,
# explained with FastIF (make torch-cnn).
#
#   make -f pipelines/torch-cnn.mk [OUT=out/torch-cnn] [K=100] [METHOD=ekfac] [DAMPING=..] [M=5]
#
# import-idx (Debian's dataset-fashion-mnist) -> train the CNN of
# examples/torch-cnn/model.py in PyTorch (EPOCHS, Adam) -> its predictions on
# the test images -> the first NWRONG it gets wrong -> pipelines/torch.mk:
# kNN over the penultimate layer (fc1) -> K candidates -> layer-factor
# gradients of every layer (fastif_torch) -> EK-FAC fitted on FIT_N training
# examples -> ihvp -> influence -> rank -> $(OUT)/explain.png and the table.
FASTIF := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
OUT    ?= out/torch-cnn
FMNIST ?= /usr/share/datasets/fashion-mnist
# training and test images imported (Fashion-MNIST has 60,000 and 10,000)
N_TRAIN ?= 60000
N_TEST  ?= 10000
# misclassified test images to explain
NWRONG ?= 8
EPOCHS ?= 2
LR     ?= 0.001
TRAIN_BATCH ?= 64
SEED   ?= 1
K      ?= 100
M      ?= 5
FIT_N  ?= 2000
TRAIN  := $(OUT)/train.mp
TEST   := $(OUT)/test.mp
QUERY  := $(OUT)/query.mp
STATE  := $(OUT)/cnn.pt
MODEL_PY   ?= $(FASTIF)/examples/torch-cnn/model.py:CNN
MODEL_ARGS ?= {}
FT_INPUT   := --input-shape 1,28,28
EMB_MODULE ?= fc1
QUERY_INFO := $(QUERY),$(OUT)/test-pred.mp
CLASSES := T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot
# Fashion-MNIST is ink on paper: high values dark.
PICTURE_OPTS ?= --invert
PICTURE_TITLE ?= PyTorch CNN on Fashion-MNIST: test image | most helpful training images | most harmful training images ($(METHOD) influence; negative helps)
TRAIN_PY := $(FASTIF)/examples/torch-cnn/train.py

KNOB_PATHS += FMNIST
KNOBS.import-train := BIN FMNIST N_TRAIN
KNOBS.import-test  := BIN FMNIST N_TEST
KNOBS.cnn          := PY MODEL_ARGS EPOCHS LR TRAIN_BATCH SEED
KNOBS.test-pred    := PY MODEL_PY MODEL_ARGS CLASSES
KNOBS.query        := BIN NWRONG

.DEFAULT_GOAL := torch-cnn
include $(FASTIF)/pipelines/torch.mk

.PHONY: torch-cnn
torch-cnn: $(OUT)/ranked.mp $(OUT)/scores.mp $(OUT)/explain.png
	@echo
	@echo "== A PyTorch CNN on Fashion-MNIST: $(NWRONG) misclassified test images, their most helpful"
	@echo "== and harmful training images among the $(K) nearest in fc1 ($(METHOD) influence over every layer;"
	@echo "== negative = helpful: upweighting it lowers this test loss; positive = harmful)"
	@echo
	@$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $(OUT)/scores.mp 2>/dev/null
	@echo "picture: $(OUT)/explain.png   ranked stream: $(OUT)/ranked.mp"

$(TRAIN): $(BIN)/import-idx $(OUT)/.knobs-import-train
	$(BEGIN) $(FMNIST)/train-images-idx3-ubyte.gz $(FMNIST)/train-labels-idx1-ubyte.gz
	$(BIN)/import-idx --fashion --prefix tr- --limit $(N_TRAIN) --images $(FMNIST)/train-images-idx3-ubyte.gz \
	  --labels $(FMNIST)/train-labels-idx1-ubyte.gz > $@.tmp
	$(COMMIT)
$(TEST): $(BIN)/import-idx $(OUT)/.knobs-import-test
	$(BEGIN) $(FMNIST)/t10k-images-idx3-ubyte.gz $(FMNIST)/t10k-labels-idx1-ubyte.gz
	$(BIN)/import-idx --fashion --prefix te- --limit $(N_TEST) --images $(FMNIST)/t10k-images-idx3-ubyte.gz \
	  --labels $(FMNIST)/t10k-labels-idx1-ubyte.gz > $@.tmp
	$(COMMIT)

# Training in PyTorch (about a minute for 2 epochs of 60,000 on 2 cores).
$(STATE): $(TRAIN) $(TEST) $(TRAIN_PY) $(firstword $(subst :, ,$(MODEL_PY))) $(OUT)/.knobs-cnn
	$(BEGIN) $(TRAIN)
	PYTHONPATH=$(FASTIF)/python $(PY) $(TRAIN_PY) --train $(TRAIN) --test $(TEST) --out $@ \
	  --model-args '$(MODEL_ARGS)' --epochs $(EPOCHS) --lr $(LR) --batch $(TRAIN_BATCH) --seed $(SEED)

$(OUT)/test-pred.mp: $(FT_DEPS) $(TEST) $(OUT)/.knobs-test-pred
	$(BEGIN) $(TEST)
	$(FT) predictions $(FT_MODEL) --classes '$(CLASSES)' < $(TEST) > $@.tmp
	$(COMMIT) $(TEST)

# The first NWRONG test images the CNN gets wrong.
$(QUERY): $(OUT)/test-pred.mp $(TEST) $(BIN)/pick $(OUT)/.knobs-query
	$(BEGIN) $< $(TEST)
	$(BIN)/pick --where 'pred!=label' --head $(NWRONG) $< > $(OUT)/wrong.mp
	$(BIN)/pick --ids $(OUT)/wrong.mp $(TEST) > $@.tmp
	$(COMMIT) $(OUT)/wrong.mp
