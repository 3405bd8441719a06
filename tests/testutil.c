/* testutil.c: see testutil.h. */
#include "testutil.h"
#include <dirent.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_shared(void)
{
    const char *s = getenv("HETC_SHARED");
    if (!s || !*s) { fprintf(stderr, "HETC_SHARED is not set\n"); skip(); }
    return s;
}

const char *tu_hetc(void)
{
    const char *s = getenv("HETC_BIN");
    return s && *s ? s : "hetc";
}

const char *tu_src(void)
{
    const char *s = getenv("HETC_SRC");
    return s && *s ? s : ".";
}

const char *tu_fmt(const char *fmt, ...)
{
    static char ring[32][4096];
    static int next;
    char *buf = ring[next++ & 31];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof ring[0], fmt, ap);
    va_end(ap);
    return buf;
}

const char *tu_tmpdir(const char *name)
{
    const char *base = getenv("HETC_TMP");
    const char *root = base && *base ? base : tu_fmt("/tmp/hetc-test-%d", (int)getpid());
    const char *dir = tu_fmt("%s/%s", root, name);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) fail_msg("cannot make %s", dir);
    return dir;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    if (len) *len = got;
    return buf;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    if (fwrite(data, 1, len, f) != len) fail_msg("short write %s", path);
    fclose(f);
}

int tu_run(char **out, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd - 16, fmt, ap);
    va_end(ap);
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("popen failed: %s", cmd);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    if (out) *out = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int tu_each_fixture(const char *where, void (*fn)(const char *root, const char *name, void *ctx), void *ctx)
{
    char root[4096];
    snprintf(root, sizeof root, "%s", where);
    DIR *d = opendir(root);
    if (!d) fail_msg("%s: cannot open", root);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *ref = tu_read_file(tu_fmt("%s/%s/reference.json", root, e->d_name), NULL);
        if (!ref) continue;
        free(ref);
        fn(root, e->d_name, ctx);
        n++;
    }
    closedir(d);
    return n;
}

void tu_require_opencl(void)
{
    if (tu_run(NULL, "test -n \"$(ls /etc/OpenCL/vendors/*.icd 2>/dev/null)\"") != 0) {
        fprintf(stderr, "no OpenCL platform (/etc/OpenCL/vendors is empty): skipped\n");
        skip();
    }
}

void tu_require_aarch64(void)
{
    char *out;
    if (tu_run(&out, "command -v aarch64-linux-gnu-gcc && command -v qemu-aarch64 && test -d /usr/aarch64-linux-gnu/lib"))
        fail_msg("the aarch64 tests need gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (scripts/deps.sh "
                 "installs them):\n%s", out);
    free(out);
}
