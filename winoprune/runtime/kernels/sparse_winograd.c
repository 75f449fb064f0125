/* Sparse-Winograd convolution, stride 1, float32, NCHW: the compiled kernel of winoprune.runtime.
 *
 * y[n, k] = bias[k] + sum_c conv(x[n, c], w[k, c]) computed per m x m output tile as
 * Y = AT [ sum_c Q_kc .* (BT d_c B) ] A, with the Winograd weights Q stored per position
 * s = (i, j) of the a x a tile as CSR rows (s * K + k) over the input channels: only nonzeros
 * are multiplied. Tiles are processed TB at a time, one tile per SIMD lane:
 *   1. input transform: gather the a x a patches of TB tiles (zeros outside the image, so no
 *      padded copy is made), V[s][c][t] = (BT d B)[s] for every channel c;
 *   2. per output channel k: M[s][t] = sum over the nonzeros (c, q) of row (s, k) of q V[s][c][t],
 *      then Y = AT M A, plus bias (and ReLU when asked), scattered into the output tiles.
 * M never leaves the thread's stack. Work is split over threads by blocks of tiles when there
 * are enough blocks, else by channels within each block (batch 1, small feature maps); the
 * threads are OpenMP's (PyTorch's own pool, see run_parallel), or pthreads without -fopenmp.
 *
 * Built by winoprune/runtime/native.py with the machine's C compiler (-O3 -march=native);
 * called through ctypes. Returns 0, or a negative code (see native.py) on bad arguments.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_A 16
#define MAX_THREADS 64

typedef struct {
    const float *x;
    int n, c, h, w, pad, m, a, k, relu, pool, ho, wo, th, tw; /* pool: 2x2/2 max-pool fused */
    long p;            /* tiles: n * th * tw */
    const float *bt;   /* a x a */
    const float *at;   /* m x a */
    const int32_t *rowptr, *cols;
    const float *vals, *bias;
    float *y;
    float *work;       /* per thread: a * a * c * 32 floats */
} Conv;

#define KB 16 /* output channels per block: their M (KB x a*a x TB) stays in L2 */

#ifdef __AVX2__
#include <immintrin.h>
/* r[j][t] = r[t][j] for 8 vectors of 8 floats. */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* Lanes j < n that fall inside [0, w) from column c0: -1, else 0. */
static inline __m256i lane_mask(int c0, int n, int w) {
    int lanes[8];
    for (int j = 0; j < 8; j++) lanes[j] = (j < n && c0 + j >= 0 && c0 + j < w) ? -1 : 0;
    return _mm256_loadu_si256((const __m256i *)lanes);
}
#endif

/* Where tile p0 + t starts: image (-1 past the end), first input row and column. */
typedef struct {
    int img[32], row0[32], col0[32];
    int out_cols[32]; /* output columns of the tile inside (ho, wo): m, or fewer at the edge */
#ifdef __AVX2__
    __m256i in_mask[32]; /* lanes j < a with col0 + j inside [0, w) */
#endif
} Tiles;

static inline void locate(const Conv *cv, long p0, int TB, int pad, Tiles *tl) {
    const int per_img = cv->th * cv->tw, m = cv->m;
    for (int t = 0; t < TB; t++) {
        long p = p0 + t;
        if (p >= cv->p) { tl->img[t] = -1; tl->row0[t] = tl->col0[t] = 0; continue; }
        int rem = (int)(p % per_img);
        tl->img[t] = (int)(p / per_img);
        tl->row0[t] = (rem / cv->tw) * m - pad;
        tl->col0[t] = (rem % cv->tw) * m - pad;
    }
    for (int t = 0; t < TB; t++) {
        const int ox = tl->col0[t] + pad;
        tl->out_cols[t] = tl->img[t] < 0 ? 0 : cv->wo - ox < m ? cv->wo - ox : m;
#ifdef __AVX2__
        tl->in_mask[t] = lane_mask(tl->col0[t], cv->a, cv->w);
#endif
    }
}

