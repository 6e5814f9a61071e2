// Shared by the kernels_*.c files: the per-level tables and the settings every level compiles under.
#ifndef FAIRGEN_CKERNELS_INTERNAL_H
#define FAIRGEN_CKERNELS_INTERNAL_H

#include "CKernels.h"

// Never let the compiler fuse a·b + c on its own: the same source must round the same way at every level
// (an FMA is written out as v_fma / fmaf where one is wanted).
#pragma STDC FP_CONTRACT OFF

extern const fg_kernel_table fg_table_scalar;
#if defined(__x86_64__) && defined(__clang__)
#define FG_HAVE_X86_LEVELS 1
extern const fg_kernel_table fg_table_avx2;
extern const fg_kernel_table fg_table_avx512;
#endif

#endif
