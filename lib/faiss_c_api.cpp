// faiss_c_api.cpp - the part of FAISS's C API that fastif uses.
//
// Debian's libfaiss-dev 1.7.3 installs libfaiss.a and the C API headers
// (<faiss/c_api/*.h>) but not the compiled C API, so nothing defines the
// faiss_* symbols. This file defines the functions we call, over the
// faiss:: classes. It includes the installed C headers, so every definition
// here is checked against (and gets C linkage from) its declaration.
//
// Error convention (as upstream's c_api/macros_impl.h): every int-returning
// function catches all C++ exceptions, remembers the message for
// faiss_get_last_error() and returns FAISS_EXCEPT (-2), STD_EXCEPT (-4) or
// UNKNOWN_EXCEPT (-1); 0 means success. No exception crosses into C.

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace {

// One message per thread, like upstream's thread_local exception_ptr, but
// kept as a string so the pointer handed to C stays valid until the next
// failure on this thread.
thread_local std::string last_error;
thread_local bool have_error = false;

void remember(const char* what) noexcept {
    try {
        last_error = what ? what : "unknown error";
    } catch (...) {
        // Out of memory while copying the message: keep a static text.
        last_error.clear();
    }
    have_error = true;
}

} // namespace

// lib/faiss_lists.cpp reports its failures through the same message.
void fi_faiss_remember(const char* what) noexcept {
    remember(what);
}

namespace {

faiss::Index* I(FaissIndex* p) {
    return reinterpret_cast<faiss::Index*>(p);
}
const faiss::Index* I(const FaissIndex* p) {
    return reinterpret_cast<const faiss::Index*>(p);
}

// Null pointers would be undefined behaviour inside FAISS; C callers get an
// error code instead.
void need(const void* p, const char* what) {
    if (!p) {
        throw std::invalid_argument(std::string("null ") + what);
    }
}

} // namespace

#define FI_FAISS_TRY try
#define FI_FAISS_CATCH                                   \
    catch (faiss::FaissException & e) {                  \
        remember(e.what());                              \
        return FAISS_EXCEPT;                             \
    }                                                    \
    catch (std::exception & e) {                         \
        remember(e.what());                              \
        return STD_EXCEPT;                               \
    }                                                    \
    catch (...) {                                        \
        remember("unknown C++ exception inside FAISS");  \
        return UNKNOWN_EXCEPT;                           \
    }                                                    \
    return OK;

const char* faiss_get_last_error() {
    if (!have_error) {
        return nullptr;
    }
    return last_error.empty() ? "out of memory (error message lost)"
                              : last_error.c_str();
}

int faiss_index_factory(
        FaissIndex** p_index,
        int d,
        const char* description,
        FaissMetricType metric) {
    FI_FAISS_TRY {
        need(p_index, "output pointer");
        need(description, "index description");
        faiss::Index* idx = faiss::index_factory(
                d, description, static_cast<faiss::MetricType>(metric));
        *p_index = reinterpret_cast<FaissIndex*>(idx);
    }
    FI_FAISS_CATCH
}

void faiss_Index_free(FaissIndex* obj) {
    delete I(obj);
}

int faiss_Index_d(const FaissIndex* obj) {
    return static_cast<int>(I(obj)->d);
}

int faiss_Index_is_trained(const FaissIndex* obj) {
    return I(obj)->is_trained ? 1 : 0;
}

idx_t faiss_Index_ntotal(const FaissIndex* obj) {
    return static_cast<idx_t>(I(obj)->ntotal);
}

FaissMetricType faiss_Index_metric_type(const FaissIndex* obj) {
    return static_cast<FaissMetricType>(I(obj)->metric_type);
}

int faiss_Index_verbose(const FaissIndex* obj) {
    return I(obj)->verbose ? 1 : 0;
}

void faiss_Index_set_verbose(FaissIndex* obj, int verbose) {
    I(obj)->verbose = verbose != 0;
}

int faiss_Index_train(FaissIndex* index, idx_t n, const float* x) {
    FI_FAISS_TRY {
        need(index, "index");
        need(x, "training vectors");
        I(index)->train(n, x);
    }
    FI_FAISS_CATCH
}

int faiss_Index_add(FaissIndex* index, idx_t n, const float* x) {
    FI_FAISS_TRY {
        need(index, "index");
        need(x, "vectors");
        I(index)->add(n, x);
    }
    FI_FAISS_CATCH
}

int faiss_Index_reset(FaissIndex* index) {
    FI_FAISS_TRY {
        need(index, "index");
        I(index)->reset();
    }
    FI_FAISS_CATCH
}

int faiss_Index_search(
        const FaissIndex* index,
        idx_t n,
        const float* x,
        idx_t k,
        float* distances,
        idx_t* labels) {
    FI_FAISS_TRY {
        need(index, "index");
        need(x, "queries");
        need(distances, "distances");
        need(labels, "labels");
        I(index)->search(n, x, k, distances, labels);
    }
    FI_FAISS_CATCH
}

int faiss_Index_reconstruct(const FaissIndex* index, idx_t key, float* recons) {
    FI_FAISS_TRY {
        need(index, "index");
        need(recons, "output vector");
        I(index)->reconstruct(key, recons);
    }
    FI_FAISS_CATCH
}

int faiss_write_index(const FaissIndex* idx, FILE* f) {
    FI_FAISS_TRY {
        need(idx, "index");
        need(f, "FILE");
        faiss::write_index(I(idx), f);
    }
    FI_FAISS_CATCH
}

int faiss_write_index_fname(const FaissIndex* idx, const char* fname) {
    FI_FAISS_TRY {
        need(idx, "index");
        need(fname, "file name");
        faiss::write_index(I(idx), fname);
    }
    FI_FAISS_CATCH
}

int faiss_read_index(FILE* f, int io_flags, FaissIndex** p_out) {
    FI_FAISS_TRY {
        need(f, "FILE");
        need(p_out, "output pointer");
        faiss::Index* out = faiss::read_index(f, io_flags);
        *p_out = reinterpret_cast<FaissIndex*>(out);
    }
    FI_FAISS_CATCH
}

int faiss_read_index_fname(const char* fname, int io_flags, FaissIndex** p_out) {
    FI_FAISS_TRY {
        need(fname, "file name");
        need(p_out, "output pointer");
        faiss::Index* out = faiss::read_index(fname, io_flags);
        *p_out = reinterpret_cast<FaissIndex*>(out);
    }
    FI_FAISS_CATCH
}


// nprobe and the like at query time (knn-select --nprobe): ParameterSpace
// finds the IVF part inside wrappers (IndexPreTransform, IDMap) and throws
// for an index without the parameter.
void faiss_ParameterSpace_free(FaissParameterSpace* obj) {
    delete reinterpret_cast<faiss::ParameterSpace*>(obj);
}

int faiss_ParameterSpace_new(FaissParameterSpace** space) {
    FI_FAISS_TRY {
        need(space, "output pointer");
        *space = reinterpret_cast<FaissParameterSpace*>(new faiss::ParameterSpace());
    }
    FI_FAISS_CATCH
}

int faiss_ParameterSpace_set_index_parameter(
        const FaissParameterSpace* space,
        FaissIndex* index,
        const char* name,
        double value) {
    FI_FAISS_TRY {
        need(space, "parameter space");
        need(index, "index");
        need(name, "parameter name");
        reinterpret_cast<const faiss::ParameterSpace*>(space)->set_index_parameter(
                I(index), name, value);
    }
    FI_FAISS_CATCH
}
