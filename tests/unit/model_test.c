/* model_test.c - gradients of every architecture against double-precision
 * finite differences of an independent reference objective, per-example
 * gradients vs the mean gradient, factored influence scores vs explicit
 * -G S, model file round trip and validation, parameter selection, and the
 * bow featuriser (C vs a Python reimplementation of formats/model.md). */
#include <sys/wait.h>
#include "model_internal.h"
#include "model_ref.h"
#include "tap.h"

typedef struct {
  const char *spec, *params;
  int act;
  int64_t d;
  int C;
} config;

static fi_model *make_model(const config *c, double l2, uint64_t seed) {
  char err[200];
  fi_model *m = fi_model_create(c->spec, c->d, c->C, l2, seed, err, sizeof err);
  if (!m) {
    fprintf(stderr, "create %s: %s\n", c->spec, err);
    exit(1);
  }
  /* small weights; relu nets get bias offsets to keep units off the kink */
  ref_perturb_model(m, 0.7, c->act == 2 ? 0.3 : 0.1, seed + 1);
  return m;
}

static fi_examples *make_data(const config *c, fi_model *m, refdata *D, int64_t n, uint64_t seed) {
  char path[512];
  snprintf(path, sizeof path, "%s/data-%llu", ref_tmpdir(), (unsigned long long)seed);
  if (!strcmp(fi_model_type(m), "bow")) ref_make_bow(D, n, m->buckets, c->C, seed, path);
  else ref_make_dense(D, n, c->d, c->C, seed, path);
  fi_examples *ex = fi_examples_load(m, path, 1);
  unlink(path);
  return ex;
}

