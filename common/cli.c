/* cli.c — common options and error reporting for commands. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

cli_common cli_common_default(void)
{
    cli_common c = {.seed = 1, .threads = 0, .verbose = false, .quiet = false, .json = false};
    snprintf(c.device, sizeof c.device, "cpu");
    return c;
}

const opt_desc cli_common_opts[] = {
    OPT_INT64(cli_common, seed, "seed", 0, 9.2e18, "Random seed; the same seed gives the same result"),
    OPT_INT(cli_common, threads, "threads", 0, 1024, "Worker threads (0 = all cores)"),
    OPT_STRING(cli_common, device, "device", "Compute device: cpu or cuda[:N]"),
    OPT_BOOL(cli_common, verbose, "verbose", "More detail on stderr"),
    OPT_BOOL(cli_common, quiet, "quiet", "Only errors on stderr"),
    OPT_BOOL(cli_common, json, "json", "Print a one-line JSON summary as the last line of stdout"),
};
const size_t cli_common_n_opts = OPT_COUNT(cli_common_opts);

int cli_verbosity(const cli_common *c)
{
    if (c->quiet)
        return 0;
    return c->verbose ? 2 : 1;
}

int cli_threads(const cli_common *c)
{
    if (c->threads > 0)
        return c->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

ch_status cli_check_device(const cli_common *c, bool cuda_available, ch_error *err)
{
    if (strcmp(c->device, "cpu") == 0)
        return CH_OK;
    if (strncmp(c->device, "cuda", 4) == 0 && (c->device[4] == '\0' || c->device[4] == ':')) {
        if (!cuda_available)
            return ch_fail(err, CH_ERR_UNSUPPORTED,
                           "--device %s: this command or build has no CUDA support (hint: use "
                           "--device cpu, or rebuild with nvcc and CUDA=1)",
                           c->device);
        return CH_OK;
    }
    return ch_fail(err, CH_ERR_USAGE, "--device: '%s' is not cpu or cuda[:N]", c->device);
}

int cli_report(const char *prog, ch_status st, const ch_error *err)
{
    if (st != CH_OK)
        fprintf(stderr, "%s: %s\n", prog, err->msg);
    return ch_exit_code(st);
}

ch_status cli_check_writable(const char *path, ch_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    if (access(slash && !dir[0] ? "/" : dir, W_OK) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: cannot write there (folder %s)", path,
                       dir[0] ? dir : "/");
    return CH_OK;
}
