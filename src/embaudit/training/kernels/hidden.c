/* The layers after the first of an ensemble's networks, forward and backward, and the
 * gradient of the weighted MSE, for the raw-feature pass (embaudit/training/raw.py).
 *
 * Widths: widths[0] = h1 (the first layer's width), ..., widths[L] = 1 (the output);
 * later layer l maps widths[l] to widths[l+1]. Layouts, float32 and row-major:
 *   z1         n x (B*h1): the first layer's pre-activations, member b in columns
 *              b*h1 .. b*h1+h1-1. The forward pass applies the ReLU in place; the
 *              backward pass overwrites them with their gradient.
 *   rest       for each later layer l: weights B x out x in, then biases B x out.
 *   acts       for each hidden layer l >= 1: B x n x widths[l] activations (after ReLU).
 *   masks      NULL, or for each hidden layer l >= 0: B x n x widths[l] dropout factors.
 *   prediction, grad_prediction: B x n.
 *   scratch    hidden_scratch(n, L, widths) floats.
 *
 * Work runs member by member; the innermost loops are V lanes wide (zero-padded copies
 * of the small matrices), so they vectorize into registers. Every member's arithmetic is
 * a fixed sequence of correctly rounded operations in a fixed order (build with
 * -ffp-contract=off, no -ffast-math): sums over inputs run in input order and sums over
 * rows in row order, whatever the number of members sharing the call.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define V 16
#define R 4
/* V floats, one register on AVX-512 (the compiler splits it elsewhere); vu: unaligned */
typedef float vf __attribute__((vector_size(4 * V)));
typedef float vu __attribute__((vector_size(4 * V), aligned(4)));

typedef int32_t vi __attribute__((vector_size(4 * V)));

static inline vf load(const float *p) { return *(const vu *)p; }
static inline void store(float *p, vf x) { *(vu *)p = x; }
/* x where h > 0, else 0 (the ReLU's mask; NaN gives 0, as h > 0 is false) */
static inline vf where_positive(vf h, vf x) { return (vf)((vi)(h > (vf){0}) & (vi)x); }

static int64_t padded(int64_t k) { return (k + V - 1) / V * V; }

static int64_t max_width(int64_t L, const int64_t *widths) {
    int64_t widest = 1;
    for (int64_t l = 0; l <= L; l++) widest = widths[l] > widest ? widths[l] : widest;
    return widest;
}

int64_t hidden_scratch(int64_t n, int64_t L, const int64_t *widths) {
    const int64_t widest = max_width(L, widths), wide = padded(widest + 1);
    return wide * wide + 2 * n * widest + n * wide + widest * wide + (n + R) * wide;
}

/* offset of layer l's weights in rest (its biases follow them) */
static int64_t weight_offset(int64_t B, const int64_t *widths, int64_t l) {
    int64_t offset = 0;
    for (int64_t k = 0; k < l; k++) offset += B * widths[k + 1] * (widths[k] + 1);
    return offset;
}

/* offset of hidden layer l's block in acts (first = 1) or in masks (first = 0) */
static int64_t activation_offset(int64_t B, int64_t n, const int64_t *widths, int64_t first,
                                 int64_t l) {
    int64_t offset = 0;
    for (int64_t k = first; k < l; k++) offset += B * n * widths[k];
    return offset;
}

/* z (n x out) = h W^T + bias, with h (n x in, row stride ldh) times mask if any.
 * wt: scratch for [W^T; bias] with rows padded to a multiple of V outputs. R rows at a
 * time: R independent sums in flight */