static void check_config(const config *c) {
  double l2 = 0.05;
  fi_model *m = make_model(c, l2, 11);
  refdata D;
  int64_t n = 7;
  fi_examples *ex = make_data(c, m, &D, n, 42);
  refnet r;
  ref_init(&r, m, c->act);
  fi_psel ps;
  char err[256];
  if (fi_psel_parse(m, c->params, &ps, err, sizeof err)) {
    ok(0, "%s: psel %s: %s", c->spec, c->params, err);
    return;
  }
  int64_t P = ps.size;
  int64_t *map = ref_selmap(&r, &ps);
  double *th = ref_theta(m, &r);
  fi_ws *ws = fi_ws_new(m);
  int64_t idx[5] = {3, 1, 6, 1, 0}; /* repeats and the empty bow example */
  int64_t nb = 5;

  /* forward loss vs reference */
  float *probs = malloc((size_t)(nb * c->C) * sizeof(float));
  double lf = fi_forward(m, ws, ex, idx, nb, probs, NULL);
  double lr = ref_loss(&r, th, &D, idx, nb, 0);
  is_close(lf, lr, 1e-5, "forward loss matches the double reference");
  double psum = 0;
  for (int64_t e = 0; e < nb * c->C; e++) psum += probs[e];
  is_close(psum, (double)nb, 1e-5, "probabilities sum to one per row");

  /* gradient vs central differences of the double reference */
  float *g = malloc((size_t)P * sizeof(float)), *g0 = malloc((size_t)P * sizeof(float));
  double lg = fi_grad_mean(m, ws, &ps, ex, idx, nb, 1, g);
  fi_grad_mean(m, ws, &ps, ex, idx, nb, 0, g0);
  is_close(lg, lr, 1e-5, "grad_mean returns the mean loss");
  double *fd = malloc((size_t)P * sizeof(double));
  double h = 1e-4;
  for (int64_t j = 0; j < P; j++) {
    double save = th[map[j]];
    th[map[j]] = save + h;
    double fp = ref_loss(&r, th, &D, idx, nb, l2);
    th[map[j]] = save - h;
    double fm = ref_loss(&r, th, &D, idx, nb, l2);
    th[map[j]] = save;
    fd[j] = (fp - fm) / (2 * h);
  }
  double e1 = ref_relerr_f(g, fd, P), e0 = ref_relerr_f(g0, fd, P);
  ok(e1 < 1e-4, "%s [%s] P=%lld: grad vs double FD rel err %.2e < 1e-4", c->spec, c->params,
     (long long)P, e1);
  ok(e0 > 1e-3, "  the same check rejects the gradient without the l2 term (rel err %.2e)", e0);

  /* mean of per-example gradients == mean gradient */
  float *G = malloc((size_t)(nb * P) * sizeof(float));
  fi_grad_each(m, ws, &ps, ex, idx, nb, 1, G);
  double *mean = calloc((size_t)P, sizeof(double));
  for (int64_t i = 0; i < nb; i++)
    for (int64_t j = 0; j < P; j++) mean[j] += G[i * P + j] / (double)nb;
  double em = ref_relerr_f(g, mean, P);
  ok(em < 1e-5, "  mean of grad_each rows == grad_mean (rel err %.2e)", em);
  /* a single example's row vs FD of its own loss */
  int64_t one = idx[2];
  for (int64_t j = 0; j < P; j++) {
    double save = th[map[j]];
    th[map[j]] = save + h;
    double fp = ref_loss(&r, th, &D, &one, 1, l2);
    th[map[j]] = save - h;
    double fm = ref_loss(&r, th, &D, &one, 1, l2);
    th[map[j]] = save;
    fd[j] = (fp - fm) / (2 * h);
  }
  double er = ref_relerr_f(G + 2 * P, fd, P);
  ok(er < 1e-4, "  grad_each row vs FD of that example's loss (rel err %.2e)", er);

  /* factored influence scores vs explicit -G S */
  int T = 3;
  float *S = malloc((size_t)(T * P) * sizeof(float));
  fi_rng rg;
  fi_rng_seed(&rg, 5);
  for (int64_t e = 0; e < T * P; e++) S[e] = (float)fi_rng_normal(&rg);
  for (int wl2 = 0; wl2 <= 1; wl2++) {
    fi_grad_each(m, ws, &ps, ex, idx, nb, wl2, G);
    float *sc = malloc((size_t)(T * nb) * sizeof(float));
    double *want = malloc((size_t)(T * nb) * sizeof(double));
    for (int t = 0; t < T; t++)
      for (int64_t i = 0; i < nb; i++) {
        double acc = 0;
        for (int64_t j = 0; j < P; j++) acc += (double)G[i * P + j] * S[t * P + j];
        want[t * nb + i] = -acc;
      }
    fi_influence_scores(m, ws, &ps, ex, idx, nb, S, T, wl2, sc);
    double es = ref_relerr_f(sc, want, T * nb);
    ok(es < 1e-5, "  influence scores (T=%d, with_l2=%d) == -G S (rel err %.2e)", T, wl2, es);
    /* T = 1 and a batch of one take other code paths (gemv, no stacking) */
    float sc1;
    fi_influence_scores(m, ws, &ps, ex, idx + 2, 1, S + P, 1, wl2, &sc1);
    is_close(sc1, want[nb + 2], 1e-4, "  influence score, one example, one vector");
    free(sc);
    free(want);
  }
  free(S);
  free(mean);
  free(G);
  free(fd);
  free(g);
  free(g0);
  free(probs);
  free(th);
  free(map);
  fi_ws_free(ws);
  fi_examples_free(ex);
  ref_free(&D);
  fi_model_free(m);
}

