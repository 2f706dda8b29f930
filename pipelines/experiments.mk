# pipelines/experiments.mk - the FastIF paper's appendix B experiments on the
# bundled data (`make experiments` runs this file).
#
#   make -f pipelines/experiments.mk [OUT=out/experiments] [FASHION=0]
#
# B.1 kNN recall (Fig. 8), B.2 LiSSA speed/quality (Fig. 9), B.3 fast vs
# full correlations (Table 4), and wall time of fast vs full, on the
# fine-food reviews with a bow model; the timing also on Fashion-MNIST (60k)
# with an mlp. Tables go to stdout and to pipelines/experiments/RESULTS.md
# with the exact commands that made them. Scripts: pipelines/experiments/.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:
.NOTPARALLEL:   # the tables include wall times: one job at a time

FASTIF  ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BIN     ?= $(FASTIF)/bin
X       := $(FASTIF)/pipelines/experiments
OUT     ?= out/experiments
override OUT := $(abspath $(OUT))
RESULTS ?= $(X)/RESULTS.md
ARCH    ?= bow:65536,32
L2      ?= 1e-4
LR      ?= 0.01
EPOCHS  ?= 8
SEED    ?= 1
KS      ?= 10 50 100 200 500 1000 2000 4000
JS      ?= 100 300 1000 3000
BS      ?= 1 4 16 64
TS      ?= 1 4
REPS    ?= 3
FASHION ?= 1
FARCH   ?= mlp:32
FEPOCHS ?= 5
export FASTIF BIN OUT ARCH L2 LR EPOCHS SEED KS JS BS TS REPS FARCH FEPOCHS

SECTIONS := a b c d-ff $(if $(filter 1,$(FASHION)),d-fm e)
# The knobs each script reads (pipelines/common.mk): a changed knob reruns
# the sections that use it.
KNOB_PATHS += FASHION_DIR
KNOBS.prep    := BIN ARCH L2 LR EPOCHS SEED
KNOBS.fm-prep := BIN FARCH L2 FEPOCHS SEED FASHION_DIR
KNOBS.a       := BIN KS
KNOBS.b       := BIN JS BS TS SEED
KNOBS.c       := BIN SEED
KNOBS.d-ff    := BIN REPS SEED
KNOBS.d-fm    := BIN SEED
KNOBS.e       := BIN SEED FASHION_DIR
KNOBS.results := BIN ARCH L2 LR EPOCHS SEED REPS FARCH FEPOCHS SECTIONS
include $(FASTIF)/pipelines/common.mk
# run a script with its own command list and log: $(call run,NAME,SCRIPT ARGS)
run = rm -f $(OUT)/$(1).cmds; CMDS=$(OUT)/$(1).cmds LOG=$(OUT)/$(1).log $(X)/$(2)

.PHONY: all
all: $(RESULTS)

