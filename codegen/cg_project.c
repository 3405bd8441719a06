/* cg_project.c: writes the whole generated project into OUT_DIR:
 * model.h and model.c (cg_c.c), weights.bin (cg_weights.c), main.c,
 * CMakeLists.txt, cmake/aarch64-linux-gnu.cmake (a cross toolchain),
 * cmake/check_no_heap.cmake (a firmware build's link check) and
 * runtime/ (a copy of hetc's runtime sources), so that OUT_DIR builds
 * with CMake on a machine without hetc, for it or for 64-bit Arm. Files an earlier
 * compile into OUT_DIR wrote and this one does not (an OpenCL unit's
 * kernels, a tokenizer, runtime files) are removed first: the same
 * compile gives the same project whatever the directory held, and
 * cg_project_hash says so in 16 hex digits. */
#include "cg.h"

#include "../passes/passes.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char main_c[] =
    "/* main.c: the command line of the generated model (rt_main in\n"
    " * runtime/rt_cli.c): -p/-f text generation, -i chat, --tokenize, --ids/--logits,\n"
    " * --bench; `model --help` lists everything. */\n"
    "#include \"model.h\"\n\n"
    "int main(int argc, char **argv)\n{\n    return rt_main(argc, argv, &model_api);\n}\n";

static const char cmake_lists[] =
    "# Builds the generated model program: cmake -S . -B build && cmake --build build\n"
    "# MODEL_NATIVE=OFF builds portable code (e.g. for a firmware image); a cross\n"
    "# build (cmake/aarch64-linux-gnu.cmake says how) is portable unless\n"
    "# MODEL_ARCH_FLAGS names the device's cpu (-mcpu=cortex-a76, -march=armv8.2-a+dotprod).\n"
    "cmake_minimum_required(VERSION 3.13)\n"
    "project(hetc_model C)\n"
    "set(CMAKE_C_STANDARD 11)\n"
    "set(CMAKE_C_STANDARD_REQUIRED ON)\n"
    "if(NOT CMAKE_BUILD_TYPE)\n  set(CMAKE_BUILD_TYPE Release)\nendif()\n"
    "set(CMAKE_C_FLAGS_RELEASE \"-O3\")\n"
    "if(CMAKE_CROSSCOMPILING)\n"
    "  option(MODEL_NATIVE \"Tune the kernels for the building machine\" OFF)\n"
    "else()\n"
    "  option(MODEL_NATIVE \"Tune the kernels for the building machine\" ON)\n"
    "endif()\n"
    "set(MODEL_ARCH_FLAGS \"\" CACHE STRING \"Compiler flags naming the target cpu (cross builds)\")\n"
    "option(MODEL_FIRMWARE \"Link weights.bin and tokenizer.bin in: one static program, no files beside it\" "
    "@FIRMWARE@)\n"
    "find_package(Threads REQUIRED)\n"
    "file(GLOB RUNTIME_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/runtime/*.c)\n"
    "set(MODEL_MAIN ${CMAKE_CURRENT_SOURCE_DIR}/main.c CACHE FILEPATH\n"
    "  \"The program's main: main.c (hetc's command line) or your own (model.h: Embedding)\")\n"
    "add_executable(model ${MODEL_MAIN} model.c ${RUNTIME_SOURCES})\n"
    "target_include_directories(model PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/runtime)\n"
    "target_compile_definitions(model PRIVATE _GNU_SOURCE\n"
    "  MODEL_DEFAULT_WEIGHTS=\"${CMAKE_CURRENT_SOURCE_DIR}/weights.bin\")\n"
    "if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin)\n"
    "  target_compile_definitions(model PRIVATE\n"
    "    MODEL_DEFAULT_TOKENIZER=\"${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin\")\n"
    "endif()\n"
    "if(MODEL_NATIVE)\n  target_compile_options(model PRIVATE -march=native)\nendif()\n"
    "if(MODEL_ARCH_FLAGS)\n  separate_arguments(arch_flags UNIX_COMMAND \"${MODEL_ARCH_FLAGS}\")\n"
    "  target_compile_options(model PRIVATE ${arch_flags})\nendif()\n"
    "target_link_libraries(model PRIVATE Threads::Threads m)\n"
    "if(MODEL_FIRMWARE)\n"
    "  # weights.bin and tokenizer.bin linked in (firmware_data.c), one static program\n"
    "  set(images ${CMAKE_CURRENT_SOURCE_DIR}/weights.bin)\n"
    "  target_sources(model PRIVATE firmware_data.c)\n"
    "  target_compile_definitions(model PRIVATE MODEL_FIRMWARE\n"
    "    MODEL_WEIGHTS_FILE=\"${CMAKE_CURRENT_SOURCE_DIR}/weights.bin\")\n"
    "  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin)\n"
    "    list(APPEND images ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin)\n"
    "    target_compile_definitions(model PRIVATE MODEL_TOKENIZER_FILE=\"${CMAKE_CURRENT_SOURCE_DIR}/tokenizer.bin\")\n"
    "  endif()\n"
    "  set_source_files_properties(firmware_data.c PROPERTIES OBJECT_DEPENDS \"${images}\")\n"
    "  # No heap: the state in static arrays, the rest in the work area\n"
    "  # (runtime/rt_mem.c); no object may call malloc and its kin: the link stops\n"
    "  target_compile_definitions(model PRIVATE RT_NO_HEAP)\n"
    "  target_link_options(model PRIVATE -static)\n"
    "  add_custom_command(TARGET model PRE_LINK\n"
    "    COMMAND ${CMAKE_COMMAND} \"-DNM=${CMAKE_NM}\" \"-DOBJECTS=$<TARGET_OBJECTS:model>\"\n"
    "            -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/check_no_heap.cmake\n"
    "    VERBATIM)\n"
    "endif()\n"
    "if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/model_kernels.c)\n"
    "  find_package(OpenCL REQUIRED)\n"
    "  target_sources(model PRIVATE model_kernels.c)\n"
    "  target_link_libraries(model PRIVATE OpenCL::OpenCL)\n"
    "endif()\n";

