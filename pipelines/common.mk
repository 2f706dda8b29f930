# pipelines/common.mk - what the make graphs share. Include it once OUT and
# BIN are set; it defines $(OUT)/.dir, the knob stamps and the step checks.
#
# Knob stamps: a target with $(OUT)/.knobs-NAME among its prerequisites is
# remade when the settings it was made with change. KNOBS.NAME lists them
# (BIN, the options its recipe passes, the paths of its inputs); the stamp
# holds them one VAR=value a line and is rewritten only when that text
# changes, so a new K remakes what used K and nothing else. The comparison
# happens when make considers the stamp, so `make -n` shows what a run would
# redo and writes nothing. Variables in KNOB_PATHS are recorded as absolute
# paths (comma lists too), so out/x and ./out/x are the same setting.
#
# Steps: $(BEGIN) INPUT.. removes a stale $@ and $@.tmp and stops unless
# every INPUT holds records; the recipe writes $@.tmp; $(COMMIT) [REF] then
# renames it to $@ if it holds records (as many as REF, when given), and
# otherwise removes it and fails (pipelines/step.sh). A failed or killed
# step leaves at most $@.tmp, which nothing reads: no $@ that counts as made.
# Restored at the end: the rules here are never the default goal.
common_goal := $(.DEFAULT_GOAL)
PIPELINES := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
WHO       := $(notdir $(firstword $(MAKEFILE_LIST)))
STEP       = STEP_WHO=$(WHO) STEP_PICK=$(BIN)/pick $(PIPELINES)/step.sh
BEGIN      = @$(STEP) begin $@
COMMIT     = @$(STEP) commit $@

comma := ,
KNOB_PATHS += BIN
knob_value = $(if $(filter $(1),$(KNOB_PATHS)),$(abspath $(subst $(comma), ,$($(1)))),$(strip $($(1))))
knob_text  = $(foreach v,$(KNOBS.$(1)),'$(subst ','\'',$(v)=$(call knob_value,$(v)))')
# FORCE when stamp $(2) does not hold the text of KNOBS.$(1)
knobs_changed = $(shell printf '%s\n' $(call knob_text,$(1)) | cmp -s - $(2) || echo FORCE)

$(OUT)/.dir:
	mkdir -p $(OUT) && touch $@

.SECONDEXPANSION:
$(OUT)/.knobs-%: $$(call knobs_changed,$$*,$$@) | $(OUT)/.dir
	$(if $(KNOBS.$*),,$(error $(WHO): $@ needs a KNOBS.$* list))
	@printf '%s\n' $(call knob_text,$*) > $@.tmp && mv -f $@.tmp $@

.PHONY: FORCE
FORCE:

.DEFAULT_GOAL := $(common_goal)
