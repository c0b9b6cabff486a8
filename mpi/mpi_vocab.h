/* mpi/mpi_vocab.h: registers MPI_COMM_WORLD as the communicator of the row mpi_vocab_parallel. */
#ifndef LSCE_MPI_VOCAB_H
#define LSCE_MPI_VOCAB_H
void lsce_mpi_vocab_register(void);
#endif
