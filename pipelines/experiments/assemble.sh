#!/bin/bash
# assemble.sh SECTION... - RESULTS.md from the section tables and command logs.
set -eu -o pipefail
: "${OUT:?}" "${FASTIF:?}"
cd "$OUT"
cmds() { # NAME: the commands of a section as a sh block
  echo; echo '<details><summary>commands</summary>'; echo; echo '```sh'
  cat "$1.cmds"; echo '```'; echo; echo '</details>'; echo
}
acc() { grep -Eo 'accuracy [0-9.]+ \([0-9/]+\)' "$1" | tail -n 1; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
rev=$(git -C "$FASTIF" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat <<HEAD
# FastIF appendix B on the bundled data

Made by \`make experiments\` (pipelines/experiments.mk) on $(date -u +%Y-%m-%d) (UTC),
$(nproc) cores ($cpu), fastif at git $rev (plus uncommitted changes, if any).
Commands run in \`${OUT#"$FASTIF"/}\` with \`bin/\` and \`pipelines/experiments/\` on PATH
(paths relative to the repository);
every influence value and s_test below comes from the fastif tools, and
\`stats.py\` only compares them (numpy). Nothing was tuned toward these numbers.

Data: fine-food reviews, 4,000 train / 1,000 test; model \`$ARCH\`, l2 $L2,
lr $LR, $EPOCHS epochs, seed $SEED: test $(acc prep.log). Influence is over
the default parameters (the classifier layer, P = 66: the embedding table is
left out, as FastIF left BERT's lower layers out). Test points: the first n/2
correctly and first n/2 wrongly predicted test reviews, in file order.
HEAD
cmds prep
for s in "$@"; do
  case $s in
  a) cat <<'T'
## B.1 kNN recall (Fig. 8 analog)

100 test points (50 correct, 50 wrong). Ground truth: influence over all 4,000
training points with the exact s_test of the undamped Hessian
(pseudo-inverse: the softmax bias direction has zero curvature). For each
test point, the top-m helpful (most negative), harmful (most positive) and
|influence| training points; R@m = fraction of them inside the kNN top-k
(IndexFlatL2 on the classifier input), mean over test points. Random
selection of k points would give k/N.
T
  ;;
  b) cat <<'T'
## B.2 LiSSA speed/quality (Fig. 9 analog)

8 test points (4 correct, 4 wrong); LiSSA with damping 5e-3, scale auto
(2 x the largest batch-Hessian eigenvalue found, so it depends on B), seed
fixed. Its fixed point is (H + shift I)^-1 v with shift = damping x scale.
"exact(same shift)" solves that same system exactly (LiSSA's own error);
"exact(undamped)" is the true H^-1 v (LiSSA's error plus the damping's bias).
Errors and cosines are of the s_test vectors, mean over the 8 test points;
Pearson is of the influence values over all 4,000 training points against
the undamped exact ones. Wall time is the whole `ihvp` process for all 8
test points (2 threads; T repeats run in parallel).
T
  ;;
  c) cat <<'T'
## B.3 fast vs full (Table 4 analog)

20 test points (10 correct, 10 wrong). Fast: kNN top-k candidates, LiSSA
B=1, J=1000, T repeats, damping 5e-3, scale auto, influence on the
candidates only. Full: influence over all training points with the exact
s_test; correlations are over the k candidates of each test point, then
mean (and min) over the 20 test points. "exact_damped" rows score the
candidates with the exact solve of the damped system LiSSA solves.
T
  ;;
  d-ff) cat <<'T'
## Wall time, fine-food (20 test points)

Full: exact undamped s_test (P = 66, so a dense solve is cheap) and
influence over all 4,000 training points. Fast: embed the test points, kNN
top-k, LiSSA (B=1, J=1000, damping 5e-3, scale auto), influence on the
candidates.
T
  echo "Median of $REPS runs; $(nproc) cores, a shared machine."
  ;;
  d-fm) cat <<'T'
## Wall time, Fashion-MNIST 60k (10 test points)

T
  echo "Model \`$FARCH\`, l2 $L2, $FEPOCHS epochs (adam), seed $SEED: test $(acc fm-prep.log); influence over all"
  echo "parameters (P = $(grep -Eo '[0-9]+ parameters' d-fm.log | head -n 1 | cut -d' ' -f1))."
  echo "Undamped CG on the first test point: \`$(cat fm/undamped.txt)\`."
  if grep -q 'non-positive curvature' fm/undamped.txt; then
    echo "So the undamped Hessian of this (not fully converged) mlp is indefinite, and"
  else
    echo "For comparability with the fast setting,"
  fi
  cat <<'T'
Full here is CG on the same damped system the fast LiSSA solves (damping
5e-3, scale auto; the shift is printed below) over all 60,000 training
points, then influence over all of them; Fast is kNN top-k + LiSSA +
influence on the candidates. One run each.
T
  echo; cmds fm-prep
  ;;
  e) cat <<'T'
## Curvature from gradient streams against the exact Gauss-Newton solve

Influence scores with s_test from curvature fitted on the training
gradients alone (`curvature`, `ihvp --curvature`, `ihvp --fisher`: no
Hessian of the model), correlated with those of the exact solve of the
Gauss-Newton matrix (`ihvp --hessian ggn --method exact`) on a small mlp,
at comparable ridges (pipelines/experiments/curvature.sh).
T
  ;;
  esac
  echo
  cat "$s.md"
  cmds "$s"
done
