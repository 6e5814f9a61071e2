#include "CCPUID.h"
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned eax, edx;
    // xgetbv with ECX = 0; spelled as bytes so no -mxsave flag is needed.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

void fairgen_cpu_features_read(fairgen_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    out->known = 1;
    unsigned maxLeaf = a;
    memcpy(out->vendor + 0, &b, 4);
    memcpy(out->vendor + 4, &d, 4);
    memcpy(out->vendor + 8, &c, 4);

    __get_cpuid(1, &a, &b, &c, &d);
    unsigned baseFamily = (a >> 8) & 0xf, baseModel = (a >> 4) & 0xf;
    out->family = baseFamily == 0xf ? baseFamily + ((a >> 20) & 0xff) : baseFamily;
    out->model = (baseFamily == 0x6 || baseFamily == 0xf) ? (((a >> 16) & 0xf) << 4) + baseModel : baseModel;
    int osxsave = (c >> 27) & 1;
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int ymmSaved = (xcr0 & 0x6) == 0x6;              // SSE + AVX state
    int zmmSaved = ymmSaved && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM
    out->avx = ymmSaved && ((c >> 28) & 1);
    out->fma = ymmSaved && ((c >> 12) & 1);

    if (maxLeaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned maxSub = a;
        out->avx2 = ymmSaved && ((b >> 5) & 1);
        out->avx512f = zmmSaved && ((b >> 16) & 1);
        out->avx512bw = zmmSaved && ((b >> 30) & 1);
        out->avx512vl = zmmSaved && ((b >> 31) & 1);
        if (maxSub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            out->avx512bf16 = zmmSaved && ((a >> 5) & 1);
        }
    }

    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
        unsigned regs[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
        memcpy(out->brand, regs, 48);
        out->brand[48] = 0;
    }
}
#else
void fairgen_cpu_features_read(fairgen_cpu_features *out) { memset(out, 0, sizeof *out); }
#endif

static _Thread_local sigjmp_buf *guard;

static void on_sigill(int sig) {
    (void)sig;
    if (guard) siglongjmp(*guard, 1);
    // Not ours (another thread): fall back to the default action, i.e. die with SIGILL as before.
    signal(SIGILL, SIG_DFL);
    raise(SIGILL);
}

int fairgen_call_catching_sigill(void (*fn)(void *context), void *context) {
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigill;
    sigemptyset(&action.sa_mask);
    sigaction(SIGILL, &action, &previous);
    sigjmp_buf here;
    int failed = 0;
    if (sigsetjmp(here, 1) == 0) {
        guard = &here;
        fn(context);
    } else {
        failed = 1;
    }
    guard = 0;
    sigaction(SIGILL, &previous, 0);
    return failed;
}
