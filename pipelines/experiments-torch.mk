# pipelines/experiments-torch.mk - the PyTorch checks of issue 15 (make
# experiments-torch; results in pipelines/experiments/RESULTS.md):
#
#   ggn      EK-FAC, K-FAC, Fisher CG and grad-dot influence against exact
#            Gauss-Newton influence (dense GGN, solve) in PyTorch, P = 3,146
#   correct  error correction (FastIF Sec. 6.3) with the PyTorch CNN: helpful
#            vs random vs harmful vs anchors, 3 repetitions
#
#   make -f pipelines/experiments-torch.mk [OUT=out/experiments-torch] [ggn|correct]
# Each writes $(OUT)/NAME/result.txt (the table) from a fresh directory.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
FASTIF ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BIN    ?= $(FASTIF)/bin
PY     ?= /usr/bin/python3
OUT    ?= out/experiments-torch
EXP    := $(FASTIF)/pipelines/experiments
export BIN

.PHONY: all ggn correct
all: ggn correct
ggn correct:
	rm -rf $(OUT)/$@ && mkdir -p $(OUT)/$@
	$(PY) $(EXP)/torch-$@.py $(OUT)/$@ > $(OUT)/$@/result.txt.tmp
	mv $(OUT)/$@/result.txt.tmp $(OUT)/$@/result.txt
	cat $(OUT)/$@/result.txt