static void layer_forward(int64_t n, int64_t in, int64_t out, const float *h, int64_t ldh,
                          const float *mask, const float *W, const float *bias,
                          float *restrict wt, float *restrict z, int relu) {
    const int64_t op = padded(out);
    memset(wt, 0, sizeof(float) * (in + 1) * op);
    for (int64_t o = 0; o < out; o++) {
        for (int64_t i = 0; i < in; i++) wt[i * op + o] = W[o * in + i];
        wt[in * op + o] = bias[o];
    }
    for (int64_t r0 = 0; r0 < n; r0 += R) {
        const float *hr[R], *mr[R];
        for (int c = 0; c < R; c++) {  /* past the last row: the last row, not stored */
            const int64_t r = r0 + c < n ? r0 + c : n - 1;
            hr[c] = h + r * ldh;
            mr[c] = mask ? mask + r * in : NULL;
        }
        for (int64_t o0 = 0; o0 < op; o0 += V) {
            vf acc[R] = {{0}};
            for (int64_t i = 0; i < in; i++) {
                const vf w = load(wt + i * op + o0);
                for (int c = 0; c < R; c++)
                    acc[c] += (mask ? hr[c][i] * mr[c][i] : hr[c][i]) * w;
            }
            const vf b = load(wt + in * op + o0);
            for (int c = 0; c < R && r0 + c < n; c++) {
                acc[c] += b;
                const vf value = relu ? where_positive(acc[c], acc[c]) : acc[c];
                if (o0 + V <= out)
                    store(z + (r0 + c) * out + o0, value);
                else
                    for (int64_t k = 0; o0 + k < out; k++) z[(r0 + c) * out + o0 + k] = value[k];
            }
        }
    }
}

/* gradients of one layer from dz (n x out): dW (out x in), db (out), and, if dh is not
 * NULL, the gradient of the layer's pre-activated input, dh = (dz W) * mask * (h > 0)
 * (h the ReLU's output; dh may be h itself: each row is read before it is written).
 * scratch: the input h * mask and W, rows padded to a multiple of V, and dz padded to a
 * multiple of R rows and of V columns (R sums in flight) */
static void layer_backward(int64_t n, int64_t in, int64_t out, float *h, int64_t ldh,
                           const float *mask, const float *W, const float *dz,
                           float *restrict dW, float *restrict db, float *dh, int64_t lddh,
                           float *restrict scratch) {
    const int64_t ip = padded(in), np = (n + R - 1) / R * R, op = padded(out);
    float *restrict inputs = scratch, *restrict weights = scratch + n * ip;
    float *restrict grads = weights + out * ip;
    memset(inputs, 0, sizeof(float) * n * ip);
    for (int64_t r = 0; r < n; r++) {
        const float *hr = h + r * ldh;
        float *row = inputs + r * ip;
        if (mask)
            for (int64_t i = 0; i < in; i++) row[i] = hr[i] * mask[r * in + i];
        else
            for (int64_t i = 0; i < in; i++) row[i] = hr[i];
    }
    memset(grads, 0, sizeof(float) * np * op);
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) grads[r * op + o] = dz[r * out + o];
    for (int64_t o0 = 0; o0 < op; o0 += V) {
        vf sum = {0};
        for (int64_t r = 0; r < n; r++) sum += load(grads + r * op + o0);
        for (int64_t k = 0; k < V && o0 + k < out; k++) db[o0 + k] = sum[k];
    }
    for (int64_t o0 = 0; o0 < out; o0 += R)
        for (int64_t i0 = 0; i0 < ip; i0 += V) {
            vf acc[R] = {{0}};
            for (int64_t r = 0; r < n; r++) {
                const vf x = load(inputs + r * ip + i0);
                for (int c = 0; c < R; c++) acc[c] += grads[r * op + o0 + c] * x;
            }
            for (int c = 0; c < R && o0 + c < out; c++) {
                if (i0 + V <= in)
                    store(dW + (o0 + c) * in + i0, acc[c]);
                else
                    for (int64_t k = 0; i0 + k < in; k++) dW[(o0 + c) * in + i0 + k] = acc[c][k];
            }
        }
    if (dh == NULL) return;
    memset(weights, 0, sizeof(float) * out * ip);
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) weights[o * ip + i] = W[o * in + i];
    for (int64_t r0 = 0; r0 < n; r0 += R)
        for (int64_t i0 = 0; i0 < ip; i0 += V) {
            vf acc[R] = {{0}};
            for (int64_t o = 0; o < out; o++) {
                const vf w = load(weights + o * ip + i0);
                for (int c = 0; c < R; c++) acc[c] += grads[(r0 + c) * op + o] * w;
            }
            for (int c = 0; c < R && r0 + c < n; c++) {
                const float *hr = h + (r0 + c) * ldh;
                float *dhr = dh + (r0 + c) * lddh;
                if (i0 + V <= in) {
                    const vf g = mask ? acc[c] * load(mask + (r0 + c) * in + i0) : acc[c];
                    store(dhr + i0, where_positive(load(hr + i0), g));
                    continue;
                }
                for (int64_t k = 0; i0 + k < in; k++) {
                    const int64_t i = i0 + k;
                    const float g = mask ? acc[c][k] * mask[(r0 + c) * in + i] : acc[c][k];
                    dhr[i] = hr[i] > 0.0f ? g : 0.0f;
                }
            }
        }
}