static const char firmware_data_c[] =
    "/* firmware_data.c: weights.bin (and tokenizer.bin) linked into the program,\n"
    " * read-only and 64-byte aligned, for MODEL_FIRMWARE builds (CMake passes\n"
    " * the files' paths as MODEL_WEIGHTS_FILE and MODEL_TOKENIZER_FILE; the\n"
    " * assembler reads them, the program holds no path). On x86-64 the weights\n"
    " * go to a large-data section (.lrodata), which the linker places after\n"
    " * all other data, so that an image past 2 GB leaves the code's 32-bit\n"
    " * offsets to everything else in range; its size comes first. */\n"
    "#if defined(__x86_64__)\n"
    "#define WEIGHTS_SECTION \".section .lrodata.hetc_weights,\\\"a\\\"\\n\"\n"
    "#else\n"
    "#define WEIGHTS_SECTION \".section .rodata.hetc_weights,\\\"a\\\"\\n\"\n"
    "#endif\n\n"
    "__asm__(WEIGHTS_SECTION\n"
    "        \".balign 64\\n\"\n"
    "        \".globl model_weights_image_bytes\\n\"\n"
    "        \"model_weights_image_bytes: .quad model_weights_end - model_weights_image\\n\"\n"
    "        \".balign 64\\n\"\n"
    "        \".globl model_weights_image\\n\"\n"
    "        \"model_weights_image: .incbin \\\"\" MODEL_WEIGHTS_FILE \"\\\"\\n\"\n"
    "        \"model_weights_end:\\n\"\n"
    "        \".previous\\n\");\n\n"
    "#ifdef MODEL_TOKENIZER_FILE\n"
    "__asm__(\".section .rodata.hetc_tokenizer,\\\"a\\\"\\n\"\n"
    "        \".balign 64\\n\"\n"
    "        \".globl model_tokenizer_image\\n\"\n"
    "        \"model_tokenizer_image: .incbin \\\"\" MODEL_TOKENIZER_FILE \"\\\"\\n\"\n"
    "        \".previous\\n\");\n"
    "#endif\n";

