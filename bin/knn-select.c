/* knn-select - build a FAISS index over training embeddings, or pick each
 * query's k nearest training records (FastIF's kNN pre-selection). */
#include "knn.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *build = NULL, *index = NULL, *spec = NULL, *mean_id = NULL;
  fi_knn_query q = {0};
  int threads, mean = 0;
  const fi_opt opts[] = {
      FI_PATH("build", 0, &build, NULL, "build INDEX (and INDEX.ids) from the training embeddings on stdin",
              .metavar = "INDEX"),
      FI_PATH("index", 0, &index, NULL, "search INDEX with the query embeddings on stdin", .metavar = "INDEX"),
      FI_STR("index-spec", 0, &spec, FI_KNN_DEFAULT_SPEC,
             "with --build: FAISS index_factory string (Flat = exact IndexFlatL2)", .metavar = "SPEC"),
      FI_I64("k", 'k', &q.k, NULL, "with --index: neighbours per query", .metavar = "K"),
      FI_FLAG("mean", 0, &mean, "with --index: one query, the mean of all query embeddings"),
      FI_STR("id", 0, &mean_id, "mean", "with --mean: id of the output record", .metavar = "NAME"),
      FI_STR("field", 0, &q.field, "emb", "embedding field of the input records", .metavar = "KEY"),
      FI_I64("batch", 0, &q.batch, "1024", "queries per FAISS search call", .metavar = "N"),
      FI_I64("nprobe", 0, &q.nprobe, "0",
             "with --index of an IVF spec: inverted lists visited per query (0: FAISS's default, 1; "
             "the number of lists: exact)", .metavar = "N", .min = 0, .max = 2147483647),
      FI_INT("threads", 0, &threads, "1",
             "FAISS threads (0: OMP_NUM_THREADS or all cores; 1 suits parallel fan-out)", .metavar = "N",
             .min = 0, .max = 4096),
      {0}};
  const fi_tool tool = {
      .name = "knn-select",
      .purpose = "build a kNN index of training embeddings, or find each query's nearest training records",
      .usage = "--build INDEX [--index-spec SPEC] < train-embeddings\n"
               "   or: knn-select --index INDEX -k K [--mean] [--batch N] [--nprobe N] < query-embeddings > candidates",
      .opts = opts,
      .details = "--build writes INDEX (a FAISS index; FAISS id = input order) and INDEX.ids (the record\n"
                 "ids, formats/index.md); both appear whole or not at all. --index writes candidates\n"
                 "records: id (the query's, or --id with --mean), ids (nearest first), dist (f32, squared L2).",
  };
  fi_parse_options(&tool, argc, argv);
  if (!build == !index) fi_usage_error("give exactly one of --build INDEX or --index INDEX");
  if (build && (fi_opt_given("k") || mean || fi_opt_given("id") || fi_opt_given("batch") ||
                fi_opt_given("nprobe")))
    fi_usage_error("-k, --mean, --id, --batch and --nprobe go with --index, not --build");
  if (index && fi_opt_given("index-spec")) fi_usage_error("--index-spec goes with --build");
  if (index && !fi_opt_given("k")) fi_usage_error("--index needs -k K");
  if (fi_opt_given("id") && !mean) fi_usage_error("--id names the --mean record; give --mean");
  if (!fi_id_valid(mean_id)) fi_usage_error("--id must be a valid record id (non-empty, no whitespace)");
  fi_err e;
  if (index && fi_knn_query_check(&q, NULL, &e)) fi_opt_fail(&e);
  fi_knn_threads(threads);
  fi_reader *in = fi_reader_open(NULL);
  double t0 = fi_now();

  if (build) {
    fi_knn *knn = fi_knn_build(in, spec, q.field);
    fi_reader_close(in);
    fi_knn_save(knn, build);
    fi_log("indexed %lld vectors of dimension %d (%s) in %.2f s", (long long)fi_knn_size(knn),
           fi_knn_dim(knn), fi_knn_spec(knn), fi_now() - t0);
    fi_done(fi_knn_size(knn));
    fi_knn_free(knn);
    return 0;
  }

  fi_knn *knn = fi_knn_load(index);
  fi_log("loaded %s (%lld vectors of dimension %d, %s) in %.2f s", index, (long long)fi_knn_size(knn),
         fi_knn_dim(knn), fi_knn_spec(knn), fi_now() - t0);
  q.mean_id = mean ? mean_id : NULL;
  fi_writer *out = fi_writer_open(NULL);
  double tsearch;
  int64_t n = fi_knn_search_stream(knn, &q, in, out, &tsearch, &e);
  if (n < 0) fi_opt_fail(&e);
  fi_reader_close(in);
  fi_log("searched %lld queries, k=%lld, in %.3f s", mean ? 1 : (long long)n, (long long)q.k, tsearch);
  fi_writer_close(out);
  fi_done(n);
  fi_knn_free(knn);
  return 0;
}