/* d[l][j][t] = x[img, ci, row0 + l, col0 + j] (0 outside the image) for the block's tiles. */
static inline __attribute__((always_inline)) void gather(
    const Conv *cv, const Tiles *tl, int ci, float *d, const int a, const int TB) {
    const long plane = (long)cv->h * cv->w;
#ifdef __AVX2__
    if (a <= 8) {
        for (int g = 0; g < TB / 8; g++)
            for (int l = 0; l < a; l++) {
                __m256 r[8];
                for (int t = 0; t < 8; t++) {
                    const int tt = g * 8 + t, iy = tl->row0[tt] + l;
                    if (tl->img[tt] < 0 || iy < 0 || iy >= cv->h) { r[t] = _mm256_setzero_ps(); continue; }
                    const float *row = cv->x + ((long)tl->img[tt] * cv->c + ci) * plane + (long)iy * cv->w;
                    const int c0 = tl->col0[tt];
                    r[t] = c0 >= 0 && c0 + 8 <= cv->w ? _mm256_loadu_ps(row + c0)
                                                       : _mm256_maskload_ps(row + c0, tl->in_mask[tt]);
                }
                transpose8(r);
                for (int j = 0; j < a; j++) _mm256_store_ps(d + (l * a + j) * TB + g * 8, r[j]);
            }
        return;
    }
#endif
    for (int t = 0; t < TB; t++) {
        if (tl->img[t] < 0) {
            for (int e = 0; e < a * a; e++) d[e * TB + t] = 0.0f;
            continue;
        }
        const float *src = cv->x + ((long)tl->img[t] * cv->c + ci) * plane;
        for (int l = 0; l < a; l++) {
            int iy = tl->row0[t] + l;
            for (int j = 0; j < a; j++) {
                int ix = tl->col0[t] + j;
                d[(l * a + j) * TB + t] = (iy >= 0 && iy < cv->h && ix >= 0 && ix < cv->w)
                                              ? src[(long)iy * cv->w + ix]
                                              : 0.0f;
            }
        }
    }
}

/* out[u][v][t] -> y[img, kk, oy + u, ox + v], cropped to (ho, wo). */
static inline __attribute__((always_inline)) void scatter(
    const Conv *cv, const Tiles *tl, int kk, const float *out, const int m, const int TB) {
    const long plane = (long)cv->ho * cv->wo;
#ifdef __AVX2__
    if (m <= 8) { /* masked stores are slow on some CPUs: whole rows are stored plainly */
        for (int g = 0; g < TB / 8; g++) {
            float *dst[8];
            for (int t = 0; t < 8; t++) {
                const int tt = g * 8 + t;
                const int oy = tl->row0[tt] + cv->pad, ox = tl->col0[tt] + cv->pad;
                dst[t] = tl->img[tt] < 0 ? NULL
                         : cv->y + ((long)tl->img[tt] * cv->k + kk) * plane + (long)oy * cv->wo + ox;
            }
            for (int u = 0; u < m; u++) {
                __m256 r[8];
                for (int v = 0; v < 8; v++)
                    r[v] = v < m ? _mm256_load_ps(out + (u * m + v) * TB + g * 8) : _mm256_setzero_ps();
                transpose8(r);
                for (int t = 0; t < 8; t++) {
                    const int tt = g * 8 + t, cols = tl->out_cols[tt];
                    if (!dst[t] || tl->row0[tt] + cv->pad + u >= cv->ho) continue;
                    float *row = dst[t] + (long)u * cv->wo;
                    if (cols == 8) _mm256_storeu_ps(row, r[t]);
                    else if (cols == 4) _mm_storeu_ps(row, _mm256_castps256_ps128(r[t]));
                    else {
                        float lanes[8] __attribute__((aligned(32)));
                        _mm256_store_ps(lanes, r[t]);
                        for (int v = 0; v < cols; v++) row[v] = lanes[v];
                    }
                }
            }
        }
        return;
    }
#endif
    for (int t = 0; t < TB; t++) {
        if (tl->img[t] < 0) break;
        const int oy = tl->row0[t] + cv->pad, ox = tl->col0[t] + cv->pad;
        const int rows = cv->ho - oy < m ? cv->ho - oy : m, cols = cv->wo - ox < m ? cv->wo - ox : m;
        float *dst = cv->y + ((long)tl->img[t] * cv->k + kk) * plane + (long)oy * cv->wo + ox;
        for (int u = 0; u < rows; u++)
            for (int v = 0; v < cols; v++) dst[(long)u * cv->wo + v] = out[(u * m + v) * TB + t];
    }
}

/* Accumulator vectors of one register: 16 lanes with AVX-512, else 8 (16-lane vectors, which
   GCC splits on AVX2, made the kernel about 10x slower on an AMD EPYC with AVX2). */
