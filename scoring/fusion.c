/* fusion.c — logistic-regression fusion: Newton training, application, model file I/O
 * (see fusion.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "fusion.h"

fusion_options fusion_options_default(void)
{
    return (fusion_options){0.5, 1e-6, true, 100};
}

static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double sigmoid(double a)
{
    if (a >= 0)
        return 1 / (1 + exp(-a));
    double e = exp(a);
    return e / (1 + e);
}

/* J of theta = (w[0..K), b) on standardised scores xs (n, K). */
static double objective(const double *theta, int K, const double *xs, const int *label, int n,
                        double ct, double cn, double logit_p, double l2)
{
    double j = 0;
    for (int i = 0; i < n; i++) {
        double z = theta[K] + logit_p;
        for (int k = 0; k < K; k++)
            z += theta[k] * xs[(size_t)i * K + k];
        j += label[i] ? ct * softplus(-z) : cn * softplus(z);
    }
    for (int k = 0; k < K; k++)
        j += 0.5 * l2 * theta[k] * theta[k];
    return j;
}

/* Solves H d = -g (P x P, symmetric positive definite after damping) by Cholesky; adds
 * mu * I while the factorisation fails (a Levenberg-style safeguard for singular H). */
static void newton_dir(const double *H, const double *g, int P, double *d, double *L)
{
    double mu = 0;
    for (int attempt = 0; attempt < 60; attempt++) {
        int ok = 1;
        for (int i = 0; i < P && ok; i++) {
            for (int j = 0; j <= i; j++) {
                double s = H[i * P + j] + (i == j ? mu : 0);
                for (int k = 0; k < j; k++)
                    s -= L[i * P + k] * L[j * P + k];
                if (i == j) {
                    if (!(s > 1e-300)) {
                        ok = 0;
                        break;
                    }
                    L[i * P + i] = sqrt(s);
                } else {
                    L[i * P + j] = s / L[j * P + j];
                }
            }
        }
        if (ok) {
            for (int i = 0; i < P; i++) { /* L y = -g */
                double s = -g[i];
                for (int k = 0; k < i; k++)
                    s -= L[i * P + k] * d[k];
                d[i] = s / L[i * P + i];
            }
            for (int i = P - 1; i >= 0; i--) { /* L^T d = y */
                double s = d[i];
                for (int k = i + 1; k < P; k++)
                    s -= L[k * P + i] * d[k];
                d[i] = s / L[i * P + i];
            }
            return;
        }
        mu = mu == 0 ? 1e-10 : mu * 10;
    }
    for (int i = 0; i < P; i++) /* not reached for finite H: fall back to steepest descent */
        d[i] = -g[i];
}

