# pipelines/demo.mk - the main job (make demo): explain a text classifier's
# mistakes on the bundled fine-food reviews with FastIF.
#
# import -> train a bag-of-ngrams model -> find misclassified test reviews ->
# kNN candidates -> LiSSA s_test -> influence -> rank, printed for a terminal;
# the ranked stream is kept in $(OUT)/ranked.mp.
FASTIF := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
OUT    ?= out/demo
DATA   ?= $(FASTIF)/examples/data/fine-foods.csv.xz
# misclassified reviews to explain
NWRONG ?= 3
TRAIN  := $(OUT)/train.mp
TEST   := $(OUT)/test.mp
QUERY  := $(OUT)/query.mp
MODEL  := $(OUT)/model
QUERY_INFO := $(QUERY),$(OUT)/test-pred.mp
ARCH   ?= bow:65536,32
EPOCHS ?= 8
LR     ?= 0.01
L2     ?= 0.0001
K      ?= 500
M      ?= 5
# The settings of the demo's own targets (pipelines/common.mk).
KNOB_PATHS += DATA
KNOBS.data      := DATA
KNOBS.import    := BIN
KNOBS.test-pred := BIN
KNOBS.query     := BIN NWRONG

.DEFAULT_GOAL := demo
include $(FASTIF)/pipelines/fastif.mk

.PHONY: demo
demo: $(OUT)/ranked.mp $(OUT)/scores.mp
	@echo
	@echo "== FastIF on the fine-food reviews: $(NWRONG) misclassified test reviews, their most helpful"
	@echo "== and harmful training reviews among the $(K) nearest (influence = -grad L(z_i) . s_test;"
	@echo "== negative = helpful: upweighting it lowers this test loss; positive = harmful)"
	@echo
	@$(BIN)/rank -m $(M) --join $(TRAIN) --query $(QUERY_INFO) --text < $(OUT)/scores.mp 2>/dev/null
	@echo "ranked stream: $(OUT)/ranked.mp (dump $(OUT)/ranked.mp shows it as JSON lines)"

$(OUT)/fine-foods.csv: $(DATA) $(OUT)/.knobs-data
	$(BEGIN) $<
	xz -dc $< > $@.tmp
	$(COMMIT)

$(TRAIN): $(OUT)/fine-foods.csv $(BIN)/import-text $(OUT)/.knobs-import
	$(BEGIN) $<
	$(BIN)/import-text --text review --label score --classes great,other --group product --where split=train $< > $@.tmp
	$(COMMIT)
$(TEST): $(OUT)/fine-foods.csv $(BIN)/import-text $(OUT)/.knobs-import
	$(BEGIN) $<
	$(BIN)/import-text --text review --label score --classes great,other --group product --where split=test $< > $@.tmp
	$(COMMIT)

$(OUT)/test-pred.mp: $(MODEL) $(TEST) $(BIN)/eval $(OUT)/.knobs-test-pred
	$(BEGIN) $(TEST)
	$(BIN)/eval --model $(MODEL) < $(TEST) > $@.tmp
	$(COMMIT) $(TEST)

# The first NWRONG test reviews the model gets wrong.
$(QUERY): $(OUT)/test-pred.mp $(TEST) $(BIN)/pick $(OUT)/.knobs-query
	$(BEGIN) $< $(TEST)
	$(BIN)/pick --where 'pred!=label' --head $(NWRONG) $(OUT)/test-pred.mp > $(OUT)/wrong.mp
	$(BIN)/pick --ids $(OUT)/wrong.mp $(TEST) > $@.tmp
	$(COMMIT) $(OUT)/wrong.mp
