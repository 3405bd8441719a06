/* cg_project.c: writes the whole generated project into OUT_DIR:
 * model.h and model.c (cg_c.c), weights.bin (cg_weights.c), main.c,
 * CMakeLists.txt and runtime/ (a copy of hetc's runtime sources), so that
 * OUT_DIR builds with CMake on a machine without hetc. */
#include "cg.h"

#include "../passes/passes.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char main_c[] =
    "/* main.c: the command line of the generated model (rt_main in\n"
    " * runtime/rt_cli.c): -p/-f text generation, -i chat, --tokenize, --ids/--logits,\n"
    " * --bench; `model --help` lists everything. */\n"
    "#include \"model.h\"\n\n"
    "int main(int argc, char **argv)\n{\n    return rt_main(argc, argv, &model_api);\n}\n";

static const char cmake_lists[] =
    "# Builds the generated model program: cmake -S . -B build && cmake --build build\n"
    "# MODEL_NATIVE=OFF builds portable code (e.g. for a firmware image).\n"
    "cmake_minimum_required(VERSION 3.13)\n"
    "project(hetc_model C)\n"
    "set(CMAKE_C_STANDARD 11)\n"
    "set(CMAKE_C_STANDARD_REQUIRED ON)\n"
    "if(NOT CMAKE_BUILD_TYPE)\n  set(CMAKE_BUILD_TYPE Release)\nendif()\n"
    "set(CMAKE_C_FLAGS_RELEASE \"-O3\")\n"
    "option(MODEL_NATIVE \"Tune the kernels for the building machine\" ON)\n"
    "find_package(Threads REQUIRED)\n"
    "file(GLOB RUNTIME_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/runtime/*.c)\n"
    "add_executable(model main.c model.c ${RUNTIME_SOURCES})\n"
    "target_include_directories(model PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/runtime)\n"
    "target_compile_definitions(model PRIVATE _GNU_SOURCE\n"
    "  MODEL_DEFAULT_WEIGHTS=\"${CMAKE_CURRENT_SOURCE_DIR}/weights.bin\")\n"
    "if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin)\n"
    "  target_compile_definitions(model PRIVATE\n"
    "    MODEL_DEFAULT_TOKENIZER=\"${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin\")\n"
    "endif()\n"
    "if(MODEL_NATIVE)\n  target_compile_options(model PRIVATE -march=native)\nendif()\n"
    "target_link_libraries(model PRIVATE Threads::Threads m)\n"
    "if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/model_kernels.c)\n"
    "  find_package(OpenCL REQUIRED)\n"
    "  target_sources(model PRIVATE model_kernels.c)\n"
    "  target_link_libraries(model PRIVATE OpenCL::OpenCL)\n"
    "endif()\n";

int cg_write_file(const char *dir, const char *name, const void *data, size_t len, char *err, size_t errlen)
{
    char path[FE_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f) ok = fclose(f) == 0 && ok;
    if (!ok) snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
    char buf[FE_PATH_LEN];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(buf, 0777);
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[1 << 16];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out) ok = fclose(out) == 0 && ok;
    if (!ok) snprintf(err, errlen, "copying %s to %s failed: %s", from, to, strerror(errno));
    return ok ? 0 : -1;
}

/* Runtime files a project needs: all but the OpenCL layer, which only
 * targets with an OpenCL unit get. */
static int wanted(const IrGraph *g, const char *name)
{
    size_t len = strlen(name);
    if (len < 3 || (strcmp(name + len - 2, ".c") && strcmp(name + len - 2, ".h"))) return 0;
    if (strcmp(name, "rt_opencl.c") && strcmp(name, "hetc_rt_cl.h") && strcmp(name, "rt_prof_cl.c")) return 1;
    for (int i = 0; i < g->nunits; i++)
        if (strcmp(g->units[i].backend, "opencl") == 0) return 1;
    return 0;
}

static int copy_runtime(const IrGraph *g, const CgOptions *o, char *err, size_t errlen)
{
    char dst[FE_PATH_LEN + 16];
    snprintf(dst, sizeof dst, "%s/runtime", o->outdir);
    if (make_dir(dst, err, errlen)) return -1;
    DIR *d = opendir(o->runtime_dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the runtime sources", o->runtime_dir);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!wanted(g, e->d_name)) continue;
        char from[FE_PATH_LEN * 2], to[FE_PATH_LEN * 2];
        snprintf(from, sizeof from, "%s/%s", o->runtime_dir, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
        rc = copy_file(from, to, err, errlen);
    }
    closedir(d);
    return rc;
}

int cg_emit_project(const IrGraph *g, const CgOptions *o, char *err, size_t errlen)
{
    if (!pass_done(g, "memplan")) IR_BUG("codegen needs pass 'memplan'");
    for (int i = 0; i < g->n; i++) {
        const IrNode *j = &g->nodes[i];
        if (j->op != IR_OP_JOIN || strcmp(g->units[j->unit].backend, "c") == 0 ||
            strcmp(g->units[j->unit].backend, "opencl") == 0)
            continue;
        snprintf(err, errlen, "%s: pass partition split linear '%s' (%s) between %s and %s, joined on %s (backend "
                 "%s): the kernels of splits joined on a device unit are not generated yet (only on the host's "
                 "unit); compile with --partition npu, or plan it with hetc partition", o->outdir, j->name,
                 ir_attr_str(j, "part"), g->units[g->nodes[j->in[0]].unit].name,
                 g->units[g->nodes[j->in[1]].unit].name, g->units[j->unit].name, g->units[j->unit].backend);
        return -1;
    }
    uint64_t hash = cg_model_hash(g);
    char wpath[FE_PATH_LEN + 16];
    snprintf(wpath, sizeof wpath, "%s/weights.bin", o->outdir);
    if (make_dir(o->outdir, err, errlen) || copy_runtime(g, o, err, errlen) ||
        cg_write_file(o->outdir, "main.c", main_c, sizeof main_c - 1, err, errlen) ||
        cg_write_file(o->outdir, "CMakeLists.txt", cmake_lists, sizeof cmake_lists - 1, err, errlen) ||
        cg_emit_c(g, o, hash, err, errlen) || cg_write_weights(g, o, wpath, hash, err, errlen) ||
        (o->tokenizer && cg_write_file(o->outdir, "tokenizer.bin", o->tokenizer, o->tokenizer_bytes, err, errlen)))
        return -1;
    return 0;
}
