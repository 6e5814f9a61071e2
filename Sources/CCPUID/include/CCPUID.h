// CPU feature detection (CPUID + XGETBV) and a SIGILL guard, for choosing OpenBLAS kernels
// (Sources/Tensors/BLASCore.swift). Plain C because Swift has no CPUID intrinsic.
#ifndef FAIRGEN_CCPUID_H
#define FAIRGEN_CCPUID_H

/// What the CPU offers *and the OS saves across context switches*: an AVX flag is only set when XCR0
/// says the YMM state is enabled, an AVX-512 flag only when the opmask/ZMM state is enabled too.
typedef struct {
    int known;          ///< 1 on x86 with CPUID; 0 elsewhere (every other field is then zero).
    char vendor[13];    ///< "GenuineIntel", "AuthenticAMD", … (NUL-terminated).
    char brand[49];     ///< Processor brand string, e.g. "AMD EPYC 7B13" (NUL-terminated, may be empty).
    unsigned family;    ///< Display family (base + extended).
    unsigned model;     ///< Display model (base + extended).
    int avx, avx2, fma;
    int avx512f, avx512bw, avx512vl, avx512bf16;
} fairgen_cpu_features;

/// Fills `out` from CPUID leaves 0, 1, 7 (subleaves 0 and 1) and 0x80000002–4.
void fairgen_cpu_features_read(fairgen_cpu_features *out);

/// Calls `fn(context)` with a SIGILL handler installed on the calling thread's behalf. Returns 0 when
/// `fn` returned normally, 1 when it raised SIGILL (a kernel using instructions the CPU lacks); the
/// previous handler is restored either way. After a 1 the caller must not trust library state touched
/// by `fn` (it was abandoned mid-call) — fairgen re-executes itself right away.
int fairgen_call_catching_sigill(void (*fn)(void *context), void *context);

#endif