#ifdef __AVX512F__
#define VL 16
#else
#define VL 8
#endif
#define NV (32 / VL) /* vectors per block of at most 32 tiles */
typedef float vf __attribute__((vector_size(VL * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(VL * 4), aligned(4)));

/* The 2x2/2 max-pool of out[u][v][t] -> y[img, kk, (oy + u) / 2, (ox + v) / 2], cropped to
   (ho / 2, wo / 2) as floor-mode pooling does (m is even, tiles start on even rows/columns). */
static inline __attribute__((always_inline)) void scatter_pooled(
    const Conv *cv, const Tiles *tl, int kk, float *out, const int m, const int TB) {
    const int half = m / 2, hy = cv->ho / 2, wy = cv->wo / 2;
    const long plane = (long)hy * wy;
    for (int u = 0; u < half; u++)
        for (int v = 0; v < half; v++) {
            const float *a0 = out + ((2 * u) * m + 2 * v) * TB, *a1 = a0 + TB;
            const float *b0 = a0 + m * TB, *b1 = b0 + TB;
            float *dst = out + (u * half + v) * TB; /* in place: entries already read */
            for (int t = 0; t < TB; t++) {
                float x0 = a0[t] > a1[t] ? a0[t] : a1[t], x1 = b0[t] > b1[t] ? b0[t] : b1[t];
                dst[t] = x0 > x1 ? x0 : x1;
            }
        }
    for (int t = 0; t < TB; t++) {
        if (tl->img[t] < 0) break;
        const int oy = (tl->row0[t] + cv->pad) / 2, ox = (tl->col0[t] + cv->pad) / 2;
        const int rows = hy - oy < half ? hy - oy : half, cols = wy - ox < half ? wy - ox : half;
        float *dst = cv->y + ((long)tl->img[t] * cv->k + kk) * plane + (long)oy * wy + ox;
        for (int u = 0; u < rows; u++)
            for (int v = 0; v < cols; v++) dst[(long)u * wy + v] = out[(u * half + v) * TB + t];
    }
}

/* dst[i][j] = sum_l mat[i][l] src[l][j] (rows) or sum_l src[i][l] mat[j][l] (columns), per lane:
   src (ni, nj) x TB -> dst (entry e at dst + e * dst_stride); mat's zeros are skipped, ``init``
   is added. Accumulators are
   vectors so that they stay in registers. */
static inline __attribute__((always_inline)) void pass(
    const float *mat, int mat_cols, const float *src, float *dst, long dst_stride, int ni,
    int nj, int nl, int by_rows, int src_cols, float init, int relu, const int TB) {
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < nj; j++) {
            vf acc[NV];
            for (int g = 0; g < TB / VL; g++) acc[g] = (vf){0} + init;
            for (int l = 0; l < nl; l++) {
                const float b = by_rows ? mat[i * mat_cols + l] : mat[j * mat_cols + l];
                if (b == 0.0f) continue;
                const vf *sl = (const vf *)(by_rows ? src + (l * src_cols + j) * TB
                                                    : src + (i * src_cols + l) * TB);
                for (int g = 0; g < TB / VL; g++) acc[g] += b * sl[g];
            }
            vf *out = (vf *)(dst + (i * nj + j) * dst_stride);
            for (int g = 0; g < TB / VL; g++)
                out[g] = relu ? (vf)((vi)acc[g] & (acc[g] > 0.0f)) : acc[g];
        }
}

/* ---- 1. input transform of one block of TB tiles, channels [c0, c1) -> v (a*a, c, TB) ---- */
static inline __attribute__((always_inline)) void input_block(
    const Conv *cv, long p0, int c0, int c1, float *v, const int A, const int TB) {
    const int a = A > 0 ? A : cv->a;
    Tiles tl;
    locate(cv, p0, TB, cv->pad, &tl);
    float d[MAX_A * MAX_A * 32] __attribute__((aligned(64)));
    float tmp[MAX_A * MAX_A * 32] __attribute__((aligned(64)));
    for (int ci = c0; ci < c1; ci++) {
        gather(cv, &tl, ci, d, a, TB);
        pass(cv->bt, a, d, tmp, TB, a, a, a, 1, a, 0.0f, 0, TB);  /* BT d */
        pass(cv->bt, a, tmp, v + (long)ci * TB, (long)cv->c * TB, a, a, a, 0, a, 0.0f, 0,
             TB);                                                  /* (BT d) B -> V[s][ci] */
    }
}

/* ---- 2. products and output transform of one block, output channels [k0, k1) ---- */