static const char aarch64_toolchain[] =
    "# aarch64-linux-gnu.cmake: cross-builds this project for 64-bit Arm Linux\n"
    "# with Debian's gcc-aarch64-linux-gnu (apt-get install gcc-aarch64-linux-gnu\n"
    "# libc6-dev-arm64-cross; qemu-user to run the result here):\n"
    "#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake\n"
    "#   cmake --build build-arm\n"
    "#   qemu-aarch64 -L /usr/aarch64-linux-gnu build-arm/model --paths\n"
    "# -DMODEL_ARCH_FLAGS=-mcpu=cortex-a76 (or -march=armv8.2-a+dotprod) tunes it\n"
    "# for the device. With the Android NDK, its own toolchain file instead:\n"
    "#   cmake -S . -B build-android -DCMAKE_TOOLCHAIN_FILE=$NDK/build/cmake/android.toolchain.cmake \\\n"
    "#     -DANDROID_ABI=arm64-v8a -DANDROID_PLATFORM=android-28\n"
    "set(CMAKE_SYSTEM_NAME Linux)\n"
    "set(CMAKE_SYSTEM_PROCESSOR aarch64)\n"
    "set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)\n"
    "set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)\n"
    "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n"
    "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)\n"
    "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)\n"
    "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)\n"
    "set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)\n"
    "# A project with an OpenCL unit links the arm64 OpenCL loader from the\n"
    "# sysroot: hetc's scripts/deps.sh unpacks Debian's ocl-icd-libopencl1:arm64,\n"
    "# ocl-icd-opencl-dev:arm64 and opencl-c-headers there.\n";

static const char check_no_heap[] =
    "# check_no_heap.cmake: the link step of a firmware build (MODEL_FIRMWARE) runs\n"
    "# this on the program's objects before linking them: the build has no heap,\n"
    "# so an object that calls malloc, free or their kin (or a libc call that\n"
    "# returns heap memory) stops the build, named. runtime/rt_mem.c serves\n"
    "# the runtime's memory (rt_alloc, rt_free) from the work area, and libc's own\n"
    "# requests too, which it may define but must not call.\n"
    "# Usage: cmake -DNM=nm -DOBJECTS=a.o;b.o -P check_no_heap.cmake\n"
    "cmake_policy(SET CMP0057 NEW)\n"
    "set(heap malloc calloc realloc reallocarray free aligned_alloc posix_memalign memalign valloc pvalloc\n"
    "    strdup strndup getline getdelim asprintf vasprintf open_memstream)\n"
    "set(found \"\")\n"
    "foreach(obj IN LISTS OBJECTS)\n"
    "  execute_process(COMMAND ${NM} -u ${obj} OUTPUT_VARIABLE out RESULT_VARIABLE rc)\n"
    "  if(NOT rc EQUAL 0)\n"
    "    message(FATAL_ERROR \"firmware build: ${NM} -u ${obj} failed\")\n"
    "  endif()\n"
    "  string(REGEX MATCHALL \"[^ \\t\\r\\n]+\" words \"${out}\")\n"
    "  foreach(w IN LISTS words)\n"
    "    string(REGEX REPLACE \"@.*\" \"\" sym \"${w}\")\n"
    "    if(sym IN_LIST heap)\n"
    "      get_filename_component(name ${obj} NAME)\n"
    "      string(APPEND found \"\\n  ${name}: ${sym}\")\n"
    "    endif()\n"
    "  endforeach()\n"
    "endforeach()\n"
    "if(found)\n"
    "  message(FATAL_ERROR \"firmware build (MODEL_FIRMWARE): no heap, but these objects call heap \"\n"
    "    \"functions:${found}\\nTake memory from rt_alloc/rt_free (runtime/rt_mem.c: the work area, \"\n"
    "    \"MODEL_WORK_BYTES) or a static array.\")\n"
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

/* CMakeLists.txt, MODEL_FIRMWARE defaulting to ON with --firmware. */
static int write_cmake_lists(const CgOptions *o, char *err, size_t errlen)
{
    const char *at = strstr(cmake_lists, "@FIRMWARE@");
    char text[sizeof cmake_lists + 8];
    int n = snprintf(text, sizeof text, "%.*s%s%s", (int)(at - cmake_lists), cmake_lists, o->firmware ? "ON" : "OFF",
                     at + strlen("@FIRMWARE@"));
    return cg_write_file(o->outdir, "CMakeLists.txt", text, (size_t)n, err, errlen);
}

