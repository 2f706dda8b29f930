# pipelines/torch-text.mk - a PyTorch transformer encoder's mistakes on the
# bundled fine-food reviews, explained with FastIF (make torch-text).
#
#   make -f pipelines/torch-text.mk [OUT=out/torch-text] [K=100] [METHOD=ekfac] [LAYERS=..] [M=5]
#
# import-text -> a word tokenizer (examples/torch-text/tokenizer.py, the
# vocabulary of the training reviews) -> train the nn.TransformerEncoder
# classifier of examples/torch-text/model.py from scratch in PyTorch ->
# its predictions on the test reviews -> the first NWRONG it gets wrong ->
# pipelines/torch.mk: kNN over the pooled encoder output (`pool`) -> K
# candidates -> layer-factor gradients of the top layers only (LAYERS: the
# last encoder layer and the head, as FastIF took BERT's top layers) ->
# EK-FAC fitted on FIT_N training reviews -> ihvp -> influence -> rank,
# printed with the reviews' text and class names (rank --text).
FASTIF := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
OUT    ?= out/torch-text
DATA   ?= $(FASTIF)/examples/data/fine-foods.csv.xz
# misclassified test reviews to explain
NWRONG ?= 4
VOCAB  ?= 8000
MAX_LEN ?= 64
EPOCHS ?= 3
LR     ?= 0.001
TRAIN_BATCH ?= 32
SEED   ?= 1
K      ?= 100
M      ?= 5
FIT_N  ?= 2000
LAYERS ?= enc.layers.1,head
TRAIN  := $(OUT)/train.mp
TEST   := $(OUT)/test.mp
QUERY  := $(OUT)/query.mp
STATE  := $(OUT)/encoder.pt
MODEL_PY   ?= $(FASTIF)/examples/torch-text/model.py:TextEncoder
MODEL_ARGS ?= {"vocab": $(VOCAB), "max_len": $(MAX_LEN)}
FT_INPUT   := --field tokens
FT_BATCH   ?= 32
EMB_MODULE ?= pool
QUERY_INFO := $(QUERY),$(OUT)/test-pred.mp
CLASSES    := great,other
TEXT_PY    := $(FASTIF)/examples/torch-text

KNOB_PATHS += DATA
KNOBS.data      := DATA
KNOBS.import    := BIN
KNOBS.tokens    := PY VOCAB MAX_LEN
KNOBS.encoder   := PY MODEL_ARGS EPOCHS LR TRAIN_BATCH SEED
KNOBS.test-pred := PY MODEL_PY MODEL_ARGS CLASSES
KNOBS.query     := BIN NWRONG

.DEFAULT_GOAL := torch-text
include $(FASTIF)/pipelines/torch.mk

.PHONY: torch-text
torch-text: $(OUT)/ranked.mp $(OUT)/scores.mp
	@echo
	@echo "== A PyTorch transformer encoder on the fine-food reviews: $(NWRONG) misclassified test reviews,"
	@echo "== their most helpful and harmful training reviews among the $(K) nearest ($(METHOD) influence"
	@echo "== over $(LAYERS); negative = helpful: upweighting it lowers this test loss; positive = harmful)"
	@echo
	@$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $(OUT)/scores.mp 2>/dev/null
	@echo "ranked stream: $(OUT)/ranked.mp (dump $(OUT)/ranked.mp shows it as JSON lines)"

$(OUT)/fine-foods.csv: $(DATA) $(OUT)/.knobs-data
	$(BEGIN) $<
	xz -dc $< > $@.tmp
	$(COMMIT)
$(OUT)/train-text.mp: $(OUT)/fine-foods.csv $(BIN)/import-text $(OUT)/.knobs-import
	$(BEGIN) $<
	$(BIN)/import-text --text review --label score --classes $(CLASSES) --group product --where split=train $< > $@.tmp
	$(COMMIT)
$(OUT)/test-text.mp: $(OUT)/fine-foods.csv $(BIN)/import-text $(OUT)/.knobs-import
	$(BEGIN) $<
	$(BIN)/import-text --text review --label score --classes $(CLASSES) --group product --where split=test $< > $@.tmp
	$(COMMIT)

# The vocabulary comes from the training reviews only.
$(TRAIN): $(OUT)/train-text.mp $(TEXT_PY)/tokenizer.py $(OUT)/.knobs-tokens
	$(BEGIN) $<
	PYTHONPATH=$(FASTIF)/python $(PY) $(TEXT_PY)/tokenizer.py --build-vocab $(OUT)/vocab.json \
	  --vocab $(VOCAB) --max-len $(MAX_LEN) < $< > $@.tmp
	$(COMMIT) $<
$(TEST): $(OUT)/test-text.mp $(TRAIN) $(TEXT_PY)/tokenizer.py $(OUT)/.knobs-tokens
	$(BEGIN) $<
	PYTHONPATH=$(FASTIF)/python $(PY) $(TEXT_PY)/tokenizer.py --vocab-file $(OUT)/vocab.json < $< > $@.tmp
	$(COMMIT) $<

# Training in PyTorch (a minute or two on 2 cores).
$(STATE): $(TRAIN) $(TEST) $(TEXT_PY)/train.py $(firstword $(subst :, ,$(MODEL_PY))) $(OUT)/.knobs-encoder
	$(BEGIN) $(TRAIN)
	PYTHONPATH=$(FASTIF)/python $(PY) $(TEXT_PY)/train.py --train $(TRAIN) --test $(TEST) --out $@ \
	  --model-args '$(MODEL_ARGS)' --epochs $(EPOCHS) --lr $(LR) --batch $(TRAIN_BATCH) --seed $(SEED)

$(OUT)/test-pred.mp: $(FT_DEPS) $(TEST) $(OUT)/.knobs-test-pred
	$(BEGIN) $(TEST)
	$(FT) predictions $(FT_MODEL) --classes '$(CLASSES)' < $(TEST) > $@.tmp
	$(COMMIT) $(TEST)

# The first NWRONG test reviews the encoder gets wrong.
$(QUERY): $(OUT)/test-pred.mp $(TEST) $(BIN)/pick $(OUT)/.knobs-query
	$(BEGIN) $< $(TEST)
	$(BIN)/pick --where 'pred!=label' --head $(NWRONG) $< > $(OUT)/wrong.mp
	$(BIN)/pick --ids $(OUT)/wrong.mp $(TEST) > $@.tmp
	$(COMMIT) $(OUT)/wrong.mp
