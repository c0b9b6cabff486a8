/* cli/sha256.h: SHA-256 (FIPS 180-4) of a file, for the checksums a fixture manifest records. */
#ifndef LSCE_CLI_SHA256_H
#define LSCE_CLI_SHA256_H
/* hex gets 64 lowercase hex digits and a NUL. Returns 0, or errno when the file cannot be read. */
int lsce_sha256_file(char hex[65], const char *path);
#endif
