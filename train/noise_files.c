/* noise_files.c — noise signals for augmentation, from files or a folder (noise_files.h). */
#include "train/noise_files.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "frontend/audio.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ch_status noise_add_file(float ***sig, long **len, int *n_sig, const char *path, ch_error *err)
{
    audio_options ao = audio_options_default();
    audio_buf a;
    CH_TRY(audio_read(path, &ao, &a, err));
    float **nn = realloc((*sig), sizeof *nn * (size_t)((*n_sig) + 1));
    long *nl = nn ? realloc((*len), sizeof *nl * (size_t)((*n_sig) + 1)) : NULL;
    if (nn)
        (*sig) = nn;
    if (!nn || !nl) {
        audio_free(&a);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    }
    (*len) = nl;
    /* a silent noise file cannot be mixed at an SNR: skip it */
    double e = 0;
    for (long i = 0; i < a.n; i++)
        e += (double)a.samples[i] * a.samples[i];
    if (e <= 0) {
        audio_free(&a);
        return CH_OK;
    }
    (*sig)[(*n_sig)] = a.samples;
    (*len)[(*n_sig)] = a.n;
    (*n_sig)++;
    return CH_OK;
}

ch_status noise_load_dir(float ***sig, long **len, int *n_sig, const char *dir, ch_error *err)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open noise folder", dir);
    char **names = NULL;
    int n = 0, cap = 0;
    ch_status st = CH_OK;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.' || !audio_name_is_audio(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, sizeof *nn * (size_t)cap);
            if (!nn) {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(dp);
    if (st == CH_OK && n == 0)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: no audio files in the noise folder", dir);
    if (st == CH_OK)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n && st == CH_OK; i++) {
        char path[4096 + 256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        st = noise_add_file(sig, len, n_sig, path, err);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (st == CH_OK && (*n_sig) == 0)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: every noise file is silent", dir);
    return st;
}

