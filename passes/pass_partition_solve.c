/* pass_partition_solve.c: HeteroLLM's partition solver for one linear.
 *
 * Two units share a linear x [s,k] @ W [n,k]^T: a float unit of flexible
 * shapes (the gpu, or the cpu where there is none) and an npu of static
 * shapes. The candidates, each priced by the cost model (ir_cost.c):
 *
 *   float      the float unit alone, at s rows;
 *   npu        the npu alone, at its static rows for s (the next profiled
 *              length: padding, for s = 193..255 with graphs of 256);
 *   weight     W's rows split: n_npu rows on the npu, the rest on the float
 *              unit, both at s rows (s a static shape of the npu);
 *   hybrid     the same with the npu's part padded to its static rows;
 *   activation x's rows split: m standard chunks of c rows on the npu (one
 *              graph of m*c rows where that is a standard length), the
 *              remaining s - m*c rows on the float unit.
 *
 * A split costs T = together(T_a(p1), T_b(p2)) + sync + copy (ir_cost_
 * together: the longer part, no less than both parts' bytes over the
 * shared bandwidth, serialised where the units share cores); copy is the
 * bytes of x and of the npu's result over the slower unit's bandwidth when
 * the units do not share memory, else nothing (the parts write disjoint
 * parts of one buffer). The least T wins; a tie goes to one unit, then to
 * the simpler split.
 *
 * Units that compute on the same cores (shares=, host-npu's npu0 on
 * cpu0's) never split a linear: their parts would run at once on the same
 * cores, and measured (hetc profile --sweep, trained-llama on host-npu)
 * such a split takes 1.3 to 5 times the sum of its parts, not the sum; so
 * the choice there is the better unit alone.
 *
 * Weight splits take simple ratios, float:npu = a:b with a, b in 1..3
 * (1:3, 1:2, 2:3, 1:1, 3:2, 2:1, 3:1), n_npu rounded to the npu's tile:
 * the ratios HeteroLLM's solver reports (its Table 3: 1:1, 3:1, 2:3).
 * Finer ratios gain a few percent in the model, which is less than what
 * the model does not see (a second graph's memory and launch, two units'
 * cache traffic, a partner that finishes late), and with them the
 * published Table 3 times would split linears the paper runs on one unit
 * (4096x4096 at s = 256: 7:1 saves 12%).
 */
#include "passes.h"

#include <math.h>
#include <string.h>

static const char *const choice_names[] = {"float", "npu", "weight", "activation", "hybrid"};
_Static_assert(sizeof choice_names / sizeof choice_names[0] == PASS_PART_COUNT, "a name per choice");

const char *pass_part_name(PassPartChoice c)
{
    if ((int)c < 0 || c >= PASS_PART_COUNT) IR_BUG("bad partition choice %d", (int)c);
    return choice_names[c];
}

/* Bytes of x [s,k] and of the npu's result [s_npu,n_npu] over the slower
 * unit's bandwidth, where the units do not share memory. */
static double copy_us(const IrCost *c, int fu, int npu, int64_t s, int64_t k, int64_t s_npu, int64_t n_npu)
{
    if (ir_same_memory(c->g, fu, npu)) return 0;
    double a = ir_unit_float(&c->g->units[fu], "gbps", 20), b = ir_unit_float(&c->g->units[npu], "gbps", 20);
    return 4.0 * (double)(s * k + s_npu * n_npu) / (fmin(a, b) * 1e3);
}

static void consider(PassPart *best, const PassPart *p)
{
    if (p->us < best->us) *best = *p;
}

/* The npu's rows for s, and whether s is one of its static lengths. */
static int64_t static_rows(const IrCost *c, int npu, int64_t k, int64_t s) { return ir_cost_static_rows(c, npu, k, s); }

void pass_partition_solve(const IrCost *c, int fu, int npu, int64_t n, int64_t k, int64_t s, IrDtype wf, IrDtype wn,
                          PassPart *out)
{
    static const int ratios[][2] = {{1, 3}, {1, 2}, {2, 3}, {1, 1}, {3, 2}, {2, 1}, {3, 1}};    /* float:npu */
    int64_t tile = ir_unit_int(&c->g->units[npu], "tile", 32);
    int64_t pad = static_rows(c, npu, k, s);
    double sync = ir_cost_sync(c, fu, npu);
    memset(out, 0, sizeof *out);
    out->alone_us[0] = ir_cost_linear(c, fu, n, k, s, wf).us;
    out->alone_us[1] = ir_cost_linear(c, npu, n, k, pad, wn).us + copy_us(c, fu, npu, s, k, s, n);
    PassPart p = {.choice = PASS_PART_FLOAT, .n_npu = 0, .s_npu = 0, .s_pad = 0, .us = out->alone_us[0]};
    PassPart best = p;
    p = (PassPart){.choice = PASS_PART_NPU, .n_npu = n, .s_npu = s, .s_pad = pad, .us = out->alone_us[1]};
    consider(&best, &p);
    int split = ir_cost_core(c, fu) != ir_cost_core(c, npu);
    for (size_t r = 0; split && r < sizeof ratios / sizeof ratios[0]; r++) {     /* weight (or hybrid, padded) */
        int64_t nn = (int64_t)llround((double)n * ratios[r][1] / (ratios[r][0] + ratios[r][1]) / (double)tile) * tile;
        if (nn <= 0 || nn >= n) continue;
        IrCostEst a = ir_cost_linear(c, fu, n - nn, k, s, wf), b = ir_cost_linear(c, npu, nn, k, pad, wn);
        p = (PassPart){.choice = pad == s ? PASS_PART_WEIGHT : PASS_PART_HYBRID, .n_npu = nn, .s_npu = s,
                       .s_pad = pad, .us = ir_cost_together(c, fu, a, npu, b) + sync + copy_us(c, fu, npu, s, k, s, nn)};
        consider(&best, &p);
    }
    for (int64_t cs = 1; split && cs < s; cs++) {    /* activation: m chunks of a static length cs */
        if (static_rows(c, npu, k, cs) != cs) continue;
        int64_t m = s / cs, sn = m * cs;
        if (sn == s) sn -= cs, m--;
        if (m < 1) continue;
        IrCostEst b = ir_cost_linear(c, npu, n, k, cs, wn);
        b.us *= (double)m;
        b.bytes *= (double)m;
        if (static_rows(c, npu, k, sn) == sn) b = ir_cost_linear(c, npu, n, k, sn, wn);
        IrCostEst a = ir_cost_linear(c, fu, n, k, s - sn, wf);
        p = (PassPart){.choice = PASS_PART_ACTIVATION, .n_npu = n, .s_npu = sn, .s_pad = sn,
                       .us = ir_cost_together(c, fu, a, npu, b) + sync + copy_us(c, fu, npu, s - sn, k, sn, n)};
        consider(&best, &p);
    }
    best.alone_us[0] = out->alone_us[0];
    best.alone_us[1] = out->alone_us[1];
    *out = best;
}
