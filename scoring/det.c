/* det.c — probit, DET plot as SVG, DET points as CSV (see det.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/fileio.h"
#include "det.h"

double probit(double p)
{
    if (isnan(p) || p < 0 || p > 1)
        return NAN;
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    /* P. J. Acklam's rational approximation (relative error 1.15e-9) ... */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        double q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* ... refined by one Halley step on Phi(x) = erfc(-x/sqrt2)/2 to full precision. */
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

#define W 640
#define H 640
#define ML 80 /* margins: left, right, top, bottom */
#define MR 30
#define MT 50
#define MB 70

typedef struct {
    double lo, hi; /* axis range in probability */
    double zlo, zhi;
} axis;

/* Plot coordinates of a probability. Values outside the axes are clamped a little beyond
 * them (lo / 10 and most of the way to 1), so that the curve leaves the box at the right
 * angle and the clip path cuts it, instead of running along the frame. */
static double ax_z(const axis *a, double p)
{
    double lo = a->lo / 10, hi = a->hi + 0.9 * (1 - a->hi);
    p = p < lo ? lo : p > hi ? hi : p;
    return (probit(p) - a->zlo) / (a->zhi - a->zlo);
}

static double ax_x(const axis *a, double p)
{
    return ML + ax_z(a, p) * (W - ML - MR);
}

static double ax_y(const axis *a, double p)
{
    return H - MB - ax_z(a, p) * (H - MT - MB);
}

static void fmt_pct(double p, char *buf, size_t n)
{
    snprintf(buf, n, "%.3g", 100 * p);
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
}

/* Largest 1-2-5 step value <= x. */
static double step_below(double x)
{
    double d = pow(10, floor(log10(x)));
    double m = x / d;
    return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * d;
}

static ch_status finish(atomic_file *a, ch_error *err)
{
    if (ferror(a->f)) {
        atomic_abort(a);
        return ch_fail(err, CH_ERR_IO, "%s: write failed", a->path);
    }
    return atomic_commit(a, err);
}

ch_status det_write_svg(const char *path, const roc_points *r, const sv_metrics *m,
                        const char *title, ch_error *err)
{
    /* Axis range: from the resolution of the larger class (one error among its trials),
     * 1-2-5 rounded and kept within [0.001 %, 1 %]; up to 50 % (99 % when EER > 40 %). */
    int nmax = m->n_target > m->n_nontarget ? m->n_target : m->n_nontarget;
    axis a;
    a.lo = step_below(1.0 / (nmax > 0 ? nmax : 1));
    a.lo = a.lo < 1e-5 ? 1e-5 : a.lo > 0.01 ? 0.01 : a.lo;
    a.hi = m->eer > 0.4 ? 0.99 : 0.5;
    a.zlo = probit(a.lo);
    a.zhi = probit(a.hi);

    atomic_file af;
    CH_TRY(atomic_open(&af, path, err));
    FILE *f = af.f;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            W, H, W, H, W, H);
    /* grid and tick labels at 1-2-5 steps (and 40 %, as on NIST plots) */
    static const double mant[] = {1, 2, 5};
    fprintf(f, "<g stroke=\"#ddd\" stroke-width=\"1\">\n");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            fprintf(f, "</g>\n<g fill=\"#333\">\n");
        for (double dec = 1e-5; dec < 1; dec *= 10) {
            for (int k = 0; k < 4; k++) {
                double p = k < 3 ? mant[k] * dec : (dec == 0.1 ? 0.4 : -1);
                if (p < a.lo * (1 - 1e-9) || p > a.hi * (1 + 1e-9))
                    continue;
                double x = ax_x(&a, p), y = ax_y(&a, p);
                char lab[32];
                fmt_pct(p, lab, sizeof lab);
                if (pass == 0)
                    fprintf(f,
                            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n",
                            x, MT, x, H - MB, ML, y, W - MR, y);
                else
                    fprintf(f,
                            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>"
                            "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                            x, H - MB + 16, lab, ML - 6, y + 4, lab);
            }
        }
    }
    fprintf(f, "</g>\n");
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#000\"/>\n"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\" "
            "stroke-dasharray=\"4 4\"/>\n",
            ML, MT, W - ML - MR, H - MT - MB, ML, H - MB, W - MR, MT);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">False alarm probability (%%)</text>\n"
            "<text transform=\"translate(%d %d) rotate(-90)\" text-anchor=\"middle\">"
            "Miss probability (%%)</text>\n",
            ML + (W - ML - MR) / 2, H - MB + 40, ML - 50, MT + (H - MT - MB) / 2);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\">", W / 2, 20);
    if (title) {
        xml_text(f, title);
        fputs(": ", f);
    }
    fprintf(f, "EER %.2f%%, minDCF(0.01) %.4f, Cllr %.3f</text>\n", 100 * m->eer,
            m->min_dcf_p01, m->cllr);

    /* the curve */
    fprintf(f,
            "<clipPath id=\"plot\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
            "</clipPath>\n",
            ML, MT, W - ML - MR, H - MT - MB);
    fprintf(f, "<polyline clip-path=\"url(#plot)\" fill=\"none\" stroke=\"#1f5fbf\" "
               "stroke-width=\"2\" points=\"");
    double lx = -1e9, ly = -1e9;
    for (int i = 0; i < r->n; i++) {
        double x = ax_x(&a, r->p_fa[i]), y = ax_y(&a, r->p_miss[i]);
        if (i > 0 && i < r->n - 1 && fabs(x - lx) < 0.5 && fabs(y - ly) < 0.5)
            continue;
        fprintf(f, "%.1f,%.1f ", x, y);
        lx = x;
        ly = y;
    }
    fprintf(f, "\"/>\n");
    /* markers: EER on the diagonal, minDCF(0.01) at its ROC point */
    int best;
    roc_min_dcf(r, 0.01, &best);
    fprintf(f,
            "<circle clip-path=\"url(#plot)\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" "
            "stroke=\"#c00\" stroke-width=\"2\"><title>EER %.4g%%</title></circle>\n"
            "<rect clip-path=\"url(#plot)\" x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" "
            "fill=\"none\" stroke=\"#080\" stroke-width=\"2\"><title>minDCF(0.01) %.4g</title></rect>\n",
            ax_x(&a, m->eer), ax_y(&a, m->eer), 100 * m->eer, ax_x(&a, r->p_fa[best]) - 4.5,
            ax_y(&a, r->p_miss[best]) - 4.5, m->min_dcf_p01);
    fprintf(f,
            "<g font-size=\"11\"><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"none\" "
            "stroke=\"#c00\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">EER</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"9\" height=\"9\" fill=\"none\" stroke=\"#080\" "
            "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">minDCF(0.01)</text></g>\n",
            W - MR - 120, MT + 15, W - MR - 110, MT + 19, W - MR - 124, MT + 28, W - MR - 110,
            MT + 37);
    fprintf(f, "</svg>\n");
    return finish(&af, err);
}

ch_status det_write_csv(const char *path, const roc_points *r, ch_error *err)
{
    atomic_file af;
    CH_TRY(atomic_open(&af, path, err));
    fprintf(af.f, "threshold,p_fa,p_miss\n");
    for (int i = 0; i < r->n; i++) {
        if (isinf(r->thr[i]))
            fprintf(af.f, "inf,%.17g,%.17g\n", r->p_fa[i], r->p_miss[i]);
        else
            fprintf(af.f, "%.17g,%.17g,%.17g\n", r->thr[i], r->p_fa[i], r->p_miss[i]);
    }
    return finish(&af, err);
}
