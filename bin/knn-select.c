/* knn-select - build a FAISS index over training embeddings, or pick each
 * query's k nearest training records (FastIF's kNN pre-selection). */
#include <stdlib.h>
#include <string.h>

#include "knn.h"
#include "opts.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *build = NULL, *index = NULL, *spec = NULL, *field = NULL, *mean_id = NULL;
  long long k = 0, batch = 0, threads = 0;
  int mean = 0;
  const fi_opt opts[] = {
      {.name = "build", .type = FI_OPT_STR, .dest = &build, .metavar = "INDEX",
       .help = "build INDEX (and INDEX.ids) from the training embeddings on stdin"},
      {.name = "index", .type = FI_OPT_STR, .dest = &index, .metavar = "INDEX",
       .help = "search INDEX with the query embeddings on stdin"},
      {.name = "index-spec", .type = FI_OPT_STR, .dest = &spec, .def = FI_KNN_DEFAULT_SPEC, .metavar = "SPEC",
       .help = "with --build: FAISS index_factory string (Flat = exact IndexFlatL2)"},
      {.name = "k", .short_name = 'k', .type = FI_OPT_INT, .dest = &k, .metavar = "K",
       .help = "with --index: neighbours per query", .min = 0, .max = 1e12},
      {.name = "mean", .type = FI_OPT_FLAG, .dest = &mean,
       .help = "with --index: one query, the mean of all query embeddings"},
      {.name = "id", .type = FI_OPT_STR, .dest = &mean_id, .def = "mean", .metavar = "NAME",
       .help = "with --mean: id of the output record"},
      {.name = "field", .type = FI_OPT_STR, .dest = &field, .def = "emb", .metavar = "KEY",
       .help = "embedding field of the input records"},
      {.name = "batch", .type = FI_OPT_INT, .dest = &batch, .def = "1024", .metavar = "N",
       .help = "queries per FAISS search call", .min = 1, .max = 1 << 20},
      {.name = "threads", .type = FI_OPT_INT, .dest = &threads, .def = "1", .metavar = "N",
       .help = "FAISS threads (0: OMP_NUM_THREADS or all cores; 1 suits parallel fan-out)", .min = 0, .max = 4096},
      {0}};
  const fi_tool tool = {
      .name = "knn-select",
      .purpose = "build a kNN index of training embeddings, or find each query's nearest training records",
      .usage = "--build INDEX [--index-spec SPEC] < train-embeddings\n"
               "   or: knn-select --index INDEX -k K [--mean] [--batch N] < query-embeddings > candidates",
      .opts = opts,
      .details = "--build writes INDEX (a FAISS index; FAISS id = input order) and INDEX.ids (the record\n"
                 "ids, formats/index.md); both appear whole or not at all. --index writes candidates\n"
                 "records: id (the query's, or --id with --mean), ids (nearest first), dist (f32, squared L2).",
  };
  fi_parse_options(&tool, argc, argv);
  if (!build == !index) fi_usage_error("give exactly one of --build INDEX or --index INDEX");
  if (build && (fi_opt_given("k") || mean || fi_opt_given("id") || fi_opt_given("batch")))
    fi_usage_error("-k, --mean, --id and --batch go with --index, not --build");
  if (index && fi_opt_given("index-spec")) fi_usage_error("--index-spec goes with --build");
  if (index && k < 1) fi_usage_error("--index needs -k K (K >= 1)");
  if (fi_opt_given("id") && !mean) fi_usage_error("--id names the --mean record; give --mean");
  if (!fi_id_valid(mean_id)) fi_usage_error("--id must be a valid record id (non-empty, no whitespace)");
  fi_knn_threads((int)threads);

  fi_reader *in = fi_reader_open(NULL);
  const fi_record *rec;
  long long n = 0;

  if (build) {
    double t0 = fi_now();
    fi_knn *knn = fi_knn_new(spec);
    fi_strset *seen = fi_strset_new();
    while ((rec = fi_read(in))) {
      const float *x;
      int64_t prev = fi_strset_add(seen, fi_rec_id(rec));
      if (prev < 0) fi_rec_die(rec, "duplicate id (also record #%lld)", (long long)(-1 - prev));
      int64_t d = fi_rec_f32(rec, field, -1, &x, 1);
      if (fi_knn_append(knn, fi_rec_id(rec), x, d) != 0)
        fi_rec_die(rec, "'%s' has %lld elements, but the records before have %d", field, (long long)d,
                   fi_knn_dim(knn));
      if (++n % 8192 == 0) fi_progress("%lld embeddings", n);
    }
    fi_reader_close(in);
    fi_strset_free(seen);
    if (n == 0) fi_die("no training embeddings on stdin: nothing to index");
    fi_knn_finish(knn);
    fi_knn_save(knn, build);
    fi_log("indexed %lld vectors of dimension %d (%s) in %.2f s", n, fi_knn_dim(knn), fi_knn_spec(knn),
           fi_now() - t0);
    fi_knn_free(knn);
    fi_done(n);
    return 0;
  }

  double t0 = fi_now(), tsearch = 0;
  fi_knn *knn = fi_knn_load(index);
  fi_log("loaded %s (%lld vectors of dimension %d, %s) in %.2f s", index, (long long)fi_knn_size(knn),
         fi_knn_dim(knn), fi_knn_spec(knn), fi_now() - t0);
  const int d = fi_knn_dim(knn);
  if (k > fi_knn_size(knn))
    fi_die("k=%lld is larger than the index %s (%lld vectors)", k, index, (long long)fi_knn_size(knn));
  /* Bound the result buffers (12 bytes per neighbour) when k is huge. */
  int64_t nq_max = mean ? 1 : batch;
  if (nq_max > 1 && nq_max * k > (1 << 23)) nq_max = (1 << 23) / k > 1 ? (1 << 23) / k : 1;
  float *q = fi_aligned(fi_mul_size((size_t)nq_max, (size_t)d, "query batch"), sizeof(float));
  float *dist = fi_malloc(fi_mul_size(fi_mul_size((size_t)nq_max, (size_t)k, "results"), sizeof(float), "results"));
  int64_t *lab = fi_malloc(fi_mul_size(fi_mul_size((size_t)nq_max, (size_t)k, "results"), sizeof(int64_t), "results"));
  const char **names = fi_malloc(fi_mul_size((size_t)k, sizeof *names, "results"));
  /* Query ids of the pending batch, packed; records die at the next read. */
  size_t *qoff = fi_malloc(fi_mul_size((size_t)nq_max, sizeof *qoff, "query batch"));
  size_t qlen = 0, qcap = 4096;
  char *qids = fi_malloc(qcap);
  double *sum = mean ? fi_calloc((size_t)d, sizeof *sum) : NULL;
  int64_t nq = 0;
  fi_writer *out = fi_writer_open(NULL);

  for (int last = 0; !last;) {
    rec = fi_read(in);
    last = rec == NULL;
    if (rec) {
      const float *x;
      int64_t m = fi_rec_f32(rec, field, -1, &x, 1);
      if (m != d)
        fi_rec_die(rec, "'%s' has %lld elements, but the index %s has dimension %d", field, (long long)m, index, d);
      n++;
      if (mean) {
        for (int j = 0; j < d; j++) sum[j] += x[j];
        continue;
      }
      const char *id = fi_rec_id(rec);
      size_t len = strlen(id) + 1;
      while (qlen + len > qcap) qids = fi_realloc(qids, qcap = fi_mul_size(qcap, 2, "query ids"));
      memcpy(qids + qlen, id, len);
      qoff[nq] = qlen;
      qlen += len;
      memcpy(q + nq * d, x, (size_t)d * sizeof(float));
      if (++nq < nq_max) continue;
    } else if (mean) {
      if (n == 0) fi_die("--mean: no query embeddings on stdin");
      for (int j = 0; j < d; j++) q[j] = (float)(sum[j] / (double)n);
      qoff[0] = 0;
      qids = fi_realloc(qids, qcap = strlen(mean_id) + 1);
      memcpy(qids, mean_id, qcap);
      nq = 1;
    }
    if (nq == 0) continue;
    double t1 = fi_now();
    fi_knn_search(knn, q, nq, k, dist, lab);
    tsearch += fi_now() - t1;
    for (int64_t i = 0; i < nq; i++) {
      /* Approximate index types may find fewer than k: keep the found. */
      int64_t m = 0;
      while (m < k && lab[i * k + m] >= 0) names[m] = fi_knn_id(knn, lab[i * k + m]), m++;
      fi_wbegin(out, qids + qoff[i], 2);
      fi_wstrs(out, "ids", names, m);
      fi_wf32(out, "dist", dist + i * k, m);
      fi_wend(out);
    }
    nq = 0;
    qlen = 0;
    fi_progress("%lld queries", n);
  }
  fi_reader_close(in);
  fi_log("searched %lld queries, k=%lld, in %.3f s", mean ? 1 : n, k, tsearch);
  fi_writer_close(out);
  fi_done(n);
  free(q);
  free(dist);
  free(lab);
  free(names);
  free(qoff);
  free(qids);
  free(sum);
  fi_knn_free(knn);
  return 0;
}
