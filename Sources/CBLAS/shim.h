// OpenBLAS's CBLAS interface (pthread variant, found through pkg-config "openblas").
#include <cblas.h>
