/* ihvp - inverse Hessian-vector products s_test = (H + damping*scale*I)^-1 v
 * for test gradients (formats/ihvp.md). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lissa.h"
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

typedef struct {          /* one input record in a group */
  char *id;
  int64_t ex;             /* example index in the test set, or -1 (a "grad" record) */
} slot;

typedef struct {          /* ihvp --combine: one id's records */
  char *id, *method, *params, *label;
  int64_t depth, batch, seed, total, first;
  double scale, damping, shift;
  int64_t nparts, cap;
  int64_t *off, *cnt;     /* repeat_offset, sum_of per part */
  float **vec;
  int64_t P;
} cgroup;

static const char *rec_str_or(const fi_record *rec, const char *key, const char *def) {
  const char *s = fi_rec_str(rec, key, NULL, 0);
  return s ? s : def;
}

static int64_t rec_int(const fi_record *rec, const char *key) {
  int64_t v = 0;
  fi_rec_int(rec, key, &v, 1);
  return v;
}

static double rec_double(const fi_record *rec, const char *key) {
  double v = 0;
  fi_rec_double(rec, key, &v, 1);
  return v;
}

static int cmp_part(const void *a, const void *b, void *g) {
  const cgroup *G = g;
  int64_t x = G->off[*(const int64_t *)a], y = G->off[*(const int64_t *)b];
  return x < y ? -1 : x > y;
}

/* Averages LiSSA records that share an id, weighted by sum_of, summing in
 * repeat order in double: T single-repeat records (offsets 0..T-1) give
 * exactly the bits of one --repeats T run. */
