# pipelines/experiments/lds-methods.mk - the scoring methods of the LDS table, one line each:
# SCORE.NAME is a command writing scores records for every test point (pipelines/lds.mk
# runs and times it). A new method is one more line here and its name in METHODS.
# $(call S,NAME) = lds-score.sh with the model, data and a scratch directory.
S = $(X)/lds-score.sh $(MODEL) $(TRAIN) $(TEST) $(OUT)/work-$(1)
# Every iterative solve is of (H + DAMPING * scale * I) s = v, scale auto = 2 x the top
# eigenvalue of single-example Hessians (LiSSA's B = 1), so all share one shift. The
# Hessian is spelled out (ihvp's default is the Gauss-Newton matrix on an mlp); the ggn
# rows put G in its place.
SHIFT = --damping $(1) --scale auto --seed 1 -B 1 --hessian full
SHIFT_GGN = --damping $(1) --scale auto --seed 1 -B 1 --hessian ggn
SCORE.exact        = $(call S,exact) full --method exact --damping 0 --group 500
SCORE.exact-damped = $(call S,exact-damped) full --method exact $(call SHIFT,$(DAMPING)) --group 500
SCORE.cg           = $(call S,cg) full --method cg $(call SHIFT,$(CG_DAMPING)) --group 500
SCORE.lissa        = $(call S,lissa) full --method lissa $(call SHIFT,$(DAMPING)) -J 5000 -T 4
SCORE.fastlissa    = $(call S,fastlissa) full --method lissa $(call SHIFT,$(DAMPING)) -J 1000 -T 1
SCORE.fastif       = $(call S,fastif) knn:$(K) --method lissa $(call SHIFT,$(DAMPING)) -J 1000 -T 1
SCORE.fastif-paper = $(call S,fastif-paper) knn:$(K) --method lissa $(call SHIFT,0.005) -J 1000 -T 1
SCORE.cg-paper     = $(call S,cg-paper) full --method cg $(call SHIFT,0.005) --group 500
SCORE.ggn          = $(call S,ggn) full --method cg $(call SHIFT_GGN,$(GGN_DAMPING)) --group 500
SCORE.ggn-lissa    = $(call S,ggn-lissa) full --method lissa $(call SHIFT_GGN,$(DAMPING)) -J 5000 -T 4
# curvature fitted from factored training gradients (curvature --method), no model oracle;
# ridge = CURV_DAMPING x each block's mean eigenvalue (Kronfluence's heuristic)
SCORE.kfac         = $(call S,kfac) curv:kfac --damping $(CURV_DAMPING)
SCORE.ekfac        = $(call S,ekfac) curv:ekfac --damping $(CURV_DAMPING)
SCORE.diag         = $(call S,diag) curv:diag --damping $(CURV_DAMPING)
SCORE.identity     = $(call S,identity) identity
SCORE.cosine       = $(call S,cosine) cosine
# the solvers' damping (FastIF's is 0.005: the -paper rows), CG's, FastIF's kNN candidates
DAMPING ?= 0.001
CG_DAMPING ?= $(DAMPING)
GGN_DAMPING ?= $(CG_DAMPING)
CURV_DAMPING ?= 0.1
K ?= 1000
X ?= $(FASTIF)/pipelines/experiments
