/* det.h — DET curves: probit warping, an SVG plot like NIST's DET plots, and a CSV of points.
 *
 * Both files are written atomically (common/fileio.h). The SVG has probit-scaled axes (normal
 * deviate of the probability, labelled in %), grid lines at 1-2-5 steps, the P_miss = P_fa
 * diagonal, the curve, and markers at the EER and at the minDCF(p=0.01) operating point. Points
 * closer than half a pixel to the previous drawn one are skipped (millions of trials give a
 * small file); the curve is clipped to the plot box (points at 0 or 1 leave it steeply).
 */
#ifndef CHORUS_DET_H
#define CHORUS_DET_H

#include "common/status.h"
#include "scoring/metrics.h"

/* The inverse of the standard normal CDF; -INFINITY at 0, INFINITY at 1, NAN outside [0, 1].
 * Accurate to ~1e-15 relative (Acklam's approximation plus one Halley step on erfc). */
double probit(double p);

/* title: a line printed at the top (e.g. the scores file), may be NULL. */
ch_status det_write_svg(const char *path, const roc_points *r, const sv_metrics *m,
                        const char *title, ch_error *err);
/* "threshold,p_fa,p_miss" then one line per point (threshold "inf" for reject-all). */
ch_status det_write_csv(const char *path, const roc_points *r, ch_error *err);

#endif