static void combine(int nfiles, char **files) {
  cgroup *gs = NULL;
  int64_t ng = 0, gcap = 0, nrec = 0;
  for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
    fi_reader *r = fi_reader_open(nfiles ? files[f] : "-");
    const fi_record *rec;
    while ((rec = fi_read(r))) {
      const char *id = fi_rec_id(rec);
      const char *method = rec_str_or(rec, "method", "?");
      if (strcmp(method, "lissa"))
        fi_rec_die(rec, "--combine averages LiSSA repeats; this record's method is '%s'", method);
      const float *v;
      int64_t P = fi_rec_f32(rec, "ihvp", -1, &v, 1);
      int64_t off = rec_int(rec, "repeat_offset"), cnt = rec_int(rec, "sum_of");
      if (cnt < 1 || off < 0) fi_rec_die(rec, "bad sum_of %lld or repeat_offset %lld", (long long)cnt, (long long)off);
      cgroup *g = NULL;
      for (int64_t i = 0; i < ng; i++)
        if (!strcmp(gs[i].id, id)) g = &gs[i];
      const char *params = rec_str_or(rec, "params", "default"), *label = rec_str_or(rec, "label", "gold");
      if (!g) {
        if (ng == gcap) gs = fi_realloc(gs, fi_mul_size(gcap = gcap ? 2 * gcap : 16, sizeof *gs, "groups"));
        g = &gs[ng++];
        memset(g, 0, sizeof *g);
        g->id = fi_strdup(id);
        g->method = fi_strdup(method);
        g->params = fi_strdup(params);
        g->label = fi_strdup(label);
        g->depth = rec_int(rec, "depth");
        g->batch = rec_int(rec, "batch");
        g->seed = rec_int(rec, "seed");
        g->scale = rec_double(rec, "scale");
        g->damping = rec_double(rec, "damping");
        g->shift = rec_double(rec, "shift");
        g->P = P;
      } else if (g->P != P || g->depth != rec_int(rec, "depth") || g->batch != rec_int(rec, "batch") ||
                 g->seed != rec_int(rec, "seed") || g->scale != rec_double(rec, "scale") ||
                 g->damping != rec_double(rec, "damping") || strcmp(g->params, params) ||
                 strcmp(g->label, label)) {
        fi_rec_die(rec, "settings (P, depth, batch, seed, scale, damping, params, label) differ "
                   "from an earlier record with this id: not repeats of one estimate");
      }
      if (g->nparts == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 4;
        g->off = fi_realloc(g->off, g->cap * sizeof *g->off);
        g->cnt = fi_realloc(g->cnt, g->cap * sizeof *g->cnt);
        g->vec = fi_realloc(g->vec, g->cap * sizeof *g->vec);
      }
      for (int64_t k = 0; k < g->nparts; k++)
        if (off < g->off[k] + g->cnt[k] && g->off[k] < off + cnt)
          fi_rec_die(rec, "repeats %lld..%lld overlap repeats %lld..%lld of an earlier record",
                     (long long)off, (long long)(off + cnt - 1), (long long)g->off[k],
                     (long long)(g->off[k] + g->cnt[k] - 1));
      g->off[g->nparts] = off;
      g->cnt[g->nparts] = cnt;
      g->vec[g->nparts] = fi_malloc(fi_mul_size(P, sizeof(float), "ihvp"));
      memcpy(g->vec[g->nparts], v, P * sizeof(float));
      g->nparts++;
      nrec++;
    }
    fi_reader_close(r);
  }
  fi_writer *w = fi_writer_open("-");
  for (int64_t i = 0; i < ng; i++) {
    cgroup *g = &gs[i];
    int64_t *ord = fi_malloc(g->nparts * sizeof *ord), total = 0;
    for (int64_t k = 0; k < g->nparts; k++) ord[k] = k;
    qsort_r(ord, g->nparts, sizeof *ord, cmp_part, g);
    double *acc = fi_calloc(g->P, sizeof *acc);
    for (int64_t k = 0; k < g->nparts; k++) {
      const float *v = g->vec[ord[k]];
      double c = (double)g->cnt[ord[k]];
      for (int64_t j = 0; j < g->P; j++) acc[j] += c * v[j];
      total += g->cnt[ord[k]];
    }
    float *out = fi_malloc(fi_mul_size(g->P, sizeof(float), "ihvp"));
    for (int64_t j = 0; j < g->P; j++) out[j] = (float)(acc[j] / (double)total);
    fi_wbegin(w, g->id, 13);
    fi_wf32(w, "ihvp", out, g->P);
    fi_wstr(w, "method", g->method);
    fi_wint(w, "depth", g->depth);
    fi_wint(w, "batch", g->batch);
    fi_wint(w, "repeats", total);
    fi_wint(w, "repeat_offset", g->off[ord[0]]);
    fi_wdouble(w, "scale", g->scale);
    fi_wdouble(w, "damping", g->damping);
    fi_wdouble(w, "shift", g->shift);
    fi_wint(w, "seed", g->seed);
    fi_wstr(w, "params", g->params);
    fi_wstr(w, "label", g->label);
    fi_wint(w, "sum_of", total);
    fi_wend(w);
    free(out);
    free(acc);
    free(ord);
    for (int64_t k = 0; k < g->nparts; k++) free(g->vec[k]);
    free(g->vec);
    free(g->off);
    free(g->cnt);
    free(g->id);
    free(g->method);
    free(g->params);
    free(g->label);
  }
  free(gs);
  fi_log("combined %lld records into %lld", (long long)nrec, (long long)ng);
  fi_done(ng);
  fi_writer_close(w);
}