# Every result depends on the tools and the scripts that made it: rebuilt
# tools or edited scripts rerun the experiments.
DEPS := $(wildcard $(BIN)/*) $(wildcard $(X)/*.sh $(X)/*.py)

$(OUT)/prep.done: $(DEPS) $(OUT)/.knobs-prep
	$(call run,prep,prep.sh)
	touch $@
$(OUT)/fm-prep.done: $(DEPS) $(OUT)/.knobs-fm-prep
	$(call run,fm-prep,fashion-prep.sh)
	touch $@
$(OUT)/a.md: $(OUT)/prep.done $(OUT)/.knobs-a
	$(BEGIN)
	$(call run,a,recall.sh) > $@.tmp
	$(COMMIT)
$(OUT)/b.md: $(OUT)/prep.done $(OUT)/.knobs-b
	$(BEGIN)
	$(call run,b,lissa.sh) > $@.tmp
	$(COMMIT)
$(OUT)/c.md: $(OUT)/prep.done $(OUT)/.knobs-c
	$(BEGIN)
	$(call run,c,fastfull.sh) > $@.tmp
	$(COMMIT)
$(OUT)/d-ff.md: $(OUT)/prep.done $(OUT)/.knobs-d-ff
	$(BEGIN)
	$(call run,d-ff,timing.sh ff model train.mp q20.mp pred.mp "--method exact --damping 0" 100 1000) > $@.tmp
	$(COMMIT)
$(OUT)/d-fm.md: $(OUT)/fm-prep.done $(OUT)/.knobs-d-fm
	$(BEGIN)
	export REPS=1; $(call run,d-fm,timing.sh fm fm/model fm/train.mp fm/q10.mp fm/pred.mp "--method cg --damping 0.005 --scale auto --seed $(SEED)" 1000) > $@.tmp
	$(COMMIT)

# e: curvature from gradient streams (curvature.sh) against the exact GGN solve
$(OUT)/e.md: $(DEPS) $(OUT)/.knobs-e
	$(BEGIN)
	$(call run,e,curvature.sh) > $@.tmp
	$(COMMIT)

$(RESULTS): $(SECTIONS:%=$(OUT)/%.md) $(X)/assemble.sh $(OUT)/.knobs-results
	$(X)/assemble.sh $(SECTIONS) > $@.tmp
	mv $@.tmp $@
	cat $@

# The linear datamodeling score, leave-one-out on an mlp and mislabel detection
# (`make lds`, pipelines/experiments/lds.sh): long, so not part of `all`.
LDS_RESULTS ?= $(X)/LDS.md
LDS_M   ?= 100
export LDS_M
KNOBS.lds-table := BIN SEED LDS_M ARCH L2 LR EPOCHS FASHION_DIR
.PHONY: lds
lds: $(LDS_RESULTS)
$(LDS_RESULTS): $(DEPS) $(wildcard $(X)/*.mk) $(FASTIF)/pipelines/lds.mk $(wildcard $(FASTIF)/pipelines/lds/*) $(OUT)/.knobs-lds-table
	$(call run,lds,lds.sh) > $@.tmp
	$(X)/lds-torch-section.sh get $@ > $@.torch   # make lds-torch's section, kept
	if [ -s $@.torch ]; then echo >> $@.tmp; cat $@.torch >> $@.tmp; fi; rm -f $@.torch
	mv $@.tmp $@
	cat $@

# The PyTorch CNN's rows (`make lds-torch`, pipelines/experiments/lds-torch.sh): a
# section of LDS.md of its own, between marker lines that `make lds` keeps.
LDS_TORCH_M ?= 100
KNOBS.lds-torch := BIN SEED LDS_TORCH_M FASHION_DIR LDS_TORCH_EPOCHS LDS_TORCH_ARGS LDS_TORCH_N LDS_TORCH_NTEST LDS_TORCH_METHODS
.PHONY: lds-torch
lds-torch: $(OUT)/lds-torch.md
	$(X)/lds-torch-section.sh put $(LDS_RESULTS) < $<
	cat $<
$(OUT)/lds-torch.md: $(DEPS) $(X)/lds-torch.mk $(FASTIF)/pipelines/lds.mk $(wildcard $(FASTIF)/pipelines/lds/*) \
    $(wildcard $(FASTIF)/examples/torch-cnn/*.py $(FASTIF)/python/fastif_torch/*.py) $(OUT)/.knobs-lds-torch
	rm -f $(OUT)/lds-torch.cmds; LDS_M=$(LDS_TORCH_M) CMDS=$(OUT)/lds-torch.cmds LOG=$(OUT)/lds-torch.log \
	  $(X)/lds-torch.sh > $@.tmp
	mv $@.tmp $@

# Issue 13's measurement (pipelines/experiments/trust.sh): a user-like
# Fashion-MNIST head, the default pipeline against exact influence, before and
# after the issue's defaults, ggn against full on an mlp head. A few minutes,
# so its own target: `make trust` (or -f pipelines/experiments.mk trust).
TRUST_RESULTS ?= $(X)/TRUST.md
KNOBS.trust := BIN SEED FASHION_DIR
.PHONY: trust
trust: $(TRUST_RESULTS)
$(TRUST_RESULTS): $(DEPS) $(OUT)/.knobs-trust
	mkdir -p $(OUT)/trust
	OUT=$(OUT)/trust CMDS=$(OUT)/trust.cmds LOG=$(OUT)/trust.log $(X)/trust.sh > $(OUT)/trust.md
	{ echo '# Issue 13: answers a user can trust by default (make trust)'; echo; \
	  echo "Made $$(date -u +%F) by \`make trust\` on this 2-core machine (shared with other jobs); the commands:"; \
	  echo; sed 's/^/    /' $(OUT)/trust.cmds; echo; cat $(OUT)/trust.md; } > $@.tmp
	mv $@.tmp $@
	cat $@
