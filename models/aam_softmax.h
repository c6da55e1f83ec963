/* aam_softmax.h — additive angular margin softmax (ArcFace) loss for speaker training, forward
 * and backward in one call, plus the small classifier head that owns its weight.
 *
 * Variant: WeSpeaker's ArcMarginProduct (wespeaker/models/projections.py), easy_margin = False
 * by default:
 *   cos_nk = <e_n / |e_n|, W_k / |W_k|>           (|.| clamped below at 1e-12, as F.normalize)
 *   sin    = sqrt(clamp(1 - cos^2, 0, 1))
 *   phi    = cos cos(m) - sin sin(m)             (= cos(theta + m))
 *   target logit: s * (cos > th ? phi : cos - mmm),  th = cos(pi - m), mmm = 1 + cos(pi - m)
 *   other logits: s * cos
 *   loss = mean_n CE(logits_n, y_n)
 * The threshold keeps the target logit monotonic in theta past pi - m (cos(theta + m) would rise
 * again there); WeSpeaker's `cos - mmm` (not insightface's `cos - m sin m`) makes the fallback
 * continuous at theta = pi - m. easy_margin = 1: phi only where cos > 0, else cos.
 * m = 0 gives plain normalised softmax with scale s. The margin is a runtime field so the
 * trainer can warm it up (aam_margin_warmup).
 * At sin = 0 (an embedding exactly on its class weight) d sin / d cos is infinite; there the
 * backward drops the sin term (the one-sided limit is never hit in float training anyway).
 *
 * The head is a separate module with its own params block (group "head"), not part of the
 * embedding model: transfer learning re-makes it for the new speaker set while the embedding
 * model's checkpoint stays as it is.
 */
#ifndef CHORUS_AAM_SOFTMAX_H
#define CHORUS_AAM_SOFTMAX_H

#include <stddef.h>

#include "common/rng.h"
#include "common/status.h"
#include "models/params.h"

typedef struct {
    int N, D, K;     /* batch, embedding size, classes (speakers) */
    float scale;     /* s, e.g. 32 */
    float margin;    /* m in radians, e.g. 0.2; 0 = no margin */
    int easy_margin; /* 0 = WeSpeaker's default (threshold th / mmm), 1 = phi only where cos > 0 */
} aam_dims;

/* Floats of workspace aam_softmax_forward_backward needs. */
size_t aam_softmax_workspace_floats(const aam_dims *d);

/* Returns the mean loss.
 * logits: (N, K) WRITTEN (s * cos with the margin on the target; argmax gives the training
 *         accuracy) or NULL;
 * demb:   (N, D) WRITTEN gradient of the mean loss w.r.t. emb, or NULL;
 * dw:     (K, D) ACCUMULATED gradient w.r.t. w, or NULL;
 * emb: (N, D); w: (K, D); labels: (N) in [0, K); ws: aam_softmax_workspace_floats floats.
 * OpenMP over rows; BLAS for the three products; reductions in double. */
double aam_softmax_forward_backward(float *logits, float *demb, float *dw, const float *emb,
                                    const float *w, const int *labels, const aam_dims *d,
                                    float *ws);

/* Margin warm-up (WeSpeaker's MarginScheduler, linear form): 0 before step `start`, rising
 * linearly to `margin` at step `end`, `margin` after it (start >= end: `margin` throughout). */
float aam_margin_warmup(long step, long start, long end, float margin);

/* The classifier head: weight (n_classes, emb_dim) as view "head.weight" of its own params
 * block, group "head", initialised Xavier-uniform (WeSpeaker's init) from r. */
typedef struct {
    params *p;     /* owned */
    float *w;      /* = p->data, (K, D) */
    float *dw;     /* = p->grad */
    int K, D;
} aam_head;

/* Creates the head; CH_ERR_USAGE for non-positive sizes. Owner: caller (aam_head_free). */
ch_status aam_head_create(aam_head **out, int n_classes, int emb_dim, rng *r, ch_error *err);
void aam_head_free(aam_head *h);

#endif
