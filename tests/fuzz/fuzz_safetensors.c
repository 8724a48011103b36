/*
 * fuzz_safetensors.c — engine/nn/safetensors.h on arbitrary files.
 *
 * rg_safetensors_open takes a path (it maps the file), so each input is
 * written to one file in the scratch folder (under /dev/shm when
 * scripts/fuzz.sh runs it). A file that opens must hand out only tensors
 * inside the mapping: every float tensor is read back as f32 with its own
 * shape and every byte of it touched, so ASan sees any read outside.
 */
#include "fuzz.h"

#include "engine/nn/safetensors.h"

static char path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(path, sizeof path, "%s/model.safetensors", fuzz_scratch());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(path, data, size);
    rg_safetensors *st = NULL;
    rg_error err;
    rg_error_clear(&err);
    if (rg_safetensors_open(path, &st, &err) != RG_OK) {
        FUZZ_CHECK(st == NULL);
        return 0;
    }
    volatile float sink = 0;
    size_t n = rg_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const rg_tensor_info *t = rg_safetensors_at(st, i);
        FUZZ_CHECK(t && t->name && rg_safetensors_find(st, t->name));
        volatile unsigned char b = 0;
        for (size_t k = 0; k < t->nbytes; k++)
            b ^= ((const unsigned char *)t->data)[k];
        (void)b;
        const float *f;
        if (rg_safetensors_f32(st, t->name, t->ndim, t->shape, &f, &err) == RG_OK)
            for (int64_t k = 0; k < t->count; k++)
                sink += f[k];
    }
    (void)sink;
    rg_safetensors_close(st);
    return 0;
}
