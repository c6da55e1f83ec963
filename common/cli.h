/* cli.h — the options every chorus command has (DESIGN.md §3) and the main() boilerplate.
 *
 *   cli_common com = cli_common_default();
 *   opt_group groups[] = { {"Feature extraction", fbank_opts, OPT_COUNT(fbank_opts), &fo},
 *                          CLI_COMMON_GROUP(&com) };
 *   ... opt_parse(...) ...; cli_apply_threads(&com);
 *
 * `--threads 0` means every core of the machine. Verbosity: --quiet 0, default 1, --verbose 2.
 */
#ifndef CHORUS_CLI_H
#define CHORUS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "status.h"

typedef struct {
    int64_t seed;
    int threads;
    char device[32];
    bool verbose;
    bool quiet;
    bool json;
} cli_common;

cli_common cli_common_default(void);

extern const opt_desc cli_common_opts[];
extern const size_t cli_common_n_opts;

#define CLI_COMMON_GROUP(ptr) {"Common", cli_common_opts, cli_common_n_opts, (ptr)}

/* 0 quiet, 1 normal, 2 verbose. */
int cli_verbosity(const cli_common *c);

/* Number of threads to use: c->threads, or the online core count when it is 0. */
int cli_threads(const cli_common *c);

/* Validates --device for a CPU-only command or build: "cpu" is fine; "cuda[:N]" gives
 * CH_ERR_UNSUPPORTED with a hint when cuda_available is false. */
ch_status cli_check_device(const cli_common *c, bool cuda_available, ch_error *err);

/* Checks that the folder of an output file is writable (before hours of training):
 * CH_ERR_IO "<path>: cannot write there (folder <dir>)". */
ch_status cli_check_writable(const char *path, ch_error *err);

/* Prints "<prog>: <message>" to stderr as the one error line and returns the exit code. */
int cli_report(const char *prog, ch_status st, const ch_error *err);

#endif