void hidden_forward(int64_t B, int64_t n, int64_t L, const int64_t *widths, float *z1,
                    const float *rest, const float *masks, float *acts, float *prediction,
                    float *scratch) {
    const int64_t h1 = widths[0], ld1 = B * h1;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t r = 0; r < n; r++) {
            float *zr = z1 + r * ld1 + b * h1;
            for (int64_t i = 0; i < h1; i++) zr[i] = zr[i] > 0.0f ? zr[i] : 0.0f;
        }
        for (int64_t l = 0; l < L; l++) {
            const int64_t in = widths[l], out = widths[l + 1];
            const float *W = rest + weight_offset(B, widths, l) + b * out * in;
            const float *bias = rest + weight_offset(B, widths, l) + B * out * in + b * out;
            const float *h = l == 0 ? z1 + b * h1
                                    : acts + activation_offset(B, n, widths, 1, l) + b * n * in;
            const float *mask = masks ? masks + activation_offset(B, n, widths, 0, l)
                                        + b * n * in : NULL;
            float *z = l + 1 < L ? acts + activation_offset(B, n, widths, 1, l + 1)
                                   + b * n * out : prediction + b * n;
            layer_forward(n, in, out, h, l == 0 ? ld1 : in, mask, W, bias, scratch, z,
                          l + 1 < L);
        }
    }
}

void hidden_backward(int64_t B, int64_t n, int64_t L, const int64_t *widths, float *z1,
                     const float *rest, const float *masks, float *acts,
                     const float *grad_prediction, float *grad_rest, float *scratch) {
    const int64_t h1 = widths[0], ld1 = B * h1, widest = max_width(L, widths);
    float *ping = scratch, *pong = scratch + n * widest, *work = scratch + 2 * n * widest;
    for (int64_t b = 0; b < B; b++) {
        const float *dz = grad_prediction + b * n;
        for (int64_t l = L - 1; l >= 0; l--) {
            const int64_t in = widths[l], out = widths[l + 1];
            const int64_t offset = weight_offset(B, widths, l);
            float *h = l == 0 ? z1 + b * h1
                              : acts + activation_offset(B, n, widths, 1, l) + b * n * in;
            const float *mask = masks ? masks + activation_offset(B, n, widths, 0, l)
                                        + b * n * in : NULL;
            float *dh = l == 0 ? h : (dz == ping ? pong : ping);
            layer_backward(n, in, out, h, l == 0 ? ld1 : in, mask, rest + offset + b * out * in,
                           dz, grad_rest + offset + b * out * in,
                           grad_rest + offset + B * out * in + b * out, dh,
                           l == 0 ? ld1 : in, work);
            dz = dh;
        }
    }
}

/* gradient of sum_b factor_b * sum_r w (prediction - target)^2 with respect to the
 * predictions, factor_b = active_b / max(sum_r w, 1); adds each member's weighted
 * squared error and weight to sse and total. targets and weights: B rows of stride ld. */
void mse_gradient(int64_t B, int64_t n, const float *prediction, const float *targets,
                  const float *weights, int64_t ld, const uint8_t *active, double *sse,
                  double *total, float *grad) {
    for (int64_t b = 0; b < B; b++) {
        const float *t = targets + b * ld, *w = weights + b * ld, *p = prediction + b * n;
        float weight = 0.0f;
        for (int64_t r = 0; r < n; r++) weight += w[r];
        const float factor = active[b] ? 1.0f / (weight > 1.0f ? weight : 1.0f) : 0.0f;
        const float twice = 2.0f * factor;
        double squared = 0.0;
        for (int64_t r = 0; r < n; r++) {
            const float error = p[r] - t[r];
            const float weighted = w[r] * error;
            squared += (double)(weighted * error);
            grad[b * n + r] = weighted * twice;
        }
        sse[b] += squared;
        total[b] += (double)weight;
    }
}
