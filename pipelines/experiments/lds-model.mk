# pipelines/experiments/lds-model.mk - one model's LDS table: the graph of pipelines/lds.mk
# with the scoring methods of lds-methods.mk (pipelines/experiments/lds.mk runs it).
FASTIF  := $(or $(FASTIF),$(abspath $(dir $(lastword $(MAKEFILE_LIST)))../..))
include $(FASTIF)/pipelines/experiments/lds-methods.mk
include $(FASTIF)/pipelines/lds.mk
