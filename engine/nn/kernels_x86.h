/*
 * kernels_x86.h — AVX-512 versions of the row-wise kernels in kernels.h,
 * compiled with per-function target attributes and chosen at run time
 * when the CPU has AVX-512F (kernels.c asks rg_x86_avx512()).
 * Internal to engine/nn.
 */
#ifndef RG_NN_KERNELS_X86_H
#define RG_NN_KERNELS_X86_H

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define RG_HAVE_X86_KERNELS 1
int rg_x86_avx512(void);
void rg_x86_add_bias(float *x, int rows, int dim, const float *b);
void rg_x86_add_layernorm(float *x, const float *res, int rows, int dim, const float *g,
                          const float *b, float eps);
void rg_x86_gelu(float *x, size_t n);
void rg_x86_softmax_rows(float *x, int rows, int cols, int ld);
#endif

#endif
