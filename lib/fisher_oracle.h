/* fisher_oracle.h - the oracle of oracle.h over a stream of training
 * gradient records (lib/fisher_oracle.c): C = the empirical Fisher
 * F_B = (1/|B|) sum_{i in B} g_i g_i^T of any batch, so LiSSA, CG and exact
 * solve (F + shift I) s = v with no model file. The records are held in
 * their own form (layer factors a, delta; dense parts) and the product is
 * GEMMs over the factors: c_i = g_i . v = sum_t delta_t^T V a_t, then
 * F v = (1/|B|) sum_i c_i sum_t delta_t abar_t^T; g_i is never formed. */
#ifndef FI_FISHER_ORACLE_H
#define FI_FISHER_ORACLE_H
#include <stdint.h>

#include "oracle.h"
#include "util.h"

typedef struct fi_fisher_oracle fi_fisher_oracle;
/* Loads the gradient records of path (dies naming a bad record, or when
 * there is none) and fills *out (valid until fi_fisher_oracle_free) with
 * nthreads contexts; products go through at most `chunk` examples at a
 * time. */
fi_fisher_oracle *fi_fisher_oracle_new(const char *path, int nthreads, int64_t chunk,
                                       fi_oracle *out);
void fi_fisher_oracle_free(fi_fisher_oracle *fo);
/* Whether vectors of length P over params (NULL: not known) are over the
 * training gradients' parameters: 0, or -1 with e (FI_ERR_DATA, setting
 * "fisher"). */
int fi_fisher_oracle_check(const fi_fisher_oracle *fo, int64_t P, const char *params, fi_err *e);
/* The training records' params, or NULL. */
const char *fi_fisher_oracle_params(const fi_fisher_oracle *fo);

#endif