static int file_eq(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int eq = fa && fb;
  while (eq) {
    int ca = getc(fa), cb = getc(fb);
    if (ca != cb) eq = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return eq;
}

static void check_roundtrip(const char *spec, int64_t d) {
  char err[200], p1[512], p2[512];
  fi_model *m = fi_model_create(spec, d, 3, 0.125, 9, err, sizeof err);
  snprintf(p1, sizeof p1, "%s/m1", ref_tmpdir());
  snprintf(p2, sizeof p2, "%s/m2", ref_tmpdir());
  fi_model_save(m, p1);
  fi_model *m2 = fi_model_load(p1);
  fi_model_save(m2, p2);
  ok(file_eq(p1, p2), "%s: save -> load -> save is byte-identical", spec);
  int same = fi_model_nparams(m) == fi_model_nparams(m2) && fi_model_l2(m2) == 0.125 &&
             !strcmp(fi_model_type(m), fi_model_type(m2)) &&
             fi_model_embed_dim(m) == fi_model_embed_dim(m2) &&
             fi_model_input_dim(m) == fi_model_input_dim(m2);
  for (int i = 0; same && i < fi_model_nparams(m); i++)
    same = !strcmp(fi_model_param_name(m, i), fi_model_param_name(m2, i)) &&
           !memcmp(fi_model_param_data(m, i), fi_model_param_data(m2, i),
                   (size_t)fi_model_param_numel(m, i) * sizeof(float));
  ok(same, "%s: loaded model has the same arch, l2 and parameters", spec);
  fi_model *m3 = fi_model_clone(m2);
  fi_model_save(m3, p2);
  ok(file_eq(p1, p2), "%s: clone saves identically", spec);
  /* Python (numpy + msgpack) reads the file per formats/model.md */
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c '\n"
           "import msgpack, numpy as np, sys\n"
           "m = msgpack.unpackb(open(sys.argv[1], \"rb\").read(), raw=False)\n"
           "assert m[\"format\"] == \"fastif-model\" and m[\"version\"] == 1\n"
           "a = m[\"arch\"]; s = a[\"sizes\"]\n"
           "names = ([\"embedding.weight\"] if a[\"type\"] == \"bow\" else []) + "
           "[f\"layers.{i}.{w}\" for i in range(len(s) - 1) for w in (\"weight\", \"bias\")]\n"
           "assert list(m[\"params\"]) == names, list(m[\"params\"])\n"
           "for i in range(len(s) - 1):\n"
           "  t = m[\"params\"][f\"layers.{i}.weight\"]\n"
           "  w = np.frombuffer(t[\"data\"], \"<f4\").reshape(t[\"shape\"])\n"
           "  assert w.shape == (s[i + 1], s[i]) and t[\"dtype\"] == \"f32\"\n"
           "print(sum(np.frombuffer(t[\"data\"], \"<f4\").astype(np.float64).sum() for t in m[\"params\"].values()))\n"
           "' %s",
           p1);
  FILE *py = popen(cmd, "r");
  double pysum = NAN;
  if (py) {
    if (fscanf(py, "%lf", &pysum) != 1) pysum = NAN;
    pclose(py);
  }
  double csum = 0;
  for (int i = 0; i < fi_model_nparams(m); i++)
    for (int64_t e = 0; e < fi_model_param_numel(m, i); e++) csum += fi_model_param_data(m, i)[e];
  is_close(pysum, csum, 1e-9, "python reads the model: parameter names, order, shapes, sum");
  fi_model_free(m);
  fi_model_free(m2);
  fi_model_free(m3);
}