int main(int argc, char **argv) {
  const char *model = NULL, *train = NULL, *method = NULL, *scale_s = NULL, *params = NULL,
             *label = NULL, *mean_id = NULL;
  long long depth, batch, repeats, roff, seed, threads, max_iter, max_exact, group, chunk,
      scale_batches, scale_iters;
  double damping, tol;
  int mean = 0, from_examples = 0, do_combine = 0;
  char ncpu[32];
  long nc = sysconf(_SC_NPROCESSORS_ONLN);
  snprintf(ncpu, sizeof ncpu, "%ld", nc > 0 ? nc : 1);
  const fi_opt opts[] = {
    {"model", 'm', FI_OPT_STR, &model, NULL, "model file", .metavar = "FILE"},
    {"train", 0, FI_OPT_STR, &train, NULL, "training examples (the Hessian's data)", .metavar = "FILE"},
    {"method", 0, FI_OPT_CHOICE, &method, "lissa",
     "solver; hvp = no solve: write the product H v (field \"hvp\") with the solvers' full-batch H",
     .choices = "lissa|cg|exact|hvp"},
    {"depth", 'J', FI_OPT_INT, &depth, "1000", "lissa: recursion steps J", .min = 0, .max = 1e12},
    {"batch", 'B', FI_OPT_INT, &batch, "1",
     "lissa: training examples per step (uniform, with replacement); also the batch of --scale auto",
     .min = 1, .max = 1e9},
    {"repeats", 'T', FI_OPT_INT, &repeats, "1", "lissa: independent repeats averaged", .min = 1, .max = 1e9},
    {"repeat-offset", 0, FI_OPT_INT, &roff, "0",
     "lissa: index of the first repeat (split repeats over processes, then --combine)", .min = 0, .max = 1e15},
    {"scale", 0, FI_OPT_STR, &scale_s, "auto",
     "LiSSA scale, or auto = " "2 x the largest batch-Hessian eigenvalue found by power iteration",
     .metavar = "S|auto"},
    {"damping", 0, FI_OPT_DOUBLE, &damping, "0.005",
     "damping; every method solves (H + damping*scale*I) s = v", .min = 0, .max = 1},
    {"seed", 's', FI_OPT_INT, &seed, "0", "seed of the batch draws (repeat r uses a stream derived from (seed, r))",
     .min = 0, .max = 9e18},
    {"threads", 't', FI_OPT_INT, &threads, ncpu, "worker threads", .min = 1, .max = 1024},
    {"params", 'p', FI_OPT_STR, &params, "default", "selected parameters (default | all | comma list)",
     .metavar = "LIST"},
    {"label", 0, FI_OPT_CHOICE, &label, "gold", "example input: loss under the gold or predicted label",
     .choices = "gold|pred"},
    {"from-examples", 0, FI_OPT_FLAG, &from_examples, NULL,
     "treat every input record as an example (default: records without \"grad\" are examples)"},
    {"mean", 0, FI_OPT_FLAG, &mean, NULL, "one ihvp for the mean loss of all input records"},
    {"id", 0, FI_OPT_STR, &mean_id, "mean", "record id with --mean", .metavar = "ID"},
    {"tol", 0, FI_OPT_DOUBLE, &tol, "1e-6", "cg: stop at relative residual tol", .min = 0, .max = 1},
    {"max-iter", 0, FI_OPT_INT, &max_iter, "1000", "cg: iteration cap", .min = 1, .max = 1e9},
    {"max-exact", 0, FI_OPT_INT, &max_exact, "4000", "exact: refuse more parameters than this",
     .min = 1, .max = 1e6},
    {"scale-batches", 0, FI_OPT_INT, &scale_batches, "16", "--scale auto: random batches probed",
     .min = 1, .max = 1e6},
    {"scale-iters", 0, FI_OPT_INT, &scale_iters, "30", "--scale auto: power iterations per batch",
     .min = 1, .max = 1e6},
    {"group", 0, FI_OPT_INT, &group, "32", "test vectors solved together (memory: group*repeats*P floats)",
     .min = 1, .max = 1e6},
    {"chunk", 0, FI_OPT_INT, &chunk, "1024", "examples per HVP pass over a full batch", .min = 1, .max = 1e9},
    {"combine", 0, FI_OPT_FLAG, &do_combine, NULL,
     "average LiSSA ihvp records with the same id from FILEs (or stdin), weighted by sum_of"},
    {0}};
  const fi_tool tool = {
    "ihvp", "inverse Hessian-vector products s = (H + damping*scale*I)^-1 v for test gradients",
    "--model M --train EXAMPLES [options] < test-gradients|test-examples > ihvp\n"
    "       ihvp --combine [FILE...] > ihvp",
    opts,
    "H is the Hessian of the training objective (mean loss + l2/2 |w|^2) over the selected "
    "parameters. lissa: FastIF's recursion h_j = v + (1-damping) h_{j-1} - H_Bj h_{j-1}/scale, "
    "s = h_J/scale, averaged over repeats; cg and exact solve the same system with full-batch "
    "HVPs, so with equal --scale/--damping the three agree. Input records carrying \"grad\" "
    "f32[P] are test gradients; other records are examples whose loss gradient is computed. "
    "--method hvp writes {id, hvp, method, params, label} with hvp = H v (no shift, no "
    "solve; full batch over --train), to check HVPs against another implementation. "
    "See formats/ihvp.md.",
    .positional_min = 0, .positional_max = 1 << 20};
  int first = fi_parse_options(&tool, argc, argv);
  if (do_combine) {
    combine(argc - first, argv + first);
    return 0;
  }
  if (argc - first > 0) fi_usage_error("unexpected argument '%s' (files are for --combine)", argv[first]);
  if (!model || !train) fi_usage_error("--model and --train are required");
  double scale = 0;
  int scale_auto = !strcmp(scale_s, "auto");
  if (!scale_auto && (fi_parse_double(scale_s, &scale) || !(scale > 0)))
    fi_usage_error("--scale must be a positive number or 'auto', not '%s'", scale_s);
  if (damping >= 1 && !strcmp(method, "lissa")) fi_usage_error("--damping must be below 1 for lissa");

  /* Parallelism is ours (threads over repeats/vectors); nested BLAS
   * threads would only oversubscribe the cores. */
  int is_hvp = !strcmp(method, "hvp");
  if (threads > 1 && !is_hvp) openblas_set_num_threads(1);

  fi_model *m = fi_model_load(model);
  fi_psel ps;
  char err[256];
  if (fi_psel_parse(m, params, &ps, err, sizeof err)) fi_usage_error("--params: %s", err);
  const int64_t P = ps.size;
  fi_examples *tr = fi_examples_load(m, train, 1);
  fi_examples_cache_bags(tr, m); /* the model is fixed here: sum each bag once */
  if (fi_examples_count(tr) == 0) fi_die("%s: no training examples", train);
  fi_oracle o;
  fi_model_oracle *mo = fi_model_oracle_new(m, &ps, tr, (int)threads, chunk, &o);
  fi_log("%s: %lld training examples, %lld parameters (%s), method %s", train,
         (long long)o.N, (long long)P, params, method);

  if (scale_auto && !is_hvp) {
    double t0 = fi_now();
    double top = fi_top_eigenvalue(&o, batch, (int)scale_batches, (int)scale_iters, (uint64_t)seed);
    if (!(top > 0)) fi_die("--scale auto: the batch Hessians look zero (top eigenvalue %g)", top);
    scale = FI_SCALE_SAFETY * top;
    fi_log("scale auto: largest batch-Hessian eigenvalue found %.6g (%lld batches of %lld, %.2fs) -> scale %.6g",
           top, scale_batches, batch, fi_now() - t0, scale);
  }
  const double shift = damping * scale;
  fi_lissa_opts lo = {.depth = depth, .batch = batch, .repeats = repeats, .repeat_offset = roff,
                      .scale = scale, .damping = damping, .seed = (uint64_t)seed};
  int is_lissa = !strcmp(method, "lissa"), is_cg = !strcmp(method, "cg");
  int need_label = !strcmp(label, "gold");
  int64_t G = mean ? 1 : group;

  fi_ws *ws = fi_ws_new(m);
  fi_examples *tex = fi_examples_new(m);
  slot *slots = fi_calloc(G, sizeof *slots);
  float *V = fi_aligned(fi_mul_size(G, P, "test vectors"), sizeof(float));
  float *S = fi_aligned(fi_mul_size(G, P, "ihvp"), sizeof(float));
  float *Gex = NULL, *probs = NULL;
  int64_t gex_cap = 0;
  double *macc = mean ? fi_calloc(P, sizeof *macc) : NULL;
  int64_t mcount = 0;
  fi_reader *r = fi_reader_open("-");
  fi_writer *w = fi_writer_open("-");
  long long nout = 0, nin = 0;
  double tsolve = 0;

  const fi_record *rec = NULL;
  int eof = 0;
  while (!eof) {
    /* Fill a group: gradient records straight into V, examples into tex. */
    int64_t ns = 0;
    fi_examples_clear(tex);
    while (ns < G || mean) {
      if (!(rec = fi_read(r))) {
        eof = 1;
        break;
      }
      nin++;
      if (!from_examples && fi_rec_has(rec, "grad")) {
        const float *g;
        fi_rec_f32(rec, "grad", P, &g, 1);
        if (mean) {
          for (int64_t k = 0; k < P; k++) macc[k] += g[k];
          mcount++;
          continue;
        }
        memcpy(V + ns * P, g, P * sizeof *V);
        slots[ns].ex = -1;
      } else {
        fi_examples_add(tex, rec, need_label);
        if (mean) {
          if (fi_examples_count(tex) >= chunk) break; /* fold this chunk into the sum */
          continue;
        }
        slots[ns].ex = fi_examples_count(tex) - 1;
      }
      slots[ns].id = fi_strdup(fi_rec_id(rec));
      ns++;
    }
    int64_t ne = fi_examples_count(tex);
    if (ne > 0) {
      if (ne > gex_cap) {
        free(Gex);
        free(probs);
        gex_cap = ne;
        Gex = fi_aligned(fi_mul_size(ne, P, "example gradients"), sizeof(float));
        probs = fi_aligned(fi_mul_size(ne, fi_model_nclasses(m), "probabilities"), sizeof(float));
      }
      if (!need_label) { /* --label pred: the model's own prediction */
        int C = fi_model_nclasses(m);
        fi_forward(m, ws, tex, NULL, ne, probs, NULL);
        for (int64_t i = 0; i < ne; i++) {
          int best = 0;
          for (int c = 1; c < C; c++)
            if (probs[i * C + c] > probs[i * C + best]) best = c;
          fi_examples_set_label(tex, i, best);
        }
      }
      if (mean) { /* sum of per-example gradients = ne * mean gradient */
        fi_grad_mean(m, ws, &ps, tex, NULL, ne, 0, Gex);
        for (int64_t k = 0; k < P; k++) macc[k] += (double)ne * Gex[k];
        mcount += ne;
        fi_examples_clear(tex);
      } else {
        fi_grad_each(m, ws, &ps, tex, NULL, ne, 0, Gex);
        for (int64_t s = 0; s < ns; s++)
          if (slots[s].ex >= 0) memcpy(V + s * P, Gex + slots[s].ex * P, P * sizeof *V);
      }
    }
    if (mean) {
      if (!eof) continue;
      if (mcount == 0) fi_die("--mean: no input records");
      for (int64_t k = 0; k < P; k++) V[k] = (float)(macc[k] / (double)mcount);
      slots[0].id = fi_strdup(mean_id);
      ns = 1;
    }
    if (ns == 0) break;
    double t0 = fi_now();
    int64_t cg_iters = 0;
    if (is_hvp) { /* the product itself, full batch, one vector at a time */
      for (int64_t s = 0; s < ns; s++) o.hvp(o.ctx[0], NULL, o.N, V + s * P, S + s * P);
    } else if (is_lissa) fi_lissa_solve(&o, &lo, ns, V, S);
    else if (is_cg) {
      fi_cg_solve(&o, shift, tol, max_iter, ns, V, S, &cg_iters);
    } else fi_exact_solve(&o, shift, max_exact, ns, V, S, NULL, NULL);
    tsolve += fi_now() - t0;
    for (int64_t s = 0; s < ns; s++) {
      if (is_hvp) {
        fi_wbegin(w, slots[s].id, 4);
        fi_wf32(w, "hvp", S + s * P, P);
        fi_wstr(w, "method", method);
        fi_wstr(w, "params", params);
        fi_wstr(w, "label", label);
        fi_wend(w);
        free(slots[s].id);
        nout++;
        continue;
      }
      fi_wbegin(w, slots[s].id, is_lissa ? 13 : is_cg ? 12 : 9);
      fi_wf32(w, "ihvp", S + s * P, P);
      fi_wstr(w, "method", method);
      if (is_lissa) {
        fi_wint(w, "depth", depth);
        fi_wint(w, "batch", batch);
        fi_wint(w, "repeats", repeats);
        fi_wint(w, "repeat_offset", roff);
      }
      if (is_cg) {
        fi_wdouble(w, "tol", tol);
        fi_wint(w, "max_iter", max_iter);
        fi_wint(w, "iters", cg_iters);
      }
      fi_wdouble(w, "scale", scale);
      fi_wdouble(w, "damping", damping);
      fi_wdouble(w, "shift", shift);
      fi_wint(w, "seed", seed);
      fi_wstr(w, "params", params);
      fi_wstr(w, "label", label);
      fi_wint(w, "sum_of", is_lissa ? repeats : 1);
      fi_wend(w);
      free(slots[s].id);
      nout++;
    }
    fi_progress("%lld ihvp records, %.1fs solving", nout, tsolve);
  }
  fi_progress_end();
  fi_reader_close(r);
  fi_log("%lld input records, %s time %.3fs", nin, is_hvp ? "HVP" : "solver", tsolve);
  fi_done(nout);
  fi_writer_close(w);
  free(macc);
  free(Gex);
  free(probs);
  free(V);
  free(S);
  free(slots);
  fi_ws_free(ws);
  fi_examples_free(tex);
  fi_model_oracle_free(mo);
  fi_examples_free(tr);
  fi_model_free(m);
  return 0;
}
