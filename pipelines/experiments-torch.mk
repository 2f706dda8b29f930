# pipelines/experiments-torch.mk - the PyTorch checks of issue 15 (make
# experiments-torch; results in pipelines/experiments/RESULTS.md):
#
#   ggn      EK-FAC, K-FAC, Fisher CG and grad-dot influence against exact
#            Gauss-Newton influence (dense GGN, solve) in PyTorch, P = 3,146
#   correct  error correction (FastIF Sec. 6.3) with the PyTorch CNN: helpful
#            vs random vs harmful vs anchors, 3 repetitions
#
#   make -f pipelines/experiments-torch.mk [OUT=out/experiments-torch] [ggn|correct]
# Each writes $(OUT)/NAME/result.txt (the table) from a fresh directory; `all`
# then writes both, with the commands, to pipelines/experiments/TORCH.md.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
FASTIF ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BIN    ?= $(FASTIF)/bin
PY     ?= /usr/bin/python3
OUT    ?= out/experiments-torch
EXP    := $(FASTIF)/pipelines/experiments
RESULTS ?= $(EXP)/TORCH.md
# a script's docstring, the description of its experiment
DOC = $(PY) -c 'import ast, sys; print(ast.get_docstring(ast.parse(open(sys.argv[1]).read())))'
export BIN

.PHONY: all ggn correct results
all: ggn correct
	$(MAKE) --no-print-directory -f $(lastword $(MAKEFILE_LIST)) results
results:
	{ echo "# PyTorch checks (make experiments-torch)"; echo; \
	  echo "Made by \`make experiments-torch\` (pipelines/experiments-torch.mk) on $$(date -u +%F) (UTC), 2 cores"; \
	  echo "shared with other jobs, fastif at git $$(git -C $(FASTIF) describe --always --dirty 2>/dev/null || echo '?')."; \
	  echo "Every score comes from the fastif tools on records written by python/fastif_torch; the"; \
	  echo "scripts only train, compute the PyTorch reference and compare."; echo; \
	  echo "## Influence against exact Gauss-Newton influence"; echo; \
	  $(DOC) $(EXP)/torch-ggn.py; echo; \
	  echo '```'; echo "make -f pipelines/experiments-torch.mk ggn   # pipelines/experiments/torch-ggn.py OUT"; \
	  cat $(OUT)/ggn/result.txt; echo '```'; echo; \
	  echo "## Error correction (FastIF Sec. 6.3) with the PyTorch CNN"; echo; \
	  $(DOC) $(EXP)/torch-correct.py; echo; \
	  echo '```'; echo "make -f pipelines/experiments-torch.mk correct   # pipelines/experiments/torch-correct.py OUT"; \
	  cat $(OUT)/correct/result.txt; echo '```'; } > $(RESULTS).tmp
	mv $(RESULTS).tmp $(RESULTS)
ggn correct:
	rm -rf $(OUT)/$@ && mkdir -p $(OUT)/$@
	$(PY) $(EXP)/torch-$@.py $(OUT)/$@ > $(OUT)/$@/result.txt.tmp
	mv $(OUT)/$@/result.txt.tmp $(OUT)/$@/result.txt
	cat $(OUT)/$@/result.txt
