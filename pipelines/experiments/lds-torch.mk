# pipelines/experiments/lds-torch.mk - the LDS table of a PyTorch model: the graph of
# pipelines/lds.mk with RETRAIN = examples/torch-cnn/train.py (lds-torch-retrain.sh),
# EVAL = python3 -m fastif_torch predictions, and the scoring methods that apply to a
# torch model (lds-torch-score.sh: gradients from python/fastif_torch, the rest from the
# fastif tools). pipelines/experiments/lds-torch.sh runs it (`make lds-torch`).
#
#   make -f pipelines/experiments/lds-torch.mk OUT=DIR TRAIN=train.mp TEST=test.mp \
#        [M=100 CNN_EPOCHS=20 MODEL_ARGS='{"c1": 4, "c2": 8, "hidden": 16}'] METHODS='ekfac identity' lds
FASTIF  := $(or $(FASTIF),$(abspath $(dir $(lastword $(MAKEFILE_LIST)))../..))
X       ?= $(FASTIF)/pipelines/experiments
PY      ?= /usr/bin/python3
# the model: examples/torch-cnn/model.py:CNN at these widths, on 1x28x28 images
NET        ?= $(FASTIF)/examples/torch-cnn/model.py:CNN
MODEL_ARGS ?= {"c1": 4, "c2": 8, "hidden": 16}
SHAPE      ?= 1,28,28
# train.py: Adam, CNN_EPOCHS over the subset, learning rate CNN_LR, minibatch CNN_BATCH,
# seed CNN_SEED (names of their own: experiments.mk exports EPOCHS and LR for its models)
CNN_EPOCHS ?= 20
CNN_LR     ?= 0.001
CNN_BATCH  ?= 64
CNN_SEED   ?= 1
RETRAIN ?= $(X)/lds-torch-retrain.sh --epochs $(CNN_EPOCHS) --lr $(CNN_LR) --batch $(CNN_BATCH) \
  --seed $(CNN_SEED) --model-args '$(MODEL_ARGS)'
# one torch thread per job: GNU parallel runs JOBS of them side by side
EVAL ?= OMP_NUM_THREADS=1 PYTHONPATH=$(FASTIF)/python $(PY) -m fastif_torch predictions \
  --model $(NET) --model-args '$(MODEL_ARGS)' --input-shape $(SHAPE) --state-dict

# SCORE.NAME: lds-torch-score.sh with the model, data and a scratch directory.
TS = $(X)/lds-torch-score.sh $(NET) '$(MODEL_ARGS)' $(SHAPE) $(MODEL) $(TRAIN) $(TEST) $(OUT)/work-$(1)
# Fisher solves: (F + DAMPING x scale I) s = v, scale auto = 2 x the top eigenvalue of
# single-example F (B = 1), as the Hessian rows of lds-methods.mk.
FSHIFT = --damping $(DAMPING) --scale auto --seed 1 -B 1
SCORE.identity      = $(call TS,identity) identity
SCORE.cosine        = $(call TS,cosine) cosine
SCORE.diag          = $(call TS,diag) curv:diag --damping $(CURV_DAMPING)
SCORE.kfac          = $(call TS,kfac) curv:kfac --damping $(CURV_DAMPING)
SCORE.ekfac         = $(call TS,ekfac) curv:ekfac --damping $(CURV_DAMPING)
SCORE.fisher-exact  = $(call TS,fisher-exact) fisher:gold --method exact $(FSHIFT) --group 500
SCORE.fisher-cg     = $(call TS,fisher-cg) fisher:gold --method cg $(FSHIFT) --group 500
SCORE.fisher-lissa  = $(call TS,fisher-lissa) fisher:gold --method lissa $(FSHIFT) -J 5000 -T 4
SCORE.tfisher-exact = $(call TS,tfisher-exact) fisher:sample --method exact $(FSHIFT) --group 500
# the same at a tenth and at 10 x the damping
TFX = $(call TS,$(1)) fisher:sample --method exact --damping $(2) --scale auto --seed 1 -B 1 --group 500
SCORE.tfisher-exact-1e-4 = $(call TFX,tfisher-exact-1e-4,0.0001)
SCORE.tfisher-exact-1e-2 = $(call TFX,tfisher-exact-1e-2,0.01)
DAMPING ?= 0.001
CURV_DAMPING ?= 0.1
# the adapter and the model's file count as tools of the scores
SCORE_DEPS ?= $(wildcard $(BIN)/ihvp $(BIN)/influence $(BIN)/curvature $(FASTIF)/python/fastif_torch/*.py \
  $(firstword $(subst :, ,$(NET))) $(X)/lds-torch-score.sh)
include $(FASTIF)/pipelines/lds.mk