ch_status fusion_train(const double *x, const int *label, int n, int K, const fusion_options *o,
                       fusion_model *m, fusion_report *rep, ch_error *err)
{
    if (K < 1 || K > FUSION_MAX_SYSTEMS)
        return ch_fail(err, CH_ERR_USAGE, "fusion of %d systems (1 to %d supported)", K,
                       FUSION_MAX_SYSTEMS);
    if (!(o->p_target > 0 && o->p_target < 1) || !(o->l2 >= 0))
        return ch_fail(err, CH_ERR_USAGE, "fusion: p-target must be in (0, 1) and l2 >= 0");
    long nt = 0;
    for (int i = 0; i < n; i++)
        nt += label[i] != 0;
    if (nt == 0 || nt == n)
        return ch_fail(err, CH_ERR_FORMAT, "no %s trials to train the fusion on",
                       nt == 0 ? "target" : "non-target");
    memset(m, 0, sizeof *m);
    m->n_sys = K;
    m->p_target = o->p_target;
    m->l2 = o->l2;
    for (int k = 0; k < K; k++) {
        double s = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++) {
            double v = x[(size_t)i * K + k];
            s += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (lo == hi)
            return ch_fail(err, CH_ERR_FORMAT, "system %d: all scores are equal (%g)", k + 1, lo);
        double mu = s / n;
        for (int i = 0; i < n; i++) {
            double d = x[(size_t)i * K + k] - mu;
            ss += d * d;
        }
        m->mean[k] = o->znorm ? mu : 0;
        m->sd[k] = o->znorm ? sqrt(ss / n) : 1;
    }
    int P = K + 1;
    double *xs = ch_malloc(err, sizeof(double) * (size_t)n * K, "fusion scores");
    double *work = ch_calloc(err, (size_t)(5 * P + 2 * P * P), sizeof(double), "fusion");
    if (!xs || !work) {
        free(xs);
        free(work);
        return CH_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++)
            xs[(size_t)i * K + k] = (x[(size_t)i * K + k] - m->mean[k]) / m->sd[k];
    double *theta = work, *g = work + P, *d = work + 2 * P, *cand = work + 3 * P,
           *xi = work + 4 * P, *H = work + 5 * P, *L = work + 5 * P + P * P;
    double p = o->p_target, logit_p = log(p / (1 - p));
    double ct = p / (double)nt, cn = (1 - p) / (double)(n - nt);
    double J = objective(theta, K, xs, label, n, ct, cn, logit_p, o->l2);
    fusion_report r = {0, J, INFINITY, false};
    for (int it = 0; it < o->max_iter; it++) {
        /* gradient and Hessian of J at theta; x_i augmented with 1 for the offset */
        memset(g, 0, sizeof(double) * P);
        memset(H, 0, sizeof(double) * P * P);
        for (int i = 0; i < n; i++) {
            double z = theta[K] + logit_p;
            for (int k = 0; k < K; k++) {
                xi[k] = xs[(size_t)i * K + k];
                z += theta[k] * xi[k];
            }
            xi[K] = 1;
            double s = sigmoid(z), c = label[i] ? ct : cn;
            double gi = c * (label[i] ? s - 1 : s), hi = c * s * (1 - s);
            for (int a = 0; a < P; a++) {
                g[a] += gi * xi[a];
                for (int b = 0; b <= a; b++)
                    H[a * P + b] += hi * xi[a] * xi[b];
            }
        }
        for (int a = 0; a < P; a++)
            for (int b = 0; b < a; b++)
                H[b * P + a] = H[a * P + b];
        for (int k = 0; k < K; k++) {
            g[k] += o->l2 * theta[k];
            H[k * P + k] += o->l2;
        }
        double gmax = 0, slope = 0;
        for (int a = 0; a < P; a++)
            gmax = fabs(g[a]) > gmax ? fabs(g[a]) : gmax;
        r.grad_norm = gmax;
        r.iterations = it;
        if (gmax < 1e-12) {
            r.converged = true;
            break;
        }
        newton_dir(H, g, P, d, L);
        for (int a = 0; a < P; a++)
            slope += g[a] * d[a];
        if (slope >= 0) { /* not a descent direction (numerically exhausted) */
            r.converged = gmax < 1e-8;
            break;
        }
        /* backtracking (Armijo); a full Newton step is taken near the optimum */
        double t = 1, Jn = J;
        int accepted = 0;
        for (int ls = 0; ls < 60; ls++, t *= 0.5) {
            for (int a = 0; a < P; a++)
                cand[a] = theta[a] + t * d[a];
            Jn = objective(cand, K, xs, label, n, ct, cn, logit_p, o->l2);
            if (Jn <= J + 1e-4 * t * slope) {
                accepted = 1;
                break;
            }
        }
        if (!accepted) {
            r.converged = gmax < 1e-8;
            break;
        }
        double step = 0;
        for (int a = 0; a < P; a++) {
            step = fabs(cand[a] - theta[a]) > step ? fabs(cand[a] - theta[a]) : step;
            theta[a] = cand[a];
        }
        J = Jn;
        r.iterations = it + 1;
        if (step < 1e-13 * (1 + fabs(theta[K]))) {
            r.converged = true;
            break;
        }
    }
    r.objective = J;
    for (int k = 0; k < K; k++)
        m->w[k] = theta[k];
    m->offset = theta[K];
    if (rep)
        *rep = r;
    free(xs);
    free(work);
    return CH_OK;
}

void fusion_apply(const fusion_model *m, const double *x, int n, double *out)
{
    int K = m->n_sys;
    for (int i = 0; i < n; i++) {
        double z = m->offset;
        for (int k = 0; k < K; k++)
            z += m->w[k] * (x[(size_t)i * K + k] - m->mean[k]) / m->sd[k];
        out[i] = z;
    }
}

double fusion_objective(const fusion_model *m, const double *x, const int *label, int n)
{
    long nt = 0;
    for (int i = 0; i < n; i++)
        nt += label[i] != 0;
    double p = m->p_target, logit_p = log(p / (1 - p)), j = 0;
    double ct = nt ? p / (double)nt : 0, cn = n - nt ? (1 - p) / (double)(n - nt) : 0;
    for (int i = 0; i < n; i++) {
        double z = m->offset + logit_p;
        for (int k = 0; k < m->n_sys; k++)
            z += m->w[k] * (x[(size_t)i * m->n_sys + k] - m->mean[k]) / m->sd[k];
        j += label[i] ? ct * softplus(-z) : cn * softplus(z);
    }
    for (int k = 0; k < m->n_sys; k++)
        j += 0.5 * m->l2 * m->w[k] * m->w[k];
    return j;
}

