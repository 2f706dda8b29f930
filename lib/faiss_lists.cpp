// faiss_lists.cpp - IVF inverted lists located at write time and read in
// place, each checked by its CRC-32 when first touched (lib/faiss_lists.h,
// formats/index.md).
//
// Writing: faiss::write_index writes an ArrayInvertedLists as its sizes,
// then for each non-empty list its codes and its ids, each in one write
// call straight from the list's own vector (index_write.cpp,
// write_InvertedLists). The writer below recognises those calls by their
// pointer and length, so it learns where every list lies and CRCs each one
// on the way; anything out of that order and the index gets no list table
// (the loader then checks the whole file, as for Flat).
//
// Reading: IO_FLAG_SKIP_IVF_DATA plus a hook's fourcc in the flag's high
// bits makes read_InvertedLists hand the table's sizes to that hook instead
// of reading the lists (how FAISS's own IO_FLAG_MMAP reaches
// OnDiskInvertedLists). Ours points into a mapping of the file owned by the
// index. FAISS's OnDiskInvertedLists is not used: it needs a FileIOReader,
// checks no list against the file size, and its prefetch starts 32 threads.

#include "faiss_lists.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/invlists/InvertedListsIOHook.h>

#include <sys/mman.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

void fi_faiss_remember(const char* what) noexcept; // lib/faiss_c_api.cpp

namespace {

using idx_t = faiss::InvertedLists::idx_t;

#define FI_TRY try
#define FI_CATCH                                        \
    catch (std::exception & e) {                        \
        fi_faiss_remember(e.what());                    \
        return -2;                                      \
    }                                                   \
    catch (...) {                                       \
        fi_faiss_remember("unknown C++ exception");     \
        return -1;                                      \
    }                                                   \
    return 0;

uint32_t crc_of(const void* p, size_t n) {
    return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), (const Bytef*)p, n);
}

uint32_t combine(uint32_t a, uint32_t b, size_t nb) {
    return (uint32_t)crc32_combine(a, b, (z_off_t)nb);
}

// ---- writing ----

struct CbWriter : faiss::IOWriter {
    int (*fn)(void*, const void*, size_t);
    void* ctx;
    uint64_t pos = 0;
    uint32_t all = 0, rest = 0; // CRCs of everything, of the non-list bytes
    // the lists: next is the next non-empty list expected, half 0 its codes, 1 its ids
    const faiss::ArrayInvertedLists* al = nullptr;
    enum { BEFORE, IN, AFTER, NONE } state = NONE;
    size_t next = 0;
    int half = 0;
    uint64_t begin = 0, end = 0;
    std::vector<uint32_t> crc;

    void skip_empty() {
        while (next < al->nlist && al->ids[next].empty()) next++;
    }

    size_t operator()(const void* ptr, size_t size, size_t nitems) override {
        if (size && nitems > SIZE_MAX / size) return 0;
        size_t n = size * nitems;
        if (n == 0) return nitems;
        if (fn(ctx, ptr, n) != 0) return 0; // FAISS reports it with errno
        uint32_t c = crc_of(ptr, n);
        all = combine(all, c, n); // CRC(empty) = 0 combines as the identity
        bool list = false;
        if ((state == BEFORE || state == IN) && next < al->nlist) {
            size_t m = al->ids[next].size();
            if (half == 0 && ptr == al->codes[next].data() && n == m * al->code_size) {
                if (state == BEFORE) begin = pos, state = IN;
                crc[next] = c, half = 1, list = true;
            } else if (half == 1 && ptr == al->ids[next].data() && n == m * sizeof(idx_t)) {
                crc[next] = combine(crc[next], c, n), half = 0, list = true;
                next++;
                skip_empty();
                if (next == al->nlist) state = AFTER, end = pos + n;
            } else if (state == IN) {
                state = NONE; // something between the lists: not the layout we know
            }
        }
        if (!list) rest = combine(rest, c, n);
        pos += n;
        return nitems;
    }
};

} // namespace

extern "C" void fi_faiss_lists_free(fi_faiss_lists* l) {
    if (!l) return;
    free(l->sizes);
    free(l->crc);
    l->sizes = nullptr;
    l->crc = nullptr;
}

