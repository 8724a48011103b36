/*
 * faiss_c_shim.cpp — the part of FAISS's C API that ragd uses, built on the
 * C++ library when the system has no libfaiss_c (Debian 12 ships only
 * libfaiss.a). Owned by the index/vectors module.
 *
 * Every function has the signature declared in <faiss/c_api/...>, so the
 * compiler checks that this file and the real C API agree, and meson can
 * switch to a system libfaiss_c without any change in vectors_faiss.c.
 * Like the real C API, no C++ exception crosses into C: each one becomes a
 * negative return code and a message for faiss_get_last_error().
 */
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <exception>
#include <new>
#include <string>

namespace
{

/* Per thread, as in the real C API: a search on one thread must not
 * overwrite the message another thread is about to read. */
thread_local std::string last_error;

/* Runs fn and maps exceptions to the C API's FaissErrorCode values. The
 * message copy itself may throw bad_alloc; then the message stays empty
 * rather than letting an exception escape into C. */
template <typename Fn> int guarded(Fn fn)
{
    try {
        fn();
        return OK;
    } catch (const faiss::FaissException &e) {
        try {
            last_error = e.what();
        } catch (...) {
        }
        return FAISS_EXCEPT;
    } catch (const std::exception &e) {
        try {
            last_error = e.what();
        } catch (...) {
        }
        return STD_EXCEPT;
    } catch (...) {
        try {
            last_error = "Unknown error";
        } catch (...) {
        }
        return UNKNOWN_EXCEPT;
    }
}

faiss::Index *cxx(FaissIndex *p)
{
    return reinterpret_cast<faiss::Index *>(p);
}

const faiss::Index *cxx(const FaissIndex *p)
{
    return reinterpret_cast<const faiss::Index *>(p);
}

} // namespace

extern "C" {

const char *faiss_get_last_error()
{
    return last_error.empty() ? nullptr : last_error.c_str();
}

int faiss_index_factory(FaissIndex **p_index, int d, const char *description,
                        FaissMetricType metric)
{
    return guarded([&] {
        faiss::Index *ix =
            faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric));
        *p_index = reinterpret_cast<FaissIndex *>(ix);
    });
}

void faiss_Index_free(FaissIndex *obj)
{
    delete cxx(obj);
}

int faiss_Index_d(const FaissIndex *obj)
{
    return cxx(obj)->d;
}

int faiss_Index_is_trained(const FaissIndex *obj)
{
    return cxx(obj)->is_trained ? 1 : 0;
}

idx_t faiss_Index_ntotal(const FaissIndex *obj)
{
    return cxx(obj)->ntotal;
}

FaissMetricType faiss_Index_metric_type(const FaissIndex *obj)
{
    return static_cast<FaissMetricType>(cxx(obj)->metric_type);
}

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x)
{
    return guarded([&] { cxx(index)->train(n, x); });
}

int faiss_Index_add_with_ids(FaissIndex *index, idx_t n, const float *x, const idx_t *xids)
{
    return guarded([&] { cxx(index)->add_with_ids(n, x, xids); });
}

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k, float *distances,
                       idx_t *labels)
{
    return guarded([&] { cxx(index)->search(n, x, k, distances, labels); });
}

int faiss_Index_reset(FaissIndex *index)
{
    return guarded([&] { cxx(index)->reset(); });
}

int faiss_Index_remove_ids(FaissIndex *index, const FaissIDSelector *sel, size_t *n_removed)
{
    return guarded([&] {
        size_t n = cxx(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector *>(sel));
        if (n_removed) *n_removed = n;
    });
}

int faiss_Index_reconstruct(const FaissIndex *index, idx_t key, float *recons)
{
    return guarded([&] { cxx(index)->reconstruct(key, recons); });
}

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch **p_sel, size_t n, const idx_t *indices)
{
    return guarded([&] {
        *p_sel = reinterpret_cast<FaissIDSelectorBatch *>(new faiss::IDSelectorBatch(n, indices));
    });
}

void faiss_IDSelector_free(FaissIDSelector *obj)
{
    delete reinterpret_cast<faiss::IDSelector *>(obj);
}

int faiss_ParameterSpace_new(FaissParameterSpace **space)
{
    return guarded(
        [&] { *space = reinterpret_cast<FaissParameterSpace *>(new faiss::ParameterSpace()); });
}

void faiss_ParameterSpace_free(FaissParameterSpace *obj)
{
    delete reinterpret_cast<faiss::ParameterSpace *>(obj);
}

int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space, FaissIndex *index,
                                             const char *name, double value)
{
    return guarded([&] {
        reinterpret_cast<const faiss::ParameterSpace *>(space)->set_index_parameter(cxx(index),
                                                                                    name, value);
    });
}

int faiss_write_index(const FaissIndex *idx, FILE *f)
{
    return guarded([&] { faiss::write_index(cxx(idx), f); });
}

int faiss_write_index_fname(const FaissIndex *idx, const char *fname)
{
    return guarded([&] { faiss::write_index(cxx(idx), fname); });
}

int faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out)
{
    return guarded(
        [&] { *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(f, io_flags)); });
}

int faiss_read_index_fname(const char *fname, int io_flags, FaissIndex **p_out)
{
    return guarded(
        [&] { *p_out = reinterpret_cast<FaissIndex *>(faiss::read_index(fname, io_flags)); });
}

} // extern "C"
