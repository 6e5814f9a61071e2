// OpenMPI's C interface (Debian libopenmpi-dev, found through pkg-config "ompi-c").
//
// OpenMPI defines MPI_COMM_WORLD, MPI_FLOAT, MPI_BYTE, MPI_SUCCESS, … as macros that take the address of
// a global struct; Swift cannot import those, so the few the Distributed module needs are wrapped here.
#include <mpi.h>

static inline MPI_Comm fairgen_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype fairgen_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype fairgen_mpi_byte(void) { return MPI_BYTE; }
static inline int fairgen_mpi_success(void) { return MPI_SUCCESS; }
static inline int fairgen_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