extern "C" int fi_faiss_write_index(const FaissIndex* index, int (*write)(void*, const void*, size_t), void* ctx,
                                    uint64_t* bytes, uint32_t* crc, fi_faiss_lists* lists) {
    FI_TRY {
        const faiss::Index* idx = reinterpret_cast<const faiss::Index*>(index);
        CbWriter w;
        w.fn = write;
        w.ctx = ctx;
        w.name = "index";
        *lists = fi_faiss_lists{};
        const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(idx);
        if (ivf) w.al = dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists);
        if (w.al && w.al->nlist > 0 && w.al->compute_ntotal() > 0) {
            w.state = CbWriter::BEFORE;
            w.crc.assign(w.al->nlist, 0);
            w.skip_empty();
        }
        faiss::write_index(idx, &w);
        *bytes = w.pos;
        *crc = w.all;
        if (w.state == CbWriter::AFTER) {
            size_t n = w.al->nlist;
            lists->nlist = (int64_t)n;
            lists->code_size = (int64_t)w.al->code_size;
            lists->begin = (int64_t)w.begin;
            lists->end = (int64_t)w.end;
            lists->rest_crc = w.rest;
            lists->sizes = static_cast<int64_t*>(malloc(n * sizeof *lists->sizes));
            lists->crc = static_cast<uint32_t*>(malloc(n * sizeof *lists->crc));
            if (!lists->sizes || !lists->crc) {
                fi_faiss_lists_free(lists);
                throw std::bad_alloc();
            }
            for (size_t i = 0; i < n; i++) {
                lists->sizes[i] = (int64_t)w.al->ids[i].size();
                lists->crc[i] = w.al->ids[i].empty() ? 0 : w.crc[i];
            }
        }
    }
    FI_CATCH
}

// ---- reading ----

namespace {

// The file's mapping, shared by the reader and the lists; unmapped with the
// last of them once the index owns it.
struct Mapping {
    uint8_t* p;
    size_t size;
    bool owned = false;
    Mapping(void* p_, size_t n) : p(static_cast<uint8_t*>(p_)), size(n) {}
    ~Mapping() {
        if (owned) munmap(p, size);
    }
};

struct MapReader : faiss::IOReader {
    std::shared_ptr<Mapping> map;
    size_t pos = 0;
    const fi_faiss_lists* want = nullptr;
    std::string fname;
    bool found = false;

    size_t operator()(void* ptr, size_t size, size_t nitems) override {
        if (size == 0 || nitems == 0) return nitems;
        size_t left = map->size - pos, n = nitems <= left / size ? nitems : left / size;
        if (n) memcpy(ptr, map->p + pos, n * size);
        pos += n * size;
        return n;
    }
};

// Read-only lists in the mapping, list i checked against crc[i] before its
// first use; the check may run in several OpenMP threads at once, and a
// list checked twice is harmless.
struct CheckedLists : faiss::InvertedLists {
    std::shared_ptr<Mapping> map;
    std::vector<size_t> off, n;
    std::vector<uint32_t> crc;
    std::unique_ptr<std::atomic<unsigned char>[]> ok;
    std::string fname;

    CheckedLists(size_t nlist_, size_t code_size_) : InvertedLists(nlist_, code_size_) {}

    void check(size_t i) const {
        if (i >= nlist) FAISS_THROW_FMT("inverted list %zu of %zu", i, nlist);
        if (ok[i].load(std::memory_order_acquire)) return;
        size_t len = n[i] * (code_size + sizeof(idx_t));
        uint32_t got = crc_of(map->p + off[i], len);
        if (got != crc[i]) {
            char msg[512];
            snprintf(msg, sizeof msg,
                     "kNN index %s: inverted list %zu (bytes %zu..%zu) has CRC-32 %08x, its id map says %08x: "
                     "the file is corrupt or not the one its id map was built with; rebuild with knn-select --build",
                     fname.c_str(), i, off[i], off[i] + len, (unsigned)got, (unsigned)crc[i]);
            throw std::runtime_error(msg);
        }
        ok[i].store(1, std::memory_order_release);
    }

    size_t list_size(size_t i) const override {
        if (i >= nlist) FAISS_THROW_FMT("inverted list %zu of %zu", i, nlist);
        return n[i];
    }
    const uint8_t* get_codes(size_t i) const override {
        check(i);
        return map->p + off[i];
    }
    // Not aligned in general (the lists start wherever FAISS's header
    // ends), as with FAISS's own mmap; get_single_id copies.
    const idx_t* get_ids(size_t i) const override {
        check(i);
        return reinterpret_cast<const idx_t*>(map->p + off[i] + n[i] * code_size);
    }
    idx_t get_single_id(size_t i, size_t j) const override {
        check(i);
        if (j >= n[i]) FAISS_THROW_FMT("entry %zu of inverted list %zu (%zu entries)", j, i, n[i]);
        idx_t id;
        memcpy(&id, map->p + off[i] + n[i] * code_size + j * sizeof id, sizeof id);
        return id;
    }
    size_t add_entries(size_t, size_t, const idx_t*, const uint8_t*) override {
        FAISS_THROW_MSG("a loaded kNN index is read-only");
    }
    void update_entries(size_t, size_t, size_t, const idx_t*, const uint8_t*) override {
        FAISS_THROW_MSG("a loaded kNN index is read-only");
    }
    void resize(size_t, size_t) override {
        FAISS_THROW_MSG("a loaded kNN index is read-only");
    }
};

#define HOOK_KEY "ilfi"

struct Hook : faiss::InvertedListsIOHook {
    Hook() : InvertedListsIOHook(HOOK_KEY, typeid(CheckedLists).name()) {}

