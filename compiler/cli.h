/* cli.h: what the hetc command line's files share: main.c (the commands
 * that read, compile and run models, and these helpers) and cli_plan.c
 * (the planning commands: partition, simulate, profile). */
#ifndef HETC_CLI_H
#define HETC_CLI_H

#include "compiler/fe.h"
#include "ir/ir.h"
#include "passes/passes.h"

typedef struct {
    char dir[FE_PATH_LEN];
    FeConfig *config;
    FeArch arch;
    FeWeights weights;
    int config_only;            /* config.json without weights: shapes only (planning, inspect) */
    char name[IR_NAME_LEN];
} Model;

/* Prints an error; messages that carry their own "FILE:LINE: error:" stand alone. Returns 1. */
int die(const char *fmt, ...);
double now(void);               /* monotonic seconds */
/* $env, else HETC_SOURCE_DIR/sub (models, calib/default.txt, runtime) */
const char *data_dir(const char *env, const char *sub, char *buf, size_t cap);
/* Matches "--key=value" or "--key value"; returns the value or NULL. */
const char *opt(int argc, char **argv, int *i, const char *key);
int parse_int(const char *s, const char *what, long lo, long hi, long *v);
int parse_chunks(const char *v, int *sizes, int *n);    /* --chunk C[,C2..] */
int parse_dtype(const char *v, int *dt);                /* --weight-dtype */
int parse_partition(const char *v, int *mode);          /* --partition solve|npu */
int parse_schedule(const char *v, int *mode);           /* --schedule ooo|inorder */
/* A Hugging Face directory (config.json alone: config_only). */
int model_open(Model *m, const char *dir);
void model_free(Model *m);
PassCtx model_ctx(const Model *m, PassDiag *diag);
/* lower, fuse, dce (print_after: as --print-after). */
int lower_model(const Model *m, IrGraph *g, const PassCtx *c, const char *print_after);
/* MODEL, or with --preset NAME the preset's config.json alone in a
 * directory of its own under /tmp (its path in tmp; "" without a preset),
 * which plan_cleanup removes. */
int plan_model_open(Model *m, const char *dir, const char *preset, char tmp[64]);
int plan_cleanup(char *tmp);
/* The target and, with --profile, its profile (checked against it). */
int load_planning(const char *target_path, const char *profile_path, FeTarget *t, IrProfile *prof);

int cmd_partition(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_profile(int argc, char **argv);

#endif
