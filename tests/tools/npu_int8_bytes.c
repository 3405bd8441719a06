/* npu_int8_bytes.c: runs npu-emu graphs of fixed pseudo-random data (every
 * op kind; shapes off the tile, so padding is exercised) and writes each
 * result's bytes to argv[1]. test_e2e_aarch64 builds it for this machine
 * and for aarch64 and compares the files byte for byte: rt_npu.h's
 * numerics are exact, so every instruction path (HETC_NPU_ISA) on every
 * architecture must give the same bytes. Prints the path it took. */
#include "rt_npu.h"

#include <stdio.h>
#include <stdlib.h>

static uint32_t seed = 12345;
static uint32_t next(void) { return seed = seed * 1664525u + 1013904223u; }
static float uniform(void) { return (float)(next() >> 8) * 0x1p-24f * 4.0f - 2.0f; }

/* One graph: x f32 [rows,k] -> quant -> qlinear gate, up [rows,n] ->
 * swiglu -> add up -> mul gate -> rmsnorm; every tensor written out. */
static int run_shape(FILE *out, RtNpu *npu, int rows, int n, int k)
{
    int8_t *wg = malloc((size_t)n * k), *wu = malloc((size_t)n * k);
    float *bias = malloc(n * sizeof *bias), *norm = malloc(n * sizeof *norm);
    for (int64_t i = 0; i < (int64_t)n * k; i++) wg[i] = (int8_t)((int)(next() >> 24) % 255 - 127), wu[i] = (int8_t)((int)(next() >> 24) % 255 - 127);
    for (int j = 0; j < n; j++) bias[j] = uniform(), norm[j] = uniform();
    const RtNpuTensor t[] = {{RT_F32, k, 0}, {RT_I8, k, 0}, {RT_F32, n, 0}, {RT_F32, n, 0},
                             {RT_F32, n, 0}, {RT_F32, n, 0}, {RT_F32, n, 0}, {RT_F32, n, 0}, {RT_F32, n, 0}};
    const RtNpuOp ops[] = {
        {.kind = RT_NPU_QUANT, .in0 = 0, .in1 = -1, .out = 1, .k = k, .scale = 0.013f, .name = "quant"},
        {.kind = RT_NPU_QLINEAR, .in0 = 1, .in1 = -1, .out = 2, .n = n, .k = k, .w8 = wg, .wf = bias,
         .scale = 3.1e-4f, .name = "gate"},
        {.kind = RT_NPU_QLINEAR, .in0 = 1, .in1 = -1, .out = 3, .n = n, .k = k, .w8 = wu, .scale = 2.7e-4f,
         .name = "up"},
        {.kind = RT_NPU_SWIGLU, .in0 = 2, .in1 = 3, .out = 4, .k = n, .name = "swiglu"},
        {.kind = RT_NPU_SILU, .in0 = 3, .in1 = -1, .out = 5, .k = n, .name = "silu"},
        {.kind = RT_NPU_ADD, .in0 = 4, .in1 = 5, .out = 6, .k = n, .name = "add"},
        {.kind = RT_NPU_MUL, .in0 = 6, .in1 = 2, .out = 7, .k = n, .name = "mul"},
        {.kind = RT_NPU_RMSNORM, .in0 = 7, .in1 = -1, .out = 8, .k = n, .wf = norm, .scale = 1e-5f, .name = "norm"},
    };
    const RtNpuGraphDesc d = {.name = "int8 bytes", .rows = rows, .tile = 32, .ntensors = 9, .tensors = t, .nops = 8,
                              .ops = ops};
    void *bufs[9];
    for (int i = 0; i < 9; i++) bufs[i] = calloc((size_t)rows * t[i].cols, t[i].dtype == RT_I8 ? 1 : 4);
    for (int64_t i = 0; i < (int64_t)rows * k; i++) ((float *)bufs[0])[i] = uniform();
    RtNpuGraph *g = NULL;
    int rc = rt_npu_emu.build(npu, &d, &g) != RT_OK || rt_npu_emu.execute(g, bufs) != RT_OK;
    if (rc) fprintf(stderr, "%s\n", rt_last_error());
    for (int i = 1; i < 9 && !rc; i++) fwrite(bufs[i], t[i].dtype == RT_I8 ? 1 : 4, (size_t)rows * t[i].cols, out);
    rt_npu_emu.free_graph(g);
    for (int i = 0; i < 9; i++) free(bufs[i]);
    free(wg), free(wu), free(bias), free(norm);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_FILE\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[1], "wb");
    RtNpu *npu = NULL;
    if (!out || rt_npu_emu.open(&npu, 2) != RT_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], out ? rt_last_error() : "cannot write");
        return 1;
    }
    static const int shapes[][3] = {{1, 64, 64}, {5, 100, 257}, {32, 96, 512}, {37, 33, 1000}};
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) rc = run_shape(out, npu, shapes[i][0], shapes[i][1], shapes[i][2]);
    printf("npu-emu %s path\n", rt_npu_emu.path(npu));
    rt_npu_emu.close(npu);
    return fclose(out) || rc;
}