    void write(const faiss::InvertedLists*, faiss::IOWriter*) const override {
        FAISS_THROW_MSG("a loaded kNN index is not written again");
    }
    faiss::InvertedLists* read(faiss::IOReader*, int) const override {
        FAISS_THROW_MSG("no FAISS file holds " HOOK_KEY " lists");
    }

    faiss::InvertedLists* read_ArrayInvertedLists(faiss::IOReader* f, int, size_t nlist, size_t code_size,
                                                  const std::vector<size_t>& sizes) const override {
        MapReader* r = dynamic_cast<MapReader*>(f);
        FAISS_THROW_IF_NOT_MSG(r, "lists read in place need the mapped reader");
        const fi_faiss_lists* w = r->want;
        if (r->found || (int64_t)r->pos != w->begin) return read_in_memory(r, nlist, code_size, sizes);
        // The table the id map describes; its sizes were under the CRC of
        // the bytes outside the lists, so a mismatch is a hand-made map.
        FAISS_THROW_IF_NOT_FMT((int64_t)nlist == w->nlist && (int64_t)code_size == w->code_size,
                               "%s: %zu lists of %zu-byte codes, its id map says %lld of %lld", r->fname.c_str(),
                               nlist, code_size, (long long)w->nlist, (long long)w->code_size);
        auto il = std::unique_ptr<CheckedLists>(new CheckedLists(nlist, code_size));
        il->map = r->map;
        il->fname = r->fname;
        il->off.resize(nlist);
        il->n.assign(sizes.begin(), sizes.end());
        il->crc.assign(w->crc, w->crc + nlist);
        il->ok.reset(new std::atomic<unsigned char>[nlist]);
        size_t o = r->pos, per = code_size + sizeof(idx_t);
        for (size_t i = 0; i < nlist; i++) {
            il->ok[i].store(0);
            FAISS_THROW_IF_NOT_FMT((int64_t)sizes[i] == w->sizes[i], "%s: list %zu has %zu entries, its id map says %lld",
                                   r->fname.c_str(), i, sizes[i], (long long)w->sizes[i]);
            il->off[i] = o;
            FAISS_THROW_IF_NOT_FMT(sizes[i] <= (r->map->size - o) / per, "%s: list %zu runs past the end of the file",
                                   r->fname.c_str(), i);
            o += sizes[i] * per;
        }
        FAISS_THROW_IF_NOT_FMT((int64_t)o == w->end, "%s: lists end at byte %zu, its id map says %lld",
                               r->fname.c_str(), o, (long long)w->end);
        r->pos = o;
        r->found = true;
        return il.release();
    }

    // Any other table is read as FAISS reads it (index_read.cpp).
    static faiss::InvertedLists* read_in_memory(MapReader* r, size_t nlist, size_t code_size,
                                                const std::vector<size_t>& sizes) {
        auto al = std::unique_ptr<faiss::ArrayInvertedLists>(new faiss::ArrayInvertedLists(nlist, code_size));
        for (size_t i = 0; i < nlist; i++) {
            size_t m = sizes[i];
            FAISS_THROW_IF_NOT_FMT(m <= (r->map->size - r->pos) / (code_size + sizeof(idx_t)),
                                   "%s: list %zu runs past the end of the file", r->fname.c_str(), i);
            al->ids[i].resize(m);
            al->codes[i].resize(m * code_size);
            if (m && ((*r)(al->codes[i].data(), 1, m * code_size) != m * code_size ||
                      (*r)(al->ids[i].data(), sizeof(idx_t), m) != m))
                FAISS_THROW_FMT("%s: short read", r->fname.c_str());
        }
        return al.release();
    }
};

// fourcc("ilfi")'s high half in the flags selects the hook (index_read.cpp).
const int READ_FLAGS = faiss::IO_FLAG_SKIP_IVF_DATA | (('f' << 16) | ('i' << 24));

std::once_flag hook_once;

} // namespace

extern "C" int fi_faiss_read_index_mapped(void* map, size_t bytes, const fi_faiss_lists* want, const char* name,
                                          FaissIndex** out) {
    FI_TRY {
        std::call_once(hook_once, [] { faiss::InvertedListsIOHook::add_callback(new Hook()); });
        MapReader r;
        r.map = std::make_shared<Mapping>(map, bytes);
        r.want = want;
        r.fname = name;
        r.name = name;
        std::unique_ptr<faiss::Index> idx(faiss::read_index(&r, READ_FLAGS));
        FAISS_THROW_IF_NOT_FMT(r.found, "%s: no inverted lists at byte %lld, where its id map says they are", name,
                               (long long)want->begin);
        FAISS_THROW_IF_NOT_FMT(r.pos == bytes, "%s: %zu bytes after the index", name, bytes - r.pos);
        r.map->owned = true;
        *out = reinterpret_cast<FaissIndex*>(idx.release());
    }
    FI_CATCH
}