static inline __attribute__((always_inline)) void output_block(
    const Conv *cv, long p0, int k0, int k1, const float *v, float *mbuf, const int A,
    const int M, const int TB) {
    const int a = A > 0 ? A : cv->a, m = M > 0 ? M : cv->m, aa = a * a;
    Tiles tl;
    locate(cv, p0, TB, cv->pad, &tl);
    float tmp[MAX_A * MAX_A * 32] __attribute__((aligned(64)));
    float out[MAX_A * MAX_A * 32] __attribute__((aligned(64)));
    for (int kb = k0; kb < k1; kb += KB) {
        const int kn = k1 - kb < KB ? k1 - kb : KB;
        /* position-major, so each V_s (c x TB) is read once per KB output channels */
        for (int s = 0; s < aa; s++) {
            const float *vs = v + (long)s * cv->c * TB;
            for (int q = 0; q < kn; q++) {
                const long row = (long)s * cv->k + kb + q;
                const int32_t e0 = cv->rowptr[row], e1 = cv->rowptr[row + 1];
                /* two sets of accumulators (even and odd nonzeros): twice the independent
                   FMA chains, so the loop is bound by loads, not by the FMA latency */
                vf acc[NV] = {{0}}, odd[NV] = {{0}};
                int32_t e = e0;
                for (; e + 1 < e1; e += 2) {
                    const float q0 = cv->vals[e], q1 = cv->vals[e + 1];
                    const vf *s0 = (const vf *)(vs + (long)cv->cols[e] * TB);
                    const vf *s1 = (const vf *)(vs + (long)cv->cols[e + 1] * TB);
                    for (int g = 0; g < TB / VL; g++) {
                        acc[g] += q0 * s0[g];
                        odd[g] += q1 * s1[g];
                    }
                }
                if (e < e1) {
                    const float q0 = cv->vals[e];
                    const vf *s0 = (const vf *)(vs + (long)cv->cols[e] * TB);
                    for (int g = 0; g < TB / VL; g++) acc[g] += q0 * s0[g];
                }
                vf *dst = (vf *)(mbuf + ((long)q * aa + s) * TB);
                for (int g = 0; g < TB / VL; g++) dst[g] = acc[g] + odd[g];
            }
        }
        for (int q = 0; q < kn; q++) {
            const int kk = kb + q;
            const float bias = cv->bias ? cv->bias[kk] : 0.0f;
            pass(cv->at, a, mbuf + (long)q * aa * TB, tmp, TB, m, a, a, 1, a, 0.0f, 0, TB); /* AT M */
            pass(cv->at, a, tmp, out, TB, m, m, a, 0, a, bias, cv->relu, TB); /* (AT M) A */
            if (cv->pool)
                scatter_pooled(cv, &tl, kk, out, m, TB);
            else
                scatter(cv, &tl, kk, out, m, TB);
        }
    }
}

/* The instantiations: a, m known at compile time for F(2,3), F(4,3), F(6,3); TB 16 or 32. */
#define KERNELS(SUFFIX, A, M, TB)                                                              \
    static void in_##SUFFIX(const Conv *cv, long p0, int c0, int c1, float *v) {               \
        input_block(cv, p0, c0, c1, v, A, TB);                                                 \
    }                                                                                          \
    static void out_##SUFFIX(const Conv *cv, long p0, int k0, int k1, const float *v,          \
                             float *mbuf) {                                                    \
        output_block(cv, p0, k0, k1, v, mbuf, A, M, TB);                                       \
    }
KERNELS(a4_16, 4, 2, 16)
KERNELS(a4_32, 4, 2, 32)
KERNELS(a6_16, 6, 4, 16)
KERNELS(a6_32, 6, 4, 32)
KERNELS(a8_16, 8, 6, 16)
KERNELS(a8_32, 8, 6, 32)
KERNELS(any_16, 0, 0, 16)
KERNELS(any_32, 0, 0, 32)

typedef void (*InFn)(const Conv *, long, int, int, float *);
typedef void (*OutFn)(const Conv *, long, int, int, const float *, float *);

typedef struct {
    const Conv *cv;
    InFn in;
    OutFn out;
    int tb, part, parts, by_block;
    long p0; /* by channel: the block's first tile */
    int phase;
} Task;

/* Each thread's part of the workspace: V (a*a x c x 32) then M (KB x a*a x 32). */
static long slot_floats(int a, int c) { return (long)a * a * (c + KB) * 32; }

