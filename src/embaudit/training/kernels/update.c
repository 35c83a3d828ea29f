/* One pass of Adam, AdamW or SGD over every parameter of an ensemble whose first layer
 * is trained in raw-feature coordinates (see embaudit/training/raw.py).
 *
 * First layer: B*h rows of `width` >= p+1 floats. Columns 0..p-1 of `u` hold U = W / sd (W the
 * member's weights on standardized inputs), column p holds the effective bias
 * c = b - U . mean; `g` has the same shape: columns < p hold dz x (the raw gradient),
 * column p holds db. The gradient of W is scale * (g - db * mean); the moments (and
 * SGD's momentum) are W's; a step dW of W moves U by scale * dW. Column p of `m`, `v`
 * holds the moments of b; columns past p are padding (zero, never touched). `rest` is every later parameter, flat, updated as is.
 *
 * Every element's arithmetic is a fixed sequence of correctly rounded operations
 * (build with -ffp-contract=off, no -ffast-math), so a member's update does not depend
 * on how many members share the call, nor on vector width. Dot products use 16
 * accumulators in a fixed order.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define LANES 16

static float dot_mean(const float *u, const float *mean, int64_t p) {
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= p; j += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += u[j + k] * mean[j + k];
    for (int k = 0; j < p; j++, k++) acc[k] += u[j] * mean[j];
    float total = 0.0f;
    for (int k = 0; k < LANES; k++) total += acc[k];
    return total;
}

/* torch.optim.Adam's single-tensor arithmetic, m.lerp_(g, 1 - beta1),
 * v.mul_(beta2).addcmul_(g, g, value=1 - beta2), step -step_size * m / (sqrt(v) / bc2 + eps),
 * but with the division by bc2 a multiplication (divisions bound this loop) */
static inline float adam_delta(float grad, float *m, float *v, float one_minus_beta1,
                               float beta2, float one_minus_beta2, float step_size,
                               float inv_bc2_sqrt, float eps) {
    float mk = *m + one_minus_beta1 * (grad - *m);
    float vk = *v * beta2 + one_minus_beta2 * grad * grad;
    *m = mk;
    *v = vk;
    return -step_size * mk / (sqrtf(vk) * inv_bc2_sqrt + eps);
}

/* Adam on n elements; scale (or NULL) maps W's step to U's and the gradient of U to W's */
static void adam_span(int64_t n, float *restrict param, const float *restrict grad,
                      float *restrict m, float *restrict v, const float *restrict scale,
                      const float *restrict mean, float db, float one_minus_beta1,
                      float beta2, float one_minus_beta2, float step_size, float inv_bc2_sqrt,
                      float eps, float decay) {
    if (scale == NULL) {
        for (int64_t k = 0; k < n; k++) {
            float step = adam_delta(grad[k], m + k, v + k, one_minus_beta1, beta2,
                                    one_minus_beta2, step_size, inv_bc2_sqrt, eps);
            param[k] = param[k] * decay + step;
        }
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        float g = scale[k] * (grad[k] - db * mean[k]);
        float step = adam_delta(g, m + k, v + k, one_minus_beta1, beta2, one_minus_beta2,
                                step_size, inv_bc2_sqrt, eps);
        param[k] = param[k] * decay + scale[k] * step;
    }
}

void adam_step(int64_t B, int64_t h, int64_t p, int64_t width, float *u, float *bias,
               const float *g, float *m, float *v, const float *scale, const float *mean,
               int64_t n_rest, float *rest, const float *g_rest, float *m_rest,
               float *v_rest, float one_minus_beta1, float beta2, float one_minus_beta2,
               float step_size, float inv_bc2_sqrt, float eps, float decay) {
    for (int64_t r = 0; r < B * h; r++) {
        const float *mu = mean + (r / h) * p;
        float *ur = u + r * width;
        const float db = g[r * width + p];
        adam_span(p, ur, g + r * width, m + r * width, v + r * width, scale + (r / h) * p,
                  mu, db, one_minus_beta1, beta2, one_minus_beta2, step_size, inv_bc2_sqrt,
                  eps, decay);
        adam_span(1, bias + r, &db, m + r * width + p, v + r * width + p, NULL, NULL, 0.0f,
                  one_minus_beta1, beta2, one_minus_beta2, step_size, inv_bc2_sqrt, eps, decay);
        ur[p] = bias[r] - dot_mean(ur, mu, p);
    }
    adam_span(n_rest, rest, g_rest, m_rest, v_rest, NULL, NULL, 0.0f, one_minus_beta1,
              beta2, one_minus_beta2, step_size, inv_bc2_sqrt, eps, decay);
}

/* SGD on n elements; sd (with scale) reads W = U * sd for the weight decay */
static void sgd_span(int64_t n, float *restrict param, const float *restrict grad,
                     float *restrict buf, const float *restrict scale,
                     const float *restrict sd, const float *restrict mean, float db,
                     float lr, float keep, float weight_decay) {
    if (scale == NULL) {
        for (int64_t k = 0; k < n; k++) {
            float g = grad[k] + weight_decay * param[k];
            buf[k] = buf[k] * keep + g;
            param[k] = param[k] + -lr * buf[k];
        }
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        float g = scale[k] * (grad[k] - db * mean[k]) + weight_decay * (sd[k] * param[k]);
        buf[k] = buf[k] * keep + g;
        param[k] = param[k] + scale[k] * (-lr * buf[k]);
    }
}

void sgd_step(int64_t B, int64_t h, int64_t p, int64_t width, float *u, float *bias,
              const float *g, float *buf, const float *scale, const float *sd,
              const float *mean, int64_t n_rest, float *rest, const float *g_rest,
              float *buf_rest, float lr, float momentum, float weight_decay, int32_t first) {
    const float keep = first ? 0.0f : momentum;  /* the first step's buffer is the gradient */
    for (int64_t r = 0; r < B * h; r++) {
        const int64_t b = r / h;
        float *ur = u + r * width;
        const float db = g[r * width + p];
        sgd_span(p, ur, g + r * width, buf + r * width, scale + b * p, sd + b * p,
                 mean + b * p, db, lr, keep, weight_decay);
        sgd_span(1, bias + r, &db, buf + r * width + p, NULL, NULL, NULL, 0.0f, lr, keep,
                 weight_decay);
        ur[p] = bias[r] - dot_mean(ur, mean + b * p, p);
    }
    sgd_span(n_rest, rest, g_rest, buf_rest, NULL, NULL, NULL, 0.0f, lr, keep,
             weight_decay);
}
