/* model_oracle.h - the oracle of oracle.h over a model and its training
 * set (lib/hvp_model.c): C = the Hessian (fi_hvp) or the Gauss-Newton
 * matrix (fi_ggnvp) of the training objective over the selected
 * parameters. Full batches are evaluated in chunks so memory stays
 * bounded. */
#ifndef FI_MODEL_ORACLE_H
#define FI_MODEL_ORACLE_H
#include <stdint.h>

#include "model.h"
#include "oracle.h"

typedef struct fi_model_oracle fi_model_oracle;
/* Fills *out (valid until fi_model_oracle_free) with nthreads contexts;
 * m, ps and train must outlive it. */
fi_model_oracle *fi_model_oracle_new(const fi_model *m, const fi_psel *ps,
                                     const fi_examples *train, fi_curvature curv,
                                     int nthreads, int64_t chunk, fi_oracle *out);
void fi_model_oracle_free(fi_model_oracle *mo);

#endif
