/* testutil.h: small helpers shared by the cmocka tests: paths from the
 * environment, temporary directories, whole-file I/O and running commands. */
#ifndef HETC_TESTUTIL_H
#define HETC_TESTUTIL_H

#include <stddef.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* $HETC_SHARED (the shared/ folder) or the test is skipped when unset. */
const char *tu_shared(void);
/* $HETC_BIN: path of the hetc binary. */
const char *tu_hetc(void);
/* $HETC_SRC: the source tree. */
const char *tu_src(void);
/* A fresh empty directory $HETC_TMP/<name> (or /tmp/hetc-test-<pid>/<name>). */
const char *tu_tmpdir(const char *name);
/* Formats into a static ring of buffers (32 slots), for building paths. */
const char *tu_fmt(const char *fmt, ...);
/* Whole file as a NUL-terminated malloc'd buffer (len may be NULL); NULL if missing. */
char *tu_read_file(const char *path, size_t *len);
void tu_write_file(const char *path, const void *data, size_t len);
/* Runs a shell command; returns its exit status; stdout+stderr in *out (malloc'd) if out. */
int tu_run(char **out, const char *fmt, ...);
/* Calls fn(root, name, ctx) for every directory under root holding a
 * reference.json (a fixture); returns how many. Fails the test if root
 * cannot be read. */
int tu_each_fixture(const char *root, void (*fn)(const char *root, const char *name, void *ctx), void *ctx);
/* Skips the test when the machine has no OpenCL platform (/etc/OpenCL/vendors
 * holds no .icd). */
void tu_require_opencl(void);
/* Fails the test unless the cross compiler, its libc and qemu-aarch64 are
 * installed (scripts/deps.sh installs them). */
void tu_require_aarch64(void);

#endif