/* Runs fn in a child; passes when it exits 1 and stderr contains want. */
static void dies_with(void (*fn)(void *), void *arg, const char *want, const char *what) {
  int pfd[2];
  if (pipe(pfd)) exit(1);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(pfd[0]);
    dup2(pfd[1], 2);
    fn(arg);
    _exit(0);
  }
  close(pfd[1]);
  char buf[4096];
  size_t n = 0;
  ssize_t k;
  while (n < sizeof buf - 1 && (k = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
  buf[n] = 0;
  close(pfd[0]);
  int st;
  waitpid(pid, &st, 0);
  int good = WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(buf, want);
  ok(good, "%s: dies with '%s'", what, want);
  if (!good) diag("status %d stderr: %s", st, buf);
}

static void load_it(void *path) { fi_model_load(path); }

/* A model file with one deliberate defect. */
static void write_bad_model(const char *path, int defect) {
  float w[6] = {0}, b[3] = {0};
  double wd[6] = {0};
  fi_writer *wr = fi_writer_open(path);
  fi_vmap_begin(wr, 5);
  fi_wkey(wr, "format");
  fi_vstr(wr, "fastif-model");
  fi_wkey(wr, "version");
  fi_vint(wr, defect == 4 ? 2 : 1);
  fi_wkey(wr, "arch");
  fi_vmap(wr, 2);
  fi_wkey(wr, "type");
  fi_vstr(wr, "linear");
  fi_wkey(wr, "sizes");
  fi_varray(wr, 2);
  fi_vint(wr, 2);
  fi_vint(wr, 3);
  fi_wkey(wr, "l2");
  fi_vdouble(wr, 0);
  fi_wkey(wr, "params");
  fi_vmap(wr, defect == 3 ? 1 : 2);
  fi_wkey(wr, "layers.0.weight");
  int64_t sw[2] = {3, 2}, swbad[2] = {2, 3}, sb[1] = {3};
  if (defect == 1) fi_vtensor(wr, FI_F32, 2, swbad, w);
  else if (defect == 2) fi_vtensor(wr, FI_F64, 2, sw, wd);
  else fi_vtensor(wr, FI_F32, 2, sw, w);
  if (defect != 3) {
    fi_wkey(wr, defect == 5 ? "layers.1.bias" : "layers.0.bias");
    fi_vtensor(wr, FI_F32, 1, sb, b);
  }
  fi_writer_close(wr);
}

typedef struct {
  fi_model *m;
  const char *path;
} addctx;
static void add_all(void *p) {
  addctx *a = p;
  fi_examples_load(a->m, a->path, 1);
}

static void check_validation(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/bad", ref_tmpdir());
  write_bad_model(path, 0);
  fi_model *ok_m = fi_model_load(path);
  ok(ok_m && fi_model_nclasses(ok_m) == 3 && fi_model_input_dim(ok_m) == 2,
     "a well-formed hand-written linear model loads");
  fi_model_free(ok_m);
  const char *want[] = {"", "has shape [2,3], the arch needs [3,2]", "dtype f64 (f32 required)",
                        "missing parameter 'layers.0.bias'", "unsupported version 2",
                        "unexpected parameter 'layers.1.bias'"};
  for (int d = 1; d <= 5; d++) {
    write_bad_model(path, d);
    dies_with(load_it, path, want[d], "bad model file");
  }
  /* examples: label out of range, wrong x size, x for a bow model */
  char err[200];
  fi_model *m = fi_model_create("mlp:4", 3, 2, 0, 1, err, sizeof err);
  fi_writer *w = fi_writer_open(path);
  float x[3] = {1, 2, 3};
  fi_wbegin(w, "good", 2);
  fi_wint(w, "label", 1);
  fi_wf32(w, "x", x, 3);
  fi_wend(w);
  fi_wbegin(w, "badlabel", 2);
  fi_wint(w, "label", 2);
  fi_wf32(w, "x", x, 3);
  fi_wend(w);
  fi_writer_close(w);
  addctx a = {m, path};
  dies_with(add_all, &a, "record 'badlabel'", "label out of range");
  w = fi_writer_open(path);
  fi_wbegin(w, "short", 2);
  fi_wint(w, "label", 1);
  fi_wf32(w, "x", x, 2);
  fi_wend(w);
  fi_writer_close(w);
  dies_with(add_all, &a, "record 'short'", "x of the wrong size");
  w = fi_writer_open(path);
  for (int i = 0; i < 2; i++) {
    fi_wbegin(w, "twice", 2);
    fi_wint(w, "label", 1);
    fi_wf32(w, "x", x, 3);
    fi_wend(w);
  }
  fi_writer_close(w);
  dies_with(add_all, &a, "duplicate id", "duplicate id");
  fi_model *mb = fi_model_create("bow:10,3", 0, 2, 0, 1, err, sizeof err);
  w = fi_writer_open(path);
  int32_t tk[2] = {3, 10};
  int64_t sh[1] = {2};
  fi_wbegin(w, "oob", 2);
  fi_wint(w, "label", 0);
  fi_wtensor(w, "tokens", FI_I32, 1, sh, tk);
  fi_wend(w);
  fi_writer_close(w);
  addctx ab = {mb, path};
  dies_with(add_all, &ab, "not a bucket id", "token bucket out of range");
  fi_model_free(m);
  fi_model_free(mb);
}

static void check_psel_and_specs(void) {
  char err[300];
  fi_model *m = fi_model_create("bow:100,8,6,5:relu", 0, 4, 0, 3, err, sizeof err);
  ok(m && !strcmp(fi_model_type(m), "bow") && fi_model_nparams(m) == 7 &&
         fi_model_embed_dim(m) == 5 && fi_model_input_dim(m) == 0,
     "bow:100,8,6,5:relu has embedding + 3 dense layers, embed dim 5");
  fi_psel ps;
  fi_psel_parse(m, NULL, &ps, err, sizeof err);
  ok(ps.n == 6 && ps.idx[0] == 1 && ps.size == 6 * 8 + 6 + 5 * 6 + 5 + 4 * 5 + 4,
     "default selection leaves embedding.weight out (P=%lld)", (long long)ps.size);
  fi_psel_parse(m, "all", &ps, err, sizeof err);
  ok(ps.n == 7 && ps.off[1] == 800, "all selects everything, embedding first");
  fi_psel_parse(m, "layers.2,layers.0.bias", &ps, err, sizeof err);
  ok(ps.n == 3 && ps.idx[0] == 2 && ps.idx[1] == 5 && ps.idx[2] == 6 && ps.off[1] == 6 &&
         ps.size == 6 + 20 + 4,
     "prefix list selects in model order");
  ok(fi_psel_parse(m, "layers.3", &ps, err, sizeof err) == -1 && strstr(err, "layers.3"),
     "unknown name is an error: %s", err);
  ok(fi_psel_parse(m, "layers", &ps, err, sizeof err) == 0 && ps.n == 6,
     "prefix 'layers' selects all dense layers");
  fi_model_free(m);
  const char *bad[] = {"mlp", "mlp:0", "mlp:4:sigmoid", "bow:10", "linear:3", "cnn", "mlp:4,", NULL};
  for (int i = 0; bad[i]; i++) {
    fi_model *b = fi_model_create(bad[i], 4, 3, 0, 1, err, sizeof err);
    ok(!b, "bad spec '%s' rejected: %s", bad[i], err);
    fi_model_free(b);
  }
  fi_model *m1 = fi_model_create("mlp:5,4:tanh", 3, 2, 0, 77, err, sizeof err);
  fi_model *m2 = fi_model_create("mlp:5,4:tanh", 3, 2, 0, 77, err, sizeof err);
  int same = 1;
  for (int i = 0; i < fi_model_nparams(m1); i++)
    same &= !memcmp(fi_model_param_data(m1, i), fi_model_param_data(m2, i),
                    (size_t)fi_model_param_numel(m1, i) * sizeof(float));
  ok(same, "same seed, same initial parameters");
  fi_model_free(m1);
  fi_model_free(m2);
}

static void check_bow_text(void) {
  is_close((double)(fi_fnv1a64("", 0, FI_FNV_OFFSET) == 0xcbf29ce484222325ULL), 1, 0,
           "FNV-1a 64 of the empty string");
  ok(fi_fnv1a64("a", 1, FI_FNV_OFFSET) == 0xaf63dc4c8601ec8cULL, "FNV-1a 64 of 'a'");
  ok(fi_fnv1a64("foobar", 6, FI_FNV_OFFSET) == 0x85944171f73967e8ULL, "FNV-1a 64 of 'foobar'");
  const char *texts[] = {"Don't STOP -- believin'!", "", "  ...  ", "Crème brûlée, 2 pieces",
                         "a b a b", "it's 'quoted' o'neil's x'"};
  int nt = (int)(sizeof texts / sizeof *texts);
  int64_t B = 1000003;
  /* C buckets for each text */
  char cbuf[4096] = "";
  int32_t *out = NULL;
  int64_t cap = 0;
  for (int i = 0; i < nt; i++) {
    int64_t n = fi_bow_buckets(texts[i], strlen(texts[i]), B, &out, &cap, 0);
    size_t l = strlen(cbuf);
    for (int64_t k = 0; k < n; k++) {
      snprintf(cbuf + l, sizeof cbuf - l, "%s%d", k ? " " : "", (int)out[k]);
      l = strlen(cbuf);
    }
    snprintf(cbuf + l, sizeof cbuf - l, "\n");
  }
  int64_t n0 = fi_bow_buckets(texts[0], strlen(texts[0]), B, &out, &cap, 0);
  ok(n0 == 3 + 2, "'%s' -> 3 tokens + 2 bigrams", texts[0]);
  /* the Python reimplementation of formats/model.md */
  char path[512];
  snprintf(path, sizeof path, "%s/texts.py", ref_tmpdir());
  FILE *f = fopen(path, "w");
  fprintf(f,
          "import re\n"
          "def fnv(b, h=0xcbf29ce484222325):\n"
          "    for c in b:\n"
          "        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff\n"
          "    return h\n"
          "TOK = re.compile(rb\"[A-Za-z0-9\\x80-\\xff]+(?:'[A-Za-z0-9\\x80-\\xff]+)*\")\n"
          "def buckets(text, B):\n"
          "    toks = [t.lower() for t in TOK.findall(text.encode())]\n"
          "    out = []\n"
          "    for i, t in enumerate(toks):\n"
          "        out.append(fnv(t) %% B)\n"
          "        if i: out.append(fnv(toks[i - 1] + b' ' + t) %% B)\n"
          "    return out\n"
          "texts = %s\n"
          "for t in texts: print(' '.join(str(b) for b in buckets(t, %lld)))\n",
          "[\"Don't STOP -- believin'!\", '', '  ...  ', 'Cr\\u00e8me br\\u00fbl\\u00e9e, 2 pieces', "
          "'a b a b', \"it's 'quoted' o'neil's x'\"]",
          (long long)B);
  fclose(f);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", path);
  FILE *py = popen(cmd, "r");
  char pbuf[4096] = "";
  size_t got = py ? fread(pbuf, 1, sizeof pbuf - 1, py) : 0;
  pbuf[got] = 0;
  if (py) pclose(py);
  ok(!strcmp(cbuf, pbuf), "bucket ids match the Python reimplementation of the spec");
  if (strcmp(cbuf, pbuf)) diag("C:\n%s\nPython:\n%s", cbuf, pbuf);

  /* a text record and the equivalent tokens record give the same forward */
  char err[200];
  fi_model *m = fi_model_create("bow:97,6,5", 0, 3, 0, 4, err, sizeof err);
  int64_t n = fi_bow_buckets(texts[0], strlen(texts[0]), 97, &out, &cap, 0);
  snprintf(path, sizeof path, "%s/text", ref_tmpdir());
  fi_writer *w = fi_writer_open(path);
  fi_wbegin(w, "t", 2);
  fi_wint(w, "label", 2);
  fi_wstr(w, "text", texts[0]);
  fi_wend(w);
  int64_t sh[1] = {n};
  fi_wbegin(w, "k", 2);
  fi_wint(w, "label", 2);
  fi_wtensor(w, "tokens", FI_I32, 1, sh, out);
  fi_wend(w);
  fi_wbegin(w, "empty", 1);
  fi_wstr(w, "text", "");
  fi_wend(w);
  fi_writer_close(w);
  fi_examples *ex = fi_examples_load(m, path, 0);
  fi_ws *ws = fi_ws_new(m);
  float p[9], e[15];
  fi_forward(m, ws, ex, NULL, 3, p, e);
  ok(!memcmp(p, p + 3, 3 * sizeof(float)) && !memcmp(e, e + 5, 5 * sizeof(float)),
     "text and tokens records give identical outputs");
  ok(fi_examples_find(ex, "k") == 1 && fi_examples_find(ex, "nope") == -1 &&
         fi_examples_label(ex, 2) == -1 && !strcmp(fi_examples_id(ex, 2), "empty"),
     "find / label / id accessors (unlabelled example has label -1)");
  /* empty text: zero embedding, so the logits are the last bias: zero at init */
  fi_model *m0 = fi_model_create("bow:97,6", 0, 3, 0, 4, err, sizeof err);
  fi_ws *ws0 = fi_ws_new(m0);
  fi_examples *ex0 = fi_examples_load(m0, path, 0);
  int64_t i2 = 2;
  fi_forward(m0, ws0, ex0, &i2, 1, p, e);
  ok(fabsf(p[0] - 1.0f / 3) < 1e-6 && e[0] == 0 && e[5] == 0,
     "an empty text embeds to zero (uniform probabilities with zero biases)");
  fi_examples_free(ex0);
  fi_ws_free(ws0);
  fi_model_free(m0);
  fi_ws_free(ws);
  fi_examples_free(ex);
  fi_model_free(m);
  free(out);
}

static void check_many_examples(void) {
  /* the id table and arena grow past their first sizes; ids stay put */
  char err[200], path[512];
  fi_model *m = fi_model_create("linear", 2, 2, 0, 1, err, sizeof err);
  snprintf(path, sizeof path, "%s/many", ref_tmpdir());
  fi_writer *w = fi_writer_open(path);
  float x[2] = {0.5f, -1};
  char id[64];
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "example-with-a-long-id-%06d", i);
    fi_wbegin(w, id, 2);
    fi_wint(w, "label", i % 2);
    fi_wf32(w, "x", x, 2);
    fi_wend(w);
  }
  fi_writer_close(w);
  fi_examples *ex = fi_examples_new(m);
  fi_reader *r = fi_reader_open(path);
  int64_t k1 = fi_examples_read(ex, r, 1000, 1);
  const char *first = fi_examples_id(ex, 0);
  int64_t k2 = fi_examples_read(ex, r, 0, 1);
  fi_reader_close(r);
  int good = k1 == 1000 && k2 == 4000 && fi_examples_count(ex) == 5000 && first == fi_examples_id(ex, 0);
  for (int i = 0; good && i < 5000; i += 7) {
    snprintf(id, sizeof id, "example-with-a-long-id-%06d", i);
    good = fi_examples_find(ex, id) == i && fi_examples_label(ex, i) == i % 2;
  }
  ok(good, "5000 examples read in two chunks: find() and labels right, id pointers stable");
  fi_examples_clear(ex);
  ok(fi_examples_count(ex) == 0 && fi_examples_find(ex, "example-with-a-long-id-000000") == -1,
     "clear empties the set");
  fi_examples_free(ex);
  fi_model_free(m);
}

int main(void) {
  fi_set_progname("model_test");
  config cfgs[] = {
      {"linear", NULL, 0, 6, 3},
      {"mlp:6:tanh", NULL, 1, 5, 3},
      {"mlp:7,4:relu", NULL, 2, 5, 3},
      {"mlp:5,4:tanh", "layers.1", 1, 4, 3},
      {"bow:13,4,5:tanh", NULL, 1, 0, 3},
      {"bow:13,4,5:tanh", "all", 1, 0, 3},
      {"bow:11,3,4:relu", "embedding.weight,layers.1", 2, 0, 2},
      {"bow:11,4", "all", 1, 0, 3},
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) check_config(&cfgs[i]);
  check_roundtrip("linear", 4);
  check_roundtrip("mlp:5,3:relu", 4);
  check_roundtrip("bow:50,6,4", 0);
  check_validation();
  check_psel_and_specs();
  check_bow_text();
  check_many_examples();
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", ref_tmpdir());
  if (system(cmd)) diag("could not remove %s", ref_tmpdir());
  return done_testing();
}