/* Removes what an earlier compile may have left in OUT_DIR and this one
 * rewrites only in some cases: an OpenCL unit's kernels, a tokenizer,
 * runtime sources. */
static void remove_stale(const CgOptions *o)
{
    static const char *const files[] = {"kernels.cl", "model_kernels.c", "tokenizer.bin"};
    char path[FE_PATH_LEN * 2];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", o->outdir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/runtime", o->outdir);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 3 || (strcmp(e->d_name + len - 2, ".c") && strcmp(e->d_name + len - 2, ".h"))) continue;
        char f[FE_PATH_LEN * 3];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        unlink(f);
    }
    if (d) closedir(d);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Folds n bytes into h, 8 at a time (a multiply-xorshift mix). */
static uint64_t mix(uint64_t h, const unsigned char *p, size_t n)
{
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

/* Hashes the regular files of dir (relative names under 'rel'), in name
 * order: each one's name, size and bytes. */
static int hash_dir(const char *dir, const char *rel, uint64_t *h, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[FE_PATH_LEN * 2];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int rc = 0;
    static unsigned char buf[1 << 20];
    for (size_t i = 0; i < n; i++) {
        char path[FE_PATH_LEN * 2], name[FE_PATH_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(name, sizeof name, "%s%s", rel, names[i]);
        FILE *f = rc ? NULL : fopen(path, "rb");
        if (!rc && !f) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            rc = -1;
        }
        uint64_t size = 0;
        size_t got;
        uint64_t fh = 0x6a09e667f3bcc909ULL;
        while (f && (got = fread(buf, 1, sizeof buf, f)) > 0) {
            fh = mix(fh, buf, got);
            size += got;
        }
        if (f) fclose(f);
        *h = mix(*h, (const unsigned char *)name, strlen(name) + 1);
        *h = mix(*h, (const unsigned char *)&size, sizeof size);
        *h = mix(*h, (const unsigned char *)&fh, sizeof fh);
        free(names[i]);
    }
    free(names);
    return rc;
}

int cg_project_hash(const char *outdir, uint64_t *hash, char *err, size_t errlen)
{
    char rt[FE_PATH_LEN + 16];
    snprintf(rt, sizeof rt, "%s/runtime", outdir);
    *hash = 0xcbf29ce484222325ULL;
    char cm[FE_PATH_LEN + 16];
    snprintf(cm, sizeof cm, "%s/cmake", outdir);
    return hash_dir(outdir, "", hash, err, errlen) || hash_dir(cm, "cmake/", hash, err, errlen) ||
                   hash_dir(rt, "runtime/", hash, err, errlen)
               ? -1
               : 0;
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
    char wpath[FE_PATH_LEN + 16], cmake_dir[FE_PATH_LEN + 16];
    snprintf(wpath, sizeof wpath, "%s/weights.bin", o->outdir);
    snprintf(cmake_dir, sizeof cmake_dir, "%s/cmake", o->outdir);
    if (make_dir(o->outdir, err, errlen)) return -1;
    remove_stale(o);
    if (copy_runtime(g, o, err, errlen) ||
        cg_write_file(o->outdir, "main.c", main_c, sizeof main_c - 1, err, errlen) ||
        write_cmake_lists(o, err, errlen) ||
        cg_write_file(o->outdir, "firmware_data.c", firmware_data_c, sizeof firmware_data_c - 1, err, errlen) ||
        make_dir(cmake_dir, err, errlen) ||
        cg_write_file(o->outdir, "cmake/aarch64-linux-gnu.cmake", aarch64_toolchain, sizeof aarch64_toolchain - 1, err,
                      errlen) ||
        cg_write_file(o->outdir, "cmake/check_no_heap.cmake", check_no_heap, sizeof check_no_heap - 1, err, errlen) ||
        cg_emit_c(g, o, hash, err, errlen) || cg_write_weights(g, o, wpath, hash, err, errlen) ||
        (o->tokenizer && cg_write_file(o->outdir, "tokenizer.bin", o->tokenizer, o->tokenizer_bytes, err, errlen)))
        return -1;
    return 0;
}