ch_status fusion_save(const fusion_model *m, const char *path, ch_error *err)
{
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    fprintf(a.f, "chorus-fusion 1\n");
    fprintf(a.f, "# llr = offset + sum_k weight_k * (score_k - mean_k) / sd_k\n");
    fprintf(a.f, "p-target %.17g\nl2 %.17g\nsystems %d\n", m->p_target, m->l2, m->n_sys);
    fprintf(a.f, "# system index mean sd weight\n");
    for (int k = 0; k < m->n_sys; k++)
        fprintf(a.f, "system %d %.17g %.17g %.17g\n", k + 1, m->mean[k], m->sd[k], m->w[k]);
    fprintf(a.f, "offset %.17g\nend\n", m->offset);
    if (ferror(a.f)) {
        atomic_abort(&a);
        return ch_fail(err, CH_ERR_IO, "%s: write failed", path);
    }
    return atomic_commit(&a, err);
}

/* Parses exactly n finite numbers from s (space separated, nothing after). */
static int parse_nums(const char *s, double *v, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(s, &end);
        if (end == s || errno == ERANGE || !isfinite(v[i]) ||
            (*end && *end != ' ' && *end != '\t'))
            return 0;
        s = end;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

ch_status fusion_load(const char *path, fusion_model *m, ch_error *err)
{
    char *buf;
    size_t n;
    CH_TRY(file_read_all(path, &buf, &n, err));
    memset(m, 0, sizeof *m);
    ch_status st = CH_OK;
    /* the fields in file order; stage says which comes next */
    enum { MAGIC, PRIOR, L2, SYSTEMS, SYSTEM, OFFSET, END, DONE } stage = MAGIC;
    int line = 0, k = 0;
    char *p = buf, *e = buf + n;
#define BAD(...) do { st = ch_fail(err, CH_ERR_FORMAT, __VA_ARGS__); goto out; } while (0)
    if (memchr(buf, '\0', n))
        BAD("%s: not a fusion model (binary data)", path);
    while (p < e) {
        char *nl = memchr(p, '\n', (size_t)(e - p));
        char *ln = p;
        if (nl)
            *nl = '\0';
        p = nl ? nl + 1 : e;
        line++;
        size_t len = strlen(ln);
        if (len && ln[len - 1] == '\r')
            ln[--len] = '\0';
        if (ln[0] == '#' || len == 0)
            continue;
        double v[3];
        if (stage == DONE)
            BAD("%s:%d: data after 'end'", path, line);
        if (stage == MAGIC) {
            int ver;
            char rest;
            if (sscanf(ln, "chorus-fusion %d%c", &ver, &rest) != 1)
                BAD("%s: not a chorus fusion model (expected 'chorus-fusion 1' first)", path);
            if (ver != 1)
                BAD("%s:%d: unsupported fusion model version %d (this build reads 1)", path, line,
                    ver);
            stage = PRIOR;
        } else if (stage == PRIOR) {
            if (strncmp(ln, "p-target ", 9) || !parse_nums(ln + 9, v, 1) || !(v[0] > 0) ||
                !(v[0] < 1))
                BAD("%s:%d: expected 'p-target P' with 0 < P < 1", path, line);
            m->p_target = v[0];
            stage = L2;
        } else if (stage == L2) {
            if (strncmp(ln, "l2 ", 3) || !parse_nums(ln + 3, v, 1) || v[0] < 0)
                BAD("%s:%d: expected 'l2 X' with X >= 0", path, line);
            m->l2 = v[0];
            stage = SYSTEMS;
        } else if (stage == SYSTEMS) {
            if (strncmp(ln, "systems ", 8) || !parse_nums(ln + 8, v, 1) || v[0] != floor(v[0]) ||
                v[0] < 1 || v[0] > FUSION_MAX_SYSTEMS)
                BAD("%s:%d: expected 'systems N' with 1 <= N <= %d", path, line,
                    FUSION_MAX_SYSTEMS);
            m->n_sys = (int)v[0];
            stage = SYSTEM;
        } else if (stage == SYSTEM) {
            char want[32];
            int wl = snprintf(want, sizeof want, "system %d ", k + 1);
            if (strncmp(ln, want, (size_t)wl) || !parse_nums(ln + wl, v, 3))
                BAD("%s:%d: expected 'system %d <mean> <sd> <weight>'", path, line, k + 1);
            if (!(v[1] > 0))
                BAD("%s:%d: system %d: sd must be positive", path, line, k + 1);
            m->mean[k] = v[0];
            m->sd[k] = v[1];
            m->w[k] = v[2];
            if (++k == m->n_sys)
                stage = OFFSET;
        } else if (stage == OFFSET) {
            if (strncmp(ln, "offset ", 7) || !parse_nums(ln + 7, v, 1))
                BAD("%s:%d: expected 'offset B'", path, line);
            m->offset = v[0];
            stage = END;
        } else if (stage == END) {
            if (strcmp(ln, "end"))
                BAD("%s:%d: expected 'end'", path, line);
            stage = DONE;
        }
    }
    if (stage == MAGIC)
        BAD("%s: empty fusion model", path);
    if (stage != DONE)
        BAD("%s: truncated fusion model (no 'end' line)", path);
#undef BAD
out:
    free(buf);
    return st;
}