static void *run_task(void *arg) {
    const Task *tk = (const Task *)arg;
    const Conv *cv = tk->cv;
    float *slot = cv->work + (long)tk->part * slot_floats(cv->a, cv->c);
    float *mbuf = slot + (long)cv->a * cv->a * cv->c * 32;
    if (tk->by_block) {
        long blocks = (cv->p + tk->tb - 1) / tk->tb;
        for (long b = tk->part; b < blocks; b += tk->parts) {
            tk->in(cv, b * tk->tb, 0, cv->c, slot);
            tk->out(cv, b * tk->tb, 0, cv->k, slot, mbuf);
        }
    } else if (tk->phase == 1) { /* every thread fills its channels of the shared V (slot 0) */
        int c0 = (int)((long)cv->c * tk->part / tk->parts);
        int c1 = (int)((long)cv->c * (tk->part + 1) / tk->parts);
        if (c1 > c0) tk->in(cv, tk->p0, c0, c1, cv->work);
    } else {
        int k0 = (int)((long)cv->k * tk->part / tk->parts);
        int k1 = (int)((long)cv->k * (tk->part + 1) / tk->parts);
        if (k1 > k0) tk->out(cv, tk->p0, k0, k1, cv->work, mbuf);
    }
    return NULL;
}

#ifdef _OPENMP
/* Runs tasks[0..parts) on the OpenMP team. Built with -fopenmp, the library binds to the
   libgomp PyTorch has already loaded (same soname), so its layers run on PyTorch's own worker
   threads: no thread of ours competes on the cores with theirs while they spin after an op. */
static int run_parallel(Task *tasks, int parts) {
#pragma omp parallel for num_threads(parts) schedule(static, 1)
    for (int i = 0; i < parts; i++) run_task(&tasks[i]);
    return 0;
}
#else
/* Runs tasks[0..parts) with parts - 1 new threads and the caller; -5 if a thread failed. */
static int run_parallel(Task *tasks, int parts) {
    pthread_t ids[MAX_THREADS];
    int started = 0, failed = 0;
    for (int i = 1; i < parts; i++) {
        if (pthread_create(&ids[i], NULL, run_task, &tasks[i]) != 0) {
            failed = 1;
            break;
        }
        started = i;
    }
    run_task(&tasks[0]);
    for (int i = 1; i <= started; i++) pthread_join(ids[i], NULL);
    if (failed) /* finish the parts whose thread did not start, here */
        for (int i = started + 1; i < parts; i++) run_task(&tasks[i]);
    return 0;
}
#endif

/* 1 when built with OpenMP (threads from the process's OpenMP runtime), 0 with pthreads. */
int wp_uses_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Floats of workspace the call needs. */
long wp_workspace_floats(int a, int c, int threads) { return threads * slot_floats(a, c); }

int wp_sparse_winograd_conv(const float *x, int n, int c, int h, int w, int pad, int m, int a,
                            const float *bt, const float *at, const int32_t *rowptr,
                            const int32_t *cols, const float *vals, const float *bias, int k,
                            int relu, int pool, float *y, int ho, int wo, float *work,
                            int threads) {
    if (n < 1 || c < 1 || k < 1 || h < 1 || w < 1 || pad < 0 || m < 1) return -1;
    if (pool && (m % 2 != 0 || ho < 2 || wo < 2)) return -5;
    if (a < 2 || a > MAX_A || a < m) return -2;
    if (ho < 1 || wo < 1 || ho != h + 2 * pad - (a - m) || wo != w + 2 * pad - (a - m)) return -3;
    if (threads < 1 || threads > MAX_THREADS) return -4;
    Conv cv = {x, n, c, h, w, pad, m, a, k, relu, pool, ho, wo, (ho + m - 1) / m, (wo + m - 1) / m, 0,
               bt, at, rowptr, cols, vals, bias, y, work};
    cv.p = (long)n * cv.th * cv.tw;
    int tb = cv.p >= 32 * threads ? 32 : 16;
    InFn in;
    OutFn out;
#define PICK(SUFFIX) \
    do {                          \
        if (tb == 16) { in = in_##SUFFIX##_16; out = out_##SUFFIX##_16; }     \
        else { in = in_##SUFFIX##_32; out = out_##SUFFIX##_32; }                   \
    } while (0)
    if (a == 4 && m == 2) PICK(a4);
    else if (a == 6 && m == 4) PICK(a6);
    else if (a == 8 && m == 6) PICK(a8);
    else PICK(any);
    long blocks = (cv.p + tb - 1) / tb;
    Task tasks[MAX_THREADS];
    if (blocks >= threads) {
        for (int i = 0; i < threads; i++)
            tasks[i] = (Task){&cv, in, out, tb, i, threads, 1, 0, 0};
        return run_parallel(tasks, threads);
    }
    for (long b = 0; b < blocks; b++) {
        for (int phase = 1; phase <= 2; phase++) {
            for (int i = 0; i < threads; i++)
                tasks[i] = (Task){&cv, in, out, tb, i, threads, 0, b * tb, phase};
            run_parallel(tasks, threads);
        }
    }
    return 0;
}
